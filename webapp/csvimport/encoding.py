"""Which text encoding a recipient file is in, and reading it leniently where that is safe."""

from __future__ import annotations

import codecs

import charset_normalizer

from webapp.csvimport.formats import CsvFormatError

# Encodings a recipient file without a BOM that is not UTF-8 is likely to be in: what Excel and
# older CRMs write in Western and Central Europe. Windows-1252 wins ties (see _legacy_encoding).
_LEGACY_ENCODINGS = ["cp1252", "iso8859_15", "cp1250", "cp850", "mac_roman"]
_FALLBACK_ENCODING = "cp1252"


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


def errors_for(encoding: str) -> str:
    return _LENIENT_ERRORS if codecs.lookup(encoding).name in _LENIENT_ENCODINGS else "strict"


def check_encoding(encoding: str) -> None:
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


def decode_sample(sample: bytes, encoding: str, complete: bool) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors_for(encoding))
    try:
        return decoder.decode(sample, final=complete)
    except UnicodeDecodeError as error:
        raise CsvFormatError(
            f"The file is not valid {encoding} text (byte {error.start}): save it as UTF-8."
        ) from None
