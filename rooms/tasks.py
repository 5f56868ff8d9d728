"""Background work for the rooms app. Tasks take ids, re-fetch, and are safe to run twice."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from . import eventlog, services

logger = logging.getLogger(__name__)

# A pending row older than this lost its dispatch (a worker died or the broker was away).
DISPATCH_GRACE = timedelta(seconds=30)


@shared_task
def ingest_dispatch_task(inbox_ids: list[int]) -> int:
    # A task that finds its rows already taken (by a task working off a backlog) does nothing.
    return services.ingest_dispatch_isolating(inbox_ids=inbox_ids, with_backlog=True)


@shared_task
def ingest_sweep_task() -> int:
    """Re-dispatch inbox rows whose first dispatch was lost or failed, once per sweep.

    One pass per run spaces a failing handler's retries by the beat interval.
    """
    ids = services.ingest_rows_needing_dispatch(older_than=DISPATCH_GRACE, limit=5000)
    swept = services.ingest_dispatch_isolating(inbox_ids=ids) if ids else 0
    if swept:
        logger.info("ingest sweep dispatched %d rows", swept)
    return swept


@shared_task
def event_log_prune_task() -> int:
    return eventlog.prune(older_than=timedelta(hours=settings.MCN_EVENT_RETENTION_HOURS))


@shared_task
def show_operators_sweep_task() -> int:
    """Tell the crew's screens when a room operator's console has gone quiet."""
    return services.show_operators_sweep()
