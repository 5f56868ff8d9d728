"""Per-process fan-out of a stream's events to the websockets open on it.

Each web process keeps one `StreamFeed` per stream that has sockets open, and the feed is the
only member of the stream's channel-layer group in that process. A broadcast therefore costs
one Redis message per process, not one per socket, and a frame is encoded once per batch
however many screens watch.

Batching adapts to load: when a stream is quiet an event goes out the moment it arrives;
when it is busy, events that arrive within `MCN_WS_BATCH_SECONDS` of the previous frame are
coalesced into the next one. A few hundred sockets at a few hundred events per second then
cost a few thousand frames per second instead of tens of thousands.
"""

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from . import eventlog

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    """Events in id order, with the frame that carries them already encoded."""

    events: list[dict[str, Any]]
    frame: str


@dataclass(frozen=True)
class Heartbeat:
    """The stream's head as the database has it, sent to every socket periodically."""

    head: int


class Subscriber(Protocol):
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
        self.pending: list[dict[str, Any]] = []
        self.flush_handle: asyncio.TimerHandle | None = None
        self.last_flush = 0.0
        self.batch_seconds = settings.MCN_WS_BATCH_SECONDS
        self.heartbeat_seconds = settings.MCN_WS_HEARTBEAT_SECONDS
        self.tasks: list[asyncio.Task] = []
        self.ready = asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        self.channel_name = await self.layer.new_channel(prefix="feed.")
        await self.layer.group_add(self.group, self.channel_name)
        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(self._receive_loop()),
            loop.create_task(self._heartbeat_loop()),
        ]

    async def stop(self) -> None:
        if self.flush_handle is not None:
            self.flush_handle.cancel()
        self.ready.cancel()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(self.ready, *self.tasks, return_exceptions=True)
        if self.channel_name is not None:
            try:
                await self.layer.group_discard(self.group, self.channel_name)
            except Exception:
                logger.warning("leaving %s failed", self.group, exc_info=True)

    async def _receive_loop(self) -> None:
        backoff = 0.5
        while True:
            try:
                message = await self.layer.receive(self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Sockets keep up through the heartbeat's catch-up while Redis is away.
                logger.warning(
                    "feed for stream %s lost the channel layer", self.stream_id, exc_info=True
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            if message.get("type") == "stream.events":
                self._on_events(message["events"])

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                head = await database_sync_to_async(eventlog.head)(self.stream_id)
                # Group membership expires in some layers; joining again renews it.
                await self.layer.group_add(self.group, self.channel_name)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("heartbeat for stream %s failed", self.stream_id, exc_info=True)
                continue
            for subscriber in list(self.subscribers):
                subscriber.deliver(Heartbeat(head))

    def _on_events(self, events: list[dict[str, Any]]) -> None:
        self.pending.extend(events)
        if self.flush_handle is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self.last_flush + self.batch_seconds - loop.time()
        if wait <= 0:
            self._flush()
        else:
            self.flush_handle = loop.call_later(wait, self._flush)

    def _flush(self) -> None:
        self.flush_handle = None
        self.last_flush = asyncio.get_running_loop().time()
        events = sorted(self.pending, key=lambda event: event["id"])
        self.pending = []
        if not events or not self.subscribers:
            return
        batch = Batch(events=events, frame=encode_events_frame(events))
        for subscriber in list(self.subscribers):
            subscriber.deliver(batch)


_feeds: dict[tuple[asyncio.AbstractEventLoop, int], StreamFeed] = {}


async def join(stream_id: int, subscriber: Subscriber) -> None:
    """Start receiving a stream's batches and heartbeats on this process's feed."""
    key = (asyncio.get_running_loop(), stream_id)
    feed = _feeds.get(key)
    if feed is None:
        feed = _feeds[key] = StreamFeed(stream_id)
    feed.subscribers.add(subscriber)
    try:
        await asyncio.shield(feed.ready)
    except Exception:
        feed.subscribers.discard(subscriber)
        if _feeds.get(key) is feed:
            del _feeds[key]
        raise


async def leave(stream_id: int, subscriber: Subscriber) -> None:
    key = (asyncio.get_running_loop(), stream_id)
    feed = _feeds.get(key)
    if feed is None:
        return
    feed.subscribers.discard(subscriber)
    if not feed.subscribers:
        del _feeds[key]
        await feed.stop()
