"""Reading an Excel workbook (.xlsx, .xlsm) as the same rows a CSV file gives.

A worksheet is streamed with openpyxl in read-only mode, one row at a time, so a sheet of a
million rows is never loaded whole (only the workbook's shared-strings table is). Cells become
the text a person sees in Excel: 4520123456.0 is "4520123456", a date "2026-12-01". A phone cell
that no text could make a number of (a date, a formula, a number with decimals or more digits
than Excel keeps) carries the reason on its row (`CsvRow.phone_problem`), so classification
rejects it with that reason. Line numbers are the sheet's row numbers. Pure: no Flask, no
database.
"""

from __future__ import annotations

import datetime
import itertools
import zipfile
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lxml import etree
from openpyxl.reader.excel import ExcelReader
from openpyxl.utils.cell import column_index_from_string
from openpyxl.utils.datetime import from_excel, from_ISO8601
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._reader import WorkSheetParser, _cast_number
from openpyxl.xml.constants import SHARED_STRINGS, SHEET_MAIN_NS

from webapp.csvimport.formats import CsvFormat, CsvFormatError, CsvRow, Source
from webapp.csvimport.rows import PROGRESS_EVERY_ROWS, binary_file, is_blank
from webapp.csvimport.sniff import HEADER_SAMPLE_ROWS, format_of

EXCEL_DIGITS = 15
"""Significant digits Excel keeps of a number: a longer phone number typed as a number is lost."""


def sniff_xlsx(
    source: Source,
    default_country: str,
    *,
    sheet: str | None = None,
    has_header: bool | None = None,
) -> CsvFormat:
    """How to read a workbook: which sheet, its header, columns, first rows and phone column.

    `sheet` (a worksheet's name) and `has_header` fix what the user chose in the mapping step;
    by default the first worksheet holding any rows is read. Reads only the first rows.
    Raises CsvFormatError for a workbook that cannot be opened or has no such sheet.
    """
    with _workbook(source) as workbook:
        sheets = tuple(worksheet.title for worksheet in workbook.worksheets)
        if not sheets:
            raise CsvFormatError("The workbook has no worksheets.")
        if sheet is not None and sheet not in sheets:
            names = ", ".join(f"“{name}”" for name in sheets)
            raise CsvFormatError(f"The workbook has no sheet “{sheet}”; its sheets are {names}.")
        candidates = [sheet] if sheet is not None else list(sheets)
        for name in candidates:
            first_rows = [
                row.cells
                for row in itertools.islice(
                    _sheet_rows(workbook[name], None), HEADER_SAMPLE_ROWS + 1
                )
            ]
            if first_rows:
                break
        else:
            name = candidates[0]
    return format_of(
        first_rows,
        default_country,
        has_header,
        encoding="",
        delimiter="",
        sheet=name,
        sheets=sheets,
    )


def iter_sheet_rows(
    source: Source, fmt: CsvFormat, *, progress: Callable[[int], None] | None = None
) -> Iterator[CsvRow]:
    """Stream the data rows of fmt.sheet, as iter_rows does for a CSV file (same promises).

    `progress` gets the bytes of the workbook read so far (the sheet is most of a big one).
    """
    with binary_file(source, rewind=False) as binary:
        position = binary.tell if binary.seekable() else lambda: 0
        start = position()
        with _workbook(binary) as workbook:
            if fmt.sheet not in workbook.sheetnames:
                raise CsvFormatError(f"The workbook has no sheet “{fmt.sheet}” any more.")
            rows = _sheet_rows(workbook[fmt.sheet], fmt.phone_column)
            try:
                if fmt.has_header:
                    next(rows, None)
                for count, row in enumerate(rows, start=1):
                    if progress is not None and count % PROGRESS_EVERY_ROWS == 0:
                        progress(position() - start)
                    yield row
            except _DAMAGED as error:
                raise _damaged(error) from None
            if progress is not None:
                progress(position() - start)


# What openpyxl raises for a damaged or unusual workbook.
_DAMAGED = (
    zipfile.BadZipFile,
    InvalidFileException,
    SyntaxError,  # the XML parsers' errors
    KeyError,
    ValueError,
    TypeError,
    OSError,
    EOFError,
)


@contextmanager
def _workbook(source: Source) -> Iterator[Workbook]:
    with binary_file(source, rewind=True) as binary:
        try:
            # data_only=False: a formula reads as its text ("=A2&B2"), so one in the phone
            # column is rejected rather than taken at a cached value that may be stale or absent.
            reader = _StreamingReader(binary, read_only=True, data_only=False)
            reader.read()
            workbook = reader.wb
        except _DAMAGED as error:
            raise _damaged(error) from None
        try:
            yield workbook
        finally:
            workbook.close()


class _StreamingReader(ExcelReader):
    """openpyxl's workbook reader (what load_workbook uses), with the shared strings read as the
    rows need them: a preview of the first rows reads a few, not the whole table, and each is
    parsed without building openpyxl's rich-text objects (20 times faster for a big table)."""

    def read_strings(self) -> None:
        part = self.package.find(SHARED_STRINGS)
        self.shared_strings = _SharedStrings(
            self.archive.open(part.PartName[1:]) if part is not None else None
        )


_ROW = f"{{{SHEET_MAIN_NS}}}row"
_C = f"{{{SHEET_MAIN_NS}}}c"
_V = f"{{{SHEET_MAIN_NS}}}v"
_F = f"{{{SHEET_MAIN_NS}}}f"
_IS = f"{{{SHEET_MAIN_NS}}}is"
_SI = f"{{{SHEET_MAIN_NS}}}si"
_T = f"{{{SHEET_MAIN_NS}}}t"
_R = f"{{{SHEET_MAIN_NS}}}r"


class _SharedStrings:
    """A workbook's shared-strings table, read up to the highest index asked for so far.

    A sheet of a million rows can share two million strings; as Python strings in a list they
    take about 60 bytes each, so they are kept as one UTF-8 buffer and the end of each in an
    array (a string's bytes and 8 more), and decoded when a cell asks for one.
    """

    def __init__(self, source: Any) -> None:
        self._text = bytearray()
        self._ends = array("Q")
        self._unread = _strings_of(source) if source is not None else iter(())

    def __getitem__(self, index: int) -> str:
        ends = self._ends
        while len(ends) <= index:
            text = next(self._unread, None)
            if text is None:
                raise KeyError(f"shared string {index} is missing")
            self._text += text.encode("utf-8", "surrogatepass")
            ends.append(len(self._text))
        start = ends[index - 1] if index else 0
        return self._text[start : ends[index]].decode("utf-8", "surrogatepass")


def _elements(source: Any, tag: str) -> Iterator[Any]:
    """Each ``tag`` element of an XML part once parsed, let go of once the caller is done with
    it (parsed elements stay in the tree otherwise: about 100 bytes each).

    lxml's parser, in C, is several times faster than the standard library's for a big sheet.
    An uploaded file is not trusted: no entities are expanded, no DTD or network is read.
    """
    events = etree.iterparse(
        source,
        events=("end",),
        tag=tag,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=True,  # a sheet of a million rows is a big tree, read one element at a time
    )
    for _, element in events:
        yield element
        element.clear(keep_tail=True)
        while element.getprevious() is not None:
            del element.getparent()[0]


def _strings_of(source: Any) -> Iterator[str]:
    for element in _elements(source, _SI):
        yield _si_text(element)


def _si_text(element: Any) -> str:
    """The text of a shared string: its <t>, or its rich-text runs; phonetic guides left out."""
    parts = []
    for child in element:
        if child.tag == _T:
            parts.append(child.text or "")
        elif child.tag == _R:
            parts.extend(run.text or "" for run in child if run.tag == _T)
    return "".join(parts).replace("x005F_", "")


def _damaged(error: Exception) -> CsvFormatError:
    return CsvFormatError(
        f"The workbook cannot be read ({type(error).__name__}): it may be damaged. "
        "Open it in Excel and save it again, or save it as “CSV UTF-8”."
    )


def _sheet_rows(worksheet: Any, phone_column: int | None) -> Iterator[CsvRow]:
    """The non-blank rows of a worksheet as text cells, with their row numbers."""
    workbook = worksheet.parent
    with workbook._archive.open(worksheet._worksheet_path) as source:
        parser = _RowParser(
            source,
            worksheet._shared_strings,
            data_only=False,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,
            timedelta_formats=workbook._timedelta_formats,
        )
        for line, parsed in parser.rows():
            if not parsed:
                continue
            values: list[object] = [None] * max(column for column, _ in parsed)
            for column, value in parsed:
                values[column - 1] = value
            cells = [cell_text(value) for value in values]
            while cells and not cells[-1]:
                cells.pop()
            if is_blank(cells):
                continue
            problem = None
            if phone_column is not None and phone_column < len(values):
                problem = phone_problem(values[phone_column])
            yield CsvRow(line, cells, problem)


class _RowParser(WorkSheetParser):
    """openpyxl's worksheet parser's rules for a cell's value (types, dates by style, formulas
    with openpyxl's own `parse_formula`), reading only the rows, one at a time.

    What openpyxl's read-only worksheets iterate over keeps every parsed row element in the
    tree (emptied, but there: about 70 bytes a row), trusts the sheet's recorded dimensions
    (often wrong) and looks up each cell's parts one by one. This holds one row at a time,
    reads the rows that are there and each cell's children in one pass: about twice as fast.
    """

    def rows(self) -> Iterator[tuple[int, list[tuple[int, Any]]]]:
        """(row number, [(column number, value), ...]) for each row element."""
        number = 0
        for element in _elements(self.source, _ROW):
            given = element.get("r")
            number = _row_number(given) if given else number + 1
            column = 0
            cells = []
            for cell in element:
                if cell.tag == _C:
                    coordinate = cell.get("r")
                    column = _column_of(coordinate) if coordinate else column + 1
                    cells.append((column, self._value(cell)))
            yield number, cells

    def _value(self, cell: Any) -> Any:
        """The cell's value as openpyxl's `parse_cell` gives it (with data_only=False)."""
        data_type = cell.get("t", "n")
        value = formula = inline = None
        for child in cell:
            tag = child.tag
            if tag == _V:
                if value is None:
                    value = child.text or None
            elif tag == _F:
                formula = child
            elif tag == _IS:
                inline = child
        if formula is not None and not self.data_only:
            return self.parse_formula(cell)
        if data_type == "inlineStr":
            return _si_text(inline) if inline is not None else None
        if value is None:
            return None
        if data_type == "n":
            number = _cast_number(value)
            style = cell.get("s")
            style_id = int(style) if style else 0
            if style_id not in self.date_formats:
                return number
            try:
                return from_excel(number, self.epoch, timedelta=style_id in self.timedelta_formats)
            except (OverflowError, ValueError):
                return "#VALUE!"  # marked as a date, but outside the dates there are
        if data_type == "s":
            return self.shared_strings[int(value)]
        if data_type == "b":
            return bool(int(value))
        if data_type == "d":
            return from_ISO8601(value)
        return value  # "str" (a formula's text result), "e" (an error such as #N/A)


def _row_number(given: str) -> int:
    try:
        return int(given)
    except ValueError:
        number = float(given)
        if not number.is_integer():
            raise ValueError(f"{given} is not a valid row number") from None
        return int(number)


def _column_of(coordinate: str) -> int:
    """The column number of a cell reference such as "AB12" (28)."""
    return column_index_from_string(coordinate.rstrip("0123456789"))


def cell_text(value: object) -> str:
    """A cell's value as the text a person sees in Excel's General format."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 10**EXCEL_DIGITS:
            return str(int(value))
        return f"{value:.{EXCEL_DIGITS}g}"
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return str(value)
    return str(value)


def phone_problem(value: object) -> str | None:
    """Why a phone column's cell cannot hold a phone number, from its type; None if it may."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time | datetime.timedelta):
        return (
            f"a date or time ({cell_text(value)}), not a phone number: format the column "
            "as Text in Excel and type the numbers again"
        )
    if isinstance(value, str) and value.startswith("="):
        shown = value if len(value) <= 40 else value[:39] + "…"
        return (
            f"a formula ({shown}), not a phone number: copy the column and paste it back "
            "with Paste Special › Values"
        )
    if isinstance(value, bool):
        return f"{cell_text(value)} is not a phone number"
    if isinstance(value, float):
        if not value.is_integer():
            return f"a number with decimals ({cell_text(value)}), not a phone number"
        if abs(value) >= 10**EXCEL_DIGITS:
            return (
                f"a number longer than the {EXCEL_DIGITS} digits Excel keeps "
                f"({cell_text(value)}): format the column as Text and type the numbers again"
            )
    if isinstance(value, int) and abs(value) >= 10**EXCEL_DIGITS:
        return (
            f"a number longer than the {EXCEL_DIGITS} digits Excel keeps ({value}): "
            "format the column as Text and type the numbers again"
        )
    return None
