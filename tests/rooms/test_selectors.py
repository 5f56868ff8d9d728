from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.selectors import streams_for_platform_events
from tests.factories import ChannelFactory, StreamFactory

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
