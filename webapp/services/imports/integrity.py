"""Is the stored upload still the file that was uploaded? Its size and checksum are compared at
the end of the import, so a file truncated or rewritten while it was read fails the import
instead of finishing "done" with part of its rows."""

from __future__ import annotations

import hashlib
from pathlib import Path

from webapp.models import ListImport
from webapp.services.imports.errors import ImportRefused, UploadMissing

_BLOCK = 1024 * 1024


def file_checksum(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def check_unchanged(list_import: ListImport, path: str | Path) -> None:
    """Raise ImportRefused when the file's size or checksum differs from the upload's."""
    try:
        size = Path(path).stat().st_size
    except FileNotFoundError:
        raise UploadMissing() from None
    if size != list_import.size_bytes:
        raise ImportRefused(
            f"The file changed while it was being imported: it is now {size:,} bytes, "
            f"{list_import.size_bytes:,} when it was uploaded. Upload it again."
        )
    if list_import.sha256 and file_checksum(path) != list_import.sha256:
        raise ImportRefused(
            "The file changed while it was being imported (its contents differ from the "
            "upload's). Upload it again."
        )
