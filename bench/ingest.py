"""Ingest: signed batches at a fixed rate through the webhook; latency, loss, dispatch.

An open-loop sender posts a batch every `batch / rate` seconds whether or not earlier
requests have answered, so a slow server shows as latency rather than as a lower offered
rate. `achieved_events_per_s` is the pace of the acknowledgements, first to last: with an
offered 2,000/s it can only come out at 2,000 give or take the jitter of two latencies over
a minute, so the target is checked with a 0.5 % tolerance, and `max_in_flight` shows
whether requests piled up.
Afterwards every event id that got a 202 must be in the inbox exactly once, and the Celery
worker (`--concurrency 2`, as the Procfile runs it) must have dispatched every one of them
(status `processed`): the figures say how far dispatch fell behind and how long it took to
catch up, and which statements the database sessions were waiting on meanwhile.
"""

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from django.db import connection

from rooms.ingest import sign
from rooms.models import IngestEvent

from . import fixtures
from .harness import CpuMeter, Processes, WebServer, background_cpu, emit, log, start_worker
from .stats import percentiles_ms
from .traffic import PlatformTraffic

WARMUP_BATCHES = 5
DISPATCH_STALL_SECONDS = 60


def run(env: dict[str, str], *, duration: float, rate: int, batch: int) -> dict:
    background = background_cpu()
    world = fixtures.world("ingest")
    traffic = PlatformTraffic(prefix=f"ingest-{fixtures.RUN}")
    with Processes() as processes:
        server = WebServer(processes, env).start()
        worker = start_worker(processes, env)
        log(f"ingest: {rate} events/s in batches of {batch} for {duration:.0f} s")
        meter = CpuMeter({"web": server.pid, "worker": worker.pid}).start()
        sent = asyncio.run(
            _send(server.url, world, traffic, duration=duration, rate=rate, batch=batch)
        )
        cpu = meter.stop()
        drain_seconds = _await_dispatch(world.channel.pk, len(sent.acked))
    figures = {
        "benchmark": "ingest",
        "duration_s": duration,
        "batch": batch,
        "offered_events_per_s": rate,
        "requests": sent.requests,
        "status_counts": sent.statuses,
        "achieved_events_per_s": sent.sustained(),
        "max_in_flight": sent.max_in_flight,
        "latency": percentiles_ms(sent.latencies_ms),
        "sender_max_slip_ms": round(sent.max_slip * 1000, 1),
        "cpu_pct_of_core": cpu,
        "background_cpu_pct_of_core": background,
        **_verify(world.channel.pk, sent.acked),
        "dispatch_drain_s_after_last_202": drain_seconds,
        "dispatch_max_backlog_events": sent.max_backlog,
        "db_sessions": _sessions_summary(sent.sessions),
    }
    latency = figures["latency"]
    figures["targets"] = {
        "sustained>=2000/s": rate >= 2000
        and sent.timed_acked == sent.requests * batch
        and figures["achieved_events_per_s"] >= 0.995 * rate,
        "p99<=250ms": latency.get("p99_ms", 1e9) <= 250,
        "lost==0": figures["acked_missing"] == 0 and figures["duplicate_rows"] == 0,
        "all_processed": figures["processed"] == len(sent.acked),
    }
    emit(figures)
    return figures


@dataclass
class _Sent:
    """What the sender saw; warm-up requests count in `statuses` and `acked` only."""

    acked: list[str] = field(default_factory=list)
    timed_acked: int = 0
    # (seconds since the first timed send, events) of every timed 202, as it completes.
    completions: list[tuple[float, int]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    max_slip: float = 0.0
    max_backlog: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    sessions: list[tuple[int, list[str]]] = field(default_factory=list)

    def sustained(self) -> float:
        """Events acknowledged per second between the first and the last acknowledgement.

        N batches answered at a steady pace span N - 1 intervals; a server that falls
        behind stretches the span and lowers the figure.
        """
        if len(self.completions) < 2:
            return 0.0
        times = sorted(at for at, _ in self.completions)
        events = sum(n for _, n in self.completions) - self.completions[0][1]
        return round(events / (times[-1] - times[0]), 1)


async def _send(url, world, traffic, *, duration: float, rate: int, batch: int) -> _Sent:
    sent = _Sent()
    channel_key, secret = world.channel.key, world.secret
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=url, trust_env=False, timeout=60, limits=limits
    ) as client:
        loop = asyncio.get_running_loop()
        started = 0.0  # set when the timed run begins, after the warm-up

        async def post(events: list[dict], timed: bool) -> None:
            body = json.dumps({"events": events}, ensure_ascii=False).encode()
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-MCN-Channel": channel_key,
                "X-MCN-Timestamp": timestamp,
                "X-MCN-Signature": f"v1={sign(secret, timestamp, body)}",
            }
            began = time.perf_counter()
            sent.in_flight += 1
            sent.max_in_flight = max(sent.max_in_flight, sent.in_flight)
            try:
                response = await client.post("/api/v1/ingest/events", content=body, headers=headers)
                status = str(response.status_code)
            except httpx.TransportError as exc:
                status = type(exc).__name__
            elapsed_ms = (time.perf_counter() - began) * 1000
            sent.in_flight -= 1
            sent.statuses[status] = sent.statuses.get(status, 0) + 1
            if status == "202":
                receipt = response.json()
                if receipt["accepted"] + receipt["duplicates"] != len(events):
                    raise RuntimeError(f"receipt does not add up: {receipt}")
                sent.acked.extend(event["id"] for event in events)
                if timed:
                    sent.timed_acked += len(events)
                    sent.completions.append((loop.time() - started, len(events)))
            if timed:
                sent.requests += 1
                sent.latencies_ms.append(elapsed_ms)

        for _ in range(WARMUP_BATCHES):
            await post(traffic.batch(batch), timed=False)

        monitor = asyncio.create_task(_watch_backlog(world.channel.pk, sent))
        interval = batch / rate
        count = round(duration / interval)
        started = loop.time()
        inflight = []
        for i in range(count):
            due = started + i * interval
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                sent.max_slip = max(sent.max_slip, -delay)
            inflight.append(asyncio.create_task(post(traffic.batch(batch), timed=True)))
        await asyncio.gather(*inflight)
        monitor.cancel()
    log(f"ingest: {sent.requests} requests, {sent.statuses}")
    return sent


async def _watch_backlog(channel_id: int, sent: _Sent) -> None:
    """While the sender runs: acked-but-not-yet-processed events once a second, and ten
    times a second the bench database's sessions that are running or waiting on a lock."""
    tick = 0
    while True:
        await asyncio.sleep(0.1)
        tick += 1
        sent.sessions.append(await asyncio.to_thread(_sessions))
        if tick % 10 == 0:
            acked = len(sent.acked)
            processed = await asyncio.to_thread(_processed_count, channel_id)
            sent.max_backlog = max(sent.max_backlog, acked - processed)


def _sessions() -> tuple[int, list[str]]:
    """Active sessions, and the statements of those waiting on a lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT state = 'active', wait_event_type = 'Lock',
                   regexp_replace(left(query, 60), '\\s+', ' ', 'g')
            FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
            """
        )
        rows = cursor.fetchall()
    return sum(1 for active, _, _ in rows if active), [q.strip() for _, waits, q in rows if waits]


def _sessions_summary(samples: list[tuple[int, list[str]]]) -> dict:
    """Mean active sessions over the run, and how many on average wait on a lock, by the
    start of the statement that waits."""
    count = max(1, len(samples))
    waiting = Counter(query for _, queries in samples for query in queries)
    return {
        "samples": len(samples),
        "active_mean": round(sum(active for active, _ in samples) / count, 2),
        "waiting_on_lock_mean": round(sum(waiting.values()) / count, 2),
        "waiting_on_lock_by_statement": {
            query: round(n / count, 2) for query, n in waiting.most_common(3)
        },
    }


def _processed_count(channel_id: int) -> int:
    return IngestEvent.objects.filter(channel_id=channel_id, status="processed").count()


def _await_dispatch(channel_id: int, acked: int) -> float | None:
    """Seconds until every stored event is processed; None if dispatch stalls."""
    began = last_progress = time.monotonic()
    previous = -1
    while True:
        processed = _processed_count(channel_id)
        now = time.monotonic()
        if processed >= acked:
            return round(now - began, 2)
        if processed != previous:
            previous, last_progress = processed, now
        elif now - last_progress > DISPATCH_STALL_SECONDS:
            log(f"ingest: dispatch stalled at {processed}/{acked}")
            return None
        time.sleep(0.2)


def _verify(channel_id: int, acked: list[str]) -> dict:
    table = IngestEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT platform_event_id, count(*) FROM {table} WHERE channel_id = %s GROUP BY 1",
            [channel_id],
        )
        stored = dict(cursor.fetchall())
        cursor.execute(
            f"SELECT status, count(*) FROM {table} WHERE channel_id = %s GROUP BY 1", [channel_id]
        )
        statuses = dict(cursor.fetchall())
    acked_set = set(acked)
    return {
        "acked_events": len(acked),
        "acked_unique": len(acked_set),
        "stored_events": sum(stored.values()),
        "duplicate_rows": sum(n - 1 for n in stored.values() if n > 1),
        "acked_missing": len(acked_set - stored.keys()),
        "stored_not_acked": len(stored.keys() - acked_set),
        "inbox_statuses": statuses,
        "processed": statuses.get("processed", 0),
    }
