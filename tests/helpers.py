"""Small helpers shared by tests (importable because pytest puts tests/ on the path)."""

from __future__ import annotations

import re
import signal
import subprocess

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


def gateway_client(sandbox, **options):
    """An MtsmsClient for a running sandbox (options: timeout, max_connections)."""
    from webapp.gateway import MtsmsClient

    return MtsmsClient(sandbox.mtsms_url, sandbox.token, **options)


def send_one_sms_then_interrupt(command: list[str], token: str, **popen) -> str:
    """Run a foreground sandbox (`command`), send one SMS to the URL it announces, stop it with
    Ctrl-C, check that it stopped cleanly, and return everything it printed."""
    import requests

    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, **popen)
    announced = ""
    try:
        announced = process.stdout.readline()
        url = re.search(r"http://\S+/rest/mtsms", announced).group(0)
        body = {"token": token, "message": "Hi", "recipients": [{"msisdn": "4520123456"}]}

        assert requests.post(url, json=body, timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "Stopping" in output
    return announced + output


def send_campaign(session, user, client, recipient_list, *, name="Hello", message="Hi"):
    """A campaign to ``recipient_list``, previewed, confirmed and sent at once through
    ``client`` (the sandbox's); returns it."""
    from webapp.services import campaigns, dispatch
    from webapp.services.preview import preview_campaign

    campaign = campaigns.save_draft(
        session,
        user,
        campaigns.CampaignDraft(
            name=name, sender="Shop", message=message, list_ids=[recipient_list.id]
        ),
    )
    preview_campaign(session, campaign, user, client, honours_dry_run=True, batch_size=100)
    campaigns.confirm_campaign(session, campaign, user, batch_size=100)
    dispatch.dispatch_campaign(session, campaign.id, client)
    return campaign


def inbound_reply(gateway_id: int, msisdn: str, message: str, *, senttime: int = 1764028800):
    """A reply as the gateway's inbound webhook posts it."""
    return {
        "id": gateway_id,
        "msisdn": int(msisdn),
        "receiver": 451204,
        "message": message,
        "senttime": senttime,
        "webhook_label": "replies",
    }
