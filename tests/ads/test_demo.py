import pytest
from django.core.management import call_command

from ads.models import AdAccount, BoostRule, Campaign, SandboxCampaign
from rooms import demo, simulator

pytestmark = pytest.mark.django_db


def test_the_demo_stream_has_a_sandbox_campaign_the_simulator_reports_for_and_two_rules_once():
    call_command("seed_demo", password="pass-for-demo")
    call_command("seed_demo", password="pass-for-demo")

    stream = demo.current_demo_stream()
    [account] = AdAccount.objects.filter(channel=stream.channel)
    [campaign] = Campaign.objects.filter(account=account)
    platform_record = SandboxCampaign.objects.get(external_id=campaign.external_id)

    assert (account.platform, account.daily_change_quota, account.min_step) == (
        "sandbox",
        20,
        100,
    )
    assert campaign.external_id == simulator.campaign_id(stream.channel.key)
    assert campaign.stream_id == stream.pk
    assert campaign.budget == platform_record.budget == 3000
    assert sorted(
        BoostRule.objects.filter(account=account).values_list("action", "amount", "approval_above")
    ) == [("add_budget", 500, 1000), ("cut", 300, None)]
