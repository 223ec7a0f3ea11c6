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


def sent_campaign(
    session,
    user,
    client,
    numbers,
    *,
    batch_size=2,
    name="Tracked",
    message="Hi there",
    fields=(),
    **options,
):
    """A campaign to ``numbers`` (a new list; msisdns or (msisdn, fields) pairs), previewed,
    confirmed and sent through ``client`` (the sandbox) in batches of ``batch_size``; the
    sandbox gets no callback URL, so a test posts the delivery reports itself."""
    from webapp.services import campaigns, dispatch
    from webapp.services.preview import preview_campaign

    people = make_list(session, f"{name} list", numbers, fields=fields)
    draft = campaigns.CampaignDraft(name=name, sender="Shop", message=message, list_ids=[people.id])
    campaign = campaigns.save_draft(session, user, draft)
    preview_campaign(session, campaign, user, client, honours_dry_run=True, batch_size=batch_size)
    campaigns.confirm_campaign(session, campaign, user, batch_size=batch_size)
    dispatch.dispatch_campaign(session, campaign.id, client, retry_base_seconds=0.01, **options)
    return campaign
