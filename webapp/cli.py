"""``flask`` commands for operators: the same services as the pages, no second code path."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from webapp.extensions import db
from webapp.models import Role
from webapp.money import money_text
from webapp.services import accounts
from webapp.services.preview import PreviewFailed, preview_campaign


def register(app: Flask) -> None:
    for command in (users, campaigns_cli, worker, sandbox, lists_cli):
        app.cli.add_command(command)


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
    click.echo(f"Created {user.email} ({user.role.value}).")


# --- Campaigns, worker and sandbox -----------------------------------------------------------

campaigns_cli = AppGroup("campaigns", help="Create, preview and send campaigns.")


@campaigns_cli.command("send")
@click.option("--name", required=True, help="Campaign name (the gateway's label).")
@click.option("--sender", required=True, help="Up to 11 letters and digits, or 15 digits.")
@click.option("--list", "list_names", multiple=True, required=True, help="A list name; repeat.")
@click.option("--message", required=True, help="The text; %field% tags are personalised.")
@click.option("--encoding", type=click.Choice(["auto", "GSM", "UCS2"]), default="auto")
@click.option("--yes", is_flag=True, help="Send without asking after the preview.")
@click.option("--wait", is_flag=True, help="Follow the send to the end with a progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def send_campaign(name, sender, list_names, message, encoding, yes, wait, as_json):
    """Create a campaign, preview its cost, and queue it: the same services as the pages."""
    from webapp.services import campaigns, lists, settings
    from webapp.services.progress import campaign_progress

    app = current_app
    try:
        chosen = [lists.find_list_by_name(db.session, list_name) for list_name in list_names]
        draft = campaigns.CampaignDraft(
            name=name,
            sender=sender,
            message=message,
            list_ids=[lst.id for lst in chosen],
            encoding=encoding,
        )
        campaign = campaigns.save_draft(db.session, None, draft)
        summary = preview_campaign(
            db.session,
            campaign,
            None,
            app.extensions["gateway"].client(),
            honours_dry_run=app.config["SMS_GATEWAY_HONOURS_DRY_RUN"],
            batch_size=app.config["SMS_BATCH_SIZE"],
            default_country=settings.default_country(db.session, app.config["DEFAULT_COUNTRY"]),
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
            f"{money_text(summary['cost'])} {summary['currency']}{estimate}, "
            f"{summary['batches']} batches."
        )
        for warning in summary["warnings"]:
            click.echo(f"Warning: {warning}")
    if not yes and not click.confirm("Send it?", err=as_json):
        raise click.ClickException(f"Not sent; the draft {campaign.name!r} was kept.")
    campaigns.confirm_campaign(db.session, campaign, None, batch_size=app.config["SMS_BATCH_SIZE"])
    jobs = app.extensions["jobs"]
    jobs.dispatch_campaign(campaign.id)
    if wait:
        if app.config["WORKER"] == "thread":
            jobs.start_consumer()
        _follow(campaign, quiet=as_json)
        jobs.stop_consumer()
    progress = campaign_progress(db.session, campaign)
    db.session.refresh(campaign)
    outcome = {
        "campaign_id": campaign.id,
        "status": campaign.status.value,
        "recipients": campaign.recipient_count,
        "batches": progress.batches_total,
        "sent": progress.sent,
        "unconfirmed": progress.unconfirmed,
        "failed": progress.failed,
        "segments": progress.segments if wait else summary["segments"],
        "cost": money_text(progress.cost if wait else summary["cost"]).replace(",", ""),
        "currency": summary["currency"],
        "cost_is_estimate": summary["estimate"] and not wait,
    }
    if as_json:
        click.echo(json.dumps(outcome))
    else:
        click.echo(f"Campaign {campaign.id}: {outcome['status']}, {outcome['sent']} sent.")


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


@click.command("worker")
@click.option("--workers", default=2, show_default=True, help="Jobs run at once.")
def worker(workers: int):
    """Run a queue consumer (with REDIS_URL set, run as many as you like)."""
    jobs = current_app.extensions["jobs"]
    click.echo(f"Worker consuming {jobs.huey.name} with {workers} threads. Ctrl+C stops it.")
    consumer = jobs.huey.create_consumer(workers=workers, worker_type="thread", max_delay=1.0)
    consumer.run()


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5001, show_default=True, type=int)
@click.option("--token", default=None, help="The token it accepts (default: generated).")
def sandbox(host: str, port: int, token: str | None):
    """Run the sandbox gateway alone, serving the contract's paths from its root."""
    from webapp.gateway.sandbox import SandboxConfig, serve_sandbox

    config = SandboxConfig(webhook_secret=current_app.config.get("WEBHOOK_SECRET"))
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
def import_list(file: Path, name, append_to, phone_column, sheet, as_json):
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
    bar = click.progressbar(length=file.stat().st_size, label="Importing", file=sys.stderr)
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
        )
    except imports.ImportRefused as error:
        raise click.ClickException(str(error)) from error
    finally:
        if not as_json:
            bar.render_finish()
    report = imports.report(list_import)
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
