"""A person's streams as an iCalendar (RFC 5545) feed for their phone's calendar."""

from datetime import UTC
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from .models import CrewAssignment, User


def person_calendar(person: User, bookings: list[CrewAssignment]) -> bytes:
    """One event per crew booking, from the call time to the end of the person's stay.

    UIDs are stable per booking and SEQUENCE is the stream's plan revision, so a calendar app
    moves the event when a stream is rescheduled rather than adding a second one.
    """
    calendar = Calendar()
    calendar.add("prodid", "-//MCN Console//Crew schedule//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", _("%(name)s · streams") % {"name": person})
    calendar.add("x-published-ttl", "PT15M")
    stamp = timezone.now().astimezone(UTC)
    for booking in bookings:
        stream = booking.stream
        event = Event()
        event.add("uid", f"crew-{booking.pk}@{_domain()}")
        event.add("dtstamp", stamp)
        event.add("dtstart", booking.booked.lower.astimezone(UTC))
        event.add("dtend", booking.booked.upper.astimezone(UTC))
        event.add("summary", f"{stream.title} · {booking.get_role_display()}")
        event.add("location", stream.studio.name)
        event.add(
            "description",
            _("%(role)s on %(channel)s. On air %(start)s–%(end)s (%(zone)s).")
            % {
                "role": booking.get_role_display(),
                "channel": stream.channel.name,
                "start": f"{stream.planned_start.astimezone(_zone(stream)):%H:%M}",
                "end": f"{stream.planned_end.astimezone(_zone(stream)):%H:%M}",
                "zone": stream.studio.time_zone,
            },
        )
        event.add("last-modified", max(stream.updated_at, stream.created_at).astimezone(UTC))
        event.add("sequence", stream.revision)
        event.add("status", "CONFIRMED" if stream.status != "draft" else "TENTATIVE")
        calendar.add_component(event)
    return calendar.to_ical()


def _zone(stream) -> ZoneInfo:
    return ZoneInfo(stream.studio.time_zone)


def _domain() -> str:
    hosts = [host for host in settings.ALLOWED_HOSTS if host and not host.startswith(".")]
    return hosts[0] if hosts and hosts[0] != "*" else "mcn-console"
