"""Live room: platform metric → wall screen tile, and operator GO → crew screens, under load.

One web server and one Celery worker, as the Procfile runs them; 50 wall screens and 200
other screens (crew following the show) on one live stream, each group in its own client
process (`bench.liveclients`). A sender posts platform traffic through the signed webhook
at 500 events/s (batches of 50: comments, orders, and one viewer sample per batch, tagged
with the batch's number); meanwhile a room operator fires a crew cue through the REST API
every 250 ms. First, untimed, the same traffic for a few seconds at the same rate (nothing
tagged), so that what is timed is a stream in progress, not the processes' first requests.

- Tile latency, per batch and wall screen: from the moment the batch's POST began to the
  first tiles event reaching that screen that reflects it (its viewer tag or a later one).
- GO latency, per cue and crew screen: from the moment the operator's POST began to the
  cue's GO event reaching that screen.
"""

import asyncio
import json
import subprocess
import time
from datetime import datetime

import httpx

from rooms import eventlog, services
from rooms.ingest import sign
from rooms.models import Role

from . import fixtures
from .harness import (
    PYTHON,
    CpuMeter,
    Processes,
    WebServer,
    background_cpu,
    emit,
    log,
    start_worker,
)
from .stats import percentiles_ms
from .traffic import PlatformTraffic

TAG_BASE = 10_000_000
TARGETS_MS = {"tile_p99_ms": 500, "go_p99_ms": 200}
GO_INTERVAL_SECONDS = 0.25
DRAIN_SECONDS = 5
WARMUP_BATCHES = 20


def run(env: dict[str, str], *, duration: float, rate: int, walls: int, others: int) -> dict:
    background = background_cpu()
    operator = services.user_create(
        username=f"bench-{fixtures.RUN}-operator", password="x" * 20, roles=[Role.ROOM_OPERATOR]
    )
    world = fixtures.world("live", members=[operator])
    api_token = services.api_token_issue(user=operator)
    traffic = PlatformTraffic(prefix=f"live-{fixtures.RUN}")
    with Processes() as processes:
        server = WebServer(processes, env).start()
        worker = start_worker(processes, env)
        after = eventlog.head(world.stream.pk)
        groups = {
            role: _clients(processes, env, server, world, after, role=role, count=count)
            for role, count in (("wall", walls), ("follower", others))
        }
        log(f"live: {walls} wall + {others} crew screens; {rate} events/s for {duration:.0f} s")
        meter = CpuMeter({"web": server.pid, "worker": worker.pid}).start()
        batches, cues, cue_requests = asyncio.run(
            _drive(server.url, world, traffic, api_token, duration=duration, rate=rate)
        )
        cpu = meter.stop()
        time.sleep(DRAIN_SECONDS)  # let the last dispatch reach the screens
        seen = {role: _collect(process) for role, process in groups.items()}
    tile_ms, unreflected = _tile_latencies(batches, seen["wall"]["tiles"])
    go_ms, go_missing, go_legs = _go_latencies(cues, seen["follower"]["cues"])
    tiles = percentiles_ms(tile_ms)
    go = percentiles_ms(go_ms)
    figures = {
        "benchmark": "live",
        "walls": walls,
        "other_screens": others,
        "events_per_s": rate,
        "duration_s": duration,
        "batches": len(batches),
        "tile_latency": tiles,
        "batches_never_shown": unreflected,
        "cues_fired": len(cues),
        "go_latency": go,
        "go_never_shown": go_missing,
        "go_legs": go_legs,
        "cue_request_latency": percentiles_ms(cue_requests),
        "reconnects": sum(s["reconnects"] for s in seen.values()),
        "missing_ids": sum(s["missing"] for s in seen.values()),
        "cpu_percent": cpu,
        "background_cpu_percent": background,
        "targets": TARGETS_MS,
        "meets_targets": tiles.get("p99_ms", 1e9) <= TARGETS_MS["tile_p99_ms"]
        and go.get("p99_ms", 1e9) <= TARGETS_MS["go_p99_ms"]
        and not go_missing
        and not unreflected,
    }
    emit(figures)
    return figures


def _clients(processes, env, server, world, after, *, role: str, count: int):
    process = processes.start(
        f"{role} screens",
        [
            PYTHON,
            "-m",
            "bench.liveclients",
            "--url",
            f"{server.ws_url}/ws/streams/{world.stream.pk}/events/",
            "--token",
            world.screen_token(),
            "--origin",
            server.url,
            "--after",
            str(after),
            "--clients",
            str(count),
            "--role",
            role,
            "--tag-base",
            str(TAG_BASE),
        ],
        env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    ready = json.loads(process.stdout.readline())
    if ready.get("ready") != count:
        raise RuntimeError(f"{role} screens did not come up: {ready}")
    return process


def _collect(process) -> dict:
    process.stdin.write('{"cmd": "collect"}\n')
    process.stdin.flush()
    seen = json.loads(process.stdout.readline())
    process.stdin.write('{"cmd": "quit"}\n')
    process.stdin.flush()
    return seen


async def _drive(url, world, traffic, api_token, *, duration: float, rate: int):
    batch_size = 50
    batches: dict[int, float] = {}
    cues: dict[str, float] = {}
    cue_requests: list[float] = []
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(
        base_url=url, trust_env=False, timeout=60, limits=limits
    ) as client:
        loop = asyncio.get_running_loop()

        async def post_batch(number: int | None) -> None:
            events = traffic.batch(batch_size)
            if number is not None:
                events[0]["online"] = TAG_BASE + number
                batches[number] = time.time()
            body = json.dumps({"events": events}, ensure_ascii=False).encode()
            timestamp = str(int(time.time()))
            response = await client.post(
                "/api/v1/ingest/events",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-MCN-Channel": world.channel.key,
                    "X-MCN-Timestamp": timestamp,
                    "X-MCN-Signature": f"v1={sign(world.secret, timestamp, body)}",
                },
            )
            if response.status_code != 202:
                raise RuntimeError(f"webhook answered {response.status_code}")

        async def fire(number: int) -> None:
            note = f"bench-go-{number}"
            cues[note] = time.time()
            response = await client.post(
                f"/api/v1/streams/{world.stream.pk}/cues",
                json={"kind": "cheer", "role": "cheer", "note": note, "go": True},
                headers={"Authorization": f"Token {api_token}"},
            )
            if response.status_code != 201:
                raise RuntimeError(f"cue answered {response.status_code}: {response.text}")
            cue_requests.append((time.time() - cues[note]) * 1000)

        async def paced(interval: float, action) -> None:
            pending = []
            for number in range(round(duration / interval)):
                delay = started + number * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(action(number)))
            await asyncio.gather(*pending)

        for _ in range(WARMUP_BATCHES):
            await asyncio.gather(post_batch(None), asyncio.sleep(batch_size / rate))
        started = loop.time()
        await asyncio.gather(paced(batch_size / rate, post_batch), paced(GO_INTERVAL_SECONDS, fire))
    return batches, cues, cue_requests


def _tile_latencies(batches: dict[int, float], screens: list) -> tuple[list[float], int]:
    """Per screen and batch: the first tiles event with that batch's tag or a later one."""
    latencies, unreflected = [], 0
    for arrivals in screens:
        shown_up_to = -1
        for tag, arrived in arrivals:
            for number in range(shown_up_to + 1, tag + 1):
                if number in batches:
                    latencies.append((arrived - batches[number]) * 1000)
            shown_up_to = max(shown_up_to, tag)
        unreflected += sum(1 for number in batches if number > shown_up_to)
    return latencies, unreflected


def _go_latencies(cues: dict[str, float], screens: list) -> tuple[list[float], int, dict]:
    """GO latency per cue and screen, the cues never shown, and the latency's two legs: the
    POST to the GO event in the log (its `at`, once per cue) and the log to each screen."""
    latencies, missing, to_log, to_screen = [], 0, {}, []
    for arrivals in screens:
        arrived = {
            note: (at, datetime.fromisoformat(logged).timestamp()) for note, at, logged in arrivals
        }
        missing += sum(1 for note in cues if note not in arrived)
        for note, sent in cues.items():
            if note in arrived:
                at, logged = arrived[note]
                latencies.append((at - sent) * 1000)
                to_log[note] = (logged - sent) * 1000
                to_screen.append((at - logged) * 1000)
    legs = {
        "post_to_log": percentiles_ms(list(to_log.values())),
        "log_to_screen": percentiles_ms(to_screen),
    }
    return latencies, missing, legs
