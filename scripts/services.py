"""Every write in the scripts app: scripts, their versions and what is in them."""

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from rooms.models import CrewRole, Stream, Studio, User

from . import lock_objects, memorise, selectors, table
from .models import (
    PRODUCT_CUES,
    Cue,
    CueKind,
    Line,
    LineProgress,
    Script,
    ScriptStudy,
    ScriptVersion,
    Segment,
    Speaker,
    StreamScript,
    TemplateScript,
    VersionStatus,
)


class LintRefused(ValidationError):
    """A version with compliance errors, locked without a reason. Lists the first errors."""

    def __init__(self, errors: list[str]):
        super().__init__([_("Compliance errors stop this version from locking:"), *errors[:20]])
        self.code = "lint"


class VersionLocked(ValidationError):
    """A change to a locked version: it never changes; a new draft does."""

    def __init__(self, number: int):
        super().__init__(
            _("Version %(number)s is locked; make a new draft to change the script.")
            % {"number": number}
        )
        self.code = "locked"


def _require(actor: User | None, script: Script) -> None:
    if actor is not None and not actor.has_perm("scripts.change_script", script):
        raise PermissionDenied(_("You don't have permission to do this."))


def _editable(actor: User | None, version_id: int) -> ScriptVersion:
    version = lock_objects.version_for_update(version_id)
    _require(actor, version.script)
    if version.status == VersionStatus.LOCKED:
        raise VersionLocked(version.number)
    return version


@transaction.atomic
def script_create(*, actor: User | None, studio: Studio, title: str) -> Script:
    """A new script with an empty first draft."""
    if actor is not None and not actor.has_perm("scripts.add_script", studio):
        raise PermissionDenied(_("You don't have permission to do this."))
    script = Script(studio=studio, title=title, created_by=actor)
    script.full_clean()
    script.save()
    ScriptVersion.objects.create(script=script, number=1, created_by=actor)
    return script


@transaction.atomic
def script_draft(*, actor: User | None, script: Script, note: str = "") -> ScriptVersion:
    """The script's draft: the open one, or a new one copied from the latest version, with
    every segment, line and cue keeping its key so versions can be compared."""
    _require(actor, script)
    Script.objects.select_for_update().get(pk=script.pk)
    draft = script.versions.filter(status=VersionStatus.DRAFT).first()
    if draft is not None:
        return draft
    latest = script.versions.order_by("-number").first()
    draft = ScriptVersion.objects.create(
        script=script, number=latest.number + 1, based_on=latest, created_by=actor, note=note
    )
    _copy_content(latest, draft)
    return draft


def _copy_content(source: ScriptVersion, target: ScriptVersion) -> None:
    segments = list(source.segments.order_by("position"))
    copies = Segment.objects.bulk_create(
        Segment(
            version=target,
            key=s.key,
            position=s.position,
            title=s.title,
            planned_duration=s.planned_duration,
            hard_start=s.hard_start,
            link_number=s.link_number,
            notes=s.notes,
        )
        for s in segments
    )
    by_old = {old.pk: new for old, new in zip(segments, copies, strict=True)}
    lines = list(Line.objects.filter(segment__version=source).order_by("pk"))
    line_copies = Line.objects.bulk_create(
        Line(
            segment=by_old[line.segment_id],
            key=line.key,
            position=line.position,
            role=line.role,
            text=line.text,
            direction=line.direction,
            verbatim=line.verbatim,
        )
        for line in lines
    )
    lines_by_old = {old.pk: new for old, new in zip(lines, line_copies, strict=True)}
    Cue.objects.bulk_create(
        Cue(
            line=lines_by_old[cue.line_id],
            key=cue.key,
            kind=cue.kind,
            crew_role=cue.crew_role,
            link_number=cue.link_number,
            note=cue.note,
        )
        for cue in Cue.objects.filter(line__segment__version=source)
    )


@transaction.atomic
def segment_add(
    *,
    actor: User | None,
    version: ScriptVersion,
    title: str,
    planned_duration: timedelta = timedelta(minutes=5),
    hard_start: timedelta | None = None,
    link_number: int | None = None,
    notes: str = "",
) -> Segment:
    version = _editable(actor, version.pk)
    last = version.segments.aggregate(position=Max("position"))["position"] or 0
    segment = Segment(
        version=version,
        position=last + 1,
        title=title,
        planned_duration=planned_duration,
        hard_start=hard_start,
        link_number=link_number,
        notes=notes,
    )
    segment.full_clean(validate_constraints=False)
    segment.save()
    return segment


@transaction.atomic
def line_add(
    *,
    actor: User | None,
    segment: Segment,
    role: str,
    text: str,
    direction: str = "",
    verbatim: Sequence[Sequence[int]] = (),
) -> Line:
    _editable(actor, segment.version_id)
    last = segment.lines.aggregate(position=Max("position"))["position"] or 0
    line = Line(
        segment=segment,
        position=last + 1,
        role=CrewRole(role),
        text=text,
        direction=direction,
        verbatim=_spans(text, verbatim),
    )
    line.full_clean(validate_constraints=False)
    line.save()
    return line


# Fields of a line that `line_update` may change.
LINE_FIELDS = frozenset({"role", "text", "direction", "verbatim"})


@transaction.atomic
def line_update(*, actor: User | None, line: Line, **changes) -> Line:
    unknown = set(changes) - LINE_FIELDS
    if unknown:
        raise ValueError(f"line_update cannot change {sorted(unknown)}")
    _editable(actor, line.segment.version_id)
    line = Line.objects.select_for_update().get(pk=line.pk)
    old_text = line.text
    for name, value in changes.items():
        setattr(line, name, value)
    if "text" in changes and "verbatim" not in changes:
        # Spans point into the old text; keep those whose words are still there.
        line.verbatim = _respan(line.verbatim, line.text, old_text)
    line.verbatim = _spans(line.text, line.verbatim)
    line.full_clean(validate_constraints=False)
    line.save()
    return line


@transaction.atomic
def line_remove(*, actor: User | None, line: Line) -> None:
    _editable(actor, line.segment.version_id)
    Line.objects.filter(pk=line.pk).delete()


def _spans(text: str, spans: Sequence[Sequence[int]]) -> list[list[int]]:
    cleaned = []
    for span in spans:
        if len(span) != 2 or not 0 <= span[0] < span[1] <= len(text):
            raise ValidationError(
                {
                    "verbatim": _("A verbatim span must lie inside the line: %(span)s")
                    % {"span": span}
                }
            )
        cleaned.append([int(span[0]), int(span[1])])
    return sorted(cleaned)


def _respan(spans: list, new_text: str, old_text: str) -> list[list[int]]:
    kept = []
    for start, end in spans:
        words = old_text[start:end]
        found = new_text.find(words)
        if words and found >= 0:
            kept.append([found, found + len(words)])
    return kept


@transaction.atomic
def cue_add(
    *,
    actor: User | None,
    line: Line,
    kind: str,
    crew_role: str | None = None,
    link_number: int | None = None,
    note: str = "",
) -> Cue:
    """Anchor a cue to a line: product cues go to the room operator unless told otherwise,
    crew cues to the floor controller."""
    _editable(actor, line.segment.version_id)
    kind = CueKind(kind)
    if crew_role is None:
        crew_role = CrewRole.ROOM_OPERATOR if kind in PRODUCT_CUES else CrewRole.FLOOR_CONTROLLER
    if kind in PRODUCT_CUES and link_number is None:
        raise ValidationError({"link_number": _("A product cue needs the product's link number.")})
    cue = Cue(
        line=line, kind=kind, crew_role=CrewRole(crew_role), link_number=link_number, note=note
    )
    cue.full_clean(validate_constraints=False)
    cue.save()
    return cue


def version_lock(
    *, actor: User | None, version: ScriptVersion, override_reason: str = ""
) -> ScriptVersion:
    """Lock a draft for rehearsal and air. Compliance errors stop it unless a reason to lock
    anyway is given, which is kept on the version."""
    with transaction.atomic():
        version = _editable(actor, version.pk)
        if not Line.objects.filter(segment__version=version).exists():
            raise ValidationError(_("An empty script cannot be locked."))
        findings = selectors.version_lint(version)
        errors = [
            f"{line}: {finding.message}"
            for line, line_findings in findings.items()
            for finding in line_findings
            if finding.severity == "error"
        ]
        if errors and len(override_reason.strip()) < 5:
            raise LintRefused(errors)
        version.status = VersionStatus.LOCKED
        version.locked_by = actor
        version.locked_at = timezone.now()
        version.lint_override_reason = override_reason.strip() if errors else ""
        version.save(update_fields=["status", "locked_by", "locked_at", "lint_override_reason"])
    return version


@transaction.atomic
def stream_script_set(*, actor: User | None, stream: Stream, script: Script | None) -> None:
    """Say which script a stream runs (or none: a stream may run from its lineup alone)."""
    if actor is not None and not actor.has_perm("rooms.change_stream", stream):
        raise PermissionDenied(_("You don't have permission to do this."))
    if script is None:
        StreamScript.objects.filter(stream=stream).delete()
        return
    if script.studio_id != stream.studio_id:
        raise ValidationError(_("The script belongs to another studio."))
    StreamScript.objects.update_or_create(stream=stream, defaults={"script": script})


def script_import_file(
    *, actor: User | None, script: Script, filename: str, content: bytes
) -> ScriptVersion:
    """Replace the script's draft with a 整场脚本 sheet (all of it, or nothing)."""
    _require(actor, script)
    return _draft_replace(actor, script, table.parse(filename=filename, content=content))


def script_table_save(
    *, actor: User | None, script: Script, rows: Sequence[Sequence[str]]
) -> ScriptVersion:
    """Replace the draft with the table as edited on screen: the same columns and checks as
    a sheet (`table.COLUMNS`), the first row being the header."""
    _require(actor, script)
    return _draft_replace(actor, script, table.parse_table([list(row) for row in rows]))


def _draft_replace(
    actor: User | None, script: Script, segments: list[table.ParsedSegment]
) -> ScriptVersion:
    """Segments with the same title as before, and within them each role's first, second, …
    line, keep their keys, so the next diff shows what changed, line by line."""
    with transaction.atomic():
        draft = script_draft(actor=actor, script=script)
        draft = _editable(actor, draft.pk)
        earlier = draft.based_on or draft
        # A show may repeat a segment name (讲解 … 福利 … 讲解): the second 讲解 matches the
        # second one before.
        old_segments: dict[tuple[str, int], Segment] = {}
        titles_seen: Counter = Counter()
        for old in earlier.segments.order_by("position"):
            old_segments[(old.title, titles_seen[old.title])] = old
            titles_seen[old.title] += 1
        old_lines: dict[tuple, Line] = {}
        roles_seen: Counter = Counter()
        for line in Line.objects.filter(segment__version=earlier).order_by("position"):
            ordinal = roles_seen[(line.segment_id, line.role)]
            roles_seen[(line.segment_id, line.role)] += 1
            old_lines[(line.segment_id, line.role, ordinal)] = line
        Segment.objects.filter(version=draft).delete()
        titles_seen.clear()
        for position, parsed in enumerate(segments, start=1):
            before = old_segments.get((parsed.title, titles_seen[parsed.title]))
            titles_seen[parsed.title] += 1
            segment = Segment.objects.create(
                version=draft,
                key=before.key if before else uuid.uuid4(),
                position=position,
                title=parsed.title,
                planned_duration=parsed.planned_duration or timedelta(minutes=5),
                link_number=parsed.link_number,
                notes="\n".join(parsed.notes),
            )
            seen: dict[str, int] = {}
            for line_position, parsed_line in enumerate(parsed.lines, start=1):
                ordinal = seen.get(parsed_line.role, 0)
                seen[parsed_line.role] = ordinal + 1
                match = before and old_lines.get((before.pk, parsed_line.role, ordinal))
                line = Line.objects.create(
                    segment=segment,
                    key=match.key if match else uuid.uuid4(),
                    position=line_position,
                    role=parsed_line.role,
                    text=parsed_line.text,
                    verbatim=parsed_line.verbatim,
                )
                Cue.objects.bulk_create(
                    Cue(
                        line=line,
                        kind=cue.kind,
                        crew_role=cue.crew_role,
                        link_number=cue.link_number,
                        note=cue.note,
                    )
                    for cue in parsed_line.cues
                )
    return draft


# --- Memorisation ---------------------------------------------------------------------------


def _may_study(actor: User, script: Script) -> None:
    if not selectors.scripts_for_user(actor).filter(pk=script.pk).exists():
        raise PermissionDenied(_("You don't have permission to do this."))


@transaction.atomic
def version_acknowledge(*, actor: User, script: Script, role: str) -> ScriptStudy:
    """The person has read what changed for them up to the latest locked version. Their
    progress is reset on their own lines that changed since the version they knew; every
    other line keeps it."""
    _may_study(actor, script)
    latest, changes = selectors.changes_for(actor, script, role)
    if latest is None:
        raise ValidationError(_("No version of this script is locked yet."))
    # Every changed line the person practised starts again, whichever role they learnt it in.
    changed = [c.key for c in changes] + [
        str(key) for key in selectors.changed_since(actor, script, latest)
    ]
    LineProgress.objects.filter(person=actor, script=script, line_key__in=changed).delete()
    study, _created = ScriptStudy.objects.update_or_create(
        person=actor,
        script=script,
        defaults={"acknowledged_version": latest.number, "acknowledged_at": timezone.now()},
    )
    return study


@transaction.atomic
def line_review(*, actor: User, line: Line, rating: int, now=None) -> LineProgress:
    """Grade one recall of a line (1 again, 2 hard, 3 good, 4 easy) and schedule the next."""
    version = line.segment.version
    _may_study(actor, version.script)
    if version.status != VersionStatus.LOCKED:
        raise ValidationError(_("Practise a locked version; a draft can still change."))
    latest = version.script.versions.filter(status=VersionStatus.LOCKED).order_by("-number")
    if latest.values_list("pk", flat=True).first() != version.pk:
        raise ValidationError(_("A newer version is locked; practise that one."))
    if rating not in (1, 2, 3, 4):
        raise ValidationError(_("Grade the recall from 1 (again) to 4 (easy)."))
    now = now or timezone.now()
    progress = (
        LineProgress.objects.select_for_update()
        .filter(person=actor, script=version.script, line_key=line.key)
        .first()
    )
    card = memorise.review(progress.card if progress else {}, rating, now)
    fields = {
        "text_digest": memorise.digest(line.text),
        "card": card.to_dict(),
        "due": card.due,
        "stability": card.stability or 0,
        "last_rating": rating,
    }
    # A first practice is reading the version: what changes later is shown against it.
    ScriptStudy.objects.get_or_create(
        person=actor,
        script=version.script,
        defaults={"acknowledged_version": version.number, "acknowledged_at": now},
    )
    if progress is None:
        progress = LineProgress.objects.create(
            person=actor, script=version.script, line_key=line.key, reviews=1, **fields
        )
    else:
        for name, value in fields.items():
            setattr(progress, name, value)
        progress.reviews += 1
        progress.save()
    return progress


def speaking_rate_set(*, actor: User, person: User, chars_per_minute: int) -> Speaker:
    """A person's speaking rate; they set their own, producers of their studios theirs."""
    if actor.pk != person.pk and not actor.has_perm("rooms.change_availability", person):
        raise PermissionDenied(_("You don't have permission to do this."))
    speaker = Speaker.objects.filter(person=person).first() or Speaker(person=person)
    speaker.chars_per_minute = chars_per_minute
    speaker.full_clean()
    speaker.save()
    return speaker


@transaction.atomic
def template_script_set(*, actor: User | None, template, script: Script | None) -> None:
    """Say which script a template's streams run (or none)."""
    if actor is not None and not actor.has_perm("rooms.change_template", template.studio):
        raise PermissionDenied(_("You don't have permission to do this."))
    if script is None:
        TemplateScript.objects.filter(template=template).delete()
        return
    if script.studio_id != template.studio_id:
        raise ValidationError(_("The script belongs to another studio."))
    TemplateScript.objects.update_or_create(template=template, defaults={"script": script})


def stream_from_template_planned(actor: User | None, stream: Stream, template) -> None:
    """A stream planned from a template runs the template's script."""
    link = TemplateScript.objects.filter(template=template).select_related("script").first()
    if link is not None:
        StreamScript.objects.update_or_create(stream=stream, defaults={"script": link.script})
