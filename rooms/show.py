"""The plan a run-of-show follows, and where it comes from.

A stream's show is planned by its locked script when it has one (the scripts app supplies
it through `PLAN_SOURCES`, filled in its `AppConfig.ready()`), and otherwise by its lineup:
one segment per product, sharing the planned length, each with a pin cue for its link.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from .models import CrewRole, LiveCueKind, Stream

# How long a lineup segment runs when the stream's planned length says nothing useful.
DEFAULT_SEGMENT_SECONDS = 300


@dataclass(frozen=True)
class PlannedCue:
    """A cue written into the plan; `key` is unique within the stream's show."""

    key: str
    kind: str
    role: str
    link_number: int | None = None
    note: str = ""
    # The last words of the line the cue is anchored to ("on the words …").
    on_words: str = ""


@dataclass(frozen=True)
class PlannedSegment:
    key: str
    title: str
    planned_seconds: int
    hard_start_seconds: int | None = None
    link_number: int | None = None
    cues: list[PlannedCue] = field(default_factory=list)


@dataclass(frozen=True)
class ShowPlan:
    source: str
    label: str
    segments: list[PlannedSegment]

    def as_rows(self) -> list[dict]:
        """The segments as stored on the show, each with its planned offset from the start."""
        rows, offset = [], 0
        for segment in self.segments:
            if segment.hard_start_seconds is not None:
                offset = segment.hard_start_seconds
            rows.append({**asdict(segment), "offset_seconds": offset})
            offset += segment.planned_seconds
        return rows


# Callables `(stream) -> ShowPlan | None`, asked in order; the lineup is the last resort.
PLAN_SOURCES: list[Callable[[Stream], ShowPlan | None]] = []


def plan_for(stream: Stream) -> ShowPlan:
    for source in PLAN_SOURCES:
        plan = source(stream)
        if plan is not None and plan.segments:
            return plan
    return lineup_plan(stream)


def lineup_plan(stream: Stream) -> ShowPlan:
    items = list(stream.lineup.order_by("position"))
    if not items:
        return ShowPlan(
            source="none",
            label=_("No script or lineup"),
            segments=[
                PlannedSegment(
                    key="whole-show",
                    title=_("Whole show"),
                    planned_seconds=_seconds(stream.planned_end - stream.planned_start),
                )
            ],
        )
    share = _seconds(stream.planned_end - stream.planned_start) // len(items)
    seconds = max(60, share - share % 60) if share > 0 else DEFAULT_SEGMENT_SECONDS
    return ShowPlan(
        source="lineup",
        label=_("Lineup (no locked script)"),
        segments=[
            PlannedSegment(
                key=f"lineup-{item.pk}",
                title=f"#{item.link_number} {item.name}",
                planned_seconds=seconds,
                link_number=item.link_number,
                cues=[
                    PlannedCue(
                        key=f"lineup-{item.pk}-pin",
                        kind=LiveCueKind.PIN,
                        role=CrewRole.ROOM_OPERATOR,
                        link_number=item.link_number,
                    )
                ],
            )
            for item in items
        ],
    )


def _seconds(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds()))


@dataclass(frozen=True)
class Timing:
    """Where the show stands against its plan at `now`.

    `drift_seconds` is positive when the show runs late: how far the current segment started
    after its planned offset from the actual start, plus any overrun of the segment itself.
    """

    elapsed_in_segment: int
    remaining_in_segment: int
    drift_seconds: int


def timing(
    *,
    segments: list[dict],
    position: int,
    started_at: datetime | None,
    segment_started_at: datetime | None,
    now: datetime,
) -> Timing | None:
    if position < 0 or started_at is None or segment_started_at is None:
        return None
    segment = segments[position]
    elapsed = int((now - segment_started_at).total_seconds())
    late_start = int((segment_started_at - started_at).total_seconds()) - segment["offset_seconds"]
    overrun = max(0, elapsed - segment["planned_seconds"])
    return Timing(
        elapsed_in_segment=elapsed,
        remaining_in_segment=segment["planned_seconds"] - elapsed,
        drift_seconds=late_start + overrun,
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def cue_data(cue) -> dict:
    """A called cue as screens and the API see it: its whole state, so applying it twice or
    late changes nothing."""
    return {
        "id": cue.pk,
        "kind": cue.kind,
        "state": cue.state,
        "role": cue.role,
        "script_key": cue.script_key,
        "segment": cue.segment_index,
        "link_number": cue.link_number,
        "product": cue.product,
        "note": cue.note,
        "params": cue.params,
        "standby_at": _iso(cue.standby_at),
        "standby_by": _name(cue.standby_by),
        "go_at": _iso(cue.go_at),
        "go_by": _name(cue.go_by),
        "done_at": _iso(cue.done_at),
        "done_by": _name(cue.done_by),
    }


def position_data(show) -> dict:
    """Where the show stands: enough for any screen to count down on its own."""
    return {
        "position": show.position,
        "moves": show.moves,
        "started_at": _iso(show.started_at),
        "segment_started_at": _iso(show.segment_started_at),
        "pinned": show.pinned,
        "operator_online": show.operator_online,
        "operator": _name(show.operator),
    }


def _name(user) -> str | None:
    return str(user) if user is not None else None
