"""The real-time spine: a durable, gapless, per-stream event log, broadcast after commit.

Every change a screen must see is appended here by a service, inside the service's
transaction. Ids are allocated from the stream's `EventLogHead` row, whose lock is held until
commit, so a stream's ids are contiguous and become visible in id order. The broadcast that
follows the commit is only a doorbell: the channel layer may drop it, and websocket clients
fill any gap from this log (see `rooms.consumers`).
"""

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.db.models import Min, OuterRef, Subquery
from django.utils import timezone

from . import prepared
from .models import EventLogHead, StreamEvent

logger = logging.getLogger(__name__)

BROADCAST_TIMEOUT_SECONDS = 2.0
BROADCAST_QUEUE_SIZE = 10_000

# Appends held by `deferred()` blocks, per thread (services run in sync threads).
_local = threading.local()


@dataclass(frozen=True)
class NewEvent:
    """An event to append. `data` may be a callable, called once the stream's head row is
    locked: for a summary of the stream's state (its live tiles), which must then include
    every change committed before it in the log, whoever made them."""

    type: str
    op: str
    data: dict[str, Any] | Callable[[], dict[str, Any]] = field(default_factory=dict)


def group_name(stream_id: int) -> str:
    return f"stream.{stream_id}"


def event_payload(
    *, stream_id: int, seq: int, type: str, op: str, at: datetime, data: dict
) -> dict[str, Any]:
    """The wire shape of an event, identical over websockets, the API and the log."""
    return {
        "id": seq,
        "stream": stream_id,
        "type": type,
        "op": op,
        "at": at.isoformat(),
        "data": data,
    }


def append(stream_id: int, events: Sequence[NewEvent]) -> list[dict[str, Any]]:
    """Append events to a stream's log in the current transaction; broadcast after commit.

    Only services call this. The stream's head row stays locked until the caller's
    transaction ends, so append late in a transaction and keep that transaction short.
    Inside a `deferred()` block the events are held and written when the block ends, and
    nothing is returned; otherwise the payloads written are returned.
    """
    if not events:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("eventlog.append must run inside the service's transaction")
    held = getattr(_local, "deferred", None)
    if held:
        held[-1].setdefault(stream_id, []).extend(events)
        return []
    return _write(stream_id, events)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold the appends made inside the block and write them as the block ends.

    For a service that does a lot of work in one transaction (dispatching a batch of platform
    events): each stream's events go in one statement, streams in id order, at the end of
    the work, so the head rows are locked only for the last moments of the transaction. A
    block that raises writes nothing; a nested block hands its events to the enclosing one.

    The block must run inside the service's transaction. Held events do not follow
    savepoints: work that may be rolled back to a savepoint inside the block belongs in a
    nested `deferred()` inside that savepoint, as `services.ingest_dispatch` does.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("eventlog.deferred must run inside the service's transaction")
    stack = _local.__dict__.setdefault("deferred", [])
    held: dict[int, list[NewEvent]] = {}
    stack.append(held)
    try:
        yield
    finally:
        stack.pop()
    if not connection.in_atomic_block:
        raise RuntimeError("eventlog.deferred ended outside the transaction it began in")
    if stack:
        for stream_id, events in held.items():
            stack[-1].setdefault(stream_id, []).extend(events)
        return
    for stream_id in sorted(held):
        _write(stream_id, held[stream_id])


def _write(stream_id: int, events: Sequence[NewEvent]) -> list[dict[str, Any]]:
    # Events are stamped once the head is locked, so a later id never has an earlier time
    # (retention prunes by time: it must never drop an event and keep the one before it).
    if any(callable(event.data) for event in events):
        # Data that must see the log's head locked: take the lock first, then compute.
        first_seq = _allocate(stream_id, len(events))
        at = timezone.now()
        datas = [event.data() if callable(event.data) else event.data for event in events]
        StreamEvent.objects.bulk_create(
            StreamEvent(
                stream_id=stream_id, seq=first_seq + i, type=e.type, op=e.op, at=at, data=data
            )
            for i, (e, data) in enumerate(zip(events, datas, strict=True))
        )
    else:
        datas = [event.data for event in events]
        first_seq, at = _allocate_and_insert(stream_id, events)
    payloads = [
        event_payload(
            stream_id=stream_id, seq=first_seq + i, type=e.type, op=e.op, at=at, data=data
        )
        for i, (e, data) in enumerate(zip(events, datas, strict=True))
    ]
    transaction.on_commit(lambda: broadcast(stream_id, payloads), robust=True)
    return payloads


_HEAD = EventLogHead._meta.db_table

# Ids come from a plain UPDATE of the stream's head row, so writers waiting for it queue on
# the row's lock one behind another. (An INSERT … ON CONFLICT DO UPDATE wakes every waiter
# at each commit to try again: with a score of agents claiming on one stream, those retries
# cost PostgreSQL more than the writes.) The INSERT runs only for a stream's first event.
# `head` yields the stream's last id after taking `%(count)s` more.
_HEAD_BUMP = f"""
    bumped AS (
        UPDATE {_HEAD} SET last_seq = last_seq + %(count)s::integer
        WHERE stream_id = %(stream)s::bigint
        RETURNING last_seq
    ),
    created AS (
        INSERT INTO {_HEAD} AS head (stream_id, last_seq)
        SELECT %(stream)s::bigint, %(count)s::integer WHERE NOT EXISTS (SELECT FROM bumped)
        ON CONFLICT (stream_id) DO UPDATE SET last_seq = head.last_seq + EXCLUDED.last_seq
        RETURNING last_seq
    ),
    head AS (SELECT last_seq FROM bumped UNION ALL SELECT last_seq FROM created)
"""


_ALLOCATE = f"WITH {_HEAD_BUMP} SELECT last_seq FROM head"

_ALLOCATE_AND_INSERT = f"""
    WITH {_HEAD_BUMP},
    stamp AS (SELECT last_seq, clock_timestamp() AS at FROM head)
    INSERT INTO {StreamEvent._meta.db_table} (stream_id, seq, type, op, at, data)
    SELECT %(stream)s::bigint, stamp.last_seq - %(count)s::integer + e.n, e.type, e.op,
           stamp.at, e.data::jsonb
    FROM stamp, unnest(%(types)s::text[], %(ops)s::text[], %(datas)s::text[])
        WITH ORDINALITY AS e(type, op, data, n)
    RETURNING seq, at
"""


def _allocate(stream_id: int, count: int) -> int:
    """Lock the stream's head row and take `count` ids; returns the first."""
    [(last_seq,)] = prepared.execute(_ALLOCATE, {"stream": stream_id, "count": count})
    return last_seq - count + 1


def _allocate_and_insert(stream_id: int, events: Sequence[NewEvent]) -> tuple[int, datetime]:
    """`_allocate` and the rows' insert in one statement (one round trip while the head is
    locked, instead of two); returns the first id and the time the events were stamped
    with, read from the clock once the head row is locked."""
    rows = prepared.execute(
        _ALLOCATE_AND_INSERT,
        {
            "stream": stream_id,
            "count": len(events),
            "types": [event.type for event in events],
            "ops": [event.op for event in events],
            "datas": [json.dumps(event.data) for event in events],
        },
    )
    return min(rows)


def read_after(stream_id: int, after: int, *, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` events with id greater than `after`, in id order."""
    rows = (
        StreamEvent.objects.filter(stream_id=stream_id, seq__gt=after)
        .order_by("seq")
        .values_list("seq", "type", "op", "at", "data")[:limit]
    )
    return [
        event_payload(stream_id=stream_id, seq=seq, type=type_, op=op, at=at, data=data)
        for seq, type_, op, at, data in rows
    ]


@dataclass(frozen=True)
class Page:
    """A run of a stream's log for a screen's snapshot: contiguous, or empty with `resync`."""

    events: list[dict[str, Any]]
    head: int
    resync: bool


def page(stream_id: int, after: int, *, limit: int) -> Page:
    """Up to `limit` events after `after`; `resync` if the log no longer holds them all."""
    resumable, last = can_resume(stream_id, after)
    events = read_after(stream_id, after, limit=limit) if resumable else []
    if events and events[0]["id"] != after + 1:  # pruned between the two reads
        return Page(events=[], head=last, resync=True)
    return Page(events=events, head=last, resync=not resumable)


def tail(stream_id: int, *, limit: int) -> Page:
    """The newest `limit` events the log holds, oldest first: a fresh screen's snapshot."""
    rows = list(
        StreamEvent.objects.filter(stream_id=stream_id)
        .order_by("-seq")
        .values_list("seq", "type", "op", "at", "data")[:limit]
    )
    events = [
        event_payload(stream_id=stream_id, seq=seq, type=type_, op=op, at=at, data=data)
        for seq, type_, op, at, data in reversed(rows)
    ]
    return Page(events=events, head=events[-1]["id"] if events else head(stream_id), resync=False)


def head(stream_id: int) -> int:
    """The id of the stream's last event, 0 before the first."""
    return (
        EventLogHead.objects.filter(stream_id=stream_id).values_list("last_seq", flat=True).first()
        or 0
    )


def can_resume(stream_id: int, after: int) -> tuple[bool, int]:
    """Whether the log still holds every event after `after`, and the current head.

    False means the client must reload its snapshot (`resync`): the events it missed were
    pruned, or it holds ids this log never issued (the database was restored or reset).
    """
    last = head(stream_id)
    if after < 0 or after > last:
        return False, last
    if after == last:
        return True, last
    first_held = StreamEvent.objects.filter(stream_id=stream_id).aggregate(first=Min("seq"))[
        "first"
    ]
    return first_held is not None and first_held <= after + 1, last


def prune(*, older_than: timedelta) -> int:
    """Delete events older than the retention window, keeping each stream's newest event.

    Keeping the newest one lets a client that was merely idle resume instead of resyncing.
    """
    cutoff = timezone.now() - older_than
    newest = EventLogHead.objects.filter(stream_id=OuterRef("stream_id")).values("last_seq")
    deleted, _ = StreamEvent.objects.filter(at__lt=cutoff, seq__lt=Subquery(newest)).delete()
    return deleted


def broadcast(stream_id: int, payloads: list[dict[str, Any]]) -> None:
    """Ring the doorbell for a stream's new events. Loss is tolerated by design."""
    _publisher().send(group_name(stream_id), {"type": "stream.events", "events": payloads})


class _Publisher:
    """Rings doorbells from sync code through one long-lived event loop per process.

    The committing thread only queues the message: a slow or absent Redis must not hold up
    a request or a dispatch, since a lost doorbell costs a screen at most one heartbeat.
    One sender task keeps a process's doorbells in commit order. (`async_to_sync` would
    also open a Redis connection per call from a Celery worker or a management command.)
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue | None = None
        started = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(started,), name="event-broadcast", daemon=True
        )
        self.thread.start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.queue = asyncio.Queue(maxsize=BROADCAST_QUEUE_SIZE)
        self.loop.create_task(self._sender())
        self.loop.call_soon(started.set)
        self.loop.run_forever()

    def send(self, group: str, message: dict) -> None:
        self.loop.call_soon_threadsafe(self._enqueue, group, message)

    def _enqueue(self, group: str, message: dict) -> None:
        try:
            self.queue.put_nowait((group, message))
        except asyncio.QueueFull:
            logger.warning(
                "doorbell for %s dropped: %d waiting for Redis", group, BROADCAST_QUEUE_SIZE
            )

    async def _sender(self) -> None:
        layer = get_channel_layer()
        while True:
            group, message = await self.queue.get()
            try:
                await asyncio.wait_for(layer.group_send(group, message), BROADCAST_TIMEOUT_SECONDS)
            except Exception:
                logger.warning(
                    "event broadcast to %s failed; clients will catch up from the log",
                    group,
                    exc_info=True,
                )


_publishers: dict[int, _Publisher] = {}
_publishers_lock = threading.Lock()


def _publisher() -> _Publisher:
    # Keyed by pid: a Celery prefork child must not reuse its parent's loop thread.
    pid = os.getpid()
    with _publishers_lock:
        if pid not in _publishers:
            _publishers[pid] = _Publisher()
        return _publishers[pid]
