"""Event types the support app publishes to a stream's log. Called only from services."""

from collections.abc import Iterable

from rooms.events import platform_events_logged
from rooms.models import IngestEvent, Stream


def comments_received(*, stream: Stream, comments: Iterable[IngestEvent]) -> None:
    platform_events_logged(
        stream=stream,
        rows=comments,
        type="comment",
        op="received",
        fields=("user_id", "user_name", "text"),
    )
