"""What can stop an upload, a mapping or an import, in words a user can act on."""

from __future__ import annotations


class ImportRefused(ValueError):
    """An upload, mapping or import that cannot go ahead; the message says what to do."""


class UploadMissing(ImportRefused):
    """The stored upload is no longer on disk (deleted, or cleaned up before it was mapped)."""

    def __init__(self):
        super().__init__(
            "The uploaded file is no longer on the server (it may have been cleaned up). "
            "Upload it again."
        )


class MappingInvalid(ImportRefused):
    """The mapping has mistakes: `errors` maps "phone_column" or "name_<column>" to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors


class ImportCancelled(Exception):
    """The import was cancelled (or its list deleted) while it ran."""
