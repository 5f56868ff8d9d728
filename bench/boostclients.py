"""`python -m bench.boostclients`: ad buyers' screens, one websocket client per live stream.

Each client follows one stream's event log with its studio's screen token, as a buyer's
screen in that studio does, and notes when each decision card event ("boost") arrives: its
op, decision id, campaign, rule and when the card was proposed. Everything else on the
socket (metrics tiles, ad metric samples, orders) is read and dropped, as a screen would
after applying it. Clients reconnect after the last id they hold.

Over stdin/stdout, one JSON object a line:
  → {"ready": n}          every client answered a ping (caught up and subscribed)
  ← {"cmd": "collect"}
  → {"boosts": [[stream, op, decision, campaign external id, rule id, proposed_at,
     arrival], ...], "events": n, "reconnects": n, "missing": n}
"""

import argparse
import asyncio
import json
import sys
import time

import uvloop

from .screens import CONNECT_CONCURRENCY, ScreenClient


class BuyerScreen(ScreenClient):
    def __init__(self, url: str, stream: int, after: int, token: str, origin: str) -> None:
        self.url, self.stream, self.token, self.origin = url, stream, token, origin
        self.last = after
        self.subscribed = asyncio.get_running_loop().create_future()
        self.boosts: list[list] = []
        self.events = 0
        self.reconnects = 0
        self.missing = 0

    async def _receive(self, websocket) -> None:
        async for message in websocket:
            arrived = time.time()
            frame = json.loads(message)
            if frame["frame"] == "pong" and not self.subscribed.done():
                self.subscribed.set_result(None)
            if frame["frame"] != "events":
                continue
            for event in frame["events"]:
                if event["id"] <= self.last:
                    continue
                self.missing += event["id"] - self.last - 1
                self.last = event["id"]
                self.events += 1
                if event["type"] == "boost":
                    card = event["data"]
                    self.boosts.append(
                        [
                            self.stream,
                            event["op"],
                            card["id"],
                            card["campaign"]["external_id"],
                            (card["rule"] or {}).get("id"),
                            card["proposed_at"],
                            arrived,
                        ]
                    )


async def main(args) -> int:
    screens = [
        BuyerScreen(args.url.format(stream=stream), stream, after, token, args.origin)
        for stream, after, token in json.loads(args.streams)
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
                "boosts": [boost for screen in screens for boost in screen.boosts],
                "events": sum(screen.events for screen in screens),
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
    parser.add_argument("--url", required=True, help="with {stream} where the stream id goes")
    parser.add_argument("--streams", required=True, help="JSON: [[stream, after, token], ...]")
    parser.add_argument("--origin", required=True)
    sys.exit(uvloop.run(main(parser.parse_args())))
