import json
import threading
from datetime import timedelta

import httpx
import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from rooms import eventlog
from rooms.auth import SignInGuard
from rooms.eventlog import NewEvent
from rooms.models import ApiToken, IngestEvent, IngestStatus, Role, StreamEvent
from tests.conftest import post_events, signed_headers
from tests.factories import (
    PASSWORD,
    ChannelFactory,
    ChannelSecretFactory,
    CrewAssignmentFactory,
    StreamFactory,
    StudioFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _comment(event_id: str, text: str = "几号发货？") -> dict:
    return {
        "id": event_id,
        "type": "comment",
        "at": "2026-11-28T12:00:00Z",
        "user_id": "u1",
        "user_name": "糖糖",
        "text": text,
    }


# --- ingest webhook ----------------------------------------------------------------------


def test_ingest_stores_a_signed_batch_and_answers_202():
    channel = ChannelFactory()

    response = post_events(Client(), channel, [_comment("c1"), _comment("c2")])

    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "duplicates": 0, "unknown_types": {}}
    assert set(IngestEvent.objects.values_list("platform_event_id", flat=True)) == {"c1", "c2"}


def test_ingest_counts_a_redelivery_as_duplicates_and_stores_it_once():
    channel = ChannelFactory()
    post_events(Client(), channel, [_comment("c1")])

    response = post_events(Client(), channel, [_comment("c1"), _comment("c2")])

    assert response.json() == {"accepted": 1, "duplicates": 1, "unknown_types": {}}
    assert IngestEvent.objects.filter(platform_event_id="c1").count() == 1


def test_the_same_event_id_on_two_channels_is_two_events():
    first, second = ChannelFactory(), ChannelFactory()

    post_events(Client(), first, [_comment("c1")])
    response = post_events(Client(), second, [_comment("c1")])

    assert response.json()["accepted"] == 1
    assert IngestEvent.objects.count() == 2


def test_unknown_types_are_kept_and_reported():
    channel = ChannelFactory()
    gift = {"id": "g1", "type": "gift", "at": "2026-11-28T12:00:00Z", "gift": "rocket"}

    response = post_events(Client(), channel, [gift, _comment("c1")])

    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "duplicates": 0, "unknown_types": {"gift": 1}}
    assert IngestEvent.objects.get(platform_event_id="g1").status == IngestStatus.UNKNOWN_TYPE


def test_ingest_verifies_with_a_rotated_in_secret():
    channel = ChannelFactory()
    new_secret = ChannelSecretFactory(channel=channel).secret

    response = post_events(Client(), channel, [_comment("c1")], secret=new_secret)

    assert response.status_code == 202


def _flip_last_digit(signature: str) -> str:
    """The same signature with its last hex digit changed (always to a different one)."""
    return signature[:-1] + ("1" if signature.endswith("0") else "0")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h: {**h, "X-MCN-Channel": "no-such-channel"},
        lambda h: {k: v for k, v in h.items() if k != "X-MCN-Signature"},
        lambda h: {k: v for k, v in h.items() if k != "X-MCN-Timestamp"},
        lambda h: {**h, "X-MCN-Signature": _flip_last_digit(h["X-MCN-Signature"])},
        lambda h: {**h, "X-MCN-Timestamp": str(int(h["X-MCN-Timestamp"]) - 301)},
    ],
    ids=["unknown channel", "no signature", "no timestamp", "wrong signature", "stale"],
)
def test_ingest_refuses_unauthenticated_requests_with_401(tamper):
    channel = ChannelFactory()
    body = json.dumps({"events": [_comment("c1")]}).encode()
    headers = tamper(signed_headers(channel.key, channel.secrets.get().secret, body))

    response = Client().post(
        "/api/v1/ingest/events", data=body, content_type="application/json", headers=headers
    )

    assert response.status_code == 401
    assert response.json()["error"]
    assert not IngestEvent.objects.exists()


def test_an_expired_secret_is_refused():
    channel = ChannelFactory()
    old = channel.secrets.get()
    old.expires_at = old.created_at
    old.save()

    response = post_events(Client(), channel, [_comment("c1")], secret=old.secret)

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "body is not valid JSON"),
        (
            b'{"events": [{"id": "x", "type": "viewers", "at": "2026-11-28T12:00:00Z",'
            b' "online": "many", "entered_total": 1}]}',
            "events[0].online: expected a whole",
        ),
        (
            json.dumps({"events": [_comment(f"c{i}") for i in range(1001)]}).encode(),
            "too many events: 1001",
        ),
    ],
    ids=["malformed JSON", "wrong type", "oversize batch"],
)
def test_ingest_answers_400_with_the_reason_for_malformed_signed_bodies(body, reason):
    channel = ChannelFactory()
    headers = signed_headers(channel.key, channel.secrets.get().secret, body)

    response = Client().post(
        "/api/v1/ingest/events", data=body, content_type="application/json", headers=headers
    )

    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert not IngestEvent.objects.exists()


def test_a_body_larger_than_the_limit_is_refused_with_400(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    channel = ChannelFactory()
    body = json.dumps({"events": [_comment("c1", "长" * 2000)]}).encode()
    headers = signed_headers(channel.key, channel.secrets.get().secret, body)

    response = Client().post(
        "/api/v1/ingest/events", data=body, content_type="application/json", headers=headers
    )

    assert response.status_code == 400
    assert "body larger than" in response.json()["error"]


def test_ingest_ignores_session_csrf_and_needs_no_login():
    channel = ChannelFactory()

    response = post_events(Client(enforce_csrf_checks=True), channel, [_comment("c1")])

    assert response.status_code == 202


# --- tokens ------------------------------------------------------------------------------


def test_a_token_is_issued_for_a_correct_password_and_authenticates_the_api():
    user = UserFactory()
    client = Client()

    issued = client.post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD})
    token = issued.json()["token"]
    me = client.get("/api/v1/streams/", headers={"Authorization": f"Token {token}"})

    assert issued.status_code == 200
    assert me.status_code == 200


def test_a_wrong_password_gets_no_token():
    user = UserFactory()

    response = Client().post("/api/v1/auth/token", {"username": user.username, "password": "wrong"})

    assert response.status_code in (401, 403)
    assert "token" not in response.json()


def test_tokens_are_stored_hashed():
    user = UserFactory()
    token = (
        Client()
        .post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD})
        .json()["token"]
    )

    stored = user.api_tokens.get()

    assert token not in stored.key_hash
    assert len(stored.key_hash) == 64


def _issued(user) -> tuple[str, ApiToken]:
    token = (
        Client()
        .post("/api/v1/auth/token", {"username": user.username, "password": PASSWORD})
        .json()["token"]
    )
    return token, user.api_tokens.get()


def _streams_with(token: str):
    return Client().get("/api/v1/streams/", headers={"Authorization": f"Token {token}"})


def test_a_token_left_unused_past_the_idle_limit_stops_working(settings):
    settings.MCN_API_TOKEN_IDLE_DAYS = 7
    token, stored = _issued(UserFactory())
    stored.last_used_at = timezone.now() - timedelta(days=7, minutes=1)
    stored.save()

    response = _streams_with(token)

    assert response.status_code == 401
    assert "expired after 7 days unused" in response.json()["detail"]
    assert stored.idle_expired(timezone.now())


def test_a_token_never_used_counts_its_idle_days_from_when_it_was_issued(settings):
    settings.MCN_API_TOKEN_IDLE_DAYS = 7
    token, stored = _issued(UserFactory())
    ApiToken.objects.filter(pk=stored.pk).update(created_at=timezone.now() - timedelta(days=8))

    assert _streams_with(token).status_code == 401


def test_using_a_token_keeps_it_alive(settings):
    settings.MCN_API_TOKEN_IDLE_DAYS = 7
    token, stored = _issued(UserFactory())
    ApiToken.objects.filter(pk=stored.pk).update(
        created_at=timezone.now() - timedelta(days=90),
        last_used_at=timezone.now() - timedelta(days=6),
    )

    response = _streams_with(token)
    stored.refresh_from_db()

    assert response.status_code == 200
    assert timezone.now() - stored.last_used_at < timedelta(minutes=1)


def test_an_unknown_token_is_refused():
    response = Client().get("/api/v1/streams/", headers={"Authorization": "Token nope"})

    assert response.status_code == 401


def test_the_api_needs_authentication():
    assert Client().get("/api/v1/streams/").status_code in (401, 403)


# --- streams and their events --------------------------------------------------------------


def test_a_producer_sees_their_studios_and_crew_streams_only():
    person = UserFactory(roles=[Role.PRODUCER])
    studio_stream = StreamFactory(studio=StudioFactory(members=[person]))
    crew_stream = CrewAssignmentFactory(person=person).stream
    StreamFactory()
    client = Client()
    client.force_login(person)

    listed = client.get("/api/v1/streams/").json()["results"]

    assert {s["id"] for s in listed} == {studio_stream.pk, crew_stream.pk}


def test_a_host_sees_only_the_streams_they_are_crewed_on():
    host = UserFactory(roles=[Role.HOST])
    studio = StudioFactory(members=[host])
    crewed = CrewAssignmentFactory(person=host, stream__studio=studio).stream
    StreamFactory(studio=studio, planned_start=crewed.planned_end + timedelta(hours=2))
    client = Client()
    client.force_login(host)

    listed = client.get("/api/v1/streams/").json()["results"]

    assert [s["id"] for s in listed] == [crewed.pk]


def test_a_stream_outside_ones_studios_is_not_found():
    client = Client()
    client.force_login(UserFactory())

    assert client.get(f"/api/v1/streams/{StreamFactory().pk}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_events_endpoint_pages_through_the_log_after_an_id():
    person = UserFactory(roles=[Role.ROOM_OPERATOR])
    stream = StreamFactory(studio=StudioFactory(members=[person]))
    with transaction.atomic():
        eventlog.append(stream.pk, [NewEvent("note", "added", {"n": n}) for n in range(5)])
    client = Client()
    client.force_login(person)

    page = client.get(f"/api/v1/streams/{stream.pk}/events/?after=2&limit=2").json()

    assert [e["id"] for e in page["events"]] == [3, 4]
    assert page["head"] == 5
    assert page["resync"] is False
    assert page["events"][0] == {
        "id": 3,
        "stream": stream.pk,
        "type": "note",
        "op": "added",
        "at": page["events"][0]["at"],
        "data": {"n": 2},
    }


@pytest.mark.parametrize("query", ["after=-1", "after=x", "limit=0", "limit=5001"])
def test_the_events_endpoint_rejects_bad_paging(query):
    person = UserFactory(roles=[Role.ROOM_OPERATOR])
    stream = StreamFactory(studio=StudioFactory(members=[person]))
    client = Client()
    client.force_login(person)

    assert client.get(f"/api/v1/streams/{stream.pk}/events/?{query}").status_code == 400


def test_the_openapi_schema_documents_the_contract():
    client = Client()
    client.force_login(UserFactory())

    schema = client.get("/api/v1/schema/?format=json").json()

    assert "/api/v1/ingest/events" in schema["paths"]
    assert "/api/v1/auth/token" in schema["paths"]
    assert {"CommentEvent", "OrderEvent", "AdMetricsEvent"} <= set(schema["components"]["schemas"])


# --- hostile and odd input never gets a 500 ---------------------------------------------


def _post_raw(channel, body: bytes, **header_overrides):
    headers = signed_headers(channel.key, channel.secrets.get().secret, body)
    headers.update(header_overrides)
    return Client().post(
        "/api/v1/ingest/events", data=body, content_type="application/json", headers=headers
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"X-MCN-Signature": "v1=é"},
        {"X-MCN-Signature": "v1=" + "g" * 64},
        {"X-MCN-Timestamp": "9" * 400},
        {"X-MCN-Timestamp": "1" * 5000},
        {"X-MCN-Timestamp": "１７００"},
    ],
    ids=[
        "non-ascii signature",
        "non-hex signature",
        "long timestamp",
        "huge timestamp",
        "full-width digits",
    ],
)
def test_odd_authentication_headers_are_refused_with_401(overrides):
    channel = ChannelFactory()
    body = json.dumps({"events": [_comment("c1")]}).encode()

    response = _post_raw(channel, body, **overrides)

    assert response.status_code == 401
    assert not IngestEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            json.dumps({"events": [_comment("c1") | {"at": "2026-11-28T24:00:00Z"}]}).encode(),
            "events[0].at: expected an ISO 8601",
        ),
        (
            json.dumps({"events": [_comment("c1") | {"at": "2026-02-30T12:00:00Z"}]}).encode(),
            "events[0].at: expected an ISO 8601",
        ),
        (b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ],
    ids=["hour 24", "30 February", "deep nesting"],
)
def test_well_formed_but_impossible_bodies_get_400_with_the_reason(body, reason):
    channel = ChannelFactory()

    response = _post_raw(channel, body)

    assert response.status_code == 400
    assert reason in response.json()["error"]


def test_nul_and_broken_surrogates_are_stored_as_replacement_characters():
    channel = ChannelFactory()
    body = (
        b'{"events": [{"id": "c\\u0000", "type": "comment", "at": "2026-11-28T12:00:00Z",'
        b' "user_id": "u1", "user_name": "\\ud83d\\u7cd6", "text": "a\\u0000b",'
        b' "extra": {"k\\u0000": "\\udc00"}}]}'
    )

    response = _post_raw(channel, body)

    stored = IngestEvent.objects.get()
    assert response.status_code == 202
    assert stored.platform_event_id == "c\ufffd"
    assert stored.payload["user_name"] == "\ufffd糖"
    assert stored.payload["text"] == "a\ufffdb"
    assert stored.payload["extra"] == {"k\ufffd": "\ufffd"}


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_acknowledged_even_when_the_task_broker_is_down(monkeypatch):
    from kombu.exceptions import OperationalError

    from rooms.tasks import ingest_dispatch_task

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis: Connection refused")

    monkeypatch.setattr(ingest_dispatch_task, "delay", broker_down)
    channel = ChannelFactory()

    response = post_events(Client(), channel, [_comment("c1")])

    assert response.status_code == 202
    assert IngestEvent.objects.get().status == IngestStatus.PENDING


def test_the_openapi_schema_shows_the_webhook_body_as_an_events_envelope():
    client = Client()
    client.force_login(UserFactory())

    schema = client.get("/api/v1/schema/?format=json").json()

    body = schema["paths"]["/api/v1/ingest/events"]["post"]["requestBody"]["content"]
    batch = schema["components"]["schemas"]["IngestBatch"]
    platform_event = schema["components"]["schemas"]["PlatformEvent"]
    assert list(body) == ["application/json"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/IngestBatch"}
    assert batch["required"] == ["events"]
    assert batch["properties"]["events"]["items"] == {"$ref": "#/components/schemas/PlatformEvent"}
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in platform_event["oneOf"]} == {
        "CommentEvent",
        "ViewersEvent",
        "OrderEvent",
        "AdMetricsEvent",
        "StreamStatusEvent",
    }


# --- token lifecycle and guessing --------------------------------------------------------


def test_a_token_can_revoke_itself():
    user = UserFactory()
    client = Client()
    token = client.post(
        "/api/v1/auth/token", {"username": user.username, "password": PASSWORD}
    ).json()["token"]

    revoked = client.delete("/api/v1/auth/token", headers={"Authorization": f"Token {token}"})
    after = client.get("/api/v1/streams/", headers={"Authorization": f"Token {token}"})

    assert revoked.status_code == 204
    assert after.status_code == 401


def test_password_guessing_on_the_token_endpoint_is_stopped_whatever_the_forwarded_address():
    user = UserFactory()
    client = Client()
    for attempt in range(SignInGuard.PER_USERNAME):
        client.post(
            "/api/v1/auth/token",
            {"username": user.username, "password": "guess"},
            headers={"X-Forwarded-For": f"10.0.0.{attempt}"},
        )

    response = client.post(
        "/api/v1/auth/token",
        {"username": user.username, "password": PASSWORD},
        headers={"X-Forwarded-For": "10.9.9.9"},
    )

    assert response.status_code == 429
    assert "token" not in response.json()


# --- snapshots ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_events_endpoint_gives_the_newest_events_with_tail():
    person = UserFactory(roles=[Role.ROOM_OPERATOR])
    stream = StreamFactory(studio=StudioFactory(members=[person]))
    with transaction.atomic():
        eventlog.append(stream.pk, [NewEvent("note", "added", {"n": n}) for n in range(7)])
    client = Client()
    client.force_login(person)

    page = client.get(f"/api/v1/streams/{stream.pk}/events/?tail=3").json()

    assert [e["id"] for e in page["events"]] == [5, 6, 7]
    assert (page["head"], page["resync"]) == (7, False)


@pytest.mark.django_db(transaction=True)
def test_the_events_endpoint_says_resync_when_the_log_no_longer_holds_the_page():
    person = UserFactory(roles=[Role.ROOM_OPERATOR])
    stream = StreamFactory(studio=StudioFactory(members=[person]))
    with transaction.atomic():
        eventlog.append(stream.pk, [NewEvent("note", "added")] * 5)
    StreamEvent.objects.filter(stream=stream, seq__lte=3).delete()
    client = Client()
    client.force_login(person)

    page = client.get(f"/api/v1/streams/{stream.pk}/events/?after=1").json()

    assert page == {"events": [], "head": 5, "resync": True}


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_sent_five_times_concurrently_and_five_times_later_is_stored_once(
    asgi_server,
):
    channel = ChannelFactory()
    secret = channel.secrets.get().secret
    now = timezone.now().isoformat()
    body = json.dumps(
        {
            "events": [
                {
                    "id": f"c{i}",
                    "type": "comment",
                    "at": now,
                    "user_id": f"u{i}",
                    "user_name": "小王",
                    "text": "什么时候发货",
                }
                for i in range(200)
            ]
        }
    ).encode()
    together = threading.Barrier(5)
    receipts: list[dict] = []

    def deliver(barrier: threading.Barrier | None = None) -> None:
        with httpx.Client(base_url=asgi_server.url, timeout=30) as client:
            if barrier is not None:
                barrier.wait()
            response = client.post(
                "/api/v1/ingest/events",
                content=body,
                headers=signed_headers(channel.key, secret, body),
            )
            receipts.append(response.json() | {"status": response.status_code})

    senders = [threading.Thread(target=deliver, args=(together,)) for _ in range(5)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    for _ in range(5):
        deliver()

    assert [r["status"] for r in receipts] == [202] * 10
    assert sum(r["accepted"] for r in receipts) == 200
    assert sum(r["duplicates"] for r in receipts) == 200 * 9
    assert IngestEvent.objects.filter(channel=channel).count() == 200
