"""Tables of the support queue: viewers' questions, their groups, claims, replies, agents."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from rooms.models import Channel, IngestEvent, Stream


class Category(models.TextChoices):
    SIZE = "size", _("Size")
    PRICE = "price", _("Price")
    SHIPPING = "shipping", _("Shipping")
    STOCK = "stock", _("Stock")
    PROMO = "promo", _("Coupon / promotion")
    AFTER_SALES = "after_sales", _("After-sales")
    PRODUCT = "product", _("Product detail")
    OTHER = "other", _("Other")


class SupportPolicy(models.Model):
    """A channel's support rules, edited by its supervisor: how fast questions must be
    answered, extra keywords per category, blocked words and muted viewers."""

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="support")
    sla = models.DurationField(_("reply within"), default=timedelta(minutes=3))
    warn_before = models.DurationField(_("warn this long before"), default=timedelta(minutes=1))
    # {"size": ["码数", "fit"], ...}: added to the built-in keywords of each category.
    keywords = models.JSONField(_("extra keywords per category"), default=dict, blank=True)
    blocked_words = models.JSONField(_("blocked words"), default=list, blank=True)
    muted_users = models.JSONField(_("muted viewers (platform user ids)"), default=list, blank=True)
    vip_users = models.JSONField(_("VIP viewers (platform user ids)"), default=list, blank=True)
    # What canned replies say for {shipping}: "ships within 48 hours" (48小时内发货).
    shipping_time = models.CharField(_("shipping time"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("support policy")
        verbose_name_plural = _("support policies")

    def __str__(self) -> str:
        return f"{self.channel}"


class GroupStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ANSWERED = "answered", _("Answered")
    ESCALATED = "escalated", _("Escalated to the host")
    DISMISSED = "dismissed", _("Dismissed")


class QuestionGroup(models.Model):
    """Questions with one intent, answered once for every asker.

    A claim is a lease: `claimed_by` holds the group until `claim_expires_at`, renewed
    while the agent is present; `version` changes on every change of state, so a reply
    names the state its agent saw and cannot land on a group someone else answered.
    """

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="question_groups")
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    language = models.CharField(_("language"), max_length=8)
    link_number = models.PositiveIntegerField(_("product link number"), null=True, blank=True)
    signature = models.CharField(max_length=200)
    text = models.TextField(_("question"))
    count = models.PositiveIntegerField(default=0)
    vip = models.BooleanField(default=False)
    first_asked_at = models.DateTimeField()
    last_asked_at = models.DateTimeField()
    deadline = models.DateTimeField()
    warned = models.BooleanField(default=False)
    breached = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=GroupStatus.choices, default=GroupStatus.OPEN)
    version = models.PositiveIntegerField(default=0)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    reply = models.TextField(blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("question group")
        verbose_name_plural = _("question groups")
        indexes = [
            models.Index(
                fields=["deadline"],
                condition=models.Q(status="open"),
                name="open_group_deadline",
            ),
            models.Index(
                fields=["stream", "category", "last_asked_at"],
                condition=models.Q(status="open"),
                name="open_group_by_stream",
            ),
            models.Index(
                fields=["claim_expires_at"],
                condition=models.Q(claimed_by__isnull=False),
                name="claimed_group_lease",
            ),
            # What an agent holds: counted against their capacity on every claim.
            models.Index(
                fields=["claimed_by", "claim_expires_at"],
                condition=models.Q(status="open", claimed_by__isnull=False),
                name="claims_held",
            ),
            # The SLA sweep's range: open groups not yet past their deadline's alert, so
            # groups breached long ago are not read again on every sweep.
            models.Index(
                fields=["deadline"],
                condition=models.Q(status="open", breached=False),
                name="open_group_unbreached",
            ),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class Question(models.Model):
    """One viewer comment judged to be a question."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="questions")
    # Indexed by question_newest_in_group below, whose first column serves every lookup by
    # group. A second index on the group alone would tempt the planner, from the statistics
    # of small groups, to read a hot group's every question and sort them for its newest.
    group = models.ForeignKey(
        QuestionGroup, on_delete=models.CASCADE, related_name="questions", db_index=False
    )
    ingest_event = models.OneToOneField(
        IngestEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    user_id = models.CharField(max_length=128)
    user_name = models.CharField(max_length=200)
    text = models.TextField()
    asked_at = models.DateTimeField()

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["asked_at", "pk"]
        # A group's newest askers are read on every change of the group (its events).
        indexes = [models.Index(fields=["group", "-asked_at"], name="question_newest_in_group")]

    def __str__(self) -> str:
        return self.text[:60]


class AgentStatus(models.TextChoices):
    ONLINE = "online", _("Online")
    BREAK = "break", _("On a break")
    OFFLINE = "offline", _("Offline")


class Agent(models.Model):
    """A customer-service agent's presence (客服): status, how many groups at once, skills."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="support_agent"
    )
    status = models.CharField(
        max_length=16, choices=AgentStatus.choices, default=AgentStatus.OFFLINE
    )
    capacity = models.PositiveSmallIntegerField(_("groups at once"), default=3)
    languages = models.JSONField(_("languages"), default=list, blank=True)
    categories = models.JSONField(_("categories"), default=list, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("agent")
        verbose_name_plural = _("agents")

    def __str__(self) -> str:
        return str(self.user)


class CannedReply(models.Model):
    """A ready answer for a channel, filled from live data: {price}, {regular_price},
    {stock}, {product}, {link}, {coupon}, {shipping}."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="canned_replies")
    shortcut = models.PositiveSmallIntegerField(_("shortcut key (1–9)"), null=True, blank=True)
    title = models.CharField(_("title"), max_length=100)
    text = models.TextField(_("reply"))
    category = models.CharField(_("category"), max_length=16, choices=Category.choices, blank=True)

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["channel", "shortcut", "title"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "shortcut"], name="canned_reply_shortcut_once"
            )
        ]

    def __str__(self) -> str:
        return self.title


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class ReplyOutbox(models.Model):
    """A reply on its way to the platform. The idempotency key goes with every attempt, so a
    retry after a timeout can never post the reply twice."""

    group = models.ForeignKey(QuestionGroup, on_delete=models.CASCADE, related_name="outbox")
    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=64, unique=True)
    text = models.TextField()
    to_users = models.JSONField(default=list)
    status = models.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    platform_message_id = models.CharField(max_length=128, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing reply")
        verbose_name_plural = _("outgoing replies")
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="outbox_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.status})"


class DemoPlatformMessage(models.Model):
    """What the demo platform adapter "posted": the record a real platform would keep. Its
    unique client key is how the platform itself refuses a second post of one reply."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    client_key = models.CharField(max_length=64, unique=True)
    text = models.TextField()
    to_users = models.JSONField(default=list)
    posted_at = models.DateTimeField()

    class Meta:
        verbose_name = _("demo platform message")
        verbose_name_plural = _("demo platform messages")

    def __str__(self) -> str:
        return self.client_key
