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


def register(app: Flask) -> None:
    for command in (users, campaigns_cli, worker, sandbox):
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
    from webapp.services import campaigns, dispatch

    app = current_app
    try:
        lists = [campaigns.find_list(db.session, list_name) for list_name in list_names]
        draft = campaigns.CampaignDraft(
            name=name,
            sender=sender,
            message=message,
            list_ids=[lst.id for lst in lists],
            encoding=encoding,
        )
        campaign = campaigns.save_draft(db.session, None, draft)
        summary = campaigns.preview_campaign(
            db.session,
            campaign,
            None,
            app.extensions["gateway"].client(),
            honours_dry_run=app.config["SMS_GATEWAY_HONOURS_DRY_RUN"],
            batch_size=app.config["SMS_BATCH_SIZE"],
            default_country=app.config["DEFAULT_COUNTRY"],
        )
    except campaigns.CampaignInvalid as error:
        raise click.ClickException("; ".join(error.errors.values())) from error
    except campaigns.PreviewFailed as error:
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
    jobs.enqueue("dispatch_campaign", campaign.id)
    if wait:
        if app.config["WORKER"] == "thread":
            jobs.start_consumer()
        _follow(campaign, quiet=as_json)
        jobs.stop_consumer()
    progress = dispatch.campaign_progress(db.session, campaign)
    db.session.refresh(campaign)
    outcome = {
        "campaign_id": campaign.id,
        "status": campaign.status.value,
        "recipients": campaign.recipient_count,
        "batches": progress["batches_total"],
        "sent": progress["sent"],
        "unconfirmed": progress["unconfirmed"],
        "failed": progress["failed"],
        "segments": progress["segments"] if wait else summary["segments"],
        "cost": money_text(progress["cost"] if wait else summary["cost"]).replace(",", ""),
        "currency": summary["currency"],
        "cost_is_estimate": summary["estimate"] and not wait,
    }
    if as_json:
        click.echo(json.dumps(outcome))
    else:
        click.echo(f"Campaign {campaign.id}: {outcome['status']}, {outcome['sent']} sent.")


def _follow(campaign, *, quiet: bool) -> None:
    """Poll the campaign until it stops sending, showing batches done."""
    from webapp.models import CampaignStatus
    from webapp.services import dispatch

    total = len(campaign.batches)
    done = 0
    with click.progressbar(
        length=total, label="Sending", file=sys.stderr if quiet else None
    ) as bar:
        while True:
            db.session.expire_all()
            progress = dispatch.campaign_progress(db.session, campaign)
            bar.update(progress["batches_done"] - done)
            done = progress["batches_done"]
            if campaign.status not in (
                CampaignStatus.QUEUED,
                CampaignStatus.SCHEDULED,
                CampaignStatus.SENDING,
            ):
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
