"""The demo platform: records each reply as a `DemoPlatformMessage`, as a real platform
keeps a posted comment reply.

Like real platforms' client message ids, its unique client key makes a repeated send return
the message already posted. For tests and demos it can be told to fail (`faults_set`), in
the two ways a timeout leaves a sender unsure: the reply landed but the answer was lost, or
the request was lost before the reply landed; or refuse a reply for good. The counters live
in Redis, so a switch thrown by a test reaches the Celery worker sending the reply.
"""

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from rooms.models import Channel, Stream

from ..models import DemoPlatformMessage
from . import PlatformRejected, PlatformTimeout

FAULT_KEYS = {
    "lost_after": "support:demo-platform:lost-after",
    "lost_before": "support:demo-platform:lost-before",
    "rejected": "support:demo-platform:rejected",
}
FAULT_TTL_SECONDS = 3600


def faults_set(*, lost_after: int = 0, lost_before: int = 0, rejected: int = 0) -> None:
    """Make the next sends fail: `rejected` of them refused, `lost_before` of them time out
    before the reply lands, then `lost_after` of them time out after it landed."""
    for kind, count in (
        ("lost_after", lost_after),
        ("lost_before", lost_before),
        ("rejected", rejected),
    ):
        cache.set(FAULT_KEYS[kind], count, FAULT_TTL_SECONDS)


def _fault(kind: str) -> bool:
    try:
        left = cache.decr(FAULT_KEYS[kind])
    except ValueError:  # no switch set
        return False
    return left >= 0


def send_reply(
    *, channel: Channel, stream: Stream, text: str, to_users: list[str], idempotency_key: str
) -> str:
    if _fault("rejected"):
        raise PlatformRejected("demo platform: the comment was deleted")
    if _fault("lost_before"):
        raise PlatformTimeout("demo platform: timed out before the reply landed")
    message = DemoPlatformMessage.objects.filter(client_key=idempotency_key).first()
    if message is None:
        try:
            with transaction.atomic():
                message = DemoPlatformMessage.objects.create(
                    channel=channel,
                    client_key=idempotency_key,
                    text=text,
                    to_users=to_users,
                    posted_at=timezone.now(),
                )
        except IntegrityError:  # a concurrent send of the same reply posted it first
            message = DemoPlatformMessage.objects.get(client_key=idempotency_key)
    if _fault("lost_after"):
        raise PlatformTimeout("demo platform: the reply landed, but its answer was lost")
    return f"demo-{message.pk}"
