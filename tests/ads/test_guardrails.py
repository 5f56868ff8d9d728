"""The limits a boost must stay within, each stopping it with a reason a buyer can read:
the minimum step, the daily change quota (counted by the channel's calendar), caps per
boost, per stream and per day, the cool-down, active hours and the kill switches."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ads import guardrails
from ads.models import ActionKind, StreamKillSwitch
from tests.factories import (
    AdAccountFactory,
    BoostDecisionFactory,
    BoostIntentFactory,
    BoostRuleFactory,
    CampaignFactory,
    ChannelFactory,
)

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=SHANGHAI)


def boost(campaign, *, rule=None, amount="300", state="confirmed", settled_at=NOON, **kwargs):
    """A boost of the campaign, in the given state of its execution."""
    decision = BoostDecisionFactory(
        campaign=campaign,
        rule=rule or BoostRuleFactory(account=campaign.account),
        amount=Decimal(amount),
        proposed_at=settled_at - timedelta(minutes=1),
        status="done" if state == "confirmed" else "executing",
        **kwargs,
    )
    return BoostIntentFactory(
        decision=decision,
        state=state,
        settled_at=settled_at if state == "confirmed" else None,
        created_at=settled_at - timedelta(minutes=1),
    )


@pytest.mark.parametrize(
    ("action", "amount", "expected"),
    [
        (ActionKind.ADD_BUDGET, "300", ("1300", "300")),
        (ActionKind.SET_BUDGET, "800", ("800", "-200")),
        (ActionKind.CUT, "300", ("700", "-300")),
        (ActionKind.CUT, "5000", ("0", "-1000")),
        (ActionKind.PAUSE, None, (None, "0")),
        (ActionKind.NOTIFY, None, (None, "0")),
    ],
)
def test_an_action_becomes_the_budget_it_leaves_and_the_change_it_makes(action, amount, expected):
    campaign = CampaignFactory(budget=Decimal("1000"))

    target, change = guardrails.as_absolute(campaign, action, amount and Decimal(amount))

    assert (target, change) == (
        expected[0] and Decimal(expected[0]),
        Decimal(expected[1]),
    )


def test_a_change_below_the_minimum_step_is_stopped_with_the_step_named():
    account = AdAccountFactory(min_step=Decimal("100"))

    reason = guardrails.check_min_step(account, Decimal("-50"))

    assert reason == "A change of 50.00 CNY is below the platform's smallest step of 100.00 CNY."
    assert guardrails.check_min_step(account, Decimal("100")) is None


def test_the_daily_quota_counts_changes_of_the_channels_day_and_those_in_the_air():
    campaign = CampaignFactory(account=AdAccountFactory(daily_change_quota=3))
    boost(campaign, settled_at=datetime(2026, 3, 9, 23, 50, tzinfo=SHANGHAI))  # yesterday
    boost(campaign, settled_at=datetime(2026, 3, 10, 0, 10, tzinfo=SHANGHAI))  # 16:10 UTC before
    boost(campaign, state="pending")

    assert (
        guardrails.changes_left_today(campaign, guardrails.local_day(campaign.account, NOON)) == 1
    )
    assert guardrails.check_daily_quota(campaign, at=NOON) is None

    boost(campaign, state="unknown")

    assert guardrails.check_daily_quota(campaign, at=NOON) == (
        "The campaign has used all 3 budget changes the platform allows today."
    )


def test_the_local_day_follows_the_channel_not_the_server():
    account = AdAccountFactory(channel=ChannelFactory(time_zone="America/Los_Angeles"))

    assert guardrails.local_day(account, NOON) == datetime(2026, 3, 9).date()


def test_a_boost_larger_than_the_rule_allows_per_boost_is_stopped():
    rule = BoostRuleFactory(cap_per_boost=Decimal("500"))
    campaign = CampaignFactory(account=rule.account)

    reason = guardrails.check_caps(rule=rule, stream=campaign.stream, change=Decimal("600"))

    assert reason == "Adding 600.00 CNY is more than the rule's 500.00 CNY per boost."


def test_a_boost_that_would_pass_the_rules_cap_for_the_stream_is_stopped():
    rule = BoostRuleFactory(cap_per_stream=Decimal("1000"))
    campaign = CampaignFactory(account=rule.account)
    boost(campaign, rule=rule, amount="500")
    boost(campaign, rule=rule, amount="300", state="pending")

    reason = guardrails.check_caps(rule=rule, stream=campaign.stream, change=Decimal("300"))

    assert reason == (
        "Adding 300.00 CNY would take the rule past its 1000.00 CNY for this stream "
        "(800.00 CNY added so far)."
    )
    assert guardrails.check_caps(rule=rule, stream=campaign.stream, change=Decimal("200")) is None


def test_a_boost_that_would_pass_the_rules_cap_for_the_day_is_stopped():
    rule = BoostRuleFactory(cap_per_day=Decimal("500"))
    campaign = CampaignFactory(account=rule.account)
    other_stream = CampaignFactory(account=rule.account)
    boost(other_stream, rule=rule, amount="400")
    boost(campaign, rule=rule, amount="900", settled_at=NOON - timedelta(days=1))

    reason = guardrails.check_caps(
        rule=rule, stream=campaign.stream, change=Decimal("200"), at=NOON
    )

    assert reason == (
        "Adding 200.00 CNY would take the rule past its 500.00 CNY for today "
        "(400.00 CNY added so far)."
    )


def test_cuts_are_not_capped():
    rule = BoostRuleFactory(cap_per_boost=Decimal("100"))
    campaign = CampaignFactory(account=rule.account)

    assert guardrails.check_caps(rule=rule, stream=campaign.stream, change=Decimal("-900")) is None


def test_a_rule_cooling_down_after_its_last_boost_is_stopped_until_the_time_is_up():
    rule = BoostRuleFactory(cooldown_minutes=10)
    campaign = CampaignFactory(account=rule.account)
    BoostDecisionFactory(
        campaign=campaign, rule=rule, status="done", proposed_at=NOON, decided_at=NOON
    )

    early = guardrails.check_cooldown(rule=rule, campaign=campaign, at=NOON + timedelta(minutes=4))
    late = guardrails.check_cooldown(rule=rule, campaign=campaign, at=NOON + timedelta(minutes=10))

    assert early == "The rule is cooling down after its last boost for 6 more minutes."
    assert late is None


def test_a_rejected_card_does_not_start_a_cool_down():
    rule = BoostRuleFactory(cooldown_minutes=10)
    campaign = CampaignFactory(account=rule.account)
    BoostDecisionFactory(campaign=campaign, rule=rule, status="rejected", proposed_at=NOON)

    assert guardrails.check_cooldown(rule=rule, campaign=campaign, at=NOON) is None


@pytest.mark.parametrize(
    ("now", "stopped"),
    [(time(23, 30), False), (time(1, 59), False), (time(2, 0), True), (time(12, 0), True)],
)
def test_active_hours_may_wrap_past_midnight(now, stopped):
    rule = BoostRuleFactory(active_from=time(22, 0), active_until=time(2, 0))
    at = datetime.combine(NOON.date(), now, tzinfo=SHANGHAI)

    reason = guardrails.check_active_hours(rule, at)

    assert (reason == "The rule is active only from 22:00 to 02:00.") is stopped
    assert (reason is None) is not stopped


def test_the_kill_switches_of_the_account_and_of_the_stream_stop_a_boost():
    campaign = CampaignFactory()
    account, stream = campaign.account, campaign.stream

    assert guardrails.check_kill_switch(account=account, stream=stream) is None
    StreamKillSwitch.objects.create(stream=stream, killed=True, changed_at=NOON)
    assert guardrails.check_kill_switch(account=account, stream=stream) == (
        "The kill switch of this stream is on."
    )
    account.killed = True
    account.save()
    assert guardrails.check_kill_switch(account=account, stream=stream) == (
        "The kill switch of the ad account is on."
    )


def test_stop_reason_leaves_out_the_decisions_own_execution():
    campaign = CampaignFactory(account=AdAccountFactory(daily_change_quota=1))
    own = boost(campaign, state="pending")

    assert (
        guardrails.stop_reason(
            campaign=campaign,
            stream=campaign.stream,
            rule=own.decision.rule,
            action=ActionKind.ADD_BUDGET,
            change=Decimal("300"),
            exclude_decision=own.decision_id,
            timing=False,
        )
        is None
    )
    assert (
        guardrails.stop_reason(
            campaign=campaign,
            stream=campaign.stream,
            rule=own.decision.rule,
            action=ActionKind.ADD_BUDGET,
            change=Decimal("300"),
            timing=False,
        )
        == "The campaign has used all 1 budget changes the platform allows today."
    )


def test_a_notice_is_stopped_only_by_a_kill_switch():
    campaign = CampaignFactory(account=AdAccountFactory(daily_change_quota=0))

    reason = guardrails.stop_reason(
        campaign=campaign,
        stream=campaign.stream,
        rule=None,
        action=ActionKind.NOTIFY,
        change=Decimal("0"),
    )

    assert reason is None
