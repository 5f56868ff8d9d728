"""Every write in the support app."""

from rooms.models import IngestEvent, Stream

from .events import comments_received


def comments_ingest(*, stream: Stream, events: list[IngestEvent]) -> None:
    """Viewer comments from the platform, as they arrive, for every screen to see."""
    comments_received(stream=stream, comments=events)
