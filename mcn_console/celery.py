import os

from celery import Celery
from celery.fixups.django import DjangoFixup, DjangoWorkerFixup
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcn_console.settings")


class _WorkerFixup(DjangoWorkerFixup):
    """Celery's Django fix-up for workers, except around each task.

    Celery closes every database connection before and after each task and, in a prefork
    child with a connection pool, the pool too: each task would open a new PostgreSQL
    connection and prepare its statements again. Here a task's connection goes back to
    the process's pool, as a request's does (the pool discards one that broke, and checks
    each as it is drawn: CONN_HEALTH_CHECKS). At start and after a fork Celery's own
    closing still applies. An eager task runs inside its caller's transaction: its
    connection is left alone.
    """

    def on_task_prerun(self, sender, **kwargs) -> None:
        if not getattr(sender.request, "is_eager", False):
            close_old_connections()

    def on_task_postrun(self, sender, **kwargs) -> None:
        if not getattr(sender.request, "is_eager", False):
            close_old_connections()
            self.close_cache()


class _Fixup(DjangoFixup):
    """Celery's Django fix-up, with the worker part above."""

    @property
    def worker_fixup(self) -> _WorkerFixup:
        if self._worker_fixup is None:
            self._worker_fixup = _WorkerFixup(self.app)
        return self._worker_fixup

    @worker_fixup.setter
    def worker_fixup(self, value: DjangoWorkerFixup) -> None:
        self._worker_fixup = value


def django_fixup(app: Celery) -> _Fixup:
    """In place of Celery's built-in fix-ups, which are only `celery.fixups.django`."""
    return _Fixup(app).install()


app = Celery("mcn_console", fixups=[django_fixup])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
