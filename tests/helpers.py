"""Small helpers shared by tests (importable because pytest puts tests/ on the path)."""

from __future__ import annotations

import re

PASSWORD = "correct horse battery"


def form_errors(html: str) -> list[str]:
    """The error messages shown beside form fields."""
    return re.findall(r'<p class="error" role="alert">(.*?)</p>', html)


def make_list(session, name: str, rows, *, fields=(), user_id=None):
    """A recipient list with one finished import, as if a CSV had been imported.

    ``rows`` are ``(msisdn, {field: value})`` pairs (or bare msisdns).
    """
    import phonenumbers

    from webapp.models import ImportStatus, ListImport, Recipient, RecipientList

    recipient_list = RecipientList(name=name, fields=list(fields), created_by_id=user_id)
    session.add(recipient_list)
    session.flush()
    list_import = ListImport(
        list_id=recipient_list.id, filename=f"{name}.csv", status=ImportStatus.DONE
    )
    session.add(list_import)
    session.flush()
    count = 0
    for line, row in enumerate(rows, start=2):
        msisdn, values = (row, {}) if isinstance(row, str) else row
        region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + msisdn))
        session.add(
            Recipient(
                list_id=recipient_list.id,
                import_id=list_import.id,
                msisdn=msisdn,
                country=region,
                line=line,
                fields=dict(values),
            )
        )
        count += 1
    recipient_list.recipient_count = count
    list_import.rows = list_import.imported = count
    session.commit()
    return recipient_list


def danish_numbers(count: int, start: int = 20_100_000) -> list[str]:
    """Valid Danish mobile numbers in international digits."""
    return [f"45{start + n}" for n in range(count)]


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    """An Excel workbook with the given sheets: rows of values, None an empty cell."""
    import io

    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
