"""gunicorn's access log for the dashboard (gunicorn.conf.py's ``logger_class``)."""

from gunicorn.glogging import Logger


class AccessLog(Logger):
    """gunicorn's access log without the lines of reports and replies the webhooks accepted:
    the gateway posts a thousand a second, and each line costs the web worker as much as a
    fifth of recording the report. Refused posts (4xx, 5xx) are logged as every request."""

    def access(self, resp, req, environ, request_time):
        if req.path.startswith("/webhooks/") and resp.status_code and resp.status_code < 300:
            return
        super().access(resp, req, environ, request_time)
