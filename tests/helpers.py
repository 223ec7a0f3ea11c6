"""Small helpers shared by tests (importable because pytest puts tests/ on the path)."""

from __future__ import annotations

import io
import itertools
import re
import signal
import subprocess

PASSWORD = "correct horse battery"


def text_of(fragment: str) -> str:
    """What a user reads: tags dropped, entities decoded, whitespace collapsed."""
    import html

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def form_errors(html: str) -> list[str]:
    """The error messages shown beside form fields."""
    return re.findall(r'<p class="error" role="alert">(.*?)</p>', html)


def make_list(session, name: str, rows, *, fields=(), user_id=None):
    """A recipient list with one finished import, as if a CSV had been imported.

    ``rows`` are ``(msisdn, {field: value})`` pairs (or bare msisdns).
    """
    import phonenumbers

    from webapp.models import ImportStatus, ListImport, Recipient, RecipientList
    from webapp.services import search_index

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
    session.flush()
    search_index.index_new_recipients(session, list_import.id)  # as the import does
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


def preview_via_pages(client, list_id: int, *, name: str = "Campaign", message: str = "Hi", **form):
    """Compose and preview a campaign through the pages (``form``: more of the compose form's
    fields): (its id, the preview page, the confirmation form's data with the tick)."""
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
            **form,
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


# --- Processes and polling ---


def poll(condition, *, timeout: float = 30.0, every: float = 0.1, what: str = "the condition"):
    """Wait until ``condition()`` is true (returning its value), failing after ``timeout``: the
    one way tests wait for another thread or process."""
    import threading
    import time

    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:g} s waiting for {what}.")
        pause.wait(every)


def process_environment(app, sandbox, **extra) -> dict:
    """Environment variables that point a separate dashboard process at the test's database,
    queue and sandbox."""
    import os

    env = dict(os.environ)
    env.update(
        DATABASE_URL=app.config["DATABASE_URL"],
        SECRET_KEY=app.config["SECRET_KEY"],
        SMS_GATEWAY_URL=sandbox.mtsms_url,
        SANDBOX_API_TOKEN=sandbox.token,
        HUEY_NAME=app.config["HUEY_NAME"],
        SMS_MAX_CONNECTIONS=str(app.config["SMS_MAX_CONNECTIONS"]),
        SMS_BATCH_SIZE=str(app.config["SMS_BATCH_SIZE"]),
    )
    env.pop("SMS_API_TOKEN", None)
    if app.config.get("REDIS_URL"):
        env["REDIS_URL"] = app.config["REDIS_URL"]
    env.update({name: str(value) for name, value in extra.items()})
    return env


def preview_and_confirm(
    session, campaign, user, sandbox, *, batch_size=100, confirm=True, dry_run=True
):
    """Preview ``campaign`` against the sandbox (as a dry run, unless ``dry_run=False``) and
    (unless ``confirm=False``) confirm it into batches of ``batch_size``; returns it."""
    from webapp.services import campaigns
    from webapp.services.preview import preview_campaign

    preview_campaign(
        session,
        campaign,
        user,
        gateway_client(sandbox),
        honours_dry_run=dry_run,
        batch_size=batch_size,
    )
    if confirm:
        campaigns.confirm_campaign(session, campaign, user, batch_size=batch_size)
    return campaign


def confirmed_campaign_of(
    session,
    sandbox,
    *,
    name: str,
    count: int,
    batch_size: int,
    user=None,
    dry_run: bool = True,
    confirm: bool = True,
):
    """A campaign of ``count`` Danish numbers in one plain list, previewed against the sandbox
    and (unless ``confirm=False``) confirmed into batches of ``batch_size``."""
    from webapp.services import campaigns

    people = make_list(session, f"{name} list", danish_numbers(count))
    draft = campaigns.CampaignDraft(name=name, sender="Shop", message="Hi", list_ids=[people.id])
    campaign = campaigns.save_draft(session, user, draft)
    return preview_and_confirm(
        session,
        campaign,
        user,
        sandbox,
        batch_size=batch_size,
        confirm=confirm,
        dry_run=dry_run,
    )


def start_flask_worker(app, sandbox, log, **env):
    """A `flask worker` process on the test's database, queue and sandbox, logging to ``log``;
    returned once it says it is ready (its SIGTERM handler installed: a SIGTERM sent earlier
    would kill it outright)."""
    import subprocess
    import sys
    from pathlib import Path

    from webapp.cli import WORKER_READY

    def ready_count() -> int:
        return log.read_text(errors="replace").count(WORKER_READY) if log.exists() else 0

    before = ready_count()
    factory = f"webapp:create_app(instance_path={app.instance_path!r})"
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "flask"), "--app", factory, "worker"],
        cwd=Path(__file__).resolve().parent.parent,
        env=process_environment(app, sandbox, WORKER="none", **env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    poll(
        lambda: ready_count() > before or worker.poll() is not None,
        timeout=120,
        what="the worker to start",
    )
    assert worker.poll() is None, f"the worker exited at start:\n{log.read_text()[-3000:]}"
    return worker


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
    sender="Shop",
    link_host=None,
    **options,
):
    """A campaign to ``numbers`` (a new list of msisdns or (msisdn, fields) pairs, or an existing
    RecipientList), previewed,
    confirmed and sent through ``client`` (the sandbox) in batches of ``batch_size``; the
    sandbox gets no callback URL, so a test posts the delivery reports itself (see
    ``report_deliveries``). ``link_host`` is where tracked links point; ``options`` go to the
    dispatcher (``clock=`` sets the send time, ``link_secret=`` signs link codes)."""
    from webapp.models import RecipientList
    from webapp.services import campaigns, dispatch
    from webapp.services.preview import preview_campaign

    people = (
        numbers
        if isinstance(numbers, RecipientList)
        else make_list(session, f"{name} list", numbers, fields=fields)
    )
    draft = campaigns.CampaignDraft(
        name=name, sender=sender, message=message, list_ids=[people.id], link_host=link_host
    )
    campaign = campaigns.save_draft(session, user, draft)
    preview_campaign(session, campaign, user, client, honours_dry_run=True, batch_size=batch_size)
    campaigns.confirm_campaign(session, campaign, user, batch_size=batch_size)
    dispatch.dispatch_campaign(session, campaign.id, client, retry_base_seconds=0.01, **options)
    return campaign


def report_deliveries(session, campaign, statuses, *, time: int = 100, **extra) -> None:
    """Record a delivery report for each of ``campaign``'s recipients in turn (by id), with the
    gateway ``statuses`` in order ("DELIVERED", "EXPIRED", ...; None: no report for that one);
    the rest get none. ``extra`` fields (``error``, ``code``) go into every report."""
    from sqlalchemy import select

    from webapp.models import Batch, CampaignRecipient
    from webapp.services.delivery import record_delivery_report

    recipients = session.execute(
        select(CampaignRecipient.msisdn, Batch.message_id, Batch.number)
        .join(Batch, Batch.id == CampaignRecipient.batch_id)
        .where(CampaignRecipient.campaign_id == campaign.id)
        .order_by(CampaignRecipient.id)
    ).all()
    assert len(statuses) <= len(recipients), "more statuses than recipients"
    for (msisdn, message_id, number), status in zip(recipients, statuses, strict=False):
        if status is None:
            continue
        record_delivery_report(
            session,
            {
                "id": int(message_id),
                "msisdn": int(msisdn),
                "time": time,
                "status": status,
                "userref": f"campaign-{campaign.id}-batch-{number}",
                **extra,
            },
        )


def sign_in_browser(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login page in a Playwright ``page``."""
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def post_signed_reports(app, base_url, received, finals, *, error=None, code=None) -> None:
    """What the gateway does after a send: for each SMS the sandbox ``received`` (its rows),
    ENROUTE and then its status in ``finals`` (in order), each signed and posted to the app at
    ``base_url``; a final status other than DELIVERED carries ``error`` and ``code``."""
    import time

    import requests

    from webapp.gateway.reports import SIGNATURE_HEADER, sign_delivery_report

    url = f"{base_url}/webhooks/delivery-reports"
    now = int(time.time())
    for row, final in zip(received, finals, strict=True):
        for status, at in (("ENROUTE", now - 5), (final, now)):
            failed = status == final and final != "DELIVERED"
            report = {
                "id": row["message_id"],
                "msisdn": int(row["msisdn"]),
                "time": at,
                "status": status,
                "error": error if failed else None,
                "code": code if failed else None,
                "userref": row["userref"],
            }
            signature = sign_delivery_report(report, app.config["WEBHOOK_SECRET"])
            answer = requests.post(
                url, json=report, headers={SIGNATURE_HEADER: signature}, timeout=10
            )
            assert answer.status_code == 200, answer.text


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


# --- Campaigns in the past (the undeliverable flags) ---

_message_ids = itertools.count(900_001)


def past_campaign(session, statuses: dict[str, str | None]):
    """A sent campaign whose recipients got these final statuses (None: still awaiting), the
    reports recorded as the webhook records them."""
    from webapp.models import (
        Batch,
        BatchState,
        Campaign,
        CampaignRecipient,
        CampaignStatus,
    )
    from webapp.services.delivery import record_delivery_report

    campaign = Campaign(name="Earlier", sender="Shop", status=CampaignStatus.DONE)
    session.add(campaign)
    session.flush()
    message_id = str(next(_message_ids))
    batch = Batch(
        campaign_id=campaign.id,
        number=1,
        state=BatchState.SENT,
        size=len(statuses),
        message_id=message_id,
    )
    session.add(batch)
    session.flush()
    for msisdn in statuses:
        session.add(
            CampaignRecipient(
                campaign_id=campaign.id,
                batch_id=batch.id,
                msisdn=msisdn,  # sent, as its batch is
            )
        )
    session.commit()
    for msisdn, status in statuses.items():
        if status is not None:
            report = {
                "id": int(message_id),
                "msisdn": int(msisdn),
                "time": 1764028800,
                "status": status,
                "userref": f"campaign-{campaign.id}-batch-1",
            }
            assert record_delivery_report(session, report)
    return campaign


# --- Approval (issue 18) ---


def approval_limits(session, *, recipients: int | None = None, cost: str = ""):
    """Set the workspace's approval limits (``cost`` such as "1.00 DKK"; empty: none)."""
    from webapp.services.approval import set_approval_limits

    amount, _, currency = cost.partition(" ")
    return set_approval_limits(
        session, "" if recipients is None else str(recipients), amount, currency
    )


def waiting_campaign(
    session, sandbox, user, *, name="Big", count=5, batch_size=2, numbers=None, **draft
):
    """A campaign to ``count`` Danish numbers (or ``numbers``), previewed against the sandbox
    and asked for approval by ``user`` (the workspace's limits must call for it)."""
    from webapp.services import campaigns
    from webapp.services.preview import preview_campaign

    people = make_list(session, f"{name} list", numbers or danish_numbers(count))
    campaign = campaigns.save_draft(
        session,
        user,
        campaigns.CampaignDraft(
            name=name, sender="Shop", message="Hi", list_ids=[people.id], **draft
        ),
    )
    preview_campaign(
        session, campaign, user, gateway_client(sandbox), honours_dry_run=True, batch_size=10
    )
    campaigns.request_approval(session, campaign, user, batch_size=batch_size)
    return campaign
