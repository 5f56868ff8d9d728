from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from rooms.models import Role
from rooms.selectors import (
    ScreenIdentity,
    screen_access_key,
    session_access_key,
    socket_access_still_valid,
    stream_list_for_user,
    streams_for_platform_events,
    users_who_may_view_stream,
)
from tests.factories import (
    ChannelFactory,
    CrewAssignmentFactory,
    StreamFactory,
    StudioFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def test_platform_events_go_to_the_stream_whose_window_holds_them():
    channel = ChannelFactory()
    base = timezone.now().replace(microsecond=0)
    afternoon = StreamFactory(channel=channel, planned_start=base, planned_end=base + 2 * HOUR)
    evening = StreamFactory(
        channel=channel, planned_start=base + 6 * HOUR, planned_end=base + 8 * HOUR
    )
    times = [base - HOUR / 2, base + HOUR, base + 6 * HOUR - HOUR / 2, base + 12 * HOUR]

    streams = streams_for_platform_events(channel.pk, times)

    assert streams == [afternoon, afternoon, evening, None]


def test_a_live_stream_takes_events_after_its_planned_end():
    channel = ChannelFactory()
    base = timezone.now() - 4 * HOUR
    overrunning = StreamFactory(
        channel=channel,
        status="live",
        planned_start=base,
        planned_end=base + HOUR,
        actual_start=base,
    )

    (stream,) = streams_for_platform_events(channel.pk, [timezone.now()])

    assert stream == overrunning


def test_draft_streams_and_other_channels_take_nothing():
    channel = ChannelFactory()
    now = timezone.now()
    StreamFactory(channel=channel, status="draft", planned_start=now - HOUR, planned_end=now + HOUR)
    StreamFactory(planned_start=now - HOUR, planned_end=now + HOUR)

    assert streams_for_platform_events(channel.pk, [now]) == [None]


def test_who_may_view_a_stream_matches_the_permission_and_the_stream_list():
    member, inactive = (UserFactory(roles=[Role.PRODUCER]) for _ in range(2))
    # Hosts see the streams they are crewed on, not every stream of their studio.
    crew, outsider, host_member = (UserFactory(roles=[Role.HOST]) for _ in range(3))
    admin = UserFactory(is_superuser=True)
    stream = StreamFactory(studio=StudioFactory(members=[member, inactive, host_member]))
    CrewAssignmentFactory(stream=stream, person=crew)
    inactive.is_active = False
    inactive.save()
    people = [member, crew, outsider, inactive, admin, host_member]
    session = SessionStore()
    session.create()

    allowed = users_who_may_view_stream(stream.pk, [p.pk for p in people])
    keys = {session_access_key(p.pk, session.session_key) for p in people}
    still_valid = socket_access_still_valid(
        stream.pk,
        keys
        | {session_access_key(member.pk, "expired-session")}
        | {screen_access_key(ScreenIdentity(999, 1))},
    )

    assert allowed == {member.pk, crew.pk, admin.pk}
    assert allowed == {
        p.pk
        for p in people
        if p.is_active and stream_list_for_user(p).filter(pk=stream.pk).exists()
    }
    assert allowed == {
        p.pk for p in people if p.is_active and p.has_perm("rooms.view_stream", stream)
    }
    assert still_valid == {session_access_key(pk, session.session_key) for pk in allowed}
