"""gunicorn's access log for the dashboard (gunicorn.conf.py's ``logger_class``)."""

from gunicorn.glogging import Logger

# Requests that come by the thousand a second and are recorded in the database anyway: the
# webhooks' accepted posts, and tracked links' redirects (services.tracked_links.LINK_PATH).
QUIET = (("/webhooks/", 300), ("/c/", 400))


class AccessLog(Logger):
    """gunicorn's access log without the lines of reports and replies the webhooks accepted and
    of tracked links followed: each line costs the web worker as much as a fifth of recording
    the report or the click. Refused requests (4xx, 5xx) are logged as every request."""

    def access(self, resp, req, environ, request_time):
        status = resp.status_code or 0
        if any(req.path.startswith(prefix) and status < below for prefix, below in QUIET):
            return
        super().access(resp, req, environ, request_time)
