"""Importing a recipient file into a list, accounting for every row.

The steps, a module each:

1. `upload`: `store_upload` saves the file under a random name and sniffs it: a `ListImport`
   waiting for its columns.
2. `mapping`: `read_mapping` shows how the file reads, with the user's corrections;
   `confirm_mapping` records the phone column and the columns kept as fields: the import is
   queued.
3. `run`: `run_import` (the background job) streams the file into the list; `cancel_import`.
4. `report`: the counts and the rejected rows, on the page and as CSV.

`cleanup.discard_abandoned_uploads` removes uploads nobody mapped (a periodic job).

`whole_file.import_file` runs all of them at once for the command line. The reading of files
itself is the pure package `webapp.csvimport`.
"""

from webapp.services.imports.cleanup import discard_abandoned_uploads
from webapp.services.imports.errors import (
    ImportCancelled,
    ImportRefused,
    MappingInvalid,
    UploadMissing,
)
from webapp.services.imports.limits import MAX_COLUMNS, MAX_FIELD_LENGTH
from webapp.services.imports.mapping import (
    DELIMITER_NAMES,
    ENCODINGS,
    ImportMapping,
    confirm_mapping,
    read_mapping,
    resolve_column,
)
from webapp.services.imports.mixed_encoding import MixedEncoding, find_mixed_encoding
from webapp.services.imports.report import (
    cells_of,
    rejected_rows,
    rejected_rows_csv,
    rejected_rows_dialect,
    report,
)
from webapp.services.imports.run import (
    CHUNK_ROWS,
    ProgressCallback,
    cancel_import,
    default_workers,
    restart_stalled_imports,
    run_import,
)
from webapp.services.imports.upload import import_under_way, store_upload
from webapp.services.imports.whole_file import import_file

__all__ = [
    "CHUNK_ROWS",
    "DELIMITER_NAMES",
    "ENCODINGS",
    "MAX_COLUMNS",
    "MAX_FIELD_LENGTH",
    "ImportCancelled",
    "ImportMapping",
    "ImportRefused",
    "MappingInvalid",
    "MixedEncoding",
    "ProgressCallback",
    "UploadMissing",
    "cancel_import",
    "cells_of",
    "confirm_mapping",
    "default_workers",
    "find_mixed_encoding",
    "discard_abandoned_uploads",
    "import_file",
    "import_under_way",
    "read_mapping",
    "rejected_rows",
    "rejected_rows_csv",
    "rejected_rows_dialect",
    "report",
    "resolve_column",
    "restart_stalled_imports",
    "run_import",
    "store_upload",
]
