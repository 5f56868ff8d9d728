"""Per-process fan-out of a stream's events to the websockets open on it.

Each web process keeps one `StreamFeed` per stream that has sockets open, and the feed is the
only member of the stream's channel-layer group in that process. A broadcast therefore costs
one Redis message per process, not one per socket, and a frame is encoded once per batch
however many screens watch. Work that concerns the stream rather than a socket is done once
per feed too: putting late or lost doorbells back in order, and the periodic heartbeat
(the log's head, and who may still watch).

Batching adapts to load: when a stream is quiet an event goes out the moment it arrives;
when it is busy, events that arrive within `MCN_WS_BATCH_SECONDS` of the previous frame are
coalesced into the next one. A few hundred sockets at a few hundred events per second then
cost a few thousand frames per second instead of tens of thousands.

Doorbells can arrive out of order (two workers commit to one stream and publish in the
other order) or not at all (the channel layer drops messages by design). The feed delivers
only contiguous runs of ids: it holds a run that starts after a gap for up to
`GAP_HOLD_SECONDS`, and if the missing doorbell has not come by then, reads the gap from the
log once for all its sockets.
"""

import asyncio
import functools
import json
import logging
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections

from . import eventlog, selectors, services

logger = logging.getLogger(__name__)

GAP_HOLD_SECONDS = 0.1
REPAIR_PAGE = 5000
START_TIMEOUT_SECONDS = 10.0


# Threads for the sockets' reads, shared by every event loop in the process, so that their
# database connections live as long as the threads do and go back to the pool after each
# call.
_readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="socket-reads")


def read_db(function):
    """Run a read-only ORM function off the event loop, on the sockets' reader threads.

    Not in the one thread that thread-sensitive calls share: after a network blip every
    screen reconnects at once, and one screen's catch-up must not wait for all the others'.
    """

    @functools.wraps(function)
    def read(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            # Back to the pool now, not when the connection is next judged obsolete.
            connections.close_all()

    return database_sync_to_async(read, thread_sensitive=False, executor=_readers)


@dataclass(frozen=True)
class Batch:
    """Events in id order without gaps, with the frame that carries them already encoded."""

    events: list[dict[str, Any]]
    frame: str


@dataclass(frozen=True)
class Heartbeat:
    """The feed has delivered everything up to `head`; `allowed` says if the socket may stay."""

    head: int
    allowed: bool


class Subscriber(Protocol):
    # Who the socket belongs to, for the heartbeat's access check (see selectors).
    access_key: Hashable

    def deliver(self, item: Batch | Heartbeat) -> None: ...


def encode_events_frame(events: list[dict[str, Any]]) -> str:
    return json.dumps(
        {"frame": "events", "events": events}, ensure_ascii=False, separators=(",", ":")
    )


class StreamFeed:
    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id
        self.subscribers: set[Subscriber] = set()
        self.layer = get_channel_layer()
        self.group = eventlog.group_name(stream_id)
        self.channel_name: str | None = None
        self.start_position = 0
        self.last_id = 0
        self.pending: dict[int, dict[str, Any]] = {}
        self.gap_since: float | None = None
        self.holding = False
        self.repairing = False
        self.flush_handle: asyncio.TimerHandle | None = None
        self.last_flush = 0.0
        self.batch_seconds = settings.MCN_WS_BATCH_SECONDS
        self.heartbeat_seconds = settings.MCN_WS_HEARTBEAT_SECONDS
        self.tasks: set[asyncio.Task] = set()
        self.ready = asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        self.channel_name = await self.layer.new_channel(prefix="feed.")
        try:
            await self.layer.group_add(self.group, self.channel_name)
            # Read after joining: anything committed since is either in the log below this
            # head or on its way as a doorbell.
            self.start_position = self.last_id = await read_db(eventlog.head)(self.stream_id)
        except BaseException:
            await self._leave_group()
            raise
        self._spawn(self._receive_loop())
        self._spawn(self._heartbeat_loop())

    async def _leave_group(self) -> None:
        try:
            await self.layer.group_discard(self.group, self.channel_name)
        except Exception:
            logger.warning("leaving %s failed", self.group, exc_info=True)

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        if self.flush_handle is not None:
            self.flush_handle.cancel()
        self.ready.cancel()
        tasks = [self.ready, *self.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.channel_name is not None:
            await self._leave_group()

    # --- doorbells ---------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        backoff = 0.5
        while True:
            try:
                message = await self.layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The heartbeat keeps sockets current from the log while Redis is away.
                logger.warning(
                    "feed for stream %s lost the channel layer", self.stream_id, exc_info=True
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            if message.get("type") == "stream.events":
                self._on_events(message["events"])

    def _on_events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            if event["id"] > self.last_id:
                self.pending[event["id"]] = event
        if self.holding and self.last_id + 1 in self.pending:
            # The late doorbell came: no need to wait out the hold.
            self.flush_handle.cancel()
            self.flush_handle = None
            self.holding = False
        self._schedule_flush()

    def _schedule_flush(self, at_least_in: float = 0.0) -> None:
        if self.flush_handle is not None:
            return
        loop = asyncio.get_running_loop()
        wait = max(at_least_in, self.last_flush + self.batch_seconds - loop.time())
        if wait <= 0:
            self._flush()
        else:
            self.flush_handle = loop.call_later(wait, self._flush)

    def _flush(self) -> None:
        self.flush_handle = None
        self.holding = False
        now = asyncio.get_running_loop().time()
        self.last_flush = now
        ready = []
        while self.last_id + 1 in self.pending:
            self.last_id += 1
            ready.append(self.pending.pop(self.last_id))
        if ready:
            self._deliver_events(ready)
            self.gap_since = None  # any gap left is a new one, with a hold of its own
        if not self.pending:
            self.gap_since = None
            return
        # Events after a gap: wait a moment for the late doorbell, then read the log.
        if self.gap_since is None:
            self.gap_since = now
        if now - self.gap_since >= GAP_HOLD_SECONDS:
            self._repair()
        else:
            self._schedule_flush(at_least_in=self.gap_since + GAP_HOLD_SECONDS - now)
            self.holding = True

    def _repair(self) -> None:
        if not self.repairing:
            self.repairing = True
            self._spawn(self._read_log())

    async def _read_log(self) -> None:
        """Deliver what the log holds after the feed's last id; once for every socket."""
        try:
            while True:
                events = await read_db(eventlog.read_after)(
                    self.stream_id, self.last_id, limit=REPAIR_PAGE
                )
                if events and events[0]["id"] > self.last_id + 1:
                    # Pruned by retention before this feed saw them; sockets that need
                    # them get a resync when they reconnect.
                    logger.warning(
                        "feed for stream %s skipped pruned events %s to %s",
                        self.stream_id,
                        self.last_id + 1,
                        events[0]["id"] - 1,
                    )
                    self.last_id = events[0]["id"] - 1
                for event in events:
                    if event["id"] > self.last_id:
                        self.pending.setdefault(event["id"], event)
                if self.flush_handle is not None:
                    self.flush_handle.cancel()
                    self.flush_handle = None
                self.gap_since = None
                self._flush()
                if len(events) < REPAIR_PAGE:
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning(
                "feed for stream %s could not read the log", self.stream_id, exc_info=True
            )
        finally:
            self.repairing = False

    def _deliver_events(self, events: list[dict[str, Any]]) -> None:
        if not self.subscribers:
            return
        batch = Batch(events=events, frame=encode_events_frame(events))
        for subscriber in list(self.subscribers):
            subscriber.deliver(batch)

    # --- heartbeat -----------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await self._heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("heartbeat for stream %s failed", self.stream_id, exc_info=True)

    async def _heartbeat(self) -> None:
        head = await read_db(eventlog.head)(self.stream_id)
        if head > self.last_id and not self.repairing:
            # A doorbell was lost; nothing else would have told us.
            self.repairing = True
            await self._read_log()
        subscribers = list(self.subscribers)
        allowed = await read_db(selectors.socket_access_still_valid)(
            self.stream_id, {subscriber.access_key for subscriber in subscribers}
        )
        for subscriber in subscribers:
            subscriber.deliver(
                Heartbeat(head=self.last_id, allowed=subscriber.access_key in allowed)
            )
        screens = [key[1] for key in allowed if key[0] == "screen"]
        if screens:
            await database_sync_to_async(services.screen_tokens_seen)(token_ids=screens)
        # Group membership expires in some channel layers; joining again renews it.
        await self.layer.group_add(self.group, self.channel_name)


_feeds: dict[tuple[asyncio.AbstractEventLoop, int], StreamFeed] = {}


async def join(stream_id: int, subscriber: Subscriber) -> int:
    """Start receiving a stream's batches and heartbeats; returns the position joined at.

    Every event after that id will come through `deliver`; the subscriber reads anything it
    needs up to it from the log itself.
    """
    key = (asyncio.get_running_loop(), stream_id)
    feed = _feeds.get(key)
    if feed is None:
        feed = _feeds[key] = StreamFeed(stream_id)
    feed.subscribers.add(subscriber)
    if feed.ready.done() and not feed.ready.cancelled() and feed.ready.exception() is None:
        # Read with no await since joining: later batches all reach this subscriber.
        return feed.last_id
    try:
        await asyncio.wait_for(asyncio.shield(feed.ready), START_TIMEOUT_SECONDS)
    except BaseException:
        feed.subscribers.discard(subscriber)
        if not feed.subscribers and _feeds.get(key) is feed:
            del _feeds[key]
            asyncio.get_running_loop().create_task(feed.stop())
        raise
    # The feed started while this subscriber waited: its batches began after the head the
    # feed read at start, even if some went out before this coroutine resumed.
    return feed.start_position


async def leave(stream_id: int, subscriber: Subscriber) -> None:
    key = (asyncio.get_running_loop(), stream_id)
    feed = _feeds.get(key)
    if feed is None:
        return
    feed.subscribers.discard(subscriber)
    if not feed.subscribers:
        del _feeds[key]
        await feed.stop()
