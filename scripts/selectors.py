"""Reads for the scripts app."""

from dataclasses import dataclass
from itertools import pairwise

from rooms.models import Stream, User
from rooms.selectors import stream_list_for_user

from . import lint
from .diff import LineText, SegmentText
from .models import (
    ComplianceTerm,
    Line,
    Script,
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
