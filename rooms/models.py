"""Studios, channels, streams, crews and the per-stream event log.

Tables, constraints and indexes only; every write goes through `rooms.services`.
"""

import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class Role(models.TextChoices):
    """The console's roles; each is a Django group of the same name: producer 策划/编导,
    room operator 中控, floor controller 场控, host 主播, CS agent 客服, ad buyer 投手."""

    PRODUCER = "producer", _("Producer")
    ROOM_OPERATOR = "room_operator", _("Room operator")
    FLOOR_CONTROLLER = "floor_controller", _("Floor controller")
    HOST = "host", _("Host / actor")
    CS_AGENT = "cs_agent", _("Customer-service agent")
    AD_BUYER = "ad_buyer", _("Ad buyer")
    AD_APPROVER = "ad_approver", _("Ad approver")
    VIEWER = "viewer", _("Viewer")


class User(AbstractUser):
    """A person on the team. Their roles are the groups they belong to."""

    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, default="en"
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_time_zone]
    )

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")

    def __str__(self) -> str:
        return self.display_name or self.username


class Studio(models.Model):
    """A physical room with its screens; its time zone is the one every screen in it shows."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_time_zone]
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="studios",
        blank=True,
        verbose_name=_("members"),
        help_text=_("People who plan, run or watch this studio's streams."),
    )

    class Meta:
        verbose_name = _("studio")
        verbose_name_plural = _("studios")

    def __str__(self) -> str:
        return self.name


class Platform(models.TextChoices):
    DOUYIN = "douyin", _("Douyin")
    KUAISHOU = "kuaishou", _("Kuaishou")
    TAOBAO = "taobao", _("Taobao Live")
    TIKTOK = "tiktok", _("TikTok Shop")
    SHOPEE = "shopee", _("Shopee Live")


class Channel(models.Model):
    """A platform account that streams are broadcast on."""

    key = models.SlugField(
        _("key"),
        max_length=64,
        unique=True,
        help_text=_("Identifies the channel to the ingest webhook (X-MCN-Channel)."),
    )
    name = models.CharField(_("name"), max_length=100)
    platform = models.CharField(_("platform"), max_length=16, choices=Platform.choices)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_time_zone]
    )

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")

    def __str__(self) -> str:
        return self.name


class ChannelSecret(models.Model):
    """An ingest signing secret. Several may be valid at once while a secret is rotated."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="secrets")
    secret = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("ingest secret")
        verbose_name_plural = _("ingest secrets")
        indexes = [models.Index(fields=["channel", "expires_at"])]
        constraints = [
            # A short (or empty) key would let anyone who knows the channel key sign events.
            models.CheckConstraint(
                condition=Q(secret__regex=r"^.{32,}$"), name="channel_secret_long_enough"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} secret #{self.pk}"


class StreamStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    LIVE = "live", _("Live")
    ENDED = "ended", _("Ended")
    REVIEWED = "reviewed", _("Reviewed")


class Stream(models.Model):
    """One scheduled live session of a channel in a studio."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="streams")
    studio = models.ForeignKey(Studio, on_delete=models.PROTECT, related_name="streams")
    title = models.CharField(_("title"), max_length=200)
    status = models.CharField(
        _("status"), max_length=16, choices=StreamStatus.choices, default=StreamStatus.DRAFT
    )
    planned_start = models.DateTimeField(_("planned start"))
    planned_end = models.DateTimeField(_("planned end"))
    actual_start = models.DateTimeField(_("actual start"), null=True, blank=True)
    actual_end = models.DateTimeField(_("actual end"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("stream")
        verbose_name_plural = _("streams")
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_end__gt=F("planned_start")),
                name="stream_planned_end_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "planned_start"]),
            models.Index(fields=["studio", "planned_start"]),
        ]

    def __str__(self) -> str:
        return self.title


class CrewRole(models.TextChoices):
    """Roles on one stream: host 主播, co-host 副播, actor, room operator 中控,
    floor controller 场控, CS agent 客服, ad buyer 投手, cheer crew 气氛组."""

    HOST = "host", _("Host")
    CO_HOST = "co_host", _("Co-host")
    ACTOR = "actor", _("Actor")
    ROOM_OPERATOR = "room_operator", _("Room operator")
    FLOOR_CONTROLLER = "floor_controller", _("Floor controller")
    CS_AGENT = "cs_agent", _("CS agent")
    AD_BUYER = "ad_buyer", _("Ad buyer")
    CHEER = "cheer", _("Cheer crew")


class CrewAssignment(models.Model):
    """A person working a stream in one role."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="crew")
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crew_assignments"
    )
    role = models.CharField(_("role"), max_length=32, choices=CrewRole.choices)

    class Meta:
        verbose_name = _("crew assignment")
        verbose_name_plural = _("crew assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "person", "role"], name="crew_assignment_unique_role"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} · {self.get_role_display()} · {self.stream}"


class StreamEvent(models.Model):
    """One entry of a stream's durable event log.

    `seq` is the event id that clients see: it starts at 1 for each stream and has no gaps,
    because it is allocated from `EventLogHead` inside the writing transaction.
    """

    stream = models.ForeignKey(
        Stream, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    seq = models.BigIntegerField()
    type = models.CharField(max_length=32)
    op = models.CharField(max_length=32)
    at = models.DateTimeField()
    data = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("stream event")
        verbose_name_plural = _("stream events")
        constraints = [
            models.UniqueConstraint(fields=["stream", "seq"], name="stream_event_seq_unique"),
        ]
        indexes = [models.Index(fields=["at"], name="stream_event_at")]

    def __str__(self) -> str:
        return f"{self.stream_id}#{self.seq} {self.type}.{self.op}"


class EventLogHead(models.Model):
    """The last event id allocated for a stream. Its row lock orders a stream's writers."""

    stream = models.OneToOneField(
        Stream, on_delete=models.CASCADE, primary_key=True, related_name="event_log_head"
    )
    last_seq = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("event log head")
        verbose_name_plural = _("event log heads")

    def __str__(self) -> str:
        return f"{self.stream_id}#{self.last_seq}"


class IngestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PROCESSED = "processed", _("Processed")
    UNROUTED = "unrouted", _("No stream for this channel at that time")
    UNKNOWN_TYPE = "unknown_type", _("Unknown event type")
    FAILED = "failed", _("Handler failed; will retry")
    DEAD = "dead", _("Handler failed; gave up")


class IngestEvent(models.Model):
    """The inbox: every platform event accepted by the ingest webhook, stored once."""

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="ingest_events")
    platform_event_id = models.CharField(max_length=128)
    type = models.CharField(max_length=32)
    at = models.DateTimeField()
    payload = models.JSONField()
    received_at = models.DateTimeField()
    stream = models.ForeignKey(
        Stream, on_delete=models.SET_NULL, null=True, blank=True, related_name="ingest_events"
    )
    status = models.CharField(
        max_length=16, choices=IngestStatus.choices, default=IngestStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("ingest event")
        verbose_name_plural = _("ingest events")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "platform_event_id"], name="ingest_event_unique_platform_id"
            ),
        ]
        indexes = [
            models.Index(
                fields=["received_at"],
                name="ingest_event_needs_dispatch",
                condition=Q(status__in=["pending", "failed"]),
            ),
            models.Index(
                fields=["channel", "id"],
                name="ingest_event_channel_backlog",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.platform_event_id}"


class ApiToken(models.Model):
    """A personal API token. Only a hash of the token is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"API token #{self.pk} of {self.user}"


class ScreenToken(models.Model):
    """A read-only credential for a shared screen in one studio. Only a hash is kept."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="screen_tokens")
    name = models.CharField(_("name"), max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("screen token")
        verbose_name_plural = _("screen tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.studio})"
