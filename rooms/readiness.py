"""The readiness checklist a stream must pass before a person takes it live.

`rooms` checks what it owns (crew, lineup); other apps add their own checks (the script is
locked, the actors are off-book) with `register` in their `AppConfig.ready()`.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from .models import CrewRole, Stream


@dataclass(frozen=True)
class ReadinessItem:
    key: str
    label: str
    done: bool
    detail: str = ""


Check = Callable[[Stream], Iterable[ReadinessItem]]
_checks: list[tuple[int, Check]] = []


def register(check: Check, *, order: int = 100) -> None:
    if all(existing is not check for _order, existing in _checks):
        _checks.append((order, check))


def checklist(stream: Stream) -> list[ReadinessItem]:
    return [item for _order, check in sorted(_checks, key=lambda c: c[0]) for item in check(stream)]


def uncovered(stream: Stream, items: list[ReadinessItem] | None = None) -> list[ReadinessItem]:
    """What is missing and not covered by the latest override.

    An override covers the items it was given for, not whatever goes missing afterwards:
    a host who drops out after the producer waived the lineup needs a new decision.
    """
    items = checklist(stream) if items is None else items
    latest = stream.readiness_overrides.order_by("-at", "-pk").first()
    waived = {entry["key"] for entry in latest.missing} if latest else set()
    return [item for item in items if not item.done and item.key not in waived]


def crew_filled(stream: Stream) -> Iterable[ReadinessItem]:
    assigned: dict[str, list[str]] = {}
    for assignment in stream.crew.select_related("person"):
        assigned.setdefault(assignment.role, []).append(str(assignment.person))
    for role in stream.required_roles:
        people = assigned.get(role, [])
        yield ReadinessItem(
            key=f"crew:{role}",
            label=_("%(role)s assigned") % {"role": CrewRole(role).label},
            done=bool(people),
            detail=", ".join(people),
        )


def lineup_complete(stream: Stream) -> Iterable[ReadinessItem]:
    items = list(stream.lineup.order_by("position"))
    yield ReadinessItem(
        key="lineup:products",
        label=_("Lineup has products"),
        done=bool(items),
        detail=_("%(count)s products") % {"count": len(items)} if items else "",
    )
    unpriced = [f"#{item.link_number}" for item in items if item.live_price is None]
    no_stock = [f"#{item.link_number}" for item in items if not item.stock]
    yield ReadinessItem(
        key="lineup:prices",
        label=_("Every product has a live price"),
        done=bool(items) and not unpriced,
        detail=_("Missing: %(links)s") % {"links": ", ".join(unpriced)} if unpriced else "",
    )
    yield ReadinessItem(
        key="lineup:stock",
        label=_("Every product has stock"),
        done=bool(items) and not no_stock,
        detail=_("No stock: %(links)s") % {"links": ", ".join(no_stock)} if no_stock else "",
    )


register(crew_filled, order=10)
register(lineup_complete, order=20)
