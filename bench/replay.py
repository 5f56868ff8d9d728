"""Replay: a rule set run over a past 3-hour stream's recorded metrics (`ads.replay.replay`).

The stream (ended 10 minutes before the run) is built as it would have been recorded:
three campaigns on one 千川 account (two with set budgets, one 随心推-style additive)
reporting every minute for 180 minutes (`CampaignMinute`; ROI wandering between about 0.5
and 6, CTR and conversion with it); the stream's own viewers every minute (`StreamMinute`)
and about 2,000 orders (`StreamOrder`, a few refunded or only placed); a run-of-show of 30
products (traffic, hero, profit and flash-sale items with stock), the operator pinning
each in turn every 6 minutes and marking two sold out (`ShowCue`); and eight decisions
that were actually made during the stream, four of them executed (`BoostDecision`,
`BoostIntent`), which the replay shows next to its own.

The rule set is 20 rules on the account, over every metric the engine knows (ROI,
marginal ROI, GPM, viewer trend, CTR, conversion, spend pace, pinned stock), windows of 3
to 30 minutes, all five actions, caps per boost, stream and day, cool-downs, active
hours, and one rule below the platform's minimum step. Each run is what replaying the
account's rules costs: read the rules, then `replay(stream, rules)` (which reads the
stream's metrics and judges every rule at every reported minute of every campaign), in
this process against the bench database. One untimed run, then `runs` timed ones.
"""

import math
import random
import re
import time
from collections import Counter
from datetime import time as dt_time
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ads.models import (
    AdAccount,
    AdPlatform,
    BoostDecision,
    BoostIntent,
    BoostRule,
    Campaign,
    CampaignMinute,
)
from ads.replay import replay
from rooms import services
from rooms.models import (
    CrewRole,
    CueState,
    LineupItem,
    LiveCueKind,
    Platform,
    ProductKind,
    ShowCue,
    Stream,
    StreamMinute,
    StreamOrder,
    StreamStatus,
)

from . import fixtures
from .harness import background_cpu, emit, log
from .stats import percentiles_ms

MINUTES = 180
PRODUCTS = 30
SEGMENT_MINUTES = 6
TARGET_MS = 2000

# (conditions, min_spend, action, amount, cooldown, extra fields)
RULES = (
    (
        [("roi", 10, ">", "break_even")],
        100,
        "add_budget",
        300,
        10,
        {"cap_per_stream": 1500, "approval_above": 500},
    ),
    ([("roi", 5, ">", "4")], 50, "add_budget", 500, 15, {"cap_per_day": 3000}),
    ([("roi", 15, "<", "1.5")], 200, "cut", 200, 20, {}),
    ([("roi", 30, "<", "1.0")], 300, "pause", None, 60, {}),
    ([("marginal_roi", 10, ">", "break_even")], 150, "add_budget", 200, 10, {}),
    ([("marginal_roi", 10, "<", "1")], 150, "cut", 100, 15, {}),
    ([("gpm", 10, ">", "800")], 0, "add_budget", 300, 15, {"cap_per_boost": 300}),
    ([("gpm", 15, "<", "200")], 0, "notify", None, 30, {}),
    ([("viewer_trend", 5, ">", "0.2")], 0, "add_budget", 200, 10, {}),
    ([("viewer_trend", 10, "<", "-0.25")], 0, "cut", 200, 15, {}),
    ([("ctr", 5, ">", "0.03")], 0, "add_budget", 100, 10, {}),
    ([("ctr", 15, "<", "0.008")], 0, "notify", None, 20, {}),
    ([("cvr", 10, ">", "0.08")], 0, "add_budget", 200, 10, {}),
    ([("cvr", 10, "<", "0.02")], 0, "cut", 100, 20, {}),
    ([("spend_pace", 10, ">", "1.5")], 0, "set_budget", 8000, 30, {}),
    ([("spend_pace", 15, "<", "0.5")], 0, "notify", None, 30, {}),
    ([("pinned_stock", None, "<", "30")], 0, "notify", None, 5, {}),
    (
        [("roi", 10, ">", "break_even"), ("pinned_stock", None, ">", "100")],
        100,
        "add_budget",
        300,
        10,
        {},
    ),
    (
        [("roi", 3, ">", "3"), ("viewer_trend", 5, ">", "0")],
        30,
        "add_budget",
        200,
        10,
        {"active_from": dt_time(20), "active_until": dt_time(23)},
    ),
    # Below the platform's ¥100 step: every proposal is stopped, with the reason.
    ([("ctr", 10, ">", "0.02"), ("cvr", 10, ">", "0.05")], 0, "add_budget", 50, 10, {}),
)


def run(env: dict[str, str], *, runs: int, rules: int) -> dict:
    background = background_cpu()
    rng = random.Random(3)
    log(f"replay: recording a {MINUTES}-minute stream and {rules} rules")
    stream, account = _recorded_stream(rng)
    _rules(account, rules)
    counts = {
        "campaign_minutes": CampaignMinute.objects.filter(stream=stream).count(),
        "stream_minutes": StreamMinute.objects.filter(stream=stream).count(),
        "orders": StreamOrder.objects.filter(stream=stream).count(),
        "lineup": LineupItem.objects.filter(stream=stream).count(),
        "cues": ShowCue.objects.filter(stream=stream).count(),
        "actual_decisions": BoostDecision.objects.filter(stream=stream).count(),
    }
    log(f"replay: {counts}; {runs} timed runs")

    def once():
        stream_now = Stream.objects.select_related("channel").get(pk=stream.pk)
        chosen = list(
            BoostRule.objects.filter(account=account, enabled=True)
            .select_related("account__channel")
            .order_by("pk")
        )
        return replay(stream_now, chosen)

    with CaptureQueriesContext(connection) as queries:
        lines = once()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        again = once()
        samples.append((time.perf_counter() - started) * 1000)
        assert len(again) == len(lines)
    replayed = [line for line in lines if line.source == "replay"]
    timing = percentiles_ms(samples)
    figures = {
        "benchmark": "replay",
        "minutes": MINUTES,
        "campaigns": Campaign.objects.filter(stream=stream).count(),
        "rules": rules,
        "recorded": counts,
        # Every rule at every reported minute of its campaigns, before cool-downs skip some.
        "judgements_at_most": counts["campaign_minutes"] * rules,
        "queries": len(queries),
        "lines": len(lines),
        "replayed": dict(Counter(line.status for line in replayed)),
        "replayed_by_action": dict(Counter(line.action for line in replayed)),
        # Why the guardrails would have stopped them, numbers left out.
        "blocked_because": dict(
            Counter(
                re.sub(r"\d+(?:[.,:]\d+)*", "N", line.reason) for line in replayed if line.reason
            )
        ),
        "rules_that_fired": len({line.rule_id for line in replayed}),
        "actual": len(lines) - len(replayed),
        "runs": runs,
        **timing,
        "targets": {"p95_ms": TARGET_MS},
        "meets_targets": timing.get("p95_ms", math.inf) <= TARGET_MS,
        "background_cpu_percent": background,
    }
    emit(figures)
    return figures


def _recorded_stream(rng: random.Random) -> tuple[Stream, AdAccount]:
    label = f"bench-{fixtures.RUN}-replay"
    studio = services.studio_create(actor=None, name=label, time_zone="Asia/Shanghai")
    channel, _secret = services.channel_create(
        actor=None,
        key=label,
        name=label,
        platform=Platform.DOUYIN,
        currency="CNY",
        time_zone="Asia/Shanghai",
    )
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=MINUTES + 10)
    end = start + timedelta(minutes=MINUTES)
    stream = services.stream_create(
        actor=None,
        channel=channel,
        studio=studio,
        title=f"Bench replay {fixtures.RUN}",
        planned_start=start,
        planned_end=end,
        status=StreamStatus.SCHEDULED,
    )
    lineup = _lineup(stream, rng)
    # Going live fixes the run-of-show from the lineup, as in the room.
    stream = services.stream_transition(actor=None, stream=stream, to=StreamStatus.LIVE, at=start)
    account = AdAccount.objects.create(
        channel=channel,
        platform=AdPlatform.QIANCHUAN,
        name=f"千川 {label}",
        external_id=f"acct-{label}",
    )
    campaigns = [
        Campaign.objects.create(
            account=account,
            stream=stream,
            external_id=f"{label}-{key}",
            name=name,
            additive=additive,
            budget=Decimal(budget),
        )
        for key, name, additive, budget in (
            ("main", "直播间成交 主计划", False, "6000"),
            ("hero", "主推款 定向", False, "3000"),
            ("boost", "随心推 加热", True, "1000"),
        )
    ]
    with transaction.atomic():
        _show(stream, lineup, start)
        online = _viewers(stream, start, rng)
        _orders(stream, lineup, start, online, rng)
        for number, campaign in enumerate(campaigns):
            _campaign_minutes(campaign, stream, start, online, number, rng)
        _actual_decisions(stream, campaigns, start, rng)
    stream = services.stream_transition(actor=None, stream=stream, to=StreamStatus.ENDED, at=end)
    return stream, account


KINDS = (ProductKind.TRAFFIC, ProductKind.HERO, ProductKind.PROFIT, ProductKind.FLASH)


def _lineup(stream: Stream, rng: random.Random) -> list[LineupItem]:
    items = []
    for number in range(1, PRODUCTS + 1):
        kind = KINDS[(number - 1) % len(KINDS)]
        price = Decimal(rng.choice([19, 39, 69, 99, 129, 199, 299]))
        items.append(
            LineupItem(
                stream=stream,
                position=number,
                link_number=number,
                sku=f"{fixtures.RUN}-SKU-{number}",
                name=f"商品 {number}",
                kind=kind,
                regular_price=price * 2,
                live_price=price,
                stock=rng.choice([150, 300, 500, 800]),
            )
        )
    return LineupItem.objects.bulk_create(items)


def _show(stream: Stream, lineup: list[LineupItem], start) -> None:
    """The operator pins each product as its segment starts, unpins the one before, and
    two products sell out early."""
    cues = []
    for index, item in enumerate(lineup):
        at = start + timedelta(minutes=SEGMENT_MINUTES * index, seconds=20)
        for kind, link in ((LiveCueKind.UNPIN, index), (LiveCueKind.PIN, item.link_number)):
            if link < 1:
                continue
            cues.append(
                ShowCue(
                    stream=stream,
                    kind=kind,
                    state=CueState.CONFIRMED,
                    role=CrewRole.ROOM_OPERATOR,
                    segment_index=index,
                    link_number=link,
                    standby_at=at - timedelta(seconds=30),
                    go_at=at,
                    done_at=at + timedelta(seconds=5),
                )
            )
        if index in (7, 19):
            cues.append(
                ShowCue(
                    stream=stream,
                    kind=LiveCueKind.SOLD_OUT,
                    state=CueState.CONFIRMED,
                    role=CrewRole.ROOM_OPERATOR,
                    segment_index=index,
                    link_number=item.link_number,
                    standby_at=at + timedelta(minutes=4),
                    go_at=at + timedelta(minutes=4, seconds=10),
                )
            )
    ShowCue.objects.bulk_create(cues)


def _viewers(stream: Stream, start, rng: random.Random) -> list[int]:
    online, entered, rows = [], 20_000, []
    for t in range(MINUTES):
        hero = 1.25 if KINDS[(t // SEGMENT_MINUTES) % len(KINDS)] == ProductKind.HERO else 1.0
        now = int((3000 + 2500 * math.sin(math.pi * t / MINUTES)) * hero * rng.uniform(0.9, 1.1))
        entered += int(now * rng.uniform(0.06, 0.1))
        online.append(now)
        minute = start + timedelta(minutes=t)
        rows.append(
            StreamMinute(
                stream=stream,
                minute=minute,
                online=now,
                online_at=minute + timedelta(seconds=55),
                online_peak=int(now * 1.05),
                entered_total=entered,
            )
        )
    StreamMinute.objects.bulk_create(rows)
    return online


def _orders(stream, lineup, start, online, rng: random.Random) -> None:
    rows = []
    for t in range(MINUTES):
        item = lineup[min(t // SEGMENT_MINUTES, len(lineup) - 1)]
        for n in range(max(0, round(rng.gauss(online[t] * 0.0025, 2)))):
            quantity = rng.choices([1, 2, 3], weights=[80, 15, 5])[0]
            placed = start + timedelta(minutes=t, seconds=rng.uniform(0, 59))
            fate = rng.random()
            rows.append(
                StreamOrder(
                    stream=stream,
                    order_id=f"{fixtures.RUN}-{t}-{n}",
                    sku=item.sku,
                    quantity=quantity,
                    amount=item.live_price * quantity,
                    status="placed" if fate < 0.07 else "refunded" if fate < 0.1 else "paid",
                    placed_at=placed,
                    paid_at=None if fate < 0.07 else placed + timedelta(seconds=20),
                    refunded_at=placed + timedelta(minutes=8) if 0.07 <= fate < 0.1 else None,
                )
            )
    StreamOrder.objects.bulk_create(rows, batch_size=1000)


def _campaign_minutes(campaign, stream, start, online, number: int, rng: random.Random) -> None:
    """Running totals a minute at a time, the way the platform reports them."""
    spend = gmv = Decimal(0)
    impressions = clicks = orders = 0
    phase = number * 2.1
    base = (60, 30, 15)[number]
    rows = []
    for t in range(MINUTES):
        wave = math.sin(2 * math.pi * t / 45 + phase)
        minute_spend = base * (1 + 0.3 * wave) * rng.uniform(0.8, 1.2)
        roi = max(0.3, 2.6 + 2.2 * wave + rng.gauss(0, 0.6))
        ctr = max(0.002, 0.018 + 0.01 * wave + rng.gauss(0, 0.003))
        cvr = max(0.005, 0.05 + 0.03 * wave + rng.gauss(0, 0.01))
        shown = int(minute_spend * 120 * online[t] / 3000)
        clicked = int(shown * ctr)
        spend += Decimal(f"{minute_spend:.2f}")
        gmv += Decimal(f"{minute_spend * roi:.2f}")
        impressions += shown
        clicks += clicked
        orders += int(clicked * cvr)
        minute = start + timedelta(minutes=t)
        rows.append(
            CampaignMinute(
                campaign=campaign,
                stream=stream,
                minute=minute,
                at=minute + timedelta(seconds=rng.uniform(40, 59)),
                spend=spend,
                impressions=impressions,
                clicks=clicks,
                orders=orders,
                gmv=gmv,
            )
        )
    CampaignMinute.objects.bulk_create(rows)


def _actual_decisions(stream, campaigns, start, rng: random.Random) -> None:
    """What the buyer did during the stream: eight cards, four executed on the platform."""
    fates = ("done", "rejected", "done", "expired", "done", "rejected", "done", "expired")
    budgets = {campaign.pk: campaign.budget for campaign in campaigns}
    for index, status in enumerate(fates):
        campaign = campaigns[index % len(campaigns)]
        at = start + timedelta(minutes=15 + 20 * index, seconds=rng.uniform(0, 59))
        before = budgets[campaign.pk]
        decision = BoostDecision.objects.create(
            stream=stream,
            campaign=campaign,
            action="add_budget",
            amount=Decimal("300"),
            target_budget=before + 300,
            evidence={"conditions": []},
            status=status,
            proposed_at=at,
            decided_at=at + timedelta(seconds=40),
        )
        if status == "done":
            BoostIntent.objects.create(
                decision=decision,
                campaign=campaign,
                idempotency_key=f"boost-{decision.pk}",
                kind="add_budget",
                amount=Decimal("300"),
                target_budget=before + 300,
                budget_before=before,
                state="confirmed",
                next_attempt_at=at + timedelta(seconds=41),
                created_at=at + timedelta(seconds=41),
                settled_at=at + timedelta(seconds=43),
            )
            budgets[campaign.pk] = before + 300
    for campaign in campaigns:
        Campaign.objects.filter(pk=campaign.pk).update(budget=budgets[campaign.pk])


def _rules(account: AdAccount, count: int) -> list[BoostRule]:
    rows = []
    for index in range(count):
        conditions, min_spend, action, amount, cooldown, extra = RULES[index % len(RULES)]
        rows.append(
            BoostRule(
                account=account,
                name=f"Rule {index + 1}: "
                + " and ".join(
                    f"{m}{f'[{w}m]' if w else ''} {op} {v}" for m, w, op, v in conditions
                ),
                conditions=[
                    {"metric": m, "op": op, "value": v, **({"window": w} if w else {})}
                    for m, w, op, v in conditions
                ],
                min_spend=Decimal(min_spend),
                action=action,
                amount=None if amount is None else Decimal(amount),
                cooldown_minutes=cooldown,
                **{
                    key: value if key.startswith("active") else Decimal(value)
                    for key, value in extra.items()
                },
            )
        )
    return BoostRule.objects.bulk_create(rows)
