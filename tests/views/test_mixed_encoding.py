"""A file with UTF-8 and Windows-1252 lines: the mapping step names the lines and offers the
reading that keeps every name intact."""

from __future__ import annotations

import pytest
from helpers import import_id_of, upload

from webapp.models import Role


@pytest.fixture
def sender(login_as):
    return login_as(Role.SENDER)


def test_utf8_lines_in_a_windows_1252_file_are_named_with_the_better_reading(sender):
    content = (
        b"phone,name\n"
        + "+4520123456,Bjørn\n".encode("cp1252")
        + "+4520123457,Søren\n".encode()
        + b"+4520123458,Ida\n"
        + "+4520123459,Åse\n".encode()
    )
    import_id = import_id_of(upload(sender, content))
    page = sender.get(f"/lists/imports/{import_id}/mapping").text
    assert "Lines 3, 5 are written in UTF-8, but the file is read as Windows-1252" in page
    assert "line 3 would read “+4520123457,SÃ¸ren” instead of “+4520123457,Søren”" in page
    assert "Read it as UTF-8" in page
    better = sender.get(f"/lists/imports/{import_id}/mapping?encoding=utf-8").text
    assert "Søren" in better and "Bjørn" in better and "Åse" in better
    assert "Line 2 is not UTF-8 and read as Windows-1252" in better


def test_a_file_in_one_encoding_gets_no_warning(sender):
    import_id = import_id_of(upload(sender, "phone,name\n+4520123456,Søren\n".encode("cp1252")))
    page = sender.get(f"/lists/imports/{import_id}/mapping").text
    assert 'data-test="mixed-encoding"' not in page
