import io
import zipfile
from decimal import Decimal

import pytest
from django.utils import translation
from openpyxl import Workbook

from rooms import lineup_import, sheets
from rooms.models import ProductKind
from rooms.services import LineupRowsInvalid

HEADER = "Link number,SKU,Product,Type,Regular price,Live price,Stock"


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _csv(*lines: str, encoding: str = "utf-8") -> bytes:
    return "\n".join(lines).encode(encoding)


def _xlsx(*rows: list) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _bad_cells(error: LineupRowsInvalid) -> set[tuple[int, str]]:
    return {(row_error.row, row_error.column) for row_error in error.row_errors}


def test_a_csv_with_english_headers_becomes_typed_rows_numbered_as_in_the_sheet():
    content = _csv(
        HEADER,
        "1,MUG-01,Thermal mug,traffic,59,9.9,200",
        '2,TEA-07,Oolong tea,hero,"1,299.00",¥899,50',
    )

    parsed = lineup_import.parse(filename="lineup.csv", content=content)

    assert parsed.row_numbers == [2, 3]
    assert parsed.rows == [
        {
            "link_number": 1,
            "sku": "MUG-01",
            "name": "Thermal mug",
            "kind": ProductKind.TRAFFIC,
            "regular_price": Decimal("59.00"),
            "live_price": Decimal("9.90"),
            "stock": 200,
        },
        {
            "link_number": 2,
            "sku": "TEA-07",
            "name": "Oolong tea",
            "kind": ProductKind.HERO,
            "regular_price": Decimal("1299.00"),
            "live_price": Decimal("899.00"),
            "stock": 50,
        },
    ]


def test_every_bad_cell_of_a_csv_is_reported_by_row_and_column():
    content = _csv(
        HEADER,
        "1,MUG-01,Thermal mug,traffic,59,9.9,200",
        "2,TEA-07,Oolong tea,hero,abc,89,50",
        "3,PAN-02,Frying pan,profit,199,149,30",
        "4,KNF-09,,mystery,99,79,10",
    )

    with pytest.raises(LineupRowsInvalid) as raised:
        lineup_import.parse(filename="lineup.csv", content=content)

    assert _bad_cells(raised.value) == {(3, "regular price"), (5, "type"), (5, "product")}
    assert "Row 3, regular price: “abc” is not a number." in raised.value.messages


def test_every_bad_cell_of_an_xlsx_is_reported_by_row_and_column():
    content = _xlsx(
        HEADER.split(","),
        [1, "MUG-01", "Thermal mug", "traffic", 59, 9.9, 200],
        [2, "TEA-07", "Oolong tea", "hero", "abc", 89, 50],
        [3, "PAN-02", "Frying pan", "profit", 199, 149, 30],
        [4, "KNF-09", None, "mystery", 99, 79, 10],
    )

    with pytest.raises(LineupRowsInvalid) as raised:
        lineup_import.parse(filename="Lineup.XLSX", content=content)

    assert _bad_cells(raised.value) == {(3, "regular price"), (5, "type"), (5, "product")}


def test_an_xlsx_with_numeric_cells_becomes_the_same_rows_as_its_csv():
    content = _xlsx(
        HEADER.split(","),
        [1, 10001, "Thermal mug", "traffic", 59, 9.9, 200.0],
    )

    parsed = lineup_import.parse(filename="lineup.xlsx", content=content)

    assert parsed.rows == [
        {
            "link_number": 1,
            "sku": "10001",
            "name": "Thermal mug",
            "kind": ProductKind.TRAFFIC,
            "regular_price": Decimal("59.00"),
            "live_price": Decimal("9.90"),
            "stock": 200,
        }
    ]


def test_a_gb18030_csv_with_chinese_headers_and_product_types_parses():
    content = _csv(
        "链接号,货号,商品,类型,日常价,直播价,库存",
        "1,BWB-01,保温杯,引流,59,9.9,200",
        "2,WLC-07,乌龙茶,主推,129,89,50",
        "3,CG-02,炒锅,利润款,199,149,30",
        "4,DB-05,电饼铛,秒杀,299,99,10",
        encoding="gb18030",
    )

    parsed = lineup_import.parse(filename="排品表.csv", content=content)

    assert [row["name"] for row in parsed.rows] == ["保温杯", "乌龙茶", "炒锅", "电饼铛"]
    assert [row["kind"] for row in parsed.rows] == [
        ProductKind.TRAFFIC,
        ProductKind.HERO,
        ProductKind.PROFIT,
        ProductKind.FLASH,
    ]
    assert parsed.rows[0]["live_price"] == Decimal("9.90")


def test_a_utf8_csv_saved_by_excel_with_a_byte_order_mark_parses():
    content = b"\xef\xbb\xbf" + _csv(
        "商品编码,品名,定位,原价,到手价", "BWB-01,保温杯,福利款,59,9.9"
    )

    parsed = lineup_import.parse(filename="lineup.csv", content=content)

    assert parsed.rows[0]["sku"] == "BWB-01"
    assert parsed.rows[0]["kind"] == ProductKind.TRAFFIC


def test_headers_are_matched_in_any_order_case_and_spacing_and_unknown_columns_are_ignored():
    content = _csv(
        "  PRICE ,Kind,  product   name,sku,Buyer's mood", "99,hero,Thermal mug,MUG-01,happy"
    )

    parsed = lineup_import.parse(filename="lineup.csv", content=content)

    assert parsed.rows == [
        {
            "regular_price": Decimal("99.00"),
            "kind": ProductKind.HERO,
            "name": "Thermal mug",
            "sku": "MUG-01",
            "link_number": 1,
        }
    ]


def test_blank_rows_are_skipped_and_link_numbers_default_to_the_products_order():
    content = _csv(
        "SKU,Product,Type,Regular price",
        "MUG-01,Thermal mug,traffic,59",
        ",,,",
        "TEA-07,Oolong tea,hero,129",
        "",
        ",,,",
    )

    parsed = lineup_import.parse(filename="lineup.csv", content=content)

    assert parsed.row_numbers == [2, 4]
    assert [row["link_number"] for row in parsed.rows] == [1, 2]


def test_a_sheet_without_a_required_column_names_the_missing_column():
    content = _csv("链接号,商品,日常价,直播价,库存", "1,保温杯,59,9.9,200")

    with pytest.raises(LineupRowsInvalid) as raised:
        lineup_import.parse(filename="lineup.csv", content=content)

    assert _bad_cells(raised.value) == {(1, "header")}
    assert raised.value.messages == ["Row 1, header: Column “type” is missing."]


def test_a_sheet_without_skus_is_enough_when_products_have_names():
    content = _csv("链接号,商品,类型,日常价,直播价,库存", "1,保温杯,引流,59,9.9,200")

    parsed = lineup_import.parse(filename="lineup.csv", content=content)

    assert parsed.rows[0]["name"] == "保温杯"
    assert "sku" not in parsed.rows[0]


def test_a_price_with_a_third_decimal_is_a_bad_cell_but_float_noise_is_not():
    content = _csv(
        "link number,product,type,regular price,live price",
        "1,Mug,traffic,59.999,9.9",
        "2,Pan,hero,9.9000000000000004,9.9",
    )

    with pytest.raises(LineupRowsInvalid) as raised:
        lineup_import.parse(filename="lineup.csv", content=content)

    assert raised.value.messages == [
        "Row 2, regular price: “59.999” has more than two decimal places."
    ]


@pytest.mark.parametrize(
    ("column", "cell", "message"),
    [
        ("Stock", "2.5", "“2.5” is not a whole number."),
        ("Stock", "2.001", "“2.001” is not a whole number."),
        ("Live price", "NaN", "“NaN” is not a number."),
        ("Live price", "1e30", "“1e30” is too large."),
        ("Stock", "1e99999999", "“1e99999999” is too large."),
        ("Regular price", "-1e30", "“-1e30” is too large."),
    ],
)
def test_a_number_that_cannot_be_stored_is_reported_in_its_cell(column, cell, message):
    content = _csv(f"SKU,Product,Type,Regular price,{column}", f"MUG-01,Thermal mug,hero,59,{cell}")

    with pytest.raises(LineupRowsInvalid) as raised:
        lineup_import.parse(filename="lineup.csv", content=content)

    assert raised.value.messages == [f"Row 2, {column.lower()}: {message}"]


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("lineup.pdf", b"%PDF-1.7", "Row 0, file: Upload a .csv or .xlsx file."),
        ("lineup.csv", b"\xff\xff\xff", "Row 0, file: The file is not UTF-8 or GB18030 text."),
        ("lineup.xlsx", b"not a zip", "Row 0, file: The file is not a readable .xlsx workbook."),
        ("lineup.csv", b"\n,,,\n", "Row 1, header: The file is empty."),
        (
            "lineup.csv",
            b"SKU,Product,Type,Regular price\n",
            "Row 2, file: The file has no products.",
        ),
    ],
)
def test_a_file_that_is_not_a_lineup_is_refused_with_a_reason(filename, content, message):
    with pytest.raises(LineupRowsInvalid) as raised:
        lineup_import.parse(filename=filename, content=content)

    assert raised.value.messages == [message]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(monkeypatch):
    monkeypatch.setattr(sheets, "MAX_BYTES", 64)
    content = _csv("SKU,Product,Type,Regular price", *["MUG-01,Thermal mug,hero,59"] * 3)

    with pytest.raises(LineupRowsInvalid) as raised:
        lineup_import.parse(filename="lineup.csv", content=content)

    assert raised.value.messages == ["Row 0, file: The file is larger than 5 MB."]


def test_a_sheet_with_more_products_than_allowed_is_refused(monkeypatch):
    monkeypatch.setattr(lineup_import, "MAX_ROWS", 2)
    content = _xlsx(
        ["SKU", "Product", "Type", "Regular price"],
        *[[f"SKU-{n}", "Thermal mug", "hero", 59] for n in range(3)],
    )

    with pytest.raises(LineupRowsInvalid) as raised:
        lineup_import.parse(filename="lineup.xlsx", content=content)

    assert raised.value.messages == ["Row 4, file: At most 2 products."]


def test_a_csv_cell_too_large_for_the_reader_is_a_file_error_not_a_crash():
    content = _csv("link number,product,type,regular price", "1," + "x" * 200_000 + ",hero,9")

    with pytest.raises(LineupRowsInvalid) as raised:
        lineup_import.parse(filename="lineup.csv", content=content)

    assert _bad_cells(raised.value) == {(0, "file")}


def test_a_workbook_that_unpacks_to_more_than_20_mb_is_refused_before_it_is_read():
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"a" * (21 * 1024 * 1024))

    with pytest.raises(LineupRowsInvalid) as raised:
        lineup_import.parse(filename="lineup.xlsx", content=packed.getvalue())

    assert raised.value.messages == ["Row 0, file: The workbook unpacks to more than 20 MB."]
