"""Input that is not what it seems: absurd shapes are refused naming the line, and an upload
that vanished before its mapping is discarded with a clear message, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import import_file, import_id_of, upload
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import ImportStatus, ListImport, RecipientList, Role
from webapp.services.imports import MAX_COLUMNS, MAX_FIELD_LENGTH


@pytest.fixture
def sender(login_as):
    return login_as(Role.SENDER)


def stored_path(app, import_id: int) -> Path:
    with app.app_context():
        return Path(db.session.get(ListImport, import_id).stored_path)


def imports_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ListImport))


def test_a_line_with_thousands_of_columns_is_refused_at_the_mapping_step(app, sender):
    wide = ",".join(f"c{n}" for n in range(5_000))
    response = upload(sender, f"phone,name\n+4520123456,Ida\n{wide}\n")
    page = sender.get(response.headers["Location"], follow_redirects=True)
    assert page.status_code == 200
    assert f"Line 3 has 5,000 columns; a list can have at most {MAX_COLUMNS}" in page.text
    assert len(page.text) < 200_000  # not a page with a field per column
    assert imports_count(app) == 0


def test_a_row_past_the_preview_with_too_many_columns_fails_the_import_naming_it(app, sender, jobs):
    rows = "".join(f"+45 20 12 {n // 100:02d} {n % 100:02d},name {n}\n" for n in range(60))
    wide = "+4520999999," + ",".join("x" for _ in range(MAX_COLUMNS + 5))
    finished = import_file(sender, jobs, f"phone,name\n{rows}{wide}\n")
    assert finished.status == ImportStatus.FAILED
    report = sender.get(f"/lists/imports/{finished.id}").text
    assert "Line 62 has 206 columns" in report
    with app.app_context():
        assert db.session.get(RecipientList, finished.list_id).recipient_count == 0


def test_a_field_longer_than_the_cap_fails_the_import_naming_line_and_column(app, sender, jobs):
    rows = "".join(f"+45 20 12 {n // 100:02d} {n % 100:02d},name {n}\n" for n in range(60))
    long_name = "x" * (MAX_FIELD_LENGTH + 1)
    finished = import_file(sender, jobs, f"phone,name\n{rows}+4520999999,{long_name}\n")
    assert finished.status == ImportStatus.FAILED
    report = sender.get(f"/lists/imports/{finished.id}").text
    assert "Line 62, column 2 holds 1,001 characters" in report


def test_a_missing_upload_file_is_a_clear_message_and_the_import_is_removed(app, sender):
    import_id = import_id_of(upload(sender, "phone,name\n+4520123456,Ida\n"))
    path = stored_path(app, import_id)
    path.unlink()
    page = sender.get(f"/lists/imports/{import_id}/mapping", follow_redirects=True)
    assert page.status_code == 200
    assert "The uploaded file is no longer on the server" in page.text
    assert str(path.parent) not in page.text
    assert imports_count(app) == 0


def test_a_missing_upload_file_when_confirming_the_mapping_is_removed_too(app, sender):
    import_id = import_id_of(upload(sender, "phone,name\n+4520123456,Ida\n"))
    stored_path(app, import_id).unlink()
    response = sender.post(
        f"/lists/imports/{import_id}/mapping", data={"phone_column": "0"}, follow_redirects=True
    )
    assert response.status_code == 200
    assert "The uploaded file is no longer on the server" in response.text
    assert imports_count(app) == 0
