from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = _("Rooms")

    def ready(self) -> None:
        from . import ingest, navigation, pgarrays, services
        from .models import Role

        pgarrays.register()

        ingest.register_handler("stream_status", services.stream_status_ingest)
        ingest.register_handler("viewers", services.viewers_ingest)
        ingest.register_handler("order", services.orders_ingest)
        navigation.register(navigation.NavItem(label=_("Streams"), url_name="home", order=10))
        navigation.register(navigation.NavItem(label=_("Plan"), url_name="plan", order=20))
        navigation.register(
            navigation.NavItem(
                label=_("Templates"),
                url_name="templates",
                roles=frozenset({Role.PRODUCER}),
                order=21,
            )
        )
        navigation.register(
            navigation.NavItem(
                label=_("Studios"), url_name="studios", roles=frozenset({Role.PRODUCER}), order=22
            )
        )
        navigation.register(
            navigation.NavItem(
                label=_("Screens"),
                url_name="screens",
                roles=frozenset({Role.PRODUCER, Role.ROOM_OPERATOR}),
                order=30,
            )
        )
        navigation.register(navigation.NavItem(label=_("API"), url_name="api-docs", order=90))
        navigation.register(
            navigation.NavItem(label=_("Admin"), url_name="admin:index", staff_only=True, order=99)
        )
