"""`python -m bench.liveclients`: the live room's screens, as websocket clients of one stream.

Wall screens note when each tiles event arrives and which viewer sample it reflects (the
sender tags every batch's sample with its batch number); follower screens note when each
fired cue arrives (with the time the log wrote it). Everything else on the socket is read
and dropped, as a screen would after applying it. Clients reconnect after the last id they
hold, as the console's do.

Over stdin/stdout, one JSON object a line:
  → {"ready": n}          every client answered a ping (caught up and subscribed)
  ← {"cmd": "collect"}
  → {"tiles": [[tag, arrival], ...] per wall client, "cues": [[note, arrival, at], ...] per
     follower, "reconnects": n, "missing": n}
"""

import argparse
import asyncio
import json
import sys
import time

import uvloop

from .screens import CONNECT_CONCURRENCY, ScreenClient, once_per_frame


class Screen(ScreenClient):
    def __init__(self, url: str, token: str, origin: str, after: int, *, analysed):
        self.url, self.token, self.origin = url, token, origin
        self.last = after
        # One parse per frame for all the process's screens (bench.screens.once_per_frame).
        self.analysed = analysed
        self.subscribed = asyncio.get_running_loop().create_future()
        self.tiles: list[tuple[int, float]] = []
        self.cues: list[tuple[str, float, str]] = []
        self.reconnects = 0
        self.missing = 0

    async def _receive(self, websocket) -> None:
        async for message in websocket:
            arrived = time.time()
            if not message.startswith('{"frame":"events"'):
                if not self.subscribed.done() and json.loads(message)["frame"] == "pong":
                    self.subscribed.set_result(None)
                continue
            for seq, tag, note, logged in self.analysed(message):
                if seq <= self.last:
                    continue
                self.missing += seq - self.last - 1
                self.last = seq
                if tag is not None:
                    self.tiles.append((tag, arrived))
                elif note is not None:
                    self.cues.append((note, arrived, logged))


def _analyse(message: str, tag_base: int) -> list[tuple[int, int | None, str | None, str]]:
    """A frame's events as (id, tiles tag or None, GO cue note or None, logged at)."""
    found = []
    for event in json.loads(message)["events"]:
        tag = note = None
        if event["type"] == "metrics":
            online = event["data"]["tiles"]["online"]
            tag = online - tag_base if online >= tag_base else None
        elif event["type"] == "cue" and event["op"] == "go":
            note = event["data"]["note"]
        found.append((event["id"], tag, note, event["at"]))
    return found


async def main(args) -> int:
    analysed = once_per_frame(lambda message: _analyse(message, args.tag_base))
    screens = [
        Screen(args.url, args.token, args.origin, args.after, analysed=analysed)
        for _ in range(args.clients)
    ]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    tasks = [asyncio.create_task(screen.run(gate)) for screen in screens]
    await asyncio.gather(*(screen.subscribed for screen in screens))
    _say({"ready": len(screens)})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or json.loads(line)["cmd"] == "quit":
            break
        _say(
            {
                "tiles": [screen.tiles for screen in screens] if args.role == "wall" else [],
                "cues": [screen.cues for screen in screens] if args.role == "follower" else [],
                "reconnects": sum(screen.reconnects for screen in screens),
                "missing": sum(screen.missing for screen in screens),
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
    parser.add_argument("--role", choices=["wall", "follower"], required=True)
    parser.add_argument("--tag-base", type=int, required=True)
    sys.exit(uvloop.run(main(parser.parse_args())))
