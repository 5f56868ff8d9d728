from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AdsConfig(AppConfig):
    name = "ads"
    verbose_name = _("Ad boosts")

    def ready(self) -> None:
        from rooms import ingest

        from . import services

        ingest.register_handler("ad_metrics", services.ad_metrics_ingest)
