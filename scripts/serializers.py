"""What the scripts API reads and answers. Parsing and rendering only: every rule is in
`services` and every read in `selectors`."""

from datetime import timedelta

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rooms.models import CrewRole, Studio
from rooms.serializers import MinutesField

from .models import Cue, Line, Script, ScriptVersion, Segment

# Version numbers and ids are PostgreSQL integers; larger ones are typing mistakes.
MAX_NUMBER = 2**31 - 1
EXPORT_FORMATS = ("csv", "xlsx")


class SecondsField(serializers.IntegerField):
    """A duration as whole seconds: sheet timings are estimates finer than a minute."""

    def to_representation(self, value: timedelta) -> int:
        return int(value.total_seconds())


class SpansField(serializers.ListField):
    """Verbatim spans: [start, end) character offsets of words to be said exactly."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            "[start, end) character ranges of the text that must be said word for word.",
        )
        super().__init__(
            child=serializers.ListField(
                child=serializers.IntegerField(min_value=0, max_value=MAX_NUMBER),
                min_length=2,
                max_length=2,
            ),
            max_length=1000,
            **kwargs,
        )


# --- Scripts and versions --------------------------------------------------------------------


class VersionSerializer(serializers.ModelSerializer):
    status = serializers.CharField(help_text="`draft` (changes go here) or `locked` (final).")
    based_on = serializers.IntegerField(
        source="based_on.number", allow_null=True, help_text="The version it was copied from."
    )

    class Meta:
        model = ScriptVersion
        fields = [
            "number",
            "status",
            "note",
            "based_on",
            "created_at",
            "locked_at",
            "lint_override_reason",
        ]
        read_only_fields = fields


class ScriptSerializer(serializers.ModelSerializer):
    studio_name = serializers.CharField(source="studio.name", read_only=True)

    class Meta:
        model = Script
        fields = ["id", "studio", "studio_name", "title", "created_at"]
        read_only_fields = fields


class ScriptDetailSerializer(ScriptSerializer):
    versions = VersionSerializer(many=True, read_only=True, help_text="Oldest first.")

    class Meta(ScriptSerializer.Meta):
        fields = [*ScriptSerializer.Meta.fields, "versions"]
        read_only_fields = fields


class ScriptCreateRequestSerializer(serializers.Serializer):
    studio = serializers.PrimaryKeyRelatedField(
        queryset=Studio.objects.none(), help_text="One of your studios' ids."
    )
    title = serializers.CharField(max_length=200)

    def __init__(self, *args, studios=None, **kwargs):
        super().__init__(*args, **kwargs)
        if studios is not None:
            self.fields["studio"].queryset = studios


class DraftRequestSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=300,
        allow_blank=True,
        default="",
        help_text="What the new draft will change; ignored when a draft is already open.",
    )


class LockRequestSerializer(serializers.Serializer):
    override_reason = serializers.CharField(
        max_length=2000,
        allow_blank=True,
        default="",
        help_text="Lock despite compliance errors, because… (at least 5 characters).",
    )


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A 整场脚本 sheet, .csv or .xlsx, with a header row (English or Chinese "
        "column names); text in 【】 is verbatim."
    )


class ExportQuerySerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=MAX_NUMBER, required=False)
    format = serializers.ChoiceField(choices=EXPORT_FORMATS, default="csv")


class DiffQuerySerializer(serializers.Serializer):
    to = serializers.IntegerField(
        min_value=1, max_value=MAX_NUMBER, required=False, help_text="Default: the newest."
    )

    def get_fields(self) -> dict:
        # `from` is a Python keyword, so it cannot be declared as a class attribute.
        return {
            "from": serializers.IntegerField(
                min_value=1,
                max_value=MAX_NUMBER,
                required=False,
                help_text="Default: the version `to` was drafted from.",
            ),
            **super().get_fields(),
        }


# --- Lines -----------------------------------------------------------------------------------


class CueSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(
        help_text="`pin`, `price_change`, `coupon`, `lucky_bag` (product cues), `cheer`, "
        "`music`, `camera`."
    )
    crew_role = serializers.CharField(help_text="The crew role that does it.")

    class Meta:
        model = Cue
        fields = ["id", "key", "kind", "crew_role", "link_number", "note"]
        read_only_fields = fields


class LineSerializer(serializers.ModelSerializer):
    verbatim = SpansField()
    cues = CueSerializer(many=True, read_only=True)

    class Meta:
        model = Line
        fields = [
            "id",
            "key",
            "segment",
            "position",
            "role",
            "text",
            "direction",
            "verbatim",
            "cues",
        ]
        read_only_fields = fields


class LineUpdateRequestSerializer(serializers.Serializer):
    """PATCH sends only what changes. Changing the text without `verbatim` keeps each span on
    its words, where they are still there."""

    # Not trimmed: verbatim spans are offsets into the text exactly as sent.
    text = serializers.CharField(trim_whitespace=False, max_length=5000)
    role = serializers.ChoiceField(choices=CrewRole.choices)
    direction = serializers.CharField(max_length=300, allow_blank=True)
    verbatim = SpansField()


class LineCreateRequestSerializer(serializers.Serializer):
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.none(), help_text="A segment of this version, by id."
    )
    role = serializers.ChoiceField(choices=CrewRole.choices)
    text = serializers.CharField(trim_whitespace=False, max_length=5000)
    direction = serializers.CharField(max_length=300, allow_blank=True, default="")
    verbatim = SpansField(default=list)

    def __init__(self, *args, segments=None, **kwargs):
        super().__init__(*args, **kwargs)
        if segments is not None:
            self.fields["segment"].queryset = segments


class FindingSerializer(serializers.Serializer):
    start = serializers.IntegerField(help_text="Character offsets into the line's text.")
    end = serializers.IntegerField()
    term = serializers.CharField()
    rule = serializers.CharField(help_text="`absolute`, `efficacy` or `custom`.")
    severity = serializers.CharField(help_text="`error` stops locking; `warning` does not.")
    message = serializers.CharField()


class VersionLineSerializer(serializers.Serializer):
    """A line of `selectors.version_view`, with its compliance findings."""

    id = serializers.IntegerField(source="line.pk")
    key = serializers.UUIDField(source="line.key", help_text="The same line across versions.")
    position = serializers.IntegerField(source="line.position")
    role = serializers.ChoiceField(source="line.role", choices=CrewRole.choices)
    text = serializers.CharField(source="line.text")
    direction = serializers.CharField(source="line.direction")
    verbatim = SpansField(source="line.verbatim")
    findings = FindingSerializer(many=True)
    cues = CueSerializer(source="line.cues.all", many=True)


class VersionSegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="segment.pk")
    key = serializers.UUIDField(source="segment.key", help_text="The same segment across versions.")
    position = serializers.IntegerField(source="segment.position")
    title = serializers.CharField(source="segment.title")
    planned_minutes = MinutesField(source="segment.planned_duration")
    hard_start_minutes = MinutesField(
        source="segment.hard_start",
        allow_null=True,
        help_text="Starts this long after the show starts; null: when the previous one ends.",
    )
    link_number = serializers.IntegerField(source="segment.link_number", allow_null=True)
    notes = serializers.CharField(source="segment.notes")
    lines = VersionLineSerializer(many=True)


class VersionDetailSerializer(VersionSerializer):
    """A version with its segments, lines, findings and cues; `segments` comes from
    `selectors.version_view`, in the context."""

    segments = serializers.SerializerMethodField()

    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "segments"]
        read_only_fields = fields

    @extend_schema_field(VersionSegmentSerializer(many=True))
    def get_segments(self, version: ScriptVersion) -> list:
        return VersionSegmentSerializer(self.context["segments"], many=True).data


# --- Diffs -----------------------------------------------------------------------------------


class OpSerializer(serializers.Serializer):
    """One run of a word diff: `("equal" | "insert" | "delete", text)`."""

    op = serializers.CharField(help_text="`equal`, `insert` or `delete`.")
    text = serializers.CharField()

    def to_representation(self, op: tuple[str, str]) -> dict:
        return {"op": op[0], "text": op[1]}


class LineDiffSerializer(serializers.Serializer):
    key = serializers.UUIDField()
    status = serializers.CharField(help_text="`added`, `removed`, `changed`, `moved`, `unchanged`.")
    role = serializers.ChoiceField(choices=CrewRole.choices, help_text="Old role if removed.")
    old_role = serializers.CharField(allow_null=True, help_text="Null for an added line.")
    old_text = serializers.CharField(allow_null=True)
    new_text = serializers.CharField(allow_null=True)
    ops = OpSerializer(many=True, help_text="Turn `old_text` into `new_text`, word by word.")
    old_segment_key = serializers.UUIDField(allow_null=True)
    new_segment_key = serializers.UUIDField(allow_null=True)


class SegmentDiffSerializer(serializers.Serializer):
    key = serializers.UUIDField()
    status = serializers.CharField(help_text="`added`, `removed`, `changed`, `moved`, `unchanged`.")
    title = serializers.CharField()
    old_title = serializers.CharField(allow_null=True)
    lines = LineDiffSerializer(many=True)


class DiffSerializer(serializers.Serializer):
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    is_empty = serializers.BooleanField(help_text="Nothing was added, removed, changed or moved.")
    segments = SegmentDiffSerializer(many=True)


# --- Streams ---------------------------------------------------------------------------------


class StreamScriptRequestSerializer(serializers.Serializer):
    script = serializers.PrimaryKeyRelatedField(
        queryset=Script.objects.none(),
        allow_null=True,
        help_text="A script of the stream's studio, by id; null: the stream runs no script.",
    )

    def __init__(self, *args, scripts=None, **kwargs):
        super().__init__(*args, **kwargs)
        if scripts is not None:
            self.fields["script"].queryset = scripts


class StreamScriptSerializer(serializers.Serializer):
    stream = serializers.IntegerField()
    script = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField(
        allow_null=True,
        help_text="The version the stream would run: the script's latest locked one.",
    )


# --- Memorisation ----------------------------------------------------------------------------


class SheetQuerySerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=CrewRole.choices, default=CrewRole.HOST.value)
    version = serializers.IntegerField(min_value=1, max_value=MAX_NUMBER, required=False)


class RoleQuerySerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=CrewRole.choices, default=CrewRole.HOST.value)


class AcknowledgeRequestSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=CrewRole.choices, help_text="The role you learn: your changed lines start again."
    )


class ReviewRequestSerializer(serializers.Serializer):
    rating = serializers.IntegerField(
        min_value=1, max_value=4, help_text="1 again, 2 hard, 3 good, 4 easy."
    )


class SheetEntrySerializer(serializers.Serializer):
    line = serializers.IntegerField(source="line.pk", help_text="The line's id.")
    key = serializers.UUIDField(source="line.key")
    text = serializers.CharField(source="line.text")
    verbatim = SpansField(source="line.verbatim")
    cue_tail = serializers.CharField(help_text="The end of the line before, which cues this one.")
    cue_role = serializers.CharField(
        allow_null=True, help_text="Who says the cue line (its label, in your language)."
    )
    product_moments = CueSerializer(
        many=True, help_text="Pins, price changes, coupons and lucky bags on this line."
    )
    mastered = serializers.BooleanField()


class SheetSegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="segment.pk")
    key = serializers.UUIDField(source="segment.key")
    title = serializers.CharField(source="segment.title")
    starts_seconds = SecondsField(source="starts", help_text="After the show starts.")
    estimate_seconds = SecondsField(source="estimate", help_text="Speaking time of its lines.")
    entries = SheetEntrySerializer(many=True)


class MasterySerializer(serializers.Serializer):
    mastered = serializers.IntegerField()
    total = serializers.IntegerField()


class SheetSerializer(serializers.Serializer):
    version = VersionSerializer()
    role = serializers.ChoiceField(choices=CrewRole.choices)
    segments = SheetSegmentSerializer(many=True)
    mastery = MasterySerializer()


class LineProgressSerializer(serializers.Serializer):
    line_key = serializers.UUIDField()
    reviews = serializers.IntegerField()
    last_rating = serializers.IntegerField(allow_null=True)
    stability = serializers.FloatField(help_text="Days the line is expected to stay known.")
    due = serializers.DateTimeField(help_text="When to practise it next.")


class StudySerializer(serializers.Serializer):
    acknowledged_version = serializers.IntegerField()
    acknowledged_at = serializers.DateTimeField()


class ChangesSerializer(serializers.Serializer):
    latest = serializers.IntegerField(allow_null=True, help_text="The latest locked version.")
    since = serializers.IntegerField(
        allow_null=True, help_text="The version you acknowledged last; null: none yet."
    )
    changes = LineDiffSerializer(
        many=True, help_text="Your lines and the lines that cue them that changed since."
    )
