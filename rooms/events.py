"""Event types the rooms app publishes to a stream's log. Called only from services."""

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from . import eventlog
from . import show as show_data
from .eventlog import NewEvent
from .models import CrewAssignment, IngestEvent, ReadinessOverride, Stream, User


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def platform_events_logged(
    *,
    stream: Stream,
    rows: Iterable[IngestEvent],
    type: str,
    op: str | Callable[[IngestEvent], str],
    fields: Sequence[str],
    with_currency: bool = False,
) -> None:
    """Log platform events as they arrived, in platform time order, one entry each.

    The shape every app uses to show raw platform activity (comments, orders, samples):
    the named payload fields, the platform's own time and, for money, the channel currency.
    """
    entries = []
    for row in sorted(rows, key=lambda r: r.at):
        data = {name: row.payload[name] for name in fields}
        if with_currency:
            data["currency"] = stream.channel.currency
        data["platform_at"] = row.at.isoformat()
        entries.append(NewEvent(type=type, op=op(row) if callable(op) else op, data=data))
    eventlog.append(stream.pk, entries)


def stream_status_changed(*, stream: Stream, previous: str, by: User | None) -> None:
    eventlog.append(
        stream.pk,
        [
            NewEvent(
                type="stream",
                op="status_changed",
                data={
                    "from": previous,
                    "to": stream.status,
                    "actual_start": _iso(stream.actual_start),
                    "actual_end": _iso(stream.actual_end),
                    "by": by.username if by else None,
                },
            )
        ],
    )


def viewers_sampled(*, stream: Stream, samples: Iterable[IngestEvent]) -> None:
    platform_events_logged(
        stream=stream,
        rows=samples,
        type="viewers",
        op="sampled",
        fields=("online", "entered_total"),
    )


def orders_received(*, stream: Stream, orders: Iterable[IngestEvent]) -> None:
    platform_events_logged(
        stream=stream,
        rows=orders,
        type="order",
        op=lambda row: row.payload["status"],
        fields=("order_id", "sku", "quantity", "amount"),
        with_currency=True,
    )


def _by(user: User | None) -> str | None:
    return user.username if user else None


def stream_planned(*, stream: Stream, by: User | None) -> None:
    eventlog.append(
        stream.pk,
        [
            NewEvent(
                type="stream",
                op="planned",
                data={
                    "title": stream.title,
                    "planned_start": _iso(stream.planned_start),
                    "planned_end": _iso(stream.planned_end),
                    "by": _by(by),
                },
            )
        ],
    )


def stream_replanned(*, stream: Stream, changed: dict, by: User | None) -> None:
    """The plan changed (a reschedule, a new title, another studio): the new values."""
    eventlog.append(
        stream.pk, [NewEvent(type="stream", op="replanned", data={**changed, "by": _by(by)})]
    )


def readiness_overridden(*, stream: Stream, override: ReadinessOverride) -> None:
    eventlog.append(
        stream.pk,
        [
            NewEvent(
                type="stream",
                op="readiness_overridden",
                data={
                    "reason": override.reason,
                    "missing": override.missing,
                    "by": _by(override.by),
                },
            )
        ],
    )


def crew_changed(*, stream: Stream, assignment: CrewAssignment, op: str, by: User | None) -> None:
    """A person joined or left the crew ("assigned" / "unassigned")."""
    eventlog.append(
        stream.pk,
        [
            NewEvent(
                type="crew",
                op=op,
                data={
                    "person": assignment.person_id,
                    "name": str(assignment.person),
                    "role": assignment.role,
                    "by": _by(by),
                },
            )
        ],
    )


def lineup_changed(*, stream: Stream, by: User | None) -> None:
    """The lineup was edited; screens showing it reload it."""
    eventlog.append(
        stream.pk,
        [
            NewEvent(
                type="lineup", op="changed", data={"items": stream.lineup.count(), "by": _by(by)}
            )
        ],
    )


def show_moved(*, show, by: User | None, previous: int) -> None:
    """The operator advanced or stepped back; the new position, whole."""
    eventlog.append(
        show.stream_id,
        [
            NewEvent(
                type="show",
                op="moved",
                data={**show_data.position_data(show), "from": previous, "by": _by(by)},
            )
        ],
    )


def show_operator_changed(*, show) -> None:
    """The room operator's console came online or went quiet."""
    eventlog.append(
        show.stream_id,
        [NewEvent(type="show", op="operator", data=show_data.position_data(show))],
    )


def show_pinned_changed(*, show) -> None:
    """The products pinned on the platform changed (a pin, unpin or sold-out cue went)."""
    eventlog.append(
        show.stream_id,
        [NewEvent(type="show", op="pinned", data=show_data.position_data(show))],
    )


def cue_changed(*, cue, op: str) -> None:
    """A cue was called (standby), fired (go), confirmed done or cancelled."""
    eventlog.append(cue.stream_id, [NewEvent(type="cue", op=op, data=show_data.cue_data(cue))])


def metrics_updated(*, stream: Stream, data: Callable[[], dict]) -> None:
    """The live tiles after a batch of orders or viewer samples: absolute values, computed
    once the log's head is locked (see `eventlog.NewEvent`)."""
    eventlog.append(stream.pk, [NewEvent(type="metrics", op="tiles", data=data)])
