"""Embedded mode: the in-process worker, the sweeper and the scheduler start with the gunicorn
process (gunicorn.conf.py), so an interrupted send carries on with nobody opening a page; with
several web workers they run once, in one background process that stops with the server."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests
from helpers import confirmed_campaign_of, poll, process_environment
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import CampaignRecipient

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(instance: Path, port: int, *, workers: int, env: dict) -> subprocess.Popen:
    """gunicorn with the dashboard's gunicorn.conf.py, its logs (access log on stdout, the rest
    on stderr) kept for the test."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "-",
            f"webapp:create_app(instance_path={str(instance)!r})",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_a_confirmed_campaign_goes_out_after_a_restart_with_no_request(app, sandbox, tmp_path):
    with app.app_context():
        confirmed_campaign_of(db.session, sandbox, name="Restart", count=12, batch_size=5)
        # The process that confirmed it died before its job ran: only the sweep finds it.
    env = process_environment(app, sandbox, WORKER="thread")
    server = serve(tmp_path / "served-instance", free_port(), workers=1, env=env)
    try:
        poll(
            lambda: sandbox.store.count_received(label="Restart") == 12,
            timeout=60,
            what="the served process to send the campaign without a request",
        )
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=60)
    assert sandbox.store.count_received(label="Restart") == 12, errors.decode()[-2000:]


def test_two_web_workers_send_once_through_one_background_sandbox_and_stop_with_it(
    app, sandbox, tmp_path
):
    with app.app_context():
        campaign_id = confirmed_campaign_of(
            db.session, sandbox, name="Two workers", count=12, batch_size=5
        ).id
    instance = tmp_path / "served-instance"
    port = free_port()
    # No gateway address: the embedded sandbox, which must run once for both web workers.
    env = process_environment(app, sandbox, WORKER="thread", HOST="127.0.0.1", PORT=port)
    del env["SMS_GATEWAY_URL"], env["SANDBOX_API_TOKEN"]
    server = serve(instance, port, workers=2, env=env)

    def reported() -> int:  # the sandbox's reports, posted back to the web workers
        with app.app_context():
            db.session.remove()
            return db.session.scalar(
                select(func.count()).where(
                    CampaignRecipient.campaign_id == campaign_id,
                    CampaignRecipient.delivery_status.is_not(None),
                )
            )

    try:
        poll(lambda: reported() == 12, timeout=90, what="the reports of the 12 recipients")
        forged = requests.post(
            f"http://127.0.0.1:{port}/webhooks/delivery-reports",
            json={"id": 1, "msisdn": 4520000000, "status": "DELIVERED"},
            headers={"X-Gwapi-Signature": "forged"},
            timeout=10,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        access, errors = server.communicate(timeout=120)
    log = errors.decode()
    assert server.returncode == 0, log[-3000:]
    assert forged.status_code == 401
    # The access log: the refused post, none of the sandbox's accepted reports.
    posts = [line for line in access.decode().splitlines() if "/webhooks/delivery-reports" in line]
    assert len(posts) == 1 and '" 401 ' in posts[0], posts[:5]
    from mtsms_sandbox import SandboxStore

    received = SandboxStore(instance / "sandbox.sqlite3").received_for(label="Two workers")
    assert len(received) == len({row["msisdn"] for row in received}) == 12  # each one once
    background = int(re.search(r"background process (\d+) runs", log).group(1))
    assert not _running(background), "the background process outlived the server"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
