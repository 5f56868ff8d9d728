"""Support-queue data for the benchmarks: the simulator's lineup, crewed CS agents (客服),
and open question groups made in bulk.

Groups for the claim and SLA benchmarks are written directly (one question each), not
through the intake: those benchmarks measure what happens to a full queue, and the intake
would fold identical questions into a handful of groups.
"""

import random
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from rooms import services as room_services
from rooms.models import CrewAssignment, CrewRole, ProductKind, Role, Stream, User
from rooms.simulator import NAMES, PRODUCTS, QUESTIONS
from support import services
from support.models import Agent, Category, GroupStatus, Question, QuestionGroup

from .fixtures import RUN

# The simulator's question kinds, as the triage files them.
CATEGORY_OF = {"size": Category.SIZE, "price": Category.PRICE, "shipping": Category.SHIPPING}
CATEGORY_OF |= {"stock": Category.STOCK, "coupon": Category.PROMO}


def lineup(stream: Stream) -> None:
    """The simulator's products, so questions about "3号" find their product."""
    for product in PRODUCTS:
        room_services.lineup_item_add(
            actor=None,
            stream=stream,
            link_number=product.link,
            sku=product.sku,
            name=product.name,
            kind=ProductKind.HERO,
            regular_price=(product.price * Decimal("1.3")).quantize(Decimal("1")),
            live_price=product.price,
            stock=500,
        )


def cs_agents(stream: Stream, count: int, *, capacity: int = 3) -> list[User]:
    """`count` CS agents crewed on the stream, online, each holding up to `capacity` groups."""
    users = []
    # Bench agents never sign in: a fast hasher spares a second of PBKDF2 per agent.
    with override_settings(PASSWORD_HASHERS=[f"{MD5PasswordHasher.__module__}.MD5PasswordHasher"]):
        for number in range(count):
            user = room_services.user_create(
                username=f"bench-{RUN}-s{stream.pk}-agent{number}",
                password=uuid.uuid4().hex,
                roles=[Role.CS_AGENT],
            )
            room_services.crew_assign(
                actor=None,
                stream=stream,
                person=user,
                role=CrewRole.CS_AGENT,
                accept_availability=True,
            )
            services.agent_set_status(actor=user, status="online")
            services.agent_update(actor=None, agent=Agent.objects.get(user=user), capacity=capacity)
            users.append(user)
    return users


def open_groups(
    stream: Stream,
    count: int,
    *,
    deadlines: Sequence[datetime] | None = None,
    seed: int = 5,
    per_transaction: int = 2000,
) -> list[int]:
    """`count` open groups of one question each, with the simulator's questions and
    viewers; deadlines as given (else 3 minutes after a first ask in the last minute).
    Returns their ids in creation order."""
    rng = random.Random(seed)
    now = timezone.now()
    ids: list[int] = []
    for start in range(0, count, per_transaction):
        groups, askers = [], []
        for number in range(start, min(count, start + per_transaction)):
            kind = rng.choice(list(QUESTIONS))
            link = rng.choice(PRODUCTS).link
            # Each group its own question: the same words would have been one group.
            text = f"{rng.choice(QUESTIONS[kind]).format(n=link)} ({number})"
            asked = now - timedelta(seconds=rng.uniform(0, 60))
            deadline = deadlines[number] if deadlines is not None else asked + timedelta(minutes=3)
            groups.append(
                QuestionGroup(
                    stream=stream,
                    category=CATEGORY_OF[kind],
                    language="zh",
                    link_number=link,
                    signature=f"bench {RUN} {number}",
                    text=text,
                    count=1,
                    first_asked_at=asked,
                    last_asked_at=asked,
                    deadline=deadline,
                    status=GroupStatus.OPEN,
                )
            )
            viewer = rng.randrange(1, 50_000)
            askers.append((f"u{viewer}", f"{rng.choice(NAMES)}{viewer % 100}", text, asked))
        with transaction.atomic():
            QuestionGroup.objects.bulk_create(groups)
            Question.objects.bulk_create(
                Question(
                    stream=stream,
                    group=group,
                    user_id=user_id,
                    user_name=user_name,
                    text=text,
                    asked_at=asked,
                )
                for group, (user_id, user_name, text, asked) in zip(groups, askers, strict=True)
            )
        ids += [group.pk for group in groups]
    return ids


def settle(*more: type) -> None:
    """VACUUM and ANALYZE the support tables, as autovacuum would between a burst of writes
    and the queries after it.

    This machine's PostgreSQL runs with autovacuum off (a CI setting), so without this the
    planner would plan for tables as they were before the fixtures went in, and read past
    the dead rows of earlier runs.
    """
    tables = ", ".join(
        model._meta.db_table for model in (QuestionGroup, Question, Agent, CrewAssignment, *more)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {tables}")
