"""Demo ad boosts for `seed_demo`: a sandbox ad account for the demo Douyin channel, a
campaign pushing the live demo stream (the campaign the simulator reports spend for), the
sandbox platform's own record of it with a budget, and two rules, so the ad buyer's board
fills with cards as `make run`'s simulated stream goes on.

Idempotent: a second run finds everything in place and changes nothing but the campaign's
stream, which follows the demo stream scheduled for now.
"""

from decimal import Decimal

from rooms import simulator
from rooms.demo import DemoWorld

from . import services
from .models import ActionKind, AdAccount, AdPlatform, BoostRule, Campaign, SandboxCampaign

ACCOUNT_ID = "demo-qianchuan-1"
BUDGET = Decimal("3000.00")
RULES = (
    {
        "name": "Push when ROI beats break-even 回本即加投",
        "conditions": [{"metric": "roi", "window": 5, "op": ">", "value": "break_even"}],
        "min_spend": Decimal("300"),
        "action": ActionKind.ADD_BUDGET,
        "amount": Decimal("500"),
        "approval_above": Decimal("1000"),
        "cap_per_stream": Decimal("5000"),
        "cap_per_day": Decimal("10000"),
        "cooldown_minutes": 5,
    },
    {
        "name": "Cut when marginal ROI falls below 1 边际亏损即减投",
        "conditions": [{"metric": "marginal_roi", "window": 10, "op": "<", "value": "1"}],
        "min_spend": Decimal("300"),
        "action": ActionKind.CUT,
        "amount": Decimal("300"),
        "cooldown_minutes": 10,
    },
)


def seed(world: DemoWorld) -> None:
    channel = world.channels["douyin"]
    account, _created = AdAccount.objects.get_or_create(
        platform=AdPlatform.SANDBOX,
        external_id=ACCOUNT_ID,
        defaults={"channel": channel, "name": "千川 Qianchuan (sandbox)"},
    )
    external_id = simulator.campaign_id(channel.key)
    campaign, _created = Campaign.objects.get_or_create(
        account=account,
        external_id=external_id,
        defaults={
            "name": "直播间推广 Live room promotion",
            "budget": BUDGET,
            "stream": world.live_stream,
        },
    )
    if world.live_stream is not None and campaign.stream_id != world.live_stream.pk:
        campaign.stream = world.live_stream
        campaign.save(update_fields=["stream"])
    SandboxCampaign.objects.get_or_create(
        external_id=external_id, defaults={"budget": campaign.budget}
    )
    for rule in RULES:
        if not BoostRule.objects.filter(account=account, name=rule["name"]).exists():
            services.boost_rule_save(actor=None, account=account, **rule)
