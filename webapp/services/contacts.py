"""One number's history, the "what did we send this person" view: every campaign message and
test it got (text, status, cost), the lists it is on with its fields, its replies, and its
consent: opted out or not, since when, from which campaign. Read only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session, joinedload

from webapp.models import (
    Campaign,
    CampaignRecipient,
    CampaignTestSend,
    ConsentEvent,
    OptOut,
    Recipient,
    RecipientList,
    Reply,
)
from webapp.services.outcomes import OutcomeRow, outcome_rows
from webapp.services.pages import Page, count_rows, within_pages
from webapp.sms.phones import normalise_msisdn
from webapp.states import DeliveryOutcome

MESSAGES_PER_PAGE = 25
MAX_SHOWN = 200  # the newest lists, tests and replies of a number; older ones are counted


class NotAPhoneNumber(ValueError):
    """What was typed in the search box is not a phone number (the message says why)."""


def contact_number(typed: str, default_country: str) -> str:
    """The MSISDN of a number as a person types it (spaces, dashes, +, 00, national form)."""
    text = typed.strip()[:40]
    if not text:
        raise NotAPhoneNumber("Type a phone number to see what was sent to it.")
    result = normalise_msisdn(text, default_country)
    if result.msisdn is None:
        raise NotAPhoneNumber(f"“{text}” is not a phone number: {result.reason}.")
    return result.msisdn


@dataclass(frozen=True)
class CampaignMessage:
    campaign: Campaign
    outcome: OutcomeRow


@dataclass(frozen=True)
class TestMessage:
    test: CampaignTestSend
    status: str | None
    at: datetime | None

    @property
    def outcome(self) -> DeliveryOutcome:
        return DeliveryOutcome.of(self.status)


@dataclass(frozen=True)
class ListEntry:
    recipient_list: RecipientList
    fields: dict


@dataclass
class ContactHistory:
    msisdn: str
    messages: Page[CampaignMessage]
    tests: list[TestMessage] = field(default_factory=list)
    lists: list[ListEntry] = field(default_factory=list)
    lists_total: int = 0
    replies: list[Reply] = field(default_factory=list)
    replies_total: int = 0
    opt_out: OptOut | None = None
    consent: list[ConsentEvent] = field(default_factory=list)

    @property
    def is_known(self) -> bool:
        """Whether the dashboard has anything at all about the number."""
        return bool(
            self.messages.total
            or self.tests
            or self.lists_total
            or self.replies_total
            or self.opt_out
            or self.consent
        )


def contact_history(session: Session, msisdn: str, *, page: int = 1) -> ContactHistory:
    """Everything the dashboard holds about ``msisdn``; campaign messages newest first, a page at
    a time (a number can have received hundreds)."""
    return ContactHistory(
        msisdn=msisdn,
        messages=_campaign_messages(session, msisdn, page),
        tests=_test_messages(session, msisdn),
        lists=_list_entries(session, msisdn),
        lists_total=count_rows(
            session,
            select(Recipient.id)
            .join(RecipientList, RecipientList.id == Recipient.list_id)
            .where(Recipient.msisdn == msisdn, RecipientList.hidden.is_(False)),
        ),
        replies=list(
            session.scalars(
                select(Reply)
                .where(Reply.msisdn == msisdn)
                .options(joinedload(Reply.campaign))
                .order_by(Reply.sent_at.desc(), Reply.id.desc())
                .limit(MAX_SHOWN)
            )
        ),
        replies_total=count_rows(session, select(Reply.id).where(Reply.msisdn == msisdn)),
        opt_out=session.get(OptOut, msisdn),
        consent=list(
            session.scalars(
                select(ConsentEvent)
                .where(ConsentEvent.msisdn == msisdn)
                .options(joinedload(ConsentEvent.campaign), joinedload(ConsentEvent.user))
                .order_by(ConsentEvent.id.desc())
            )
        ),
    )


def _campaign_messages(session: Session, msisdn: str, page: int) -> Page[CampaignMessage]:
    query = select(CampaignRecipient).where(CampaignRecipient.msisdn == msisdn)
    total = count_rows(session, query)
    page = within_pages(page, total, MESSAGES_PER_PAGE)
    sent_at = func.coalesce(Campaign.started_at, Campaign.confirmed_at, Campaign.created_at)
    recipients = list(
        session.scalars(
            query.join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .order_by(sent_at.desc(), Campaign.id.desc())
            .offset((page - 1) * MESSAGES_PER_PAGE)
            .limit(MESSAGES_PER_PAGE)
        )
    )
    rows = outcome_rows(session, recipients)
    messages = [
        CampaignMessage(session.get(Campaign, recipient.campaign_id), row)
        for recipient, row in zip(recipients, rows, strict=True)
    ]
    return Page(messages, total, page, MESSAGES_PER_PAGE)


def _test_messages(session: Session, msisdn: str) -> list[TestMessage]:
    # The numbers are a JSON list: its text holds the number in quotes; the Python check below
    # drops a longer number that merely contains it.
    candidates = session.scalars(
        select(CampaignTestSend)
        .where(cast(CampaignTestSend.numbers, String).like(f'%"{msisdn}"%'))
        .options(joinedload(CampaignTestSend.campaign))
        .order_by(CampaignTestSend.id.desc())
        .limit(MAX_SHOWN)
    )
    tests = []
    for test in candidates:
        if msisdn not in (test.numbers or []):
            continue
        report = (test.deliveries or {}).get(msisdn) or {}
        at = report.get("time")
        tests.append(
            TestMessage(test, report.get("status"), datetime.fromtimestamp(at, UTC) if at else None)
        )
    return tests


def _list_entries(session: Session, msisdn: str) -> list[ListEntry]:
    rows = session.execute(
        select(Recipient.fields, RecipientList)
        .join(RecipientList, RecipientList.id == Recipient.list_id)
        .where(Recipient.msisdn == msisdn, RecipientList.hidden.is_(False))
        .order_by(RecipientList.name)
        .limit(MAX_SHOWN)
    )
    return [ListEntry(recipient_list, fields or {}) for fields, recipient_list in rows]
