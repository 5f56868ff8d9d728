from datetime import datetime
from zoneinfo import ZoneInfo

from django import template
from django.utils.formats import date_format

register = template.Library()


def _offset(moment: datetime) -> str:
    minutes = int(moment.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _day(moment: datetime) -> str:
    return f"{date_format(moment, 'D')} {date_format(moment, 'MONTH_DAY_FORMAT')}"


@register.simple_tag
def stream_window(stream) -> str:
    """A stream's planned slot in its studio's time zone: "Tue December 1 20:00–23:00 UTC+8".

    Studio time everywhere: the crew works by the clock on the studio wall, wherever the
    person looking at the schedule happens to be.
    """
    zone = ZoneInfo(stream.studio.time_zone)
    start = stream.planned_start.astimezone(zone)
    end = stream.planned_end.astimezone(zone)
    end_text = f"{end:%H:%M}" if end.date() == start.date() else f"{_day(end)} {end:%H:%M}"
    return f"{_day(start)} {start:%H:%M}–{end_text} {_offset(start)}"
