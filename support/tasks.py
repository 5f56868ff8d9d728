"""Background work for the support queue. Tasks take ids, re-fetch, and are safe to run twice."""

import logging

from celery import shared_task
from celery.signals import worker_process_init

from . import services, triage
from .models import OutboxStatus

logger = logging.getLogger(__name__)

# A stream's delivery reads its due replies this many at a time, until fewer come back
# (each read also sees the replies answered meanwhile).
REPLIES_PER_READ = 200


@worker_process_init.connect
def _segmenter_load(**_kwargs) -> None:
    """Load the Chinese segmenter's dictionary (1–2 s) as each worker process starts, not
    while the first comments of a stream wait for it."""
    triage.segment("预热")
    logger.debug("support: segmenter loaded")


@shared_task
def reply_deliver_task(outbox_id: int) -> str:
    """Send one reply; after a timeout, come back when its backoff is over.

    A duplicate of this task finds the row taken or not yet due and does nothing; the
    outbox sweep catches a retry whose enqueue was lost.
    """
    row = services.reply_deliver(outbox_id=outbox_id)
    if row is None:
        return "skipped"
    if row.status == OutboxStatus.PENDING:
        reply_deliver_task.apply_async((outbox_id,), eta=row.next_attempt_at)
    return row.status


@shared_task
def replies_deliver_task(stream_id: int) -> int:
    """Send every reply of the stream that is due, as answers ring for it
    (`services.replies_ring`); retries go on as `reply_deliver_task`s of their own.
    Returns how many it tried."""
    services.replies_answer_door(stream_id)
    tried = 0
    while due := services.replies_due(stream_id=stream_id, limit=REPLIES_PER_READ):
        before = tried
        for outbox_id in due:
            row = services.reply_deliver(outbox_id=outbox_id)
            if row is None:  # another task or worker is sending it
                continue
            tried += 1
            if row.status == OutboxStatus.PENDING:
                reply_deliver_task.apply_async((outbox_id,), eta=row.next_attempt_at)
        if len(due) < REPLIES_PER_READ or tried == before:  # the rest are others' to send
            break
    return tried


@shared_task
def outbox_sweep_task() -> int:
    """Send replies whose delivery was never enqueued, lost, or left by a dead worker."""
    due = services.replies_due()
    for outbox_id in due:
        reply_deliver_task.delay(outbox_id)
    if due:
        logger.info("outbox sweep re-enqueued %d replies", len(due))
    return len(due)


@shared_task
def sla_sweep_task() -> list[int]:
    return list(services.sla_sweep())


@shared_task
def claims_sweep_task() -> int:
    """Return the groups of agents who went silent to the queue."""
    return services.claims_sweep()


@shared_task
def agents_sweep_task() -> int:
    """Take agents whose screens went quiet offline (and hand back what they held)."""
    return services.agents_sweep()
