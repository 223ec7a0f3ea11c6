"""Benchmark the whole list import of an Excel workbook, beside bench_import.py's CSV figures.

Generates .xlsx workbooks of 100,000 and 1,000,000 rows with the rows of bench_import_parse.py
(mixed phone formats, ~5 % duplicates written differently, ~3 % invalid cells, two fields),
written as Excel writes them: numbers that are only digits as number cells, everything else as
shared strings, a header row, and an empty row every thousand rows. Each is imported with
`services.imports.import_file` in a fresh process while this process samples the memory of that
process and its children (fork server, normalising workers) as PSS every 100 ms; see
bench_import.py, whose measuring this reuses.

    .venv/bin/python bench/bench_import_xlsx.py [--sizes 100000 1000000]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_import]

Goal (issue 15): 1,000,000 rows in under 90 s and under 300 MB for the whole process tree.
"""

from __future__ import annotations

import csv
import sys
import tempfile
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from bench_import import arguments, bench_sizes  # noqa: E402
from bench_import_parse import generate  # noqa: E402

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml"
  ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml"
  ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/sharedStrings.xml"
  ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>
</Types>"""
_ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1"
  Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
  Target="xl/workbook.xml"/>
</Relationships>"""
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="Customers" sheetId="1" r:id="rId1"/></sheets>
</workbook>"""
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1"
  Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
  Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2"
  Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
  Target="sharedStrings.xml"/>
</Relationships>"""
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_COLUMNS = "ABC"


def generate_xlsx(path: Path, rows: int) -> None:
    """A workbook with bench_import_parse's rows, written directly as SpreadsheetML."""
    with tempfile.TemporaryDirectory() as directory:
        source = Path(directory) / "rows.csv"
        generate(source, rows)
        strings: dict[str, int] = {}
        with (
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
            source.open(encoding="utf-8", newline="") as file,
        ):
            for name, text in (
                ("[Content_Types].xml", _CONTENT_TYPES),
                ("_rels/.rels", _ROOT_RELS),
                ("xl/workbook.xml", _WORKBOOK),
                ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
            ):
                archive.writestr(name, text)
            with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
                last = rows + 1 + (rows + 1) // 1000
                sheet.write(
                    f'<?xml version="1.0" encoding="UTF-8"?>\n<worksheet xmlns="{_MAIN}">'
                    f'<dimension ref="A1:C{last}"/><sheetData>'.encode()
                )
                line = 0
                for cells in csv.reader(file):
                    line += 1
                    if line % 1000 == 0:
                        line += 1  # an empty row, as people leave them
                    sheet.write(_row(line, cells, strings).encode())
                sheet.write(b"</sheetData></worksheet>")
            with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as table:
                table.write(
                    f'<?xml version="1.0" encoding="UTF-8"?>\n<sst xmlns="{_MAIN}" '
                    f'uniqueCount="{len(strings)}">'.encode()
                )
                for text in strings:
                    table.write(f"<si><t>{escape(text)}</t></si>".encode())
                table.write(b"</sst>")


def _row(line: int, cells: list[str], strings: dict[str, int]) -> str:
    parts = [f'<row r="{line}">']
    for column, text in zip(_COLUMNS, cells, strict=False):
        if not text:
            continue
        reference = f"{column}{line}"
        if text.isdigit() and len(text) <= 15 and not text.startswith("0"):
            parts.append(f'<c r="{reference}"><v>{text}</v></c>')
        else:
            index = strings.setdefault(text, len(strings))
            parts.append(f'<c r="{reference}" t="s"><v>{index}</v></c>')
    parts.append("</row>")
    return "".join(parts)


def main() -> None:
    bench_sizes(arguments(__doc__.split("\n")[0]).parse_args(), generate_xlsx, "xlsx")


if __name__ == "__main__":
    main()
