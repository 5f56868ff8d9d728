"""A studio, a channel and a live stream per benchmark, made through the rooms services.

Names carry a run id: the bench database keeps earlier runs, and each benchmark must have
the only live stream on its channel so that ingest routes every event to it.
"""

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from rooms import eventlog, services
from rooms.eventlog import NewEvent
from rooms.models import Channel, Platform, Role, Stream, StreamStatus, Studio, User

from .traffic import comment_event_data

RUN = uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class World:
    studio: Studio
    channel: Channel
    secret: str
    stream: Stream

    def screen_token(self) -> str:
        return services.screen_token_issue(
            actor=None, studio=self.studio, name="bench wall screen", ttl=timedelta(hours=6)
        )


def world(name: str, *, members: list[User] = ()) -> World:
    label = f"bench-{RUN}-{name}"
    studio = services.studio_create(
        actor=None, name=label, time_zone="Asia/Shanghai", members=members
    )
    channel, secret = services.channel_create(
        actor=None,
        key=label,
        name=label,
        platform=Platform.DOUYIN,
        currency="CNY",
        time_zone="Asia/Shanghai",
    )
    now = timezone.now()
    stream = services.stream_create(
        actor=None,
        channel=channel,
        studio=studio,
        title=f"Bench {name} {RUN}",
        planned_start=now - timedelta(minutes=5),
        planned_end=now + timedelta(hours=3),
        status=StreamStatus.SCHEDULED,
    )
    stream = services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE)
    return World(studio=studio, channel=channel, secret=secret, stream=stream)


def member(name: str) -> User:
    return services.user_create(
        username=f"bench-{RUN}-{name}", password=uuid.uuid4().hex, roles=[Role.VIEWER]
    )


def fill_log(stream_id: int, count: int, *, per_transaction: int = 1000) -> int:
    """Append `count` comment events to a stream's log; returns the new head."""
    rng = random.Random(11)
    for start in range(0, count, per_transaction):
        size = min(per_transaction, count - start)
        with transaction.atomic():
            eventlog.append(
                stream_id,
                [NewEvent("comment", "received", comment_event_data(rng)) for _ in range(size)],
            )
    return eventlog.head(stream_id)
