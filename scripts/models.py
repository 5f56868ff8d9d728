"""Scripts of a show: versions, segments (环节), lines with verbatim spans, and cues.

A locked version is immutable: a PostgreSQL trigger (migration 0001) refuses any change to
it or to anything in it, whatever path the write takes. New work goes into a new draft.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from rooms.models import CrewRole, Stream, StreamTemplate, Studio


class Script(models.Model):
    """A show's script for one studio; its versions are the drafts and locked editions."""

    studio = models.ForeignKey(Studio, on_delete=models.PROTECT, related_name="scripts")
    title = models.CharField(_("title"), max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("script")
        verbose_name_plural = _("scripts")
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


# The order film and stage print script revisions in, so a page's colour says its version.
REVISION_COLOURS = (
    "white",
    "blue",
    "pink",
    "yellow",
    "green",
    "goldenrod",
    "buff",
    "salmon",
    "cherry",
)


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    LOCKED = "locked", _("Locked")


class ScriptVersion(models.Model):
    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    status = models.CharField(
        _("status"), max_length=8, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    based_on = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.CharField(_("what changed"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    locked_at = models.DateTimeField(null=True, blank=True)
    lint_override_reason = models.TextField(
        _("why it was locked despite compliance errors"), blank=True
    )

    class Meta:
        verbose_name = _("script version")
        verbose_name_plural = _("script versions")
        ordering = ["script", "number"]
        constraints = [
            models.UniqueConstraint(fields=["script", "number"], name="script_version_number"),
            # At most one draft at a time: edits go to one place.
            models.UniqueConstraint(
                fields=["script"],
                condition=Q(status="draft"),
                name="script_one_draft",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(locked_at__isnull=False),
                name="script_version_locked_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.script} v{self.number}"

    @property
    def colour(self) -> str:
        """The revision colour, as scripts are printed on set: white, blue, pink, yellow…"""
        return REVISION_COLOURS[(self.number - 1) % len(REVISION_COLOURS)]


class Segment(models.Model):
    """A part of the show (环节): planned duration, and a hard start when it must begin on
    the clock (a flash sale announced for 21:00) rather than when the last one ends."""

    version = models.ForeignKey(ScriptVersion, on_delete=models.CASCADE, related_name="segments")
    key = models.UUIDField(default=uuid.uuid4, help_text=_("Same segment across versions."))
    position = models.PositiveIntegerField()
    title = models.CharField(_("segment"), max_length=200)
    planned_duration = models.DurationField(_("planned duration"), default=timedelta(minutes=5))
    hard_start = models.DurationField(
        _("hard start after the show starts"),
        null=True,
        blank=True,
        help_text=_("Empty: starts when the previous segment ends (soft start)."),
    )
    link_number = models.PositiveIntegerField(_("product link number"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="segment_key_per_version"),
            models.UniqueConstraint(
                fields=["version", "position"],
                name="segment_position_per_version",
                deferrable=models.Deferrable.DEFERRED,
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Line(models.Model):
    """What one role says (or does) at one point of a segment.

    `verbatim` holds [start, end) character ranges of the text that must be said exactly:
    prices, gift counts, compliance wording.
    """

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="lines")
    key = models.UUIDField(default=uuid.uuid4, help_text=_("Same line across versions."))
    position = models.PositiveIntegerField()
    role = models.CharField(_("role"), max_length=32, choices=CrewRole.choices)
    text = models.TextField(_("line"))
    direction = models.CharField(_("stage direction"), max_length=300, blank=True)
    verbatim = models.JSONField(_("verbatim spans"), default=list, blank=True)

    class Meta:
        verbose_name = _("line")
        verbose_name_plural = _("lines")
        ordering = ["segment", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "position"],
                name="line_position_per_segment",
                deferrable=models.Deferrable.DEFERRED,
            ),
        ]
        indexes = [models.Index(fields=["key"])]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.text[:40]}"


class CueKind(models.TextChoices):
    """Product cues for the room operator (中控) and crew cues for the floor."""

    PIN = "pin", _("Pin / explain (讲解)")
    PRICE_CHANGE = "price_change", _("Price change (改价)")
    COUPON = "coupon", _("Coupon (发券)")
    LUCKY_BAG = "lucky_bag", _("Lucky bag (福袋)")
    CHEER = "cheer", _("Cheer")
    MUSIC = "music", _("Music")
    CAMERA = "camera", _("Camera")


PRODUCT_CUES = frozenset({CueKind.PIN, CueKind.PRICE_CHANGE, CueKind.COUPON, CueKind.LUCKY_BAG})


class Cue(models.Model):
    """Something a crew member does when a line is reached, anchored to that line."""

    line = models.ForeignKey(Line, on_delete=models.CASCADE, related_name="cues")
    key = models.UUIDField(default=uuid.uuid4)
    kind = models.CharField(_("cue"), max_length=16, choices=CueKind.choices)
    crew_role = models.CharField(_("done by"), max_length=32, choices=CrewRole.choices)
    link_number = models.PositiveIntegerField(_("product link number"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("cue")
        verbose_name_plural = _("cues")
        ordering = ["line", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_crew_role_display()})"


class StreamScript(models.Model):
    """The script a stream runs: its latest locked version when the stream goes live."""

    stream = models.OneToOneField(Stream, on_delete=models.CASCADE, related_name="script_link")
    script = models.ForeignKey(Script, on_delete=models.PROTECT, related_name="streams")

    class Meta:
        verbose_name = _("stream script")
        verbose_name_plural = _("stream scripts")

    def __str__(self) -> str:
        return f"{self.stream} · {self.script}"


class ComplianceTerm(models.Model):
    """A studio's own words for the compliance lint: more to refuse, or built-in ones that
    are fine in its trade (a brand name with 最 in it)."""

    studio = models.ForeignKey(Studio, on_delete=models.CASCADE, related_name="compliance_terms")
    term = models.CharField(_("term"), max_length=50)
    allowed = models.BooleanField(
        _("allowed"), default=False, help_text=_("Allowed: never flag it. Otherwise: refuse it.")
    )

    class Meta:
        verbose_name = _("compliance term")
        verbose_name_plural = _("compliance terms")
        constraints = [
            models.UniqueConstraint(fields=["studio", "term"], name="compliance_term_unique")
        ]

    def __str__(self) -> str:
        return self.term


class LineProgress(models.Model):
    """How well a person knows one line, as a spaced-repetition card (FSRS).

    Keyed by the line's key, which lines keep from version to version: a new version costs
    a person their progress only on the lines that changed, when they acknowledge it.
    """

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="line_progress"
    )
    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="progress")
    line_key = models.UUIDField()
    # What the line said when it was practised: progress counts only for those words.
    text_digest = models.CharField(max_length=64, blank=True)
    card = models.JSONField(default=dict)
    due = models.DateTimeField()
    stability = models.FloatField(default=0)
    reviews = models.PositiveIntegerField(default=0)
    last_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("line progress")
        verbose_name_plural = _("line progress")
        constraints = [
            models.UniqueConstraint(
                fields=["person", "script", "line_key"], name="line_progress_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.person} · {self.line_key}"


class ScriptStudy(models.Model):
    """The version of a script a person last acknowledged: what they learn from."""

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="script_studies"
    )
    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="studies")
    acknowledged_version = models.PositiveIntegerField()
    acknowledged_at = models.DateTimeField()

    class Meta:
        verbose_name = _("script study")
        verbose_name_plural = _("script studies")
        constraints = [
            models.UniqueConstraint(fields=["person", "script"], name="script_study_once")
        ]

    def __str__(self) -> str:
        return f"{self.person} · {self.script} v{self.acknowledged_version}"


class Speaker(models.Model):
    """How fast a person speaks when selling, for estimating how long their segments run."""

    person = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="speaker"
    )
    chars_per_minute = models.PositiveSmallIntegerField(
        _("characters a minute"),
        default=240,
        validators=[MinValueValidator(60), MaxValueValidator(600)],
    )

    class Meta:
        verbose_name = _("speaking rate")
        verbose_name_plural = _("speaking rates")

    def __str__(self) -> str:
        return f"{self.person}: {self.chars_per_minute}/min"


class TemplateScript(models.Model):
    """The script a stream template's streams run: each stream planned from the template
    is attached to it."""

    template = models.OneToOneField(
        StreamTemplate, on_delete=models.CASCADE, related_name="script_link"
    )
    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="templates")

    class Meta:
        verbose_name = _("template script")
        verbose_name_plural = _("template scripts")

    def __str__(self) -> str:
        return f"{self.template} · {self.script}"
