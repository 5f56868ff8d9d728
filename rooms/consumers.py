"""`/ws/streams/<id>/events/?after=N`: a stream's event log, live, with catch-up.

Server frames (JSON objects with a "frame" key):
  {"frame": "events", "events": [<event>, ...]}   events in id order, never repeated
  {"frame": "resync", "head": N}                   the log no longer holds what you missed:
                                                    reload your snapshot, reconnect after it
  {"frame": "ping", "head": N}                     every heartbeat; everything up to N is sent
  {"frame": "pong", "head": N}                     answer to a client ping; N is the last id sent
Client frames: {"frame": "ping"}. Mutations go over HTTP, never over this socket.

Close codes: 4001 resync, 4003 access withdrawn, 4008 too slow to keep up: more than
MCN_WS_MAX_BACKLOG events waiting to be sent (reconnect and catch up from the log).
"""

import asyncio
import json
import logging
from collections.abc import Hashable
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import eventlog, fanout, selectors

logger = logging.getLogger(__name__)

CLOSE_RESYNC = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_TOO_SLOW = 4008


class StreamEventsConsumer(AsyncWebsocketConsumer):
    # No per-socket channel-layer channel: the process's StreamFeed receives for everyone.
    channel_layer_alias = None

    async def connect(self) -> None:
        self.stream_id = int(self.scope["url_route"]["kwargs"]["stream_id"])
        self.queue: asyncio.Queue = asyncio.Queue()
        self.backlog = 0
        self.shedding = False
        self.pong_due = False
        self.writer: asyncio.Task | None = None
        self.joined = False
        self.access_key = await self._authorise()
        if self.access_key is None:
            # Closing before accept refuses the handshake (HTTP 403).
            await self.close()
            return
        await self.accept()
        try:
            feed_position = await fanout.join(self.stream_id, self)
        except Exception:
            logger.exception("could not join the feed of stream %s", self.stream_id)
            await self.close(code=1011)
            return
        self.joined = True
        after = _after(self.scope.get("query_string", b""))
        self.writer = asyncio.get_running_loop().create_task(self._write(after, feed_position))

    async def disconnect(self, code: int) -> None:
        if self.writer is not None:
            self.writer.cancel()
        if getattr(self, "joined", False):
            await fanout.leave(self.stream_id, self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if isinstance(message, dict) and message.get("frame") == "ping" and not self.pong_due:
            # One pong owed at a time: a client that pings without reading gains nothing.
            self.pong_due = True
            self.queue.put_nowait(("pong", None))

    # --- fed by the process's StreamFeed -------------------------------------------------

    def deliver(self, item: fanout.Batch | fanout.Heartbeat) -> None:
        if self.shedding:
            return
        if isinstance(item, fanout.Batch):
            self.backlog += len(item.events)
            if self.backlog > settings.MCN_WS_MAX_BACKLOG:
                self._shed()
                return
        self.queue.put_nowait(("item", item))

    def _shed(self) -> None:
        """Drop a socket that cannot drain, at once: it must not hold the process's memory or
        its feed's time. It will reconnect and catch up from the log at its own pace."""
        self.shedding = True
        if self.writer is not None:
            self.writer.cancel()
        self.queue = asyncio.Queue()
        asyncio.get_running_loop().create_task(self._close_too_slow())

    async def _close_too_slow(self) -> None:
        await fanout.leave(self.stream_id, self)
        self.joined = False
        await self.close(code=CLOSE_TOO_SLOW)

    # --- the one task that writes to this socket -----------------------------------------

    async def _write(self, after: int | None, feed_position: int) -> None:
        try:
            if after is None:
                self.last_id = feed_position
            else:
                resumable, head = await fanout.read_db(eventlog.can_resume)(self.stream_id, after)
                if not resumable:
                    raise _Resync(head)
                self.last_id = after
                await self._catch_up()
            while True:
                kind, item = await self.queue.get()
                if kind == "pong":
                    self.pong_due = False
                    await self._send({"frame": "pong", "head": self.last_id})
                elif isinstance(item, fanout.Batch):
                    self.backlog -= len(item.events)
                    await self._relay(item)
                elif not item.allowed:
                    await self.close(code=CLOSE_FORBIDDEN)
                    return
                else:
                    if item.head > self.last_id:
                        await self._catch_up()
                    await self._send({"frame": "ping", "head": self.last_id})
        except asyncio.CancelledError:
            raise
        except _Resync as resync:
            await self._send({"frame": "resync", "head": resync.head})
            await self.close(code=CLOSE_RESYNC)
        except OSError:
            # The client went away mid-send; its disconnect will follow.
            return
        except Exception:
            logger.exception("event socket for stream %s failed", self.stream_id)
            await self.close(code=1011)

    async def _relay(self, batch: fanout.Batch) -> None:
        events = batch.events
        if events[-1]["id"] <= self.last_id:
            return
        if events[0]["id"] == self.last_id + 1:
            await self.send(text_data=batch.frame)
            self.last_id = events[-1]["id"]
        elif events[0]["id"] <= self.last_id:
            rest = [event for event in events if event["id"] > self.last_id]
            await self.send(text_data=fanout.encode_events_frame(rest))
            self.last_id = rest[-1]["id"]
        else:
            # Behind the feed (still catching up, or a batch was shed): the log has it all.
            await self._catch_up()

    async def _catch_up(self) -> None:
        page = settings.MCN_WS_CATCHUP_PAGE
        while True:
            events = await fanout.read_db(eventlog.read_after)(
                self.stream_id, self.last_id, limit=page
            )
            if events and events[0]["id"] != self.last_id + 1:
                # Pruned while this socket was behind: never send a gap.
                raise _Resync(events[-1]["id"])
            if events:
                await self.send(text_data=fanout.encode_events_frame(events))
                self.last_id = events[-1]["id"]
            if len(events) < page:
                return

    async def _send(self, frame: dict) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    # --- access --------------------------------------------------------------------------

    async def _authorise(self) -> Hashable | None:
        """The socket's access key if it may watch this stream (see selectors)."""
        screen = self.scope.get("screen")
        if screen is not None:
            stream = await fanout.read_db(selectors.stream_get_for_screen)(screen, self.stream_id)
            if stream:
                return selectors.screen_access_key(screen)
        # A signed-in person on a browser that is also a paired screen (a producer checking
        # the wall on their laptop) watches other studios' streams as themselves.
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            stream = await fanout.read_db(selectors.stream_get_for_user)(user, self.stream_id)
            session = self.scope.get("session")
            key = session.session_key if session is not None else None
            return selectors.session_access_key(user.pk, key) if stream else None
        return None


class _Resync(Exception):
    """The log no longer holds what this socket needs next; `head` is where it stands."""

    def __init__(self, head: int) -> None:
        super().__init__(head)
        self.head = head


def _after(query_string: bytes) -> int | None:
    """The last event id the client holds; None for "from now on"; -1 if unusable."""
    values = parse_qs(query_string.decode(errors="replace")).get("after")
    if not values:
        return None
    try:
        after = int(values[0])
    except ValueError:
        return -1
    return after if after >= 0 else -1
