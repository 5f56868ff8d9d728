"""Reading the CSV and Excel sheets teams already keep (lineups, scripts) into rows of cells.

Limits keep a hostile or mistaken file from taking the server down: 5 MB uploaded, 20 MB
unpacked for a workbook, and only as many rows as the caller wants.
"""

import csv
import io
import itertools
import zipfile

from django.utils.translation import gettext as _

MAX_BYTES = 5 * 1024 * 1024
MAX_UNPACKED_BYTES = 20 * 1024 * 1024


class SheetUnreadable(Exception):
    """The file as a whole cannot be read; the message says why, for the person uploading."""


def read_table(*, filename: str, content: bytes, max_rows: int) -> list[list[object]]:
    """The first sheet's rows (at most `max_rows`) of a .csv (UTF-8 or GB18030) or .xlsx."""
    if len(content) > MAX_BYTES:
        raise SheetUnreadable(_("The file is larger than 5 MB."))
    name = filename.lower()
    if name.endswith(".xlsx"):
        return _xlsx_rows(content, max_rows)
    if name.endswith(".csv"):
        return _csv_rows(content, max_rows)
    raise SheetUnreadable(_("Upload a .csv or .xlsx file."))


def _csv_rows(content: bytes, max_rows: int) -> list[list[object]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SheetUnreadable(_("The file is not UTF-8 or GB18030 text."))
    try:
        return list(itertools.islice(csv.reader(io.StringIO(text)), max_rows))
    except csv.Error as error:
        raise SheetUnreadable(
            _("The file is not readable CSV: %(error)s") % {"error": error}
        ) from error


def _xlsx_rows(content: bytes, max_rows: int) -> list[list[object]]:
    from openpyxl import load_workbook

    # An .xlsx is a zip: a small file can unpack to gigabytes. Refuse that before reading.
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        unpacked = 0
    if unpacked > MAX_UNPACKED_BYTES:
        raise SheetUnreadable(_("The workbook unpacks to more than 20 MB."))
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many types for a file that is not a workbook
        raise SheetUnreadable(_("The file is not a readable .xlsx workbook.")) from error
    try:
        rows = itertools.islice(workbook.worksheets[0].iter_rows(values_only=True), max_rows)
        return [list(row) for row in rows]
    finally:
        workbook.close()
