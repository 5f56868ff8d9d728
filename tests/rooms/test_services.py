import json
import threading
from datetime import timedelta

import httpx
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rooms import services
from rooms.models import IngestEvent, Role, StreamEvent, StreamStatus
from rooms.selectors import channel_active_secrets
from tests.conftest import signed_headers
from tests.factories import ChannelFactory, StreamFactory, StudioFactory, UserFactory

pytestmark = pytest.mark.django_db


def _status_events(stream) -> list[dict]:
    return list(
        StreamEvent.objects.filter(stream=stream, type="stream")
        .order_by("seq")
        .values_list("data", flat=True)
    )


def test_a_stream_moves_through_its_lifecycle_and_logs_each_step():
    stream = StreamFactory(status=StreamStatus.DRAFT)

    for status in ("scheduled", "live", "ended", "reviewed"):
        stream = services.stream_transition(actor=None, stream=stream, to=status)

    assert stream.status == StreamStatus.REVIEWED
    assert stream.actual_start is not None and stream.actual_end is not None
    assert [(e["from"], e["to"]) for e in _status_events(stream)] == [
        ("draft", "scheduled"),
        ("scheduled", "live"),
        ("live", "ended"),
        ("ended", "reviewed"),
    ]


@pytest.mark.parametrize(
    ("start", "to"),
    [
        ("scheduled", "ended"),
        ("live", "scheduled"),
        ("ended", "live"),
        ("reviewed", "draft"),
    ],
)
def test_a_stream_cannot_skip_or_reverse_its_lifecycle(start, to):
    stream = StreamFactory(status=start)

    with pytest.raises(ValidationError):
        services.stream_transition(actor=None, stream=stream, to=to)

    stream.refresh_from_db()
    assert stream.status == start
    assert _status_events(stream) == []


def test_only_a_producer_of_the_studio_may_change_a_stream():
    producer = UserFactory(roles=[Role.PRODUCER])
    outsider_producer = UserFactory(roles=[Role.PRODUCER])
    member_operator = UserFactory(roles=[Role.ROOM_OPERATOR])
    stream = StreamFactory(
        studio=StudioFactory(members=[producer, member_operator]), status=StreamStatus.DRAFT
    )

    for person in (outsider_producer, member_operator):
        with pytest.raises(PermissionDenied):
            services.stream_transition(actor=person, stream=stream, to="scheduled")
    changed = services.stream_transition(actor=producer, stream=stream, to="scheduled")

    assert changed.status == StreamStatus.SCHEDULED


def test_only_a_producer_of_the_studio_may_plan_a_stream_there():
    producer = UserFactory(roles=[Role.PRODUCER])
    studio = StudioFactory(members=[producer])
    start = timezone.now() + timedelta(days=1)
    plan = {
        "channel": ChannelFactory(),
        "studio": studio,
        "title": "Night show",
        "planned_start": start,
        "planned_end": start + timedelta(hours=2),
    }

    with pytest.raises(PermissionDenied):
        services.stream_create(actor=UserFactory(roles=[Role.PRODUCER]), **plan)
    stream = services.stream_create(actor=producer, **plan)

    assert stream.status == StreamStatus.DRAFT


def test_a_stream_must_end_after_it_starts():
    start = timezone.now()

    with pytest.raises(ValidationError):
        services.stream_create(
            actor=None,
            channel=ChannelFactory(),
            studio=StudioFactory(),
            title="Backwards",
            planned_start=start,
            planned_end=start - timedelta(minutes=1),
        )


def test_rotating_a_secret_keeps_the_old_one_valid_until_the_overlap_ends():
    channel = ChannelFactory()
    old = channel.secrets.get().secret

    new = services.channel_secret_add(channel=channel, retire_others_after=timedelta(hours=1))
    during = channel_active_secrets(channel)
    channel.secrets.filter(secret=old).update(expires_at=timezone.now() - timedelta(seconds=1))
    after = channel_active_secrets(channel)

    assert during == [old, new]
    assert after == [new]


def test_a_screen_token_is_returned_once_and_stored_hashed():
    studio = StudioFactory()

    raw = services.screen_token_issue(actor=None, studio=studio, name="Wall", ttl=timedelta(days=1))

    stored = studio.screen_tokens.get()
    assert raw.startswith("scr_")
    assert raw not in stored.key_hash


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
