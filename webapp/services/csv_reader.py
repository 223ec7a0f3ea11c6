"""Reading recipient CSV files as Excel, Sheets and CRMs write them, accounting for every row.

The database-free core of the list import: detect a file's encoding, delimiter and header
(`sniff_csv`), stream its rows with their line numbers in the original file (`iter_rows`), and
sort every row into exactly one outcome: imported, invalid, duplicate or opted out
(`classify_rows`, or `classify_rows_parallel` to use every core). Nothing here reads the whole
file into memory: only the numbers already seen are kept, to find duplicates.
"""

from __future__ import annotations

import codecs
import csv
import enum
import io
import itertools
import multiprocessing
import multiprocessing.context
import os
from array import array
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

import charset_normalizer

from webapp.sms.phones import (
    fold_name,
    guess_phone_column,
    is_phone_header,
    normalise_msisdn,
)

SAMPLE_BYTES = 64 * 1024
"""How much of the file decides its encoding and delimiter."""

PREVIEW_ROWS = 10
"""Data rows shown in the mapping step."""

DELIMITERS = (",", ";", "\t")

CHUNK_ROWS = 5_000
"""Rows per task in classify_rows_parallel: big enough to pay for the trip to a worker."""

PARALLEL_MIN_ROWS = 50_000
"""Below this, starting worker processes costs more than it saves."""

PROGRESS_EVERY_ROWS = 5_000

_HEADER_SAMPLE_ROWS = 50
"""Rows read to judge whether the first row is a header and which column holds the phones."""

# Encodings a recipient file without a BOM that is not UTF-8 is likely to be in: what Excel and
# older CRMs write in Western and Central Europe. Windows-1252 wins ties (see _legacy_encoding).
_LEGACY_ENCODINGS = ["cp1252", "iso8859_15", "cp1250", "cp850", "mac_roman"]
_FALLBACK_ENCODING = "cp1252"

Source = str | os.PathLike[str] | BinaryIO
"""A path to a CSV file, or a binary file object positioned at its start (seekable for sniff)."""


class CsvFormatError(ValueError):
    """The file cannot be read as CSV; the message says where and what to do about it."""


@dataclass(frozen=True)
class CsvFormat:
    """How to read one file, as sniffed; the mapping step may replace fields the user corrects.

    `columns` are the header's names (blank ones as "column_N"), or "column_1", ... without a
    header; rows further down may have more cells than `columns` has names.
    """

    encoding: str
    delimiter: str
    has_header: bool
    columns: list[str]
    preview_rows: list[list[str]]
    phone_column: int | None


class CsvRow(NamedTuple):
    """One data row: `line` is the 1-based line of the original file on which it starts."""

    line: int
    cells: list[str]


class Outcome(enum.StrEnum):
    IMPORTED = "imported"
    INVALID = "invalid"
    DUPLICATE = "duplicate"
    OPTED_OUT = "opted_out"


class ClassifiedRow(NamedTuple):
    """What became of one row.

    Every outcome has `line`. IMPORTED has `msisdn`, `country`, `landline` and `fields`
    (personalisation values by tag name). The others have `reason` (for the rejected-rows
    download) and the row's raw `cells`; DUPLICATE and OPTED_OUT also have `msisdn`, and
    DUPLICATE has `first_line`, the line of the imported row it repeats.
    """

    line: int
    outcome: Outcome
    msisdn: str | None = None
    country: str | None = None
    landline: bool = False
    fields: dict[str, str] | None = None
    reason: str | None = None
    cells: list[str] | None = None
    first_line: int | None = None


@dataclass
class ImportCounts:
    """Running totals of an import; `rows == imported + invalid + duplicates + opted_out`.

    `landlines` counts imported numbers typed as fixed-line (already within `imported`).
    """

    rows: int = 0
    imported: int = 0
    invalid: int = 0
    duplicates: int = 0
    opted_out: int = 0
    landlines: int = 0

    def add(self, row: ClassifiedRow) -> None:
        self.rows += 1
        match row.outcome:
            case Outcome.IMPORTED:
                self.imported += 1
                self.landlines += row.landline
            case Outcome.INVALID:
                self.invalid += 1
            case Outcome.DUPLICATE:
                self.duplicates += 1
            case Outcome.OPTED_OUT:
                self.opted_out += 1

    @property
    def balanced(self) -> bool:
        """True when every row is accounted for exactly once."""
        return self.rows == self.imported + self.invalid + self.duplicates + self.opted_out

    def as_dict(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "imported": self.imported,
            "invalid": self.invalid,
            "duplicates": self.duplicates,
            "opted_out": self.opted_out,
            "landlines": self.landlines,
        }


OPTED_OUT_REASON = "on the opt-out list"


def sniff_csv(
    source: Source,
    default_country: str,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    has_header: bool | None = None,
) -> CsvFormat:
    """Detect how to read a CSV file, for the mapping step and for iter_rows.

    The keyword arguments fix what the user corrected in the mapping step and detect the rest.
    The phone column is guessed with default_country (the workspace's region code, e.g. "DK").
    Reads only the first 64 KB and the first rows; a file object is put back where it was.
    Raises CsvFormatError for a file that cannot be read as text.
    """
    if delimiter is not None and delimiter not in DELIMITERS:
        raise CsvFormatError(f"Unsupported delimiter {delimiter!r}: use comma, semicolon or tab.")
    with _binary(source, rewind=True) as binary:
        start = binary.tell()
        sample = binary.read(SAMPLE_BYTES)
        complete = len(sample) < SAMPLE_BYTES
        binary.seek(start)
        if encoding is None:
            encoding = detect_encoding(sample, complete=complete)
        else:
            _check_encoding(encoding)
        if delimiter is None:
            delimiter = _detect_delimiter(
                _decode_sample(sample, encoding, complete), complete=complete
            )
        with _text(binary, encoding) as text:
            first_rows = [
                row.cells
                for row in itertools.islice(
                    _read_rows(text, delimiter, encoding), _HEADER_SAMPLE_ROWS + 1
                )
            ]
    if has_header is None:
        has_header = bool(first_rows) and _looks_like_header(
            first_rows[0], first_rows[1:], default_country
        )
    data_rows = first_rows[1:] if has_header else first_rows
    width = max((len(cells) for cells in first_rows), default=0)
    columns = [f"column_{index + 1}" for index in range(width)]
    if has_header and first_rows:
        for index, name in enumerate(first_rows[0]):
            columns[index] = name.strip() or columns[index]
    return CsvFormat(
        encoding=encoding,
        delimiter=delimiter,
        has_header=has_header,
        columns=columns,
        preview_rows=data_rows[:PREVIEW_ROWS],
        phone_column=guess_phone_column(columns, data_rows, default_country),
    )


def iter_rows(
    source: Source, fmt: CsvFormat, *, progress: Callable[[int], None] | None = None
) -> Iterator[CsvRow]:
    """Stream the data rows of a file with the line each starts on, header left out.

    A line that is empty or holds only whitespace is not a row (nor is a row whose only cell
    is blank); a row of empty cells (`,,`) is. Cells are kept as they are, however many there
    are: the caller decides what a short or long row means. `progress`, if given, is called
    with the number of bytes read so far every few thousand rows and at the end.
    Raises CsvFormatError for text that does not decode or CSV that does not parse.
    """
    with _binary(source, rewind=False) as binary:
        # A stream that cannot tell where it is (a pipe) reports no progress rather than fail.
        position = binary.tell if binary.seekable() else lambda: 0
        start = position()
        with _text(binary, fmt.encoding) as text:
            yield from _rows_with_progress(text, fmt, progress, lambda: position() - start)


def _rows_with_progress(
    text: Iterable[str],
    fmt: CsvFormat,
    progress: Callable[[int], None] | None,
    bytes_read: Callable[[], int],
) -> Iterator[CsvRow]:
    rows = _read_rows(text, fmt.delimiter, fmt.encoding)
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


def classify_rows(
    rows: Iterable[CsvRow],
    phone_column: int,
    field_columns: Mapping[str, int],
    default_country: str,
    opted_out: Container[str],
) -> Iterator[ClassifiedRow]:
    """Yield exactly one outcome per row, in order, keeping the first occurrence of a number.

    field_columns maps a tag name to the column holding its values (see unique_tag_names);
    opted_out holds MSISDNs ("4520123456"). A number on the opt-out list is OPTED_OUT wherever
    it appears; a DUPLICATE always points at the IMPORTED row it repeats.
    """
    _check_phone_column(phone_column)
    classifier = _Classifier(field_columns, opted_out)
    for row in rows:
        cell = row.cells[phone_column] if phone_column < len(row.cells) else ""
        yield classifier.classify(row, normalise_msisdn(cell, default_country))


def classify_rows_parallel(
    rows: Iterable[CsvRow],
    phone_column: int,
    field_columns: Mapping[str, int],
    default_country: str,
    opted_out: Container[str],
    *,
    workers: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
    min_rows: int = PARALLEL_MIN_ROWS,
) -> Iterator[ClassifiedRow]:
    """classify_rows with the phone numbers normalised in worker processes; same results.

    Rows go to `workers` processes (default: one per core) in chunks of chunk_rows, with at
    most two chunks per worker in flight, so memory stays bounded; duplicates and opt-outs are
    sorted out here, in order. Files under min_rows rows are classified in this process.
    Workers come from a fork server (see _worker_context), so a threaded caller such as a web
    server or a task queue is safe. As with any spawned worker, the program's main module must
    keep its work under `if __name__ == "__main__":` (flask, huey and gunicorn do).
    """
    _check_phone_column(phone_column)
    if workers is None:
        workers = os.cpu_count() or 1
    chunks = _chunked(rows, chunk_rows)
    head = list(itertools.islice(chunks, max(1, -(-min_rows // chunk_rows))))
    if not head:
        return
    if workers < 1 or sum(len(chunk) for chunk in head) < min_rows:
        yield from classify_rows(
            itertools.chain.from_iterable(itertools.chain(head, chunks)),
            phone_column,
            field_columns,
            default_country,
            opted_out,
        )
        return
    normalise_msisdn("", default_country)  # an unknown country fails here, not in a worker
    classifier = _Classifier(field_columns, opted_out)
    pending: deque[tuple[list[CsvRow], Future[list[PhoneFields]]]] = deque()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_worker_context())
    try:
        for chunk in itertools.chain(head, chunks):
            cells = [
                row.cells[phone_column] if phone_column < len(row.cells) else "" for row in chunk
            ]
            pending.append((chunk, pool.submit(_normalise_cells, cells, default_country)))
            if len(pending) >= 2 * workers:
                yield from classifier.classify_chunk(*_result_of(pending.popleft()))
        while pending:
            yield from classifier.classify_chunk(*_result_of(pending.popleft()))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def tag_name(column_header: str) -> str:
    """The personalisation tag for a column: "First name" -> "first_name", "Fornavn" -> "fornavn".

    Lower case ASCII letters, digits and underscores (æ, ø, å become ae, oe, aa; other accents
    are dropped); "field" when nothing is left.
    """
    return fold_name(column_header) or "field"


def unique_tag_names(column_headers: Sequence[str]) -> list[str]:
    """tag_name for each column, with "_2", "_3", ... added where two columns would clash."""
    names: list[str] = []
    taken: set[str] = set()
    for header in column_headers:
        base = name = tag_name(header)
        suffix = 2
        while name in taken:
            name = f"{base}_{suffix}"
            suffix += 1
        taken.add(name)
        names.append(name)
    return names


def detect_encoding(sample: bytes, *, complete: bool = False) -> str:
    """The encoding of a file from its first bytes, decided in a fixed order.

    A UTF-8 BOM gives "utf-8-sig", a UTF-16 BOM "utf-16", text that decodes as UTF-8 "utf-8";
    anything else goes to charset-normalizer among legacy Western and Central European
    encodings, Windows-1252 winning ties and when it has no answer. `complete` says the
    sample is the whole file (otherwise a character cut at its end is not an error).
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
    except UnicodeDecodeError:
        return _legacy_encoding(sample)
    return "utf-8"


# Bytes a UTF-8 or Windows-1252 file should not hold are read as Windows-1252, and the five
# bytes Windows-1252 leaves undefined as the Latin-1 control characters: a file whose first
# 64 KB happen to be plain ASCII can still hold "Søren" in Windows-1252 further down, and an
# export that glued files of both encodings together is not worth rejecting.
_LENIENT_ERRORS = "sms_csv_as_cp1252"
_CP1252_BYTES = [
    bytes([value]).decode("cp1252", errors="ignore") or chr(value) for value in range(256)
]


def _decode_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(_CP1252_BYTES[value] for value in bad), error.end


codecs.register_error(_LENIENT_ERRORS, _decode_as_cp1252)
_LENIENT_ENCODINGS = {"utf-8", "utf-8-sig", "cp1252"}


def _errors_for(encoding: str) -> str:
    return _LENIENT_ERRORS if codecs.lookup(encoding).name in _LENIENT_ENCODINGS else "strict"


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise CsvFormatError(f"Unknown text encoding {encoding!r}.") from None


def _legacy_encoding(sample: bytes) -> str:
    matches = charset_normalizer.from_bytes(sample, cp_isolation=_LEGACY_ENCODINGS)
    best = matches.best()
    if best is None:
        return _FALLBACK_ENCODING
    # charset-normalizer ranks equally good candidates by name, which puts cp1250 before
    # cp1252 for most Danish text (and reads "Århus" as "Ĺrhus"); Windows-1252 is what Excel
    # writes in Western Europe, so it wins unless another encoding reads the text better.
    for match in matches:
        if (
            match.encoding == _FALLBACK_ENCODING
            and match.chaos <= best.chaos
            and match.coherence >= best.coherence
        ):
            return _FALLBACK_ENCODING
    return best.encoding


def _decode_sample(sample: bytes, encoding: str, complete: bool) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors=_errors_for(encoding))
    try:
        return decoder.decode(sample, final=complete)
    except UnicodeDecodeError as error:
        raise CsvFormatError(
            f"The file is not valid {encoding} text (byte {error.start}): save it as UTF-8."
        ) from None


def _detect_delimiter(sample: str, *, complete: bool) -> str:
    """The delimiter that splits the sample's rows most consistently into more than one cell.

    Counting instead of csv.Sniffer: Sniffer gives up on a one-column file and is swayed by
    a semicolon or comma inside a few cells. A delimiter scores by the share of rows having its
    most common cell count, then by that count; a one-column file gets a comma.
    """
    if not complete and ("\n" in sample or "\r" in sample):
        sample = sample[: max(sample.rfind("\n"), sample.rfind("\r")) + 1]  # a cut last line
    best, best_score = ",", (0.0, 1)
    for delimiter in DELIMITERS:
        counts = [
            len(row)
            for row in itertools.islice(
                csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), 200
            )
            if row
        ]
        if not counts:
            continue
        usual = max(set(counts), key=lambda count: (counts.count(count), count))
        score = (counts.count(usual) / len(counts), usual)
        if usual > 1 and score > best_score:
            best, best_score = delimiter, score
    return best


def _looks_like_header(
    first: Sequence[str], rest: Sequence[Sequence[str]], default_country: str
) -> bool:
    """Whether a file's first row names its columns.

    A header holds no valid phone number; it holds a phone column name, or else distinct cells
    that each contain a letter, one of them above a column whose other cells are mostly digits
    (the phone column, even when its numbers are broken). A one-row file of words is a header.
    """
    cells = [cell.strip() for cell in first if cell.strip()]
    if not cells:
        return False
    if any(normalise_msisdn(cell, default_country).is_valid for cell in cells):
        return False
    if any(is_phone_header(cell) for cell in cells):
        return True
    if len({cell.casefold() for cell in cells}) < len(cells):
        return False
    if not all(any(character.isalpha() for character in cell) for cell in cells):
        return False
    return not rest or any(
        _mostly_digits(rest, index) for index, cell in enumerate(first) if cell.strip()
    )


def _mostly_digits(rows: Sequence[Sequence[str]], index: int) -> bool:
    """Whether most non-empty cells of a column are mostly digits, like phone numbers."""
    cells = [row[index] for row in rows if index < len(row) and row[index].strip()]
    numeric = sum(2 * sum(c.isdigit() for c in cell) >= len(cell.strip()) for cell in cells)
    return bool(cells) and 2 * numeric >= len(cells)


@contextmanager
def _binary(source: Source, *, rewind: bool) -> Iterator[BinaryIO]:
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
def _text(binary: BinaryIO, encoding: str) -> Iterator[io.TextIOWrapper]:
    """The binary file as text; detached afterwards, so the caller's file object stays open."""
    text = io.TextIOWrapper(binary, encoding=encoding, errors=_errors_for(encoding), newline="")
    try:
        yield text
    finally:
        text.detach()


def _read_rows(text: Iterable[str], delimiter: str, encoding: str) -> Iterator[CsvRow]:
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
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        yield CsvRow(line, cells)


PhoneFields = tuple[str | None, str | None, str | None, bool]
"""A PhoneResult's fields (msisdn, country, reason, landline), as a worker sends them back."""


class _Classifier:
    """The ordered, stateful half of classification: duplicates, opt-outs and fields."""

    def __init__(self, field_columns: Mapping[str, int], opted_out: Container[str]) -> None:
        self._fields = list(field_columns.items())
        self._opted_out = opted_out
        self._first_lines = _FirstLines()

    def classify(self, row: CsvRow, phone: PhoneFields) -> ClassifiedRow:
        msisdn, country, reason, landline = phone
        if msisdn is None:
            return ClassifiedRow(row.line, Outcome.INVALID, reason=reason, cells=row.cells)
        if msisdn in self._opted_out:
            return ClassifiedRow(
                row.line, Outcome.OPTED_OUT, msisdn, reason=OPTED_OUT_REASON, cells=row.cells
            )
        first_line = self._first_lines.setdefault(int(msisdn), row.line)
        if first_line != row.line:
            return ClassifiedRow(
                row.line,
                Outcome.DUPLICATE,
                msisdn,
                reason=f"duplicate of line {first_line}",
                cells=row.cells,
                first_line=first_line,
            )
        cells = row.cells
        fields = {
            name: cells[index].strip() if index < len(cells) else "" for name, index in self._fields
        }
        return ClassifiedRow(
            row.line,
            Outcome.IMPORTED,
            msisdn,
            country,
            landline,
            fields,
        )

    def classify_chunk(
        self, rows: Sequence[CsvRow], phones: Sequence[PhoneFields]
    ) -> Iterator[ClassifiedRow]:
        for row, phone in zip(rows, phones, strict=True):
            yield self.classify(row, phone)


class _FirstLines:
    """The line each imported number first appeared on, for a million numbers in ~35 MB.

    An open-addressing hash table over two arrays (MSISDN as a 64-bit int, never 0 and never
    with a leading zero; line as a 32-bit int), at most half full. A dict of ints would take
    ~120 bytes an entry, over 100 MB for a million-row file; this takes 24 at most.
    """

    _MIX = 0x9E3779B97F4A7C15  # Fibonacci hashing: spreads numbers that differ in few digits

    def __init__(self, capacity: int = 1 << 16) -> None:
        self._allocate(capacity)

    def setdefault(self, msisdn: int, line: int) -> int:
        """The line msisdn was first seen on, recording `line` if this is the first time."""
        keys, mask = self._keys, self._mask
        slot = ((msisdn * self._MIX) >> 24) & mask
        while (found := keys[slot]) != 0:
            if found == msisdn:
                return self._lines[slot]
            slot = (slot + 1) & mask
        keys[slot] = msisdn
        self._lines[slot] = line
        self._size += 1
        if 2 * self._size > mask:
            self._grow()
        return line

    def _allocate(self, capacity: int) -> None:
        self._keys = array("q", bytes(8 * capacity))
        self._lines = array("i", bytes(4 * capacity))
        self._mask = capacity - 1
        self._size = 0

    def _grow(self) -> None:
        keys, lines = self._keys, self._lines
        self._allocate(2 * len(keys))
        for msisdn, line in zip(keys, lines, strict=True):
            if msisdn:
                self.setdefault(msisdn, line)


def _check_phone_column(phone_column: int | None) -> None:
    if phone_column is None or phone_column < 0:
        raise ValueError("Choose the column that holds the phone numbers.")


def _worker_context() -> multiprocessing.context.BaseContext:
    """Where worker processes come from: a fork server that has imported this module once.

    Forking the caller directly is unsafe when it runs threads (a lock held by another thread
    stays locked in the child), and spawning re-imports the whole app (Flask, SQLAlchemy) in
    every worker. The fork server is a clean single-threaded process started once, on first
    use, and each worker is a cheap fork of it. Not on Windows: plain spawn there.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _normalise_cells(cells: list[str], default_country: str) -> list[PhoneFields]:
    """A worker's task in classify_rows_parallel: plain tuples, which pickle faster."""
    return [tuple(normalise_msisdn(cell, default_country)) for cell in cells]


def _result_of(
    pending: tuple[list[CsvRow], Future[list[PhoneFields]]],
) -> tuple[list[CsvRow], list[PhoneFields]]:
    chunk, future = pending
    return chunk, future.result()


def _chunked(rows: Iterable[CsvRow], size: int) -> Iterator[list[CsvRow]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


__all__ = [
    "DELIMITERS",
    "OPTED_OUT_REASON",
    "PREVIEW_ROWS",
    "ClassifiedRow",
    "CsvFormat",
    "CsvFormatError",
    "CsvRow",
    "ImportCounts",
    "Outcome",
    "Source",
    "classify_rows",
    "classify_rows_parallel",
    "detect_encoding",
    "iter_rows",
    "sniff_csv",
    "tag_name",
    "unique_tag_names",
]
