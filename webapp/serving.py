"""Serving with several gunicorn workers (``WEB_CONCURRENCY`` above 1, one per core by default).

A single web worker runs everything in-process: the embedded sandbox gateway and the job
consumer with its sweep. With several, those must still run once, so gunicorn.conf.py starts
one background process (``flask background``) before the web workers fork; it announces how to
reach what it runs (the sandbox's address and token, ``WORKER=none``), and the web workers
inherit that through their environment. The master stops it when it stops itself (Ctrl+C,
SIGTERM); it also stops by itself once the master is gone, so it never outlives the server.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

from flask import Flask

READY_TIMEOUT_SECONDS = 300  # it migrates the database first, which can take a while


class BackgroundProcess:
    """The one `flask background` process of a server with several web workers."""

    def __init__(self, app_spec: str):
        self.app_spec = app_spec
        self.process: subprocess.Popen | None = None

    def start(self) -> dict[str, str]:
        """Start it, wait until it runs, and put what web workers need into ``os.environ``."""
        read_end, write_end = os.pipe()
        command = [sys.executable, "-m", "flask", "--app", self.app_spec, "background"]
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and app)
            [*command, "--ready-fd", str(write_end)],
            pass_fds=[write_end],
            start_new_session=True,  # Ctrl+C reaches the master only, which stops it gracefully
        )
        os.close(write_end)
        try:
            announced = _read_line(read_end, READY_TIMEOUT_SECONDS)
        finally:
            os.close(read_end)
        if not announced:
            self.stop()
            raise RuntimeError("The background process (flask background) did not start.")
        environment = json.loads(announced)
        os.environ.update(environment)
        return environment

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM: running jobs stop within STOP_GRACE_SECONDS; killed after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _read_line(fd: int, timeout: float) -> str:
    """One line from ``fd``; empty when the writer closes it or the time is up."""
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return ""
        chunk = os.read(fd, 4096)
        if not chunk:
            return ""
        data += chunk
    return data.decode().strip()


def run_background(app: Flask, announce) -> None:
    """What ``flask background`` runs until SIGTERM, Ctrl+C or its parent's exit: the embedded
    sandbox (sandbox mode without SMS_GATEWAY_URL) and, with WORKER=thread, the job consumer
    and its sweep. ``announce`` gets the environment web workers need, once all runs."""
    environment = {"WORKER": "none"}  # the web workers leave the jobs to this process
    sandbox = app.extensions["gateway"].start_embedded_sandbox()
    if sandbox is not None:
        environment["SMS_GATEWAY_URL"] = sandbox.mtsms_url
        environment["SANDBOX_API_TOKEN"] = sandbox.token
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    jobs = app.extensions["jobs"]
    jobs.start_background_work()
    announce(environment)
    if sandbox is None and app.config["WORKER"] != "thread":
        return  # a real gateway, and `flask worker` processes run the jobs: nothing to run
    parent = os.getppid()
    while not stop.wait(1.0) and os.getppid() == parent:
        pass
    jobs.stop_consumer()
    app.extensions["gateway"].close()
