"""Fixtures of the security suite."""

from __future__ import annotations

import pytest


@pytest.fixture
def password_checks(monkeypatch) -> list[tuple[str, str]]:
    """Every password hash computed from now on, as (method, password): what a check cost."""
    import werkzeug.security

    real = werkzeug.security._hash_internal
    checks: list[tuple[str, str]] = []

    def spy(method, salt, password):
        checks.append((method, password))
        return real(method, salt, password)

    monkeypatch.setattr(werkzeug.security, "_hash_internal", spy)
    return checks


@pytest.fixture
def sent_recipient(app):
    """One recipient of a sent campaign, as a delivery report names it: (message id, msisdn)."""
    from webapp.extensions import db
    from webapp.models import (
        Batch,
        BatchState,
        Campaign,
        CampaignRecipient,
        CampaignStatus,
        RecipientState,
    )

    with app.app_context():
        campaign = Campaign(name="Hello", sender="Shop", message="Hi", status=CampaignStatus.DONE)
        db.session.add(campaign)
        db.session.flush()
        batch = Batch(
            campaign_id=campaign.id, number=1, state=BatchState.SENT, size=1, message_id="1000001"
        )
        db.session.add(batch)
        db.session.flush()
        db.session.add(
            CampaignRecipient(
                campaign_id=campaign.id,
                batch_id=batch.id,
                msisdn="4520100000",
                state=RecipientState.SENT,
            )
        )
        db.session.commit()
    return "1000001", "4520100000"


@pytest.fixture
def webhook_path(app) -> str:
    """The path delivery reports are posted to, as the dashboard gives it to the gateway."""
    from urllib.parse import urlsplit

    from webapp.addresses import delivery_report_url

    return urlsplit(delivery_report_url(app)).path


@pytest.fixture
def delivery_status(app):
    """``delivery_status(msisdn)``: a recipient's (status, time of the report)."""
    from webapp.extensions import db
    from webapp.models import CampaignRecipient

    def read(msisdn: str):
        with app.app_context():
            recipient = db.session.query(CampaignRecipient).filter_by(msisdn=msisdn).one()
            return recipient.delivery_status, recipient.delivery_updated_at

    return read
