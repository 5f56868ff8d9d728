import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = str(ROOT / "mcn_console" / "embedded.py")

# Run by the child process that mcn_console.embedded starts: it must find both services.
PROBE = """
import os, psycopg, redis
with psycopg.connect(os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")) as db:
    print("postgres", db.execute("SHOW server_version").fetchone()[0])
print("redis", redis.Redis.from_url(os.environ["REDIS_URL"]).info()["redis_version"])
print("urls", os.environ["DATABASE_URL"], os.environ["REDIS_URL"])
print("settings", os.environ.get("DJANGO_SETTINGS_MODULE", "unset"))
"""


def test_without_urls_it_starts_real_postgres_and_redis_and_stops_them_after(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["MCN_VAR_DIR"] = str(tmp_path / "var")

    run = subprocess.run(
        [sys.executable, WRAPPER, "--", sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines())
    database_url, redis_url = lines["urls"].split()
    assert run.returncode == 0, run.stderr
    assert lines["postgres"].startswith("18.")
    assert lines["redis"].startswith("6.2")
    assert (tmp_path / "var" / "postgres" / "PG_VERSION").exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(database_url.replace("postgres://", "postgresql://"), connect_timeout=2)
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()


def test_with_urls_set_it_runs_the_command_on_those_services(tmp_path):
    env = dict(os.environ, MCN_VAR_DIR=str(tmp_path / "var"))
    env.pop("DJANGO_SETTINGS_MODULE", None)

    run = subprocess.run(
        [sys.executable, WRAPPER, "--", sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 0, run.stderr
    assert f"urls {os.environ['DATABASE_URL']} {os.environ['REDIS_URL']}" in run.stdout
    assert "settings unset" in run.stdout
    assert not (tmp_path / "var").exists()


def test_the_commands_exit_status_is_passed_on(tmp_path):
    env = dict(os.environ, MCN_VAR_DIR=str(tmp_path / "var"))

    run = subprocess.run(
        [
            sys.executable,
            WRAPPER,
            "--",
            sys.executable,
            "-c",
            "raise SystemExit(3)",
        ],
        cwd=ROOT,
        env=env,
        timeout=60,
    )

    assert run.returncode == 3
