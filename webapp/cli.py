"""``flask`` commands for operators: the same services as the pages, no second code path."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from webapp.extensions import db
from webapp.models import Role
from webapp.money import money_text
from webapp.services import accounts
from webapp.services.preview import PreviewFailed, preview_campaign


def register(app: Flask) -> None:
    for command in (
        setup_link,
        users,
        campaigns_cli,
        worker,
        background,
        sandbox,
        lists_cli,
        optouts_cli,
        webhooks_cli,
    ):
        app.cli.add_command(command)


@click.command("setup-link")
@with_appcontext
def setup_link():
    """Print the one-time link to create the first administrator (scripts/start shows it)."""
    from webapp import setup_link as first_admin_link

    link = first_admin_link(current_app)
    if link is None:
        click.echo("The dashboard already has an administrator: sign in, or ask an admin.")
    else:
        click.echo(f"Create the first administrator at: {link}")


AT_THE_COMMAND_LINE = "at the command line"


def _audit(action: str, obj=None, detail: str | None = None) -> None:
    """Record what a command just changed in the audit log: by the command line (the log's
    "system": who is at the shell cannot be told), one event per command."""
    from webapp.services import audit

    words = f"{detail} ({AT_THE_COMMAND_LINE})" if detail else AT_THE_COMMAND_LINE
    audit.record(db.session, action, user=None, obj=obj, detail=words)
    db.session.commit()


users = AppGroup("users", help="Manage dashboard users.")


@users.command("create")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.SENDER.value,
    show_default=True,
)
@click.password_option(help="Prompted for when not given.")
def create_user(email: str, role: str, password: str):
    """Create a user who can sign in with EMAIL."""
    try:
        user = accounts.create_user(db.session, email, password, Role(role))
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error
    _audit("user_created", user, f"Role: {user.role.value}.")
    click.echo(f"Created {user.email} ({user.role.value}).")


@users.command("unlock")
@click.argument("email")
def unlock_user(email: str):
    """Forget EMAIL's failed sign-ins, so a locked-out user can sign in again."""
    try:
        user = accounts.find_user(db.session, email)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error
    accounts.unlock(db.session, user)
    _audit("user_unlocked", user)
    click.echo(f"{user.email} is unlocked.")


@users.command("set-password")
@click.argument("email")
@click.password_option(help="Prompted for when not given.")
def set_password(email: str, password: str):
    """Give EMAIL a new password: signed out everywhere, and unlocked."""
    try:
        user = accounts.find_user(db.session, email)
        accounts.set_password(db.session, user, password)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error
    _audit("user_password", user, "Signed out everywhere and unlocked.")
    click.echo(f"{user.email} has a new password and is signed out everywhere.")


@users.command("approver")
@click.argument("email")
@click.option(
    "--on/--off", "approver", default=True, show_default=True, help="Give or take the right."
)
def set_approver(email: str, approver: bool):
    """Give EMAIL the approver right (approving campaigns that wait for approval), or take it."""
    try:
        user = accounts.find_user(db.session, email)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error
    accounts.set_approver(db.session, user, approver)
    state = "may approve campaigns" if approver else "no longer has the approver right"
    if user.role is Role.ADMIN:
        state += " (as an admin, they may approve campaigns whatever this says)"
    _audit("user_approver", user, f"{user.email} {state}.")
    click.echo(f"{user.email} {state}.")


# --- Campaigns, worker and sandbox -----------------------------------------------------------

campaigns_cli = AppGroup("campaigns", help="Create, preview and send campaigns.")


# Exit codes of `flask campaigns send --wait` beyond click's 1 (an error) and 2 (usage); the
# README lists them. The first that applies wins: a paused campaign may also have failures.
EXIT_PAUSED = 5  # the campaign stopped, paused by a user or by the gateway: it is not finished
EXIT_CANCELLED = 6
EXIT_UNCONFIRMED = 4  # some batches may or may not have been accepted: decide on the page
EXIT_FAILED = 3  # some recipients were certainly not sent: a follow-up can reach them
EXIT_NEEDS_APPROVAL = 7  # over the workspace's approval limits: nothing was sent


def send_exit_code(status, progress) -> int:
    """The exit code for how a followed send ended (0: every recipient sent)."""
    if status.is_paused:
        return EXIT_PAUSED
    if status.is_cancelled:
        return EXIT_CANCELLED
    if progress.unconfirmed:
        return EXIT_UNCONFIRMED
    if progress.failed:
        return EXIT_FAILED
    return 0


@campaigns_cli.command("send")
@click.option("--name", required=True, help="Campaign name (the gateway's label).")
@click.option("--sender", required=True, help="Up to 11 letters and digits, or 15 digits.")
@click.option("--list", "list_names", multiple=True, required=True, help="A list name; repeat.")
@click.option("--message", required=True, help="The text; %field% tags are personalised.")
@click.option("--encoding", type=click.Choice(["auto", "GSM", "UCS2"]), default="auto")
@click.option("--yes", is_flag=True, help="Send without asking after the preview.")
@click.option("--wait", is_flag=True, help="Follow the send to the end with a progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.option(
    "--allow-duplicate",
    is_flag=True,
    help="Send even if the same message went to the same lists in the last 7 days.",
)
@click.option(
    "--idempotency-key",
    "key",
    help="A key of your choice: a second call with it reports the first campaign, sends nothing.",
)
@click.option(
    "--track-links",
    is_flag=True,
    help="Turn every web address in the message into a tracked short link (LINK_BASE_URL).",
)
@click.option("--utm-source", default="", help="With --track-links: utm_source for the targets.")
@click.option("--utm-medium", default="", help="With --track-links: utm_medium for the targets.")
@click.option(
    "--utm-campaign", default="", help="With --track-links: utm_campaign for the targets."
)
def send_campaign(
    name,
    sender,
    list_names,
    message,
    encoding,
    yes,
    wait,
    as_json,
    allow_duplicate,
    key,
    track_links,
    utm_source,
    utm_medium,
    utm_campaign,
):
    """Create a campaign, preview its cost, and queue it: the same services as the pages."""
    from webapp.addresses import link_base_url
    from webapp.services import approval, campaigns, lists, settings, tracked_links
    from webapp.services.quiet_hours import quiet_hours

    app = current_app
    if track_links:
        utm = {"utm_source": utm_source, "utm_medium": utm_medium, "utm_campaign": utm_campaign}
        message = tracked_links.track_urls(message, utm)
    campaign = _campaign_with_key(key) if key else None
    if campaign is not None and campaign.status.awaits_approval:
        _stop_for_approval(campaign, f"It is waiting for approval (campaign {campaign.id}).")
    if campaign is not None and not campaign.status.is_draft:
        if not as_json:
            click.echo(
                f"The idempotency key {key!r} belongs to campaign {campaign.id} "
                f"({campaign.status.value}); nothing new is sent."
            )
        _finish_send(campaign, None, wait=wait, as_json=as_json, existing=True)
        return
    try:
        chosen = [lists.find_list_by_name(db.session, list_name) for list_name in list_names]
        if campaign is None:
            earlier = campaigns.recent_duplicates(db.session, message, [lst.id for lst in chosen])
            if earlier and not allow_duplicate:
                raise click.ClickException(
                    f"{campaigns.DuplicateCampaign(earlier)} Nothing was sent; give "
                    "--allow-duplicate to send it again."
                )
            draft = campaigns.CampaignDraft(
                name=name,
                sender=sender,
                message=message,
                list_ids=[lst.id for lst in chosen],
                encoding=encoding,
                link_host=tracked_links.link_host(link_base_url(app)),
            )
            campaign = campaigns.save_draft(db.session, None, draft)
            if key:
                campaign.idempotency_key = key
                db.session.commit()
        summary = preview_campaign(
            db.session,
            campaign,
            None,
            app.extensions["gateway"].client(),
            honours_dry_run=app.config["SMS_GATEWAY_HONOURS_DRY_RUN"],
            batch_size=app.config["SMS_BATCH_SIZE"],
            default_country=settings.default_country(db.session, app.config["DEFAULT_COUNTRY"]),
            quiet_hours=quiet_hours(db.session, app.config),
        )
    except lists.ListInvalid as error:
        raise click.ClickException(str(error)) from error
    except campaigns.CampaignInvalid as error:
        raise click.ClickException("; ".join(error.errors.values())) from error
    except PreviewFailed as error:
        raise click.ClickException(str(error)) from error
    estimate = " (estimate)" if summary["estimate"] else ""
    if not as_json:
        click.echo(
            f"{summary['recipients']} recipients, {summary['segments']} segments, "
            f"{money_text(summary['cost'])} {summary['currency'] or ''}{estimate}, "
            f"{summary['batches']} batches."
        )
        for warning in summary["warnings"]:
            click.echo(f"Warning: {warning}")
        for held in summary["quiet_hours"]:
            click.echo(f"Quiet hours: {held}")
    needs_approval = approval.approval_reason(db.session, campaign)
    if needs_approval:  # before asking "Send it?": the answer could not send it
        _stop_for_approval(campaign, _needs_approval_text(campaign, needs_approval))
    if not yes and not click.confirm("Send it?", err=as_json):
        raise click.ClickException(f"Not sent; the draft {campaign.name!r} was kept.")
    try:
        campaigns.confirm_campaign(
            db.session,
            campaign,
            None,
            batch_size=app.config["SMS_BATCH_SIZE"],
            allow_duplicate=allow_duplicate,
            by_country=quiet_hours(db.session, app.config) is not None,
            balance=campaigns.account_balance(app.extensions["gateway"].client()),
        )
    except campaigns.ApprovalNeeded as error:  # the limits changed since the check above
        _stop_for_approval(campaign, _needs_approval_text(campaign, error.reason))
    except campaigns.CampaignStateError as error:
        raise click.ClickException(f"{error} Nothing was sent.") from error
    app.extensions["jobs"].dispatch_campaign(campaign.id)
    _finish_send(campaign, summary, wait=wait, as_json=as_json)


def _needs_approval_text(campaign, reason: str) -> str:
    return (
        f"It needs approval before it is sent: {reason}. The command line cannot ask for it: "
        f"a sender asks for approval on the campaign's page (campaign {campaign.id}, kept as a "
        "draft), then an approver approves it there, or an admin runs "
        f"`flask campaigns approve {campaign.name!r}`."
    )


def _stop_for_approval(campaign, message: str):
    """Stop `campaigns send` for the approval rule: nothing sent, EXIT_NEEDS_APPROVAL."""
    click.echo(f"Error: {message} Nothing was sent.", err=True)
    sys.exit(EXIT_NEEDS_APPROVAL)


def _campaign_with_key(key: str):
    from sqlalchemy import select

    from webapp.models import Campaign

    return db.session.scalar(select(Campaign).where(Campaign.idempotency_key == key))


def _finish_send(campaign, summary, *, wait: bool, as_json: bool, existing: bool = False):
    """Follow the campaign (with ``--wait``), print the outcome, exit with what it came to."""
    from webapp.services.progress import campaign_progress

    jobs = current_app.extensions["jobs"]
    if wait:
        if existing and campaign.status.is_live:
            jobs.dispatch_campaign(campaign.id)  # carries on where it stopped; sends once
        if current_app.config["WORKER"] == "thread":
            jobs.start_consumer()
        _follow(campaign, quiet=as_json)
        jobs.stop_consumer()
    db.session.refresh(campaign)
    progress = campaign_progress(db.session, campaign)
    followed = wait or summary is None
    outcome = {
        "campaign_id": campaign.id,
        "status": campaign.status.value,
        "recipients": campaign.recipient_count,
        "batches": progress.batches_total,
        "sent": progress.sent,
        "unconfirmed": progress.unconfirmed,
        "failed": progress.failed,
        "segments": progress.segments if followed else summary["segments"],
        "cost": money_text(progress.cost if followed else summary["cost"]).replace(",", ""),
        "currency": progress.currency if followed else summary["currency"],
        "cost_is_estimate": not followed and summary["estimate"],
        "existing": existing,
    }
    if campaign.idempotency_key:
        outcome["idempotency_key"] = campaign.idempotency_key
    if progress.currency_problem:
        outcome["currency_problem"] = progress.currency_problem
    if as_json:
        click.echo(json.dumps(outcome))
    else:
        click.echo(f"Campaign {campaign.id}: {outcome['status']}, {outcome['sent']} sent.")
    if progress.currency_problem:
        click.echo(f"Error: {progress.currency_problem}", err=True)
    code = send_exit_code(campaign.status, progress) if wait else 0
    if code:
        if not as_json:
            click.echo(_EXIT_REASONS[code], err=True)
        sys.exit(code)


_EXIT_REASONS = {
    EXIT_PAUSED: "The campaign is paused; it is not finished.",
    EXIT_CANCELLED: "The campaign was cancelled.",
    EXIT_UNCONFIRMED: "Some batches are unconfirmed: decide them on the campaign page.",
    EXIT_FAILED: "Some recipients failed: a follow-up campaign can reach exactly them.",
}


def _named_campaign(name: str):
    from webapp.services import outcomes

    try:
        return outcomes.find_campaign_by_name(db.session, name)
    except outcomes.UnknownCampaign as error:
        raise click.ClickException(str(error)) from error


@campaigns_cli.command("approve")
@click.argument("name")
@click.option("--comment", default="", help="Why, for the campaign's history.")
def approve_campaign(name: str, comment: str):
    """Approve the campaign NAME, waiting for approval: it is sent now, or at its send time.

    For admins at the shell: recorded as approved at the command line (the audit log's
    "system"), like every command. The balance and the monthly budget are checked again.
    """
    from sqlalchemy import select

    from webapp.models import Campaign, CampaignStatus
    from webapp.services import campaigns

    # Names are not unique: the newest one of that name that waits, else the newest one.
    campaign = db.session.scalar(
        select(Campaign)
        .where(Campaign.name == name, Campaign.status == CampaignStatus.AWAITING_APPROVAL)
        .order_by(Campaign.id.desc())
        .limit(1)
    ) or _named_campaign(name)
    try:
        campaigns.approve_campaign(
            db.session,
            campaign,
            None,
            comment=comment,
            balance=campaigns.account_balance(current_app.extensions["gateway"].client()),
        )
    except campaigns.CampaignInvalid as error:
        raise click.ClickException("; ".join(error.errors.values())) from error
    except campaigns.CampaignStateError as error:
        raise click.ClickException(f"{error} Nothing was approved.") from error
    current_app.extensions["jobs"].dispatch_campaign(campaign.id, eta=campaign.send_at)
    when = (
        f"it will be sent at {campaign.send_at:%Y-%m-%d %H:%M} UTC"
        if campaign.send_at
        else "it is queued to be sent now"
    )
    click.echo(
        f"Approved {campaign.name!r} (campaign {campaign.id}, "
        f"{campaign.recipient_count:,} recipients): {when}."
    )


@campaigns_cli.command("report")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def report_campaign(name: str, as_json: bool):
    """What happened to the campaign NAME: delivery in words and gateway statuses, cost."""
    from webapp.services import outcomes

    report = outcomes.campaign_report(db.session, _named_campaign(name))
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(
        f"{report['name']} ({report['status']}): {report['recipients']:,} recipients, "
        f"{report['sent']:,} sent, delivery rate {report['delivery_rate']}"
    )
    for label, count in report["outcomes"].items():
        click.echo(f"  {label}: {count:,}")
    statuses = ", ".join(f"{s} {n:,}" for s, n in report["gateway_statuses"].items())
    click.echo(f"Gateway statuses: {statuses or 'no reports yet'}")
    for row in report["countries"]:
        click.echo(
            f"  {row['country']}: {row['segments']:,} segments, {row['cost']} {report['currency']}"
        )
    for batch in report["unconfirmed_batches"]:
        click.echo(
            f"Batch {batch['batch']} unconfirmed, now {batch['state']}: {batch['resolution']}"
        )
    links = report["links"]
    if links:
        click.echo(
            f"Tracked links: {_count(links['clicks'], 'click')}, "
            f"{_count(links['unique_clickers'], 'unique clicker')}, "
            f"click-through rate {links['click_through_rate']} of "
            f"{links['delivered']:,} delivered ({links['bot_clicks']:,} preview-bot clicks "
            "not counted)"
        )
        for link in links["per_link"]:
            click.echo(
                f"  {link['link']}. {link['target']}: {_count(link['clicks'], 'click')}, "
                f"{link['unique_clickers']:,} unique, {link['click_through_rate']}"
            )
    if report["ab_test"]:
        _echo_ab_test(report["ab_test"])


def _count(number: int, word: str) -> str:
    return f"{number:,} {word}{'' if number == 1 else 's'}"


def _echo_ab_test(test: dict) -> None:
    click.echo("A/B test:")
    for row in test["groups"]:
        name = "Held back" if row["group"] == "held" else f"Variant {row['group']}"
        rate = "-" if row["delivery_rate"] is None else f"{100 * row['delivery_rate']:.1f} %"
        clicks = ""
        if row["clickers"] is not None:
            ctr = row["click_through_rate"]
            clicks = f", {row['clickers']:,} clicked, click-through rate " + (
                "-" if ctr is None else f"{100 * ctr:.1f} %"
            )
        click.echo(
            f"  {name}: {row['recipients']:,} recipients, {row['sent']:,} sent, "
            f"{row['delivered']:,} delivered, {row['failed']:,} failed, delivery rate {rate}"
            f"{clicks}"
        )
    click.echo(f"  {test['comparison']}")
    for sentence in test["other_comparisons"]:
        click.echo(f"  {sentence}")
    if test["winner"]:
        click.echo(f"  Winner sent to the held-back recipients: variant {test['winner']}.")
    elif test["held_back_waiting"]:
        click.echo(f"  {test['held_back_waiting']:,} held-back recipients wait for the winner.")


@campaigns_cli.command("export")
@click.argument("name")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--format", "kind", type=click.Choice(["csv", "xlsx"]), default="csv")
@click.option("--semicolon", is_flag=True, help="Separate CSV cells with semicolons.")
def export_campaign(name: str, output: Path, kind: str, semicolon: bool):
    """Write every recipient's outcome of the campaign NAME to FILE (CSV or .xlsx)."""
    from webapp.services import outcomes

    campaign = _named_campaign(name)
    if kind == "xlsx":
        with output.open("wb") as out:
            for chunk in outcomes.export_xlsx(db.session, campaign):
                out.write(chunk)
    else:
        with output.open("w", encoding="utf-8", newline="") as out:
            for chunk in outcomes.export_csv(db.session, campaign, ";" if semicolon else ","):
                out.write(chunk)
    click.echo(f"Wrote {campaign.recipient_count:,} outcomes to {output}.")


@campaigns_cli.command("poll-reports")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def poll_reports(as_json: bool):
    """Ask the gateway now for the delivery statuses of sent batches whose next poll is due
    (with DELIVERY_REPORTS=poll a job does this every minute)."""
    from webapp.services.delivery import FailureGuard
    from webapp.services.polling import poll_delivery_reports
    from webapp.tasks import poll_schedule

    config = current_app.config
    done = poll_delivery_reports(
        db.session,
        current_app.extensions["gateway"].client(),
        schedule=poll_schedule(current_app),
        guard=FailureGuard(config["PAUSE_FAILED_PERCENT"], config["PAUSE_AFTER_REPORTS"]),
    )
    if as_json:
        click.echo(json.dumps(vars(done)))
        return
    click.echo(
        f"Polled {done.batches:,} batches: {done.recorded:,} statuses recorded, "
        f"{done.errors:,} gateway errors (asked again later), {done.ended:,} batches done; "
        f"{done.test_messages:,} test messages polled."
    )


def _follow(campaign, *, quiet: bool) -> None:
    """Poll the campaign until it stops sending, showing batches done."""
    from webapp.services.progress import campaign_progress

    total = len(campaign.batches)
    done = 0
    with click.progressbar(
        length=total, label="Sending", file=sys.stderr if quiet else None
    ) as bar:
        while True:
            db.session.expire_all()
            progress = campaign_progress(db.session, campaign)
            bar.update(progress.batches_done - done)
            done = progress.batches_done
            if not campaign.status.is_live:
                return
            time.sleep(0.2)


WORKER_READY = "Worker ready: SIGTERM now stops it gracefully."


@click.command("worker")
@click.option("--workers", default=2, show_default=True, help="Jobs run at once.")
def worker(workers: int):
    """Run a queue consumer (with REDIS_URL set, run as many as you like).

    SIGTERM stops it gracefully: requests in flight finish within STOP_GRACE_SECONDS, and the
    campaign is handed on to another worker at once.
    """
    jobs = current_app.extensions["jobs"]
    click.echo(f"Worker consuming {jobs.huey.name} with {workers} threads. Ctrl+C stops it.")
    consumer = jobs.create_worker_consumer(
        workers, on_ready=lambda: click.echo(WORKER_READY, err=True)
    )
    consumer.run()


@click.command("background")
@click.option("--ready-fd", type=int, help="Write one JSON line here once running (gunicorn).")
def background(ready_fd: int | None):
    """Run once, for every web worker, what a single web worker runs in-process: the embedded
    sandbox gateway and the job consumer with its sweep (gunicorn.conf.py starts it when
    WEB_CONCURRENCY is above 1). Ctrl+C or SIGTERM stops it gracefully."""
    from webapp.serving import run_background

    def announce(environment: dict) -> None:
        line = json.dumps(environment) + "\n"
        if ready_fd is None:
            click.echo(f"Background work running; web workers need: {line}", nl=False)
            return
        os.write(ready_fd, line.encode())
        os.close(ready_fd)

    run_background(current_app._get_current_object(), announce)


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5001, show_default=True, type=int)
@click.option("--token", default=None, help="The token it accepts (default: generated).")
def sandbox(host: str, port: int, token: str | None):
    """Run the sandbox gateway alone, serving the contract's paths from its root."""
    from mtsms_sandbox import SandboxConfig, serve_sandbox
    from webapp.addresses import reply_webhook_url

    config = SandboxConfig(
        webhook_secret=current_app.config.get("WEBHOOK_SECRET"),
        reply_webhook_url=(
            reply_webhook_url(current_app) if current_app.config["SANDBOX_REPLIES"] else None
        ),
    )
    serve_sandbox(
        Path(current_app.instance_path) / "sandbox.sqlite3",
        host=host,
        port=port,
        token=token or current_app.config.get("SANDBOX_API_TOKEN"),
        config=config,
        announce=click.echo,
    )


# --- Lists -----------------------------------------------------------------------------------

lists_cli = AppGroup("lists", help="Import recipient lists.")


@lists_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="The new list's name.")
@click.option("--append-to", help="Add the file to the existing list of this name instead.")
@click.option("--phone-column", help="The phone column: its header, or its number (1 = first).")
@click.option("--sheet", help="The worksheet of an Excel workbook (default: the first with rows).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--max-mb",
    type=click.IntRange(min=1),
    help="The largest file accepted, in MB (default: MAX_UPLOAD_MB, as on the pages).",
)
def import_list(file: Path, name, append_to, phone_column, sheet, as_json, max_mb):
    """Import FILE (CSV, or an Excel .xlsx workbook) into a list and print the report: the same
    import as the pages.

    Every column but the phone column is kept as a personalisation field.
    """
    from webapp.services import imports, lists, settings

    if bool(name) == bool(append_to):
        raise click.UsageError("Give --name for a new list, or --append-to for an existing one.")
    target = None
    if append_to:
        try:
            target = lists.find_list_by_name(db.session, append_to)
        except lists.ListInvalid as error:
            raise click.ClickException(str(error)) from error
    limit_mb = max_mb or current_app.config["MAX_UPLOAD_MB"]
    size = file.stat().st_size
    if size > limit_mb * 1024 * 1024:
        raise click.ClickException(
            f"{file.name} is {size / 2**20:,.1f} MB, larger than the limit of {limit_mb} MB "
            "(MAX_UPLOAD_MB, as on the pages). Nothing was stored; give --max-mb to raise it."
        )
    bar = click.progressbar(length=size, label="Importing", file=sys.stderr)
    read = [0]

    def advance(counts, bytes_done: int) -> None:
        bar.update(bytes_done - read[0])
        read[0] = bytes_done

    try:
        list_import = imports.import_file(
            db.session,
            file,
            upload_dir=Path(current_app.instance_path) / "uploads",
            default_country=settings.default_country(
                db.session, current_app.config["DEFAULT_COUNTRY"]
            ),
            list_name=name,
            append_to=target,
            phone_column=phone_column,
            sheet=sheet,
            progress=None if as_json else advance,
            max_bytes=limit_mb * 1024 * 1024,
        )
    except imports.ImportRefused as error:
        raise click.ClickException(str(error)) from error
    finally:
        if not as_json:
            bar.render_finish()
    report = imports.report(list_import)
    outcome = (
        f"{report['imported']} imported, {report['invalid']} invalid, "
        f"{report['duplicates']} duplicates, {report['opted_out']} opted out"
        if list_import.status.is_done
        else f"failed: {list_import.error}"
    )
    _audit("list_imported", list_import.recipient_list, f"{file.name}: {outcome}")
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo(
            f"List {report['list']!r} (id {report['list_id']}): {report['rows']} rows, "
            f"{report['imported']} imported, {report['invalid']} invalid, "
            f"{report['duplicates']} duplicates, {report['opted_out']} opted out; "
            f"{report['landlines']} probably landlines."
        )
    if not list_import.status.is_done:
        raise click.ClickException(list_import.error or "The import failed.")


# --- Opt-outs and webhooks -------------------------------------------------------------------

optouts_cli = AppGroup(
    "optouts", help="The opt-out list (each change goes into the consent record)."
)


def _default_country() -> str:
    from webapp.services import settings

    return settings.default_country(db.session, current_app.config["DEFAULT_COUNTRY"])


@optouts_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_opt_outs(as_json: bool):
    """Every opted-out number: when, how (typed, import, reply, link, admin) and the campaign."""
    from webapp.services import optouts

    for opt_out in optouts.all_opt_outs(db.session):
        row = {
            "msisdn": opt_out.msisdn,
            "at": opt_out.created_at.isoformat(timespec="seconds"),
            "how": opt_out.source.value,
            "campaign_id": opt_out.campaign_id,
            "campaign": opt_out.campaign.name if opt_out.campaign else None,
            "note": opt_out.note,
        }
        if as_json:
            click.echo(json.dumps(row))
        else:
            campaign = f"  campaign {row['campaign']!r}" if row["campaign"] else ""
            click.echo(f"+{row['msisdn']}  {row['at']}  {row['how']}{campaign}")


def _audit_opt_outs(action: str, numbers, result, done: str, not_done: str) -> None:
    """One audit event for the command, when it changed the list."""
    from webapp.services.audit import Target

    if result.added:
        what = f"{result.added} {done}, {result.already} {not_done}, {len(result.invalid)} invalid"
        _audit(action, Target("opt_out", None, " ".join(numbers)[:200]), what)


def _report(result, done: str, not_done: str) -> None:
    for given, reason in result.invalid:
        click.echo(f"{given}: {reason}", err=True)
    click.echo(
        f"{result.added} {done}, {result.already} {not_done}, {len(result.invalid)} invalid."
    )
    if result.invalid:
        raise click.exceptions.Exit(1)


@optouts_cli.command("add")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--note", default=None, help="Why (shown on the opt-out list).")
def add_opt_outs(numbers, note):
    """Opt NUMBER... out, as the opt-out page does (recorded as by an admin)."""
    from webapp.models import ConsentSource
    from webapp.services import optouts

    result = optouts.add_opt_outs(
        db.session,
        numbers,
        default_country=_default_country(),
        note=note,
        source=ConsentSource.ADMIN,
    )
    _audit_opt_outs("opt_out_added", numbers, result, "added", "already on the list")
    _report(result, "added", "already on the list")


@optouts_cli.command("remove")
@click.argument("numbers", nargs=-1, required=True)
def remove_opt_outs(numbers):
    """Take NUMBER... off the opt-out list (an opt-in by an admin in the consent record)."""
    from webapp.models import ConsentSource
    from webapp.services import optouts

    result = optouts.remove_opt_outs(
        db.session, numbers, default_country=_default_country(), source=ConsentSource.ADMIN
    )
    _audit_opt_outs("opt_out_removed", numbers, result, "removed", "not on the list")
    _report(result, "removed", "not on the list")


webhooks_cli = AppGroup("webhooks", help="The addresses the gateway posts to.")


@webhooks_cli.command("urls")
def webhook_urls():
    """Print the delivery-report and inbound (replies) webhook addresses to enter at the gateway."""
    from webapp.addresses import DELIVERY_REPORT_PATH, REPLY_WEBHOOK_PATH

    app = current_app
    base = (app.config.get("PUBLIC_URL") or "").rstrip("/")
    if not base:
        click.echo("PUBLIC_URL is not set: put the dashboard's public address first.", err=True)
        base = "<PUBLIC_URL>"
    click.echo(f"Delivery reports: {base}{DELIVERY_REPORT_PATH}")
    click.echo(f"Replies (inbound): {base}{REPLY_WEBHOOK_PATH}")
    if app.config.get("WEBHOOK_SECRET"):
        click.echo("Both are signed with WEBHOOK_SECRET: enter the same secret at the gateway.")
