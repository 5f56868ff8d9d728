"""Ad boosts: a metric spike → the decision card on the ad buyer's screen, 50 streams at once.

One web server and one Celery worker, as the Procfile runs them. 50 live streams, each on
its own channel with an ad account, one campaign and three enabled rules (ROI above
break-even → add ¥300; CTR above 4 % → add ¥200; conversion above 12 % → notify), all
judged over the last 5 minutes. Each campaign has 15 minutes of history before the run,
so every window is full from the first sample.

Steady load, as platforms report: for every stream, a sender posts a signed batch through
the ingest webhook every 2–5 s (uniformly drawn): the campaign's cumulative ad metrics,
a viewer sample and, now and then, a paid order. The numbers sit well inside every rule
(ROI 2, CTR 2 %, conversion 5 %, with ±30 % noise per sample), so the steady load itself
makes no card. At random moments (exponential gaps, `spike_every` seconds on average) the
sender posts one spike for one stream: an ad metrics sample whose jump takes one rule's
metric to twice its threshold over the window (GMV for ROI, clicks for CTR, orders for
conversion) and leaves the other two rules' metrics where they were.

Each stream has a buyer's screen: a websocket client on its event log (a screen token of
the stream's studio), in one client process (`bench.boostclients`). Latency per spike:
from the moment its POST began to the arrival of the card ("boost" event, op "proposed")
for that stream's rule on that stream's screen.

Cool-downs. A rule does not propose again for a campaign while its card is open, and an
unanswered card stays open for the rule's cool-down (6 minutes here, at least 5). So a
spike goes to a (stream, rule) pair that has not had one for 6.5 minutes: its last card
has gone stale (the new card expires it, "expired" then "proposed") and its last spike has
left the 5-minute window, so the steady load never re-fires it. With 50 streams × 3 rules
there are 150 such pairs; runs of up to 150 spikes use each pair at most once. Any card
that no spike explains is counted (`unexpected_cards`), as is any spike without a card.

Market rule tools check every 15–30 minutes: a change waits on average half a period for
the next check, 7.5–15 minutes; the figures give that against the measured latency.
"""

import asyncio
import json
import math
import random
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from django.utils import timezone

from ads.models import AdAccount, AdPlatform, BoostRule, Campaign, CampaignMinute
from ads.rules_engine import break_even_roi
from rooms import eventlog
from rooms.ingest import sign

from . import fixtures
from .fixtures import World
from .harness import (
    PYTHON,
    CpuMeter,
    Processes,
    WebServer,
    background_cpu,
    emit,
    log,
    start_worker,
)
from .stats import percentiles_ms, ratio

KINDS = ("roi", "ctr", "cvr")
WINDOW_MINUTES = 5
COOLDOWN_MINUTES = 6
# A pair's last card has gone stale and its last spike left the window, with a margin
# for a sample sent just before the card went stale and judged just after.
PAIR_REST_SECONDS = COOLDOWN_MINUTES * 60 + 30
SEEDED_MINUTES = 15
SAMPLE_EVERY_SECONDS = (2.0, 5.0)
NOISE = 0.3
ORDER_SHARE = 0.3
WARMUP_SECONDS = 10
DRAIN_SECONDS = 10
GROSS_MARGIN, RETURN_RATE = Decimal("0.40"), Decimal("0.20")
CTR_THRESHOLD, CVR_THRESHOLD = 0.04, 0.12
SPIKE_FACTOR = 2.0
TARGET_P99_MS = 2000
MARKET_CHECK_MINUTES = (15, 30)

# An ordinary campaign's pace per minute at scale 1: ROI 2, CTR 2 %, conversion 5 %.
PACE = {"spend": 20.0, "impressions": 2000.0, "clicks": 40.0, "orders": 2.0, "gmv": 40.0}
FIELDS = tuple(PACE)


@dataclass
class Pushed:
    """One stream with its campaign as the sender sees it: running totals as the platform
    reports them, and the totals at the end of each minute (to size a spike's jump)."""

    index: int
    world: World
    external_id: str
    rules: dict[str, int]
    scale: float
    totals: dict[str, float]
    minutes: dict[datetime, dict[str, float]] = field(default_factory=dict)
    online: int = 2000
    entered: int = 50_000
    counter: int = 0

    def event_id(self) -> str:
        self.counter += 1
        return f"boosts-{fixtures.RUN}-{self.index}-{self.counter}"

    def record(self, at: datetime) -> dict:
        self.minutes[at.replace(second=0, microsecond=0)] = dict(self.totals)
        return {
            "id": self.event_id(),
            "type": "ad_metrics",
            "at": at.isoformat(),
            "campaign_id": self.external_id,
            "spend": f"{self.totals['spend']:.2f}",
            "impressions": int(self.totals["impressions"]),
            "clicks": int(self.totals["clicks"]),
            "orders": int(self.totals["orders"]),
            "gmv": f"{self.totals['gmv']:.2f}",
        }

    def window(self, at: datetime) -> dict[str, float]:
        """What the last 5 minutes hold if judged at `at`'s minute: now less the totals at
        the end of the minute 5 minutes before (the engine's `total[i] - total[i - 5]`)."""
        base_minute = at.replace(second=0, microsecond=0) - timedelta(minutes=WINDOW_MINUTES)
        before = [m for m in self.minutes if m <= base_minute]
        base = self.minutes[max(before)] if before else dict.fromkeys(FIELDS, 0.0)
        return {name: self.totals[name] - base[name] for name in FIELDS}


def run(env: dict[str, str], *, streams: int, spikes: int, spike_every: float) -> dict:
    background = background_cpu()
    log(f"boosts: setting up {streams} live streams with a campaign and 3 rules each")
    rng = random.Random(7)
    pushed = [_pushed(index, rng) for index in range(streams)]
    with Processes() as processes:
        server = WebServer(processes, env).start()
        worker = start_worker(processes, env)
        screens = _screens(processes, env, server, pushed)
        log(
            f"boosts: {spikes} spikes, one every {spike_every:.1f} s on average, over a sample "
            f"per stream every {SAMPLE_EVERY_SECONDS[0]:.0f}–{SAMPLE_EVERY_SECONDS[1]:.0f} s"
        )
        meter = CpuMeter({"web": server.pid, "worker": worker.pid, "screens": screens.pid})
        sent = asyncio.run(
            _drive(server.url, pushed, rng, meter, spikes=spikes, spike_every=spike_every)
        )
        seen = _collect(screens)
    figures = _figures(sent, seen, streams=streams, spike_every=spike_every)
    figures["background_cpu_percent"] = background
    emit(figures)
    return figures


# --- Set-up ------------------------------------------------------------------------------


def _pushed(index: int, rng: random.Random) -> Pushed:
    """A live stream on its own channel (ingest routes by channel), its ad account with three
    rules, one campaign, and the campaign's last 15 minutes as the platform reported them."""
    world = fixtures.world(f"boosts-{index}")
    account = AdAccount.objects.create(
        channel=world.channel,
        platform=AdPlatform.QIANCHUAN,
        name=f"千川 {world.channel.name}",
        external_id=f"acct-{fixtures.RUN}-{index}",
    )
    campaign = Campaign.objects.create(
        account=account,
        stream=world.stream,
        external_id=f"cmp-{fixtures.RUN}-{index}",
        name=f"直播间推广 {index}",
        budget=Decimal("5000"),
    )
    common = {
        "account": account,
        "cooldown_minutes": COOLDOWN_MINUTES,
        "gross_margin": GROSS_MARGIN,
        "return_rate": RETURN_RATE,
    }
    rules = {
        "roi": BoostRule.objects.create(
            name="ROI above break-even: add ¥300",
            conditions=[
                {"metric": "roi", "window": WINDOW_MINUTES, "op": ">", "value": "break_even"}
            ],
            # In a minute's first seconds the window holds only four minutes of spend (¥48 on
            # the smallest campaign): a higher guard would hold a spike's card until the
            # spend catches up, which measures the guard, not the path to the screen.
            min_spend=Decimal("30"),
            action="add_budget",
            amount=Decimal("300"),
            cap_per_stream=Decimal("3000"),
            approval_above=Decimal("500"),
            **common,
        ),
        "ctr": BoostRule.objects.create(
            name="CTR above 4 %: add ¥200",
            conditions=[
                {"metric": "ctr", "window": WINDOW_MINUTES, "op": ">", "value": str(CTR_THRESHOLD)}
            ],
            action="add_budget",
            amount=Decimal("200"),
            cap_per_stream=Decimal("2000"),
            **common,
        ),
        "cvr": BoostRule.objects.create(
            name="Conversion above 12 %: tell the buyer",
            conditions=[
                {"metric": "cvr", "window": WINDOW_MINUTES, "op": ">", "value": str(CVR_THRESHOLD)}
            ],
            action="notify",
            **common,
        ),
    }
    pushed = Pushed(
        index=index,
        world=world,
        external_id=campaign.external_id,
        rules={kind: rule.pk for kind, rule in rules.items()},
        scale=rng.uniform(0.6, 1.6),
        totals=dict.fromkeys(FIELDS, 0.0),
    )
    now = timezone.now().replace(second=0, microsecond=0)
    rows = []
    for back in range(SEEDED_MINUTES, 0, -1):
        minute = now - timedelta(minutes=back)
        _grow(pushed, 60, rng)
        pushed.minutes[minute] = dict(pushed.totals)
        rows.append(
            CampaignMinute(
                campaign=campaign,
                stream=world.stream,
                minute=minute,
                at=minute + timedelta(seconds=59),
                spend=Decimal(f"{pushed.totals['spend']:.2f}"),
                impressions=int(pushed.totals["impressions"]),
                clicks=int(pushed.totals["clicks"]),
                orders=int(pushed.totals["orders"]),
                gmv=Decimal(f"{pushed.totals['gmv']:.2f}"),
            )
        )
    CampaignMinute.objects.bulk_create(rows)
    return pushed


def _grow(pushed: Pushed, seconds: float, rng: random.Random) -> None:
    for name in FIELDS:
        noise = rng.uniform(1 - NOISE, 1 + NOISE)
        pushed.totals[name] += PACE[name] * pushed.scale * seconds / 60 * noise


def _screens(processes, env, server, pushed: list[Pushed]) -> subprocess.Popen:
    streams = [
        [p.world.stream.pk, eventlog.head(p.world.stream.pk), p.world.screen_token()]
        for p in pushed
    ]
    process = processes.start(
        "buyer screens",
        [
            PYTHON,
            "-m",
            "bench.boostclients",
            "--url",
            f"{server.ws_url}/ws/streams/{{stream}}/events/",
            "--streams",
            json.dumps(streams),
            "--origin",
            server.url,
        ],
        env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    ready = json.loads(process.stdout.readline())
    if ready.get("ready") != len(pushed):
        raise RuntimeError(f"buyer screens did not come up: {ready}")
    return process


def _collect(process) -> dict:
    process.stdin.write('{"cmd": "collect"}\n')
    process.stdin.flush()
    seen = json.loads(process.stdout.readline())
    process.stdin.write('{"cmd": "quit"}\n')
    process.stdin.flush()
    return seen


# --- Load --------------------------------------------------------------------------------


@dataclass
class Sent:
    spikes: list[dict] = field(default_factory=list)
    batches: int = 0
    events: int = 0
    ad_metrics: int = 0
    webhook_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: dict = field(default_factory=dict)
    pairs_reused: int = 0


async def _drive(url, pushed, rng, meter, *, spikes: int, spike_every: float) -> Sent:
    sent = Sent()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(
        base_url=url, trust_env=False, timeout=60, limits=limits
    ) as client:

        async def post(stream: Pushed, events: list[dict]) -> None:
            body = json.dumps({"events": events}, ensure_ascii=False).encode()
            timestamp = str(int(time.time()))
            began = time.time()
            response = await client.post(
                "/api/v1/ingest/events",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-MCN-Channel": stream.world.channel.key,
                    "X-MCN-Timestamp": timestamp,
                    "X-MCN-Signature": f"v1={sign(stream.world.secret, timestamp, body)}",
                },
            )
            if response.status_code != 202:
                raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")
            sent.webhook_ms.append((time.time() - began) * 1000)
            sent.batches += 1
            sent.events += len(events)
            sent.ad_metrics += sum(1 for e in events if e["type"] == "ad_metrics")

        stop = asyncio.Event()

        async def steady(stream: Pushed) -> None:
            """One stream's platform: a report every 2–5 s, whatever the server does."""
            last = time.monotonic()
            pending = set()
            await asyncio.sleep(rng.uniform(*SAMPLE_EVERY_SECONDS))
            while not stop.is_set():
                now = time.monotonic()
                _grow(stream, now - last, rng)
                last = now
                at = datetime.now(UTC)
                events = [stream.record(at), _viewers(stream, at, rng)]
                if rng.random() < ORDER_SHARE:
                    events.append(_order(stream, at, rng))
                task = asyncio.create_task(post(stream, events))
                pending.add(task)
                task.add_done_callback(pending.discard)
                await asyncio.sleep(rng.uniform(*SAMPLE_EVERY_SECONDS))
            await asyncio.gather(*pending)

        async def spike(stream: Pushed, kind: str) -> None:
            at = datetime.now(UTC)
            _jump(stream, kind, at)
            event = stream.record(at)
            began = time.time()
            sent.spikes.append(
                {
                    "stream": stream.world.stream.pk,
                    "rule": stream.rules[kind],
                    "kind": kind,
                    "sent": began,
                }
            )
            await post(stream, [event])

        steady_tasks = [asyncio.create_task(steady(stream)) for stream in pushed]
        await asyncio.sleep(WARMUP_SECONDS)
        meter.start()
        started = time.monotonic()
        last_spike: dict[tuple[int, str], float] = {}
        spike_tasks = []
        while len(spike_tasks) < spikes:
            await asyncio.sleep(rng.expovariate(1 / spike_every))
            now = time.monotonic()
            ready = [
                (stream, kind)
                for stream in pushed
                for kind in KINDS
                if now - last_spike.get((stream.index, kind), -math.inf) >= PAIR_REST_SECONDS
            ]
            if not ready:
                continue
            stream, kind = rng.choice(ready)
            if (stream.index, kind) in last_spike:
                sent.pairs_reused += 1
            last_spike[(stream.index, kind)] = now
            spike_tasks.append(asyncio.create_task(spike(stream, kind)))
        await asyncio.gather(*spike_tasks)
        # The steady load goes on while the last spikes' cards are on their way.
        await asyncio.sleep(DRAIN_SECONDS)
        sent.seconds = time.monotonic() - started
        sent.cpu = meter.stop()
        stop.set()
        await asyncio.gather(*steady_tasks)
    await asyncio.sleep(1)
    return sent


def _jump(stream: Pushed, kind: str, at: datetime) -> None:
    """Take one rule's metric over the window to twice its threshold, and only that one."""
    w = stream.window(at)
    if kind == "roi":
        threshold = float(break_even_roi(GROSS_MARGIN, RETURN_RATE))
        gmv = max(0.0, SPIKE_FACTOR * threshold * w["spend"] - w["gmv"])
        stream.totals["gmv"] += gmv
    elif kind == "ctr":
        clicks = SPIKE_FACTOR * CTR_THRESHOLD * w["impressions"] - w["clicks"]
        stream.totals["clicks"] += max(0.0, math.ceil(clicks))
    else:
        orders = SPIKE_FACTOR * CVR_THRESHOLD * w["clicks"] - w["orders"]
        stream.totals["orders"] += max(0.0, math.ceil(orders))


def _viewers(stream: Pushed, at: datetime, rng: random.Random) -> dict:
    stream.online = max(100, stream.online + rng.randint(-60, 60))
    stream.entered += rng.randint(10, 60)
    return {
        "id": stream.event_id(),
        "type": "viewers",
        "at": at.isoformat(),
        "online": stream.online,
        "entered_total": stream.entered,
    }


def _order(stream: Pushed, at: datetime, rng: random.Random) -> dict:
    order_id = stream.event_id()
    return {
        "id": order_id,
        "type": "order",
        "at": at.isoformat(),
        "order_id": order_id,
        "sku": f"SKU-{rng.randint(1, 12)}",
        "quantity": 1,
        "amount": f"{rng.choice([39, 59, 99, 129, 199])}.00",
        "status": "paid",
    }


# --- Figures -----------------------------------------------------------------------------


def _figures(sent: Sent, seen: dict, *, streams: int, spike_every: float) -> dict:
    ops = Counter(boost[1] for boost in seen["boosts"])
    # Cards per (stream, rule), in arrival order: "proposed", or "rejected" when a guardrail
    # stopped the proposal (still a card, with its reason).
    cards: dict[tuple[int, int], list[list]] = defaultdict(list)
    for boost in sorted(seen["boosts"], key=lambda b: b[6]):
        stream, op, _decision, _campaign, rule, _proposed, _arrived = boost
        if op in ("proposed", "rejected"):
            cards[(stream, rule)].append(boost)
    latency, to_server, to_screen, missing, blocked = [], [], [], 0, 0
    timeline = []
    for spike in sorted(sent.spikes, key=lambda s: s["sent"]):
        waiting = cards[(spike["stream"], spike["rule"])]
        card = next((c for c in waiting if c[6] >= spike["sent"]), None)
        if card is None:
            missing += 1
            continue
        waiting.remove(card)
        blocked += card[1] == "rejected"
        proposed = datetime.fromisoformat(card[5]).timestamp()
        latency.append((card[6] - spike["sent"]) * 1000)
        to_server.append((proposed - spike["sent"]) * 1000)
        to_screen.append((card[6] - proposed) * 1000)
        timeline.append((spike["sent"], spike["kind"], latency[-1], to_server[-1]))
    if timeline:
        first = timeline[0][0]
        for sent_at, kind, total, server in sorted(timeline, key=lambda t: -t[2])[:5]:
            log(
                f"boosts: slow spike at +{sent_at - first:.1f} s ({kind}): {total:.0f} ms, "
                f"{server:.0f} ms of it before the card was proposed"
            )
    unexpected = sum(len(left) for left in cards.values())
    card = percentiles_ms(latency)
    p50, p99 = card.get("p50_ms"), card.get("p99_ms")
    market = {}
    for period in MARKET_CHECK_MINUTES:
        expected_s = period * 60 / 2
        market[f"every_{period}_min"] = {
            "expected_latency_s": expected_s,
            "worst_latency_s": period * 60,
            "ratio_expected_vs_p99": ratio(expected_s * 1000, p99),
            "ratio_expected_vs_p50": ratio(expected_s * 1000, p50),
        }
    figures = {
        "benchmark": "boosts",
        "streams": streams,
        "rules": 3 * streams,
        "rules_per_account": 3,
        "window_minutes": WINDOW_MINUTES,
        "cooldown_minutes": COOLDOWN_MINUTES,
        "sample_every_s": list(SAMPLE_EVERY_SECONDS),
        "spike_every_s": spike_every,
        "seconds": round(sent.seconds, 1),
        "batches_posted": sent.batches,
        "events_posted": sent.events,
        "ad_metrics_posted": sent.ad_metrics,
        "ad_metrics_per_s": round(sent.ad_metrics / max(sent.seconds, 1e-9), 1),
        "webhook_latency": percentiles_ms(sent.webhook_ms),
        "spikes": len(sent.spikes),
        "spikes_by_rule": dict(Counter(s["kind"] for s in sent.spikes)),
        "pairs_reused": sent.pairs_reused,
        "card_latency": card,
        "spike_to_card_proposed": percentiles_ms(to_server),
        "card_proposed_to_screen": percentiles_ms(to_screen),
        "spikes_without_card": missing,
        "cards_blocked_by_guardrails": blocked,
        "unexpected_cards": unexpected,
        "boost_events": dict(ops),
        "screen_events": seen["events"],
        "reconnects": seen["reconnects"],
        "missing_ids": seen["missing"],
        "market_rule_tools": market,
        "cpu_percent": sent.cpu,
        "targets": {"card_p99_ms": TARGET_P99_MS},
        "meets_targets": p99 is not None
        and p99 <= TARGET_P99_MS
        and not missing
        and not unexpected
        and len(sent.spikes) >= 100,
    }
    return figures
