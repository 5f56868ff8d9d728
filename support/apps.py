from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = _("Support queue")

    def ready(self) -> None:
        from rooms import ingest

        from . import services

        ingest.register_handler("comment", services.comments_ingest)
