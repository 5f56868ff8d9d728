"""The run-of-show: its plan, moving through it, timing, cues, and the operator's presence."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.utils import timezone

from rooms import selectors, services, show
from rooms.models import (
    CrewRole,
    CueState,
    IngestEvent,
    Role,
    Show,
    ShowCue,
    ShowSegmentRun,
    StreamEvent,
    StreamStatus,
)
from rooms.tasks import show_operators_sweep_task
from scripts import services as script_services
from tests.conftest import locks_awaited, post_events, wait_until
from tests.factories import (
    CrewAssignmentFactory,
    LineupItemFactory,
    StreamFactory,
    StudioFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

EIGHT_PM = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai


def live_stream(products: int = 3, *, minutes: int = 120, **fields):
    """A stream with `products` on its lineup (link numbers 1…n), taken live by the platform."""
    stream = StreamFactory(**fields)
    stream.planned_end = stream.planned_start + timedelta(minutes=minutes)
    stream.save(update_fields=["planned_end"])
    for number in range(1, products + 1):
        LineupItemFactory(stream=stream, position=number, link_number=number)
    return services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE)


def room_operator(stream):
    """A room operator (中控) of the stream's studio."""
    person = UserFactory(roles=[Role.ROOM_OPERATOR])
    stream.studio.members.add(person)
    return person


def log(stream, type_: str | None = None) -> list[tuple[str, str]]:
    events = StreamEvent.objects.filter(stream=stream).order_by("seq")
    if type_ is not None:
        events = events.filter(type=type_)
    return list(events.values_list("type", "op"))


def _pin_key(stream, link_number: int) -> str:
    return f"lineup-{stream.lineup.get(link_number=link_number).pk}-pin"


# --- The plan ------------------------------------------------------------------------------


def _locked_script(stream):
    """A locked two-segment script in the stream's studio: a pin in the first segment and a
    hard start for the second."""
    script = script_services.script_create(actor=None, studio=stream.studio, title="Beauty Night")
    version = script.versions.get()
    opening = script_services.segment_add(
        actor=None, version=version, title="开场 Opening", planned_duration=timedelta(minutes=4)
    )
    line = script_services.line_add(
        actor=None, segment=opening, role=CrewRole.HOST, text="家人们，今天直播价只要99元！"
    )
    pin = script_services.cue_add(actor=None, line=line, kind="pin", link_number=2)
    serum = script_services.segment_add(
        actor=None,
        version=version,
        title="精华 Serum",
        planned_duration=timedelta(minutes=10),
        hard_start=timedelta(minutes=15),
        link_number=2,
    )
    script_services.line_add(actor=None, segment=serum, role=CrewRole.HOST, text="看这个质地")
    script_services.version_lock(actor=None, version=version)
    script_services.stream_script_set(actor=None, stream=stream, script=script)
    return script, opening, serum, pin


def test_a_stream_with_a_locked_script_runs_the_scripts_segments_and_cues():
    stream = StreamFactory()
    LineupItemFactory(stream=stream, position=1, link_number=2)
    _script, opening, serum, pin = _locked_script(stream)

    live = services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE)

    plan = Show.objects.get(stream=live)
    assert (plan.source, plan.source_label) == ("script", "Beauty Night v1")
    assert [
        (s["key"], s["title"], s["planned_seconds"], s["offset_seconds"], s["link_number"])
        for s in plan.segments
    ] == [
        (str(opening.key), "开场 Opening", 240, 0, None),
        # The hard start puts the serum at 15:00 whatever runs before it.
        (str(serum.key), "精华 Serum", 600, 900, 2),
    ]
    assert plan.segments[0]["cues"] == [
        {
            "key": str(pin.key),
            "kind": "pin",
            "role": CrewRole.ROOM_OPERATOR,
            "link_number": 2,
            "note": "",
            # The line's last words, which the host says as the cue is due.
            "on_words": "家人们，今天直播价只要99元！"[-14:],
        }
    ]
    assert (plan.position, plan.moves, plan.pinned) == (-1, 0, [])


def test_a_script_still_in_draft_does_not_plan_the_show_the_lineup_does():
    stream = StreamFactory(planned_start=EIGHT_PM, planned_end=EIGHT_PM + timedelta(hours=1))
    items = [LineupItemFactory(stream=stream, position=n, link_number=n) for n in (1, 2, 3)]
    script = script_services.script_create(actor=None, studio=stream.studio, title="Draft")
    segment = script_services.segment_add(actor=None, version=script.versions.get(), title="A")
    script_services.line_add(actor=None, segment=segment, role=CrewRole.HOST, text="你好")
    script_services.stream_script_set(actor=None, stream=stream, script=script)

    plan = selectors.show_snapshot(stream)

    assert (plan["source"], plan["position"]) == ("lineup", -1)
    # An hour shared by three products: 20 minutes each, one after the other.
    assert [(s["key"], s["planned_seconds"], s["offset_seconds"]) for s in plan["segments"]] == [
        (f"lineup-{item.pk}", 1200, 1200 * n) for n, item in enumerate(items)
    ]
    assert [s["title"] for s in plan["segments"]] == [f"#{i.link_number} {i.name}" for i in items]
    assert [s["cues"] for s in plan["segments"]] == [
        [
            {
                "key": f"lineup-{item.pk}-pin",
                "kind": "pin",
                "role": CrewRole.ROOM_OPERATOR,
                "link_number": item.link_number,
                "note": "",
                "on_words": "",
            }
        ]
        for item in items
    ]


def test_a_stream_with_neither_script_nor_lineup_runs_as_one_whole_segment():
    stream = live_stream(products=0, minutes=90)

    plan = Show.objects.get(stream=stream)

    assert plan.source == "none"
    assert [(s["key"], s["planned_seconds"], s["cues"]) for s in plan.segments] == [
        ("whole-show", 5400, [])
    ]


def test_the_plan_is_fixed_as_the_stream_goes_live():
    stream = live_stream(products=2)
    planned = Show.objects.get(stream=stream).segments

    services.lineup_item_add(
        actor=None, stream=stream, name="Late addition", kind="hero", regular_price="10"
    )
    services.lineup_item_update(actor=None, item=stream.lineup.get(link_number=1), name="Renamed")

    assert Show.objects.get(stream=stream).segments == planned
    assert selectors.show_snapshot(stream)["segments"] == planned
    assert len(planned) == 2


# --- Moving through the show ---------------------------------------------------------------


def test_advancing_and_stepping_back_record_segment_runs_and_log_each_move():
    stream = live_stream(products=3)
    operator = room_operator(stream)
    start = timezone.now()

    services.show_move(actor=operator, stream=stream, to=0, seen_moves=0, at=start)
    services.show_move(
        actor=operator, stream=stream, to=1, seen_moves=1, at=start + timedelta(minutes=5)
    )
    moved = services.show_move(
        actor=operator, stream=stream, to=0, seen_moves=2, at=start + timedelta(minutes=7)
    )

    assert (moved.position, moved.moves, moved.started_at) == (0, 3, start)
    assert moved.segment_started_at == start + timedelta(minutes=7)
    runs = list(ShowSegmentRun.objects.filter(stream=stream).values_list("index", "ended_at"))
    assert runs == [
        (0, start + timedelta(minutes=5)),
        (1, start + timedelta(minutes=7)),
        (0, None),
    ]
    moves = [
        (e["from"], e["position"], e["moves"], e["by"])
        for e in StreamEvent.objects.filter(stream=stream, type="show", op="moved")
        .order_by("seq")
        .values_list("data", flat=True)
    ]
    assert moves == [
        (-1, 0, 1, operator.username),
        (0, 1, 2, operator.username),
        (1, 0, 3, operator.username),
    ]


def test_a_move_made_on_a_stale_count_is_refused_with_where_the_show_is():
    stream = live_stream(products=3)
    operator = room_operator(stream)
    services.show_move(actor=operator, stream=stream, to=0, seen_moves=0)

    with pytest.raises(services.ShowConflict) as refused:
        services.show_move(actor=operator, stream=stream, to=1, seen_moves=0)

    assert refused.value.code == "conflict"
    assert (refused.value.current["position"], refused.value.current["moves"]) == (0, 1)
    assert Show.objects.get(stream=stream).position == 0
    assert len(log(stream, "show")) == 1


@pytest.mark.parametrize("to", [-1, 3, 99])
def test_a_move_to_a_segment_that_does_not_exist_is_refused(to):
    stream = live_stream(products=3)
    operator = room_operator(stream)

    with pytest.raises(ValidationError) as refused:
        services.show_move(actor=operator, stream=stream, to=to, seen_moves=0)

    assert refused.value.code == "invalid"
    assert Show.objects.get(stream=stream).moves == 0
    assert not ShowSegmentRun.objects.filter(stream=stream).exists()
    assert log(stream, "show") == []


@pytest.mark.parametrize("status", [StreamStatus.SCHEDULED, StreamStatus.ENDED])
def test_the_show_does_not_move_unless_the_stream_is_live(status):
    stream = live_stream(products=2)
    operator = room_operator(stream)
    services.show_move(actor=operator, stream=stream, to=0, seen_moves=0)
    type(stream).objects.filter(pk=stream.pk).update(status=status)

    with pytest.raises(ValidationError) as refused:
        services.show_move(actor=operator, stream=stream, to=1, seen_moves=1)

    assert refused.value.code == "not_live"
    assert Show.objects.get(stream=stream).position == 0


def test_ending_the_stream_closes_the_segment_on_air():
    stream = live_stream(products=2)
    operator = room_operator(stream)
    services.show_move(actor=operator, stream=stream, to=1, seen_moves=0)
    ended_at = timezone.now() + timedelta(minutes=1)

    services.stream_transition(actor=None, stream=stream, to=StreamStatus.ENDED, at=ended_at)

    assert list(
        ShowSegmentRun.objects.filter(stream=stream).values_list("ended_at", flat=True)
    ) == [ended_at]


# --- Timing --------------------------------------------------------------------------------


def _twenty_minutes_of_two_products():
    """Two ten-minute segments: the second planned 600 s after the start."""
    return live_stream(products=2, minutes=20)


def test_a_segment_started_late_and_overrunning_adds_both_to_the_drift():
    stream = _twenty_minutes_of_two_products()
    operator = room_operator(stream)
    start = EIGHT_PM
    services.show_move(actor=operator, stream=stream, to=0, seen_moves=0, at=start)
    # Segment 2 is planned at 600 s; it starts at 700 s and runs 100 s past its 600 s.
    moved = services.show_move(
        actor=operator, stream=stream, to=1, seen_moves=1, at=start + timedelta(seconds=700)
    )

    timing = show.timing(
        segments=moved.segments,
        position=moved.position,
        started_at=moved.started_at,
        segment_started_at=moved.segment_started_at,
        now=start + timedelta(seconds=1400),
    )

    assert moved.segments[1]["offset_seconds"] == 600
    assert timing == show.Timing(
        elapsed_in_segment=700, remaining_in_segment=-100, drift_seconds=200
    )


def test_a_segment_started_early_runs_under_and_an_overrun_is_not_yet_counted():
    stream = _twenty_minutes_of_two_products()
    operator = room_operator(stream)
    services.show_move(actor=operator, stream=stream, to=0, seen_moves=0, at=EIGHT_PM)
    moved = services.show_move(
        actor=operator, stream=stream, to=1, seen_moves=1, at=EIGHT_PM + timedelta(seconds=500)
    )

    timing = show.timing(
        segments=moved.segments,
        position=1,
        started_at=moved.started_at,
        segment_started_at=moved.segment_started_at,
        now=EIGHT_PM + timedelta(seconds=560),
    )

    assert timing == show.Timing(
        elapsed_in_segment=60, remaining_in_segment=540, drift_seconds=-100
    )


def test_a_hard_start_sets_the_planned_offset_of_its_segment_and_those_after():
    plan = show.ShowPlan(
        source="test",
        label="",
        segments=[
            show.PlannedSegment(key="a", title="A", planned_seconds=300),
            show.PlannedSegment(key="b", title="B", planned_seconds=300, hard_start_seconds=900),
            show.PlannedSegment(key="c", title="C", planned_seconds=300),
        ],
    )

    rows = plan.as_rows()

    assert [row["offset_seconds"] for row in rows] == [0, 900, 1200]


def test_there_is_no_timing_before_the_show_starts():
    stream = live_stream(products=2)
    plan = Show.objects.get(stream=stream)

    timing = show.timing(
        segments=plan.segments,
        position=plan.position,
        started_at=plan.started_at,
        segment_started_at=plan.segment_started_at,
        now=timezone.now(),
    )

    assert timing is None


# --- Cues ----------------------------------------------------------------------------------


def test_a_script_cue_is_called_once_however_many_consoles_call_it():
    stream = live_stream(products=3)
    operator, second = room_operator(stream), room_operator(stream)
    key = _pin_key(stream, 2)

    first = services.cue_call(actor=operator, stream=stream, script_key=key)
    again = services.cue_call(actor=second, stream=stream, script_key=key)

    assert again.pk == first.pk
    assert (first.kind, first.role, first.link_number, first.state) == (
        "pin",
        CrewRole.ROOM_OPERATOR,
        2,
        CueState.STANDBY,
    )
    assert first.product == stream.lineup.get(link_number=2).name
    assert first.segment_index == 1  # the cue's own segment, not where the show stands
    assert first.standby_by == operator
    assert ShowCue.objects.filter(stream=stream).count() == 1
    assert log(stream, "cue") == [("cue", "standby")]


def test_a_cue_key_that_is_not_in_the_plan_is_refused():
    stream = live_stream(products=1)
    operator = room_operator(stream)

    with pytest.raises(ValidationError) as refused:
        services.cue_call(actor=operator, stream=stream, script_key="no-such-cue")

    assert list(refused.value.message_dict) == ["script_key"]
    assert not ShowCue.objects.exists()


def test_an_ad_hoc_cue_is_placed_in_the_segment_on_air():
    stream = live_stream(products=3)
    operator = room_operator(stream)
    services.show_move(actor=operator, stream=stream, to=2, seen_moves=0)

    cue = services.cue_call(
        actor=operator, stream=stream, kind="cheer", role=CrewRole.FLOOR_CONTROLLER, note="掌声"
    )

    assert (cue.segment_index, cue.role, cue.product, cue.note) == (
        2,
        CrewRole.FLOOR_CONTROLLER,
        "",
        "掌声",
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "dance"}, "kind"),
        ({"kind": "cheer"}, "role"),
        ({"kind": "pin"}, "link_number"),
        ({"kind": "pin", "link_number": 9}, "link_number"),
    ],
    ids=["unknown kind", "crew cue without role", "product cue without link", "link not on lineup"],
)
def test_an_ad_hoc_cue_must_say_what_and_for_whom(fields, field):
    stream = live_stream(products=2)
    operator = room_operator(stream)

    with pytest.raises(ValidationError) as refused:
        services.cue_call(actor=operator, stream=stream, **fields)

    assert list(refused.value.message_dict) == [field]
    assert not ShowCue.objects.exists()


def test_a_product_cue_is_the_room_operators_whoever_it_is_said_to_be_for():
    stream = live_stream(products=1)
    operator = room_operator(stream)

    cue = services.cue_call(
        actor=operator,
        stream=stream,
        kind="coupon",
        link_number=1,
        role=CrewRole.HOST,
        params={"value": 5},
    )

    assert (cue.role, cue.params) == (CrewRole.ROOM_OPERATOR, {"value": "5.00"})


AMOUNT = "Enter an amount above zero."
QUANTITY = "Enter a whole number from 1 to 1000000."
SECONDS = "Enter a whole number from 10 to 3600."


@pytest.mark.parametrize(
    ("kind", "params", "errors"),
    [
        ("price_change", {}, {"price": [AMOUNT]}),
        ("price_change", {"price": "0"}, {"price": [AMOUNT]}),
        ("price_change", {"price": "-5"}, {"price": [AMOUNT]}),
        ("price_change", {"price": "cheap"}, {"price": [AMOUNT]}),
        ("price_change", {"price": "NaN"}, {"price": [AMOUNT]}),
        ("price_change", {"price": "1e9"}, {"price": [AMOUNT]}),
        ("coupon", {}, {"value": [AMOUNT]}),
        ("coupon", {"value": "5", "quantity": "many"}, {"quantity": [QUANTITY]}),
        ("flash_sale", {"price": "9.9"}, {"quantity": [QUANTITY], "seconds": [SECONDS]}),
        ("flash_sale", {"price": "0", "quantity": 10, "seconds": 60}, {"price": [AMOUNT]}),
        ("flash_sale", {"price": "9.9", "quantity": 0, "seconds": 60}, {"quantity": [QUANTITY]}),
        ("flash_sale", {"price": "9.9", "quantity": True, "seconds": 60}, {"quantity": [QUANTITY]}),
        ("flash_sale", {"price": "9.9", "quantity": 10, "seconds": 9}, {"seconds": [SECONDS]}),
        ("flash_sale", {"price": "9.9", "quantity": 10, "seconds": 3601}, {"seconds": [SECONDS]}),
        (
            "flash_sale",
            {"price": "9.9", "quantity": 1_000_001, "seconds": 60},
            {"quantity": [QUANTITY]},
        ),
    ],
)
def test_a_cue_with_bad_details_names_each_bad_field_and_saves_nothing(kind, params, errors):
    stream = live_stream(products=1)
    operator = room_operator(stream)

    with pytest.raises(ValidationError) as refused:
        services.cue_call(
            actor=operator, stream=stream, kind=kind, link_number=1, params=params, go=True
        )

    assert refused.value.message_dict == errors
    assert not ShowCue.objects.exists()
    assert log(stream, "cue") == []


@pytest.mark.parametrize(
    ("kind", "params", "clean"),
    [
        ("price_change", {"price": 59.9}, {"price": "59.90"}),
        ("coupon", {"value": "10", "quantity": "200"}, {"value": "10.00", "quantity": 200}),
        (
            "flash_sale",
            {"price": "9.9", "quantity": "100", "seconds": 10, "colour": "red"},
            {"price": "9.90", "quantity": 100, "seconds": 10},
        ),
    ],
)
def test_a_cues_details_are_kept_as_money_strings_and_whole_numbers(kind, params, clean):
    stream = live_stream(products=1)
    operator = room_operator(stream)

    cue = services.cue_call(actor=operator, stream=stream, kind=kind, link_number=1, params=params)

    cue.refresh_from_db()
    assert cue.params == clean


def test_a_flash_sale_going_live_says_when_it_ends():
    stream = live_stream(products=1)
    operator = room_operator(stream)
    cue = services.cue_call(
        actor=operator,
        stream=stream,
        kind="flash_sale",
        link_number=1,
        params={"price": "9.9", "quantity": 50, "seconds": 90},
    )

    fired = services.cue_advance(actor=operator, cue=cue, to="go")

    fired.refresh_from_db()
    assert fired.state == CueState.GO
    assert fired.params == {
        "price": "9.90",
        "quantity": 50,
        "seconds": 90,
        "ends_at": (fired.go_at + timedelta(seconds=90)).isoformat(),
    }
    go_event = StreamEvent.objects.get(stream=stream, type="cue", op="go")
    assert go_event.data["params"]["ends_at"] == fired.params["ends_at"]


def test_a_script_price_change_is_priced_when_fired_and_not_without_a_price():
    stream = _stream_with_a_scripted_price_change()
    operator = room_operator(stream)
    key = Show.objects.get(stream=stream).segments[0]["cues"][0]["key"]
    cue = services.cue_call(actor=operator, stream=stream, script_key=key)

    with pytest.raises(ValidationError) as unpriced:
        services.cue_advance(actor=operator, cue=cue, to="go")
    fired = services.cue_advance(actor=operator, cue=cue, to="go", params={"price": "49"})

    assert cue.params == {}
    assert unpriced.value.message_dict == {"price": [AMOUNT]}
    assert (fired.state, fired.params, fired.go_by) == (CueState.GO, {"price": "49.00"}, operator)


def test_a_script_cue_called_with_its_details_keeps_them():
    stream = _stream_with_a_scripted_price_change()
    operator = room_operator(stream)
    key = Show.objects.get(stream=stream).segments[0]["cues"][0]["key"]

    cue = services.cue_call(actor=operator, stream=stream, script_key=key, params={"price": "39"})

    assert cue.params == {"price": "39.00"}


def test_a_script_price_change_fired_at_once_needs_its_price():
    stream = _stream_with_a_scripted_price_change()
    operator = room_operator(stream)
    key = Show.objects.get(stream=stream).segments[0]["cues"][0]["key"]

    with pytest.raises(ValidationError) as unpriced:
        services.cue_call(actor=operator, stream=stream, script_key=key, go=True)
    fired = services.cue_call(
        actor=operator, stream=stream, script_key=key, go=True, params={"price": "39"}
    )

    assert unpriced.value.message_dict == {"price": [AMOUNT]}
    assert (fired.state, fired.params) == (CueState.GO, {"price": "39.00"})
    assert log(stream, "cue") == [("cue", "standby"), ("cue", "go")]


def _stream_with_a_scripted_price_change():
    stream = StreamFactory()
    LineupItemFactory(stream=stream, position=1, link_number=2)
    script = script_services.script_create(actor=None, studio=stream.studio, title="Prices")
    segment = script_services.segment_add(actor=None, version=script.versions.get(), title="A")
    line = script_services.line_add(actor=None, segment=segment, role=CrewRole.HOST, text="改价")
    script_services.cue_add(actor=None, line=line, kind="price_change", link_number=2)
    script_services.version_lock(actor=None, version=script.versions.get())
    script_services.stream_script_set(actor=None, stream=stream, script=script)
    return services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE)


def test_a_count_written_in_other_digits_is_refused_not_a_crash():
    stream = live_stream(products=1)
    operator = room_operator(stream)

    with pytest.raises(ValidationError) as refused:
        services.cue_call(
            actor=operator,
            stream=stream,
            kind="flash_sale",
            link_number=1,
            params={"price": "9.9", "quantity": "²", "seconds": 60},
        )

    assert refused.value.message_dict == {"quantity": [QUANTITY]}


def test_a_cue_goes_standby_go_confirmed_with_who_and_when():
    stream = live_stream(products=1)
    caller, firer = room_operator(stream), room_operator(stream)
    cue = services.cue_call(actor=caller, stream=stream, kind="pin", link_number=1)

    services.cue_advance(actor=firer, cue=cue, to="go")
    done = services.cue_advance(actor=caller, cue=cue, to="confirmed")

    assert done.state == CueState.CONFIRMED
    assert (done.standby_by, done.go_by, done.done_by) == (caller, firer, caller)
    assert done.standby_at <= done.go_at <= done.done_at
    assert log(stream, "cue") == [("cue", "standby"), ("cue", "go"), ("cue", "confirmed")]
    states = [
        data["state"]
        for data in StreamEvent.objects.filter(stream=stream, type="cue")
        .order_by("seq")
        .values_list("data", flat=True)
    ]
    assert states == ["standby", "go", "confirmed"]


@pytest.mark.parametrize(
    ("steps", "refused_step", "state"),
    [
        (["go"], "cancelled", CueState.GO),
        ([], "confirmed", CueState.STANDBY),
        (["go"], "go", CueState.GO),
        (["go", "confirmed"], "cancelled", CueState.CONFIRMED),
        (["cancelled"], "go", CueState.CANCELLED),
    ],
    ids=[
        "cancel a fired cue",
        "confirm a cue not fired",
        "fire twice",
        "cancel a confirmed cue",
        "fire a cancelled cue",
    ],
)
def test_a_cue_only_moves_forward(steps, refused_step, state):
    stream = live_stream(products=1)
    operator = room_operator(stream)
    cue = services.cue_call(actor=operator, stream=stream, kind="pin", link_number=1)
    for step in steps:
        services.cue_advance(actor=operator, cue=cue, to=step)
    logged = len(log(stream, "cue"))

    with pytest.raises(services.ShowConflict) as refused:
        services.cue_advance(actor=operator, cue=cue, to=refused_step)

    assert refused.value.current["state"] == state
    cue.refresh_from_db()
    assert cue.state == state
    assert len(log(stream, "cue")) == logged


def test_a_cue_step_that_is_no_step_is_refused():
    stream = live_stream(products=1)
    operator = room_operator(stream)
    cue = services.cue_call(actor=operator, stream=stream, kind="pin", link_number=1)

    with pytest.raises(ValidationError) as refused:
        services.cue_advance(actor=operator, cue=cue, to="standby")

    assert refused.value.code == "invalid"


def test_cancelling_a_cue_on_standby_records_who():
    stream = live_stream(products=1)
    operator = room_operator(stream)
    cue = services.cue_call(actor=operator, stream=stream, kind="pin", link_number=1)

    cancelled = services.cue_advance(actor=operator, cue=cue, to="cancelled")

    assert (cancelled.state, cancelled.done_by, cancelled.go_at) == (
        CueState.CANCELLED,
        operator,
        None,
    )
    assert Show.objects.get(stream=stream).pinned == []


def test_at_most_three_products_are_pinned_and_unpin_or_sold_out_free_a_place():
    stream = live_stream(products=5)
    operator = room_operator(stream)
    for link in (1, 2, 3):
        services.cue_call(actor=operator, stream=stream, kind="pin", link_number=link, go=True)

    with pytest.raises(ValidationError) as full:
        services.cue_call(actor=operator, stream=stream, kind="pin", link_number=4, go=True)
    waiting = services.cue_call(actor=operator, stream=stream, kind="pin", link_number=4)
    with pytest.raises(ValidationError) as still_full:
        services.cue_advance(actor=operator, cue=waiting, to="go")
    services.cue_call(actor=operator, stream=stream, kind="unpin", link_number=2, go=True)
    services.cue_call(actor=operator, stream=stream, kind="sold_out", link_number=1, go=True)
    services.cue_advance(actor=operator, cue=waiting, to="go")
    services.cue_call(actor=operator, stream=stream, kind="pin", link_number=5, go=True)

    assert (full.value.code, still_full.value.code) == ("pin_limit", "pin_limit")
    assert "#1, #2, #3" in full.value.messages[0]
    assert Show.objects.get(stream=stream).pinned == [3, 4, 5]
    # The refused ad hoc pin left nothing behind; the waiting one stayed on standby until GO.
    assert ShowCue.objects.filter(stream=stream, link_number=4).count() == 1
    assert ShowCue.objects.get(pk=waiting.pk).state == CueState.GO


def test_pinning_a_pinned_product_again_does_not_take_another_place():
    stream = live_stream(products=4)
    operator = room_operator(stream)
    for link in (1, 2, 3, 3):
        services.cue_call(actor=operator, stream=stream, kind="pin", link_number=link, go=True)

    assert Show.objects.get(stream=stream).pinned == [1, 2, 3]


def test_cues_are_called_only_while_the_stream_is_live():
    stream = StreamFactory()
    LineupItemFactory(stream=stream, position=1, link_number=1)
    operator = room_operator(stream)

    with pytest.raises(ValidationError) as refused:
        services.cue_call(actor=operator, stream=stream, kind="pin", link_number=1)

    assert refused.value.code == "not_live"
    assert not ShowCue.objects.exists()


# --- Who may run the show ------------------------------------------------------------------


def _attempts(stream, person):
    cue = ShowCue.objects.get(stream=stream)
    return {
        "move": lambda: services.show_move(actor=person, stream=stream, to=0, seen_moves=0),
        "call": lambda: services.cue_call(actor=person, stream=stream, kind="pin", link_number=1),
        "advance": lambda: services.cue_advance(actor=person, cue=cue, to="go"),
        "presence": lambda: services.show_operator_seen(actor=person, stream=stream),
    }


@pytest.mark.parametrize("attempt", ["move", "call", "advance", "presence"])
@pytest.mark.parametrize("who", ["host on the crew", "room operator of another studio"])
def test_only_those_who_run_the_show_may_move_it_or_call_cues(who, attempt):
    stream = live_stream(products=1)
    services.cue_call(actor=None, stream=stream, kind="pin", link_number=1)
    host = UserFactory(roles=[Role.HOST])
    stream.studio.members.add(host)
    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.HOST)
    outsider = UserFactory(roles=[Role.ROOM_OPERATOR])
    StudioFactory(members=[outsider])
    person = {"host on the crew": host, "room operator of another studio": outsider}[who]
    logged = log(stream)

    with pytest.raises(PermissionDenied):
        _attempts(stream, person)[attempt]()

    assert log(stream) == logged
    assert ShowCue.objects.get(stream=stream).state == CueState.STANDBY


@pytest.mark.parametrize("who", ["floor controller on the crew", "producer of the studio"])
def test_the_crews_floor_controller_and_the_studios_producers_run_the_show(who):
    stream = live_stream(products=1)
    floor = UserFactory()
    CrewAssignmentFactory(stream=stream, person=floor, role=CrewRole.FLOOR_CONTROLLER)
    producer = UserFactory(roles=[Role.PRODUCER])
    stream.studio.members.add(producer)
    person = {"floor controller on the crew": floor, "producer of the studio": producer}[who]

    moved = services.show_move(actor=person, stream=stream, to=0, seen_moves=0)
    cue = services.cue_call(actor=person, stream=stream, kind="pin", link_number=1, go=True)

    assert (moved.position, cue.state, cue.go_by) == (0, CueState.GO, person)


# --- The operator's presence ---------------------------------------------------------------


def _operator_events(stream) -> list[tuple[bool, str | None]]:
    return [
        (data["operator_online"], data["operator"])
        for data in StreamEvent.objects.filter(stream=stream, type="show", op="operator")
        .order_by("seq")
        .values_list("data", flat=True)
    ]


def test_a_console_saying_it_is_there_marks_the_operator_online_once():
    stream = live_stream(products=1)
    operator = room_operator(stream)

    first = services.show_operator_seen(actor=operator, stream=stream)
    seen_at = first.operator_seen_at
    for _ in range(3):
        services.show_operator_seen(actor=operator, stream=stream)

    current = Show.objects.get(stream=stream)
    assert (current.operator_online, current.operator) == (True, operator)
    assert current.operator_seen_at > seen_at  # each heartbeat counts, silently
    assert _operator_events(stream) == [(True, str(operator))]


def test_a_console_closing_marks_the_operator_offline():
    stream = live_stream(products=1)
    operator = room_operator(stream)
    services.show_operator_seen(actor=operator, stream=stream)

    left = services.show_operator_seen(actor=operator, stream=stream, leaving=True)

    assert left.operator_online is False
    assert _operator_events(stream) == [(True, str(operator)), (False, str(operator))]


def test_another_console_closing_does_not_take_the_operator_offline():
    stream = live_stream(products=1)
    operator, other = room_operator(stream), room_operator(stream)
    services.show_operator_seen(actor=operator, stream=stream)

    services.show_operator_seen(actor=other, stream=stream, leaving=True)

    current = Show.objects.get(stream=stream)
    assert (current.operator_online, current.operator) == (True, operator)
    assert len(_operator_events(stream)) == 1


def test_the_sweep_marks_a_console_silent_for_more_than_thirty_seconds_offline():
    quiet_stream, fresh_stream = live_stream(products=1), live_stream(products=1)
    quiet, fresh = room_operator(quiet_stream), room_operator(fresh_stream)
    services.show_operator_seen(actor=quiet, stream=quiet_stream)
    seen = services.show_operator_seen(actor=fresh, stream=fresh_stream)
    Show.objects.filter(stream=quiet_stream).update(
        operator_seen_at=seen.operator_seen_at - timedelta(seconds=31)
    )

    gone = services.show_operators_sweep(now=seen.operator_seen_at + timedelta(seconds=1))
    again = services.show_operators_sweep(now=seen.operator_seen_at + timedelta(seconds=1))

    assert (gone, again) == (1, 0)
    assert Show.objects.get(stream=quiet_stream).operator_online is False
    assert Show.objects.get(stream=fresh_stream).operator_online is True
    assert _operator_events(quiet_stream) == [(True, str(quiet)), (False, str(quiet))]
    assert _operator_events(fresh_stream) == [(True, str(fresh))]


@pytest.mark.django_db(transaction=True)
def test_the_sweep_task_runs_on_a_real_worker(celery_worker):
    stream = live_stream(products=1)
    operator = room_operator(stream)
    services.show_operator_seen(actor=operator, stream=stream)
    Show.objects.filter(stream=stream).update(
        operator_seen_at=timezone.now() - timedelta(minutes=1)
    )

    show_operators_sweep_task.delay()
    wait_until(lambda: not Show.objects.get(stream=stream).operator_online)

    assert _operator_events(stream) == [(True, str(operator)), (False, str(operator))]


def test_a_console_open_before_the_stream_goes_live_does_not_fix_the_plan_early():
    stream = StreamFactory()
    LineupItemFactory(stream=stream, position=1, link_number=1)
    operator = room_operator(stream)

    with pytest.raises(ValidationError) as refused:
        services.show_operator_seen(actor=operator, stream=stream)
    services.lineup_item_add(
        actor=None, stream=stream, name="Added before air", kind="hero", regular_price="10"
    )
    services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE)

    assert refused.value.code == "not_live"
    assert [s["link_number"] for s in Show.objects.get(stream=stream).segments] == [1, 2]


def test_a_console_closing_after_the_stream_ended_is_still_heard():
    stream = live_stream(products=1)
    operator = room_operator(stream)
    services.show_operator_seen(actor=operator, stream=stream)
    services.stream_transition(actor=None, stream=stream, to=StreamStatus.ENDED)

    left = services.show_operator_seen(actor=operator, stream=stream, leaving=True)

    assert left.operator_online is False


# --- Concurrency with the stream's lifecycle and its ingest ------------------------------


@pytest.mark.django_db(transaction=True)
def test_ending_the_stream_while_a_move_is_committing_waits_for_it(monkeypatch):
    stream = live_stream(3)
    operator = room_operator(stream)
    services.show_move(actor=operator, stream=stream, to=0, seen_moves=0)
    moving = threading.Event()
    logged_move = services.show_moved

    def move_that_waits_for_the_end(**kwargs):
        # The move holds the show and has opened its segment run; the end is now waiting.
        moving.set()
        wait_until(lambda: locks_awaited() > 0, timeout=10)
        logged_move(**kwargs)

    monkeypatch.setattr(services, "show_moved", move_that_waits_for_the_end)
    errors = []

    def run(step) -> None:
        try:
            step()
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    mover = threading.Thread(
        target=run,
        args=(lambda: services.show_move(actor=operator, stream=stream, to=1, seen_moves=1),),
    )
    ender = threading.Thread(
        target=run,
        args=(
            lambda: (
                moving.wait(10)
                and services.stream_transition(actor=operator, stream=stream, to=StreamStatus.ENDED)
            ),
        ),
    )
    mover.start()
    ender.start()
    mover.join(30)
    ender.join(30)

    runs = list(ShowSegmentRun.objects.filter(stream=stream).values_list("index", "ended_at"))
    assert errors == []
    assert [index for index, _ended in runs] == [0, 1]
    assert all(ended is not None for _index, ended in runs)
    assert log(stream)[-2:] == [("show", "moved"), ("stream", "status_changed")]


@pytest.mark.django_db(transaction=True)
def test_the_last_tiles_event_counts_a_dispatch_that_committed_alongside(monkeypatch):
    stream = live_stream(1)
    now = timezone.now()

    def paid(number: int) -> dict:
        return {
            "id": f"paid-{number}",
            "type": "order",
            "at": (now + timedelta(seconds=number)).isoformat(),
            "order_id": f"o-{number}",
            "sku": "SKU-1",
            "quantity": 1,
            "amount": "100",
            "status": "paid",
        }

    post_events(Client(), stream.channel, [paid(1)])
    first = list(IngestEvent.objects.values_list("pk", flat=True))
    post_events(Client(), stream.channel, [paid(2)])
    second = list(IngestEvent.objects.exclude(pk__in=first).values_list("pk", flat=True))
    # Both dispatches have recorded their order before either writes its tiles event.
    together = threading.Barrier(2)
    publish = services.live_metrics_publish

    def publish_together(*, stream):
        publish(stream=stream)
        together.wait(10)

    monkeypatch.setattr(services, "live_metrics_publish", publish_together)

    def dispatch(ids) -> None:
        try:
            services.ingest_dispatch(inbox_ids=ids)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatch, args=(ids,)) for ids in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    tiles = StreamEvent.objects.filter(stream=stream, type="metrics").order_by("seq")
    assert [data["tiles"]["gmv"] for data in tiles.values_list("data", flat=True)][-1] == "200.00"


def test_a_second_console_keeps_the_show_attended_without_taking_it_over():
    stream = live_stream(1)
    operator, producer = room_operator(stream), UserFactory(roles=[Role.PRODUCER])
    stream.studio.members.add(producer)

    for _ in range(3):
        services.show_operator_seen(actor=operator, stream=stream)
        services.show_operator_seen(actor=producer, stream=stream)
    services.show_operator_seen(actor=producer, stream=stream, leaving=True)

    show_row = Show.objects.get(stream=stream)
    assert (show_row.operator_online, show_row.operator_id) == (True, operator.pk)
    assert log(stream, "show") == [("show", "operator")]
