from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from rooms import services
from rooms.models import ChannelSecret, Role, StreamEvent, StreamStatus
from rooms.selectors import channel_active_secrets
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

    new = services.channel_secret_add(
        actor=None, channel=channel, retire_others_after=timedelta(hours=1)
    )
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


def test_screens_are_paired_by_the_studios_producers_and_room_operators_only():
    operator = UserFactory(roles=[Role.ROOM_OPERATOR])
    cs_agent = UserFactory(roles=[Role.CS_AGENT])
    outside_operator = UserFactory(roles=[Role.ROOM_OPERATOR])
    studio = StudioFactory(members=[operator, cs_agent])

    for person in (cs_agent, outside_operator):
        with pytest.raises(PermissionDenied):
            services.screen_token_issue(
                actor=person, studio=studio, name="TV", ttl=timedelta(days=1)
            )
    token = services.screen_token_issue(
        actor=operator, studio=studio, name="TV", ttl=timedelta(days=1)
    )

    assert token.startswith("scr_")
    assert studio.screen_tokens.count() == 1


def test_only_a_producer_of_the_studio_staffs_a_crew():
    producer = UserFactory(roles=[Role.PRODUCER])
    host = UserFactory(roles=[Role.HOST])
    stream = StreamFactory(studio=StudioFactory(members=[producer, host]))

    with pytest.raises(PermissionDenied):
        services.crew_assign(actor=host, stream=stream, person=host, role="host")
    services.crew_assign(actor=producer, stream=stream, person=host, role="host")

    assert list(stream.crew.values_list("person", "role")) == [(host.pk, "host")]


def test_producers_set_up_channels_but_only_administrators_rotate_secrets():
    producer = UserFactory(roles=[Role.PRODUCER])
    host = UserFactory(roles=[Role.HOST])

    channel, secret = services.channel_create(
        actor=producer,
        key="x",
        name="X",
        platform="douyin",
        currency="CNY",
        time_zone="Asia/Shanghai",
    )

    assert channel.secrets.get().secret == secret
    with pytest.raises(PermissionDenied):
        services.channel_secret_add(actor=producer, channel=channel)
    with pytest.raises(PermissionDenied):
        services.channel_create(
            actor=host, key="y", name="Y", platform="douyin", currency="CNY", time_zone="UTC"
        )


def test_an_api_token_is_revoked_by_its_owner_or_a_superuser_only():
    owner, other = UserFactory(), UserFactory()
    services.api_token_issue(user=owner)
    token = owner.api_tokens.get()

    with pytest.raises(PermissionDenied):
        services.api_token_revoke(actor=other, token=token)
    services.api_token_revoke(actor=owner, token=token)

    token.refresh_from_db()
    assert token.revoked_at is not None


def test_a_secret_shorter_than_32_characters_cannot_be_stored():
    from django.db import IntegrityError

    channel = ChannelFactory()

    with pytest.raises(IntegrityError):
        ChannelSecret.objects.create(channel=channel, secret="")
