"""Where the gateway reaches the dashboard: the public address and the webhook URLs, from
configuration only, so a web process, a worker and the embedded sandbox all agree."""

from __future__ import annotations

# The webhooks' paths (views.webhooks) carry no secret, since paths end up in access logs: the
# signature does the work.
DELIVERY_REPORT_PATH = "/webhooks/delivery-reports"
REPLY_WEBHOOK_PATH = "/webhooks/replies"


def delivery_report_url(app) -> str | None:
    """Where the gateway posts delivery reports, from configuration only (the same in a web and a
    worker process): ``PUBLIC_URL``, or in sandbox mode the loopback address the dashboard was
    started on (the sandbox runs beside it). None when unknown, or when reports are polled
    (``DELIVERY_REPORTS=poll``): reports are not asked for."""
    if app.config["DELIVERY_REPORTS"] == "poll":
        return None
    return _public_url(app, DELIVERY_REPORT_PATH)


def reply_webhook_url(app) -> str | None:
    """Where the gateway posts replies (inbound SMS); found like `delivery_report_url`."""
    return _public_url(app, REPLY_WEBHOOK_PATH)


def public_base_url(app) -> str | None:
    """The dashboard's public address, from configuration only (the same in a web and a worker
    process): ``PUBLIC_URL``, or in sandbox mode the loopback address it was started on."""
    base = app.config.get("PUBLIC_URL")
    if not base and app.config["SANDBOX_MODE"]:
        base = app.config["LOCAL_URL"]
    return base or None


def link_base_url(app) -> str | None:
    """Where tracked short links point: ``LINK_BASE_URL`` (a short domain served by this
    dashboard), else the public address."""
    return app.config.get("LINK_BASE_URL") or public_base_url(app)


def _public_url(app, path: str) -> str | None:
    base = public_base_url(app)
    return f"{base.rstrip('/')}{path}" if base else None
