"""Row locks for the support app, in one place so their order and strength stay deliberate.

Order within a transaction: inbox rows (rooms), then a stream's intake lock (streams in id
order, as the ingest dispatch visits them), then question groups in primary-key order, then
the stream's event-log head (taken by `eventlog.append`, always last). Every service
that locks more than one group goes through here, so two of them never wait on each other
in opposite orders.
"""

from collections.abc import Iterable

from django.db import connection

from .models import QuestionGroup

# The first half of the two-number advisory lock key: the support intake's own namespace,
# so stream ids never collide with another user of advisory locks.
INTAKE_LOCK_SPACE = 0x5107


def stream_intake(stream_id: int) -> None:
    """Take turns grouping one stream's comments, until the transaction ends.

    Two workers dispatching comments of one stream at once would each read the open groups,
    find no group for a new question and both make one: the same question twice in the
    queue. Grouping is a small part of the dispatch, and the stream's event-log head is
    held to the end of the same transaction anyway, so the wait costs little.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [INTAKE_LOCK_SPACE, stream_id])


def groups_for_update(group_ids: Iterable[int]) -> list[QuestionGroup]:
    """Lock groups to change them, in primary-key order.

    NO KEY UPDATE, not UPDATE: new questions reference their group, and inserting them checks
    that foreign key with KEY SHARE, which NO KEY UPDATE allows. A full UPDATE lock would make
    a claim or an answer wait for every comment batch that adds askers to the group.
    The holder and the answerer come along (not locked), for the groups' events.
    """
    return list(
        QuestionGroup.objects.select_for_update(no_key=True, of=("self",))
        .select_related("claimed_by", "answered_by")
        .filter(pk__in=sorted(set(group_ids)))
        .order_by("pk")
    )
