"""Pairing a wall screen with a short code (RFC 8628 style), its token, and unpairing it."""

import hashlib
import json
import re
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from mcn_console.asgi import application
from rooms import services
from rooms.auth import SCREEN_COOKIE
from rooms.models import CrewRole, Role, ScreenPairing, ScreenToken, Show, ShowCue
from tests.factories import CrewAssignmentFactory, StreamFactory, StudioFactory, UserFactory
from tests.rooms.test_show import live_stream

pytestmark = pytest.mark.django_db

USER_CODE = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")


def _sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _operator_of(studio):
    person = UserFactory(roles=[Role.ROOM_OPERATOR])
    studio.members.add(person)
    return person


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _post(client: Client, path: str, body: dict | None = None):
    return client.post(f"/api/v1/{path}", body or {}, content_type="application/json")


def _paired(studio, *, lifetime=timedelta(days=7)) -> tuple[str, ScreenToken]:
    """A screen paired with the studio through the whole exchange; its raw token."""
    device_code, pairing = services.screen_pairing_start()
    services.screen_pairing_approve(
        actor=_operator_of(studio),
        user_code=pairing.user_code,
        studio=studio,
        name="Studio wall",
        lifetime=lifetime,
    )
    return services.screen_pairing_collect(device_code=device_code)


def _rows_as_text(model) -> str:
    """Every column of every row of the model's table, as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT row_to_json(t)::text FROM {model._meta.db_table} t")
        return "\n".join(row for (row,) in cursor.fetchall())


# --- The exchange, through the services ----------------------------------------------------


def test_a_screen_asking_to_pair_gets_a_secret_device_code_and_a_short_code_to_show():
    started = [services.screen_pairing_start() for _ in range(20)]

    for device_code, pairing in started:
        assert USER_CODE.match(pairing.user_code), pairing.user_code
        assert pairing.device_code_hash == _sha256(device_code)
        assert pairing.expires_at - pairing.created_at == timedelta(minutes=10)
    assert len({pairing.user_code for _code, pairing in started}) == 20
    stored = _rows_as_text(ScreenPairing)
    assert not any(device_code in stored for device_code, _pairing in started)


def test_starting_a_pairing_clears_out_those_long_expired():
    _code, old = services.screen_pairing_start()
    ScreenPairing.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(hours=1))

    _code, new = services.screen_pairing_start()

    assert list(ScreenPairing.objects.values_list("pk", flat=True)) == [new.pk]


def test_a_screen_polling_before_approval_is_told_to_wait_and_to_slow_down_if_too_quick():
    device_code, pairing = services.screen_pairing_start()

    with pytest.raises(services.PairingPending) as first:
        services.screen_pairing_collect(device_code=device_code)
    polled_at = ScreenPairing.objects.get(pk=pairing.pk).polled_at
    with pytest.raises(services.PairingPending) as too_quick:
        services.screen_pairing_collect(device_code=device_code)
    ScreenPairing.objects.filter(pk=pairing.pk).update(
        polled_at=timezone.now() - timedelta(seconds=services.PAIRING_POLL_SECONDS)
    )
    with pytest.raises(services.PairingPending) as in_time:
        services.screen_pairing_collect(device_code=device_code)

    assert polled_at is not None  # kept although the poll ended in PairingPending
    assert (first.value.slow_down, too_quick.value.slow_down, in_time.value.slow_down) == (
        False,
        True,
        False,
    )
    assert not ScreenToken.objects.exists()


@pytest.mark.parametrize(
    "typed",
    [
        lambda code: code.lower().replace("-", ""),
        lambda code: code.replace("-", ""),
        lambda code: f" {code.lower().replace('-', ' ')} ",
    ],
    ids=["lower case, no dash", "no dash", "spaced"],
)
def test_the_code_may_be_typed_in_lower_case_without_the_dash(typed):
    studio = StudioFactory()
    operator = _operator_of(studio)
    _device, pairing = services.screen_pairing_start()

    approved = services.screen_pairing_approve(
        actor=operator,
        user_code=typed(pairing.user_code),
        studio=studio,
        name="Wall",
        lifetime=timedelta(days=1),
    )

    assert approved.pk == pairing.pk
    assert (approved.studio, approved.approved_by, approved.token_ttl) == (
        studio,
        operator,
        timedelta(days=1),
    )


def _expire(pairing: ScreenPairing, _operator) -> str:
    ScreenPairing.objects.filter(pk=pairing.pk).update(expires_at=timezone.now())
    return pairing.user_code


def _approve(pairing: ScreenPairing, operator) -> str:
    services.screen_pairing_approve(
        actor=operator,
        user_code=pairing.user_code,
        studio=operator.studios.get(),
        name="First",
        lifetime=timedelta(days=1),
    )
    return pairing.user_code


@pytest.mark.parametrize(
    "make_code",
    [lambda pairing, _operator: "BBBB-BBBB", _expire, _approve],
    ids=["wrong code", "expired", "already approved"],
)
def test_a_code_no_screen_is_waiting_with_is_refused(make_code):
    studio = StudioFactory()
    operator = _operator_of(studio)
    _device, pairing = services.screen_pairing_start()
    code = make_code(pairing, operator)

    with pytest.raises(ValidationError) as refused:
        services.screen_pairing_approve(
            actor=operator, user_code=code, studio=studio, name="Second", lifetime=timedelta(days=1)
        )

    assert list(refused.value.message_dict) == ["code"]
    assert ScreenPairing.objects.get(pk=pairing.pk).name != "Second"


def test_a_screen_must_be_named():
    studio = StudioFactory()
    _device, pairing = services.screen_pairing_start()

    with pytest.raises(ValidationError) as refused:
        services.screen_pairing_approve(
            actor=_operator_of(studio),
            user_code=pairing.user_code,
            studio=studio,
            name="   ",
            lifetime=timedelta(days=1),
        )

    assert list(refused.value.message_dict) == ["name"]


@pytest.mark.parametrize("who", ["host of the studio", "room operator of another studio"])
def test_only_the_studios_producers_and_room_operators_pair_its_screens(who):
    studio = StudioFactory()
    host = UserFactory(roles=[Role.HOST])
    studio.members.add(host)
    outsider = _operator_of(StudioFactory())
    _device, pairing = services.screen_pairing_start()

    with pytest.raises(PermissionDenied):
        services.screen_pairing_approve(
            actor={"host of the studio": host, "room operator of another studio": outsider}[who],
            user_code=pairing.user_code,
            studio=studio,
            name="Wall",
            lifetime=timedelta(days=1),
        )

    assert ScreenPairing.objects.get(pk=pairing.pk).approved_at is None


def test_an_approved_screen_collects_its_token_once():
    studio = StudioFactory()
    operator = _operator_of(studio)
    device_code, pairing = services.screen_pairing_start()
    services.screen_pairing_approve(
        actor=operator,
        user_code=pairing.user_code,
        studio=studio,
        name="Studio wall",
        lifetime=timedelta(days=30),
    )
    before = timezone.now()

    raw, token = services.screen_pairing_collect(device_code=device_code)
    with pytest.raises(ValidationError) as again:
        services.screen_pairing_collect(device_code=device_code)

    assert again.value.code == "invalid_grant"
    assert raw.startswith("scr_")
    assert (token.studio, token.name, token.created_by) == (studio, "Studio wall", operator)
    assert before + timedelta(days=30) <= token.expires_at <= timezone.now() + timedelta(days=30)
    assert ScreenPairing.objects.get(pk=pairing.pk).token == token
    assert ScreenToken.objects.count() == 1


def test_only_the_tokens_hash_is_stored():
    raw, token = _paired(StudioFactory())

    assert token.key_hash == _sha256(raw)
    assert raw not in _rows_as_text(ScreenToken)
    assert raw not in _rows_as_text(ScreenPairing)


@pytest.mark.parametrize(
    ("case", "code"),
    [("unknown", "invalid_grant"), ("expired", "expired_token")],
)
def test_an_unknown_or_expired_device_code_gets_no_token(case, code):
    device_code, pairing = services.screen_pairing_start()
    ScreenPairing.objects.filter(pk=pairing.pk).update(expires_at=timezone.now())
    asked = {"unknown": "dev_forged", "expired": device_code}[case]

    with pytest.raises(ValidationError) as refused:
        services.screen_pairing_collect(device_code=asked)

    assert refused.value.code == code
    assert not ScreenToken.objects.exists()


# --- The exchange, over the API ------------------------------------------------------------


def test_the_api_pairs_a_screen_from_start_to_cookie():
    studio = StudioFactory()
    operator = _operator_of(studio)
    screen = _client()

    started = _post(screen, "screens/pairings")
    device_code, user_code = started.json()["device_code"], started.json()["user_code"]
    waiting = _post(screen, "screens/pairings/token", {"device_code": device_code})
    too_quick = _post(screen, "screens/pairings/token", {"device_code": device_code})
    approved = _post(
        _client(operator),
        "screens/pairings/approve",
        {
            "code": user_code.lower().replace("-", ""),
            "studio": studio.pk,
            "name": "Wall TV",
            "lifetime": "7d",
        },
    )
    collected = _post(screen, "screens/pairings/token", {"device_code": device_code})
    again = _post(screen, "screens/pairings/token", {"device_code": device_code})

    assert started.status_code == 201
    assert started.json() == {
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": "http://testserver/screens/pair/",
        "expires_in": 600,
        "interval": 5,
    }
    assert USER_CODE.match(user_code)
    assert [(r.status_code, r.json()["code"]) for r in (waiting, too_quick, again)] == [
        (400, "authorization_pending"),
        (400, "slow_down"),
        (400, "invalid_grant"),
    ]
    assert approved.status_code == 200
    assert approved.json() == {"code": user_code, "studio": studio.pk, "name": "Wall TV"}
    assert collected.status_code == 200
    raw = collected.json()["token"]
    assert collected.json()["studio"] == studio.pk
    cookie = collected.cookies[SCREEN_COOKIE]
    assert cookie.value == raw
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert ScreenToken.objects.get(key_hash=_sha256(raw)).name == "Wall TV"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"device_code": "dev_forged"}, "invalid_grant"),
        ({"device_code": "{expired}"}, "expired_token"),
        ({}, "invalid"),
    ],
)
def test_the_token_endpoint_answers_rfc_8628_error_codes(body, code):
    device_code, pairing = services.screen_pairing_start()
    ScreenPairing.objects.filter(pk=pairing.pk).update(expires_at=timezone.now())
    sent = {name: value.format(expired=device_code) for name, value in body.items()}

    response = _post(_client(), "screens/pairings/token", sent)

    assert (response.status_code, response.json()["code"]) == (400, code)
    assert SCREEN_COOKIE not in response.cookies


def test_approving_over_the_api_is_403_for_a_host_and_404_for_someone_elses_studio():
    studio, elsewhere = StudioFactory(), StudioFactory()
    host = UserFactory(roles=[Role.HOST])
    studio.members.add(host)
    operator = _operator_of(elsewhere)
    _device, pairing = services.screen_pairing_start()
    body = {"code": pairing.user_code, "studio": studio.pk, "name": "Wall"}

    as_host = _post(_client(host), "screens/pairings/approve", body)
    as_outsider = _post(_client(operator), "screens/pairings/approve", body)
    anonymous = _post(_client(), "screens/pairings/approve", body)

    assert (as_host.status_code, as_outsider.status_code, anonymous.status_code) == (
        403,
        404,
        401,
    )
    assert ScreenPairing.objects.get(pk=pairing.pk).approved_at is None


@pytest.mark.parametrize(
    ("change", "field"),
    [({"lifetime": "2y"}, "lifetime"), ({"code": "BBBB-BBBB"}, "code"), ({"name": ""}, "name")],
)
def test_approving_a_bad_request_is_a_400_naming_the_field(change, field):
    studio = StudioFactory()
    _device, pairing = services.screen_pairing_start()
    body = {"code": pairing.user_code, "studio": studio.pk, "name": "Wall", **change}

    response = _post(_client(_operator_of(studio)), "screens/pairings/approve", body)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


def test_the_screens_list_shows_only_the_screens_of_ones_own_studios():
    mine, theirs = StudioFactory(), StudioFactory()
    _raw, my_screen = _paired(mine)
    _paired(theirs)
    operator = _operator_of(mine)
    host = UserFactory(roles=[Role.HOST])
    mine.members.add(host)

    listed = _client(operator).get("/api/v1/screens/").json()
    for_host = _client(host).get("/api/v1/screens/").json()

    assert [(s["id"], s["studio"], s["name"], s["revoked_at"]) for s in listed] == [
        (my_screen.pk, mine.pk, "Studio wall", None)
    ]
    assert for_host == []


# --- What a screen token opens -------------------------------------------------------------


def _as_screen(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Screen {raw}"}


def test_a_screen_reads_its_own_studios_stream_by_header_or_cookie_and_no_other():
    stream, elsewhere = StreamFactory(), StreamFactory()
    raw, _token = _paired(stream.studio)
    by_cookie = _client()
    by_cookie.cookies[SCREEN_COOKIE] = raw

    own = _client().get(f"/api/v1/streams/{stream.pk}/live", **_as_screen(raw))
    own_by_cookie = by_cookie.get(f"/api/v1/streams/{stream.pk}/live")
    other = _client().get(f"/api/v1/streams/{elsewhere.pk}/live", **_as_screen(raw))

    assert (own.status_code, own_by_cookie.status_code, other.status_code) == (200, 200, 404)
    assert own.json()["stream"]["id"] == stream.pk


def test_a_screen_token_opens_nothing_but_the_live_picture():
    stream = StreamFactory()
    raw, _token = _paired(stream.studio)
    screen = _client()

    streams = screen.get("/api/v1/streams/", **_as_screen(raw))
    events = screen.get(f"/api/v1/streams/{stream.pk}/events/", **_as_screen(raw))

    assert (streams.status_code, events.status_code) == (401, 401)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("show/moves", {"to": 0, "seen_moves": 0}),
        ("show/presence", {}),
        ("cues", {"kind": "pin", "link_number": 1, "go": True}),
    ],
)
def test_a_screen_cannot_drive_the_show(path, body):
    stream = live_stream(products=1)
    raw, _token = _paired(stream.studio)

    response = _client().post(
        f"/api/v1/streams/{stream.pk}/{path}",
        body,
        content_type="application/json",
        **_as_screen(raw),
    )

    assert response.status_code == 401
    show = Show.objects.get(stream=stream)
    assert (show.moves, show.operator_online) == (0, False)
    assert not ShowCue.objects.exists()


def test_an_unpaired_screen_is_shut_out_at_once():
    stream = StreamFactory()
    raw, token = _paired(stream.studio)
    operator = _operator_of(stream.studio)

    revoked = _client(operator).delete(f"/api/v1/screens/{token.pk}/")
    reading = _client().get(f"/api/v1/streams/{stream.pk}/live", **_as_screen(raw))
    by_cookie = _client()
    by_cookie.cookies[SCREEN_COOKIE] = raw
    reading_by_cookie = by_cookie.get(f"/api/v1/streams/{stream.pk}/live")

    assert revoked.status_code == 204
    assert ScreenToken.objects.get(pk=token.pk).revoked_at is not None
    assert (reading.status_code, reading_by_cookie.status_code) == (401, 401)
    assert reading.json()["detail"] == "This screen is no longer paired."


def test_a_screen_of_another_studio_cannot_be_unpaired_or_by_a_host():
    mine = StudioFactory()
    _raw, foreign = _paired(StudioFactory())
    _raw, own = _paired(mine)
    operator = _operator_of(mine)
    host = UserFactory(roles=[Role.HOST])
    mine.members.add(host)
    CrewAssignmentFactory(stream=StreamFactory(studio=mine), person=host, role=CrewRole.HOST)

    other_studio = _client(operator).delete(f"/api/v1/screens/{foreign.pk}/")
    as_host = _client(host).delete(f"/api/v1/screens/{own.pk}/")

    assert (other_studio.status_code, as_host.status_code) == (404, 404)
    assert not ScreenToken.objects.filter(revoked_at__isnull=False).exists()


# --- The wall screen's socket --------------------------------------------------------------


def _screen_socket(stream_id: int, raw: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application,
        f"/ws/streams/{stream_id}/events/?after=0",
        headers=[(b"origin", b"http://localhost"), (b"cookie", f"{SCREEN_COOKIE}={raw}".encode())],
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_unpairing_closes_the_screens_socket_and_it_cannot_reconnect(settings):
    settings.MCN_WS_HEARTBEAT_SECONDS = 0.2
    stream = await database_sync_to_async(StreamFactory)()
    raw, token = await database_sync_to_async(_paired)(stream.studio)
    operator = await database_sync_to_async(_operator_of)(stream.studio)
    socket = _screen_socket(stream.pk, raw)
    connected, _ = await socket.connect()
    await socket.send_json_to({"frame": "ping"})
    pong = await socket.receive_json_from(timeout=5)

    revoked = await database_sync_to_async(
        lambda: _client(operator).delete(f"/api/v1/screens/{token.pk}/")
    )()
    while (output := await socket.receive_output(timeout=5))["type"] != "websocket.close":
        assert json.loads(output["text"])["frame"] == "ping"
    await socket.disconnect()
    again = _screen_socket(stream.pk, raw)
    reconnected, _ = await again.connect()
    # The refused handshake's token check leaves its database connection with this test
    # (channels closes connections outside the context asgiref runs the check in).
    await database_sync_to_async(connections.close_all)()

    assert connected and pong["frame"] == "pong"
    assert revoked.status_code == 204
    assert output["code"] == 4003
    assert not reconnected
