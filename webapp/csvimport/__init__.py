"""Reading recipient CSV files and Excel workbooks as Excel, Sheets and CRMs write them,
accounting for every row.

The database-free core of the list import: tell a text file from a workbook and refuse
anything else (`identify`), detect a file's encoding, delimiter and header (`sniff_csv`) or a
workbook's sheet and header (`sniff_xlsx`), stream its rows with their line numbers in the
original file (`iter_rows`), and sort every row into exactly one outcome: imported, invalid,
duplicate or opted out (`classify_rows`, or `classify_rows_parallel` to use every core).
Nothing here reads the whole file into memory: only the numbers already seen are kept, to find
duplicates. Pure: no Flask, no database; only `webapp.sms` for the phone-number rules (and
openpyxl for workbooks).

formats   the shapes handed around (CsvFormat, CsvRow, CsvFormatError)
filetypes what an upload is: text, a workbook, or something named and refused
xlsx      a worksheet read as the same rows, in openpyxl's streaming mode
encoding  detecting the text encoding, lenient decoding
sniff     delimiter, header and phone column of a file
rows      streaming rows with their line numbers
headers   phone-column names, tag names
classify  one outcome per row, the running counts
parallel  classification on every core
"""

from webapp.csvimport.classify import (
    OPTED_OUT_REASON,
    ClassifiedRow,
    ImportCounts,
    Outcome,
    classify_rows,
)
from webapp.csvimport.encoding import detect_encoding
from webapp.csvimport.filetypes import FileKind, identify
from webapp.csvimport.formats import CsvFormat, CsvFormatError, CsvRow, Source
from webapp.csvimport.headers import (
    fold_name,
    guess_phone_column,
    is_phone_header,
    tag_name,
    unique_tag_names,
)
from webapp.csvimport.parallel import classify_rows_parallel
from webapp.csvimport.rows import iter_rows
from webapp.csvimport.sniff import DELIMITERS, PREVIEW_ROWS, sniff_csv
from webapp.csvimport.xlsx import sniff_xlsx

__all__ = [
    "DELIMITERS",
    "OPTED_OUT_REASON",
    "PREVIEW_ROWS",
    "ClassifiedRow",
    "CsvFormat",
    "CsvFormatError",
    "CsvRow",
    "FileKind",
    "ImportCounts",
    "Outcome",
    "Source",
    "classify_rows",
    "classify_rows_parallel",
    "detect_encoding",
    "fold_name",
    "guess_phone_column",
    "identify",
    "is_phone_header",
    "iter_rows",
    "sniff_csv",
    "sniff_xlsx",
    "tag_name",
    "unique_tag_names",
]
