from datetime import UTC, date, datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from . import ingest
from .models import (
    LINEUP_FIELD_NAMES,
    Channel,
    CrewAssignment,
    CrewRole,
    LineupItem,
    LineupSet,
    LineupSetItem,
    LiveCueKind,
    Platform,
    ReadinessOverride,
    Stream,
    StreamStatus,
    StreamTemplate,
    Studio,
    TemplateCrewSlot,
    TimeOff,
    User,
    Weekday,
    WorkingHours,
)


class AuthTokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)


class AuthTokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")


# --- Planning: fields ----------------------------------------------------------------------

# Plans outside these bounds are typing mistakes, and near the ends of Python's calendar the
# booking arithmetic (start − set-up, end + teardown) would overflow.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 instant with its UTC offset; a bare local time is refused, because the
    API cannot know which studio's clock it was read from."""

    default_error_messages = {
        "naive": _("Give the time with its UTC offset, e.g. 2026-12-01T19:00:00+08:00."),
        "range": _("Give a time between 2000 and 2099."),
    }

    def enforce_timezone(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            self.fail("naive")
        if not EARLIEST <= value < LATEST:
            self.fail("range")
        return super().enforce_timezone(value)


class BoundedDateField(serializers.DateField):
    default_error_messages = {"range": _("Give a day between 2000 and 2099.")}

    def to_internal_value(self, value) -> date:
        day = super().to_internal_value(value)
        if not EARLIEST.date() <= day < LATEST.date():
            self.fail("range")
        return day


class MinutesField(serializers.IntegerField):
    """A duration as whole minutes (`90` is an hour and a half)."""

    def __init__(self, *, min_minutes: int = 0, max_minutes: int = 24 * 60, **kwargs):
        super().__init__(**kwargs)
        # Bounds are checked on the minutes, before they become a timedelta; the attributes
        # also document them in the OpenAPI schema.
        self.min_value, self.max_value = min_minutes, max_minutes

    def to_internal_value(self, data) -> timedelta:
        minutes = super().to_internal_value(data)
        if minutes < self.min_value:
            self.fail("min_value", min_value=self.min_value)
        if minutes > self.max_value:
            self.fail("max_value", max_value=self.max_value)
        return timedelta(minutes=minutes)

    def to_representation(self, value: timedelta) -> int:
        return int(value.total_seconds() // 60)


# Choice sets that a second field name documents again. Without labels they are their own
# enums in the schema rather than second names for CrewRole's and StreamStatus's, which
# drf-spectacular warns about (and settings would have to rename).
CREW_ROLE_VALUES = [role.value for role in CrewRole]
STREAM_STATUS_VALUES = [status.value for status in StreamStatus]


class ClashSerializer(serializers.Serializer):
    """Another booking a plan would overlap (`selectors.Clash.as_dict()`)."""

    kind = serializers.CharField(help_text="`studio` or `person`.")
    who = serializers.CharField(help_text="The studio or the person that is double-booked.")
    stream = serializers.IntegerField(help_text="The other stream (0: another occurrence).")
    title = serializers.CharField()
    studio = serializers.CharField()
    starts = serializers.DateTimeField(help_text="The other booking, set-up or call included.")
    ends = serializers.DateTimeField()
    message = serializers.CharField()


class RowErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Counted from 1 like a sheet's rows; 0: the file.")
    column = serializers.CharField()
    message = serializers.CharField()


class ApiErrorSerializer(serializers.Serializer):
    """Every planning error: `detail` says what went wrong, `code` what kind of error it is."""

    detail = serializers.CharField()
    code = serializers.CharField(
        help_text="`clash` and `availability` (409); `rows`, `invalid`, `not_ready` and "
        "`parse_error` (400); `permission_denied` (403); `not_found` (404); …"
    )
    clashes = ClashSerializer(many=True, required=False, help_text="With `clash`.")
    warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="With `availability`: repeat the request with accept_availability=true.",
    )
    errors = RowErrorSerializer(many=True, required=False, help_text="With `rows`.")
    messages = serializers.ListField(child=serializers.CharField(), required=False)
    fields = serializers.DictField(required=False, help_text="Messages by input field.")


# --- Studios and channels --------------------------------------------------------------------


class StudioSerializer(serializers.ModelSerializer):
    class Meta:
        model = Studio
        fields = ["id", "name", "time_zone", "members"]
        read_only_fields = fields


class StudioRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    time_zone = serializers.CharField(max_length=64, help_text="An IANA zone: Asia/Shanghai.")
    members = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), many=True, required=False, help_text="People's ids."
    )


class ChannelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Channel
        fields = ["id", "key", "name", "platform", "currency", "time_zone"]
        read_only_fields = fields


class ChannelCreatedSerializer(ChannelSerializer):
    ingest_secret = serializers.CharField(
        read_only=True,
        help_text="The webhook signing secret. Shown this once; keep it with the platform.",
    )

    class Meta(ChannelSerializer.Meta):
        fields = [*ChannelSerializer.Meta.fields, "ingest_secret"]
        read_only_fields = fields


class ChannelRequestSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=64, help_text="Fixed once created.")
    name = serializers.CharField(max_length=100)
    platform = serializers.ChoiceField(choices=Platform.choices)
    currency = serializers.CharField(min_length=3, max_length=3)
    time_zone = serializers.CharField(max_length=64)


class ChannelUpdateRequestSerializer(ChannelRequestSerializer):
    key = None


# --- Streams ---------------------------------------------------------------------------------


class CrewAssignmentSerializer(serializers.ModelSerializer):
    person_name = serializers.StringRelatedField(source="person")
    buffer_before_minutes = MinutesField(source="buffer_before")
    buffer_after_minutes = MinutesField(source="buffer_after")
    call_start = serializers.DateTimeField(source="booked.lower", help_text="Buffer included.")
    call_end = serializers.DateTimeField(source="booked.upper")

    class Meta:
        model = CrewAssignment
        fields = [
            "id",
            "stream",
            "person",
            "person_name",
            "role",
            "buffer_before_minutes",
            "buffer_after_minutes",
            "call_start",
            "call_end",
            "availability_note",
        ]
        read_only_fields = fields


class StreamSerializer(serializers.ModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="key", read_only=True)
    platform = serializers.CharField(source="channel.platform", read_only=True)
    studio = serializers.CharField(source="studio.name", read_only=True)
    studio_id = serializers.IntegerField(read_only=True)
    time_zone = serializers.CharField(source="studio.time_zone", read_only=True)
    setup_minutes = MinutesField(source="setup_before", read_only=True)
    teardown_minutes = MinutesField(source="teardown_after", read_only=True)
    booked_start = serializers.DateTimeField(
        source="booked.lower", read_only=True, help_text="The studio is held from here…"
    )
    booked_end = serializers.DateTimeField(
        source="booked.upper", read_only=True, help_text="…to here: set-up and teardown."
    )
    required_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=CREW_ROLE_VALUES),
        read_only=True,
        help_text="Crew roles to fill.",
    )
    crew = CrewAssignmentSerializer(many=True, read_only=True)

    class Meta:
        model = Stream
        fields = [
            "id",
            "title",
            "status",
            "channel",
            "platform",
            "studio",
            "studio_id",
            "time_zone",
            "planned_start",
            "planned_end",
            "actual_start",
            "actual_end",
            "setup_minutes",
            "teardown_minutes",
            "booked_start",
            "booked_end",
            "required_roles",
            "template",
            "notes",
            "crew",
        ]
        read_only_fields = fields


class StreamPlanRequestSerializer(serializers.Serializer):
    """A stream's plan. Times are ISO 8601 with a UTC offset; set-up and teardown are minutes.
    PATCH sends only what changes."""

    title = serializers.CharField(max_length=200)
    channel = serializers.SlugRelatedField(
        slug_field="key", queryset=Channel.objects.all(), help_text="The channel's key."
    )
    studio = serializers.PrimaryKeyRelatedField(
        queryset=Studio.objects.all(), help_text="The studio's id."
    )
    planned_start = AwareDateTimeField()
    planned_end = AwareDateTimeField()
    setup_minutes = MinutesField(
        source="setup_before", required=False, help_text="Studio held before the start (30)."
    )
    teardown_minutes = MinutesField(
        source="teardown_after", required=False, help_text="Studio held after the end (15)."
    )
    required_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=CREW_ROLE_VALUES),
        max_length=len(CrewRole),
        required=False,
        help_text="Crew roles to fill (host and room operator).",
    )
    notes = serializers.CharField(allow_blank=True, max_length=5000, required=False)


class StreamCreateRequestSerializer(StreamPlanRequestSerializer):
    status = serializers.ChoiceField(
        choices=[StreamStatus.DRAFT, StreamStatus.SCHEDULED], default=StreamStatus.DRAFT
    )


class StreamTransitionRequestSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=STREAM_STATUS_VALUES)


class ReadinessItemSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    done = serializers.BooleanField()
    detail = serializers.CharField()


class ReadinessOverrideSerializer(serializers.ModelSerializer):
    by = serializers.StringRelatedField()

    class Meta:
        model = ReadinessOverride
        fields = ["id", "reason", "missing", "by", "at"]
        read_only_fields = fields


class ReadinessSerializer(serializers.Serializer):
    items = ReadinessItemSerializer(many=True)
    blocking = serializers.ListField(
        child=serializers.CharField(),
        help_text="Keys of missing items no override covers; a person can take the stream "
        "live only when this is empty.",
    )
    overrides = ReadinessOverrideSerializer(
        many=True, help_text="Decisions to go live with items missing, newest first."
    )


class ReadinessOverrideRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


# --- Crew ------------------------------------------------------------------------------------


class CrewAssignRequestSerializer(serializers.Serializer):
    person = serializers.PrimaryKeyRelatedField(queryset=User.objects.all())
    role = serializers.ChoiceField(choices=CrewRole.choices)
    buffer_before_minutes = MinutesField(
        source="buffer_before", required=False, help_text="Call time; default by role."
    )
    buffer_after_minutes = MinutesField(source="buffer_after", required=False)
    accept_availability = serializers.BooleanField(
        default=False, help_text="Assign despite an availability warning (409 `availability`)."
    )


# --- Lineup ----------------------------------------------------------------------------------


class LineupItemSerializer(serializers.ModelSerializer):
    """One product of a lineup; as input, `link_number` defaults to the next free one."""

    class Meta:
        model = LineupItem
        fields = ["id", "position", *LINEUP_FIELD_NAMES]
        read_only_fields = ["id", "position"]
        extra_kwargs = {"link_number": {"required": False}}


class LineupSetItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = LineupSetItem
        fields = ["id", "position", *LINEUP_FIELD_NAMES]
        read_only_fields = ["id", "position"]


class LineupOrderRequestSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        max_length=1000,
        help_text="Every item id of the lineup, once each, in the new order.",
    )


class LineupImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A .csv or .xlsx sheet with a header row (English or Chinese column names)."
    )


class LineupSetApplyRequestSerializer(serializers.Serializer):
    lineup_set = serializers.PrimaryKeyRelatedField(queryset=LineupSet.objects.all())


class LineupSetSerializer(serializers.ModelSerializer):
    class Meta:
        model = LineupSet
        fields = ["id", "name", "notes", "created_at"]
        read_only_fields = fields


class LineupSetDetailSerializer(LineupSetSerializer):
    items = LineupSetItemSerializer(many=True, read_only=True)

    class Meta(LineupSetSerializer.Meta):
        fields = [*LineupSetSerializer.Meta.fields, "items"]
        read_only_fields = fields


class LineupSetRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    notes = serializers.CharField(allow_blank=True, required=False, default="")
    items = LineupSetItemSerializer(many=True, max_length=500)


# --- Templates -------------------------------------------------------------------------------


class TemplateSlotSerializer(serializers.ModelSerializer):
    person_name = serializers.StringRelatedField(source="person")

    class Meta:
        model = TemplateCrewSlot
        fields = ["role", "person", "person_name"]
        read_only_fields = fields


class TemplateSerializer(serializers.ModelSerializer):
    studio_name = serializers.CharField(source="studio.name", read_only=True)
    time_zone = serializers.CharField(source="studio.time_zone", read_only=True)
    channel = serializers.SlugRelatedField(slug_field="key", read_only=True)
    duration_minutes = MinutesField(source="duration", read_only=True)
    setup_minutes = MinutesField(source="setup_before", read_only=True)
    teardown_minutes = MinutesField(source="teardown_after", read_only=True)
    slots = TemplateSlotSerializer(many=True, read_only=True)

    class Meta:
        model = StreamTemplate
        fields = [
            "id",
            "name",
            "studio",
            "studio_name",
            "time_zone",
            "channel",
            "title",
            "start_time",
            "duration_minutes",
            "setup_minutes",
            "teardown_minutes",
            "slots",
            "lineup_set",
            "notes",
        ]
        read_only_fields = fields


class TemplateSlotRequestSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=CrewRole.choices)
    person = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), allow_null=True, default=None, help_text="Who usually."
    )


class TemplateRequestSerializer(serializers.Serializer):
    studio = serializers.PrimaryKeyRelatedField(queryset=Studio.objects.all())
    channel = serializers.SlugRelatedField(slug_field="key", queryset=Channel.objects.all())
    name = serializers.CharField(max_length=100)
    title = serializers.CharField(max_length=200, help_text="The streams' title.")
    start_time = serializers.TimeField(help_text="Wall-clock time in the studio's time zone.")
    duration_minutes = MinutesField(source="duration", min_minutes=1)
    setup_minutes = MinutesField(source="setup_before", default=timedelta(minutes=30))
    teardown_minutes = MinutesField(source="teardown_after", default=timedelta(minutes=15))
    slots = TemplateSlotRequestSerializer(many=True, required=False, default=list, max_length=50)
    lineup_set = serializers.PrimaryKeyRelatedField(
        queryset=LineupSet.objects.all(), allow_null=True, default=None
    )
    notes = serializers.CharField(allow_blank=True, required=False, default="")


class TemplatePreviewRequestSerializer(serializers.Serializer):
    first_day = BoundedDateField(help_text="The first day, in the studio's calendar.")
    rule = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="An RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=TU,TH;COUNT=8. "
        "Omitted: first_day only.",
    )


class TemplateStreamsRequestSerializer(TemplatePreviewRequestSerializer):
    skip = serializers.ListField(
        child=AwareDateTimeField(),
        required=False,
        default=list,
        max_length=500,
        help_text="Starts (as the preview gave them) not to create.",
    )
    title = serializers.CharField(
        max_length=200, required=False, help_text="Instead of the template's title."
    )


class OccurrenceSerializer(serializers.Serializer):
    starts = serializers.DateTimeField()
    ends = serializers.DateTimeField()
    clashes = ClashSerializer(many=True)
    warnings = serializers.ListField(
        child=serializers.CharField(), help_text="Availability of the usual crew."
    )


# --- Availability ----------------------------------------------------------------------------


class WorkingHoursEntrySerializer(serializers.ModelSerializer):
    weekday = serializers.ChoiceField(choices=Weekday.choices, help_text="0 Monday … 6 Sunday.")

    class Meta:
        model = WorkingHours
        fields = ["weekday", "starts", "ends"]


class WorkingHoursSerializer(serializers.Serializer):
    """A person's usual week, in their own time zone; an end at or before the start runs
    past midnight. No hours at all: available any time."""

    time_zone = serializers.CharField(read_only=True)
    hours = WorkingHoursEntrySerializer(many=True, max_length=100)


class TimeOffSerializer(serializers.ModelSerializer):
    class Meta:
        model = TimeOff
        fields = ["id", "first_day", "last_day", "reason"]
        read_only_fields = fields


class TimeOffRequestSerializer(serializers.Serializer):
    first_day = BoundedDateField()
    last_day = BoundedDateField(help_text="Inclusive.")
    reason = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")


class EventSerializer(serializers.Serializer):
    """One event of a stream's log: the same shape as over the websocket."""

    id = serializers.IntegerField(help_text="Strictly increasing, gapless, per stream.")
    stream = serializers.IntegerField()
    type = serializers.CharField()
    op = serializers.CharField()
    at = serializers.DateTimeField()
    data = serializers.DictField()


class EventPageQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=5000, default=1000)
    tail = serializers.IntegerField(min_value=1, max_value=5000, required=False)


class EventPageSerializer(serializers.Serializer):
    events = EventSerializer(many=True)
    head = serializers.IntegerField(help_text="The stream's last event id.")
    resync = serializers.BooleanField(
        help_text="True when events after `after` were pruned: reload the snapshot."
    )


# --- Ingest webhook (documentation of the public contract; parsing is rooms.ingest) -------


class _PlatformEventBase(serializers.Serializer):
    id = serializers.CharField(max_length=128, help_text="The platform's event id; dedupe key.")
    at = serializers.DateTimeField(help_text="ISO 8601 with a UTC offset.")


def _doc_field(spec: ingest.Field) -> serializers.Field:
    if spec.kind == "text":
        return serializers.CharField()
    if spec.kind == "count":
        return serializers.IntegerField(min_value=0)
    if spec.kind == "money":
        return serializers.DecimalField(max_digits=18, decimal_places=4, min_value=0)
    return serializers.ChoiceField(choices=spec.choices)


# Built from rooms.ingest.FIELDS, so the OpenAPI document cannot drift from the parser.
INGEST_EVENT_SERIALIZERS = {
    event_type: type(
        "".join(part.title() for part in event_type.split("_")) + "Event",
        (_PlatformEventBase,),
        {
            "type": serializers.ChoiceField(choices=[event_type]),
            **{name: _doc_field(spec) for name, spec in fields.items()},
        },
    )
    for event_type, fields in ingest.FIELDS.items()
}


class IngestBatchSerializer(serializers.Serializer):
    """The webhook body: `{"events": [...]}`, each event one of the types above."""

    events = PolymorphicProxySerializer(
        component_name="PlatformEvent",
        serializers=list(INGEST_EVENT_SERIALIZERS.values()),
        resource_type_field_name="type",
        many=True,
        help_text="Up to 1,000 events.",
    )


class IngestReceiptSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events stored by this request.")
    duplicates = serializers.IntegerField(help_text="Events already stored (redeliveries).")
    unknown_types = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Accepted events of types the console does not handle yet, by type.",
    )


class IngestErrorSerializer(serializers.Serializer):
    error = serializers.CharField()


# --- The live room -----------------------------------------------------------------------


class LiveSnapshotSerializer(serializers.Serializer):
    """What a live screen shows, current to the event `head`; live events carry absolute
    values, so the socket can start after `head` and apply everything from there."""

    head = serializers.IntegerField()
    server_now = serializers.DateTimeField()
    stream = serializers.DictField()
    metrics = serializers.DictField(help_text="`tiles`, `alerts`, `changes`, `point`.")
    series = serializers.ListField(child=serializers.DictField())
    markers = serializers.ListField(child=serializers.DictField())
    show = serializers.DictField(
        help_text="`segments`, `position` (-1 before the first), `moves`, `started_at`, "
        "`segment_started_at`, `pinned`, `operator_online`, `cues`."
    )
    panels = serializers.ListField(child=serializers.DictField())


class ShowMoveRequestSerializer(serializers.Serializer):
    to = serializers.IntegerField(min_value=0, help_text="Index of the segment to go to.")
    seen_moves = serializers.IntegerField(
        min_value=0, help_text="`moves` as your screen last saw it (409 if it changed)."
    )


class ShowPresenceRequestSerializer(serializers.Serializer):
    leaving = serializers.BooleanField(default=False)


class CueCallRequestSerializer(serializers.Serializer):
    script_key = serializers.CharField(
        max_length=64, required=False, default="", help_text="A cue from the plan; or:"
    )
    kind = serializers.ChoiceField(choices=LiveCueKind.choices, required=False)
    link_number = serializers.IntegerField(min_value=1, max_value=9999, required=False)
    role = serializers.ChoiceField(choices=CrewRole.choices, required=False)
    note = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text="price_change: `price`; coupon: `value`, `quantity`; "
        "flash_sale: `price`, `quantity`, `seconds`.",
    )
    go = serializers.BooleanField(default=False, help_text="Fire at once (ad hoc).")


class CueAdvanceRequestSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=["go", "confirmed", "cancelled"])
    params = serializers.DictField(required=False, default=dict)


class PairingStartSerializer(serializers.Serializer):
    device_code = serializers.CharField()
    user_code = serializers.CharField()
    verification_uri = serializers.CharField()
    expires_in = serializers.IntegerField()
    interval = serializers.IntegerField()


class PairingTokenRequestSerializer(serializers.Serializer):
    device_code = serializers.CharField(max_length=200)


class PairingApproveRequestSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=20)
    studio = serializers.IntegerField()
    name = serializers.CharField(max_length=100)
    lifetime = serializers.ChoiceField(choices=["1d", "7d", "30d", "90d"], default="30d")


class ScreenTokenSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    studio = serializers.IntegerField(source="studio_id")
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_seen_at = serializers.DateTimeField(allow_null=True)


# --- Post-stream summary -----------------------------------------------------------------


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=None, decimal_places=2, **kwargs)


class SummaryStreamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()
    channel = serializers.CharField(source="channel.name")
    platform = serializers.CharField(source="channel.platform")
    studio = serializers.CharField(source="studio.name")


class SummaryTilesSerializer(serializers.Serializer):
    gmv = _money(help_text="Paid orders (a refund takes its order out).")
    gmv_placed = _money()
    orders = serializers.IntegerField(help_text="Paid orders.")
    items = serializers.IntegerField()
    refunds = serializers.IntegerField()
    online = serializers.IntegerField(help_text="The last count seen.")
    online_peak = serializers.IntegerField()
    entered = serializers.IntegerField()
    conversion = serializers.DecimalField(max_digits=None, decimal_places=4, allow_null=True)
    gpm = _money(allow_null=True, help_text="GMV per 1,000 viewers entered.")
    average_order = _money(allow_null=True)
    currency = serializers.CharField()


class SegmentSummarySerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The segment's place in the plan.")
    key = serializers.CharField()
    title = serializers.CharField()
    planned_seconds = serializers.IntegerField()
    actual_seconds = serializers.IntegerField(help_text="On air, all runs added up.")
    over_seconds = serializers.IntegerField(
        allow_null=True, help_text="Over the plan (negative: under); null if never on air."
    )
    runs = serializers.IntegerField(help_text="Times on air (going back opens another run).")
    gmv = _money(help_text="Orders paid while the segment was on air.")
    orders = serializers.IntegerField()
    items = serializers.IntegerField()
    entered = serializers.IntegerField(help_text="Viewers who entered meanwhile, to the minute.")
    gpm = _money(allow_null=True)


class ProductSummarySerializer(serializers.Serializer):
    sku = serializers.CharField()
    link_number = serializers.IntegerField(allow_null=True, help_text="Null: not in the lineup.")
    name = serializers.CharField()
    kind = serializers.CharField()
    gmv = _money()
    orders = serializers.IntegerField(help_text="Paid orders.")
    items = serializers.IntegerField()
    refunds = serializers.IntegerField()
    gpm = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        allow_null=True,
        help_text="GMV per 1,000 viewers who entered the stream.",
    )


class CueLogSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="cue.pk")
    kind = serializers.CharField(source="cue.kind")
    state = serializers.CharField(source="cue.state")
    role = serializers.CharField(source="cue.role")
    segment = serializers.IntegerField(source="cue.segment_index", allow_null=True)
    segment_title = serializers.CharField()
    link_number = serializers.IntegerField(source="cue.link_number", allow_null=True)
    product = serializers.CharField(source="cue.product")
    note = serializers.CharField(source="cue.note")
    params = serializers.DictField(source="cue.params")
    standby_at = serializers.DateTimeField(source="cue.standby_at")
    standby_by = serializers.CharField(source="cue.standby_by", allow_null=True)
    go_at = serializers.DateTimeField(source="cue.go_at", allow_null=True)
    go_by = serializers.CharField(source="cue.go_by", allow_null=True)
    done_at = serializers.DateTimeField(
        source="cue.done_at", allow_null=True, help_text="Confirmed or cancelled."
    )
    done_by = serializers.CharField(source="cue.done_by", allow_null=True)


class StreamSummarySerializer(serializers.Serializer):
    """The first post-stream summary (复盘); money as strings in `currency`."""

    stream = SummaryStreamSerializer()
    currency = serializers.CharField()
    time_zone = serializers.CharField(help_text="The studio's.")
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.IntegerField(
        allow_null=True, help_text="Actual start to end (to now while live)."
    )
    tiles = SummaryTilesSerializer()
    online_peak = serializers.IntegerField(help_text="Over the minutes the stream was live.")
    online_average = serializers.IntegerField(
        allow_null=True, help_text="Mean online count of the live minutes with a sample."
    )
    segments = SegmentSummarySerializer(many=True)
    outside_segments_gmv = _money(help_text="Paid while no segment was on air.")
    outside_segments_orders = serializers.IntegerField()
    products = ProductSummarySerializer(many=True, help_text="By GMV, highest first.")
    cues = CueLogSerializer(many=True, help_text="In the order they were called.")
