from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from rooms.templatetags.rooms_tags import stream_window
from tests.factories import StreamFactory, StudioFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")


def _stream(start, end, time_zone="Asia/Shanghai"):
    return StreamFactory.build(
        studio=StudioFactory.build(time_zone=time_zone), planned_start=start, planned_end=end
    )


def test_a_slot_is_shown_in_the_studios_zone_with_its_offset():
    stream = _stream(
        datetime(2026, 12, 1, 12, 0, tzinfo=UTC), datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    )

    assert stream_window(stream) == "Tue December 1 20:00–23:00 UTC+8"


def test_a_slot_past_midnight_names_the_day_it_ends():
    stream = _stream(
        datetime(2026, 12, 1, 14, 0, tzinfo=UTC), datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    )

    assert stream_window(stream) == "Tue December 1 22:00–Wed December 2 01:00 UTC+8"


def test_half_hour_offsets_and_summer_time_are_shown_as_they_are():
    kolkata = _stream(
        datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
        datetime(2026, 12, 1, 15, 0, tzinfo=UTC),
        "Asia/Kolkata",
    )
    london_summer = _stream(
        datetime(2026, 7, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 7, 1, 13, 0, tzinfo=UTC),
        "Europe/London",
    )

    assert stream_window(kolkata).endswith("19:30–20:30 UTC+5:30")
    assert stream_window(london_summer).endswith("13:00–14:00 UTC+1")


def test_the_slot_speaks_chinese_for_chinese_readers():
    stream = _stream(
        datetime(2026, 12, 1, 12, 0, tzinfo=UTC), datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    )

    with translation.override("zh-hans"):
        shown = stream_window(stream)

    assert shown == "星期二 12月1日 20:00–23:00 UTC+8"
