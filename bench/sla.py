"""SLA sweep: `support.services.sla_sweep` over 10,000 open question groups.

Ten live streams with 1,000 open groups each (one question per group), deadlines spread
evenly over the six minutes around the sweep's `now`, as a queue three minutes deep has
them. Groups past their deadline are already flagged as breached and those within their
warning minute as warned, as the sweeps before this one left them. The sweep is called in
process at that fixed `now`, timed from the call to its return (its transaction, both
UPDATEs and the events it publishes).

- nothing due: the state above, swept again and again; every sweep finds nothing.
- some due: before each sweep (untimed), as many groups as pass a deadline or reach a
  warning between two beat sweeps of a queue this deep (10,000 × 5 s / 180 s = 278 of
  each) get their flag cleared again, so the sweep flags them and publishes their events.

Open groups left in the bench database by earlier runs are dismissed first, so the sweep
sees exactly the queue described; they stay in the table as history, as answered and
dismissed groups do in production, and the figures say how many there are. Each case
starts with the tables vacuumed and analysed (`supportfixtures.settle`).
"""

import random
import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from rooms.models import StreamEvent
from support import services
from support.models import GroupStatus, QuestionGroup

from . import fixtures, supportfixtures
from .harness import CpuMeter, background_cpu, emit, log
from .stats import percentiles_ms

STREAMS = 10
SWEEP_EVERY = timedelta(seconds=5)  # the beat's schedule for support.tasks.sla_sweep_task
SLA = timedelta(minutes=3)
WARN_BEFORE = timedelta(minutes=1)
WARMUP = 3
TARGET_MS = 50


def run(env: dict[str, str], *, groups: int, repeats: int) -> dict:
    background = background_cpu()
    leftovers = QuestionGroup.objects.filter(status=GroupStatus.OPEN).update(
        status=GroupStatus.DISMISSED
    )
    if leftovers:
        log(f"sla: dismissed {leftovers} open groups left by earlier runs")
    now = timezone.now()
    streams = [fixtures.world(f"sla-{k}").stream for k in range(STREAMS)]
    ids = []
    for k, stream in enumerate(streams):
        share = groups // STREAMS + (1 if k < groups % STREAMS else 0)
        # Deadlines every few milliseconds from now - SLA to now + SLA, interleaved across
        # the streams.
        deadlines = [now - SLA + (2 * SLA) * ((i * STREAMS + k) / groups) for i in range(share)]
        ids += supportfixtures.open_groups(stream, share, deadlines=deadlines, seed=k)
    open_groups = QuestionGroup.objects.filter(pk__in=ids)
    past = list(open_groups.filter(deadline__lte=now).values_list("pk", flat=True))
    warning = list(
        open_groups.filter(deadline__gt=now, deadline__lte=now + WARN_BEFORE).values_list(
            "pk", flat=True
        )
    )
    due_each = round(groups * SWEEP_EVERY / SLA)
    log(f"sla: {groups} open groups on {STREAMS} streams; {repeats} sweeps per case")

    def settled() -> None:
        with transaction.atomic():
            open_groups.filter(pk__in=past).update(breached=True, warned=True)
            open_groups.filter(pk__in=warning).update(warned=True, breached=False)
            open_groups.exclude(pk__in=past + warning).update(warned=False, breached=False)

    settled()
    rng = random.Random(3)
    cases = {}
    for case in ("nothing_due", "some_due"):
        supportfixtures.settle()
        times_ms, flagged = [], []
        meter = None
        for run_number in range(WARMUP + repeats):
            if case == "some_due":
                with transaction.atomic():
                    open_groups.filter(pk__in=rng.sample(past, due_each)).update(breached=False)
                    open_groups.filter(pk__in=rng.sample(warning, due_each)).update(warned=False)
            if run_number == WARMUP:
                meter = CpuMeter({}).start()
            began = time.perf_counter()
            warned, breached = services.sla_sweep(now=now)
            elapsed_ms = (time.perf_counter() - began) * 1000
            if run_number >= WARMUP:
                times_ms.append(elapsed_ms)
                flagged.append((warned, breached))
        cases[case] = {
            "sweep": percentiles_ms(times_ms),
            "warned_per_sweep": sorted({w for w, _ in flagged}),
            "breached_per_sweep": sorted({b for _, b in flagged}),
            "cpu_percent": meter.stop(),
        }
        log(f"sla/{case}: {cases[case]['sweep']}")
        settled()
    events = list(
        StreamEvent.objects.filter(stream__in=streams, type="sla").values_list("data", flat=True)
    )
    figures = {
        "benchmark": "sla",
        "open_groups": groups,
        "streams": STREAMS,
        "repeats": repeats,
        "already_breached": len(past),
        "in_warning_window": len(warning),
        "due_per_sweep": due_each,
        # Every group in the table, closed ones of earlier runs included: the planner's
        # choice between the partial indexes and a scan depends on it.
        "groups_in_table": QuestionGroup.objects.count(),
        **cases,
        # One "sla" event per stream and sweep, naming the groups it flagged.
        "sla_events_published": len(events),
        "groups_named": {
            flag: sum(len(data[flag]) for data in events) for flag in ("warned", "breached")
        },
        "background_cpu_percent": background,
        "target": {"p95_ms": TARGET_MS},
        "meets_target": all(cases[case]["sweep"].get("p95_ms", 1e9) <= TARGET_MS for case in cases),
    }
    emit(figures)
    return figures
