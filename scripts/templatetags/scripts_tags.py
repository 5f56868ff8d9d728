from datetime import timedelta

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def minutes(value: timedelta | None) -> str:
    """A segment's duration as people say it: "5 min", "1 h 30 min"."""
    if value is None:
        return ""
    if value < timedelta(minutes=1):
        return _("%(s)s s") % {"s": round(value.total_seconds())}
    total = round(value.total_seconds() / 60)
    hours, rest = divmod(total, 60)
    if hours and rest:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": rest}
    if hours:
        return _("%(h)s h") % {"h": hours}
    return _("%(m)s min") % {"m": rest}
