from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = _("Support queue")

    def ready(self) -> None:
        from rooms import demo, ingest, navigation
        from rooms.models import Role
        from rooms.selectors import WALL_PANELS

        from . import demo as support_demo
        from . import rules, selectors, services  # noqa: F401  (rules registers permissions)

        ingest.register_handler("comment", services.comments_ingest)
        demo.register_seeder(support_demo.seed)
        if selectors.host_questions_panel not in WALL_PANELS:
            WALL_PANELS.append(selectors.host_questions_panel)
        navigation.register(
            navigation.NavItem(
                label=_("Support"),
                url_name="support",
                roles=frozenset({Role.CS_AGENT, Role.PRODUCER, Role.ROOM_OPERATOR}),
                order=25,
            )
        )
