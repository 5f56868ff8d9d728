from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScriptsConfig(AppConfig):
    name = "scripts"
    verbose_name = _("Scripts and memorisation")

    def ready(self) -> None:
        from rooms import demo, navigation, show, templates_hooks
        from rooms import readiness as stream_readiness
        from rooms.models import Role

        from . import demo as scripts_demo
        from . import readiness, selectors, services

        demo.register_seeder(scripts_demo.seed)
        show.PLAN_SOURCES.append(selectors.show_plan)
        templates_hooks.register(services.stream_from_template_planned)
        stream_readiness.register(readiness.script_locked, order=30)
        stream_readiness.register(readiness.actors_off_book, order=31)
        navigation.register(
            navigation.NavItem(
                label=_("Scripts"),
                url_name="scripts",
                roles=frozenset({Role.PRODUCER, Role.HOST, Role.ROOM_OPERATOR}),
                order=23,
            )
        )
