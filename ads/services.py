"""Every write in the ads app."""

from rooms.models import IngestEvent, Stream

from .events import ad_metrics_sampled


def ad_metrics_ingest(*, stream: Stream, events: list[IngestEvent]) -> None:
    """Cumulative campaign figures for the stream, as the platform reports them."""
    ad_metrics_sampled(stream=stream, samples=events)
