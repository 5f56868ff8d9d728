import asyncio
import json
import random
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session
from django.db import transaction
from django.test import Client

from mcn_console.asgi import application
from rooms import eventlog, fanout, services
from rooms.eventlog import NewEvent
from rooms.models import Role, ScreenToken, StreamEvent
from tests.factories import StreamFactory, StudioFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://localhost")
TIMEOUT = 5


@database_sync_to_async
def _stream_with_viewer():
    person = UserFactory(roles=[Role.ROOM_OPERATOR])
    stream = StreamFactory(studio=StudioFactory(members=[person]))
    client = Client()
    client.force_login(person)
    return stream, client.cookies["sessionid"].value


@database_sync_to_async
def _append(stream_id: int, count: int = 1) -> list[int]:
    with transaction.atomic():
        return [
            e["id"]
            for e in eventlog.append(
                stream_id, [NewEvent("note", "added", {"i": i}) for i in range(count)]
            )
        ]


def _socket(
    stream_id: int, after: int | None, *, session: str | None = None, headers: list | None = None
) -> WebsocketCommunicator:
    query = f"?after={after}" if after is not None else ""
    all_headers = [ORIGIN] if headers is None else headers
    if session:
        all_headers = [*all_headers, (b"cookie", f"sessionid={session}".encode())]
    return WebsocketCommunicator(
        application, f"/ws/streams/{stream_id}/events/{query}", headers=all_headers
    )


async def _receive_ids(socket: WebsocketCommunicator, until: int) -> list[int]:
    ids: list[int] = []
    while not ids or ids[-1] < until:
        frame = await socket.receive_json_from(timeout=TIMEOUT)
        if frame["frame"] == "events":
            ids += [event["id"] for event in frame["events"]]
    return ids


async def test_a_client_catches_up_from_the_log_after_its_last_id():
    stream, session = await _stream_with_viewer()
    await _append(stream.pk, 5)
    socket = _socket(stream.pk, after=2, session=session)

    connected, _ = await socket.connect()
    ids = await _receive_ids(socket, until=5)
    await socket.disconnect()

    assert connected
    assert ids == [3, 4, 5]


async def test_a_connected_client_receives_new_events_live():
    stream, session = await _stream_with_viewer()
    await _append(stream.pk, 2)
    socket = _socket(stream.pk, after=2, session=session)
    await socket.connect()

    await _append(stream.pk, 3)
    frame = await socket.receive_json_from(timeout=TIMEOUT)
    await socket.disconnect()

    assert frame["frame"] == "events"
    assert [e["id"] for e in frame["events"]] == [3, 4, 5]
    assert frame["events"][0] == {
        "id": 3,
        "stream": stream.pk,
        "type": "note",
        "op": "added",
        "at": frame["events"][0]["at"],
        "data": {"i": 0},
    }


async def test_without_after_a_client_gets_only_what_happens_next():
    stream, session = await _stream_with_viewer()
    await _append(stream.pk, 4)
    socket = _socket(stream.pk, after=None, session=session)
    await socket.connect()
    await socket.send_json_to({"frame": "ping"})
    pong = await socket.receive_json_from(timeout=TIMEOUT)

    await _append(stream.pk, 1)
    frame = await socket.receive_json_from(timeout=TIMEOUT)
    await socket.disconnect()

    assert pong == {"frame": "pong", "head": 4}
    assert [e["id"] for e in frame["events"]] == [5]


@pytest.mark.parametrize("after", ["2", "-1", "abc", "99"])
async def test_a_gap_the_log_no_longer_holds_gets_an_explicit_resync(after):
    stream, session = await _stream_with_viewer()
    await _append(stream.pk, 6)
    await database_sync_to_async(
        lambda: StreamEvent.objects.filter(stream=stream, seq__lte=4).delete()
    )()
    socket = WebsocketCommunicator(
        application,
        f"/ws/streams/{stream.pk}/events/?after={after}",
        headers=[ORIGIN, (b"cookie", f"sessionid={session}".encode())],
    )

    await socket.connect()
    frame = await socket.receive_json_from(timeout=TIMEOUT)
    closed = await socket.receive_output(timeout=TIMEOUT)
    await socket.disconnect()

    assert frame == {"frame": "resync", "head": 6}
    assert closed == {"type": "websocket.close", "code": 4001}


async def test_a_lost_doorbell_is_recovered_by_the_heartbeat(settings, monkeypatch):
    settings.MCN_WS_HEARTBEAT_SECONDS = 0.2
    stream, session = await _stream_with_viewer()
    socket = _socket(stream.pk, after=0, session=session)
    await socket.connect()
    monkeypatch.setattr(eventlog, "broadcast", lambda stream_id, payloads: None)

    await _append(stream.pk, 2)
    frame = await socket.receive_json_from(timeout=TIMEOUT)
    ping = await socket.receive_json_from(timeout=TIMEOUT)
    await socket.disconnect()

    assert [e["id"] for e in frame["events"]] == [1, 2]
    assert ping == {"frame": "ping", "head": 2}


async def test_a_foreign_origin_is_refused_before_accept():
    stream, session = await _stream_with_viewer()
    socket = _socket(
        stream.pk, after=0, session=session, headers=[(b"origin", b"http://evil.example")]
    )

    connected, _ = await socket.connect()

    assert not connected


async def test_a_request_without_a_session_is_refused_before_accept():
    stream, _session = await _stream_with_viewer()
    socket = _socket(stream.pk, after=0)

    connected, _ = await socket.connect()

    assert not connected


async def test_a_person_outside_the_streams_studio_and_crew_is_refused():
    stream, _session = await _stream_with_viewer()
    _other_stream, outsider_session = await _stream_with_viewer()
    socket = _socket(stream.pk, after=0, session=outsider_session)

    connected, _ = await socket.connect()

    assert not connected


@database_sync_to_async
def _screen_token(studio, **kwargs) -> str:
    return services.screen_token_issue(
        actor=None, studio=studio, name="Wall TV", ttl=kwargs.get("ttl", timedelta(days=7))
    )


async def test_a_paired_screen_follows_its_studios_streams():
    stream, _session = await _stream_with_viewer()
    token = await _screen_token(stream.studio)
    socket = _socket(
        stream.pk, after=0, headers=[ORIGIN, (b"cookie", f"mcn_screen={token}".encode())]
    )
    connected, _ = await socket.connect()

    await _append(stream.pk, 1)
    frame = await socket.receive_json_from(timeout=TIMEOUT)
    await socket.disconnect()

    assert connected
    assert [e["id"] for e in frame["events"]] == [1]


async def test_a_screen_token_of_another_studio_or_expired_is_refused():
    stream, _session = await _stream_with_viewer()
    other = await database_sync_to_async(StudioFactory)()
    foreign = await _screen_token(other)
    expired = await _screen_token(stream.studio, ttl=timedelta(seconds=-1))

    results = []
    for token in (foreign, expired, "scr_forged"):
        socket = _socket(
            stream.pk, after=0, headers=[ORIGIN, (b"authorization", f"Screen {token}".encode())]
        )
        results.append((await socket.connect())[0])

    assert results == [False, False, False]


async def test_revoking_a_screen_token_closes_its_open_socket(settings):
    settings.MCN_WS_HEARTBEAT_SECONDS = 0.2
    stream, _session = await _stream_with_viewer()
    token = await _screen_token(stream.studio)
    socket = _socket(
        stream.pk, after=0, headers=[ORIGIN, (b"authorization", f"Screen {token}".encode())]
    )
    await socket.connect()

    await database_sync_to_async(
        lambda: services.screen_token_revoke(actor=None, token=ScreenToken.objects.get())
    )()
    frames = []
    while (output := await socket.receive_output(timeout=TIMEOUT))["type"] != "websocket.close":
        frames.append(json.loads(output["text"])["frame"])
    await socket.disconnect()

    assert output["code"] == 4003
    assert set(frames) <= {"ping"}


async def test_a_client_that_drops_at_random_receives_every_event_once_in_order(settings):
    """Publisher and client interleave: a batch is published, then the client reconnects
    from its last id, reads a random number of frames (possibly none) and drops the
    connection. Catch-up pages are three events long, so most drops fall mid-catch-up."""
    settings.MCN_WS_CATCHUP_PAGE = 3
    stream, session = await _stream_with_viewer()
    rng = random.Random(7)
    total = 200
    published = 0
    cycled = asyncio.Event()

    async def publish() -> None:
        nonlocal published
        while published < total:
            batch = min(rng.randint(1, 12), total - published)
            await _append(stream.pk, batch)
            published += batch
            await cycled.wait()
            cycled.clear()

    publisher = asyncio.create_task(publish())
    received: list[int] = []
    reconnects = 0
    while len(received) < total:
        socket = _socket(stream.pk, after=received[-1] if received else 0, session=session)
        connected, _ = await socket.connect()
        assert connected
        reconnects += 1
        for _ in range(rng.randint(0, 3)):
            if len(received) == published:
                break
            frame = await socket.receive_json_from(timeout=TIMEOUT)
            if frame["frame"] == "events":
                received += [event["id"] for event in frame["events"]]
        await socket.disconnect()
        cycled.set()
    await publisher

    assert received == list(range(1, total + 1))
    assert reconnects >= 20


async def test_a_socket_that_cannot_drain_is_closed_at_once_not_after_its_backlog(settings):
    settings.MCN_WS_MAX_BACKLOG = 10
    stream, session = await _stream_with_viewer()
    socket = _socket(stream.pk, after=0, session=session)
    await socket.connect()
    await socket.send_json_to({"frame": "ping"})
    await socket.receive_json_from(timeout=TIMEOUT)
    (consumer,) = fanout._feeds[(asyncio.get_running_loop(), stream.pk)].subscribers
    never = asyncio.Event()

    async def stuck_send(**frame):
        await never.wait()  # the client stopped reading; the send never completes

    consumer.send = stuck_send

    def batch(first: int) -> fanout.Batch:
        events = [
            {"id": i, "stream": stream.pk, "type": "note", "op": "added", "at": "", "data": {}}
            for i in range(first, first + 5)
        ]
        return fanout.Batch(events=events, frame=fanout.encode_events_frame(events))

    for first in (1, 6, 11):
        consumer.deliver(batch(first))
    closed = await socket.receive_output(timeout=TIMEOUT)
    await socket.disconnect()

    assert closed == {"type": "websocket.close", "code": 4008}
    assert (asyncio.get_running_loop(), stream.pk) not in fanout._feeds  # it was the only one


async def test_pings_from_a_client_that_does_not_read_owe_at_most_one_pong():
    stream, session = await _stream_with_viewer()
    socket = _socket(stream.pk, after=0, session=session)
    await socket.connect()
    await socket.send_json_to({"frame": "ping"})
    await socket.receive_json_from(timeout=TIMEOUT)
    (consumer,) = fanout._feeds[(asyncio.get_running_loop(), stream.pk)].subscribers
    consumer.writer.cancel()  # as if stuck sending

    for _ in range(100):
        await consumer.receive(text_data='{"frame": "ping"}')
    owed = consumer.queue.qsize()
    await socket.disconnect()

    assert owed == 1


@pytest.mark.parametrize("withdrawal", ["session ended", "left the studio"])
async def test_a_person_whose_access_ends_is_disconnected_at_the_next_heartbeat(
    settings, withdrawal
):
    settings.MCN_WS_HEARTBEAT_SECONDS = 0.2
    stream, session = await _stream_with_viewer()
    socket = _socket(stream.pk, after=0, session=session)
    await socket.connect()
    await socket.send_json_to({"frame": "ping"})
    await socket.receive_json_from(timeout=TIMEOUT)

    def withdraw() -> None:
        if withdrawal == "session ended":
            Session.objects.filter(session_key=session).delete()
        else:
            stream.studio.members.clear()

    await database_sync_to_async(withdraw)()
    while (output := await socket.receive_output(timeout=TIMEOUT))["type"] != "websocket.close":
        assert json.loads(output["text"])["frame"] == "ping"
    await socket.disconnect()

    assert output["code"] == 4003


async def test_a_lost_doorbell_followed_by_another_is_repaired_before_the_heartbeat(
    settings, monkeypatch
):
    settings.MCN_WS_HEARTBEAT_SECONDS = 3600
    stream, session = await _stream_with_viewer()
    socket = _socket(stream.pk, after=0, session=session)
    await socket.connect()
    await socket.send_json_to({"frame": "ping"})
    await socket.receive_json_from(timeout=TIMEOUT)

    with monkeypatch.context() as lossy:
        lossy.setattr(eventlog, "broadcast", lambda stream_id, payloads: None)
        await _append(stream.pk, 2)
    await _append(stream.pk, 1)
    ids = await _receive_ids(socket, until=3)
    await socket.disconnect()

    assert ids == [1, 2, 3]
