"""Row locks for the rooms app, in one place so their order and strength stay deliberate.

Order within a transaction: inbox rows (pk order), then the stream row, then the stream's
run-of-show (`Show`), then its segment runs and cues, then the stream's event-log head
(taken by `eventlog.append`, always last). Moves and cues lock the show without the stream;
going live and ending lock the stream and then the show, so the two never wait in a circle.
"""

from django.db.models import QuerySet

from .models import CrewAssignment, IngestEvent, IngestStatus, Show, ShowCue, Stream


def stream_for_update(stream_id: int) -> Stream:
    """Lock a stream to change it.

    NO KEY UPDATE, not UPDATE: inserting into the stream's event log checks its foreign key
    with KEY SHARE, which NO KEY UPDATE allows. A full UPDATE lock would make a status change
    and a concurrent event-log writer wait on each other (a deadlock once the head row is
    involved).
    """
    return Stream.objects.select_for_update(no_key=True).get(pk=stream_id)


def ingest_events_for_dispatch(inbox_ids: list[int]) -> QuerySet[IngestEvent]:
    """Inbox rows still to dispatch, locked; rows another worker holds are skipped."""
    return (
        IngestEvent.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk__in=inbox_ids, status__in=[IngestStatus.PENDING, IngestStatus.FAILED])
        .order_by("pk")
    )


def ingest_backlog_for_dispatch(
    *, channel_ids: set[int], exclude: set[int], limit: int
) -> list[IngestEvent]:
    """Pending rows of these channels waiting behind a dispatch, oldest first, locked."""
    return list(
        IngestEvent.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(channel_id__in=channel_ids, status=IngestStatus.PENDING)
        .exclude(pk__in=exclude)
        .order_by("pk")[:limit]
    )


def crew_for_update(stream_id: int) -> QuerySet[CrewAssignment]:
    """A stream's crew, locked in primary-key order, to move their bookings with the stream."""
    return CrewAssignment.objects.select_for_update().filter(stream_id=stream_id).order_by("pk")


def show_for_update(stream_id: int) -> Show | None:
    """A stream's run-of-show, locked: every move, cue and presence change goes through it."""
    return Show.objects.select_for_update().filter(stream_id=stream_id).first()


def cue_for_update(cue_id: int) -> ShowCue:
    return ShowCue.objects.select_for_update().get(pk=cue_id)
