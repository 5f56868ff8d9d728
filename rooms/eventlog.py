"""The real-time spine: a durable, gapless, per-stream event log, broadcast after commit.

Every change a screen must see is appended here by a service, inside the service's
transaction. Ids are allocated from the stream's `EventLogHead` row, whose lock is held until
commit, so a stream's ids are contiguous and become visible in id order. The broadcast that
follows the commit is only a doorbell: the channel layer may drop it, and websocket clients
fill any gap from this log (see `rooms.consumers`).

Every writer of a stream's log queues on its head row, so how long each holds it bounds how
many changes a second the stream can take. The events a transaction appends are therefore
held and written as it commits, in one message with the COMMIT (`commit_held`, called by
this project's database backend, `rooms.backend`): the head is locked only while the
database writes the rows and the commit, never while the application, on a busy machine,
waits for its turn to run between the two. A stream taking hundreds of claims and answers
a second measured half as fast when its writers held the head across that wait.
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

import psycopg
from channels.layers import get_channel_layer
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
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

    Only services call this. The events are written as the transaction commits (see above),
    or, for an event whose data must be computed with the head locked, at once: the head
    row then stays locked until the transaction ends, so append those late and keep the
    transaction short. Returns a list that holds the payloads once they are written (at
    once, or when the transaction has committed). Inside a `deferred()` block the events
    are held until the block ends, and the list stays empty.
    """
    if not events:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("eventlog.append must run inside the service's transaction")
    held = getattr(_local, "deferred", None)
    if held:
        held[-1].setdefault(stream_id, []).extend(events)
        return []
    return _write_or_hold(stream_id, events)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold the appends made inside the block and hand them on as the block ends.

    For a service that does a lot of work in one transaction (dispatching a batch of platform
    events): each stream's events go in one statement, streams in id order, and a stream
    whose events must be computed with its head locked (its live tiles) is locked only for
    the last moments of the transaction. A block that raises hands on nothing; a nested
    block hands its events to the enclosing one.

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
        _write_or_hold(stream_id, held[stream_id])


@dataclass
class _Held:
    """Events appended to one stream in a transaction and held for its commit."""

    savepoints: set  # the transaction's savepoint ids when appended (`discard_held`)
    stream_id: int
    events: list[NewEvent]
    texts: list[str]  # their data as JSON, made when appended: a commit must not fail on it
    written: list[dict[str, Any]]  # what `append` returned, filled once written


def _write_or_hold(stream_id: int, events: Sequence[NewEvent]) -> list[dict[str, Any]]:
    waiting = getattr(connection, "eventlog_held", None)
    if (
        waiting is None  # another database backend: no commit to ride along with
        or connection.atomic_blocks[0]._from_testcase  # a test's transaction, never committed
    ):
        return _write(stream_id, events)
    if any(callable(event.data) for event in events):
        # Written now, holding the head to the end of the transaction. What is held for
        # this stream and those before it is written first, so that heads are still locked
        # in id order (the rest at commit) and the stream's events stay in append order.
        earlier = [held for held in waiting if held.stream_id <= stream_id]
        waiting[:] = [held for held in waiting if held.stream_id > stream_id]
        for earlier_id in sorted({held.stream_id for held in earlier}):
            _write_held(earlier_id, [held for held in earlier if held.stream_id == earlier_id])
        return _write(stream_id, events)
    written: list[dict[str, Any]] = []
    texts = [json.dumps(event.data) for event in events]
    waiting.append(_Held(set(connection.savepoint_ids), stream_id, list(events), texts, written))
    return written


def _write_held(stream_id: int, held: list[_Held]) -> None:
    payloads = _write(
        stream_id,
        [event for entry in held for event in entry.events],
        texts=[text for entry in held for text in entry.texts],
    )
    _fill(held, payloads)


def _fill(held: list[_Held], payloads: list[dict[str, Any]]) -> None:
    """Hand each `append` call its events' payloads, in the order they were appended."""
    rest = iter(payloads)
    for entry in held:
        entry.written.extend(next(rest) for _event in entry.events)


def _write(
    stream_id: int, events: Sequence[NewEvent], texts: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Write the events now (their data as JSON `texts` if already made)."""
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
        if texts is None:
            texts = [json.dumps(data) for data in datas]
        first_seq, at = min(
            prepared.execute(_ALLOCATE_AND_INSERT, _insert_params(stream_id, events, texts))
        )
    payloads = _payloads(stream_id, first_seq, at, events, datas)
    transaction.on_commit(lambda: broadcast(stream_id, payloads), robust=True)
    return payloads


def _payloads(
    stream_id: int, first_seq: int, at: datetime, events: Sequence[NewEvent], datas: list
) -> list[dict[str, Any]]:
    return [
        event_payload(
            stream_id=stream_id, seq=first_seq + i, type=e.type, op=e.op, at=at, data=data
        )
        for i, (e, data) in enumerate(zip(events, datas, strict=True))
    ]


# The commit that releases the heads does not wait for its WAL to reach the disk; a
# statement right after it, in its own transaction, does, and that WAL comes after the
# commit's (`pg_logical_emit_message` writes a record in any wal_level; a transaction that
# wrote none would not wait). So the heads are held for the rows' write alone, and nobody
# is told of the commit - the service returns, the doorbell rings - before it is on disk:
# any later commit that read these rows reaches the disk after them. What other sessions
# read in that moment (a screen catching up from the log), a crash of the database could
# take back, and the ids would then be issued again: as after a failover to a standby that
# had not yet received the last commits. If the wait itself fails (the connection or the
# server went away), whether the commit stands is unknown, as when a COMMIT's reply is lost,
# and the caller gets the error.
_COMMIT_UNFLUSHED = "SET LOCAL synchronous_commit TO off"
# Held events whose data comes to at most this much JSON go in the commit's message.
ONE_MESSAGE_BYTES = 16_384
_FLUSHED = "SELECT pg_logical_emit_message(true, 'mcn-console', '')"


def commit_held(wrapper: Any) -> None:
    """Commit the transaction on the database connection `wrapper` (Django's), writing the
    events held for it in the same message, then broadcast them.

    Streams in id order, as every writer locks heads. The rows, the COMMIT and the wait for
    the disk reach the server as one message of several statements, parameters bound here,
    so the server releases the heads as soon as it has written the rows and the commit,
    whatever the application's thread does meanwhile. An error from a write or from the
    commit leaves the transaction to be rolled back, as any failed commit.
    """
    held, wrapper.eventlog_held = wrapper.eventlog_held, []
    by_stream: dict[int, list[_Held]] = {}
    for entry in held:
        by_stream.setdefault(entry.stream_id, []).append(entry)
    order = sorted(by_stream)
    params = [
        _insert_params(
            stream_id,
            [event for entry in by_stream[stream_id] for event in entry.events],
            [text for entry in by_stream[stream_id] for text in entry.texts],
        )
        for stream_id in order
    ]
    size = sum(len(text) for entry in held for text in entry.texts)
    with psycopg.ClientCursor(wrapper.connection) as cursor:
        if size <= ONE_MESSAGE_BYTES:
            inserts = [_bound(_ALLOCATE_AND_INSERT, p, wrapper) for p in params]
        else:
            # A batch (an ingest dispatch) is written by the prepared statement, its data
            # sent in binary: as a literal, the database would parse it all, and the heads
            # are held across one round trip more.
            firsts = [
                min(prepared.execute(_ALLOCATE_AND_INSERT, p, wrapper=wrapper)) for p in params
            ]
            inserts = []
        cursor.execute(";\n".join([_COMMIT_UNFLUSHED, *inserts, "COMMIT", _FLUSHED]))
        if inserts:
            firsts = []
            for _stream_id in order:
                cursor.nextset()  # past SET LOCAL, then each stream's insert in turn
                firsts.append(min(cursor.fetchall()))
    for stream_id, (first_seq, at) in zip(order, firsts, strict=True):
        entries = by_stream[stream_id]
        events = [event for entry in entries for event in entry.events]
        payloads = _payloads(stream_id, first_seq, at, events, [event.data for event in events])
        _fill(entries, payloads)
        _broadcast_committed(stream_id, payloads)


_OPEN = (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR)
# The functions `commit_alone` calls count and check after locking, and need each statement
# to see what committed before it: READ COMMITTED, whatever the session's default.
_BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED"


def _rollback_if_open(raw: psycopg.Connection) -> None:
    """End the transaction a failed message left open (the statements after the failure did
    not run), without hiding the failure."""
    if raw.info.transaction_status in _OPEN:
        try:
            raw.execute("ROLLBACK")
        except psycopg.Error:
            logger.exception("rolling back a failed change made alone failed")


def commit_alone(
    call: str, params: dict[str, Any], stream_id: int, events: Sequence[NewEvent]
) -> list[dict[str, Any]] | None:
    """Run `call`, outside any transaction, as a transaction of its own committed in the
    same message, as `commit_held` commits; broadcast its events. Returns their payloads,
    or None when the call changed nothing.

    `call` selects from a database function that makes one change and, only if it made
    it, writes the stream's events by `rooms_eventlog_write`, given the placeholders
    `%(stream)s`, `%(types)s`, `%(ops)s` and `%(datas)s` (filled here from `events`),
    returning its rows. One round trip, where a transaction takes four or more: for a
    change made hundreds of times a second, whose events the caller can compose before
    making it.
    """
    db = connections[DEFAULT_DB_ALIAS]  # the proxy `connection` looks it up on every use
    if db.in_atomic_block:
        raise RuntimeError("eventlog.commit_alone runs outside any transaction")
    if not events:
        raise ValueError("eventlog.commit_alone needs the events that say what changed")
    texts = [json.dumps(event.data) for event in events]
    db.ensure_connection()
    raw = db.connection
    with db.wrap_database_errors, psycopg.ClientCursor(raw) as cursor:
        statement = _bound(call, {**params, **_insert_params(stream_id, events, texts)}, db)
        try:
            cursor.execute(";\n".join([_BEGIN, _COMMIT_UNFLUSHED, statement, "COMMIT", _FLUSHED]))
        finally:
            _rollback_if_open(raw)
        cursor.nextset()  # past BEGIN
        cursor.nextset()  # and SET LOCAL
        rows = cursor.fetchall()
    if not rows:
        return None
    first_seq, at = min(rows)
    payloads = _payloads(stream_id, first_seq, at, events, [event.data for event in events])
    _broadcast_committed(stream_id, payloads)
    return payloads


def _broadcast_committed(stream_id: int, payloads: list[dict[str, Any]]) -> None:
    """Ring for events this module has just committed itself (not through Django, whose
    `on_commit` hooks ring for the rest): the commit stands whatever the doorbell does."""
    try:
        broadcast(stream_id, payloads)
    except Exception:
        logger.exception("event broadcast to stream %s failed", stream_id)


def _bound(sql: str, params: dict[str, Any], wrapper: Any) -> str:
    """`sql` with its parameters bound as literals, for a message of several statements."""
    query = prepared.encoded(sql)
    return prepared.kept_cursor(query, psycopg.ClientCursor, wrapper=wrapper).mogrify(query, params)


def discard_held(wrapper: Any, savepoint: str | None = None) -> None:
    """Forget the events held on `wrapper`: all of them (a rollback), or those appended
    since `savepoint` was taken (a rollback to it)."""
    if savepoint is None:
        wrapper.eventlog_held = []
    else:
        wrapper.eventlog_held = [
            entry for entry in wrapper.eventlog_held if savepoint not in entry.savepoints
        ]


# Ids and the rows are written by functions in the database (migration rooms 0010), whose
# plans each connection keeps: `rooms_eventlog_allocate` takes `count` ids from the head row,
# returning the last; `rooms_eventlog_write` takes ids for the events and inserts them,
# returning each one's id and the time they were stamped with, read from the clock once the
# head row is locked.
_ALLOCATE = "SELECT rooms_eventlog_allocate(%(stream)s::bigint, %(count)s::bigint)"

_ALLOCATE_AND_INSERT = (
    "SELECT seq, at FROM rooms_eventlog_write("
    "%(stream)s::bigint, %(types)s::text[], %(ops)s::text[], %(datas)s::text[])"
)


def _allocate(stream_id: int, count: int) -> int:
    """Lock the stream's head row and take `count` ids; returns the first."""
    [(last_seq,)] = prepared.execute(_ALLOCATE, {"stream": stream_id, "count": count})
    return last_seq - count + 1


def _insert_params(
    stream_id: int, events: Sequence[NewEvent], texts: Sequence[str]
) -> dict[str, Any]:
    """`_ALLOCATE_AND_INSERT`'s parameters, the events' data given as JSON `texts`."""
    return {
        "stream": stream_id,
        "types": [event.type for event in events],
        "ops": [event.op for event in events],
        "datas": list(texts),
    }


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
    _publisher().send(group_name(stream_id), payloads)


class _Publisher:
    """Rings doorbells from sync code through one long-lived event loop per process.

    The committing thread only leaves the message on a list: a slow or absent Redis must
    not hold up a request or a dispatch, since a lost doorbell costs a screen at most one
    heartbeat. One sender task takes everything waiting at once and sends one message per
    stream, its events in the order they were left (this process's commit order): a busy
    stream's hundred commits a second become a few messages, not a hundred publishes and
    a hundred loop wake-ups. (`async_to_sync` would also open a Redis connection per call
    from a Celery worker or a management command.)
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.lock = threading.Lock()
        self.waiting: list[tuple[str, list[dict[str, Any]]]] = []
        self.woken = False  # the sender has been told to look, and has not looked yet
        self.ready: asyncio.Event | None = None
        started = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(started,), name="event-broadcast", daemon=True
        )
        self.thread.start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.ready = asyncio.Event()
        self.loop.create_task(self._sender())
        self.loop.call_soon(started.set)
        self.loop.run_forever()

    def send(self, group: str, events: list[dict[str, Any]]) -> None:
        with self.lock:
            if len(self.waiting) >= BROADCAST_QUEUE_SIZE:
                logger.warning(
                    "doorbell for %s dropped: %d waiting for Redis", group, BROADCAST_QUEUE_SIZE
                )
                return
            self.waiting.append((group, events))
            if self.woken:
                return
            self.woken = True
        self.loop.call_soon_threadsafe(self.ready.set)

    def _take_waiting(self) -> dict[str, list[dict[str, Any]]]:
        """Everything left since the last look, one list of events per group."""
        with self.lock:
            waiting, self.waiting, self.woken = self.waiting, [], False
        merged: dict[str, list[dict[str, Any]]] = {}
        for group, events in waiting:
            merged.setdefault(group, []).extend(events)
        return merged

    async def _sender(self) -> None:
        layer = get_channel_layer()
        while True:
            await self.ready.wait()
            self.ready.clear()
            for group, events in self._take_waiting().items():
                message = {"type": "stream.events", "events": events}
                try:
                    await asyncio.wait_for(
                        layer.group_send(group, message), BROADCAST_TIMEOUT_SECONDS
                    )
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
