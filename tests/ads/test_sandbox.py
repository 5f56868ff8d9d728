"""The sandbox ad platform behaves like the real APIs: it enforces the daily change quota
and the minimum step itself, adds budget every time it is asked (request ids do not
dedupe an add), and fails in the ways real platforms fail — timeouts on either side of the
change, throttling reported as HTTP 200 with an error code, a 500 after the change landed."""

from decimal import Decimal

import pytest

from ads.models import AdPlatform, SandboxCampaign
from ads.platforms import (
    PlatformRejected,
    PlatformServerError,
    PlatformThrottled,
    PlatformTimeout,
    adapter_for,
)
from ads.platforms.sandbox import (
    CODE_BELOW_MIN_STEP,
    CODE_QUOTA_USED,
    CODE_THROTTLED,
    SandboxAdapter,
    WorkerKilled,
    faults_set,
)
from tests.factories import AdAccountFactory, CampaignFactory, SandboxCampaignFactory

pytestmark = pytest.mark.django_db


def campaign_on_sandbox(*, budget: str = "1000", **kwargs):
    campaign = CampaignFactory(budget=Decimal(budget), **kwargs)
    SandboxCampaignFactory(external_id=campaign.external_id, budget=campaign.budget)
    return campaign


def platform_budget(campaign) -> Decimal:
    return SandboxCampaign.objects.get(external_id=campaign.external_id).budget


def test_an_add_is_applied_every_time_it_is_sent_even_with_the_same_request_id():
    campaign = campaign_on_sandbox(additive=True)
    adapter = SandboxAdapter()

    adapter.add_budget(campaign, Decimal("300"), "boost-1")
    adapter.add_budget(campaign, Decimal("300"), "boost-1")

    assert platform_budget(campaign) == Decimal("1600")


def test_setting_a_budget_changes_it_and_the_read_back_sees_it_with_the_exchange():
    campaign = campaign_on_sandbox()
    adapter = SandboxAdapter()

    receipt = adapter.set_budget(campaign, Decimal("1500"), "boost-2")
    budget = adapter.read_budget(campaign)

    assert (budget.amount, budget.paused) == (Decimal("1500"), False)
    assert receipt.ref.startswith(f"sbx-{campaign.external_id}-")
    assert receipt.exchange.status == 200
    assert receipt.exchange.request == {
        "campaign_id": campaign.external_id,
        "request_id": "boost-2",
        "budget": "1500",
    }
    assert receipt.exchange.response["code"] == 0
    assert budget.exchange.response["data"]["budget"] == "1500.00"


def test_setting_the_same_budget_twice_changes_it_once_and_costs_one_change():
    campaign = campaign_on_sandbox()
    adapter = SandboxAdapter()

    adapter.set_budget(campaign, Decimal("1500"), "boost-3")
    adapter.set_budget(campaign, Decimal("1500"), "boost-3")

    row = SandboxCampaign.objects.get(external_id=campaign.external_id)
    assert (row.budget, row.changes_today) == (Decimal("1500"), 1)


def test_a_change_below_the_minimum_step_is_refused_with_the_platforms_code():
    campaign = campaign_on_sandbox(account=AdAccountFactory(min_step=Decimal("100")))

    with pytest.raises(PlatformRejected) as refused:
        SandboxAdapter().set_budget(campaign, Decimal("1050"), "boost-4")

    assert refused.value.code == str(CODE_BELOW_MIN_STEP)
    assert "minimum step" in str(refused.value)
    assert platform_budget(campaign) == Decimal("1000")


def test_changes_beyond_the_daily_quota_are_refused():
    campaign = campaign_on_sandbox(account=AdAccountFactory(daily_change_quota=2))
    adapter = SandboxAdapter()
    adapter.set_budget(campaign, Decimal("1200"), "a")
    adapter.set_budget(campaign, Decimal("1400"), "b")

    with pytest.raises(PlatformRejected) as refused:
        adapter.set_budget(campaign, Decimal("1600"), "c")

    assert refused.value.code == str(CODE_QUOTA_USED)
    assert platform_budget(campaign) == Decimal("1400")


def test_throttling_comes_back_as_http_200_with_an_error_code_and_is_raised_as_throttled():
    campaign = campaign_on_sandbox(additive=True)
    faults_set(throttled=1)

    with pytest.raises(PlatformThrottled) as throttled:
        SandboxAdapter().add_budget(campaign, Decimal("300"), "boost-5")

    exchange = throttled.value.exchange
    assert exchange.status == 200
    assert exchange.response["code"] == CODE_THROTTLED
    assert platform_budget(campaign) == Decimal("1000")


def test_a_timeout_after_the_change_landed_leaves_it_applied():
    campaign = campaign_on_sandbox(additive=True)
    faults_set(lost_after=1)

    with pytest.raises(PlatformTimeout):
        SandboxAdapter().add_budget(campaign, Decimal("300"), "boost-6")

    assert platform_budget(campaign) == Decimal("1300")


def test_a_timeout_before_the_change_landed_leaves_the_budget_as_it_was():
    campaign = campaign_on_sandbox(additive=True)
    faults_set(lost_before=1)

    with pytest.raises(PlatformTimeout):
        SandboxAdapter().add_budget(campaign, Decimal("300"), "boost-7")

    assert platform_budget(campaign) == Decimal("1000")


def test_a_500_after_the_change_landed_is_a_partial_failure_the_caller_cannot_trust():
    campaign = campaign_on_sandbox()
    faults_set(server_error=1)

    with pytest.raises(PlatformServerError) as failed:
        SandboxAdapter().set_budget(campaign, Decimal("1500"), "boost-8")

    assert isinstance(failed.value, PlatformTimeout)
    assert failed.value.exchange.status == 500
    assert platform_budget(campaign) == Decimal("1500")


def test_a_worker_killed_the_moment_its_change_lands_leaves_the_change_applied():
    campaign = campaign_on_sandbox(additive=True)
    faults_set(crash_after=1)

    with pytest.raises(WorkerKilled):
        SandboxAdapter().add_budget(campaign, Decimal("300"), "boost-9")

    assert platform_budget(campaign) == Decimal("1300")


def test_faults_are_used_up_one_call_each():
    campaign = campaign_on_sandbox(additive=True)
    faults_set(lost_before=1)
    adapter = SandboxAdapter()
    with pytest.raises(PlatformTimeout):
        adapter.add_budget(campaign, Decimal("300"), "boost-10")

    adapter.add_budget(campaign, Decimal("300"), "boost-10")

    assert platform_budget(campaign) == Decimal("1300")


def test_a_read_can_time_out_or_be_throttled():
    campaign = campaign_on_sandbox()
    faults_set(read_lost=1, read_throttled=1)
    adapter = SandboxAdapter()

    with pytest.raises(PlatformTimeout):
        adapter.read_budget(campaign)
    with pytest.raises(PlatformThrottled):
        adapter.read_budget(campaign)
    assert adapter.read_budget(campaign).amount == Decimal("1000")


def test_pausing_does_not_use_the_change_quota():
    campaign = campaign_on_sandbox(account=AdAccountFactory(daily_change_quota=1))
    adapter = SandboxAdapter()

    adapter.pause(campaign, "boost-11")
    adapter.set_budget(campaign, Decimal("1200"), "boost-12")

    row = SandboxCampaign.objects.get(external_id=campaign.external_id)
    assert (row.paused, row.budget, row.changes_today) == (True, Decimal("1200"), 1)


def test_a_campaign_the_sandbox_has_not_seen_is_adopted_with_the_consoles_budget():
    campaign = CampaignFactory(budget=Decimal("800"))

    budget = SandboxAdapter().read_budget(campaign)

    assert budget.amount == Decimal("800")
    assert SandboxCampaign.objects.filter(external_id=campaign.external_id).exists()


@pytest.mark.parametrize("platform", [AdPlatform.SANDBOX, AdPlatform.QIANCHUAN])
def test_every_platform_uses_the_sandbox_until_its_own_adapter_is_written(platform):
    account = AdAccountFactory(platform=platform)

    assert isinstance(adapter_for(account), SandboxAdapter)
