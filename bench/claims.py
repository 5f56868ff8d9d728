"""Claims: CS agents racing for the groups of one stream's queue; nobody holds a group twice.

Per mode (see `bench.claimers`), a fresh live stream with 10,000 open groups and 50 CS
agents crewed on it (capacity 3, the default), spread over client processes with one
thread and one database connection each. For `--claim-seconds` (shorter than a claim's
lease, so no claim lapses and comes free again) they claim as fast as they can, answering
what they hold when they reach their capacity.

Afterwards, from three sources: the claims each agent was told succeeded (no group may
appear twice), the groups' own rows (each claimed group's holder, or whoever answered it,
must be the one agent told so; no group may be held without a success), and the stream's
log (one "claimed" event per success, none for the same group twice).

The rate (≥ 1,000 claim attempts/s under contention) is the race's: `claim`, many agents
clicking the same groups at the top of the queue, most of them losing, which is what puts
exclusivity at risk. `next` hands each caller a different group (SKIP LOCKED): no attempt
loses, every attempt is a won claim (and, at capacity, answers), so its rate is reported
and held to 0 double claims but not to the 1,000/s (docs/benchmarks.md, "Sixth run",
says why). `take` runs the claim's UPDATE alone, to show how much of the cost
is the database's.
"""

import json
import subprocess
from collections import Counter, defaultdict

from django.db.models import Q

from rooms.models import StreamEvent
from support.models import QuestionGroup
from support.selectors import CLAIM_LEASE

from . import fixtures, supportfixtures
from .harness import PYTHON, CpuMeter, Processes, background_cpu, emit, log
from .stats import percentiles_ms

TARGET_ATTEMPTS_PER_S = 1000
MODES = ("claim", "next", "take")
RACE_MODE = "claim"  # the rate's mode: agents contending for the same groups
SERVICE_MODES = ("claim", "next")  # `take` skips the service: no target applies to it


def run(
    env: dict[str, str],
    *,
    seconds: float,
    agents: int,
    procs: int,
    groups: int,
    modes: tuple[str, ...] | list[str] = MODES,
) -> dict:
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"--claim-modes: no mode {', '.join(sorted(unknown))}")
    if seconds >= CLAIM_LEASE.total_seconds() - 2:
        raise ValueError(f"--claim-seconds must stay under the {CLAIM_LEASE} lease")
    background = background_cpu()
    figures = {
        "benchmark": "claims",
        "open_groups": groups,
        "agents": agents,
        "agent_processes": procs,
        "seconds": seconds,
    }
    for mode in modes:
        figures[mode] = _phase(
            env, mode, seconds=seconds, agents=agents, procs=procs, groups=groups
        )
    figures["background_cpu_percent"] = background
    figures["target"] = {
        "attempts_per_s": TARGET_ATTEMPTS_PER_S,
        "rate_mode": RACE_MODE,
        "double_claims": 0,
    }
    exclusive = [mode for mode in SERVICE_MODES if mode in modes]
    figures["meets_target"] = (
        RACE_MODE in modes
        and figures[RACE_MODE]["attempts_per_s"] >= TARGET_ATTEMPTS_PER_S
        and all(
            figures[mode]["double_claims"] == 0
            and figures[mode]["unreported_holds"] == 0
            and figures[mode]["holder_mismatches"] == 0
            for mode in exclusive
        )
    )
    emit(figures)
    return figures


def _phase(env, mode: str, *, seconds: float, agents: int, procs: int, groups: int) -> dict:
    world = fixtures.world(f"claims-{mode}")
    log(f"claims/{mode}: {groups} open groups, {agents} agents in {procs} processes")
    users = supportfixtures.cs_agents(world.stream, agents)
    supportfixtures.open_groups(world.stream, groups)
    supportfixtures.settle()
    shares = [users[k::procs] for k in range(procs)]
    with Processes() as processes:
        claimers = [
            processes.start(
                f"claimers {k}",
                [
                    PYTHON,
                    "-m",
                    "bench.claimers",
                    "--stream",
                    str(world.stream.pk),
                    "--agents",
                    ",".join(str(user.pk) for user in share),
                    "--mode",
                    mode,
                    "--seconds",
                    str(seconds),
                    "--seed",
                    str(k + 1),
                ],
                # One connection per agent thread, held for the whole run.
                {**env, "DATABASE_POOL_MAX": str(len(share) + 2)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for k, share in enumerate(shares)
        ]
        for claimer in claimers:
            ready = json.loads(claimer.stdout.readline() or "{}")
            if ready.get("ready") is not True:
                raise RuntimeError(f"an agent process did not come up: {ready}")
        meter = CpuMeter({"agents": [claimer.pid for claimer in claimers]}).start()
        for claimer in claimers:
            claimer.stdin.write("go\n")
            claimer.stdin.flush()
        reports = [json.loads(claimer.stdout.readline()) for claimer in claimers]
        cpu = meter.stop()
    return _figures(world.stream, reports, cpu, publishes=mode in SERVICE_MODES)


def _figures(stream, reports: list[dict], cpu: dict, *, publishes: bool) -> dict:
    elapsed = max(r["ended_at"] for r in reports) - min(r["started_at"] for r in reports)
    attempts = sum(r["attempts"] for r in reports)
    successes = [success for r in reports for success in r["successes"]]
    told: dict[int, list[int]] = defaultdict(list)
    for group_id, user_id, _version in successes:
        told[group_id].append(user_id)
    doubles = {group_id: holders for group_id, holders in told.items() if len(holders) > 1}
    held = dict(
        QuestionGroup.objects.filter(stream=stream)
        .filter(Q(claimed_by__isnull=False) | Q(answered_by__isnull=False))
        .values_list("pk", "claimed_by_id")
    )
    answered = dict(
        QuestionGroup.objects.filter(stream=stream, answered_by__isnull=False).values_list(
            "pk", "answered_by_id"
        )
    )
    holder = {group_id: held[group_id] or answered.get(group_id) for group_id in held}
    claimed_events = Counter(
        StreamEvent.objects.filter(stream=stream, type="question", op="claimed").values_list(
            "data__id", flat=True
        )
    )
    figures = {
        "attempts": attempts,
        "attempts_per_s": round(attempts / elapsed, 1),
        "successes": len(successes),
        "successes_per_s": round(len(successes) / elapsed, 1),
        "conflicts": sum(r["conflicts"] for r in reports),
        "empty_queue": sum(r["empty"] for r in reports),
        "answers": sum(r["answers"] for r in reports),
        "errors": sum(r["errors"] for r in reports),
        "error_sample": next((r["error_sample"] for r in reports if r["error_sample"]), ""),
        "elapsed_s": round(elapsed, 2),
        "double_claims": len(doubles),
        # Held or answered in the database without any agent having been told it claimed it.
        "unreported_holds": len(holder.keys() - told.keys()),
        "holder_mismatches": sum(
            1 for group_id, holders in told.items() if holder.get(group_id) != holders[0]
        ),
        "claimed_events": sum(claimed_events.values()) if publishes else None,
        "groups_claimed_twice_in_log": sum(1 for n in claimed_events.values() if n > 1),
        "claim_latency": percentiles_ms([ms for r in reports for ms in r["claim_ms"]]),
        "conflict_latency": percentiles_ms([ms for r in reports for ms in r["conflict_ms"]]),
        "answer_latency": percentiles_ms([ms for r in reports for ms in r["answer_ms"]]),
        "cpu_percent": cpu,
    }
    log(
        f"claims: {figures['attempts_per_s']} attempts/s, {figures['successes_per_s']} "
        f"successes/s, {figures['double_claims']} double claims"
    )
    return figures
