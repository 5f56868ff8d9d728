"""Support queue: viewer comments at 500/s become question groups on 200 agents' screens.

One web server and one Celery worker, as the Procfile runs them; a live stream with the
simulator's lineup; 200 agent screens on its event socket (`bench.supportclients`, in
client processes). An open-loop sender posts realistic comments through the signed webhook
(the simulator's questions and chatter, Chinese and English, repeated so that groups
form) in batches of 50 every 100 ms, whether or not earlier requests have answered.

- Latency: one comment in every batch is a marker question nobody else asks
  (`supportclients.marker_text`), so it starts a group of its own; per batch and screen,
  from the moment the batch's POST began to the arrival of that group's "question" event.
- Loss: afterwards every acknowledged comment must be in the inbox and processed, and
  each must be either a Question row of the stream or chatter — a comment the triage,
  run here on the same text with the same lineup, does not take for a question. Group
  counts must add up to the questions.
"""

import asyncio
import json
import subprocess
import time
from dataclasses import dataclass, field

import httpx
from django.db.models import Count, Max, Sum

from rooms import eventlog
from rooms.ingest import sign
from rooms.models import IngestEvent, StreamEvent
from support import triage
from support.models import Question, QuestionGroup

from . import fixtures, supportfixtures
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
from .supportclients import MARKERS, marker_text
from .traffic import PlatformTraffic

TARGETS_MS = {"p50_ms": 150, "p99_ms": 500}
BATCH = 50
WARMUP_BATCHES = 20
DISPATCH_STALL_SECONDS = 60
SCREENS_TIMEOUT_SECONDS = 30


def run(env: dict[str, str], *, duration: float, rate: int, sockets: int, client_procs: int):
    batches = round(duration * rate / BATCH)
    if batches > MARKERS:
        raise ValueError(f"at most {MARKERS} batches of {BATCH} (duration × rate / {BATCH})")
    background = background_cpu()
    world = fixtures.world("support")
    supportfixtures.lineup(world.stream)
    supportfixtures.settle(IngestEvent, StreamEvent)
    traffic = PlatformTraffic(prefix=f"support-{fixtures.RUN}")
    with Processes() as processes:
        server = WebServer(processes, env).start()
        worker = start_worker(processes, env)
        sender = _Sender(server.url, world)
        # Untimed: both of the worker's processes load the Chinese dictionary on first use.
        asyncio.run(sender.send(traffic, batches=WARMUP_BATCHES, rate=rate, timed=False))
        _await_dispatch(world.channel.pk, len(sender.acked))
        after = eventlog.head(world.stream.pk)
        screens = _screens(processes, env, server, world, after, sockets, client_procs)
        log(f"support: {sockets} agent screens; {rate} comments/s for {duration:.0f} s")
        meter = CpuMeter(
            {"web": server.pid, "worker": worker.pid, "screens": [p.pid for p in screens]}
        ).start()
        asyncio.run(sender.send(traffic, batches=batches, rate=rate, timed=True))
        cpu = meter.stop()
        log(f"support: {sender.requests} requests, {sender.statuses}")
        drain_s = _await_dispatch(world.channel.pk, len(sender.acked))
        seen = [_collect(process, expect=len(sender.batches)) for process in screens]
    screens_seen = [screen for part in seen for screen in part["seen"]]
    latencies, never = _latencies(sender.batches, screens_seen)
    latency = percentiles_ms(latencies)
    logged = {int(n): at for part in seen for n, at in part["logged"].items()}
    figures = {
        "benchmark": "support",
        "agent_screens": sockets,
        "comments_per_s": rate,
        "duration_s": duration,
        "batch": BATCH,
        "requests": sender.requests,
        "status_counts": sender.statuses,
        "achieved_comments_per_s": sender.sustained(),
        "request_latency": percentiles_ms(sender.request_ms),
        "sender_max_slip_ms": round(sender.max_slip * 1000, 1),
        "dispatch_drain_s_after_last_202": drain_s,
        "group_latency": latency,
        "markers_never_shown": never,
        # The same, in two legs: POST began → the group's event written to the log (webhook,
        # queue, dispatch, triage and grouping), and written → on each screen (commit,
        # broadcast, the web server's fan-out, the client's read).
        "to_log_latency": percentiles_ms(
            [(logged[n] - began) * 1000 for n, began in sender.batches.items() if n in logged]
        ),
        "log_to_screen_latency": percentiles_ms(
            [(arrived - logged[n]) * 1000 for screen in screens_seen for n, arrived in screen]
        ),
        "by_minute": _by_minute(sender.batches, logged, screens_seen),
        "screens": {
            key: sum(part[key] for part in seen)
            for key in ("reconnects", "missing", "duplicates", "frames", "events")
        },
        **_verify(world, sender),
        "cpu_percent": cpu,
        "background_cpu_percent": background,
        "targets": TARGETS_MS,
    }
    figures["meets_targets"] = (
        latency.get("p50_ms", 1e9) <= TARGETS_MS["p50_ms"]
        and latency.get("p99_ms", 1e9) <= TARGETS_MS["p99_ms"]
        and never == 0
        and figures["comments_lost"] == 0
        and figures["inbox_not_processed"] == 0
    )
    emit(figures)
    return figures


@dataclass
class _Sender:
    url: str
    world: fixtures.World
    # comment id → text, for every comment the webhook acknowledged (warm-up included)
    acked: dict[str, str] = field(default_factory=dict)
    batches: dict[int, float] = field(default_factory=dict)  # marker batch → POST began
    completions: list[float] = field(default_factory=list)
    request_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    max_slip: float = 0.0

    async def send(self, traffic: PlatformTraffic, *, batches: int, rate: int, timed: bool):
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(
            base_url=self.url, trust_env=False, timeout=60, limits=limits
        ) as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            pending = []
            for number in range(batches):
                delay = started + number * BATCH / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif timed:
                    self.max_slip = max(self.max_slip, -delay)
                events = [traffic.comment() for _ in range(BATCH)]
                if timed:
                    events[BATCH // 2]["text"] = marker_text(number)
                pending.append(
                    asyncio.create_task(self._post(client, events, number if timed else None))
                )
            await asyncio.gather(*pending)

    async def _post(self, client: httpx.AsyncClient, events: list[dict], number: int | None):
        body = json.dumps({"events": events}, ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-MCN-Channel": self.world.channel.key,
            "X-MCN-Timestamp": timestamp,
            "X-MCN-Signature": f"v1={sign(self.world.secret, timestamp, body)}",
        }
        began_at, began = time.time(), time.perf_counter()
        try:
            response = await client.post("/api/v1/ingest/events", content=body, headers=headers)
            status = str(response.status_code)
        except httpx.TransportError as exc:
            status = type(exc).__name__
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if number is None:
            if status == "202":
                self.acked.update((event["id"], event["text"]) for event in events)
            return
        self.requests += 1
        self.request_ms.append((time.perf_counter() - began) * 1000)
        if status == "202":
            receipt = response.json()
            if receipt["accepted"] + receipt["duplicates"] != len(events):
                raise RuntimeError(f"receipt does not add up: {receipt}")
            self.acked.update((event["id"], event["text"]) for event in events)
            self.batches[number] = began_at
            self.completions.append(time.monotonic())

    def sustained(self) -> float:
        """Comments acknowledged per second, first acknowledgement to last."""
        if len(self.completions) < 2:
            return 0.0
        span = max(self.completions) - min(self.completions)
        return round((len(self.completions) - 1) * BATCH / span, 1)


def _screens(processes, env, server, world, after: int, sockets: int, client_procs: int):
    started = []
    for k in range(client_procs):
        count = sockets // client_procs + (1 if k < sockets % client_procs else 0)
        process = processes.start(
            f"agent screens {k}",
            [
                PYTHON,
                "-m",
                "bench.supportclients",
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
            ],
            env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append((process, count))
    for process, count in started:
        ready = json.loads(process.stdout.readline() or "{}")
        if ready.get("ready") != count:
            raise RuntimeError(f"agent screens did not come up: {ready}")
    return [process for process, _count in started]


def _collect(process, *, expect: int) -> dict:
    process.stdin.write(
        json.dumps({"cmd": "collect", "expect": expect, "timeout": SCREENS_TIMEOUT_SECONDS}) + "\n"
    )
    process.stdin.flush()
    seen = json.loads(process.stdout.readline())
    process.stdin.write('{"cmd": "quit"}\n')
    process.stdin.flush()
    return seen


def _latencies(batches: dict[int, float], screens: list) -> tuple[list[float], int]:
    latencies, never = [], 0
    for arrivals in screens:
        arrived = dict(arrivals)
        never += sum(1 for number in batches if number not in arrived)
        latencies += [
            (arrived[number] - began) * 1000
            for number, began in batches.items()
            if number in arrived
        ]
    return latencies, never


def _by_minute(batches: dict[int, float], logged: dict[int, float], screens: list) -> list:
    """p50 and p99 of both latencies per minute of the run (by when the batch was sent):
    whether the queue keeps its pace as its groups grow."""
    first = min(batches.values(), default=0.0)

    def minute(number: int) -> int:
        return int((batches[number] - first) // 60)

    to_screen: dict[int, list[float]] = {}
    for arrivals in screens:
        for number, arrived in arrivals:
            if number in batches:
                to_screen.setdefault(minute(number), []).append((arrived - batches[number]) * 1000)
    to_log: dict[int, list[float]] = {}
    for number, began in batches.items():
        if number in logged:
            to_log.setdefault(minute(number), []).append((logged[number] - began) * 1000)
    rows = []
    for m in sorted(to_screen):
        screen, log_ = percentiles_ms(to_screen[m]), percentiles_ms(to_log.get(m, []))
        rows.append(
            {
                "minute": m,
                "group_p50_ms": screen["p50_ms"],
                "group_p99_ms": screen["p99_ms"],
                "to_log_p50_ms": log_.get("p50_ms"),
                "to_log_p99_ms": log_.get("p99_ms"),
            }
        )
    return rows


def _processed(channel_id: int) -> int:
    return IngestEvent.objects.filter(channel_id=channel_id, status="processed").count()


def _await_dispatch(channel_id: int, acked: int) -> float | None:
    """Seconds until every acknowledged comment is processed; None if dispatch stalls."""
    began = last_progress = time.monotonic()
    previous = -1
    while True:
        processed = _processed(channel_id)
        now = time.monotonic()
        if processed >= acked:
            return round(now - began, 2)
        if processed != previous:
            previous, last_progress = processed, now
        elif now - last_progress > DISPATCH_STALL_SECONDS:
            log(f"support: dispatch stalled at {processed}/{acked}")
            return None
        time.sleep(0.2)


def _verify(world: fixtures.World, sender: _Sender) -> dict:
    stream = world.stream
    inbox = dict(
        IngestEvent.objects.filter(channel=world.channel).values_list("platform_event_id", "status")
    )
    asked = set(
        Question.objects.filter(stream=stream).values_list(
            "ingest_event__platform_event_id", flat=True
        )
    )
    lineup = tuple(
        triage.LineupEntry(link_number=link_number, sku=sku or "", name=name or "")
        for link_number, sku, name in stream.lineup.values_list("link_number", "sku", "name")
    )
    judged: dict[str, bool] = {}  # the comments repeat: judge each text once
    for text in sender.acked.values():
        if text not in judged:
            judged[text] = triage.classify(
                text.strip(), keywords_extra={}, lineup=lineup
            ).is_question
    chatter = {comment_id for comment_id, text in sender.acked.items() if not judged[text]}
    acked = set(sender.acked)
    groups = QuestionGroup.objects.filter(stream=stream).aggregate(
        groups=Count("pk"), counted=Sum("count"), largest=Max("count")
    )
    marker_groups = (
        QuestionGroup.objects.filter(
            stream=stream, text__in=[marker_text(n) for n in sender.batches]
        )
        .values("text")
        .distinct()
        .count()
    )
    return {
        "comments_acked": len(acked),
        "inbox_rows": len(inbox),
        "inbox_missing": len(acked - inbox.keys()),
        "inbox_not_processed": sum(1 for status in inbox.values() if status != "processed"),
        "questions": len(asked),
        "chatter": len(chatter),
        # Acknowledged, but neither a question in the queue nor chatter.
        "comments_lost": len(acked - asked - chatter),
        # Chatter by the triage's judgement that became a question anyway.
        "chatter_as_questions": len(asked & chatter),
        "questions_not_acked": len(asked - acked),
        "groups": groups["groups"],
        "group_counts_sum": groups["counted"] or 0,
        "largest_group": groups["largest"] or 0,
        "marker_groups": marker_groups,
    }
