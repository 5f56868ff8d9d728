"""Catch-up: a screen reconnects 10,000 events behind; time until it holds all of them.

The stream's log is filled first (comment events, as support writes them), then a client
connects with `after=<head − 10,000>` and the clock runs from before the TCP connect until
the event with the head's id has arrived; ids are checked to be contiguous. The baseline
pages the same events through `GET /api/v1/streams/<id>/events/?after=N&limit=1000` with an
API token, also from a fresh connection. One untimed run of each warms the server first.
"""

import asyncio
import json
import statistics
import time

import httpx
from websockets.asyncio.client import connect

from rooms import services

from . import fixtures
from .harness import CpuMeter, Processes, WebServer, background_cpu, emit, log
from .stats import ratio

REST_PAGE = 1000
EXTRA_HISTORY = 2000


def run(env: dict[str, str], *, behind: int, repeats: int) -> dict:
    background = background_cpu()
    user = fixtures.member("catchup")
    world = fixtures.world("catchup", members=[user])
    log(f"catchup: filling the log with {behind + EXTRA_HISTORY} events")
    head = fixtures.fill_log(world.stream.pk, behind + EXTRA_HISTORY)
    after = head - behind
    screen_token = world.screen_token()
    api_token = services.api_token_issue(user=user)
    stream_id = world.stream.pk
    with Processes() as processes:
        server = WebServer(processes, env).start()
        runs = {"websocket": [], "rest": []}
        meter = CpuMeter({"web": server.pid}).start()
        for i in range(repeats + 1):
            result = asyncio.run(_websocket(server, stream_id, screen_token, after, head))
            if i:
                runs["websocket"].append(result)
            result = _rest(server, stream_id, api_token, after, head)
            if i:
                runs["rest"].append(result)
        cpu = meter.stop()
    summary = {key: _summary(values) for key, values in runs.items()}
    figures = {
        "benchmark": "catchup",
        "events_behind": behind,
        "repeats": repeats,
        **summary,
        "ratio_rest_vs_websocket_median": ratio(
            summary["rest"]["median_ms"], summary["websocket"]["median_ms"]
        ),
        "cpu_pct_of_core": cpu,
        "background_cpu_pct_of_core": background,
        "targets": {"websocket_max<=1000ms": summary["websocket"]["max_ms"] <= 1000},
    }
    emit(figures)
    return figures


async def _websocket(server, stream_id, token, after, head) -> dict:
    began = time.perf_counter()
    last, frames, size, first_ms = after, 0, 0, None
    async with connect(
        f"{server.ws_url}/ws/streams/{stream_id}/events/?after={after}",
        origin=server.url,
        additional_headers={"Authorization": f"Screen {token}"},
        compression="deflate",  # offered, as browsers do
        max_size=64 * 1024 * 1024,
        ping_interval=None,
        proxy=None,
    ) as websocket:
        open_ms = (time.perf_counter() - began) * 1000
        while last < head:
            message = await websocket.recv()
            frame = json.loads(message)
            if frame["frame"] != "events":
                continue
            if first_ms is None:
                first_ms = (time.perf_counter() - began) * 1000
            frames += 1
            size += len(message)
            for event in frame["events"]:
                if event["id"] != last + 1:
                    raise RuntimeError(f"websocket catch-up: {event['id']} after {last}")
                last = event["id"]
        total_ms = (time.perf_counter() - began) * 1000
    return {
        "total_ms": total_ms,
        "open_ms": open_ms,
        "first_events_ms": first_ms,
        "frames": frames,
        "payload_chars": size,
    }


def _rest(server, stream_id, token, after, head) -> dict:
    began = time.perf_counter()
    last, pages, size = after, 0, 0
    with httpx.Client(
        base_url=server.url, trust_env=False, headers={"Authorization": f"Token {token}"}
    ) as client:
        while last < head:
            response = client.get(
                f"/api/v1/streams/{stream_id}/events/", params={"after": last, "limit": REST_PAGE}
            )
            response.raise_for_status()
            page = response.json()
            if page["resync"]:
                raise RuntimeError("REST catch-up was told to resync")
            pages += 1
            size += len(response.content)
            for event in page["events"]:
                if event["id"] != last + 1:
                    raise RuntimeError(f"REST catch-up: {event['id']} after {last}")
                last = event["id"]
    return {
        "total_ms": (time.perf_counter() - began) * 1000,
        "pages": pages,
        "payload_bytes": size,
    }


def _summary(results: list[dict]) -> dict:
    totals = [r["total_ms"] for r in results]
    summary = {
        "median_ms": round(statistics.median(totals), 1),
        "min_ms": round(min(totals), 1),
        "max_ms": round(max(totals), 1),
        "runs_ms": [round(t, 1) for t in totals],
    }
    if "first_events_ms" in results[0]:
        summary["open_median_ms"] = round(statistics.median(r["open_ms"] for r in results), 1)
        summary["first_events_median_ms"] = round(
            statistics.median(r["first_events_ms"] for r in results), 1
        )
        summary["frames"] = results[0]["frames"]
        summary["payload_chars"] = results[0]["payload_chars"]
    else:
        summary["pages"] = results[0]["pages"]
        summary["payload_bytes"] = results[0]["payload_bytes"]
    return summary
