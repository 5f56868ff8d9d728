"""The console's navigation, contributed by each app in `AppConfig.ready()`.

`rooms` owns the layout; other apps add their screens here instead of `rooms` importing
them, so dependencies keep pointing one way.
"""

from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    # Shown to members of any of these role groups; None means everyone signed in.
    roles: frozenset[str] | None = None
    staff_only: bool = False
    order: int = 100


_items: list[NavItem] = []


def register(item: NavItem) -> None:
    if item not in _items:
        _items.append(item)


def items_for(user, role_names: set[str]) -> list[dict]:
    visible = []
    for item in sorted(_items, key=lambda i: i.order):
        if item.staff_only and not user.is_staff:
            continue
        if item.roles is not None and not user.is_superuser and not item.roles & role_names:
            continue
        visible.append(
            {"label": item.label, "url": reverse(item.url_name), "url_name": item.url_name}
        )
    return visible
