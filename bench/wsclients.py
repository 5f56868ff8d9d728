"""`python -m bench.wsclients`: many websocket clients of one stream in one asyncio process.

Each client behaves as the console's JS client does: it keeps the last event id it applied
and, if the server closes the socket (too slow, restart), reconnects with `after=<that id>`.
It checks that ids arrive exactly once and in order, and records arrival − publish time for
every event (the publisher puts its wall-clock time in `data.sent`).

Driven over stdin/stdout, one JSON object a line:
  → {"ready": n}                          once every client is subscribed (answered a ping)
  ← {"cmd": "phase"}                      start counting a new phase
  ← {"cmd": "collect", "last": N, "timeout": S}
  → {...}                                 when every client holds N (or on timeout): the
                                          phase's counts and latency histogram
  ← {"cmd": "quit"}
"""

import argparse
import asyncio
import json
import sys
import time
from collections import Counter

import uvloop
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .stats import histogram_bin

CONNECT_CONCURRENCY = 25
MAX_FRAME_BYTES = 64 * 1024 * 1024


class Recorder:
    """The current phase's latencies, shared by the process's clients: a histogram, and
    the worst latency of the events published in each wall-clock second."""

    def __init__(self) -> None:
        self.histogram: Counter = Counter()
        self.worst_by_second: dict[int, float] = {}

    def clear(self) -> None:
        self.histogram.clear()
        self.worst_by_second.clear()

    def record(self, sent: float, latency: float) -> None:
        self.histogram[histogram_bin(latency)] += 1
        second = int(sent)
        if latency > self.worst_by_second.get(second, -1.0):
            self.worst_by_second[second] = latency


class Client:
    def __init__(self, url: str, headers: dict, origin: str, after: int, recorder: Recorder):
        self.url = url
        self.headers = headers
        self.origin = origin
        self.last = after
        self.recorder = recorder
        self.subscribed = asyncio.get_running_loop().create_future()
        self.target: int | None = None
        self.reached: asyncio.Future | None = None
        self.reset()
        self.reconnects = 0
        self.resyncs = 0
        self.closes: Counter = Counter()

    def reset(self) -> None:
        self.received = 0
        self.duplicates = 0
        self.missing = 0
        self.frames = 0

    def await_id(self, target: int) -> asyncio.Future:
        self.target = target
        self.reached = asyncio.get_running_loop().create_future()
        if self.last >= target:
            self.reached.set_result(None)
        return self.reached

    async def run(self, gate: asyncio.Semaphore) -> None:
        """Stay subscribed, reconnecting after the last id held, until cancelled."""
        while True:
            try:
                if self.subscribed.done():
                    websocket = await self._open()
                else:
                    # A few handshakes at a time, as screens coming up after a restart would.
                    async with gate:
                        websocket = await self._open()
                async with websocket:
                    await self._receive(websocket)
            except ConnectionClosed as closed:
                self.closes[str(closed.rcvd.code if closed.rcvd else "none")] += 1
            except (OSError, InvalidStatus, TimeoutError) as exc:
                self.closes[type(exc).__name__] += 1
                if not self.subscribed.done():
                    self.subscribed.set_exception(exc)
                    return
                await asyncio.sleep(0.5)
            else:
                self.closes["clean"] += 1
            self.reconnects += 1

    async def _open(self):
        websocket = await connect(
            f"{self.url}?after={self.last}",
            origin=self.origin,
            additional_headers=self.headers,
            # Offered, as browsers do; the server decides (uvicorn accepts by default).
            compression="deflate",
            max_size=MAX_FRAME_BYTES,
            ping_interval=None,
            proxy=None,
            open_timeout=60,
        )
        # The pong comes back through the socket's writer, so it proves the server has
        # caught this socket up and subscribed it to the stream's feed.
        await websocket.send('{"frame":"ping"}')
        return websocket

    async def _receive(self, websocket) -> None:
        record = self.recorder.record
        async for message in websocket:
            arrived = time.time()
            frame = json.loads(message)
            kind = frame["frame"]
            if kind == "events":
                self.frames += 1
                for event in frame["events"]:
                    seq = event["id"]
                    if seq <= self.last:
                        self.duplicates += 1
                        continue
                    self.missing += seq - self.last - 1
                    self.last = seq
                    self.received += 1
                    sent = event["data"]["sent"]
                    record(sent, arrived - sent)
                reached = self.reached
                if reached is not None and not reached.done() and self.last >= self.target:
                    reached.set_result(None)
            elif kind == "pong":
                if not self.subscribed.done():
                    self.subscribed.set_result(None)
            elif kind == "resync":
                self.resyncs += 1


async def main(args) -> int:
    recorder = Recorder()
    headers = {"Authorization": f"Screen {args.token}"}
    clients = [
        Client(args.url, headers, args.origin, args.after, recorder) for _ in range(args.clients)
    ]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    tasks = [asyncio.create_task(client.run(gate)) for client in clients]
    await asyncio.gather(*(client.subscribed for client in clients))
    _say({"ready": len(clients)})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        if command["cmd"] == "quit":
            break
        if command["cmd"] == "phase":
            recorder.clear()
            for client in clients:
                client.reset()
            _say({"phase": True})
        elif command["cmd"] == "collect":
            waits = [client.await_id(command["last"]) for client in clients]
            began = time.monotonic()
            _done, pending = await asyncio.wait(waits, timeout=command["timeout"])
            _say(
                {
                    "drain_s": round(time.monotonic() - began, 3),
                    "clients_behind": len(pending),
                    "received": [client.received for client in clients],
                    "duplicates": sum(client.duplicates for client in clients),
                    "missing": sum(client.missing for client in clients),
                    "frames": sum(client.frames for client in clients),
                    "reconnects": sum(client.reconnects for client in clients),
                    "resyncs": sum(client.resyncs for client in clients),
                    "closes": sum((client.closes for client in clients), Counter()),
                    "histogram": dict(recorder.histogram),
                    "worst_by_second": {
                        second: round(latency * 1000, 1)
                        for second, latency in recorder.worst_by_second.items()
                    },
                }
            )
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return 0


def _say(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--origin", required=True)
    parser.add_argument("--after", type=int, required=True)
    parser.add_argument("--clients", type=int, required=True)
    sys.exit(uvloop.run(main(parser.parse_args())))
