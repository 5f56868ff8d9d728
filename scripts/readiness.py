"""The scripts capability's items on a stream's readiness checklist."""

from collections.abc import Iterable

from django.utils.translation import gettext as _

from rooms.models import Stream
from rooms.readiness import ReadinessItem

from . import memorise, selectors
from .models import StreamScript, VersionStatus


def script_locked(stream: Stream) -> Iterable[ReadinessItem]:
    """A stream that runs a script needs it locked, and no newer draft waiting: nobody goes
    live on a stale script. A stream without a script runs from its lineup alone."""
    link = StreamScript.objects.filter(stream=stream).select_related("script").first()
    if link is None:
        return
    versions = list(link.script.versions.order_by("-number")[:2])
    latest = versions[0]
    locked = next((v for v in versions if v.status == VersionStatus.LOCKED), None)
    if latest.status == VersionStatus.LOCKED:
        detail = _("%(script)s v%(number)s") % {"script": link.script, "number": latest.number}
    elif locked is not None:
        detail = _("v%(draft)s is a draft newer than the locked v%(locked)s") % {
            "draft": latest.number,
            "locked": locked.number,
        }
    else:
        detail = _("v%(draft)s is still a draft") % {"draft": latest.number}
    yield ReadinessItem(
        key="script:locked",
        label=_("Script locked"),
        done=latest.status == VersionStatus.LOCKED,
        detail=detail,
    )


def actors_off_book(stream: Stream) -> Iterable[ReadinessItem]:
    """Everyone with lines on the stream's crew knows all of them in the version that goes
    on air (see `scripts.memorise` for what "knows" means)."""
    version = selectors.stream_script_version(stream)
    if version is None:
        return
    behind = []
    for assignment in stream.crew.select_related("person").filter(role__in=memorise.SPEAKING_ROLES):
        mastered, total = selectors.mastery(assignment.person, version, assignment.role)
        if total and mastered < total:
            behind.append(f"{assignment.person} {mastered * 100 // total}%")
    yield ReadinessItem(
        key="script:off_book",
        label=_("Actors off-book"),
        done=not behind,
        detail=_("Still learning: %(who)s") % {"who": ", ".join(behind)} if behind else "",
    )
