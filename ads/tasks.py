"""Background work for ad boosts. Tasks take ids, re-fetch, and are safe to run twice."""

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task
def boost_execute_task(intent_id: int) -> str:
    """Make one intent's platform change; come back when its backoff or lease is over.

    A duplicate of this task finds the intent taken, settled or not yet due and does
    nothing; the sweep catches a retry whose enqueue was lost.
    """
    intent = services.boost_execute(intent_id=intent_id)
    if intent is None:
        return "skipped"
    if intent.state in services.DUE:
        boost_execute_task.apply_async((intent_id,), eta=intent.next_attempt_at)
    return intent.state


@shared_task
def boost_sweep_task() -> int:
    """Drive intents whose execution was never enqueued, is due again, or lost its worker."""
    due = services.boosts_due()
    for intent_id in due:
        boost_execute_task.delay(intent_id)
    if due:
        logger.info("boost sweep re-enqueued %d executions", len(due))
    return len(due)
