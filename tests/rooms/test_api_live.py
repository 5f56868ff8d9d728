"""The live room over REST: the live picture, moving the show, cues, the operator's
presence, the tiles logged after each dispatch, and two consoles racing each other."""

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client

from rooms import eventlog, selectors, services
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
from rooms.show import cue_data
from tests.conftest import post_events
from tests.factories import (
    CrewAssignmentFactory,
    LineupItemFactory,
    StreamFactory,
    StudioFactory,
    UserFactory,
)
from tests.rooms.test_metrics import EIGHT_PM, REPLAY, _order
from tests.rooms.test_show import live_stream, room_operator

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post(client: Client, path: str, body: dict):
    return client.post(f"/api/v1/{path}", body, content_type="application/json")


def _tiles_events(stream) -> list[dict]:
    return list(
        StreamEvent.objects.filter(stream=stream, type="metrics", op="tiles")
        .order_by("seq")
        .values_list("data", flat=True)
    )


# --- The live picture ----------------------------------------------------------------------


def test_the_live_picture_holds_the_stream_the_show_and_the_cues_current_to_its_head():
    stream = live_stream(products=2)
    operator = room_operator(stream)
    services.show_move(actor=operator, stream=stream, to=1, seen_moves=0)
    fired = services.cue_call(actor=operator, stream=stream, kind="pin", link_number=2, go=True)

    response = _client(operator).get(f"/api/v1/streams/{stream.pk}/live")

    body = response.json()
    assert response.status_code == 200
    assert body["head"] == eventlog.head(stream.pk)
    assert (body["stream"]["id"], body["stream"]["status"]) == (stream.pk, "live")
    assert (body["show"]["source"], body["show"]["position"], body["show"]["moves"]) == (
        "lineup",
        1,
        1,
    )
    assert body["show"]["pinned"] == [2]
    assert [cue["id"] for cue in body["show"]["cues"]] == [fired.pk]
    assert body["markers"] == [
        {"at": fired.go_at.isoformat(), "kind": "pin", "label": "#2", "cue": fired.pk}
    ]
    assert set(body["metrics"]) == {"tiles", "alerts", "changes", "point"}


def test_screens_re_read_only_the_panels_other_apps_add(monkeypatch):
    stream = live_stream(products=1)
    operator = room_operator(stream)
    panel = {"key": "test.panel", "title": "For the host", "items": ["Is it waterproof?"]}
    monkeypatch.setattr(
        selectors, "WALL_PANELS", [lambda shown: panel if shown == stream else None]
    )

    response = _client(operator).get(f"/api/v1/streams/{stream.pk}/live?only=panels")

    assert response.status_code == 200
    assert response.json() == {"panels": [panel]}


def test_a_crew_member_follows_the_live_picture_and_others_do_not_find_it():
    stream = live_stream(products=1)
    host = UserFactory(roles=[Role.HOST])
    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.HOST)
    outsider = UserFactory(roles=[Role.ROOM_OPERATOR])
    StudioFactory(members=[outsider])

    crew = _client(host).get(f"/api/v1/streams/{stream.pk}/live")
    other = _client(outsider).get(f"/api/v1/streams/{stream.pk}/live")
    anonymous = Client().get(f"/api/v1/streams/{stream.pk}/live")

    assert (crew.status_code, other.status_code, anonymous.status_code) == (200, 404, 401)


# --- Moving the show -----------------------------------------------------------------------


def test_a_move_answers_with_the_show_and_a_stale_one_with_409_and_where_it_is():
    stream = live_stream(products=3)
    client = _client(room_operator(stream))

    moved = _post(client, f"streams/{stream.pk}/show/moves", {"to": 0, "seen_moves": 0})
    stale = _post(client, f"streams/{stream.pk}/show/moves", {"to": 1, "seen_moves": 0})

    assert moved.status_code == 200
    assert (moved.json()["position"], moved.json()["moves"]) == (0, 1)
    assert stale.status_code == 409
    assert stale.json()["code"] == "conflict"
    assert (stale.json()["current"]["position"], stale.json()["current"]["moves"]) == (0, 1)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"to": 3, "seen_moves": 0}, "invalid"),
        ({"to": -1, "seen_moves": 0}, "invalid"),
        ({"to": 1}, "invalid"),
        ({"to": "next", "seen_moves": 0}, "invalid"),
    ],
)
def test_a_move_that_makes_no_sense_is_a_400(body, code):
    stream = live_stream(products=3)
    client = _client(room_operator(stream))

    response = _post(client, f"streams/{stream.pk}/show/moves", body)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert Show.objects.get(stream=stream).moves == 0


def test_a_move_before_the_stream_is_live_is_a_400_not_live():
    stream = StreamFactory()
    client = _client(room_operator(stream))

    response = _post(client, f"streams/{stream.pk}/show/moves", {"to": 0, "seen_moves": 0})

    assert (response.status_code, response.json()["code"]) == (400, "not_live")
    assert not Show.objects.filter(stream=stream).exists()


def test_the_console_says_it_is_there_and_that_it_is_leaving():
    stream = live_stream(products=1)
    operator = room_operator(stream)
    client = _client(operator)

    here = _post(client, f"streams/{stream.pk}/show/presence", {})
    online = Show.objects.get(stream=stream).operator_online
    leaving = _post(client, f"streams/{stream.pk}/show/presence", {"leaving": True})

    assert (here.status_code, leaving.status_code) == (204, 204)
    assert online is True
    assert Show.objects.get(stream=stream).operator_online is False


def test_a_console_open_before_air_is_told_the_show_has_not_started():
    stream = StreamFactory()
    client = _client(room_operator(stream))

    response = _post(client, f"streams/{stream.pk}/show/presence", {})

    assert (response.status_code, response.json()["code"]) == (400, "not_live")
    assert not Show.objects.filter(stream=stream).exists()


# --- Cues ----------------------------------------------------------------------------------


def test_a_script_cue_called_twice_answers_the_same_cue():
    stream = live_stream(products=2)
    client = _client(room_operator(stream))
    key = f"lineup-{stream.lineup.get(link_number=2).pk}-pin"

    first = _post(client, f"streams/{stream.pk}/cues", {"script_key": key})
    second = _post(client, f"streams/{stream.pk}/cues", {"script_key": key})

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] == second.json()["id"]
    assert (first.json()["kind"], first.json()["state"], first.json()["link_number"]) == (
        "pin",
        "standby",
        2,
    )
    assert ShowCue.objects.filter(stream=stream).count() == 1


def test_cue_details_that_do_not_check_out_are_a_400_naming_the_fields():
    stream = live_stream(products=1)
    client = _client(room_operator(stream))

    response = _post(
        client,
        f"streams/{stream.pk}/cues",
        {"kind": "flash_sale", "link_number": 1, "params": {"price": "-1", "seconds": 5}},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["fields"]) == {"price", "quantity", "seconds"}
    assert not ShowCue.objects.exists()


def test_a_cue_is_fired_and_confirmed_once_and_a_late_press_gets_409_with_its_state():
    stream = live_stream(products=1)
    operator = room_operator(stream)
    client = _client(operator)
    called = _post(client, f"streams/{stream.pk}/cues", {"kind": "pin", "link_number": 1})
    path = f"streams/{stream.pk}/cues/{called.json()['id']}/state"

    fired = _post(client, path, {"to": "go"})
    late = _post(client, path, {"to": "go"})
    confirmed = _post(client, path, {"to": "confirmed"})

    assert (fired.status_code, late.status_code, confirmed.status_code) == (200, 409, 200)
    assert (fired.json()["state"], fired.json()["go_by"]) == ("go", str(operator))
    assert (late.json()["code"], late.json()["current"]["state"]) == ("conflict", "go")
    assert confirmed.json()["state"] == "confirmed"


def test_a_fourth_pin_is_a_400_pin_limit():
    stream = live_stream(products=4)
    client = _client(room_operator(stream))
    for link in (1, 2, 3):
        _post(client, f"streams/{stream.pk}/cues", {"kind": "pin", "link_number": link, "go": True})

    refused = _post(
        client, f"streams/{stream.pk}/cues", {"kind": "pin", "link_number": 4, "go": True}
    )

    assert (refused.status_code, refused.json()["code"]) == (400, "pin_limit")
    assert Show.objects.get(stream=stream).pinned == [1, 2, 3]
    assert not ShowCue.objects.filter(stream=stream, link_number=4).exists()


def test_a_cue_of_another_stream_is_not_found_through_this_one():
    stream, other = live_stream(products=1), live_stream(products=1)
    operator = room_operator(stream)
    other.studio.members.add(operator)
    cue = services.cue_call(actor=None, stream=other, kind="pin", link_number=1)

    response = _post(_client(operator), f"streams/{stream.pk}/cues/{cue.pk}/state", {"to": "go"})

    assert response.status_code == 404
    assert ShowCue.objects.get(pk=cue.pk).state == CueState.STANDBY


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("show/moves", {"to": 0, "seen_moves": 0}),
        ("show/presence", {}),
        ("cues", {"kind": "pin", "link_number": 1, "go": True}),
    ],
)
def test_a_host_on_the_crew_follows_the_show_but_may_not_drive_it(path, body):
    stream = live_stream(products=1)
    host = UserFactory(roles=[Role.HOST])
    stream.studio.members.add(host)
    CrewAssignmentFactory(stream=stream, person=host, role=CrewRole.HOST)
    logged = eventlog.head(stream.pk)

    response = _post(_client(host), f"streams/{stream.pk}/{path}", body)

    assert response.status_code == 403
    assert eventlog.head(stream.pk) == logged


# --- Tiles in the log ----------------------------------------------------------------------


def _dispatch_pending() -> int:
    pending = list(IngestEvent.objects.filter(status="pending").values_list("pk", flat=True))
    return services.ingest_dispatch(inbox_ids=pending)


def _stream_at_eight(**fields):
    return StreamFactory(
        planned_start=EIGHT_PM - timedelta(minutes=10),
        planned_end=EIGHT_PM + timedelta(hours=2),
        **fields,
    )


def test_each_dispatch_of_orders_and_viewers_logs_the_streams_tiles_once():
    stream = _stream_at_eight()
    operator = room_operator(stream)
    client = Client()

    for batch in REPLAY:
        post_events(client, stream.channel, batch)
        _dispatch_pending()

    logged = _tiles_events(stream)
    live = _client(operator).get(f"/api/v1/streams/{stream.pk}/live").json()
    assert len(logged) == len(REPLAY)
    assert logged[-1]["tiles"] == live["metrics"]["tiles"]
    assert logged[-1]["tiles"] == selectors.live_metrics(stream, now=EIGHT_PM)["tiles"]
    assert (logged[-1]["tiles"]["gmv"], logged[-1]["tiles"]["entered"]) == ("130.00", 700)
    # Each batch's tiles are the totals so far, not the batch's own.
    assert [data["tiles"]["gmv"] for data in logged] == ["0.00", "130.00", "130.00"]


def test_one_dispatch_covering_two_streams_logs_one_tiles_event_in_each():
    first, second = _stream_at_eight(), _stream_at_eight()
    client = Client()
    post_events(client, first.channel, REPLAY[0] + REPLAY[1])
    post_events(client, second.channel, [_order("x1", "Z", "paid", 5, amount="42")])

    processed = _dispatch_pending()

    assert processed == 9
    assert [data["tiles"]["gmv"] for data in _tiles_events(first)] == ["130.00"]
    assert [data["tiles"]["gmv"] for data in _tiles_events(second)] == ["42.00"]


def test_a_batch_with_neither_orders_nor_viewers_logs_no_tiles():
    stream = _stream_at_eight()
    comment = {
        "id": "c1",
        "type": "comment",
        "at": EIGHT_PM.isoformat(),
        "user_id": "u1",
        "user_name": "阿花",
        "text": "有优惠券吗",
    }
    post_events(Client(), stream.channel, [comment])

    _dispatch_pending()

    assert _tiles_events(stream) == []


def test_a_redelivered_batch_changes_neither_the_tiles_nor_the_log():
    stream = _stream_at_eight()
    client = Client()
    for batch in REPLAY:
        post_events(client, stream.channel, batch)
        _dispatch_pending()
    tiles = _tiles_events(stream)[-1]["tiles"]
    head = eventlog.head(stream.pk)

    redelivered = [post_events(client, stream.channel, batch).json() for batch in REPLAY]
    dispatched = _dispatch_pending()
    redispatched = services.ingest_dispatch(
        inbox_ids=list(IngestEvent.objects.values_list("pk", flat=True))
    )

    assert [receipt["accepted"] for receipt in redelivered] == [0, 0, 0]
    assert (dispatched, redispatched) == (0, 0)
    assert eventlog.head(stream.pk) == head
    assert selectors.live_metrics(stream, now=EIGHT_PM)["tiles"] == tiles


def test_the_same_events_arriving_in_another_order_end_in_the_same_tiles():
    in_order, shuffled = _stream_at_eight(), _stream_at_eight()
    client = Client()
    for batch in REPLAY:
        post_events(client, in_order.channel, batch)
        _dispatch_pending()
    late_first = [REPLAY[2], REPLAY[1][::-1], REPLAY[0][::-1]]
    for batch in late_first:
        post_events(client, shuffled.channel, batch)
        _dispatch_pending()

    expected, got = _tiles_events(in_order)[-1]["tiles"], _tiles_events(shuffled)[-1]["tiles"]

    assert got == expected
    assert len(_tiles_events(shuffled)) == len(late_first)


# --- Two operator consoles racing ----------------------------------------------------------

ROUNDS = 50
# Segment r's pin is called in round r; four more products are pinned ad hoc every round.
SEGMENTS = ROUNDS + 2
AD_HOC = {"a": (SEGMENTS + 1, SEGMENTS + 2), "b": (SEGMENTS + 3, SEGMENTS + 4)}
MOVES = ("next", "next again", "back")


@dataclass
class Console:
    """One operator's screen: its own session, and the show as it last saw it."""

    name: str
    user: object
    client: Client
    position: int = -1
    moves: int = 0
    outcomes: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def post(self, round_: int, step: str, path: str, body: dict) -> tuple[int, dict]:
        response = _post(self.client, path, body)
        payload = response.json()
        self.outcomes.append((round_, step, response.status_code, payload))
        return response.status_code, payload

    def move(self, round_: int, step: str, stream_id: int, to: int) -> None:
        status, body = self.post(
            round_, step, f"streams/{stream_id}/show/moves", {"to": to, "seen_moves": self.moves}
        )
        seen = body if status == 200 else body["current"]
        self.position, self.moves = seen["position"], seen["moves"]


def _run_console(console: Console, stream_id: int, keys: dict, together: threading.Barrier):
    def step() -> None:
        together.wait(timeout=60)

    try:
        for r in range(ROUNDS):
            step()
            console.move(r, "next", stream_id, console.position + 1)
            step()
            console.move(r, "next again", stream_id, console.position + 1)
            step()
            console.move(r, "back", stream_id, console.position - 1)
            step()
            _status, cue = console.post(
                r, "call", f"streams/{stream_id}/cues", {"script_key": keys[console.position]}
            )
            step()
            console.post(r, "go", f"streams/{stream_id}/cues/{cue['id']}/state", {"to": "go"})
            step()
            console.post(
                r, "confirm", f"streams/{stream_id}/cues/{cue['id']}/state", {"to": "confirmed"}
            )
            step()
            pinned = [cue["link_number"]] if console.name == "a" else []
            for link in AD_HOC[console.name]:
                status, _body = console.post(
                    r,
                    "pin",
                    f"streams/{stream_id}/cues",
                    {"kind": "pin", "link_number": link, "go": True},
                )
                pinned += [link] if status == 201 else []
            step()
            for link in pinned:
                console.post(
                    r,
                    "unpin",
                    f"streams/{stream_id}/cues",
                    {"kind": "unpin", "link_number": link, "go": True},
                )
    except Exception as exc:
        console.errors.append(exc)
        together.abort()
    finally:
        connection.close()


def _by_step(consoles: list[Console], step: str) -> dict[int, list[tuple]]:
    found: dict[int, list[tuple]] = {}
    for console in consoles:
        for round_, name, status, body in console.outcomes:
            if name == step:
                found.setdefault(round_, []).append((console, status, body))
    return found


def _accepted(consoles: list[Console], step: str) -> list[tuple]:
    return [
        (console, body)
        for outcomes in _by_step(consoles, step).values()
        for console, status, body in outcomes
        if status in (200, 201)
    ]


@pytest.mark.django_db(transaction=True)
def test_two_consoles_racing_leave_one_position_and_a_complete_cue_log():
    stream = StreamFactory()
    for number in range(1, SEGMENTS + 5):
        LineupItemFactory(stream=stream, position=number, link_number=number)
    services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE)
    operator = room_operator(stream)
    floor = UserFactory(roles=[Role.FLOOR_CONTROLLER])
    CrewAssignmentFactory(stream=stream, person=floor, role=CrewRole.FLOOR_CONTROLLER)
    keys = {
        item.link_number - 1: f"lineup-{item.pk}-pin"
        for item in stream.lineup.filter(link_number__lte=SEGMENTS)
    }
    consoles = [
        Console("a", operator, _client(operator)),
        Console("b", floor, _client(floor)),
    ]
    together = threading.Barrier(len(consoles))
    threads = [
        threading.Thread(target=_run_console, args=(console, stream.pk, keys, together))
        for console in consoles
    ]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)

    assert [console.errors for console in consoles] == [[], []]
    names = {console.user.pk: console.name for console in consoles}

    # Every press of next, back, GO and confirm: one console won, the other was told.
    for step in (*MOVES, "go", "confirm"):
        for round_, outcomes in _by_step(consoles, step).items():
            statuses = sorted(status for _console, status, _body in outcomes)
            assert statuses == [200, 409], (step, round_, outcomes)
            assert all(body["code"] == "conflict" for *_c, s, body in outcomes if s == 409)
            assert all("current" in body for *_c, s, body in outcomes if s == 409)
    # Both consoles calling the segment's cue got the one cue.
    for outcomes in _by_step(consoles, "call").values():
        assert [status for _c, status, _b in outcomes] == [201, 201]
        assert len({body["id"] for _c, _s, body in outcomes}) == 1
    # Four ad hoc pins for the two free places: two pinned, two refused with pin_limit.
    for outcomes in _by_step(consoles, "pin").values():
        assert sorted(status for _c, status, _b in outcomes) == [201, 201, 400, 400]
        assert {body["code"] for _c, s, body in outcomes if s == 400} == {"pin_limit"}
    assert all(
        s == 201 for outcomes in _by_step(consoles, "unpin").values() for _c, s, _ in outcomes
    )

    # The position is the one the accepted moves lead to.
    moves = sorted(
        (body["moves"], body["position"], console.user.username)
        for step in MOVES
        for console, body in _accepted(consoles, step)
    )
    show = Show.objects.get(stream=stream)
    assert [count for count, _position, _by in moves] == list(range(1, 3 * ROUNDS + 1))
    assert (show.moves, show.position) == (3 * ROUNDS, moves[-1][1])
    assert show.position == ROUNDS - 1
    assert show.pinned == []

    # Segment runs: one unbroken chain in the order of the moves, the last still open.
    runs = list(ShowSegmentRun.objects.filter(stream=stream).order_by("started_at", "pk"))
    assert [run.index for run in runs] == [position for _count, position, _by in moves]
    assert [run.ended_at for run in runs[:-1]] == [run.started_at for run in runs[1:]]
    assert runs[-1].ended_at is None
    assert all(run.started_at <= run.ended_at for run in runs[:-1])

    # Cues: each called once, each step taken once, by the console that was answered 200.
    cues = {cue.pk: cue for cue in ShowCue.objects.filter(stream=stream)}
    segment_cues = {body["id"] for _c, body in _accepted(consoles, "call")}
    ad_hoc = {body["id"]: c for step in ("pin", "unpin") for c, body in _accepted(consoles, step)}
    assert len(segment_cues) == ROUNDS
    assert len(ad_hoc) == 2 * ROUNDS + 3 * ROUNDS
    assert set(cues) == segment_cues | set(ad_hoc)
    fired = {body["id"]: c.name for c, body in _accepted(consoles, "go")}
    confirmed = {body["id"]: c.name for c, body in _accepted(consoles, "confirm")}
    for pk in segment_cues:
        cue = cues[pk]
        assert cue.state == CueState.CONFIRMED
        assert (names[cue.go_by_id], names[cue.done_by_id]) == (fired[pk], confirmed[pk])
        assert cue.standby_at <= cue.go_at <= cue.done_at
    for pk, console in ad_hoc.items():
        cue = cues[pk]
        assert (cue.state, cue.standby_by_id, cue.go_by_id) == (
            "go",
            console.user.pk,
            console.user.pk,
        )
        assert cue.standby_at == cue.go_at and cue.done_at is None

    # The log: contiguous ids; per round three moves, then the cue steps in the order taken.
    events = eventlog.read_after(stream.pk, 0, limit=100_000)
    assert [event["id"] for event in events] == list(range(1, len(events) + 1))
    assert eventlog.head(stream.pk) == len(events)
    assert (events[0]["type"], events[0]["op"]) == ("stream", "status_changed")
    # Every pin and unpin that goes changes what is pinned: a "show" event just before it.
    round_shape = (
        [("show", "moved")] * 3
        + [("cue", "standby"), ("show", "pinned"), ("cue", "go"), ("cue", "confirmed")]
        + [("cue", "standby"), ("show", "pinned"), ("cue", "go")] * 5
    )
    assert [(e["type"], e["op"]) for e in events[1:]] == round_shape * ROUNDS
    pinned_events = [e["data"]["pinned"] for e in events if e["op"] == "pinned"]
    assert max(len(links) for links in pinned_events) == 3
    assert pinned_events[-1] == show.pinned
    logged_moves = [e["data"] for e in events if e["op"] == "moved"]
    assert [(d["moves"], d["position"], d["by"]) for d in logged_moves] == moves
    cue_events = [e for e in events if e["type"] == "cue"]
    assert Counter(e["data"]["id"] for e in cue_events) == {
        pk: 3 if pk in segment_cues else 2 for pk in cues
    }
    last_seen = {e["data"]["id"]: e["data"] for e in cue_events}
    assert all(last_seen[pk] == cue_data(cue) for pk, cue in cues.items())
    # Replaying the fired pins and unpins never pins more than three, and ends where the show is.
    most, pinned = _replay_pins(cue_events)
    assert most == 3
    assert pinned == show.pinned


def _replay_pins(cue_events: list[dict]) -> tuple[int, list[int]]:
    """The most products pinned at once by the GO events, and those pinned at the end."""
    pinned: list[int] = []
    most = 0
    for event in cue_events:
        data = event["data"]
        if event["op"] == "go" and data["kind"] == "pin" and data["link_number"] not in pinned:
            pinned.append(data["link_number"])
        if event["op"] == "go" and data["kind"] == "unpin":
            pinned = [link for link in pinned if link != data["link_number"]]
        most = max(most, len(pinned))
    return most, pinned
