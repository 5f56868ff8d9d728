import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing

import pytest
import redis
import uvicorn
from django.conf import settings
from django.test import Client

from rooms.ingest import sign


@pytest.fixture(scope="session", autouse=True)
def _redis_key_space() -> Iterator[None]:
    """Remove this run's Redis keys afterwards; the prefix keeps runs apart meanwhile."""
    yield
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match=f"{settings.RUN_PREFIX}*", count=1000):
        client.delete(key)
    client.close()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test starts with an empty cache (sign-in counters live there).

    Only this run's cache keys go: `cache.clear()` would flush the whole Redis database.
    """
    yield
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{settings.RUN_PREFIX}:1:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def signed_headers(channel_key: str, secret: str, body: bytes, *, timestamp: int | None = None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "X-MCN-Channel": channel_key,
        "X-MCN-Timestamp": str(timestamp),
        "X-MCN-Signature": f"v1={sign(secret, timestamp, body)}",
    }


def post_events(client: Client, channel, events: list[dict], *, secret: str | None = None):
    """POST a signed batch to the ingest webhook, as a platform would."""
    body = json.dumps({"events": events}).encode()
    secret = secret or channel.secrets.order_by("pk").first().secret
    return client.post(
        "/api/v1/ingest/events",
        data=body,
        content_type="application/json",
        headers=signed_headers(channel.key, secret, body),
    )


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AsgiServer:
    """The real ASGI application under uvicorn, in a thread, on the test database."""

    def __init__(self) -> None:
        from mcn_console.asgi import application

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                application,
                ws_per_message_deflate=False,
                host="127.0.0.1",
                port=self.port,
                lifespan="off",
                log_level="warning",
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "AsgiServer":
        self.thread.start()
        started = threading.Event()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the ASGI server did not start")
            started.wait(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def asgi_server(transactional_db) -> Iterator[AsgiServer]:
    with AsgiServer() as server:
        yield server


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker, in a thread, consuming from the real Redis broker."""
    from celery.contrib.testing.worker import start_worker

    from mcn_console.celery import app

    # Tasks queued by earlier tests (which ran no worker) refer to rows long gone.
    app.control.purge()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


def locks_awaited() -> int:
    """How many sessions of this test database are waiting for a lock right now (a row or
    a transaction another thread of the test holds)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def wait_until(predicate, *, timeout: float = 10.0, interval: float = 0.02):
    """Poll until `predicate()` is truthy and return its value; fail after `timeout` seconds."""
    pause = threading.Event()
    for _ in range(int(timeout / interval) + 1):
        value = predicate()
        if value:
            return value
        pause.wait(interval)
    raise AssertionError(f"condition not met within {timeout} s")
