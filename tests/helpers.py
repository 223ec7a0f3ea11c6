"""Small helpers shared by tests (importable because pytest puts tests/ on the path)."""

from __future__ import annotations

import io
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


def preview_via_pages(client, list_id: int, *, name: str = "Campaign", message: str = "Hi"):
    """Compose and preview a campaign through the pages: (its id, the preview page, the
    confirmation form's data with the tick)."""
    import re

    response = client.post(
        "/campaigns/new",
        data={
            "name": name,
            "sender": "Shop",
            "message": message,
            "list_ids": [list_id],
            "encoding": "auto",
            "action": "preview",
        },
    )
    cid = int(re.search(r"/campaigns/(\d+)", response.headers["Location"]).group(1))
    page = client.get(f"/campaigns/{cid}/preview").text
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([^"]+)"', page).group(1)
    return cid, page, {"fingerprint": fingerprint, "understood": "y"}


# --- Uploads through the pages (the list and import view tests) ---


def upload(client, content: str | bytes, filename: str = "customers.csv", name: str = ""):
    data = content.encode() if isinstance(content, str) else content
    return client.post(
        "/lists/upload",
        data={"file": (io.BytesIO(data), filename), "name": name},
        content_type="multipart/form-data",
    )


def import_id_of(response) -> int:
    match = re.fullmatch(r"/lists/imports/(\d+)/mapping", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def confirm(client, import_id: int, **form):
    form.setdefault("phone_column", "1")
    return client.post(f"/lists/imports/{import_id}/mapping", data=form)


def import_file(client, jobs, content: str, **upload_options):
    """Upload, keep every column, run the job: the finished import's id, list and status."""
    from types import SimpleNamespace

    from webapp.extensions import db
    from webapp.models import ListImport

    import_id = import_id_of(upload(client, content, **upload_options))
    mapping_page = client.get(f"/lists/imports/{import_id}/mapping").text
    phone = re.search(r'name="phone_column" value="(\d+)" checked', mapping_page).group(1)
    keep = re.findall(r'name="keep" value="(\d+)" checked', mapping_page)
    names = dict(re.findall(r'name="(name_\d+)" value="([^"]*)"', mapping_page))
    response = confirm(client, import_id, phone_column=phone, keep=keep, **names)
    assert response.status_code == 302, response.text
    jobs.run_pending()
    with client.application.app_context():
        list_import = db.session.get(ListImport, import_id)
        return SimpleNamespace(id=import_id, list_id=list_import.list_id, status=list_import.status)
