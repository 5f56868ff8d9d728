"""What every benchmark needs: its own database, Django, subprocesses that always stop, CPU.

The bench database is `<name>_bench` next to the one DATABASE_URL names, and every bench
process uses the Redis key prefix `mcn-bench`, so neither a development database nor a
development Celery worker ever sees a benchmark's rows or tasks.
"""

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
REDIS_PREFIX = "mcn-bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT_SECONDS = 60


def procfile_command(process: str) -> list[str]:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return shlex.split(command)
    raise LookupError(f"no {process!r} process in the Procfile")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(figures: dict) -> None:
    """The one line of figures a benchmark prints on stdout."""
    print(json.dumps(figures, ensure_ascii=False, separators=(",", ":")), flush=True)


# --- Database and Django -----------------------------------------------------------------


def bench_database_url(url: str) -> str:
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "mcn"
    if not name.endswith("_bench"):
        name += "_bench"
    return urlunsplit(parts._replace(path="/" + name))


def _ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            log(f"creating database {name}")
            connection.execute(f'CREATE DATABASE "{name}"')


def _clear_redis_namespace(url: str) -> None:
    """Leftovers of an interrupted run (queued dispatch tasks) would skew the next one."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{REDIS_PREFIX}:*", count=1000):
            client.delete(key)
    finally:
        client.close()


def prepare() -> dict[str, str]:
    """Point this process and its children at the bench database, migrate, set up Django."""
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            raise SystemExit(f"{name} must be set (make bench sets it)")
    url = bench_database_url(os.environ["DATABASE_URL"])
    _ensure_database(url)
    _clear_redis_namespace(os.environ["REDIS_URL"])
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="mcn_console.settings",
        DJANGO_SECRET_KEY="bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz",
        DJANGO_DEBUG="false",
        DJANGO_SECURE="false",
        LOG_LEVEL="WARNING",
        LOG_FORMAT="plain",
        MCN_REDIS_PREFIX=REDIS_PREFIX,
        PYTHONUNBUFFERED="1",
    )
    log(f"database {urlsplit(url).path.lstrip('/')}: migrating")
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        check=True,
        stdout=sys.stderr,
    )
    import django

    django.setup()
    return dict(os.environ)


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Subprocesses ------------------------------------------------------------------------


class Processes:
    """The subprocesses of one benchmark; every one is stopped on exit, however it exits.

    Each runs in its own session, so its process group id is its pid: a Celery worker's
    pool children are stopped with it, and nothing else is.
    """

    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen]] = []

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, *exc) -> None:
        for name, process in reversed(self.running):
            self.stop(process, name=name)
        self.running.clear()

    def start(self, name: str, argv: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
        kwargs.setdefault("stdout", sys.stderr)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        process = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True, **kwargs)
        self.running.append((name, process))
        return process

    def forget(self, process: subprocess.Popen) -> None:
        self.running = [(n, p) for n, p in self.running if p is not process]

    @staticmethod
    def stop(process: subprocess.Popen, *, name: str = "", timeout: float = 15) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{name or process.pid} did not stop on SIGTERM; killing its group")
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class WebServer:
    """The ASGI server as the Procfile runs it, as a subprocess with its own environment."""

    processes: Processes
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    options: tuple[str, ...] = ()
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> "WebServer":
        # Exactly the Procfile's web command, so the bench measures what `make run` runs.
        argv = [PYTHON if word == "python" else word for word in procfile_command("web")]
        argv = [word.replace("${MCN_PORT}", str(self.port)) for word in argv]
        argv += list(self.options)
        self.process = self.processes.start("web", argv, self.env)
        self._await_ready()
        return self

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a pulled plug would."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.processes.forget(self.process)
        self.process = None

    def _await_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        with httpx.Client(base_url=self.url, trust_env=False, timeout=2) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"web server exited with {self.process.returncode}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("web server not ready in time")
                time.sleep(0.05)


def start_worker(processes: Processes, env: dict[str, str]) -> subprocess.Popen:
    """A Celery worker as the Procfile runs it; returns once it answers a ping."""
    from mcn_console.celery import app

    argv = [PYTHON, "-m", "celery", "-A", "mcn_console", "worker", "--concurrency", "2"]
    argv += ["-l", "WARNING", "-n", f"bench-{os.getpid()}@%h"]
    process = processes.start("worker", argv, env)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not app.control.ping(timeout=0.5):
        if process.poll() is not None:
            raise RuntimeError(f"Celery worker exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("Celery worker did not answer a ping in time")
    return process


# --- CPU ---------------------------------------------------------------------------------


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _process_ticks() -> dict[int, tuple[str, int, int, int]]:
    """pid → (command, parent pid, process group, user + system ticks) for every process."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        close = text.rindex(")")
        command = text[text.index("(") + 1 : close]
        fields = text[close + 2 :].split()
        found[int(entry.name)] = (
            command,
            int(fields[1]),
            int(fields[2]),
            int(fields[11]) + int(fields[12]),
        )
    return found


def _postmaster_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    connection.close()
    return _process_ticks().get(backend, ("", 0, 0, 0))[1]


def _backend_database(pid: int) -> str | None:
    """The database a PostgreSQL backend serves, from its title; None for server processes.

    A backend's title is "postgres: [<cluster>:] <user> <database> <client> <state>".
    """
    words = _cmdline(pid).split()
    if words[1:] and words[1].endswith(":"):
        words = words[1:]
    client = next((i for i, w in enumerate(words) if w == "[local]" or "(" in w), None)
    return words[client - 1] if client and client >= 3 else None


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class CpuMeter:
    """CPU used between `start()` and `stop()`, in % of one core: per labelled process group,
    this bench process, the bench's PostgreSQL database and Redis server, and everything
    else ("other": on a shared box, someone else's servers and tests); `machine_busy_pct` is
    the share of all cores.
    """

    def __init__(self, groups: dict[str, int | Iterable[int]]) -> None:
        self.groups = {
            label: {pgid} if isinstance(pgid, int) else set(pgid)
            for label, pgid in {**groups, "bench": os.getpid()}.items()
        }
        self.postmaster = _postmaster_pid()
        self.database = urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/")
        redis_port = urlsplit(os.environ["REDIS_URL"]).port or 6379
        self.redis_marks = (f":{redis_port}", f"--port {redis_port}")

    def start(self) -> "CpuMeter":
        self.began = time.monotonic()
        self.machine = _machine_ticks()
        self.processes = _process_ticks()
        return self

    def stop(self) -> dict[str, float]:
        seconds = time.monotonic() - self.began
        busy, total = _machine_ticks()
        used = dict.fromkeys([*self.groups, "postgres", "redis", "other"], 0)
        for pid, (command, ppid, pgid, ticks) in _process_ticks().items():
            # CPU times survive exec, and kernel workers rename themselves: match by pid.
            before = self.processes.get(pid)
            delta = ticks - (before[3] if before else 0)
            if delta > 0:
                used[self._label(pid, command, ppid, pgid)] += delta
        figures = {
            label: round(100 * ticks / CLOCK_TICKS / seconds, 1) for label, ticks in used.items()
        }
        figures["machine_busy_pct"] = round(
            100 * (busy - self.machine[0]) / max(1, total - self.machine[1]), 1
        )
        return figures

    def _label(self, pid: int, command: str, ppid: int, pgid: int) -> str:
        for label, pgids in self.groups.items():
            if pgid in pgids or pid in pgids:
                return label
        if pid == self.postmaster or ppid == self.postmaster:
            database = _backend_database(pid)
            return "postgres" if database in (None, self.database) else "other"
        if command.startswith("redis") and any(m in _cmdline(pid) for m in self.redis_marks):
            return "redis"
        return "other"


def background_cpu(seconds: float = 3.0) -> dict[str, float]:
    """What the machine is already doing before a benchmark starts (a shared box is not
    idle: someone's dev server or test run shows up as "other")."""
    meter = CpuMeter({}).start()
    time.sleep(seconds)
    return meter.stop()
