import os

from celery import Celery
from celery.fixups.django import DjangoFixup, DjangoWorkerFixup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcn_console.settings")


class _WorkerFixup(DjangoWorkerFixup):
    """Celery's Django fix-up for workers, except around each task.

    Celery closes every database connection before and after each task and, in a prefork
    child with a connection pool, the pool too: each task would open a new PostgreSQL
    connection and lose its prepared statements. Here a task's connection goes back to the
    process's pool as a request's does, and only one that broke (or outlived
    CONN_MAX_AGE) is closed. At start and after a fork Celery's own closing still applies.
    An eager task runs inside its caller's transaction: its connection is left alone.
    """

    def on_task_prerun(self, sender, **kwargs) -> None:
        if not getattr(sender.request, "is_eager", False):
            self._connections_back_to_pool()

    def on_task_postrun(self, sender, **kwargs) -> None:
        if not getattr(sender.request, "is_eager", False):
            self._connections_back_to_pool()
            self.close_cache()

    @staticmethod
    def _connections_back_to_pool() -> None:
        from django.db import close_old_connections

        close_old_connections()


class _Fixup(DjangoFixup):
    """Celery's Django fix-up, with the worker part above."""

    @property
    def worker_fixup(self) -> _WorkerFixup:
        if self._worker_fixup is None:
            self._worker_fixup = _WorkerFixup(self.app)
        return self._worker_fixup


app = Celery("mcn_console", fixups=[lambda app: _Fixup(app).install()])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
