"""Reads for the scripts app."""

import random
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

from django.db.models import Q

from rooms.models import CrewRole, Stream, User
from rooms.selectors import stream_list_for_user
from rooms.show import PlannedCue, PlannedSegment, ShowPlan

from . import lint, memorise
from .diff import LineText, SegmentText, changed_keys_between, diff_versions
from .models import (
    PRODUCT_CUES,
    ComplianceTerm,
    Cue,
    Line,
    LineProgress,
    Script,
    ScriptStudy,
    ScriptVersion,
    Segment,
    StreamScript,
    VersionStatus,
)


def scripts_for_user(user: User):
    scripts = Script.objects.select_related("studio")
    return scripts if user.is_superuser else scripts.filter(studio__members=user)


def version_snapshot(version: ScriptVersion) -> list[SegmentText]:
    """A version's text in the shape the diff compares, in running order."""
    segments = {}
    for segment in version.segments.order_by("position"):
        segments[segment.pk] = (segment, [])
    for line in Line.objects.filter(segment__version=version).order_by("segment", "position"):
        segments[line.segment_id][1].append(LineText(str(line.key), line.role, line.text))
    return [
        SegmentText(str(segment.key), segment.title, tuple(lines))
        for segment, lines in segments.values()
    ]


def version_lint(version: ScriptVersion) -> dict[Line, list[lint.Finding]]:
    """The compliance findings of each line that has any, with the studio's own terms."""
    terms = ComplianceTerm.objects.filter(studio_id=version.script.studio_id)
    custom = [t.term for t in terms if not t.allowed]
    allowed = [t.term for t in terms if t.allowed]
    found = {}
    lines = Line.objects.filter(segment__version=version).order_by("segment__position", "position")
    for line in lines:
        findings = lint.lint_text(line.text, custom_terms=custom, allowed_terms=allowed)
        if findings:
            found[line] = findings
    return found


def stream_script_version(stream: Stream) -> ScriptVersion | None:
    """The version a stream would run: its script's latest locked version."""
    link = StreamScript.objects.filter(stream=stream).select_related("script").first()
    if link is None:
        return None
    return link.script.versions.filter(status=VersionStatus.LOCKED).order_by("-number").first()


@dataclass(frozen=True)
class Piece:
    """A run of a line's text with what to show about it."""

    text: str
    verbatim: bool
    finding: lint.Finding | None


def line_pieces(line: Line, findings: list[lint.Finding]) -> list[Piece]:
    """A line cut where verbatim spans and compliance findings begin and end."""
    cuts = {0, len(line.text)}
    for start, end in line.verbatim:
        cuts |= {start, end}
    for finding in findings:
        cuts |= {finding.start, finding.end}
    ordered = sorted(c for c in cuts if 0 <= c <= len(line.text))
    pieces = []
    for start, end in pairwise(ordered):
        if start == end:
            continue
        verbatim = any(a <= start and end <= b for a, b in line.verbatim)
        finding = next((f for f in findings if f.start <= start and end <= f.end), None)
        pieces.append(Piece(line.text[start:end], verbatim, finding))
    return pieces


@dataclass(frozen=True)
class ShownLine:
    line: Line
    pieces: list[Piece]
    findings: list[lint.Finding]


@dataclass(frozen=True)
class ShownSegment:
    segment: Segment
    lines: list[ShownLine]


def version_view(version: ScriptVersion) -> list[ShownSegment]:
    """A version ready to show: segments in order, lines with their verbatim spans,
    compliance findings and cues (prefetched)."""
    findings = {line.pk: found for line, found in version_lint(version).items()}
    lines = (
        Line.objects.filter(segment__version=version)
        .prefetch_related("cues")
        .order_by("segment__position", "position")
    )
    by_segment: dict[int, list[ShownLine]] = {}
    for line in lines:
        found = findings.get(line.pk, [])
        by_segment.setdefault(line.segment_id, []).append(
            ShownLine(line, line_pieces(line, found), found)
        )
    return [
        ShownSegment(segment, by_segment.get(segment.pk, []))
        for segment in version.segments.order_by("position")
    ]


def streams_for_script(script: Script, user: User):
    """Streams of the script's studio that have not gone live, for attaching the script."""
    return (
        stream_list_for_user(user)
        .filter(studio_id=script.studio_id, status__in=["draft", "scheduled"])
        .order_by("planned_start")
    )


# --- Memorisation -----------------------------------------------------------------------


@dataclass(frozen=True)
class SheetEntry:
    line: Line
    pieces: list[Piece]
    cue_role: str | None
    cue_tail: str
    product_moments: list
    mastered: bool
    revised: bool


@dataclass(frozen=True)
class SheetSegment:
    segment: Segment
    starts: timedelta
    estimate: timedelta
    entries: list[SheetEntry]


def _ordered_lines(version: ScriptVersion) -> list[Line]:
    return list(
        Line.objects.filter(segment__version=version)
        .select_related("segment")
        .prefetch_related("cues")
        .order_by("segment__position", "position")
    )


def memorisation_sheet(
    version: ScriptVersion, role: str, *, person: User | None = None
) -> list[SheetSegment]:
    """One role's sheet: each of their lines in full after the tail of the line that cues
    it, under segment headings with start times and estimated durations, verbatim spans
    marked and product moments (pins, price changes, coupons, lucky bags) beside the line.

    A three-hour show has thousands of lines: every line is read as plain values (for cue
    tails and timings), and only the role's own lines and their product cues as objects.
    """
    ordered = list(
        Line.objects.filter(segment__version=version)
        .order_by("segment__position", "position")
        .values_list("pk", "segment_id", "role", "text")
    )
    own = Line.objects.filter(segment__version=version, role=role).in_bulk()
    moments: dict[int, list[Cue]] = {}
    for cue in Cue.objects.filter(line__in=list(own), kind__in=PRODUCT_CUES).order_by("pk"):
        moments.setdefault(cue.line_id, []).append(cue)
    progress = _progress(person, version.script_id) if person else {}
    revised = revised_keys(version)
    rates = role_rates(version.script)
    role_labels = dict(CrewRole.choices)
    segments: dict[int, list[SheetEntry]] = {}
    estimates: dict[int, timedelta] = {}
    previous = None
    for pk, segment_id, line_role, text in ordered:
        estimates[segment_id] = estimates.get(segment_id, timedelta(0)) + (
            memorise.speaking_time(text, rates.get(line_role, memorise.DEFAULT_CHARS_PER_MINUTE))
        )
        if line_role == role:
            line = own[pk]
            segments.setdefault(segment_id, []).append(
                SheetEntry(
                    line=line,
                    pieces=line_pieces(line, []),
                    cue_role=role_labels.get(previous[2]) if previous else None,
                    cue_tail=previous[3][-memorise.CUE_TAIL_CHARS :] if previous else "",
                    product_moments=moments.get(pk, []),
                    mastered=memorise.is_mastered(
                        _card(progress, line), verbatim=bool(line.verbatim)
                    ),
                    revised=str(line.key) in revised,
                )
            )
        previous = (pk, segment_id, line_role, text)
    result, starts = [], timedelta(0)
    for segment in version.segments.order_by("position"):
        begins = segment.hard_start if segment.hard_start is not None else starts
        result.append(
            SheetSegment(
                segment=segment,
                starts=begins,
                estimate=estimates.get(segment.pk, timedelta(0)),
                entries=segments.get(segment.pk, []),
            )
        )
        starts = begins + segment.planned_duration
    return result


def role_rates(script: Script) -> dict[str, int]:
    """Characters a minute for each speaking role: the rate of the person who plays it on
    the next stream running the script (the default where nobody is set)."""
    link = (
        StreamScript.objects.filter(script=script, stream__status__in=["draft", "scheduled"])
        .order_by("stream__planned_start")
        .first()
    )
    if link is None:
        return {}
    return {
        crew.role: crew.person.speaker.chars_per_minute
        for crew in link.stream.crew.select_related("person__speaker").filter(
            role__in=memorise.SPEAKING_ROLES, person__speaker__isnull=False
        )
    }


def revised_keys(version: ScriptVersion) -> set[str]:
    """Lines this version changed from the one it was drafted from: marked in its colour."""
    if version.based_on_id is None:
        return set()
    return diff_versions(
        version_snapshot(version.based_on), version_snapshot(version)
    ).changed_line_keys()


def crew_sheet(version: ScriptVersion, crew_role: str) -> list[tuple[Segment, list]]:
    """A crew role's cues only, each with the tail of the line it fires on."""
    sheet: dict[int, tuple[Segment, list]] = {}
    for line in _ordered_lines(version):
        for cue in line.cues.all():
            if cue.crew_role == crew_role:
                sheet.setdefault(line.segment_id, (line.segment, []))[1].append(
                    (cue, line.get_role_display(), line.text[-memorise.CUE_TAIL_CHARS :])
                )
    return list(sheet.values())


def _progress(person: User, script_id: int) -> dict:
    """A person's cards by line key, with what each line said when it was practised."""
    return {
        row.line_key: (row.card, row.text_digest)
        for row in LineProgress.objects.filter(person=person, script_id=script_id)
    }


def _card(progress: dict, line: Line) -> dict:
    """The line's card, if it was practised with the words it has now: progress on words
    since rewritten never counts, however the new version reached the person."""
    card, text_digest = progress.get(line.key, ({}, ""))
    return card if text_digest == memorise.digest(line.text) else {}


def mastery(person: User, version: ScriptVersion, role: str) -> tuple[int, int]:
    """(mastered, total) of the role's lines in this version for this person."""
    progress = _progress(person, version.script_id)
    lines = Line.objects.filter(segment__version=version, role=role).only("key", "verbatim", "text")
    total = mastered = 0
    for line in lines:
        total += 1
        mastered += memorise.is_mastered(_card(progress, line), verbatim=bool(line.verbatim))
    return mastered, total


def practice_queue(
    person: User,
    version: ScriptVersion,
    role: str,
    *,
    now,
    in_order: bool,
    seed: int = 0,
    segment_id: int | None = None,
) -> list[Line]:
    """The role's lines to practise, all of them or one segment's (a chunk): in running
    order, or most urgent first (never seen, then due, verbatim lines before others),
    shuffled within equal urgency."""
    chosen = Line.objects.filter(segment__version=version, role=role).select_related("segment")
    if segment_id is not None:
        chosen = chosen.filter(segment_id=segment_id)
    lines = list(chosen.order_by("segment__position", "position"))
    if in_order:
        return lines
    # Progress on words since rewritten is no progress: such a line is as good as new.
    digests = {line.key: memorise.digest(line.text) for line in lines}
    rows = {
        row.line_key: row
        for row in LineProgress.objects.filter(person=person, script_id=version.script_id)
        if digests.get(row.line_key) == row.text_digest
    }
    rng = random.Random(seed)
    rng.shuffle(lines)

    def urgency(line: Line):
        row = rows.get(line.key)
        never = row is None
        due = row.due if row else now
        return (not never, due > now, not line.verbatim, due)

    return sorted(lines, key=urgency)


def cue_before(version: ScriptVersion, line: Line) -> Line | None:
    """The line spoken just before this one (its cue), in running order."""
    position = line.segment.position
    return (
        Line.objects.filter(segment__version=version)
        .filter(
            Q(segment__position__lt=position)
            | Q(segment__position=position, position__lt=line.position)
        )
        .order_by("-segment__position", "-position")
        .first()
    )


def acknowledged_version(person: User, script: Script) -> int | None:
    study = ScriptStudy.objects.filter(person=person, script=script).first()
    return study.acknowledged_version if study else None


def changes_for(person: User, script: Script, role: str) -> tuple[ScriptVersion | None, list]:
    """What changed for this person since the version they acknowledged: their own lines
    and the lines that cue them, across every version since, in the latest locked one."""
    latest = script.versions.filter(status=VersionStatus.LOCKED).order_by("-number").first()
    since = acknowledged_version(person, script)
    if latest is None or since is None or since >= latest.number:
        return latest, []
    versions = list(
        script.versions.filter(
            number__gte=since, number__lte=latest.number, status=VersionStatus.LOCKED
        ).order_by("number")
    )
    snapshots = [version_snapshot(v) for v in versions]
    changed = changed_keys_between(snapshots)
    relevant = _own_and_cue_keys(snapshots[-1], role) | _own_and_cue_keys(snapshots[0], role)
    keys = changed & relevant
    diff = diff_versions(snapshots[0], snapshots[-1])
    return latest, [line for line in diff.lines_for(keys) if line.status != "unchanged"]


def _own_and_cue_keys(snapshot, role: str) -> set[str]:
    keys, previous = set(), None
    for segment in snapshot:
        for line in segment.lines:
            if line.role == role:
                keys.add(line.key)
                if previous is not None:
                    keys.add(previous.key)
            previous = line
    return keys


def changed_since(person: User, script: Script, version: ScriptVersion) -> list:
    """Keys of lines the person practised whose words differ in this version (or that it
    no longer has): their progress no longer describes the line."""
    current = {
        line.key: memorise.digest(line.text)
        for line in Line.objects.filter(segment__version=version).only("key", "text")
    }
    return [
        row.line_key
        for row in LineProgress.objects.filter(person=person, script=script).only(
            "line_key", "text_digest"
        )
        if current.get(row.line_key) != row.text_digest
    ]


def show_plan(stream: Stream) -> ShowPlan | None:
    """The run-of-show of a stream's locked script: its segments and the cues in them."""
    version = stream_script_version(stream)
    if version is None:
        return None
    segments = {segment.pk: (segment, []) for segment in version.segments.order_by("position")}
    cues = (
        Cue.objects.filter(line__segment__version=version)
        .select_related("line")
        .order_by("line__segment__position", "line__position", "pk")
    )
    for cue in cues:
        segments[cue.line.segment_id][1].append(
            PlannedCue(
                key=str(cue.key),
                kind=cue.kind,
                role=cue.crew_role,
                link_number=cue.link_number,
                note=cue.note,
                on_words=cue.line.text[-memorise.CUE_TAIL_CHARS :],
            )
        )
    return ShowPlan(
        source="script",
        label=f"{version.script.title} v{version.number}",
        segments=[
            PlannedSegment(
                key=str(segment.key),
                title=segment.title,
                planned_seconds=int(segment.planned_duration.total_seconds()),
                hard_start_seconds=(
                    int(segment.hard_start.total_seconds()) if segment.hard_start else None
                ),
                link_number=segment.link_number,
                cues=planned,
            )
            for segment, planned in segments.values()
        ],
    )
