"""Reading a lineup (排品表) from the CSV or Excel sheet a team already keeps.

The first row names the columns, in English or Chinese, in any order; each later row is one
product. Parsing reports every bad cell by row and column; nothing is saved here (the
service validates the rows again and saves all of them or none).
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from . import sheets
from .models import LineupItem, ProductKind

MAX_ROWS = 500
MAX_BYTES = sheets.MAX_BYTES
MAX_DIGITS = 12  # before the decimal point; the widest column (prices) holds 10

# Column → the header spellings teams use for it (compared case- and space-insensitively).
COLUMNS: dict[str, tuple[str, ...]] = {
    "link_number": ("link number", "link", "link no", "链接号", "链接", "序号"),
    "sku": ("sku", "货号", "商品编码"),
    "name": ("product", "name", "product name", "商品", "商品名称", "品名"),
    "kind": ("type", "kind", "类型", "商品类型", "定位"),
    "regular_price": ("regular price", "price", "日常价", "原价"),
    "live_price": ("live price", "直播价", "到手价"),
    "stock": ("stock", "库存"),
    "per_buyer_limit": ("limit per buyer", "limit", "per buyer limit", "限购"),
    "commission_rate": ("commission %", "commission", "佣金", "佣金比例"),
    "notes": ("notes", "备注"),
}
REQUIRED = ("name", "kind", "regular_price")

KINDS: dict[str, str] = {
    "traffic": ProductKind.TRAFFIC,
    "引流": ProductKind.TRAFFIC,
    "福利款": ProductKind.TRAFFIC,
    "引流款": ProductKind.TRAFFIC,
    "引流/福利款": ProductKind.TRAFFIC,
    "hero": ProductKind.HERO,
    "主推": ProductKind.HERO,
    "爆款": ProductKind.HERO,
    "主推款": ProductKind.HERO,
    "主推/爆款": ProductKind.HERO,
    "profit": ProductKind.PROFIT,
    "利润款": ProductKind.PROFIT,
    "flash": ProductKind.FLASH,
    "flash sale": ProductKind.FLASH,
    "秒杀": ProductKind.FLASH,
    "秒杀款": ProductKind.FLASH,
}


@dataclass(frozen=True)
class RowError:
    """One bad cell of an imported or submitted lineup; rows count from 1 like a sheet's."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return _("Row %(row)s, %(column)s: %(message)s") % {
            "row": self.row,
            "column": self.column,
            "message": self.message,
        }


class LineupRowsInvalid(ValidationError):
    def __init__(self, errors: list[RowError]):
        self.row_errors = errors
        super().__init__([str(error) for error in errors], code="rows")


@dataclass(frozen=True)
class ParsedLineup:
    rows: list[dict[str, object]]
    row_numbers: list[int]


def _key(text: object) -> str:
    return " ".join(str(text or "").replace("\ufeff", "").strip().lower().split())


_HEADERS = {
    _key(spelling): column for column, spellings in COLUMNS.items() for spelling in spellings
}


def parse(*, filename: str, content: bytes) -> ParsedLineup:
    """Rows of a .csv or .xlsx lineup sheet, ready for `services.lineup_replace`."""
    try:
        table = sheets.read_table(filename=filename, content=content, max_rows=MAX_ROWS + 2)
    except sheets.SheetUnreadable as error:
        raise LineupRowsInvalid([RowError(0, _("file"), str(error))]) from error
    return _rows(table)


def _rows(table: list[list[object]]) -> ParsedLineup:
    while table and not any(_key(cell) for cell in table[-1]):
        table.pop()
    if not table:
        raise LineupRowsInvalid([RowError(1, _("header"), _("The file is empty."))])
    header = [_HEADERS.get(_key(cell)) for cell in table[0]]
    errors = [
        RowError(1, _("header"), _("Column “%(column)s” is missing.") % {"column": _label(name)})
        for name in REQUIRED
        if name not in header
    ]
    if errors:
        raise LineupRowsInvalid(errors)
    body = table[1:]
    if len(body) > MAX_ROWS:
        raise LineupRowsInvalid(
            [RowError(MAX_ROWS + 2, _("file"), _("At most %(max)s products.") % {"max": MAX_ROWS})]
        )
    rows, numbers = [], []
    for offset, cells in enumerate(body):
        number = offset + 2
        if not any(_key(cell) for cell in cells):
            continue
        row: dict[str, object] = {}
        for column, cell in zip(header, cells, strict=False):
            if column is None:
                continue
            try:
                value = PARSERS.get(column, _text)(cell)
            except ValueError as error:
                errors.append(RowError(number, _label(column), str(error)))
                continue
            if value is not None:
                row[column] = value
        for column in REQUIRED:
            reported = any(e.row == number and e.column == _label(column) for e in errors)
            if column not in row and not reported:
                errors.append(RowError(number, _label(column), _("This cell is empty.")))
        rows.append(row)
        numbers.append(number)
    if errors:
        raise LineupRowsInvalid(errors)
    if not rows:
        raise LineupRowsInvalid([RowError(2, _("file"), _("The file has no products."))])
    for position, row in enumerate(rows, start=1):
        row.setdefault("link_number", position)
    return ParsedLineup(rows=rows, row_numbers=numbers)


def _label(column: str) -> str:
    return str(LineupItem._meta.get_field(column).verbose_name)


def _blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _text(cell: object) -> str | None:
    if _blank(cell):
        return None
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return str(cell).strip()


def _number(cell: object) -> Decimal | None:
    if _blank(cell):
        return None
    text = str(cell).strip().replace(",", "").lstrip("¥￥$").removesuffix("%").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(_("“%(value)s” is not a number.") % {"value": cell}) from None
    if not value.is_finite():
        raise ValueError(_("“%(value)s” is not a number.") % {"value": cell})
    # No column holds 13 digits before the point; refusing here also spares rounding or
    # int() a number like 1e99999999, which would take them minutes.
    if value.adjusted() >= MAX_DIGITS:
        raise ValueError(_("“%(value)s” is too large.") % {"value": cell})
    return value


def _decimal(cell: object) -> Decimal | None:
    value = _number(cell)
    if value is None:
        return None
    cents = value.quantize(Decimal("0.01"))
    # A spreadsheet's binary float noise (9.9000000000000004) is not a third decimal.
    if abs(value - cents) > Decimal("1e-9"):
        raise ValueError(_("“%(value)s” has more than two decimal places.") % {"value": cell})
    return cents


def _whole(cell: object) -> int | None:
    # Unrounded: "2.001" is not a whole number, though it is 2.00 to the cent.
    value = _number(cell)
    if value is None:
        return None
    if value != value.to_integral_value():
        raise ValueError(_("“%(value)s” is not a whole number.") % {"value": cell})
    return int(value)


def _kind(cell: object) -> str | None:
    if _blank(cell):
        return None
    kind = KINDS.get(_key(cell))
    if kind is None:
        raise ValueError(
            _("“%(value)s” is not a product type: use %(kinds)s.")
            % {"value": cell, "kinds": "traffic/引流, hero/主推, profit/利润款, flash/秒杀"}
        )
    return kind


PARSERS = {
    "link_number": _whole,
    "regular_price": _decimal,
    "live_price": _decimal,
    "stock": _whole,
    "per_buyer_limit": _whole,
    "commission_rate": _decimal,
    "kind": _kind,
}
