from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import translation

from rooms import schedule
from rooms.schedule import Away, Hours

SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
MONDAY, TUESDAY = 0, 1


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _problems(window: DateTimeTZRange, *, hours=(), away=()) -> list[str]:
    return schedule.availability_problems(
        name="Lin", time_zone="Asia/Shanghai", window=window, hours=list(hours), away=list(away)
    )


def _shanghai(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), SHANGHAI)


# --- booking -------------------------------------------------------------------------------


def test_a_booking_holds_the_window_widened_by_its_buffers_and_excludes_its_end():
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    held = schedule.booking(
        start, start + timedelta(hours=3), timedelta(minutes=60), timedelta(minutes=15)
    )

    assert held.lower == datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    assert held.upper == datetime(2026, 12, 1, 15, 15, tzinfo=UTC)
    assert (held.lower_inc, held.upper_inc) == (True, False)


# --- window_text ---------------------------------------------------------------------------


def test_an_evening_in_shanghai_reads_as_noon_in_london_in_winter():
    start = datetime(2026, 12, 1, 20, 0, tzinfo=SHANGHAI)

    text = schedule.window_text(start, start + timedelta(hours=3), "Europe/London")

    assert text == "Tue 1 Dec 12:00–15:00 (Europe/London)"


def test_an_evening_in_shanghai_reads_as_one_oclock_in_london_in_british_summer_time():
    start = datetime(2026, 7, 1, 20, 0, tzinfo=SHANGHAI)

    text = schedule.window_text(start, start + timedelta(hours=3), "Europe/London")

    assert text == "Wed 1 Jul 13:00–16:00 (Europe/London)"


def test_a_window_past_midnight_names_the_day_it_ends():
    start = datetime(2026, 12, 1, 22, 0, tzinfo=SHANGHAI)

    text = schedule.window_text(start, start + timedelta(hours=3), "Asia/Shanghai")

    assert text == "Tue 1 Dec 22:00–Wed 2 Dec 01:00 (Asia/Shanghai)"


# --- availability_problems -----------------------------------------------------------------


def test_a_person_with_no_working_hours_is_available_any_time():
    monday = date(2026, 11, 30)
    window = DateTimeTZRange(_shanghai(monday, 3), _shanghai(monday, 6))

    assert _problems(window) == []


def test_a_window_inside_the_working_day_raises_nothing():
    monday = date(2026, 11, 30)
    window = DateTimeTZRange(_shanghai(monday, 10), _shanghai(monday, 17))

    assert _problems(window, hours=[Hours(MONDAY, time(9), time(18))]) == []


def test_a_window_running_past_the_end_of_the_working_day_is_a_problem():
    monday = date(2026, 11, 30)
    window = DateTimeTZRange(_shanghai(monday, 16), _shanghai(monday, 19))

    problems = _problems(window, hours=[Hours(MONDAY, time(9), time(18))])

    assert problems == ["Lin does not usually work Mon 30 Nov 16:00–19:00 (Asia/Shanghai)."]


def test_a_late_shift_covers_a_window_that_runs_past_midnight():
    monday = date(2026, 11, 30)
    window = DateTimeTZRange(_shanghai(monday, 21), _shanghai(monday + timedelta(days=1), 1, 15))

    assert _problems(window, hours=[Hours(MONDAY, time(20), time(2))]) == []


def test_the_early_hours_of_tuesday_are_covered_by_mondays_late_shift():
    tuesday = date(2026, 12, 1)
    window = DateTimeTZRange(_shanghai(tuesday, 0, 30), _shanghai(tuesday, 1, 30))

    assert _problems(window, hours=[Hours(MONDAY, time(20), time(2))]) == []


def test_a_window_running_past_the_end_of_a_late_shift_is_a_problem():
    monday = date(2026, 11, 30)
    window = DateTimeTZRange(_shanghai(monday, 21), _shanghai(monday + timedelta(days=1), 2, 30))

    problems = _problems(window, hours=[Hours(MONDAY, time(20), time(2))])

    assert len(problems) == 1
    assert "does not usually work" in problems[0]


def test_a_gap_between_two_shifts_is_a_problem():
    tuesday = date(2026, 12, 1)
    window = DateTimeTZRange(_shanghai(tuesday, 1), _shanghai(tuesday, 10))
    hours = [Hours(MONDAY, time(20), time(2)), Hours(TUESDAY, time(9), time(18))]

    problems = _problems(window, hours=hours)

    assert len(problems) == 1
    assert "does not usually work" in problems[0]


def test_shifts_that_meet_cover_a_window_across_both():
    tuesday = date(2026, 12, 1)
    window = DateTimeTZRange(_shanghai(tuesday, 1), _shanghai(tuesday, 10))
    hours = [Hours(MONDAY, time(20), time(2)), Hours(TUESDAY, time(2), time(18))]

    assert _problems(window, hours=hours) == []


def test_a_day_off_is_a_problem_but_its_reason_stays_private():
    tuesday = date(2026, 12, 1)
    window = DateTimeTZRange(_shanghai(tuesday, 20), _shanghai(tuesday, 23))

    problems = _problems(window, away=[Away(tuesday, tuesday, "wedding")])

    assert problems == ["Lin is off Tue 1 Dec – Tue 1 Dec."]


def test_a_day_off_recorded_to_the_end_of_the_calendar_is_still_compared():
    tuesday = date(2026, 12, 1)
    window = DateTimeTZRange(_shanghai(tuesday, 20), _shanghai(tuesday, 23))

    problems = _problems(window, away=[Away(tuesday, date(9999, 12, 31), "")])

    assert problems == ["Lin is off Tue 1 Dec – Fri 31 Dec."]


def test_time_off_ends_at_midnight_after_its_last_day_in_the_persons_own_time_zone():
    tuesday = date(2026, 12, 1)
    window = DateTimeTZRange(
        _shanghai(tuesday + timedelta(days=1), 0, 30), _shanghai(tuesday + timedelta(days=1), 2)
    )
    away = [Away(tuesday, tuesday, "")]

    in_shanghai = _problems(window, away=away)
    in_london = schedule.availability_problems(
        name="Lin", time_zone="Europe/London", window=window, hours=[], away=away
    )

    assert in_shanghai == []
    assert in_london == ["Lin is off Tue 1 Dec – Tue 1 Dec."]


def test_time_off_and_hours_are_both_reported():
    tuesday = date(2026, 12, 1)
    window = DateTimeTZRange(_shanghai(tuesday, 20), _shanghai(tuesday, 23))

    problems = _problems(
        window, hours=[Hours(TUESDAY, time(9), time(18))], away=[Away(tuesday, tuesday, "")]
    )

    assert len(problems) == 2


# --- occurrences ---------------------------------------------------------------------------


def test_a_weekly_rule_on_two_weekdays_gives_each_occurrence_at_the_studios_wall_clock_time():
    found = schedule.occurrences(
        rule="FREQ=WEEKLY;BYDAY=TU,TH;COUNT=4",
        first_day=date(2026, 12, 1),
        start_time=time(20, 0),
        duration=timedelta(hours=3),
        time_zone="Asia/Shanghai",
    )

    assert [start for start, _end in found] == [
        datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
        datetime(2026, 12, 8, 12, 0, tzinfo=UTC),
        datetime(2026, 12, 10, 12, 0, tzinfo=UTC),
    ]
    assert {end - start for start, end in found} == {timedelta(hours=3)}


def test_a_rule_across_the_clocks_going_forward_keeps_the_wall_clock_start():
    found = schedule.occurrences(
        rule="RRULE:FREQ=WEEKLY;BYDAY=SA;COUNT=3",
        first_day=date(2026, 3, 21),
        start_time=time(19, 0),
        duration=timedelta(hours=3),
        time_zone="Europe/London",
    )

    assert [start.astimezone(LONDON).time() for start, _end in found] == [time(19, 0)] * 3
    assert [start.astimezone(UTC).hour for start, _end in found] == [19, 19, 18]


def test_a_rule_across_the_clocks_going_back_keeps_the_wall_clock_start_and_the_duration():
    found = schedule.occurrences(
        rule="FREQ=DAILY;COUNT=3",
        first_day=date(2026, 10, 24),
        start_time=time(0, 30),
        duration=timedelta(hours=3),
        time_zone="Europe/London",
    )

    assert [start.astimezone(LONDON).time() for start, _end in found] == [time(0, 30)] * 3
    assert [start.astimezone(UTC).hour for start, _end in found] == [23, 23, 0]
    assert {end - start for start, end in found} == {timedelta(hours=3)}


@pytest.mark.parametrize(
    "rule", ["FREQ=SOMETIMES", "FREQ=WEEKLY;BYDAY=XX;COUNT=2", "every tuesday", ""]
)
def test_an_invalid_rule_is_refused(rule):
    with pytest.raises(ValidationError, match="not valid"):
        schedule.occurrences(
            rule=rule,
            first_day=date(2026, 12, 1),
            start_time=time(20, 0),
            duration=timedelta(hours=3),
            time_zone="Asia/Shanghai",
        )


@pytest.mark.parametrize("rule", ["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=TU,TH", "FREQ=MONTHLY"])
def test_a_rule_without_an_end_is_refused(rule):
    with pytest.raises(ValidationError, match="COUNT or UNTIL"):
        schedule.occurrences(
            rule=rule,
            first_day=date(2026, 12, 1),
            start_time=time(20, 0),
            duration=timedelta(hours=3),
            time_zone="Asia/Shanghai",
        )


def test_a_rule_making_more_streams_than_allowed_is_refused():
    with pytest.raises(ValidationError, match="more than 120"):
        schedule.occurrences(
            rule="FREQ=DAILY;COUNT=121",
            first_day=date(2026, 12, 1),
            start_time=time(20, 0),
            duration=timedelta(hours=3),
            time_zone="Asia/Shanghai",
        )


def test_a_rule_ending_within_the_limits_gives_all_its_occurrences():
    found = schedule.occurrences(
        rule="FREQ=DAILY;COUNT=120",
        first_day=date(2026, 12, 1),
        start_time=time(20, 0),
        duration=timedelta(hours=3),
        time_zone="Asia/Shanghai",
    )

    assert len(found) == 120


@pytest.mark.parametrize(
    "rule",
    [
        "DTSTART:20260101T200000\nRRULE:FREQ=DAILY;COUNT=2",
        "DTSTART;TZID=America/New_York:20260101T200000\nRRULE:FREQ=DAILY;COUNT=2",
        "RRULE:FREQ=DAILY;COUNT=2\nRRULE:FREQ=WEEKLY;COUNT=2",
    ],
)
def test_only_a_repeat_rule_is_accepted_not_a_start_or_other_calendar_lines(rule):
    """The first day and the studio's time zone say when the repeat starts; a DTSTART in the
    text would quietly move it (or, with a TZID, fail comparing naive and aware times)."""
    with pytest.raises(ValidationError, match="not valid"):
        schedule.occurrences(
            rule=rule,
            first_day=date(2026, 12, 1),
            start_time=time(20, 0),
            duration=timedelta(hours=3),
            time_zone="Asia/Shanghai",
        )


def test_a_rule_is_read_in_any_case_and_with_spaces_after_semicolons():
    found = schedule.occurrences(
        rule="rrule:freq=weekly; byday=tu; count=2",
        first_day=date(2026, 12, 1),
        start_time=time(20, 0),
        duration=timedelta(hours=3),
        time_zone="Asia/Shanghai",
    )

    assert [start for start, _end in found] == [
        datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 12, 8, 12, 0, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31",
        "FREQ=DAILY;BYSETPOS=2",
        "FREQ=WEEKLY;INTERVAL=0;COUNT=3",
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6",
    ],
    ids=["sub-daily", "by-month", "setpos-not-monthly", "zero-interval", "never-matches"],
)
def test_rules_that_would_never_match_or_loop_are_refused(rule):
    with pytest.raises(ValidationError, match="not valid"):
        schedule.occurrences(
            rule=rule,
            first_day=date(2026, 12, 1),
            start_time=time(20, 0),
            duration=timedelta(hours=3),
            time_zone="Asia/Shanghai",
        )


def test_a_utc_until_as_calendar_apps_write_it_ends_the_repeat_in_studio_time():
    found = schedule.occurrences(
        rule="FREQ=DAILY;UNTIL=20261203T120000Z",  # 20:00 on 3 December in Shanghai
        first_day=date(2026, 12, 1),
        start_time=time(20, 0),
        duration=timedelta(hours=3),
        time_zone="Asia/Shanghai",
    )

    assert [start.astimezone(ZoneInfo("Asia/Shanghai")).day for start, _end in found] == [1, 2, 3]


def test_a_first_day_at_the_end_of_the_calendar_is_refused_not_an_error():
    with pytest.raises(ValidationError, match="not valid"):
        schedule.occurrences(
            rule="FREQ=DAILY;COUNT=2",
            first_day=date(9999, 12, 31),
            start_time=time(20, 0),
            duration=timedelta(hours=3),
            time_zone="Asia/Shanghai",
        )
