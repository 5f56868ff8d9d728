"""`python -m bench.supportclients`: CS agents' screens, as websocket clients of one stream.

Each client reads everything on the socket, as an agent's screen does: it checks that
event ids arrive once and in order, and notes when the "question" event of each batch's
marker question arrives. The sender puts one question in every batch that no other
comment asks (`marker_text`), so it starts a group of its own, and the group's event
carries its text. Arrival time is taken as the frame is received, before anything is
parsed. Clients reconnect after the last id they hold, as the console's do.

Over stdin/stdout, one JSON object a line:
  → {"ready": n}                                every client answered a ping
  ← {"cmd": "collect", "expect": N, "timeout": S}
  → {"seen": [[[batch, arrival], ...] per client], "logged": {batch: when its group's
     event was written}, "reconnects": n, "missing": n, "duplicates": n, "frames": n,
     "events": n, "waited_s": s}
     once every client saw N markers, or after S seconds
  ← {"cmd": "quit"}
"""

import argparse
import asyncio
import json
import re
import sys
import time
from datetime import datetime

import uvloop

from .screens import CONNECT_CONCURRENCY, ScreenClient, once_per_frame

# Marker questions: a height and a weight no other comment asks about. The triage reads
# both as measures, and questions with different measures never fold into one group, so
# each marker starts its own group and that group's text is the marker's.
HEIGHTS = range(140, 200)
WEIGHTS = range(35, 135)
MARKERS = len(HEIGHTS) * len(WEIGHTS)
MARKER = re.compile(r"身高(\d+)cm 体重(\d+)kg 穿什么码？")


def marker_text(batch: int) -> str:
    height, weight = divmod(batch % MARKERS, len(WEIGHTS))
    return f"身高{HEIGHTS[height]}cm 体重{WEIGHTS[weight]}kg 穿什么码？"


def marker_batch(text: str) -> int | None:
    found = MARKER.fullmatch(text)
    if found is None:
        return None
    height, weight = int(found.group(1)), int(found.group(2))
    if height not in HEIGHTS or weight not in WEIGHTS:
        return None
    return HEIGHTS.index(height) * len(WEIGHTS) + WEIGHTS.index(weight)


class Screen(ScreenClient):
    def __init__(self, url: str, token: str, origin: str, after: int, shared: "Shared") -> None:
        self.url, self.token, self.origin = url, token, origin
        self.shared = shared
        self.last = after
        self.subscribed = asyncio.get_running_loop().create_future()
        self.seen: dict[int, float] = {}
        self.reconnects = self.missing = self.duplicates = self.frames = self.events = 0

    async def _receive(self, websocket) -> None:
        async for message in websocket:
            arrived = time.time()
            if not message.startswith('{"frame":"events"'):
                if not self.subscribed.done() and json.loads(message)["frame"] == "pong":
                    self.subscribed.set_result(None)
                continue
            self.frames += 1
            before = self.last
            ids, markers = self.shared.analyse(message)
            for seq in ids:
                if seq <= self.last:
                    self.duplicates += 1
                    continue
                self.missing += seq - self.last - 1
                self.last = seq
                self.events += 1
            for seq, batch, at in markers:
                if seq > before and batch not in self.seen:
                    self.seen[batch] = arrived
                    self.shared.saw(batch, at)


class Shared:
    """What a process's screens share: when each marker's group event was written to the
    log (its `at`), and a signal whenever a screen sees a marker it had not seen."""

    def __init__(self) -> None:
        self.logged: dict[int, float] = {}
        self.progress = asyncio.Event()
        # Once per frame for all the process's screens (bench.screens.once_per_frame).
        self.analyse = once_per_frame(_analyse)

    def saw(self, batch: int, at: str) -> None:
        if batch not in self.logged:
            self.logged[batch] = datetime.fromisoformat(at).timestamp()
        self.progress.set()


def _analyse(message: str) -> tuple[list[int], list[tuple[int, int, str]]]:
    """A frame's event ids, and its marker groups' events as (id, batch, at)."""
    events = json.loads(message)["events"]
    markers = []
    for event in events:
        if event["type"] == "question":
            batch = marker_batch(event["data"].get("text", ""))
            if batch is not None:
                markers.append((event["id"], batch, event["at"]))
    return [event["id"] for event in events], markers


async def main(args) -> int:
    shared = Shared()
    screens = [
        Screen(args.url, args.token, args.origin, args.after, shared) for _ in range(args.clients)
    ]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    tasks = [asyncio.create_task(screen.run(gate)) for screen in screens]
    await asyncio.gather(*(screen.subscribed for screen in screens))
    _say({"ready": len(screens)})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        if command["cmd"] == "quit":
            break
        began = time.monotonic()
        deadline = began + command["timeout"]
        while any(len(screen.seen) < command["expect"] for screen in screens):
            shared.progress.clear()
            try:
                await asyncio.wait_for(shared.progress.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        _say(
            {
                "seen": [sorted(screen.seen.items()) for screen in screens],
                "logged": shared.logged,
                "reconnects": sum(screen.reconnects for screen in screens),
                "missing": sum(screen.missing for screen in screens),
                "duplicates": sum(screen.duplicates for screen in screens),
                "frames": sum(screen.frames for screen in screens),
                "events": sum(screen.events for screen in screens),
                "waited_s": round(time.monotonic() - began, 2),
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
