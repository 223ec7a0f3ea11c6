"""A file that changes while it is imported fails the import, which removes what it stored."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import ImportStatus, ListImport, Recipient, RejectedRow
from webapp.services import imports
from webapp.services.imports import ImportMapping


def queued(tmp_path: Path, text: str) -> ListImport:
    source = tmp_path / "people.csv"
    source.write_text(text)
    with source.open("rb") as stream:
        list_import = imports.store_upload(
            db.session, stream, "people.csv", upload_dir=tmp_path / "uploads", default_country="DK"
        )
    fmt, names = imports.read_mapping(list_import)
    return imports.confirm_mapping(
        db.session, list_import, ImportMapping(fmt.phone_column, {1: names[1]})
    )


def rows(count: int) -> str:
    return "phone,name\n" + "".join(
        f"+45 20 12 {n // 100:02d} {n % 100:02d},name {n}\n" for n in range(count)
    )


def stored_anything(import_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Recipient).where(Recipient.import_id == import_id)
    ) + db.session.scalar(
        select(func.count()).select_from(RejectedRow).where(RejectedRow.import_id == import_id)
    )


def test_a_file_truncated_while_it_is_read_fails_the_import(ctx, tmp_path):
    list_import = queued(tmp_path, rows(3_000))
    path, import_id = Path(list_import.stored_path), list_import.id

    def truncate_after_the_first_chunk(counts, bytes_done):
        if counts.rows and path.exists() and path.stat().st_size > 1_000:
            with path.open("r+b") as file:
                file.truncate(1_000)

    finished = imports.run_import(
        db.session, import_id, workers=0, chunk_rows=500, progress=truncate_after_the_first_chunk
    )
    assert finished.status == ImportStatus.FAILED
    assert "The file changed while it was being imported" in finished.error
    assert "it is now 1,000 bytes" in finished.error
    assert stored_anything(import_id) == 0
    assert not path.exists()


def test_a_file_rewritten_to_the_same_size_fails_the_import(ctx, tmp_path):
    list_import = queued(tmp_path, rows(50))
    path = Path(list_import.stored_path)
    path.write_bytes(path.read_bytes().replace(b"name 1", b"NAME 1"))
    finished = imports.run_import(db.session, list_import.id, workers=0)
    assert finished.status == ImportStatus.FAILED
    assert "its contents differ from the upload's" in finished.error
    assert stored_anything(list_import.id) == 0


def test_an_unchanged_file_is_imported(ctx, tmp_path):
    list_import = queued(tmp_path, rows(50))
    assert list_import.sha256 and len(list_import.sha256) == 64
    assert imports.run_import(db.session, list_import.id, workers=0).status == ImportStatus.DONE


def test_an_import_whose_worker_died_is_restarted_from_the_start(ctx, tmp_path):
    from datetime import UTC, datetime, timedelta

    list_import = queued(tmp_path, rows(50))
    import_id = list_import.id
    # A worker claimed it, stored a chunk, and died: its heartbeat stops.
    list_import.status = ImportStatus.RUNNING
    list_import.heartbeat_at = datetime.now(UTC) - timedelta(minutes=2)
    db.session.add(
        Recipient(list_id=list_import.list_id, import_id=import_id, msisdn="4520120000", line=2)
    )
    db.session.commit()
    assert imports.restart_stalled_imports(db.session) == [import_id]
    db.session.expire_all()
    restarted = db.session.get(ListImport, import_id)
    assert restarted.status == ImportStatus.PENDING and restarted.restarted_at is not None
    assert stored_anything(import_id) == 0
    finished = imports.run_import(db.session, import_id, workers=0)
    assert finished.status == ImportStatus.DONE and finished.imported == 50


def test_a_running_import_with_a_fresh_heartbeat_is_left_alone(ctx, tmp_path):
    from datetime import UTC, datetime

    list_import = queued(tmp_path, rows(5))
    list_import.status = ImportStatus.RUNNING
    list_import.heartbeat_at = datetime.now(UTC)
    db.session.commit()
    assert imports.restart_stalled_imports(db.session) == []


def test_the_sweep_restarts_a_stalled_import_and_its_page_says_so(app, login_as, jobs, tmp_path):
    from datetime import UTC, datetime, timedelta

    client = login_as("sender")
    with app.app_context():
        list_import = queued(tmp_path, rows(20))
        list_import.status = ImportStatus.RUNNING
        list_import.heartbeat_at = datetime.now(UTC) - timedelta(minutes=5)
        db.session.commit()
        import_id = list_import.id
    jobs.send_due_campaigns()
    jobs.run_pending(limit=1)  # the sweep: it restarts the import and queues it again
    page = client.get(f"/lists/imports/{import_id}").text
    assert "the import was restarted from the start" in page
    jobs.run_pending()
    with app.app_context():
        assert db.session.get(ListImport, import_id).status == ImportStatus.DONE
