"""Fan-out: 200 websocket clients on one stream, events published at 200/s and at 10/s.

Per variant, one web server (uvicorn, as the Procfile runs it), the clients in one or two
processes (`bench.wsclients`), and a publisher process (`bench.publisher`) appending one
event per transaction at a fixed rate. Every client must receive every event exactly once,
in order; latency is arrival − publish, per event per client.

Variants: `default` (as the Procfile runs it: the pub/sub layer, 50 ms coalescing, no
per-message compression; two publishing threads, as one thread committing one event per
transaction cannot hold 200/s on this machine class), the baselines `core` (channels_redis'
list-based layer), `unbatched` (MCN_WS_BATCH_SECONDS=0) and `deflate` (per-message
compression on, uvicorn's default; the clients offer it as browsers do), and diagnostics:
`concurrent` (four publishing threads, as several workers appending to one stream would:
doorbells then arrive out of id order) and `noheartbeat` (MCN_WS_HEARTBEAT_SECONDS=3600, so
no heartbeat falls inside a phase). The default run is `default,core,unbatched,deflate,concurrent`.
"""

import json
import subprocess
from collections import Counter
from dataclasses import dataclass, field

from rooms import eventlog

from . import fixtures
from .harness import PYTHON, CpuMeter, Processes, WebServer, background_cpu, emit, log
from .stats import histogram_percentiles_ms, ratio


@dataclass(frozen=True)
class Variant:
    env: dict[str, str] = field(default_factory=dict)
    publisher_threads: int = 2
    server_options: tuple[str, ...] = ()

    def describe(self) -> dict:
        return {
            "env": self.env,
            "publisher_threads": self.publisher_threads,
            "server_options": list(self.server_options),
        }


DEFAULT_ENV = {"MCN_CHANNEL_LAYER": "pubsub", "MCN_WS_BATCH_SECONDS": "0.05"}
# The Procfile turns per-message compression off; this is the baseline with it on.
DEFLATE = ("--ws-per-message-deflate", "true")
# Longer than any phase: no heartbeat fires while a phase is measured.
NO_HEARTBEAT = {"MCN_WS_HEARTBEAT_SECONDS": "3600"}
VARIANTS = {
    "default": Variant(env=DEFAULT_ENV),
    "core": Variant(env={**DEFAULT_ENV, "MCN_CHANNEL_LAYER": "core"}),
    "unbatched": Variant(env={**DEFAULT_ENV, "MCN_WS_BATCH_SECONDS": "0"}),
    "concurrent": Variant(env=DEFAULT_ENV, publisher_threads=4),
    "deflate": Variant(env=DEFAULT_ENV, server_options=DEFLATE),
    "noheartbeat": Variant(env={**DEFAULT_ENV, **NO_HEARTBEAT}),
}
RATES = (200, 10)
TARGETS_MS = {200: {"p50_ms": 100, "p99_ms": 300}, 10: {"p50_ms": 30}}
WORST_SECONDS = 3


def run(
    env: dict[str, str],
    *,
    clients: int,
    client_procs: int,
    phase_seconds: float,
    variants: list[str],
) -> dict:
    unknown = set(variants) - VARIANTS.keys()
    if unknown:
        raise ValueError(f"unknown fan-out variants: {', '.join(sorted(unknown))}")
    warm_stream = fixtures.world("fanout-warm").stream.pk
    results = {}
    for name in variants:
        results[name] = _variant(
            env,
            name,
            clients=clients,
            client_procs=client_procs,
            phase_seconds=phase_seconds,
            warm_stream=warm_stream,
        )
    figures = {
        "benchmark": "fanout",
        "clients": clients,
        "client_processes": client_procs,
        "phase_seconds": phase_seconds,
        "variants": results,
        "ratios": _ratios(results),
    }
    if "default" in results:
        figures["targets"] = _targets(results["default"])
    emit(figures)
    return figures


def _variant(env, name, *, clients, client_procs, phase_seconds, warm_stream) -> dict:
    variant = VARIANTS[name]
    background = background_cpu()
    world = fixtures.world(f"fanout-{name}")
    stream_id = world.stream.pk
    token = world.screen_token()
    variant_env = {**env, **variant.env}
    log(f"fanout {name}: {variant.describe()}, {clients} clients")
    phases = {}
    with Processes() as processes:
        server = WebServer(processes, variant_env, options=variant.server_options).start()
        head = eventlog.head(stream_id)
        shares = [
            clients // client_procs + (i < clients % client_procs) for i in range(client_procs)
        ]
        client_processes = [
            processes.start(
                f"clients-{i}",
                [
                    PYTHON,
                    "-m",
                    "bench.wsclients",
                    f"--url={server.ws_url}/ws/streams/{stream_id}/events/",
                    f"--token={token}",
                    f"--origin={server.url}",
                    f"--after={head}",
                    f"--clients={share}",
                ],
                variant_env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i, share in enumerate(shares)
        ]
        for process in client_processes:
            _read(process)
        log(f"fanout {name}: {clients} clients subscribed")
        for rate in RATES:
            phase = _phase(
                processes,
                variant_env,
                server=server,
                client_processes=client_processes,
                stream_id=stream_id,
                warm_stream=warm_stream,
                rate=rate,
                seconds=phase_seconds,
                clients=clients,
                publisher_threads=variant.publisher_threads,
            )
            phases[str(rate)] = phase
            log(f"fanout {name} @ {rate}/s: {phase['latency']}, cpu {phase['cpu_pct_of_core']}")
        for process in client_processes:
            _write(process, {"cmd": "quit"})
        for process in client_processes:
            process.wait()
    return {**variant.describe(), "background_cpu_pct_of_core": background, "rates": phases}


def _phase(
    processes,
    env,
    *,
    server,
    client_processes,
    stream_id,
    warm_stream,
    rate,
    seconds,
    clients,
    publisher_threads,
) -> dict:
    for process in client_processes:
        _write(process, {"cmd": "phase"})
        _read(process)
    argv = [PYTHON, "-m", "bench.publisher", f"--stream={stream_id}"]
    argv += [f"--warm-stream={warm_stream}", f"--rate={rate}", f"--seconds={seconds}"]
    argv += [f"--threads={publisher_threads}"]
    publisher = processes.start(
        "publisher", argv, env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    _read(publisher)
    meter = CpuMeter(
        {
            "web": server.pid,
            "clients": [p.pid for p in client_processes],
            "publisher": publisher.pid,
        }
    ).start()
    _write(publisher, {"cmd": "go"})
    published = _read(publisher)
    cpu = meter.stop()
    publisher.wait()
    processes.forget(publisher)
    if not published["contiguous"]:
        raise RuntimeError("another writer appended to the bench stream")
    # Generous, so that an overloaded baseline still drains and is measured in full.
    timeout = seconds * 6 + 60
    for process in client_processes:
        _write(process, {"cmd": "collect", "last": published["last"], "timeout": timeout})
    reports = [_read(process) for process in client_processes]
    histogram = Counter()
    worst: dict[int, float] = {}
    for report in reports:
        histogram.update({int(k): v for k, v in report["histogram"].items()})
        for second, latency in report["worst_by_second"].items():
            worst[int(second)] = max(worst.get(int(second), 0), latency)
    received = [n for report in reports for n in report["received"]]
    frames = sum(report["frames"] for report in reports)
    expected = published["count"]
    return {
        "published": expected,
        "publisher_achieved_per_s": published["achieved_per_s"],
        "publisher_max_slip_ms": published["max_slip_ms"],
        "publish_cost": published["publish_cost"],
        "layer_group_sends_over_capacity": published["layer_group_sends_over_capacity"],
        "clients": clients,
        "expected_per_client": expected,
        "received_per_client_min": min(received),
        "received_per_client_max": max(received),
        "clients_complete": sum(1 for n in received if n == expected),
        "duplicates": sum(report["duplicates"] for report in reports),
        "missing": sum(report["missing"] for report in reports),
        "reconnects": sum(report["reconnects"] for report in reports),
        "closes": sum((Counter(report["closes"]) for report in reports), Counter()),
        "frames_per_client_per_s": round(frames / clients / seconds, 1),
        "events_per_frame": round(sum(received) / max(1, frames), 2),
        "drain_s_after_publisher": max(report["drain_s"] for report in reports),
        "latency": histogram_percentiles_ms(histogram),
        "worst_seconds": _worst_seconds(worst, published["started_at"]),
        "cpu_pct_of_core": cpu,
    }


def _worst_seconds(worst: dict[int, float], started_at: float) -> list[dict]:
    """The phase's seconds with the slowest deliveries, by publish time from phase start."""
    top = sorted(worst.items(), key=lambda item: item[1], reverse=True)[:WORST_SECONDS]
    return [
        {"at_s": round(second - started_at, 1), "max_ms": round(latency, 1)}
        for second, latency in sorted(top)
    ]


def _ratios(results: dict) -> dict:
    base = results.get("default")
    if base is None:
        return {}
    ratios = {}
    for name in results.keys() - {"default"}:
        ratios[f"{name}_vs_default"] = {
            f"{rate}/s": {
                figure: ratio(
                    results[name]["rates"][rate]["latency"].get(figure),
                    base["rates"][rate]["latency"].get(figure),
                )
                for figure in ("p50_ms", "p99_ms", "max_ms")
            }
            for rate in base["rates"]
        }
    return dict(sorted(ratios.items()))


def _targets(default: dict) -> dict:
    targets = {}
    for rate, limits in TARGETS_MS.items():
        phase = default["rates"][str(rate)]
        targets[f"{rate}/s_every_event_once_in_order"] = (
            phase["clients_complete"] == phase["clients"]
            and phase["duplicates"] == 0
            and phase["missing"] == 0
        )
        targets[f"{rate}/s_rate_held"] = phase["publisher_achieved_per_s"] >= 0.97 * rate
        for figure, limit in limits.items():
            targets[f"{rate}/s_{figure}<={limit}"] = phase["latency"].get(figure, 1e9) <= limit
    return targets


def _write(process: subprocess.Popen, message: dict) -> None:
    process.stdin.write(json.dumps(message) + "\n")
    process.stdin.flush()


def _read(process: subprocess.Popen) -> dict:
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"{process.args[2]} exited with {process.wait()}")
    return json.loads(line)
