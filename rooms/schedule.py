"""Time arithmetic for planning: booking windows, availability, recurrence, wall-clock text.

Pure functions over values already loaded; services and selectors decide what to load.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from django.core.exceptions import ValidationError
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.utils import formats
from django.utils.translation import gettext as _

from .models import CrewRole

# How long before the planned start each role is called, and stays after the end, unless the
# producer says otherwise: hosts and actors need make-up and a run-through.
CREW_CALL: dict[str, tuple[timedelta, timedelta]] = {
    CrewRole.HOST: (timedelta(minutes=60), timedelta(minutes=15)),
    CrewRole.CO_HOST: (timedelta(minutes=60), timedelta(minutes=15)),
    CrewRole.ACTOR: (timedelta(minutes=60), timedelta(minutes=15)),
    CrewRole.ROOM_OPERATOR: (timedelta(minutes=30), timedelta(minutes=15)),
    CrewRole.FLOOR_CONTROLLER: (timedelta(minutes=30), timedelta(minutes=15)),
    CrewRole.CS_AGENT: (timedelta(minutes=15), timedelta(minutes=30)),
    CrewRole.AD_BUYER: (timedelta(minutes=15), timedelta(minutes=15)),
    CrewRole.CHEER: (timedelta(minutes=30), timedelta(minutes=0)),
}

# Recurrence expands at most this many occurrences, and no further ahead than this.
MAX_OCCURRENCES = 120
MAX_RECURRENCE_SPAN = timedelta(days=366)


def booking(start: datetime, end: datetime, before: timedelta, after: timedelta) -> DateTimeTZRange:
    """The half-open window [start − before, end + after) that a studio or person is held."""
    return DateTimeTZRange(start - before, end + after, "[)")


def window_text(start: datetime, end: datetime, time_zone: str) -> str:
    """ "Tue 1 Dec 19:00–23:15 (Asia/Shanghai)", in the given zone."""
    zone = ZoneInfo(time_zone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    day = formats.date_format(local_start, "D j M")
    if local_end.date() == local_start.date():
        until = f"{local_end:%H:%M}"
    else:
        until = f"{formats.date_format(local_end, 'D j M')} {local_end:%H:%M}"
    return f"{day} {local_start:%H:%M}–{until} ({time_zone})"


@dataclass(frozen=True)
class Hours:
    weekday: int
    starts: time
    ends: time


@dataclass(frozen=True)
class Away:
    first_day: date
    last_day: date
    reason: str


def availability_problems(
    *,
    name: str,
    time_zone: str,
    window: DateTimeTZRange,
    hours: Sequence[Hours],
    away: Iterable[Away],
) -> list[str]:
    """Why this person may not be free for the window: days off, or outside their hours.

    A person with no working hours recorded is taken to be available at any time.
    """
    zone = ZoneInfo(time_zone)
    start, end = window.lower.astimezone(zone), window.upper.astimezone(zone)
    problems = []
    for off in away:
        # Compared as local days, so a day off recorded far in the future cannot overflow.
        if (
            start.date() <= off.last_day
            and off.first_day <= end.date()
            and datetime.combine(off.first_day, time(0), zone) < end
        ):
            # The reason stays on the person's availability page: warnings reach the
            # whole crew, and why someone is away is theirs and their producers' business.
            problems.append(
                _("%(name)s is off %(first)s – %(last)s.")
                % {
                    "name": name,
                    "first": formats.date_format(off.first_day, "D j M"),
                    "last": formats.date_format(off.last_day, "D j M"),
                }
            )
    if hours and not _covered(start, end, _working_windows(start, end, hours, zone)):
        problems.append(
            _("%(name)s does not usually work %(window)s.")
            % {"name": name, "window": window_text(window.lower, window.upper, time_zone)}
        )
    return problems


def _working_windows(
    start: datetime, end: datetime, hours: Sequence[Hours], zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    windows = []
    day = start.date() - timedelta(days=1)  # yesterday's late shift may run into today
    while day <= end.date():
        for entry in hours:
            if entry.weekday != day.weekday():
                continue
            opens = datetime.combine(day, entry.starts, zone)
            closes_day = day if entry.ends > entry.starts else day + timedelta(days=1)
            windows.append((opens, datetime.combine(closes_day, entry.ends, zone)))
        day += timedelta(days=1)
    return sorted(windows)


def _covered(start: datetime, end: datetime, windows: list[tuple[datetime, datetime]]) -> bool:
    reached = start
    for opens, closes in windows:
        if opens > reached:
            break
        reached = max(reached, closes)
        if reached >= end:
            return True
    return reached >= end


# The parts of RFC 5545 a show's repeat needs. Sub-daily frequencies, BYMONTH and BYSETPOS
# outside monthly rules are refused: combined wrongly they never match, and the expansion
# would search day by day until the year 9999 before saying so.
RULE_PARTS = frozenset(
    {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "WKST", "BYSETPOS"}
)
RULE_FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY"})
ONE_DAY = "FREQ=DAILY;COUNT=1"


def occurrences(
    *, rule: str, first_day: date, start_time: time, duration: timedelta, time_zone: str
) -> list[tuple[datetime, datetime]]:
    """The (start, end) of each occurrence of an RFC 5545 rule ("FREQ=WEEKLY;BYDAY=TU,TH;
    COUNT=8"), keeping the same wall-clock start in the studio across daylight-saving changes.
    """
    zone = ZoneInfo(time_zone)
    rule = _rule_parts(rule, zone)
    first = datetime.combine(first_day, start_time)
    found = []
    try:
        horizon = first + MAX_RECURRENCE_SPAN
        for naive in rrulestr(rule, dtstart=first, cache=False):
            # Refused rather than cut short: a weekly rule with no end would otherwise plan
            # a year of streams without saying so.
            if naive > horizon:
                raise ValidationError(
                    _("The repeat rule runs more than a year; end it sooner with COUNT or UNTIL.")
                )
            if len(found) == MAX_OCCURRENCES:
                raise ValidationError(
                    _("The repeat makes more than %(max)s streams; end it with COUNT or UNTIL.")
                    % {"max": MAX_OCCURRENCES}
                )
            # Elapsed time, not wall-clock: a three-hour show is three hours on a DST night too.
            start = naive.replace(tzinfo=zone).astimezone(UTC)
            found.append((start, start + duration))
    except (ValueError, TypeError, OverflowError) as error:
        raise _invalid(str(error)) from error
    if not found:
        raise _invalid(_("it makes no streams."))
    return found


def _rule_parts(rule: str, zone: ZoneInfo) -> str:
    """The rule, checked part by part, with a UTC `UNTIL` turned into studio wall-clock time."""
    rule = rule.strip()
    if rule.upper().startswith("RRULE:"):
        rule = rule[len("RRULE:") :]
    # Only the rule itself: the first day and the studio's zone say when it starts, and a
    # DTSTART (or any other calendar line) would quietly move it.
    if ":" in rule:
        raise _invalid(_("write only the rule, such as FREQ=WEEKLY;BYDAY=TU,TH;COUNT=8."))
    parts = {}
    for part in filter(None, "".join(rule.split()).upper().split(";")):
        name, _sep, value = part.partition("=")
        if name not in RULE_PARTS or not value:
            raise _invalid(_("use FREQ, INTERVAL, COUNT, UNTIL, BYDAY and BYMONTHDAY."))
        parts[name] = value
    if parts.get("FREQ") not in RULE_FREQUENCIES:
        raise _invalid(_("a repeat is FREQ=DAILY, WEEKLY or MONTHLY."))
    if "BYSETPOS" in parts and parts["FREQ"] != "MONTHLY":
        raise _invalid(_("BYSETPOS is only for monthly repeats."))
    until = parts.get("UNTIL", "")
    if until.endswith("Z"):
        # Calendar apps write UNTIL in UTC; the occurrences are in studio time.
        try:
            moment = datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError as error:
            raise _invalid(str(error)) from error
        parts["UNTIL"] = moment.astimezone(zone).strftime("%Y%m%dT%H%M%S")
    return ";".join(f"{name}={value}" for name, value in parts.items())


def template_starts(template, *, first_day: date, rule: str | None) -> list[datetime]:
    """When a template's streams would start: on `first_day` only, or by the repeat rule."""
    return [
        start
        for start, _end in occurrences(
            rule=rule or ONE_DAY,
            first_day=first_day,
            start_time=template.start_time,
            duration=template.duration,
            time_zone=template.studio.time_zone,
        )
    ]


def _invalid(reason: str) -> ValidationError:
    return ValidationError(_("The repeat rule is not valid: %(error)s") % {"error": reason})
