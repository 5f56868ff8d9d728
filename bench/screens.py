"""What every benchmark's screens share: a websocket client of a stream's event log that
reconnects after the last id it holds, as the console's own client does.

A subclass sets `url`, `token`, `origin`, `last` (the id it holds), `subscribed` (a future,
set when its first pong proves it caught up) and `reconnects`, and reads frames in
`_receive`.
"""

import asyncio
import contextlib
from collections.abc import Callable

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

CONNECT_CONCURRENCY = 25
FRAMES_KEPT = 1000
MAX_FRAME_BYTES = 64 * 1024 * 1024


class ScreenClient:
    url: str
    token: str
    origin: str
    last: int
    subscribed: asyncio.Future
    reconnects: int

    async def run(self, gate: asyncio.Semaphore) -> None:
        """Stay subscribed until cancelled; a first connection that fails ends the run."""
        while True:
            try:
                # A few handshakes at a time, as screens coming up after a restart would.
                async with gate if not self.subscribed.done() else contextlib.nullcontext():
                    websocket = await connect(
                        f"{self.url}?after={self.last}",
                        origin=self.origin,
                        additional_headers={"Authorization": f"Screen {self.token}"},
                        ping_interval=None,
                        proxy=None,
                        open_timeout=60,
                        max_size=MAX_FRAME_BYTES,
                    )
                # The pong comes after the catch-up: it proves the screen is subscribed.
                await websocket.send('{"frame":"ping"}')
                async with websocket:
                    await self._receive(websocket)
            except (ConnectionClosed, OSError, InvalidStatus, TimeoutError) as exc:
                if not self.subscribed.done():
                    self.subscribed.set_exception(exc)
                    return
                await asyncio.sleep(0.5)
            self.reconnects += 1

    async def _receive(self, websocket) -> None:
        raise NotImplementedError


def once_per_frame(analyse: Callable[[str], object]) -> Callable[[str], object]:
    """`analyse(message)` run once per distinct frame in this process, its result reused.

    The server sends the same frame to every screen that is caught up, and parsing it for
    each of 200 screens here would only take CPU from the server under test (a real screen
    parses on its own machine).
    """
    seen: dict[str, object] = {}

    def analysed(message: str) -> object:
        found = seen.get(message)
        if found is None:
            if len(seen) > FRAMES_KEPT:
                seen.clear()
            found = seen[message] = analyse(message)
        return found

    return analysed
