"""Event types the support app publishes to a stream's log. Called only from services.

Every "question" event carries the whole group as it now stands (`group_data`), so a screen
applies it by replacing its copy: applying one twice, or late, changes nothing.
  op: "grouped" (new or grown), "claimed", "released", "answered", "escalated",
      "dismissed", "merged" (data also has `into`), "split"
The SLA sweep's flags come as one "sla" event per stream and sweep, naming the groups:
  op: "flagged", data: {"warned": [group ids], "breached": [group ids]}; a screen sets the
  flag on its copies (the rest of each group is unchanged, its version too).
"""

from collections.abc import Iterable

from rooms import eventlog
from rooms.eventlog import NewEvent
from rooms.events import platform_events_logged
from rooms.models import IngestEvent, Stream

from .models import QuestionGroup


def comments_received(*, stream: Stream, comments: Iterable[IngestEvent]) -> None:
    platform_events_logged(
        stream=stream,
        rows=comments,
        type="comment",
        op="received",
        fields=("user_id", "user_name", "text"),
    )


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def group_data(group: QuestionGroup, *, askers: list[str] | None = None) -> dict:
    return {
        "id": group.pk,
        "category": group.category,
        "language": group.language,
        "link_number": group.link_number,
        "text": group.text,
        "count": group.count,
        "vip": group.vip,
        "askers": askers if askers is not None else [],
        "first_asked_at": _iso(group.first_asked_at),
        "last_asked_at": _iso(group.last_asked_at),
        "deadline": _iso(group.deadline),
        "warned": group.warned,
        "breached": group.breached,
        "status": group.status,
        "version": group.version,
        "claimed_by": group.claimed_by_id,
        "claimed_by_name": str(group.claimed_by) if group.claimed_by_id else None,
        "claim_expires_at": _iso(group.claim_expires_at),
        "answered_by": str(group.answered_by) if group.answered_by_id else None,
        "answered_at": _iso(group.answered_at),
        "reply": group.reply,
        "merged_into": group.merged_into_id,
    }


def groups_changed(*, stream_id: int, op: str, groups: Iterable[dict]) -> None:
    """One event per group, in the order given; `groups` are `group_data` dicts."""
    eventlog.append(stream_id, [NewEvent(type="question", op=op, data=data) for data in groups])


def sla_flagged(*, stream_id: int, warned: list[int], breached: list[int]) -> None:
    eventlog.append(
        stream_id,
        [NewEvent(type="sla", op="flagged", data={"warned": warned, "breached": breached})],
    )
