"""The Celery worker as deployed: a prefork child keeps its database connection from one
task to the next, as a web process does from one request to the next."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from mcn_console.celery import app
from rooms.models import IngestEvent, IngestStatus
from tests.conftest import post_events, wait_until
from tests.factories import StreamFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
APPLICATION_NAME = f"mcn-test-worker-{os.getpid()}"


@pytest.fixture
def prefork_worker(settings, tmp_path):
    """The Procfile's worker command with one child process, on this test's database and
    broker keys; its connections carry an application name of their own."""
    database = urlsplit(os.environ["DATABASE_URL"])._replace(
        path="/" + connection.settings_dict["NAME"]
    )
    node = f"prefork-{os.getpid()}@test"
    env = dict(
        os.environ,
        DATABASE_URL=urlunsplit(database),
        DJANGO_SETTINGS_MODULE="tests.settings",
        MCN_TEST_RUN_PREFIX=settings.RUN_PREFIX,
        PGAPPNAME=APPLICATION_NAME,
        # One connection: a task that opened another would show as a new backend.
        DATABASE_POOL_MIN="1",
        DATABASE_POOL_MAX="1",
    )
    app.control.purge()
    log = tmp_path / "worker.log"
    with log.open("w") as stderr:
        worker = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "mcn_console", "worker"),
                *("--pool", "prefork", "--concurrency", "1", "-l", "WARNING", "-n", node),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    worker.log = log

    def answers() -> bool:
        assert worker.poll() is None, f"the worker exited:\n{log.read_text()}"
        return bool(app.control.ping([node], timeout=0.5))

    try:
        wait_until(answers, timeout=60)
        yield worker
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def _worker_backends() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [APPLICATION_NAME],
        )
        return {pid for (pid,) in cursor.fetchall()}


def _dispatched(stream, event_id: str) -> None:
    """A comment through the webhook, and its dispatch task run by the worker."""
    comment = {"id": event_id, "type": "comment", "at": timezone.now().isoformat()}
    comment |= {"user_id": "u1", "user_name": "阿花", "text": "主播好美"}
    assert post_events(Client(), stream.channel, [comment]).status_code == 202
    wait_until(
        lambda: IngestEvent.objects.filter(
            platform_event_id=event_id, status=IngestStatus.PROCESSED
        ).exists(),
        timeout=30,
    )


def test_a_prefork_worker_keeps_its_connection_from_task_to_task(prefork_worker):
    stream = StreamFactory()

    _dispatched(stream, "c0")
    # Still open after the task: Celery's own fix-up would have closed it with the pool.
    # (That it went back to the pool, not kept by the task's thread, is the next test's:
    # a connection kept would fail its next task once cut.)
    first = wait_until(_worker_backends)
    for number in range(1, 6):
        _dispatched(stream, f"c{number}")

    assert len(first) == 1
    assert _worker_backends() == first


def test_a_worker_whose_connection_was_cut_takes_a_new_one_for_the_next_task(prefork_worker):
    stream = StreamFactory()
    _dispatched(stream, "c0")
    [cut] = wait_until(_worker_backends)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [cut])
    wait_until(lambda: not _worker_backends())

    # Checked as it leaves the pool: the dead connection is replaced, the task not failed.
    _dispatched(stream, "c1")

    assert _worker_backends() - {cut}
    assert "ERROR" not in prefork_worker.log.read_text()
