from datetime import time, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from rooms.models import (
    Channel,
    ChannelSecret,
    CrewAssignment,
    CrewRole,
    IngestEvent,
    LineupItem,
    LineupSet,
    LineupSetItem,
    Platform,
    ProductKind,
    Stream,
    StreamStatus,
    StreamTemplate,
    Studio,
    TemplateCrewSlot,
    TimeOff,
    User,
    WorkingHours,
)
from rooms.schedule import booking

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    display_name = factory.Faker("name")
    language = "en"
    time_zone = "Asia/Shanghai"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            from django.contrib.auth.models import Group

            self.groups.set([Group.objects.get_or_create(name=str(role))[0] for role in extracted])
        if create:
            self.save()


class StudioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Studio
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Studio {n}")
    time_zone = "Asia/Shanghai"

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if create and extracted:
            self.members.set(extracted)


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel
        skip_postgeneration_save = True

    key = factory.Sequence(lambda n: f"channel-{n}")
    name = factory.Sequence(lambda n: f"Channel {n}")
    platform = Platform.DOUYIN
    currency = "CNY"
    time_zone = "Asia/Shanghai"
    secret = factory.RelatedFactory(
        "tests.factories.ChannelSecretFactory", factory_related_name="channel"
    )


class ChannelSecretFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChannelSecret

    channel = factory.SubFactory(ChannelFactory, secret=None)
    secret = factory.Sequence(lambda n: f"secret-{n:04d}-" + "s" * 40)


class StreamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stream

    channel = factory.SubFactory(ChannelFactory)
    studio = factory.SubFactory(StudioFactory)
    title = factory.Sequence(lambda n: f"Stream {n}")
    status = StreamStatus.SCHEDULED
    planned_start = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=10))
    planned_end = factory.LazyAttribute(lambda s: s.planned_start + timedelta(hours=2))
    setup_before = timedelta(minutes=30)
    teardown_after = timedelta(minutes=15)
    booked = factory.LazyAttribute(
        lambda s: booking(s.planned_start, s.planned_end, s.setup_before, s.teardown_after)
    )


class CrewAssignmentFactory(factory.django.DjangoModelFactory):
    """A crew row as `services.crew_assign` writes it, without its checks."""

    class Meta:
        model = CrewAssignment

    stream = factory.SubFactory(StreamFactory)
    person = factory.SubFactory(UserFactory)
    role = CrewRole.HOST
    buffer_before = timedelta(minutes=30)
    buffer_after = timedelta(minutes=15)
    booked = factory.LazyAttribute(
        lambda a: booking(
            a.stream.planned_start, a.stream.planned_end, a.buffer_before, a.buffer_after
        )
    )


class IngestEventFactory(factory.django.DjangoModelFactory):
    """An inbox row as the webhook stores it (a comment unless told otherwise)."""

    class Meta:
        model = IngestEvent

    channel = factory.SubFactory(ChannelFactory)
    platform_event_id = factory.Sequence(lambda n: f"platform-{n}")
    type = "comment"
    at = factory.LazyFunction(timezone.now)
    received_at = factory.LazyFunction(timezone.now)
    payload = factory.LazyAttribute(
        lambda row: {"user_id": "u1", "user_name": "阿花", "text": "有优惠券吗"}
    )


class LineupItemFactory(factory.django.DjangoModelFactory):
    """A product on a stream's lineup, priced and stocked: nothing missing for going live."""

    class Meta:
        model = LineupItem

    stream = factory.SubFactory(StreamFactory)
    position = factory.Sequence(lambda n: n + 1)
    link_number = factory.LazyAttribute(lambda item: item.position)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    kind = ProductKind.HERO
    regular_price = Decimal("99.00")
    live_price = Decimal("59.00")
    stock = 100


class LineupSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LineupSet

    name = factory.Sequence(lambda n: f"Lineup set {n}")


class LineupSetItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LineupSetItem

    lineup_set = factory.SubFactory(LineupSetFactory)
    position = factory.Sequence(lambda n: n + 1)
    link_number = factory.LazyAttribute(lambda item: item.position)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    kind = ProductKind.HERO
    regular_price = Decimal("99.00")
    live_price = Decimal("59.00")
    stock = 100


class StreamTemplateFactory(factory.django.DjangoModelFactory):
    """A recurring 20:00 show of three hours, in its studio's time zone."""

    class Meta:
        model = StreamTemplate

    name = factory.Sequence(lambda n: f"Template {n}")
    studio = factory.SubFactory(StudioFactory)
    channel = factory.SubFactory(ChannelFactory)
    title = factory.Sequence(lambda n: f"Evening show {n}")
    start_time = time(20, 0)
    duration = timedelta(hours=3)
    setup_before = timedelta(minutes=30)
    teardown_after = timedelta(minutes=15)


class TemplateCrewSlotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TemplateCrewSlot

    template = factory.SubFactory(StreamTemplateFactory)
    role = CrewRole.HOST
    person = factory.SubFactory(UserFactory)


class WorkingHoursFactory(factory.django.DjangoModelFactory):
    """Usual hours on one weekday (Monday unless told), in the person's time zone."""

    class Meta:
        model = WorkingHours

    person = factory.SubFactory(UserFactory)
    weekday = 0
    starts = time(9, 0)
    ends = time(18, 0)


class TimeOffFactory(factory.django.DjangoModelFactory):
    """Days away, in the person's time zone; one day unless told."""

    class Meta:
        model = TimeOff

    person = factory.SubFactory(UserFactory)
    first_day = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=7))
    last_day = factory.LazyAttribute(lambda off: off.first_day)
    reason = ""


# --- Support queue (work: claims, replies, agents) ---------------------------------------


class QuestionGroupFactory(factory.django.DjangoModelFactory):
    """An open group of one question about a product, asked a moment ago, due in 3 minutes."""

    class Meta:
        model = "support.QuestionGroup"

    stream = factory.SubFactory(StreamFactory)
    category = "price"
    language = "zh"
    link_number = None
    signature = factory.Sequence(lambda n: f"signature-{n}")
    text = factory.Sequence(lambda n: f"多少钱 {n}")
    count = 1
    first_asked_at = factory.LazyFunction(timezone.now)
    last_asked_at = factory.LazyAttribute(lambda group: group.first_asked_at)
    deadline = factory.LazyAttribute(lambda group: group.first_asked_at + timedelta(minutes=3))


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "support.Question"

    group = factory.SubFactory(QuestionGroupFactory)
    stream = factory.LazyAttribute(lambda question: question.group.stream)
    user_id = factory.Sequence(lambda n: f"viewer-{n}")
    user_name = factory.Sequence(lambda n: f"Viewer {n}")
    text = factory.LazyAttribute(lambda question: question.group.text)
    asked_at = factory.LazyAttribute(lambda question: question.group.first_asked_at)


class AgentFactory(factory.django.DjangoModelFactory):
    """A CS agent (客服) online now, three groups at once, any language and category."""

    class Meta:
        model = "support.Agent"

    user = factory.SubFactory(UserFactory, roles=["cs_agent"])
    status = "online"
    capacity = 3
    last_seen_at = factory.LazyFunction(timezone.now)


class CannedReplyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "support.CannedReply"

    channel = factory.SubFactory(ChannelFactory)
    shortcut = factory.Sequence(lambda n: n % 9 + 1)
    title = factory.Sequence(lambda n: f"Reply {n}")
    text = "直播间价格{price}，库存还有{stock}件"
    category = "price"


class SupportPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "support.SupportPolicy"
        django_get_or_create = ("channel",)

    channel = factory.SubFactory(ChannelFactory)
    shipping_time = "48小时内发货"


# --- Support queue (intake: triage, grouping, the queue) ---------------------------------


class ShowFactory(factory.django.DjangoModelFactory):
    """A stream's run-of-show as set up when it went live, with nothing pinned yet."""

    class Meta:
        model = "rooms.Show"

    stream = factory.SubFactory(StreamFactory)
    source = "lineup"
    pinned = factory.LazyFunction(list)


# --- Ad boosts ---------------------------------------------------------------------------


class AdAccountFactory(factory.django.DjangoModelFactory):
    """A sandbox ad account of a channel: 20 budget changes a day, ¥100 steps, switch off."""

    class Meta:
        model = "ads.AdAccount"

    channel = factory.SubFactory(ChannelFactory)
    platform = "sandbox"
    name = factory.Sequence(lambda n: f"Ad account {n}")
    external_id = factory.Sequence(lambda n: f"acct-{n}")


class CampaignFactory(factory.django.DjangoModelFactory):
    """A campaign pushing a stream of the account's channel, with ¥1,000 of budget."""

    class Meta:
        model = "ads.Campaign"

    account = factory.SubFactory(AdAccountFactory)
    stream = factory.SubFactory(StreamFactory, channel=factory.SelfAttribute("..account.channel"))
    external_id = factory.Sequence(lambda n: f"cmp-{n}")
    name = factory.Sequence(lambda n: f"Campaign {n}")
    additive = False
    budget = Decimal("1000.00")


class CampaignMinuteFactory(factory.django.DjangoModelFactory):
    """A campaign's cumulative figures at the end of one minute."""

    class Meta:
        model = "ads.CampaignMinute"

    campaign = factory.SubFactory(CampaignFactory)
    stream = factory.LazyAttribute(lambda row: row.campaign.stream)
    minute = factory.LazyFunction(lambda: timezone.now().replace(second=0, microsecond=0))
    at = factory.LazyAttribute(lambda row: row.minute + timedelta(seconds=30))
    spend = Decimal("0")
    impressions = 0
    clicks = 0
    orders = 0
    gmv = Decimal("0")


class BoostRuleFactory(factory.django.DjangoModelFactory):
    """Add ¥300 when the last 10 minutes' ROI is above break-even, after ¥100 of spend."""

    class Meta:
        model = "ads.BoostRule"

    account = factory.SubFactory(AdAccountFactory)
    name = factory.Sequence(lambda n: f"Rule {n}")
    conditions = factory.LazyFunction(
        lambda: [{"metric": "roi", "window": 10, "op": ">", "value": "break_even"}]
    )
    min_spend = Decimal("100")
    action = "add_budget"
    amount = Decimal("300")
    cooldown_minutes = 10


class BoostDecisionFactory(factory.django.DjangoModelFactory):
    """A proposed card: add ¥300 to the campaign, proposed now."""

    class Meta:
        model = "ads.BoostDecision"

    campaign = factory.SubFactory(CampaignFactory)
    stream = factory.LazyAttribute(lambda decision: decision.campaign.stream)
    rule = factory.SubFactory(BoostRuleFactory, account=factory.SelfAttribute("..campaign.account"))
    action = "add_budget"
    amount = Decimal("300")
    target_budget = factory.LazyAttribute(lambda d: d.campaign.budget + d.amount)
    evidence = factory.LazyFunction(dict)
    status = "proposed"
    proposed_at = factory.LazyFunction(timezone.now)


class BoostIntentFactory(factory.django.DjangoModelFactory):
    """The execution of a decision, confirmed by the platform a moment ago."""

    class Meta:
        model = "ads.BoostIntent"

    decision = factory.SubFactory(BoostDecisionFactory, status="done")
    campaign = factory.LazyAttribute(lambda intent: intent.decision.campaign)
    idempotency_key = factory.Sequence(lambda n: f"boost-{n:08d}")
    kind = factory.LazyAttribute(lambda intent: intent.decision.action)
    amount = factory.LazyAttribute(lambda intent: intent.decision.amount)
    target_budget = factory.LazyAttribute(lambda intent: intent.decision.target_budget)
    budget_before = factory.LazyAttribute(lambda intent: intent.decision.campaign.budget)
    state = "confirmed"
    next_attempt_at = factory.LazyFunction(timezone.now)
    created_at = factory.LazyFunction(timezone.now)
    settled_at = factory.LazyFunction(timezone.now)


class SandboxCampaignFactory(factory.django.DjangoModelFactory):
    """The sandbox platform's own record of a campaign (give it the campaign's external id
    and budget), with no budget changes made today."""

    class Meta:
        model = "ads.SandboxCampaign"

    external_id = factory.Sequence(lambda n: f"cmp-{n}")
    budget = Decimal("1000.00")
    paused = False


class StreamKillSwitchFactory(factory.django.DjangoModelFactory):
    """A stream's kill switch, thrown a moment ago."""

    class Meta:
        model = "ads.StreamKillSwitch"

    stream = factory.SubFactory(StreamFactory)
    killed = True
    changed_at = factory.LazyFunction(timezone.now)
