"""Studios, channels, streams, crews and the per-stream event log.

Tables, constraints and indexes only; every write goes through `rooms.services`.
"""

import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, DateTimeRangeField, RangeOperators
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Deferrable, F, Q
from django.utils.functional import cached_property
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

    @cached_property
    def role_names(self) -> frozenset[str]:
        """The names of the person's roles (their groups), read once per instance: one
        request's permission checks ask several times. A change shows on the next load."""
        return frozenset(self.groups.values_list("name", flat=True))


def has_any_role(user, roles) -> bool:
    """Whether the (possibly anonymous) user holds one of the roles."""
    return user.is_authenticated and not user.role_names.isdisjoint(roles)


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


def default_required_roles() -> list[str]:
    return [CrewRole.HOST, CrewRole.ROOM_OPERATOR]


class Stream(models.Model):
    """One scheduled live session of a channel in a studio.

    `booked` is the studio's occupancy: the planned window widened by the set-up and
    teardown buffers. Services keep it in step with the plan; the exclusion constraint
    makes a double-booked studio impossible whatever path a write takes.
    """

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
    setup_before = models.DurationField(
        _("studio set-up before"),
        default=timedelta(minutes=30),
        help_text=_("The studio is held this long before the planned start."),
    )
    teardown_after = models.DurationField(
        _("studio teardown after"),
        default=timedelta(minutes=15),
        help_text=_("The studio is held this long after the planned end."),
    )
    booked = DateTimeRangeField(_("studio booked"))
    required_roles = ArrayField(
        models.CharField(max_length=32, choices=CrewRole.choices),
        default=default_required_roles,
        blank=True,
        verbose_name=_("crew roles to fill"),
    )
    template = models.ForeignKey(
        "StreamTemplate",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="streams",
        verbose_name=_("template"),
    )
    notes = models.TextField(_("notes"), blank=True)
    # Counts changes to the plan; calendar feeds use it as the event's SEQUENCE.
    revision = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("stream")
        verbose_name_plural = _("streams")
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_end__gt=F("planned_start")),
                name="stream_planned_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(setup_before__gte=timedelta(0), teardown_after__gte=timedelta(0)),
                name="stream_buffers_not_negative",
            ),
            ExclusionConstraint(
                name="stream_studio_not_double_booked",
                expressions=[("studio", RangeOperators.EQUAL), ("booked", RangeOperators.OVERLAPS)],
                violation_error_message=_("The studio is already booked at that time."),
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "planned_start"]),
            models.Index(fields=["studio", "planned_start"]),
        ]

    def __str__(self) -> str:
        return self.title


class CrewAssignment(models.Model):
    """A person working a stream in one role, held from `buffer_before` the planned start
    (make-up, rehearsal, set-up) to `buffer_after` its end.

    `booked` is that window, kept in step with the stream's plan by services; the exclusion
    constraint keeps a person off two overlapping streams (two roles on one stream is fine).
    """

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="crew")
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crew_assignments"
    )
    role = models.CharField(_("role"), max_length=32, choices=CrewRole.choices)
    buffer_before = models.DurationField(_("call before start"), default=timedelta(minutes=30))
    buffer_after = models.DurationField(_("stays after end"), default=timedelta(minutes=15))
    booked = DateTimeRangeField(_("booked"))
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    availability_note = models.CharField(
        _("availability warning accepted"),
        max_length=300,
        blank=True,
        help_text=_("The availability warning the producer saw and accepted when assigning."),
    )

    class Meta:
        verbose_name = _("crew assignment")
        verbose_name_plural = _("crew assignments")
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "person", "role"], name="crew_assignment_unique_role"
            ),
            models.CheckConstraint(
                condition=Q(buffer_before__gte=timedelta(0), buffer_after__gte=timedelta(0)),
                name="crew_buffers_not_negative",
            ),
            ExclusionConstraint(
                name="crew_person_not_double_booked",
                expressions=[
                    ("person", RangeOperators.EQUAL),
                    ("booked", RangeOperators.OVERLAPS),
                    ("stream", RangeOperators.NOT_EQUAL),
                ],
                violation_error_message=_("This person is already booked at that time."),
            ),
        ]
        indexes = [models.Index(fields=["person", "stream"])]

    def __str__(self) -> str:
        return f"{self.person} · {self.get_role_display()} · {self.stream}"


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class WorkingHours(models.Model):
    """When a person usually works on one weekday, in their own time zone.

    An end at or before the start runs past midnight (a 20:00–02:00 late show). A person
    with no working hours at all is taken to be available any time.
    """

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_hours"
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    starts = models.TimeField(_("from"))
    ends = models.TimeField(_("until"))

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        ordering = ["weekday", "starts"]
        indexes = [models.Index(fields=["person", "weekday"])]

    def __str__(self) -> str:
        return f"{self.person} {self.get_weekday_display()} {self.starts:%H:%M}–{self.ends:%H:%M}"


class TimeOff(models.Model):
    """Days a person is away (inclusive), in their own time zone."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="time_off"
    )
    first_day = models.DateField(_("first day"))
    last_day = models.DateField(_("last day"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("time off")
        verbose_name_plural = _("time off")
        ordering = ["first_day"]
        indexes = [models.Index(fields=["person", "last_day"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(last_day__gte=F("first_day")), name="time_off_last_day_not_before_first"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} off {self.first_day}–{self.last_day}"


class StreamTemplate(models.Model):
    """A recurring show: where, when, how long, which crew roles to fill, which lineup."""

    name = models.CharField(_("name"), max_length=100)
    studio = models.ForeignKey(
        Studio, on_delete=models.CASCADE, related_name="templates", verbose_name=_("studio")
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="templates", verbose_name=_("channel")
    )
    title = models.CharField(_("stream title"), max_length=200)
    start_time = models.TimeField(_("starts at"), help_text=_("In the studio's time zone."))
    duration = models.DurationField(_("duration"))
    setup_before = models.DurationField(_("studio set-up before"), default=timedelta(minutes=30))
    teardown_after = models.DurationField(_("studio teardown after"), default=timedelta(minutes=15))
    lineup_set = models.ForeignKey(
        "LineupSet",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="templates",
        verbose_name=_("lineup set"),
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("stream template")
        verbose_name_plural = _("stream templates")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["studio", "name"], name="stream_template_unique_name"),
            models.CheckConstraint(
                condition=Q(duration__gt=timedelta(0)), name="stream_template_duration_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TemplateCrewSlot(models.Model):
    """A crew role a template's streams need, optionally with the person who usually fills it."""

    template = models.ForeignKey(StreamTemplate, on_delete=models.CASCADE, related_name="slots")
    role = models.CharField(_("role"), max_length=32, choices=CrewRole.choices)
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("usually"),
    )

    class Meta:
        verbose_name = _("crew slot")
        verbose_name_plural = _("crew slots")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.template} · {self.get_role_display()}"


class ProductKind(models.TextChoices):
    """What a product is in the show: traffic 引流/福利款, hero 主推/爆款, profit 利润款,
    flash sale 秒杀."""

    TRAFFIC = "traffic", _("Traffic (引流/福利款)")
    HERO = "hero", _("Hero (主推/爆款)")
    PROFIT = "profit", _("Profit (利润款)")
    FLASH = "flash", _("Flash sale (秒杀)")


class LineupFields(models.Model):
    """One product in a lineup (排品); shared by a stream's lineup and reusable sets."""

    position = models.PositiveIntegerField(_("position"))
    link_number = models.PositiveIntegerField(
        _("link number"), help_text=_("链接号: the product's number in the live room's cart.")
    )
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    name = models.CharField(_("product"), max_length=200)
    kind = models.CharField(_("type"), max_length=16, choices=ProductKind.choices)
    regular_price = models.DecimalField(
        _("regular price"), max_digits=12, decimal_places=2, validators=[MinValueValidator(0)]
    )
    live_price = models.DecimalField(
        _("live price"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True)
    per_buyer_limit = models.PositiveSmallIntegerField(
        _("limit per buyer"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    commission_rate = models.DecimalField(
        _("commission %"),
        max_digits=5,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    notes = models.CharField(_("notes"), max_length=300, blank=True)

    class Meta:
        abstract = True
        ordering = ["position"]

    def __str__(self) -> str:
        return f"#{self.link_number} {self.name}"


# The fields a lineup row has, wherever it lives (a stream's lineup, a set, a form, a sheet).
LINEUP_FIELD_NAMES = (
    "link_number",
    "sku",
    "name",
    "kind",
    "regular_price",
    "live_price",
    "stock",
    "per_buyer_limit",
    "commission_rate",
    "notes",
)


def _lineup_constraints(owner: str, prefix: str) -> list:
    return [
        models.UniqueConstraint(
            fields=[owner, "link_number"],
            name=f"{prefix}_unique_link_number",
            deferrable=Deferrable.DEFERRED,
        ),
        models.UniqueConstraint(
            fields=[owner, "position"],
            name=f"{prefix}_unique_position",
            deferrable=Deferrable.DEFERRED,
        ),
        models.CheckConstraint(
            condition=Q(regular_price__gte=0) & (Q(live_price__isnull=True) | Q(live_price__gte=0)),
            name=f"{prefix}_prices_not_negative",
        ),
        models.CheckConstraint(
            condition=Q(commission_rate__gte=0, commission_rate__lte=100),
            name=f"{prefix}_commission_is_percent",
        ),
    ]


class LineupItem(LineupFields):
    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="lineup")

    class Meta(LineupFields.Meta):
        verbose_name = _("lineup item")
        verbose_name_plural = _("lineup")
        constraints = _lineup_constraints("stream", "lineup_item")


class LineupSet(models.Model):
    """A reusable lineup, copied onto streams."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("lineup set")
        verbose_name_plural = _("lineup sets")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LineupSetItem(LineupFields):
    lineup_set = models.ForeignKey(LineupSet, on_delete=models.CASCADE, related_name="items")

    class Meta(LineupFields.Meta):
        verbose_name = _("lineup set item")
        verbose_name_plural = _("lineup set items")
        constraints = _lineup_constraints("lineup_set", "lineup_set_item")


class ReadinessOverride(models.Model):
    """A producer's decision to go live with items still missing from the checklist."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="readiness_overrides")
    reason = models.TextField(_("reason"))
    missing = models.JSONField(default=list)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("readiness override")
        verbose_name_plural = _("readiness overrides")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.stream} overridden by {self.by}"


class CalendarFeed(models.Model):
    """A person's secret iCal address. Only a hash is kept; a new one revokes the old."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")

    def __str__(self) -> str:
        return f"Calendar feed #{self.pk} of {self.person}"


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

    def idle_expired(self, now) -> bool:
        """Unused (or, never used, issued) more than MCN_API_TOKEN_IDLE_DAYS ago: it no
        longer authenticates. A token lives while it is used, so one left behind (a
        laptop's, a retired script's) stops working without anyone revoking it."""
        idle = timedelta(days=settings.MCN_API_TOKEN_IDLE_DAYS)
        return now - (self.last_used_at or self.created_at) > idle


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


class OrderStatus(models.TextChoices):
    PLACED = "placed", _("Placed")
    PAID = "paid", _("Paid")
    REFUNDED = "refunded", _("Refunded")


class StreamOrder(models.Model):
    """An order of a stream as it stands: one row per platform order, whatever order and
    however often its events arrive (placed → paid → refunded never goes backwards)."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="orders")
    order_id = models.CharField(max_length=128)
    sku = models.CharField(max_length=128)
    quantity = models.PositiveIntegerField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    status = models.CharField(max_length=16, choices=OrderStatus.choices)
    placed_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.UniqueConstraint(fields=["stream", "order_id"], name="stream_order_once")
        ]
        indexes = [models.Index(fields=["stream", "status"])]

    def __str__(self) -> str:
        return f"{self.order_id} ({self.status})"


class StreamMinute(models.Model):
    """Viewers of a stream in one minute: the last online count seen, the peak, and the
    platform's running total of viewers who entered. One row per stream per minute."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="minutes")
    minute = models.DateTimeField()
    online = models.PositiveIntegerField(default=0)
    online_at = models.DateTimeField()
    online_peak = models.PositiveIntegerField(default=0)
    entered_total = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("stream minute")
        verbose_name_plural = _("stream minutes")
        constraints = [
            models.UniqueConstraint(fields=["stream", "minute"], name="stream_minute_once")
        ]

    def __str__(self) -> str:
        return f"{self.stream_id} {self.minute:%H:%M}"


class ScreenPairing(models.Model):
    """A wall screen asking to be paired, in the manner of RFC 8628's device flow.

    The screen keeps a secret device code (only its hash is stored here) and shows a short
    user code; someone signed in enters the user code on their own device and chooses the
    studio. The screen then exchanges its device code, once, for a screen token.
    """

    device_code_hash = models.CharField(max_length=64, unique=True)
    user_code = models.CharField(max_length=9)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    polled_at = models.DateTimeField(null=True, blank=True)
    studio = models.ForeignKey(
        Studio, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    token_ttl = models.DurationField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    token = models.OneToOneField(
        ScreenToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="pairing"
    )

    class Meta:
        verbose_name = _("screen pairing")
        verbose_name_plural = _("screen pairings")
        constraints = [
            # A code is entered by hand, so it must name one waiting screen only.
            models.UniqueConstraint(
                fields=["user_code"],
                condition=models.Q(approved_at__isnull=True),
                name="screen_pairing_code_waiting_once",
            )
        ]

    def __str__(self) -> str:
        return self.user_code


class Show(models.Model):
    """The run-of-show of a stream as the room operator (中控) drives it.

    `segments` is the plan as it stood when the show was set up (from the stream's locked
    script, or its lineup when there is none), so a later edit cannot move the ground
    under a live show: a list of {"key", "title", "planned_seconds", "offset_seconds",
    "hard_start_seconds", "link_number", "cues": [...]}. `position` is the index of the
    current segment (-1 before the first); `moves` counts every advance and step back, so
    an operator's "next" names the position it saw and cannot be applied twice.
    """

    stream = models.OneToOneField(Stream, on_delete=models.CASCADE, related_name="show")
    source = models.CharField(max_length=16)
    source_label = models.CharField(max_length=200, blank=True)
    segments = models.JSONField(default=list)
    position = models.IntegerField(default=-1)
    moves = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    segment_started_at = models.DateTimeField(null=True, blank=True)
    pinned = models.JSONField(default=list)
    operator_online = models.BooleanField(default=False)
    operator_seen_at = models.DateTimeField(null=True, blank=True)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("run-of-show")
        verbose_name_plural = _("runs-of-show")
        indexes = [
            models.Index(
                fields=["operator_seen_at"],
                condition=models.Q(operator_online=True),
                name="show_operator_online",
            )
        ]

    def __str__(self) -> str:
        return f"{self.stream} @ {self.position}"


class ShowSegmentRun(models.Model):
    """When a segment was actually on air. Going back opens a new run of the earlier one."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="segment_runs")
    index = models.PositiveIntegerField()
    key = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("segment run")
        verbose_name_plural = _("segment runs")
        ordering = ["stream", "started_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["stream"],
                condition=models.Q(ended_at__isnull=True),
                name="one_open_segment_run",
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} {self.started_at:%H:%M}"


class LiveCueKind(models.TextChoices):
    """What the room operator (中控) does on the platform, and what the crew does on the floor."""

    PIN = "pin", _("Pin / explain (讲解)")
    UNPIN = "unpin", _("Unpin")
    PRICE_CHANGE = "price_change", _("Price change (改价)")
    COUPON = "coupon", _("Coupon (发券)")
    FLASH_SALE = "flash_sale", _("Flash sale (秒杀)")
    SOLD_OUT = "sold_out", _("Sold out")
    LUCKY_BAG = "lucky_bag", _("Lucky bag (福袋)")
    CHEER = "cheer", _("Cheer")
    MUSIC = "music", _("Music")
    CAMERA = "camera", _("Camera")


PRODUCT_LIVE_CUES = frozenset(
    {
        LiveCueKind.PIN,
        LiveCueKind.UNPIN,
        LiveCueKind.PRICE_CHANGE,
        LiveCueKind.COUPON,
        LiveCueKind.FLASH_SALE,
        LiveCueKind.SOLD_OUT,
        LiveCueKind.LUCKY_BAG,
    }
)


class CueState(models.TextChoices):
    STANDBY = "standby", _("Standby")
    GO = "go", _("GO")
    CONFIRMED = "confirmed", _("Confirmed")
    CANCELLED = "cancelled", _("Cancelled")


class ShowCue(models.Model):
    """A cue called during the show: standby → GO → confirmed, each step with who and when.

    `script_key` ties a cue to the script cue it came from, so a cue in the script is
    called at most once; ad hoc cues have none.
    """

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="cues")
    kind = models.CharField(_("cue"), max_length=16, choices=LiveCueKind.choices)
    state = models.CharField(max_length=16, choices=CueState.choices, default=CueState.STANDBY)
    role = models.CharField(_("done by"), max_length=32, choices=CrewRole.choices)
    script_key = models.CharField(max_length=64, blank=True)
    segment_index = models.IntegerField(null=True, blank=True)
    link_number = models.PositiveIntegerField(_("product link number"), null=True, blank=True)
    product = models.CharField(_("product"), max_length=200, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    params = models.JSONField(default=dict, blank=True)
    standby_at = models.DateTimeField()
    standby_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    go_at = models.DateTimeField(null=True, blank=True)
    go_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("cue")
        verbose_name_plural = _("cues")
        ordering = ["stream", "standby_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "script_key"],
                condition=~models.Q(script_key=""),
                name="script_cue_called_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.state})"
