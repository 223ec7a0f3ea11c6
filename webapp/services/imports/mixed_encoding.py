"""Files glued together from two encodings: lines in UTF-8 inside a file read as Windows-1252
(which would turn "Søren" into "SÃ¸ren"), or Windows-1252 lines in a UTF-8 file. The mapping
step warns with their line numbers and offers the reading that keeps every name intact."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

LINES_NAMED = 10
_SINGLE_BYTE = {"cp1252", "iso8859-15", "latin-1", "iso8859-1"}
_UTF8 = {"utf-8", "utf-8-sig"}


@dataclass(frozen=True)
class MixedEncoding:
    """Which lines read differently from the rest, what to do, and the encoding to offer
    instead (None: the current reading already keeps the names intact)."""

    lines: list[int]
    message: str
    better_encoding: str | None


def find_mixed_encoding(path: str | Path, encoding: str) -> MixedEncoding | None:
    """Scan the whole file line by line; None when every line fits the file's encoding."""
    name = codecs.lookup(encoding).name
    if name not in _SINGLE_BYTE | _UTF8:
        return None
    utf8_lines: list[int] = []
    other_lines: list[int] = []
    example = None
    with open(path, "rb") as file:
        for number, raw in enumerate(file, start=1):
            if raw.isascii():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                other_lines.append(number)
                continue
            utf8_lines.append(number)
            if example is None:
                example = (number, text.strip(), raw.decode("cp1252", errors="replace").strip())
    if name in _SINGLE_BYTE and utf8_lines:
        # Only mixed files get here: a file in UTF-8 throughout is detected as UTF-8.
        number, right, wrong = example
        return MixedEncoding(
            utf8_lines,
            f"{_lines(utf8_lines)} written in UTF-8, but the file is read as Windows-1252: "
            f"line {number} would read “{wrong[:60]}” instead of “{right[:60]}”. Read the file "
            "as UTF-8 to keep every name intact (lines that are not UTF-8 are then read as "
            "Windows-1252).",
            "utf-8",
        )
    if name in _UTF8 and other_lines:
        return MixedEncoding(
            other_lines,
            f"{_lines(other_lines)} not UTF-8 and read as Windows-1252, which keeps "
            "Danish, Swedish and German names intact. Check their names in the report.",
            None,
        )
    return None


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:LINES_NAMED])
    more = f" and {len(numbers) - LINES_NAMED:,} more" if len(numbers) > LINES_NAMED else ""
    return f"Line {shown} is" if len(numbers) == 1 else f"Lines {shown}{more} are"
