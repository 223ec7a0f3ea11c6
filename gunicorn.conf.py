"""gunicorn's settings for the dashboard (scripts/start passes ``-c gunicorn.conf.py``).

Web workers: ``WEB_CONCURRENCY`` processes (default: one per core), each with the threads
scripts/start gives. With one, that worker also runs the background work in-process (the
embedded sandbox gateway, the job consumer and its sweep); with several, one background process
runs it for all of them (webapp/serving.py), started before the workers and stopped with the
server.

Background work starts with the server, not with the first request: after a restart an
interrupted send carries on and a due scheduled campaign goes out with nobody on the pages. On
SIGTERM (or Ctrl+C) it stops gracefully: requests to the gateway in flight finish within
STOP_GRACE_SECONDS (30 s by default) and the campaign is released for whoever carries on.
"""

import os

workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 1)
# More than STOP_GRACE_SECONDS: gunicorn kills a worker that is still busy after this long.
graceful_timeout = 45
control_socket_disable = True  # one per user and machine otherwise, shared by every instance
logger_class = "webapp.access_log.AccessLog"  # no access-log line per accepted delivery report


def when_ready(server):
    """Before the web workers fork: with several, start the one background process."""
    if server.cfg.workers > 1:
        from webapp.serving import BackgroundProcess

        server.background = BackgroundProcess(server.app.app_uri)
        server.background.start()
        server.log.info("background process %s runs the jobs and sandbox", server.background.pid)


def on_exit(server):
    """The server stops: so does the background process (gracefully, within the grace)."""
    background = getattr(server, "background", None)
    if background is not None:
        background.stop(timeout=graceful_timeout)


def post_worker_init(worker):
    """The app is loaded in this worker: start its in-process job consumer and sweep (only
    with WORKER=thread, which a background process turns off for the web workers)."""
    jobs = _jobs_of(worker)
    if jobs is not None:
        jobs.start_background_work()


def worker_exit(server, worker):
    """The worker is leaving (SIGTERM, a restart): let running jobs stop within the grace."""
    jobs = _jobs_of(worker)
    if jobs is not None:
        jobs.stop_consumer()


def _jobs_of(worker):
    return getattr(getattr(worker, "wsgi", None), "extensions", {}).get("jobs")
