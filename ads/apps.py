from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AdsConfig(AppConfig):
    name = "ads"
    verbose_name = _("Ad boosts")

    def ready(self) -> None:
        from rooms import demo, ingest, navigation
        from rooms.models import Role
        from rooms.selectors import SUMMARY_SECTIONS, TREND_MARKERS, WALL_PANELS

        from . import demo as ads_demo
        from . import rules, selectors, services  # noqa: F401  (rules registers permissions)

        ingest.register_handler("ad_metrics", services.ad_metrics_ingest)
        for registry, source in (
            (WALL_PANELS, selectors.boost_status_panel),
            (TREND_MARKERS, selectors.boost_markers),
            (SUMMARY_SECTIONS, selectors.boost_outcome_section),
        ):
            if source not in registry:
                registry.append(source)
        demo.register_seeder(ads_demo.seed)
        navigation.register(
            navigation.NavItem(
                label=_("Ads"),
                url_name="ads",
                roles=frozenset({Role.AD_BUYER, Role.AD_APPROVER, Role.PRODUCER}),
                order=27,
            )
        )
