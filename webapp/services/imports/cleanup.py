"""Uploads nobody mapped: removed, file and rows, once they have waited long enough.

An upload left at the mapping step is a list with no recipients "waiting for its columns";
after `older_than` it is discarded as if its Discard button had been pressed (a periodic job
calls this, see webapp.tasks).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import ImportStatus, ListImport
from webapp.services.imports.errors import ImportRefused
from webapp.services.imports.run import cancel_import


def discard_abandoned_uploads(
    session: Session, older_than: timedelta, *, now: datetime | None = None
) -> int:
    """Discard every upload still waiting for its columns that was made before now - older_than.

    Its stored file goes, and its list too when the list was made for it and is still empty.
    Returns how many were discarded; one mapped meanwhile is left alone.
    """
    cutoff = (now or datetime.now(UTC)) - older_than
    abandoned = session.scalars(
        select(ListImport.id).where(
            ListImport.status == ImportStatus.AWAITING_COLUMNS,
            ListImport.created_at < cutoff,
        )
    ).all()
    discarded = 0
    for import_id in abandoned:
        list_import = session.get(ListImport, import_id)
        if list_import is None or not list_import.status.awaits_mapping:
            continue
        try:
            cancel_import(session, list_import)
        except ImportRefused:  # mapped and started in the meantime
            session.rollback()
            continue
        discarded += 1
    return discarded
