"""What kind of file an upload is, from its first bytes: text, an Excel workbook, or neither.

People upload what they have at hand: a PNG of a list, a PDF renamed `.csv`, an old `.xls`, a
Numbers document. Each is named in words ("This is a PNG image, not a CSV file") with what to
do instead, before anything tries to read it as rows.
"""

from __future__ import annotations

import codecs
import enum
import zipfile
from typing import BinaryIO

from webapp.csvimport.formats import CsvFormatError

SAMPLE_BYTES = 8 * 1024
"""How much of a file decides what it is."""


class FileKind(enum.Enum):
    TEXT = "text"
    WORKBOOK = "workbook"  # .xlsx or .xlsm, read by webapp.csvimport.xlsx


SAVE_AS_CSV_OR_XLSX = "save it as an Excel workbook (.xlsx) or as “CSV UTF-8” and upload that file"

UPLOAD_INSTEAD = "upload the list itself, as an Excel workbook (.xlsx) or a CSV file"

_SIGNATURES: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program"),
    (b"{\\rtf", "a Rich Text document (RTF)"),
]

_OLD_OFFICE = b"\xd0\xcf\x11\xe0"  # OLE2, the container of .xls, .doc, .msg
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_TEXT_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def identify(file: BinaryIO) -> FileKind:
    """TEXT or WORKBOOK for a file the import can read; CsvFormatError saying what it is if not.

    The file object must be seekable; it is put back where it was.
    """
    start = file.tell()
    try:
        sample = file.read(SAMPLE_BYTES)
        if not sample:
            raise CsvFormatError("The file is empty.")
        if sample.startswith(_ZIP):
            file.seek(start)
            return _zip_kind(file)
    finally:
        file.seek(start)
    if sample.startswith(_OLD_OFFICE):
        raise CsvFormatError(
            "This is an old Excel workbook (.xls) or another old Office document, not a CSV "
            "file. Open it in Excel and choose File › Save As › “Excel Workbook (.xlsx)” or "
            "“CSV UTF-8”, and upload that file."
        )
    for signature, kind in _SIGNATURES:
        if sample.startswith(signature):
            raise CsvFormatError(f"This is {kind}, not a CSV file: {UPLOAD_INSTEAD}.")
    if sample[8:12] == b"WEBP" and sample.startswith(b"RIFF"):
        raise CsvFormatError(f"This is a WebP image, not a CSV file: {UPLOAD_INSTEAD}.")
    if sample[4:8] == b"ftyp":
        raise CsvFormatError(f"This is a video or photo, not a CSV file: {UPLOAD_INSTEAD}.")
    _check_text(sample)
    return FileKind.TEXT


def _zip_kind(file: BinaryIO) -> FileKind:
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError):
        raise CsvFormatError(
            "This is a ZIP archive (perhaps a workbook) that cannot be opened: it may be "
            f"damaged or cut short. Open it again and {SAVE_AS_CSV_OR_XLSX}."
        ) from None
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        if "xl/workbook.bin" in names:
            raise CsvFormatError(
                "This is a binary Excel workbook (.xlsb). In Excel, choose File › Save As › "
                "“Excel Workbook (.xlsx)” or “CSV UTF-8”, and upload that file."
            )
        return FileKind.WORKBOOK
    if (
        "Index/Document.iwa" in names
        or "Index.zip" in names
        or any(name.startswith("Index/") and name.endswith(".iwa") for name in names)
    ):
        raise CsvFormatError(
            "This is an Apple Numbers spreadsheet, which cannot be read here. In Numbers, "
            "choose File › Export To › Excel… (or CSV…), and upload that file."
        )
    if "content.xml" in names and "mimetype" in names:
        raise CsvFormatError(
            "This is an OpenDocument file (LibreOffice), not a CSV file. Choose File › Save As "
            "› “Excel 2007-365 (.xlsx)” or “Text CSV”, and upload that file."
        )
    if "word/document.xml" in names:
        raise CsvFormatError(f"This is a Word document, not a CSV file: {UPLOAD_INSTEAD}.")
    if any(name.startswith("ppt/") for name in names):
        raise CsvFormatError(
            f"This is a PowerPoint presentation, not a CSV file: {UPLOAD_INSTEAD}."
        )
    raise CsvFormatError(
        f"This is a ZIP archive, not a CSV file: unpack it and upload the list inside, or "
        f"{SAVE_AS_CSV_OR_XLSX}."
    )


def _check_text(sample: bytes) -> None:
    """Refuse a sample that is not text in any encoding the import reads."""
    if sample.startswith(_TEXT_BOMS):
        return
    head = sample.lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise CsvFormatError(
            "This is a web page (HTML), not a CSV file: some systems save tables this way "
            f"with an .xls or .csv name. Open it in Excel and {SAVE_AS_CSV_OR_XLSX}."
        )
    if head.startswith(b"<?xml"):
        raise CsvFormatError(
            "This is an XML file (perhaps an “XML Spreadsheet 2003”), not a CSV file. "
            f"Open it in Excel and {SAVE_AS_CSV_OR_XLSX}."
        )
    # Text in the encodings we read holds no NUL and few control characters; UTF-16 without a
    # BOM is the exception worth naming, since it reads as nothing else.
    if b"\x00" in sample:
        if sample[1::2].count(0) > len(sample) // 4 or sample[0::2].count(0) > len(sample) // 4:
            raise CsvFormatError(
                "This file is UTF-16 text without a byte order mark, which cannot be told from "
                "binary data: save it as “CSV UTF-8” and upload that file."
            )
        raise CsvFormatError(f"This is not a text file: {UPLOAD_INSTEAD}.")
    controls = sum(byte < 32 and byte not in b"\t\n\r\x0c" for byte in sample)
    if controls > len(sample) // 20:
        raise CsvFormatError(f"This is not a text file: {UPLOAD_INSTEAD}.")
