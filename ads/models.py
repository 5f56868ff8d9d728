"""Tables of ad boosts: accounts and campaigns, their metrics, rules, decisions, executions.

Money moves only through `BoostIntent` rows: one per decision, with a deterministic
idempotency key, a state machine (pending → sending → confirmed / failed / unknown) and a
read-back before any retry of a call that adds money. `AuditEntry` is append-only (a
trigger refuses updates and deletes).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rooms.models import Channel, Stream


class AdPlatform(models.TextChoices):
    """The ad products behind live streams: Douyin Qianchuan 千川, Kuaishou 磁力金牛,
    TikTok LIVE GMV Max / LIVE Shopping Ads, and the sandbox that behaves like them."""

    QIANCHUAN = "qianchuan", _("Qianchuan (千川)")
    MAGNETIC = "magnetic", _("Magnetic Bull (磁力金牛)")
    TIKTOK = "tiktok", _("TikTok LIVE ads")
    SANDBOX = "sandbox", _("Sandbox")


class AdAccount(models.Model):
    """An ad account of a channel, with the platform's limits on changing budgets."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="ad_accounts")
    platform = models.CharField(_("ad platform"), max_length=16, choices=AdPlatform.choices)
    name = models.CharField(_("name"), max_length=100)
    external_id = models.CharField(_("account id on the platform"), max_length=64)
    daily_change_quota = models.PositiveSmallIntegerField(
        _("budget changes allowed per campaign per day"), default=20
    )
    min_step = models.DecimalField(
        _("smallest budget change"), max_digits=12, decimal_places=2, default=Decimal("100")
    )
    killed = models.BooleanField(_("kill switch"), default=False)

    class Meta:
        verbose_name = _("ad account")
        verbose_name_plural = _("ad accounts")
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"], name="ad_account_once")
        ]

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    """A campaign pushing one live stream. `additive` campaigns (随心推-style) take budget
    *additions*, so a blind retry would spend twice; others take an absolute budget."""

    account = models.ForeignKey(AdAccount, on_delete=models.CASCADE, related_name="campaigns")
    stream = models.ForeignKey(
        Stream, on_delete=models.SET_NULL, null=True, blank=True, related_name="campaigns"
    )
    external_id = models.CharField(_("campaign id on the platform"), max_length=64)
    name = models.CharField(_("name"), max_length=200)
    additive = models.BooleanField(_("budget is added, not set"), default=False)
    budget = models.DecimalField(_("budget"), max_digits=14, decimal_places=2, default=0)
    paused = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.UniqueConstraint(fields=["account", "external_id"], name="campaign_once")
        ]

    def __str__(self) -> str:
        return self.name


class CampaignMinute(models.Model):
    """A campaign's cumulative figures for the stream at the end of one minute (the platform
    reports running totals): one row per campaign per minute, never one per event.

    `stream` is the stream the ingest attributed the figures to: a campaign kept for the
    next day's stream starts its running totals again, and each stream keeps its own series.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="minutes")
    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="campaign_minutes")
    minute = models.DateTimeField()
    at = models.DateTimeField()
    spend = models.DecimalField(max_digits=14, decimal_places=2)
    impressions = models.PositiveBigIntegerField()
    clicks = models.PositiveBigIntegerField()
    orders = models.PositiveIntegerField()
    gmv = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("campaign minute")
        verbose_name_plural = _("campaign minutes")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "minute"], name="campaign_minute_once")
        ]
        indexes = [models.Index(fields=["stream", "minute"], name="campaign_minute_stream")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.minute:%H:%M}"


class ActionKind(models.TextChoices):
    ADD_BUDGET = "add_budget", _("Add budget")
    SET_BUDGET = "set_budget", _("Set budget")
    CUT = "cut", _("Cut budget")
    PAUSE = "pause", _("Pause")
    NOTIFY = "notify", _("Notify only")


class BoostRule(models.Model):
    """A rule the ad buyer (投手) writes for an account: when the numbers over rolling windows
    say so, propose an action, within caps and the platform's limits.

    `conditions`: [{"metric": "roi" | "marginal_roi" | "gpm" | "viewer_trend" | "ctr" | "cvr"
    | "spend_pace" | "pinned_stock", "window": minutes, "op": ">" | ">=" | "<" | "<=",
    "value": number or "break_even"}], all of which must hold.
    """

    account = models.ForeignKey(AdAccount, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(_("name"), max_length=100)
    enabled = models.BooleanField(_("enabled"), default=True)
    conditions = models.JSONField(_("conditions"), default=list)
    min_spend = models.DecimalField(
        _("judge only after this spend"), max_digits=12, decimal_places=2, default=0
    )
    action = models.CharField(_("action"), max_length=16, choices=ActionKind.choices)
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    cap_per_boost = models.DecimalField(
        _("at most per boost"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    cap_per_stream = models.DecimalField(
        _("at most added per stream"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    cap_per_day = models.DecimalField(
        _("at most added per day"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    cooldown_minutes = models.PositiveSmallIntegerField(_("cool-down (minutes)"), default=10)
    active_from = models.TimeField(_("active from"), null=True, blank=True)
    active_until = models.TimeField(_("active until"), null=True, blank=True)
    approval_above = models.DecimalField(
        _("needs an approver above"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    gross_margin = models.DecimalField(
        _("gross margin"), max_digits=5, decimal_places=4, default=Decimal("0.40")
    )
    return_rate = models.DecimalField(
        _("return rate"), max_digits=5, decimal_places=4, default=Decimal("0.20")
    )

    class Meta:
        verbose_name = _("boost rule")
        verbose_name_plural = _("boost rules")

    def __str__(self) -> str:
        return self.name


class DecisionStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")
    EXECUTING = "executing", _("Executing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    STOPPED = "stopped", _("Stopped by the kill switch")


class BoostDecision(models.Model):
    """A decision card: what a rule proposes for a campaign, why, and what people did."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="boost_decisions")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="decisions")
    rule = models.ForeignKey(
        BoostRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="decisions"
    )
    action = models.CharField(max_length=16, choices=ActionKind.choices)
    # The action as an absolute target (the budget after it) and as a change.
    target_budget = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    evidence = models.JSONField(default=dict)
    status = models.CharField(
        max_length=20, choices=DecisionStatus.choices, default=DecisionStatus.PROPOSED
    )
    version = models.PositiveIntegerField(default=0)
    proposed_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("boost decision")
        verbose_name_plural = _("boost decisions")
        indexes = [models.Index(fields=["stream", "status"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.amount or ''} ({self.status})"


class IntentState(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    CONFIRMED = "confirmed", _("Confirmed")
    FAILED = "failed", _("Failed")
    UNKNOWN = "unknown", _("Unknown: reading back")


class BoostIntent(models.Model):
    """The one platform change a decision makes. The idempotency key is derived from the
    decision, so executing it twice, concurrently or after a crash, is still one change."""

    decision = models.OneToOneField(BoostDecision, on_delete=models.PROTECT, related_name="intent")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="intents")
    idempotency_key = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=ActionKind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    target_budget = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    # What the campaign's budget was read back as before sending: the read-back that decides
    # whether an additive call whose answer was lost has landed.
    budget_before = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    state = models.CharField(
        max_length=16, choices=IntentState.choices, default=IntentState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    platform_ref = models.CharField(max_length=128, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("boost execution")
        verbose_name_plural = _("boost executions")
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state__in=["pending", "sending", "unknown"]),
                name="boost_intent_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.state})"


class AuditEntry(models.Model):
    """What was decided and done with money, with its inputs, approver, request and
    response. Append-only: the database refuses to change or remove a row."""

    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    stream = models.ForeignKey(Stream, on_delete=models.PROTECT, null=True, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, null=True, related_name="+")
    decision = models.ForeignKey(
        BoostDecision, on_delete=models.PROTECT, null=True, related_name="audit"
    )
    kind = models.CharField(max_length=32)
    data = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}"


class StreamKillSwitch(models.Model):
    """A stream's kill switch: while it is on, no boost of the stream reaches a platform.

    A row of its own rather than a field on `rooms.Stream`, which the ads app does not own;
    the row also keeps who threw the switch last, and when.
    """

    stream = models.OneToOneField(Stream, on_delete=models.CASCADE, related_name="ad_kill_switch")
    killed = models.BooleanField(_("kill switch"), default=False)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("stream kill switch")
        verbose_name_plural = _("stream kill switches")

    def __str__(self) -> str:
        return f"{self.stream_id} {'on' if self.killed else 'off'}"


class SandboxCampaign(models.Model):
    """The sandbox platform's own record of a campaign: what a real platform would hold.
    Its budget and change counts are what read-backs see."""

    external_id = models.CharField(max_length=64, unique=True)
    budget = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    paused = models.BooleanField(default=False)
    changes_day = models.DateField(null=True, blank=True)
    changes_today = models.PositiveSmallIntegerField(default=0)
    # Like 随心推's budget add, the sandbox applies an addition every time it is sent: only
    # the caller's read-back stands between a lost answer and spending twice.

    class Meta:
        verbose_name = _("sandbox campaign")
        verbose_name_plural = _("sandbox campaigns")

    def __str__(self) -> str:
        return self.external_id
