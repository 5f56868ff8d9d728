"""Event types the support app publishes to a stream's log. Called only from services."""

from collections.abc import Iterable

from rooms import eventlog
from rooms.eventlog import NewEvent
from rooms.models import IngestEvent, Stream


def comments_received(*, stream: Stream, comments: Iterable[IngestEvent]) -> None:
    eventlog.append(
        stream.pk,
        [
            NewEvent(
                type="comment",
                op="received",
                data={
                    "user_id": comment.payload["user_id"],
                    "user_name": comment.payload["user_name"],
                    "text": comment.payload["text"],
                    "platform_at": comment.at.isoformat(),
                },
            )
            for comment in sorted(comments, key=lambda c: c.at)
        ],
    )
