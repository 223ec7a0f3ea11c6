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
