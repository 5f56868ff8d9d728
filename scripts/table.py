"""The 整场脚本 table teams already write a show in, read and written as CSV or Excel.

One row per time slot: time slot, segment (环节), product link number, host lines, co-host
lines, operator actions (中控), floor and atmosphere (场控/氛围), props, notes. A row whose
segment cell is empty continues the segment above. Each line of a host or co-host cell is
one line of the script; text in 【】 must be said word for word (a verbatim span). Each line
of the operator cell is a product cue (讲解/上架 pin, 改价 price change, 券 coupon, 福袋
lucky bag) anchored to the row's first line; each line of the floor cell a crew cue.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils.translation import gettext as _

from rooms import sheets
from rooms.lineup_import import LineupRowsInvalid as RowsInvalid
from rooms.lineup_import import RowError
from rooms.models import CrewRole

from .models import CueKind, Line, ScriptVersion

MAX_ROWS = 2000

COLUMNS: dict[str, tuple[str, ...]] = {
    "time": ("time", "time slot", "时间", "时间段", "时段"),
    "segment": ("segment", "环节", "流程"),
    "product": ("product", "link number", "link", "产品", "商品", "链接号", "链接"),
    "host": ("host", "host lines", "主播", "主播话术", "主播台词"),
    "co_host": ("co-host", "co-host lines", "cohost", "副播", "副播话术", "副播台词"),
    "actor": ("actor", "actor lines", "演员", "演员台词"),
    "operator": ("operator", "operator actions", "中控", "中控操作"),
    "floor": ("floor", "atmosphere", "场控", "场控/氛围", "氛围"),
    "props": ("props", "道具"),
    "notes": ("notes", "备注"),
}
LABELS = {
    "time": "时间段 Time",
    "segment": "环节 Segment",
    "product": "链接号 Link",
    "host": "主播话术 Host",
    "co_host": "副播话术 Co-host",
    "actor": "演员台词 Actor",
    "operator": "中控操作 Operator",
    "floor": "场控/氛围 Floor",
    "props": "道具 Props",
    "notes": "备注 Notes",
}
SPEAKERS = {"host": CrewRole.HOST, "co_host": CrewRole.CO_HOST, "actor": CrewRole.ACTOR}
# Operator action words → product cue; checked in this order.
PRODUCT_CUE_WORDS = (
    (("改价", "price"), CueKind.PRICE_CHANGE),
    (("福袋", "lucky bag"), CueKind.LUCKY_BAG),
    (("券", "coupon"), CueKind.COUPON),
    (("讲解", "上架", "置顶", "弹", "pin"), CueKind.PIN),
)
LINK = re.compile(r"(?:#\s*(\d+))|(\d+)\s*号", re.ASCII)
SLOT = re.compile(
    r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*[-–~至到]\s*([01]?\d|2[0-3]):([0-5]\d)\s*$", re.ASCII
)
VERBATIM = re.compile(r"【([^【】]+)】")


@dataclass
class ParsedCue:
    kind: str
    crew_role: str
    link_number: int | None
    note: str


@dataclass
class ParsedLine:
    role: str
    text: str
    verbatim: list[list[int]]
    cues: list[ParsedCue] = field(default_factory=list)


@dataclass
class ParsedSegment:
    title: str
    planned_duration: timedelta = timedelta(0)
    link_number: int | None = None
    notes: list[str] = field(default_factory=list)
    lines: list[ParsedLine] = field(default_factory=list)


def _key(text: object) -> str:
    return " ".join(str(text or "").replace("\ufeff", "").strip().lower().split())


_HEADERS = {
    **{_key(s): column for column, spellings in COLUMNS.items() for s in spellings},
    **{_key(label): column for column, label in LABELS.items()},  # our own export's header
}


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def parse(*, filename: str, content: bytes) -> list[ParsedSegment]:
    """The segments of a script sheet; every bad cell is reported and nothing is returned
    unless the whole sheet reads."""
    try:
        table = sheets.read_table(filename=filename, content=content, max_rows=MAX_ROWS + 2)
    except sheets.SheetUnreadable as error:
        raise RowsInvalid([RowError(0, _("file"), str(error))]) from error
    return parse_table(table)


def parse_table(table: list[list[object]]) -> list[ParsedSegment]:
    """The same, from rows already in hand (a sheet read, or the editor's form)."""
    table = list(table)
    while table and not any(_cell(c) for c in table[-1]):
        table.pop()
    if not table:
        raise RowsInvalid([RowError(1, _("header"), _("The file is empty."))])
    header = [_HEADERS.get(_key(cell)) for cell in table[0]]
    missing = [c for c in ("segment", "host") if c not in header]
    if missing:
        raise RowsInvalid(
            [
                RowError(
                    1, _("header"), _("Column “%(column)s” is missing.") % {"column": LABELS[c]}
                )
                for c in missing
            ]
        )
    if len(table) > MAX_ROWS + 1:
        raise RowsInvalid(
            [RowError(MAX_ROWS + 2, _("file"), _("At most %(max)s rows.") % {"max": MAX_ROWS})]
        )
    segments: list[ParsedSegment] = []
    errors: list[RowError] = []
    for offset, cells in enumerate(table[1:]):
        number = offset + 2
        row = {column: _cell(cell) for column, cell in zip(header, cells, strict=False) if column}
        if not any(row.values()):
            continue
        errors += _row(row, number, segments)
    if errors:
        raise RowsInvalid(errors)
    if not segments:
        raise RowsInvalid([RowError(2, _("file"), _("The file has no segments."))])
    return segments


def _row(row: dict[str, str], number: int, segments: list[ParsedSegment]) -> list[RowError]:
    errors = []
    if row.get("segment"):
        segments.append(ParsedSegment(title=row["segment"][:200]))
    elif not segments:
        return [RowError(number, LABELS["segment"], _("The first row needs a segment name."))]
    segment = segments[-1]
    if row.get("time"):
        slot = SLOT.match(row["time"])
        if slot is None:
            errors.append(RowError(number, LABELS["time"], _("Write the slot as 20:00-20:05.")))
        else:
            start = timedelta(hours=int(slot[1]), minutes=int(slot[2]))
            end = timedelta(hours=int(slot[3]), minutes=int(slot[4]))
            # 23:55-00:05 runs past midnight: ten minutes, not a negative day.
            segment.planned_duration += (end - start) % timedelta(days=1)
    link = _link(row.get("product", ""))
    if row.get("product") and link is None:
        errors.append(
            RowError(number, LABELS["product"], _("Give the link number, e.g. 2号 or #2."))
        )
    if link is not None and segment.link_number is None:
        segment.link_number = link
    first_line = None
    for column, role in SPEAKERS.items():
        for text in filter(None, (t.strip() for t in row.get(column, "").splitlines())):
            line = _line(role, text)
            segment.lines.append(line)
            first_line = first_line or line
    cues = [
        *(
            _product_cue(action, link)
            for action in row.get("operator", "").splitlines()
            if action.strip()
        ),
        *(_crew_cue(action) for action in row.get("floor", "").splitlines() if action.strip()),
    ]
    for cue in cues:
        if (
            cue.kind in (CueKind.PIN, CueKind.PRICE_CHANGE, CueKind.COUPON, CueKind.LUCKY_BAG)
            and cue.link_number is None
        ):
            errors.append(
                RowError(
                    number,
                    LABELS["operator"],
                    _("“%(action)s” needs a link number.") % {"action": cue.note},
                )
            )
    if cues and first_line is None:
        errors.append(
            RowError(
                number,
                LABELS["operator"],
                _("Cues need a line (host, co-host or actor) in the same row."),
            )
        )
    elif first_line is not None:
        first_line.cues.extend(cues)
    segment.notes += [row[c] for c in ("props", "notes") if row.get(c)]
    return errors


def _link(text: str) -> int | None:
    """A link number (2, 2号, #2); None if there is none, or it is beyond any cart."""
    if not text:
        return None
    found = str(int(text)) if text.isascii() and text.isdigit() else None
    if found is None:
        match = LINK.search(text)
        found = (match[1] or match[2]) if match else None
    return int(found) if found is not None and len(found) <= 6 else None


def _line(role: str, text: str) -> ParsedLine:
    spans, plain, cursor = [], "", 0
    for match in VERBATIM.finditer(text):
        plain += text[cursor : match.start()]
        spans.append([len(plain), len(plain) + len(match[1])])
        plain += match[1]
        cursor = match.end()
    plain += text[cursor:]
    return ParsedLine(role=role, text=plain, verbatim=spans)


def _product_cue(action: str, row_link: int | None) -> ParsedCue:
    lowered = action.lower()
    kind = next(
        (kind for words, kind in PRODUCT_CUE_WORDS if any(w in lowered for w in words)),
        CueKind.PIN,
    )
    return ParsedCue(
        kind=kind,
        crew_role=CrewRole.ROOM_OPERATOR,
        link_number=_link(action) or row_link,
        note=action.strip()[:300],
    )


def _crew_cue(action: str) -> ParsedCue:
    lowered = action.lower()
    if any(w in lowered for w in ("音乐", "bgm", "music")):
        kind, role = CueKind.MUSIC, CrewRole.FLOOR_CONTROLLER
    elif any(w in lowered for w in ("镜头", "机位", "camera")):
        kind, role = CueKind.CAMERA, CrewRole.FLOOR_CONTROLLER
    else:
        kind, role = CueKind.CHEER, CrewRole.CHEER
    return ParsedCue(kind=kind, crew_role=role, link_number=None, note=action.strip()[:300])


# --- Export -------------------------------------------------------------------------------


def rows(version: ScriptVersion) -> list[list[str]]:
    """The version as the table: a header, then a row per line in running order, the
    segment's slot, name and product on its first row, each line's cues beside it."""
    lines = (
        Line.objects.filter(segment__version=version)
        .prefetch_related("cues")
        .order_by("segment__position", "position")
    )
    by_segment: dict[int, list[Line]] = {}
    for line in lines:
        by_segment.setdefault(line.segment_id, []).append(line)
    columns = list(COLUMNS)
    table = [[LABELS[c] for c in columns]]
    elapsed = timedelta(0)
    for segment in version.segments.order_by("position"):
        start, elapsed = elapsed, elapsed + segment.planned_duration
        first = {
            "time": f"{_clock(start)}-{_clock(elapsed)}",
            "segment": segment.title,
            "product": str(segment.link_number or ""),
            "notes": segment.notes,
        }
        for index, line in enumerate(by_segment.get(segment.pk, []) or [None]):
            row = dict(first) if index == 0 else {}
            if line is not None:
                speaker = next((c for c, r in SPEAKERS.items() if r == line.role), "host")
                cues = list(line.cues.all())
                row[speaker] = _marked(line)
                row["operator"] = "\n".join(
                    c.note or c.get_kind_display() for c in cues if c.kind in _PRODUCT
                )
                row["floor"] = "\n".join(
                    c.note or c.get_kind_display() for c in cues if c.kind not in _PRODUCT
                )
            table.append([row.get(c, "") for c in columns])
    return table


_PRODUCT = {CueKind.PIN, CueKind.PRICE_CHANGE, CueKind.COUPON, CueKind.LUCKY_BAG}


def _clock(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _marked(line: Line) -> str:
    text = line.text
    for start, end in sorted(line.verbatim, reverse=True):
        text = f"{text[:start]}【{text[start:end]}】{text[end:]}"
    return text


def to_csv(version: ScriptVersion) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows(version))
    # With a byte-order mark, Excel opens the Chinese as Chinese.
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(version: ScriptVersion) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "整场脚本"
    for row in rows(version):
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
