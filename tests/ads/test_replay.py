"""Replay: a rule set over a past stream's recorded metrics, minute by minute, with the
budget moving and cool-downs, caps and quotas simulated, next to what was actually done."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ads.replay import replay
from tests.factories import (
    BoostDecisionFactory,
    BoostIntentFactory,
    BoostRuleFactory,
    CampaignFactory,
    CampaignMinuteFactory,
    StreamFactory,
)

pytestmark = pytest.mark.django_db


def recorded(campaign, minutes: int, *, gmv_per_minute, spend_per_minute=Decimal(10)):
    """The campaign's reports, minute 1 to `minutes` after the stream's planned start."""
    spend = gmv = Decimal(0)
    start = campaign.stream.planned_start.replace(second=0, microsecond=0)
    rows = []
    for k in range(1, minutes + 1):
        spend += spend_per_minute
        gmv += gmv_per_minute(k)
        rows.append(
            CampaignMinuteFactory.build(
                campaign=campaign,
                stream=campaign.stream,
                minute=start + timedelta(minutes=k),
                spend=spend,
                gmv=gmv,
                impressions=1000 * k,
                clicks=20 * k,
                orders=2 * k,
            )
        )
    type(rows[0]).objects.bulk_create(rows)
    return start


# Noon in the channels' time zone (Asia/Shanghai) on a past day: a replayed stream must not
# cross midnight there, where the account's daily change quota starts over.
PAST_NOON = datetime(2026, 11, 2, 4, 0, tzinfo=UTC)


def past_campaign(**fields):
    stream = StreamFactory(status="ended", planned_start=PAST_NOON)
    return CampaignFactory(stream=stream, account__channel=stream.channel, **fields)


def test_replay_of_a_small_stream_by_hand():
    # ROI over 10 minutes climbs from 1 to 5: GMV ¥10 a minute, then ¥50 from minute 11.
    campaign = past_campaign()
    start = recorded(campaign, 30, gmv_per_minute=lambda k: 10 if k <= 10 else 50)
    push = BoostRuleFactory(
        account=campaign.account,
        name="push",
        conditions=[{"metric": "roi", "window": 10, "op": ">", "value": "break_even"}],
        min_spend=Decimal("100"),
        amount=Decimal("300"),
        cooldown_minutes=5,
        cap_per_stream=Decimal("500"),
    )
    trim = BoostRuleFactory(
        account=campaign.account,
        name="trim",
        conditions=[{"metric": "roi", "window": 5, "op": "<", "value": "1.2"}],
        min_spend=Decimal("0"),
        action="cut",
        amount=Decimal("100"),
        cooldown_minutes=10,
    )
    done = BoostIntentFactory(
        decision=BoostDecisionFactory(
            campaign=campaign,
            rule=push,
            status="done",
            proposed_at=start + timedelta(minutes=18, seconds=5),
        )
    ).decision

    lines = replay(campaign.stream, [push, trim])

    at = {k: start + timedelta(minutes=k) for k in range(31)}
    assert [
        (line.source, line.at, line.rule, line.action, line.amount, line.target_budget, line.status)
        for line in lines
    ] == [
        # Minute 1: ¥10 of GMV on ¥10 of spend, ROI 1 < 1.2 (no minimum spend): cut ¥100.
        ("replay", at[1], "trim", "cut", Decimal("-100"), Decimal("900"), "proposed"),
        # Minute 16: minutes 7–16 bought 4×10 + 6×50 = ¥340 on ¥100, ROI 3.4 > 3.125.
        ("replay", at[16], "push", "add_budget", Decimal("300"), Decimal("1200"), "proposed"),
        ("actual", done.proposed_at, "push", "add_budget", Decimal("300"), Decimal("1300"), "done"),
        # Cool-down over: ROI 5, but another ¥300 would pass the ¥500 stream cap.
        ("replay", at[21], "push", "add_budget", Decimal("300"), Decimal("1500"), "blocked"),
        # A stopped card starts the cool-down too.
        ("replay", at[26], "push", "add_budget", Decimal("300"), Decimal("1500"), "blocked"),
    ]
    assert "past its 500.00 CNY for this stream (300.00 CNY added so far)" in lines[3].reason
    assert [(c["metric"], c["actual"]) for c in lines[1].conditions] == [("roi", "3.4000")]


def test_the_replay_starts_from_the_budget_before_the_streams_first_boost():
    campaign = past_campaign(budget=Decimal("1300"))
    recorded(campaign, 12, gmv_per_minute=lambda k: 10)
    BoostIntentFactory(decision__campaign=campaign, budget_before=Decimal("1000"))
    trim = BoostRuleFactory(
        account=campaign.account,
        conditions=[{"metric": "roi", "window": 5, "op": "<", "value": "1.2"}],
        min_spend=Decimal("0"),
        action="set_budget",
        amount=Decimal("800"),
    )

    [line] = [line for line in replay(campaign.stream, [trim]) if line.source == "replay"]

    assert (line.amount, line.target_budget) == (Decimal("-200"), Decimal("800"))


def test_the_daily_change_quota_and_minimum_step_stop_replayed_changes():
    campaign = past_campaign(account__daily_change_quota=1)
    recorded(campaign, 12, gmv_per_minute=lambda k: 10)
    every_minute = BoostRuleFactory(
        account=campaign.account,
        conditions=[{"metric": "ctr", "window": 5, "op": ">", "value": "0.01"}],
        amount=Decimal("100"),
        cooldown_minutes=5,
    )
    too_small = BoostRuleFactory(
        account=campaign.account,
        conditions=[{"metric": "cvr", "window": 5, "op": ">", "value": "0.05"}],
        amount=Decimal("20"),
        cooldown_minutes=30,
    )

    lines = replay(campaign.stream, [every_minute, too_small])

    assert [(line.at - lines[0].at, line.rule, line.status) for line in lines] == [
        (timedelta(0), every_minute.name, "proposed"),
        (timedelta(0), too_small.name, "blocked"),
        (timedelta(minutes=5), every_minute.name, "blocked"),
        (timedelta(minutes=10), every_minute.name, "blocked"),
    ]
    assert "smallest step of 100.00 CNY" in lines[1].reason
    assert "used all 1 budget changes" in lines[2].reason


def test_a_three_hour_stream_against_twenty_rules():
    campaign = past_campaign()
    recorded(campaign, 180, gmv_per_minute=lambda k: 20 + (k % 30) * 3)
    metrics = [
        ("roi", ">", "break_even"),
        ("roi", "<", "2"),
        ("marginal_roi", ">", "3"),
        ("ctr", ">", "0.015"),
        ("cvr", ">", "0.08"),
        ("spend_pace", ">", "1.2"),
        ("viewer_trend", ">", "0.1"),
        ("gpm", ">", "100"),
        ("pinned_stock", "<", "10"),
        ("roi", ">", "4"),
    ]
    rules = [
        BoostRuleFactory(
            account=campaign.account,
            conditions=[{"metric": metric, "window": 5 + n % 4 * 5, "op": op, "value": value}],
            action=["add_budget", "cut", "set_budget", "notify"][n % 4],
            amount=Decimal("1500") if n % 4 == 2 else Decimal("100"),
            cooldown_minutes=3 + n % 7,
            cap_per_stream=Decimal("2000"),
        )
        for n, (metric, op, value) in enumerate(metrics * 2)
    ]

    lines = replay(campaign.stream, rules)

    replayed = [line for line in lines if line.source == "replay"]
    assert len(replayed) > 20
    assert all(line.reason for line in replayed if line.status == "blocked")
    added = sum(
        line.amount
        for line in replayed
        if line.status == "proposed" and line.rule == rules[0].name and line.amount > 0
    )
    assert added <= Decimal("2000")
    assert [line.at for line in lines] == sorted(line.at for line in lines)
