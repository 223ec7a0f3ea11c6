"""Embedded mode: the in-process worker, the sweeper and the scheduler start with the gunicorn
process (gunicorn.conf.py), so an interrupted send carries on with nobody opening a page."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from helpers import confirmed_campaign_of, poll, process_environment

from webapp.extensions import db

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_confirmed_campaign_goes_out_after_a_restart_with_no_request(app, sandbox, tmp_path):
    with app.app_context():
        confirmed_campaign_of(db.session, sandbox, name="Restart", count=12, batch_size=5)
        # The process that confirmed it died before its job ran: only the sweep finds it.
    instance = tmp_path / "served-instance"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{free_port()}",
            f"webapp:create_app(instance_path={str(instance)!r})",
        ],
        cwd=ROOT,
        env=process_environment(app, sandbox, WORKER="thread"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
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
