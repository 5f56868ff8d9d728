"""Crash: SIGKILL the web server during an ingest burst; nothing acknowledged may be lost.

Several senders post signed batches back to back (closed loop, so requests are always in
flight). At a random moment of each round the server gets SIGKILL, the senders note which
batches got no answer, and the server is restarted on the same port. At the end: every
event id that got a 202 must be in the inbox exactly once. Then the unacknowledged batches
are sent again, as a platform retries them, and every event of every batch must be stored
exactly once; the retries' `duplicates` count must equal the events that had been committed
although their request never got its answer.
"""

import asyncio
import json
import random
import time

import httpx
from django.db import connection

from rooms import services
from rooms.ingest import sign
from rooms.models import IngestEvent

from . import fixtures
from .harness import Processes, WebServer, background_cpu, emit, log, start_worker
from .traffic import PlatformTraffic

BATCH = 200
KILL_AFTER_SECONDS = (1.0, 4.0)
DISPATCH_SETTLE_SECONDS = 10


def run(env: dict[str, str], *, rounds: int, senders: int) -> dict:
    background = background_cpu()
    world = fixtures.world("crash")
    traffic = PlatformTraffic(prefix=f"crash-{fixtures.RUN}")
    rng = random.Random(5)
    acked: list[list[dict]] = []
    unacked: list[list[dict]] = []
    kills = []
    with Processes() as processes:
        server = WebServer(processes, env).start()
        start_worker(processes, env)
        for round_ in range(rounds):
            kill_after = rng.uniform(*KILL_AFTER_SECONDS)
            result = asyncio.run(
                _burst(server, world, traffic, senders=senders, kill_after=kill_after)
            )
            acked += result["acked"]
            unacked += result["unacked"]
            kills.append(
                {
                    "after_s": round(kill_after, 2),
                    "acked_batches": len(result["acked"]),
                    "in_flight_at_kill": len(result["unacked"]),
                }
            )
            log(f"crash round {round_ + 1}: {kills[-1]}; restarting the server")
            server.start()
        acked_ids = [event["id"] for batch in acked for event in batch]
        unacked_ids = [event["id"] for batch in unacked for event in batch]
        stored = _stored(world.channel.pk)
        after_crash = {
            "acked_events": len(acked_ids),
            "stored_events": sum(stored.values()),
            "duplicate_rows": sum(n - 1 for n in stored.values() if n > 1),
            "acked_missing": len(set(acked_ids) - stored.keys()),
            "unacked_events": len(unacked_ids),
            "unacked_but_stored": len(set(unacked_ids) & stored.keys()),
        }
        log(f"crash: after the kills {after_crash}; resending {len(unacked)} batches")
        retry = asyncio.run(_resend(server, world, unacked))
        stored = _stored(world.channel.pk)
        every_id = set(acked_ids) | set(unacked_ids)
        after_retry = {
            "retried_batches": len(unacked),
            "retry_statuses": retry["statuses"],
            "retry_accepted": retry["accepted"],
            "retry_duplicates": retry["duplicates"],
            "stored_events": sum(stored.values()),
            "duplicate_rows": sum(n - 1 for n in stored.values() if n > 1),
            "missing": len(every_id - stored.keys()),
        }
        dispatch = _settle_dispatch(world.channel.pk)
    figures = {
        "benchmark": "crash",
        "rounds": rounds,
        "senders": senders,
        "batch": BATCH,
        "kills": kills,
        "after_crash": after_crash,
        "after_retry": after_retry,
        "dispatch": dispatch,
        "background_cpu_pct_of_core": background,
        "targets": {
            "acked_missing==0": after_crash["acked_missing"] == 0,
            "duplicates_in_db==0": after_crash["duplicate_rows"] == 0
            and after_retry["duplicate_rows"] == 0,
            "retry_stores_all_once": after_retry["missing"] == 0
            and after_retry["retry_duplicates"] == after_crash["unacked_but_stored"],
        },
    }
    emit(figures)
    return figures


def _headers(world, body: bytes) -> dict:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-MCN-Channel": world.channel.key,
        "X-MCN-Timestamp": timestamp,
        "X-MCN-Signature": f"v1={sign(world.secret, timestamp, body)}",
    }


async def _burst(server, world, traffic, *, senders: int, kill_after: float) -> dict:
    acked, unacked = [], []
    killed = asyncio.Event()

    async def sender(client: httpx.AsyncClient) -> None:
        while not killed.is_set():
            events = traffic.batch(BATCH)
            body = json.dumps({"events": events}, ensure_ascii=False).encode()
            try:
                response = await client.post(
                    "/api/v1/ingest/events", content=body, headers=_headers(world, body)
                )
            except httpx.TransportError:
                unacked.append(events)
                continue
            if response.status_code == 202:
                acked.append(events)
            else:
                # A 503 or a refusal is not an acknowledgement; the platform retries it.
                unacked.append(events)

    async def killer() -> None:
        await asyncio.sleep(kill_after)
        killed.set()
        await asyncio.to_thread(server.kill)

    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30) as client:
        await asyncio.gather(killer(), *(sender(client) for _ in range(senders)))
    return {"acked": acked, "unacked": unacked}


async def _resend(server, world, batches: list[list[dict]]) -> dict:
    statuses: dict[str, int] = {}
    accepted = duplicates = 0
    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=30) as client:
        for events in batches:
            body = json.dumps({"events": events}, ensure_ascii=False).encode()
            response = await client.post(
                "/api/v1/ingest/events", content=body, headers=_headers(world, body)
            )
            statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
            if response.status_code == 202:
                accepted += response.json()["accepted"]
                duplicates += response.json()["duplicates"]
    return {"statuses": statuses, "accepted": accepted, "duplicates": duplicates}


def _stored(channel_id: int) -> dict[str, int]:
    table = IngestEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT platform_event_id, count(*) FROM {table} WHERE channel_id = %s GROUP BY 1",
            [channel_id],
        )
        return dict(cursor.fetchall())


def _statuses(channel_id: int) -> dict[str, int]:
    table = IngestEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT status, count(*) FROM {table} WHERE channel_id = %s GROUP BY 1", [channel_id]
        )
        return dict(cursor.fetchall())


def _settle_dispatch(channel_id: int) -> dict:
    """Let the worker finish; rows whose dispatch the kill lost are left for the sweep.

    The kill can land between a batch's commit and its `delay_on_commit`, so some rows may
    stay pending until `ingest_sweep_task` finds them. This runs the sweep's service on them
    directly (the beat schedule is not running here) and reports how many needed it.
    """
    previous, last_change = None, time.monotonic()
    while True:
        statuses = _statuses(channel_id)
        if not statuses.get("pending"):
            break
        if statuses != previous:
            previous, last_change = statuses, time.monotonic()
        elif time.monotonic() - last_change > DISPATCH_SETTLE_SECONDS:
            break
        time.sleep(0.2)
    pending = list(
        IngestEvent.objects.filter(channel_id=channel_id, status="pending").values_list(
            "pk", flat=True
        )
    )
    if pending:
        services.ingest_dispatch(inbox_ids=pending)
    return {
        "left_pending_by_kill": len(pending),
        "statuses_after_sweep": _statuses(channel_id),
    }
