"""Clicks on tracked links: following one (the public redirect), and what they add up to.

Following a link is one indexed look-up and one insert (on PostgreSQL one statement, committed
without waiting for the disk), so the redirect stays fast. Every
click is stored; it *counts* as a person's click only when it is neither

- a link-preview bot's: a known preview user agent (``PREVIEW_BOTS``), or a click within
  ``EARLY_CLICK_SECONDS`` of the message's delivery (messaging apps fetch a link to draw its
  preview as the message arrives, before anyone could tap it), nor
- a double tap: the same recipient's second click on the same link within
  ``DOUBLE_TAP_SECONDS`` of their last counted click (stored, not counted).

The click-through rate is unique clickers (recipients with a counted click) over delivered
recipients. Redirects go only to the campaign's stored targets: a code names a link of the
recipient's own campaign, never a URL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Boolean,
    ColumnElement,
    String,
    and_,
    bindparam,
    case,
    distinct,
    exists,
    false,
    func,
    insert,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import Session

from webapp.models import (
    CampaignLink,
    CampaignRecipient,
    CampaignTestSend,
    DeliveryOutcome,
    LinkClick,
    utcnow,
)
from webapp.services import tracked_links
from webapp.services.delivery import delivery_counts

DOUBLE_TAP_SECONDS = 60
EARLY_CLICK_SECONDS = 10
PERSON = "person"
EARLY = "early"

# (text in the User-Agent, the name stored): the link-preview fetchers of messaging and social
# apps and the big crawlers. Apple's Messages previews links as "facebookexternalhit/1.1
# Facebot Twitterbot/1.0". Command-line clients (curl) are not on it: a person may use one.
PREVIEW_BOTS = (
    ("facebookexternalhit", "Facebook"),
    ("facebot", "Facebook"),
    ("twitterbot", "Twitter"),
    ("slackbot", "Slack"),
    ("whatsapp", "WhatsApp"),
    ("telegrambot", "Telegram"),
    ("skypeuripreview", "Skype"),
    ("discordbot", "Discord"),
    ("linkedinbot", "LinkedIn"),
    ("googlebot", "Google"),
    ("bingbot", "Bing"),
    ("applebot", "Apple"),
    ("viber", "Viber"),
    ("snapchat", "Snapchat"),
    ("pinterestbot", "Pinterest"),
    ("redditbot", "Reddit"),
    ("embedly", "Embedly"),
    ("google-pagerenderer", "Google"),
)

_L = CampaignLink.__table__
_C = LinkClick.__table__
_R = CampaignRecipient.__table__

# Built once: the redirect runs this for every click.
_FIND = (
    select(
        _R.c.campaign_id,
        _R.c.delivery_updated_at,
        _L.c.id,
        _L.c.target,
        exists()
        .where(
            _C.c.link_id == _L.c.id,
            _C.c.recipient_id == _R.c.id,
            _C.c.counted,
            _C.c.clicked_at > bindparam("since", type_=LinkClick.clicked_at.type),
        )
        .label("recent"),
    )
    .select_from(_R.join(_L, _L.c.campaign_id == _R.c.campaign_id))
    .where(_R.c.id == bindparam("recipient_id"), _L.c.ordinal == bindparam("number"))
)
_RECORD = insert(_C)
_TIME = LinkClick.clicked_at.type
_SQLITE_CLICKS = threading.Lock()


def _find_and_record():
    """PostgreSQL: the look-up and the insert as one statement (a data-modifying CTE), so a
    click is one round trip to the database; the rules are those of `follow_link`."""
    found = _FIND.cte("found")
    person = bindparam("person", type_=Boolean)
    early = and_(
        person,
        func.coalesce(found.c.delivery_updated_at > bindparam("early_since", type_=_TIME), false()),
    )
    is_bot = or_(not_(person), early)
    recorded = (
        insert(_C)
        .from_select(
            ["campaign_id", "link_id", "recipient_id", "clicked_at", "agent", "is_bot", "counted"],
            select(
                found.c.campaign_id,
                found.c.id,
                bindparam("recipient_id", type_=_C.c.recipient_id.type),
                bindparam("now", type_=_TIME),
                case((early, EARLY), else_=bindparam("agent", type_=String)),
                is_bot,
                and_(not_(is_bot), not_(found.c.recent)),
            ),
        )
        .returning(_C.c.id)
        .cte("recorded")
    )
    return select(found.c.target).add_cte(recorded)


_FIND_AND_RECORD = _find_and_record()


def agent_of(user_agent: str | None) -> str:
    """The preview bot a User-Agent names, or ``PERSON``."""
    lowered = (user_agent or "").lower()
    for needle, name in PREVIEW_BOTS:
        if needle in lowered:
            return name
    return PERSON


def follow_link(
    session: Session,
    secret: str,
    code: str,
    user_agent: str | None,
    *,
    now: datetime | None = None,
) -> str | None:
    """Record a click on a short link and return where it goes; None for a code this app did
    not make (nothing is recorded then). A test message's link goes where the campaign's does
    and is recorded nowhere."""
    found = tracked_links.decode(secret, code)
    if found is None:
        return test_link_target(session, secret, code)
    recipient_id, number = found
    now = now or utcnow()
    since = now - timedelta(seconds=DOUBLE_TAP_SECONDS)
    agent = agent_of(user_agent)
    engine = session.get_bind()
    # Core on a connection of its own: no ORM session work on the redirect's path.
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            # A click is a statistic: it need not wait for the disk (a crash of the database
            # can lose its last fraction of a second of clicks, and never corrupts anything).
            connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            return connection.execute(
                _FIND_AND_RECORD,
                {
                    "recipient_id": recipient_id,
                    "number": number,
                    "since": since,
                    "now": now,
                    "agent": agent,
                    "person": agent == PERSON,
                    "early_since": now - timedelta(seconds=EARLY_CLICK_SECONDS),
                },
            ).scalar()
    # SQLite: the clicks of this process's threads take turns here rather than in SQLite's busy
    # handler, whose sleeps (1, 2, 5, 10 ms ...) would stretch every click at once.
    with _SQLITE_CLICKS, engine.begin() as connection:
        row = connection.execute(
            _FIND, {"recipient_id": recipient_id, "number": number, "since": since}
        ).first()
        if row is None:
            return None
        campaign_id, delivered_at, link_id, target, recent = row
        early = delivered_at is not None and now < delivered_at + timedelta(
            seconds=EARLY_CLICK_SECONDS
        )
        if agent == PERSON and early:
            agent = EARLY
        is_bot = agent != PERSON
        connection.execute(
            _RECORD,
            {
                "campaign_id": campaign_id,
                "link_id": link_id,
                "recipient_id": recipient_id,
                "clicked_at": now,
                "agent": agent,
                "is_bot": is_bot,
                "counted": not is_bot and not recent,
            },
        )
    return target


def test_link_target(session: Session, secret: str, code: str) -> str | None:
    """Where a test message's short link goes: its campaign's link of that number (the
    campaign's texts as they are now), or None."""
    found = tracked_links.decode_test(secret, code)
    if found is None:
        return None
    test_send_id, number = found
    test = session.get(CampaignTestSend, test_send_id)
    if test is None:
        return None
    targets = tracked_links.campaign_targets(test.campaign)
    return targets[number - 1] if 1 <= number <= len(targets) else None


# --- What the clicks add up to ---------------------------------------------------------------


def unique_clickers(
    session: Session, campaign_id: int, recipient_filter: ColumnElement[bool] | None = None
) -> int:
    """Recipients of the campaign with a click by a person on any of its links; with
    ``recipient_filter`` (a condition on ``CampaignRecipient``, e.g. one A/B variant's
    recipients) only those recipients."""
    query = select(func.count(distinct(LinkClick.recipient_id))).where(
        LinkClick.campaign_id == campaign_id, LinkClick.counted
    )
    if recipient_filter is not None:
        query = query.join(CampaignRecipient, CampaignRecipient.id == LinkClick.recipient_id).where(
            recipient_filter
        )
    return session.scalar(query) or 0


def rate_text(clickers: int, delivered: int) -> str:
    """A click-through rate as shown: "12.5 %", or "–" before anything was delivered."""
    return f"{100 * clickers / delivered:.1f} %" if delivered else "–"


@dataclass(frozen=True)
class LinkFigures:
    """One tracked link's clicks (``number`` 0: all links together)."""

    number: int
    target: str
    clicks: int  # by people, double taps left out
    clickers: int  # recipients with a counted click
    bot_clicks: int
    delivered: int

    @property
    def rate(self) -> str:
        return rate_text(self.clickers, self.delivered)


@dataclass(frozen=True)
class CampaignClicks:
    links: list[LinkFigures]
    total: LinkFigures


def campaign_clicks(session: Session, campaign_id: int) -> CampaignClicks | None:
    """Clicks, unique clickers and click-through rate per link and in total; None for a
    campaign without tracked links."""
    links = session.execute(
        select(CampaignLink.id, CampaignLink.ordinal, CampaignLink.target)
        .where(CampaignLink.campaign_id == campaign_id)
        .order_by(CampaignLink.ordinal)
    ).all()
    if not links:
        return None
    counted = LinkClick.counted.is_(True)
    rows = session.execute(
        select(
            LinkClick.link_id,
            func.count().filter(counted),
            func.count(distinct(LinkClick.recipient_id)).filter(counted),
            func.count().filter(LinkClick.is_bot),
        )
        .where(LinkClick.campaign_id == campaign_id)
        .group_by(LinkClick.link_id)
    ).all()
    by_link = {link_id: (clicks, clickers, bots) for link_id, clicks, clickers, bots in rows}
    delivered = delivery_counts(session, [campaign_id])[campaign_id].get(
        DeliveryOutcome.DELIVERED, 0
    )
    figures = [
        LinkFigures(ordinal, target, *by_link.get(link_id, (0, 0, 0)), delivered)
        for link_id, ordinal, target in links
    ]
    total = LinkFigures(
        0,
        "",
        sum(link.clicks for link in figures),
        unique_clickers(session, campaign_id),
        sum(link.bot_clicks for link in figures),
        delivered,
    )
    return CampaignClicks(figures, total)


@dataclass(frozen=True)
class RecipientClicks:
    clicks: int  # by the person, double taps left out
    first_at: datetime | None


def clicks_of(session: Session, recipient_ids: Iterable[int]) -> dict[int, RecipientClicks]:
    """Each campaign recipient's counted clicks and the first one's time (only those with a
    click are keys)."""
    ids = list(recipient_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(LinkClick.recipient_id, func.count(), func.min(LinkClick.clicked_at))
        .where(LinkClick.recipient_id.in_(ids), LinkClick.counted)
        .group_by(LinkClick.recipient_id)
    )
    return {recipient_id: RecipientClicks(count, first) for recipient_id, count, first in rows}
