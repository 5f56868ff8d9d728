"""Rules judged as metrics arrive: a spike puts one card on the buyer's screen with its
evidence and the run-of-show; guards, cool-downs and guardrails keep cards honest."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from ads import services
from ads.models import AuditEntry, BoostDecision, DecisionStatus
from rooms.models import ProductKind
from tests.ads.metrics import ad_metrics, ingest, live_stream, logged, minutes_ago, paid_order
from tests.factories import (
    BoostDecisionFactory,
    BoostRuleFactory,
    CampaignFactory,
    LineupItemFactory,
    ShowFactory,
    StreamKillSwitchFactory,
)

pytestmark = pytest.mark.django_db


def reports(campaign, minutes: range, *, gmv_per_minute, spend_per_minute=10, end=21):
    """One report a minute, minute k of the series `end - k` minutes ago: spend and GMV
    rise by the given amounts each minute (running totals, as platforms send)."""
    events, spend, gmv = [], Decimal(0), Decimal(0)
    for k in range(1, max(minutes) + 1):
        spend += spend_per_minute
        gmv += gmv_per_minute(k)
        if k in minutes:
            events.append(
                ad_metrics(
                    campaign.external_id,
                    minutes_ago(end - k),
                    spend=spend,
                    gmv=gmv,
                    impressions=1000 * k,
                    clicks=20 * k,
                    orders=2 * k,
                )
            )
    return events


def spike(k: int) -> int:
    """ROI 1 for ten minutes, then 5: GMV ¥10 a minute, then ¥50."""
    return 10 if k <= 10 else 50


def setup(**rule_fields):
    """A live stream pushed by a ¥1,000 campaign, and a rule: ROI over the last 10 minutes
    above break-even (3.125) after ¥100 of spend → add ¥300."""
    stream = live_stream()
    campaign = CampaignFactory(stream=stream, account__channel=stream.channel)
    rule = BoostRuleFactory(account=campaign.account, **rule_fields)
    return stream, campaign, rule


def cards(stream) -> list[BoostDecision]:
    return list(BoostDecision.objects.filter(stream=stream).order_by("pk"))


def test_a_spike_puts_exactly_one_card_on_the_screen_with_its_evidence():
    stream, campaign, rule = setup()
    hero = LineupItemFactory(stream=stream, link_number=1, kind=ProductKind.HERO, stock=100)
    LineupItemFactory(stream=stream, link_number=2, kind=ProductKind.TRAFFIC, stock=50)
    ShowFactory(
        stream=stream,
        position=0,
        pinned=[1],
        segments=[
            {"key": "s1", "title": "主推 开场", "link_number": 1, "planned_seconds": 600},
            {"key": "s2", "title": "福利款", "link_number": 2, "planned_seconds": 300},
        ],
    )
    ingest(stream, [paid_order("o1", minutes_ago(30), 177, sku=hero.sku, quantity=3)])

    ingest(stream, reports(campaign, range(1, 11), gmv_per_minute=spike))
    assert cards(stream) == []  # ROI 1: nothing to push

    ingest(stream, reports(campaign, range(11, 21), gmv_per_minute=spike))
    ingest(stream, reports(campaign, range(21, 22), gmv_per_minute=spike, end=22))

    [card] = cards(stream)
    assert (card.status, card.campaign, card.rule, card.action) == (
        DecisionStatus.PROPOSED,
        campaign,
        rule,
        "add_budget",
    )
    assert (card.amount, card.target_budget) == (Decimal("300.00"), Decimal("1300.00"))
    [condition] = card.evidence["conditions"]
    assert (condition["metric"], condition["actual"], condition["value"]) == (
        "roi",
        "5.0000",
        "3.1250",
    )
    assert condition["break_even"] is True
    assert (card.evidence["numbers"]["spend"], card.evidence["numbers"]["gmv"]) == (
        "100.00",
        "500.00",
    )
    show = card.evidence["show"]
    assert (show["now"]["product"]["kind"], show["now"]["product"]["stock_left"]) == ("hero", 97)
    assert show["next"]["product"]["loss_leader"] is True
    assert [(p["link_number"], p["stock_left"]) for p in show["pinned"]] == [(1, 97)]
    [event] = logged(stream, "boost")
    assert (event["op"], event["id"], event["status"], event["target_budget"]) == (
        "proposed",
        card.pk,
        "proposed",
        "1300.00",
    )
    assert event["campaign"]["external_id"] == campaign.external_id


def test_roi_is_not_judged_before_the_minimum_spend():
    # ROI 5 over the last 10 minutes, but on ¥50 of spend: a ¥100 minimum keeps it quiet.
    stream, campaign, _rule = setup()

    ingest(stream, reports(campaign, range(1, 21), gmv_per_minute=spike, spend_per_minute=5))

    assert cards(stream) == []


def test_a_stream_not_live_is_not_judged():
    stream, campaign, _rule = setup()
    stream.status = "ended"
    stream.save()

    ingest(stream, reports(campaign, range(1, 21), gmv_per_minute=spike))

    assert cards(stream) == []


def test_a_rule_keeps_quiet_within_its_cool_down_after_the_buyer_answered():
    stream, campaign, rule = setup(cooldown_minutes=10)
    BoostDecisionFactory(
        campaign=campaign,
        rule=rule,
        status=DecisionStatus.REJECTED,
        proposed_at=timezone.now() - timedelta(minutes=12),
        decided_at=timezone.now() - timedelta(minutes=4),
    )

    ingest(stream, reports(campaign, range(1, 21), gmv_per_minute=spike))

    assert len(cards(stream)) == 1


def test_after_the_cool_down_the_rule_proposes_again():
    stream, campaign, rule = setup(cooldown_minutes=10)
    answered = BoostDecisionFactory(
        campaign=campaign,
        rule=rule,
        status=DecisionStatus.REJECTED,
        proposed_at=timezone.now() - timedelta(minutes=14),
        decided_at=timezone.now() - timedelta(minutes=11),
    )

    ingest(stream, reports(campaign, range(1, 21), gmv_per_minute=spike))

    assert [card.pk == answered.pk for card in cards(stream)] == [True, False]


def test_an_open_card_holds_back_a_new_one_until_it_goes_stale():
    stream, campaign, rule = setup(cooldown_minutes=10)
    waiting = BoostDecisionFactory(
        campaign=campaign,
        rule=rule,
        status=DecisionStatus.AWAITING_APPROVAL,
        proposed_at=timezone.now() - timedelta(minutes=30),
    )
    stale = BoostDecisionFactory(
        campaign=CampaignFactory(stream=stream, account=campaign.account),
        rule=rule,
        proposed_at=timezone.now() - timedelta(minutes=11),
    )

    ingest(
        stream,
        reports(campaign, range(1, 21), gmv_per_minute=spike)
        + reports(stale.campaign, range(1, 21), gmv_per_minute=spike),
    )

    waiting.refresh_from_db()
    stale.refresh_from_db()
    assert waiting.status == DecisionStatus.AWAITING_APPROVAL
    assert (stale.status, stale.version) == (DecisionStatus.EXPIRED, 1)
    fresh = BoostDecision.objects.exclude(pk__in=[waiting.pk, stale.pk]).get()
    assert (fresh.campaign, fresh.status) == (stale.campaign, DecisionStatus.PROPOSED)
    assert [(e["op"], e["id"]) for e in logged(stream, "boost")] == [
        ("expired", stale.pk),
        ("proposed", fresh.pk),
    ]


@pytest.mark.parametrize(
    ("rule_fields", "account_fields", "reason"),
    [
        ({"cap_per_boost": Decimal("200")}, {}, "more than the rule's 200.00 CNY per boost"),
        ({"amount": Decimal("50")}, {}, "below the platform's smallest step of 100.00 CNY"),
        ({}, {"daily_change_quota": 0}, "used all 0 budget changes"),
        ({}, {"killed": True}, "kill switch of the ad account is on"),
    ],
)
def test_a_proposal_a_guardrail_stops_is_a_card_with_the_reason(
    rule_fields, account_fields, reason
):
    stream, campaign, _rule = setup(**rule_fields)
    for name, value in account_fields.items():
        setattr(campaign.account, name, value)
    campaign.account.save()

    ingest(stream, reports(campaign, range(1, 21), gmv_per_minute=spike))

    [card] = cards(stream)
    assert card.status == DecisionStatus.REJECTED
    assert card.decided_by is None
    assert reason in card.note
    assert card.evidence["blocked"] == card.note
    [event] = logged(stream, "boost")
    assert (event["op"], event["note"]) == ("rejected", card.note)
    assert AuditEntry.objects.get(decision=card).kind == "blocked"


def test_the_streams_kill_switch_stops_proposals_with_the_reason():
    stream, campaign, _rule = setup()
    StreamKillSwitchFactory(stream=stream)

    ingest(stream, reports(campaign, range(1, 21), gmv_per_minute=spike))

    [card] = cards(stream)
    assert (card.status, card.note) == (
        DecisionStatus.REJECTED,
        "The kill switch of this stream is on.",
    )


def test_a_blocked_card_is_not_repeated_within_the_cool_down():
    stream, campaign, _rule = setup(cap_per_boost=Decimal("200"))

    ingest(stream, reports(campaign, range(1, 21), gmv_per_minute=spike))
    ingest(stream, reports(campaign, range(21, 22), gmv_per_minute=spike, end=22))

    assert [card.status for card in cards(stream)] == [DecisionStatus.REJECTED]


def test_judging_costs_the_same_few_queries_however_many_rules(django_assert_max_num_queries):
    stream, campaign, _rule = setup()
    BoostRuleFactory.create_batch(
        19,
        account=campaign.account,
        conditions=[{"metric": "ctr", "window": 10, "op": "<", "value": "0.001"}],
    )
    ingest(stream, reports(campaign, range(1, 21), gmv_per_minute=lambda k: 10))

    with django_assert_max_num_queries(12):
        made = services.boost_rules_evaluate(stream=stream, campaign_ids=[campaign.pk])

    assert made == []
