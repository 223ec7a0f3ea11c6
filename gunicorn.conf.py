"""gunicorn's settings for the dashboard (scripts/start passes ``-c gunicorn.conf.py``).

Background work starts with each worker process, not with the first request: after a restart an
interrupted send carries on and a due scheduled campaign goes out with nobody on the pages. On
SIGTERM a worker stops its background work gracefully: requests to the gateway in flight finish
within STOP_GRACE_SECONDS (30 s by default) and the campaign is released for whoever carries on.
"""

# More than STOP_GRACE_SECONDS: gunicorn kills a worker that is still busy after this long.
graceful_timeout = 45
control_socket_disable = True  # one per user and machine otherwise, shared by every instance


def post_worker_init(worker):
    """The app is loaded in this worker: start its in-process job consumer and sweep."""
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
