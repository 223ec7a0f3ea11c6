"""Streaming a file's data rows with the line of the original file each starts on."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

from webapp.csvimport.encoding import errors_for
from webapp.csvimport.formats import CsvFormat, CsvFormatError, CsvRow, Source

PROGRESS_EVERY_ROWS = 5_000


def iter_rows(
    source: Source, fmt: CsvFormat, *, progress: Callable[[int], None] | None = None
) -> Iterator[CsvRow]:
    """Stream the data rows of a file with the line each starts on, header left out.

    A line that is empty or holds only blank cells (`;;;;`, as Excel writes its empty rows) is
    not a row. Cells are kept as they are, however many there are: the caller decides what a
    short or long row means. `progress`, if given, is called with the number of bytes read so
    far every few thousand rows and at the end. A format with a sheet reads that worksheet of
    an Excel workbook instead (`webapp.csvimport.xlsx`), with the same promises.
    Raises CsvFormatError for text that does not decode or CSV that does not parse.
    """
    if fmt.is_workbook:
        from webapp.csvimport.xlsx import iter_sheet_rows

        yield from iter_sheet_rows(source, fmt, progress=progress)
        return
    with binary_file(source, rewind=False) as binary:
        # A stream that cannot tell where it is (a pipe) reports no progress rather than fail.
        position = binary.tell if binary.seekable() else lambda: 0
        start = position()
        with text_of(binary, fmt.encoding) as text:
            yield from _rows_with_progress(text, fmt, progress, lambda: position() - start)


def _rows_with_progress(
    text: Iterable[str],
    fmt: CsvFormat,
    progress: Callable[[int], None] | None,
    bytes_read: Callable[[], int],
) -> Iterator[CsvRow]:
    rows = read_rows(text, fmt.delimiter, fmt.encoding)
    if fmt.has_header:
        next(rows, None)
    if progress is None:
        yield from rows
        return
    for count, row in enumerate(rows, start=1):
        if count % PROGRESS_EVERY_ROWS == 0:
            progress(bytes_read())
        yield row
    progress(bytes_read())


@contextmanager
def binary_file(source: Source, *, rewind: bool) -> Iterator[BinaryIO]:
    if isinstance(source, str | os.PathLike):
        try:
            file = open(source, "rb")  # noqa: SIM115 - closed below, after the caller's reads
        except OSError as error:
            raise CsvFormatError(f"Cannot open {os.fspath(source)!r}: {error.strerror}.") from None
        with file:
            yield file
        return
    if not rewind:
        yield source
        return
    if not source.seekable():
        raise CsvFormatError("Sniffing needs a seekable file: save the upload to a file first.")
    start = source.tell()
    try:
        yield source
    finally:
        source.seek(start)


@contextmanager
def text_of(binary: BinaryIO, encoding: str) -> Iterator[io.TextIOWrapper]:
    """The binary file as text; detached afterwards, so the caller's file object stays open."""
    text = io.TextIOWrapper(binary, encoding=encoding, errors=errors_for(encoding), newline="")
    try:
        yield text
    finally:
        text.detach()


def read_rows(text: Iterable[str], delimiter: str, encoding: str) -> Iterator[CsvRow]:
    """Every row of the text, blank lines left out, with the physical line each starts on."""
    reader = csv.reader(text, delimiter=delimiter)
    line_before = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise CsvFormatError(
                f"Line {line_before + 1}: {error}. Is a closing quote missing?"
            ) from None
        except UnicodeDecodeError:
            # The decoder reads ahead of the CSV reader, so the bad bytes are somewhere after.
            raise CsvFormatError(
                f"The text after line {reader.line_num} is not valid {encoding}: "
                "save the file as UTF-8 and try again."
            ) from None
        line = line_before + 1
        line_before = reader.line_num
        if is_blank(cells):
            continue
        yield CsvRow(line, cells)


def is_blank(cells: list[str]) -> bool:
    """Whether a row holds nothing but blank cells: an empty line, or Excel's `;;;;`."""
    # One join and strip in C instead of a Python test per cell: this runs for every row.
    return not "".join(cells).strip()
