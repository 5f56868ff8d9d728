"""What changed between two versions of a script (话术脚本), by segment, line and word.

Pure functions over values the models layer has already loaded. Segments and lines keep a
key across versions, so matching is by key through dicts, never by searching the text; only
lines whose text differs go through `difflib`, one line at a time. Two 2,000-line versions
diff in a few milliseconds (`python -m bench scriptdiff`).

Text is compared token by token, and each CJK character is its own token: Chinese has no
spaces, and a host who changed 五折 to 六折 must see exactly 五 → 六, not the whole line.
"""

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import pairwise

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
MOVED = "moved"
UNCHANGED = "unchanged"

EQUAL = "equal"
INSERT = "insert"
DELETE = "delete"


@dataclass(frozen=True)
class LineText:
    key: str  # stable identity of a line across versions (a UUID string); a new line gets a new key
    role: str  # e.g. "host", "co_host", "actor", "room_operator" (crew role value)
    text: str


@dataclass(frozen=True)
class SegmentText:
    key: str  # stable identity of a segment across versions
    title: str
    lines: tuple[LineText, ...]


Op = tuple[str, str]


@dataclass(frozen=True, slots=True)
class LineDiff:
    """One line of either version.

    `status` is added, removed, changed (text or role), moved or unchanged. Moved wins over
    changed: a moved line whose words also changed has `old_text != new_text` and its ops
    show how. A line is moved when it changed segment, or when it changed place among the
    lines its segment kept (it is not in their longest common order).

    `role` is the new role, or the old one for a removed line; the other side of an added or
    removed line is None. `ops` turn `old_text` into `new_text`: one equal op for a line whose
    text did not change, one insert for an added line, one delete for a removed line.
    """

    key: str
    status: str
    role: str
    old_role: str | None
    old_text: str | None
    new_text: str | None
    ops: tuple[Op, ...]
    old_segment_key: str | None
    new_segment_key: str | None


@dataclass(frozen=True, slots=True)
class SegmentDiff:
    """One segment of either version, with its lines in new order and removed lines where they
    were.

    `status` is added, removed, changed (title, any line added, removed, changed or moved in
    or out, or lines reordered), moved (only its place among the kept segments changed) or
    unchanged. A segment that moved and changed is changed. `title` is the new title, or the
    old one for a removed segment; `old_title` is None for an added segment.
    """

    key: str
    status: str
    title: str
    old_title: str | None
    lines: tuple[LineDiff, ...]


@dataclass(frozen=True, slots=True)
class VersionDiff:
    segments: tuple[SegmentDiff, ...]

    def changed_line_keys(self) -> set[str]:
        """Keys of lines added, changed, moved or removed."""
        return {
            line.key
            for segment in self.segments
            for line in segment.lines
            if line.status != UNCHANGED
        }

    def lines_for(self, keys: set[str]) -> list[LineDiff]:
        """The diffs of these lines, in diff order."""
        return [line for segment in self.segments for line in segment.lines if line.key in keys]

    @property
    def is_empty(self) -> bool:
        """Nothing was added, removed, changed or moved."""
        return all(segment.status == UNCHANGED for segment in self.segments)


# --- Tokens ------------------------------------------------------------------------------

# Han (with extensions and compatibility forms), kana, hangul, bopomofo, CJK symbols and
# punctuation, and the full-width forms block (full-width punctuation, digits and letters).
_CJK = (
    "\u1100-\u11ff\u2e80-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\ufe10-\ufe1f"
    "\ufe30-\ufe4f\uff00-\uffef\U0001b000-\U0001b16f\U00020000-\U000323af"
)
# Letters and digits of any script but CJK, which goes one character per token.
_WORD_CHAR = rf"[^\W_{_CJK}]"
_TOKEN = re.compile(
    rf"""
    \s+
    | (?:[¥￥$€£](?=[0-9]))?  # a currency sign sticks to the price after it: ¥199
      {_WORD_CHAR}+
      (?:(?:['’-]|(?<=[0-9])[.,](?=[0-9])){_WORD_CHAR}+)*  # don't, co-host, 9.9, 1,299
    | .
    """,
    re.VERBOSE | re.DOTALL,
)


def tokens(text: str) -> list[str]:
    """Each CJK character alone; Latin words, numbers and prices whole; whitespace runs whole;
    any other character alone. The tokens join back to `text`."""
    return _TOKEN.findall(text)


def text_ops(old: str, new: str) -> tuple[Op, ...]:
    """Equal, delete and insert runs turning `old` into `new`; a replacement is a delete then an
    insert, and neighbouring runs of the same kind are merged."""
    if old == new:
        return ((EQUAL, old),) if old else ()
    before, after = tokens(old), tokens(new)
    ops: list[list[str]] = []

    def add(op: str, parts: list[str]) -> None:
        if not parts:
            return
        if ops and ops[-1][0] == op:
            ops[-1][1] += "".join(parts)
        else:
            ops.append([op, "".join(parts)])

    matcher = SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == EQUAL:
            add(EQUAL, before[i1:i2])
        else:
            add(DELETE, before[i1:i2])
            add(INSERT, after[j1:j2])
    return tuple((op, text) for op, text in ops)


# --- Versions ----------------------------------------------------------------------------


def diff_versions(old: Sequence[SegmentText], new: Sequence[SegmentText]) -> VersionDiff:
    """Segments in new order, each removed segment after the one it followed; within each, lines
    in new order, each removed line after the one it followed."""
    old_segments = _by_key(old, "segment")
    new_segments = _by_key(new, "segment")
    old_lines = _lines_by_key(old)
    new_lines = _lines_by_key(new)

    kept_segments = [segment.key for segment in new if segment.key in old_segments]
    segments_out_of_order = _out_of_order(
        [segment.key for segment in old if segment.key in new_segments], kept_segments
    )

    diffs: dict[str, SegmentDiff] = {}
    for segment in new:
        before = old_segments.get(segment.key)
        if before is None:
            lines = tuple(_new_line_diff(line, segment.key, old_lines) for line in segment.lines)
            diffs[segment.key] = SegmentDiff(segment.key, ADDED, segment.title, None, lines)
            continue
        lines = _segment_lines(before, segment, old_lines, new_lines)
        changed = (
            segment.title != before.title
            or any(line.status != UNCHANGED for line in lines)
            or any(_segment_of(new_lines, line.key) != segment.key for line in before.lines)
        )
        if changed:
            status = CHANGED
        elif segment.key in segments_out_of_order:
            status = MOVED
        else:
            status = UNCHANGED
        diffs[segment.key] = SegmentDiff(segment.key, status, segment.title, before.title, lines)
    for segment in old:
        if segment.key not in new_segments:
            lines = tuple(
                _removed_line_diff(line, segment.key)
                for line in segment.lines
                if line.key not in new_lines
            )
            diffs[segment.key] = SegmentDiff(
                segment.key, REMOVED, segment.title, segment.title, lines
            )

    order = _with_removed(
        [segment.key for segment in new],
        [segment.key for segment in old],
        (segment.key for segment in old if segment.key not in new_segments),
    )
    return VersionDiff(tuple(diffs[key] for key in order))


def changed_keys_between(versions: Sequence[Sequence[SegmentText]]) -> set[str]:
    """Keys of lines added, changed or moved from each version to the next (v2→v3, v3→v4):
    what an actor who practised the first version should look at again in the last.

    A line added in one step and removed in a later one is still included; callers look keys
    up in the version they show.
    """
    keys: set[str] = set()
    for before, after in pairwise(versions):
        diff = diff_versions(before, after)
        keys.update(
            line.key
            for segment in diff.segments
            for line in segment.lines
            if line.status in (ADDED, CHANGED, MOVED)
        )
    return keys


def _by_key(segments: Sequence[SegmentText], what: str) -> dict[str, SegmentText]:
    found = {segment.key: segment for segment in segments}
    if len(found) != len(segments):
        raise ValueError(f"a {what} key appears twice in one version")
    return found


def _lines_by_key(segments: Sequence[SegmentText]) -> dict[str, tuple[LineText, str]]:
    """Each line with the key of the segment holding it."""
    found = {line.key: (line, segment.key) for segment in segments for line in segment.lines}
    if len(found) != sum(len(segment.lines) for segment in segments):
        raise ValueError("a line key appears twice in one version")
    return found


def _segment_of(lines: dict[str, tuple[LineText, str]], key: str) -> str | None:
    found = lines.get(key)
    return found[1] if found else None


def _segment_lines(
    before: SegmentText,
    after: SegmentText,
    old_lines: dict[str, tuple[LineText, str]],
    new_lines: dict[str, tuple[LineText, str]],
) -> tuple[LineDiff, ...]:
    """The lines of a segment both versions have."""
    stayed = [line.key for line in after.lines if _segment_of(old_lines, line.key) == after.key]
    out_of_order = _out_of_order(
        [line.key for line in before.lines if _segment_of(new_lines, line.key) == after.key],
        stayed,
    )
    diffs = {
        line.key: _new_line_diff(line, after.key, old_lines, out_of_order) for line in after.lines
    }
    removed = [line for line in before.lines if line.key not in new_lines]
    for line in removed:
        diffs[line.key] = _removed_line_diff(line, before.key)
    order = _with_removed(
        [line.key for line in after.lines],
        [line.key for line in before.lines],
        (line.key for line in removed),
    )
    return tuple(diffs[key] for key in order)


def _new_line_diff(
    line: LineText,
    segment_key: str,
    old_lines: dict[str, tuple[LineText, str]],
    out_of_order: Collection[str] = frozenset(),
) -> LineDiff:
    found = old_lines.get(line.key)
    if found is None:
        ops = ((INSERT, line.text),) if line.text else ()
        return LineDiff(line.key, ADDED, line.role, None, None, line.text, ops, None, segment_key)
    before, old_segment_key = found
    if old_segment_key != segment_key or line.key in out_of_order:
        status = MOVED
    elif before.text != line.text or before.role != line.role:
        status = CHANGED
    else:
        status = UNCHANGED
    return LineDiff(
        line.key,
        status,
        line.role,
        before.role,
        before.text,
        line.text,
        text_ops(before.text, line.text),
        old_segment_key,
        segment_key,
    )


def _removed_line_diff(line: LineText, segment_key: str) -> LineDiff:
    ops = ((DELETE, line.text),) if line.text else ()
    return LineDiff(
        line.key, REMOVED, line.role, line.role, line.text, None, ops, segment_key, None
    )


def _out_of_order(before: list[str], after: list[str]) -> set[str]:
    """Of the keys both orders hold, those outside their longest common order: the ones that
    moved, rather than the ones that stayed while others moved around them."""
    if before == after:
        return set()
    matcher = SequenceMatcher(None, before, after, autojunk=False)
    stayed = {
        key
        for block in matcher.get_matching_blocks()
        for key in before[block.a : block.a + block.size]
    }
    return set(after) - stayed


def _with_removed(new_order: list[str], old_order: list[str], removed: Iterable[str]) -> list[str]:
    """`new_order` with each removed key placed after the key it followed in `old_order` that
    `new_order` still holds (or first, if there is none)."""
    removed, present = set(removed), set(new_order)
    if not removed:
        return new_order
    following: dict[str | None, list[str]] = {}
    anchor = None
    for key in old_order:
        if key in present:
            anchor = key
        elif key in removed:
            following.setdefault(anchor, []).append(key)
    order = list(following.get(None, ()))
    for key in new_order:
        order.append(key)
        order.extend(following.get(key, ()))
    return order
