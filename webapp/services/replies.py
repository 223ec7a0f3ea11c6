"""Replies from recipients (the gateway's inbound webhook): stored once, STOP and START acted on.

The gateway posts every reply as one JSON object and repeats it until it gets a 2xx, so a reply
is stored once per gateway ``id``. A reply whose first word is a STOP word opts the number out at
once, recording the reply, its time and the campaign last sent to that number; a START word
opts it back in. Both are consent events (`webapp.services.optouts.record_consent`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from webapp.gateway.errors import GatewayError, InvalidMessage
from webapp.gateway.messages import Recipient as GatewayRecipient
from webapp.gateway.messages import SmsMessage
from webapp.models import (
    Batch,
    Campaign,
    CampaignRecipient,
    ConsentAction,
    ConsentSource,
    RecipientState,
    Reply,
    User,
    utcnow,
)
from webapp.services import audit
from webapp.services.actors import user_id_of
from webapp.services.delivery import verify_report
from webapp.services.optouts import record_consent
from webapp.services.pages import Page, count_rows
from webapp.services.recipient_states import state_in
from webapp.services.settings import SettingError, get_setting, set_setting

STOP = "stop"
START = "start"
PER_PAGE = 50
CONFIRMATION_PENDING = "pending"
CONFIRMATION_SENDING = "sending"
CONFIRMATION_SENT = "sent"

_FIRST_WORD = re.compile(r"[\W_]*([^\W_]+)")
_DIGITS = re.compile(r"^\d{1,15}$")


class InvalidReply(ValueError):
    """The posted body is not a reply the contract describes (it is refused with a 400)."""


@dataclass(frozen=True)
class ReplyWords:
    """The workspace's keywords (compared case-insensitively) and the STOP confirmation text
    ("" for none)."""

    stop: frozenset[str]
    start: frozenset[str]
    confirmation: str = ""

    @classmethod
    def of(cls, stop: Iterable[str], start: Iterable[str], confirmation: str = "") -> ReplyWords:
        return cls(
            frozenset(w.casefold() for w in stop if w),
            frozenset(w.casefold() for w in start if w),
            confirmation.strip(),
        )


STOP_WORDS_SETTING = "reply_stop_words"
START_WORDS_SETTING = "reply_start_words"
CONFIRMATION_SETTING = "reply_stop_confirmation"
MAX_CONFIRMATION_LENGTH = 300
_WORD = re.compile(r"^[^\W_]{1,20}$")


def split_words(text: str) -> list[str]:
    """Keywords as typed in a box: separated by commas, spaces or lines; upper-cased, once."""
    return list(dict.fromkeys(w.upper() for w in re.split(r"[\s,;]+", text or "") if w))


def reply_words(session: Session, config) -> ReplyWords:
    """The workspace's STOP and START words and confirmation: Settings, else the config."""
    stop = get_setting(session, STOP_WORDS_SETTING, config["REPLY_STOP_WORDS"])
    start = get_setting(session, START_WORDS_SETTING, config["REPLY_START_WORDS"])
    confirmation = get_setting(session, CONFIRMATION_SETTING, config["REPLY_STOP_CONFIRMATION"])
    return ReplyWords.of(split_words(stop), split_words(start), confirmation)


def set_reply_words(session: Session, stop: str, start: str, confirmation: str) -> ReplyWords:
    """Save the keywords and confirmation; raises SettingError naming what is wrong."""
    stop_words, start_words = split_words(stop), split_words(start)
    if not stop_words:
        raise SettingError("Give at least one STOP word, such as STOP.")
    for word in stop_words + start_words:
        if not _WORD.match(word):
            raise SettingError(f"{word} is not one word of letters and digits.")
    both = set(stop_words) & set(start_words)
    if both:
        raise SettingError(f"{', '.join(sorted(both))} cannot both opt out and opt in.")
    confirmation = (confirmation or "").strip()
    if len(confirmation) > MAX_CONFIRMATION_LENGTH:
        raise SettingError(f"The confirmation can be at most {MAX_CONFIRMATION_LENGTH} characters.")
    set_setting(session, STOP_WORDS_SETTING, ", ".join(stop_words))
    set_setting(session, START_WORDS_SETTING, ", ".join(start_words))
    set_setting(session, CONFIRMATION_SETTING, confirmation)
    return ReplyWords.of(stop_words, start_words, confirmation)


def verify_reply(
    body: dict, signature: str | None, secret: str | None, *, allow_unsigned: bool = False
) -> dict:
    """The reply's fields, once its signature is checked (when a webhook secret is set).

    The one place the inbound webhook is verified: the contract signs replies exactly like
    delivery reports (an HS256 JWT in X-Gwapi-Signature whose claims repeat the body), so this
    is `delivery.verify_report`. Raises InvalidDeliveryReport.
    """
    return verify_report(body, signature, secret, allow_unsigned=allow_unsigned)


def keyword_of(message: str, words: ReplyWords) -> str | None:
    """``"stop"`` or ``"start"`` when the message's first word is one of the workspace's
    keywords (any case, spaces and punctuation around it ignored), else None."""
    match = _FIRST_WORD.match(message or "")
    if match is None:
        return None
    first = match.group(1).casefold()
    if first in words.stop:
        return STOP
    if first in words.start:
        return START
    return None


def last_campaign_sent_to(session: Session, msisdn: str) -> int | None:
    """The campaign whose message most recently went to ``msisdn`` (what a reply answers)."""
    return session.scalar(
        select(CampaignRecipient.campaign_id)
        .join(Batch, CampaignRecipient.batch_id == Batch.id)
        .where(CampaignRecipient.msisdn == msisdn, state_in(RecipientState.SENT))
        .order_by(Batch.finished_at.desc().nulls_last(), CampaignRecipient.id.desc())
        .limit(1)
    )


def _parse(body: dict) -> tuple[int, str, str | None, str, datetime]:
    gateway_id, msisdn = body.get("id"), str(body.get("msisdn", ""))
    if isinstance(gateway_id, bool) or not isinstance(gateway_id, int | str):
        raise InvalidReply("The reply has no numeric id.")
    if not str(gateway_id).isdigit():
        raise InvalidReply("The reply has no numeric id.")
    if not _DIGITS.match(msisdn):
        raise InvalidReply("The reply's msisdn is not a number in international digits.")
    message = body.get("message")
    if not isinstance(message, str):
        raise InvalidReply("The reply has no message text.")
    receiver = body.get("receiver")
    receiver = str(receiver)[:15] if receiver not in (None, "") else None
    try:
        sent_at = datetime.fromtimestamp(int(body.get("senttime")), UTC)
    except (TypeError, ValueError, OverflowError):
        sent_at = utcnow()
    return int(gateway_id), msisdn, receiver, message, sent_at


def record_reply(
    session: Session,
    body: dict,
    words: ReplyWords,
    *,
    now: datetime | None = None,
    simulated: bool = False,
) -> tuple[Reply, bool]:
    """Store a verified reply once, and opt the number out (STOP) or in (START).

    Returns the reply and whether it is new; a repeat of a stored id changes nothing. Raises
    InvalidReply for a body that is not a reply. ``simulated`` (the sandbox's replies) says so
    in the consent record: that person never wrote STOP.
    """
    gateway_id, msisdn, receiver, message, sent_at = _parse(body)
    existing = session.scalar(select(Reply).where(Reply.gateway_id == gateway_id))
    if existing is not None:
        return existing, False
    reply = Reply(
        gateway_id=gateway_id,
        msisdn=msisdn,
        receiver=receiver,
        message=message[:2000],
        sent_at=sent_at,
        received_at=now or utcnow(),
        campaign_id=last_campaign_sent_to(session, msisdn),
        keyword=keyword_of(message, words),
    )
    session.add(reply)
    try:
        session.flush()
    except IntegrityError:  # the same id, posted twice at once: the other request stored it
        session.rollback()
        return session.scalar(select(Reply).where(Reply.gateway_id == gateway_id)), False
    if reply.keyword is not None:
        action = ConsentAction.OPT_OUT if reply.keyword == STOP else ConsentAction.OPT_IN
        changed = record_consent(
            session,
            msisdn,
            action,
            ConsentSource.REPLY,
            campaign_id=reply.campaign_id,
            reply_id=reply.id,
            note=("Sandbox, simulated: " if simulated else "")
            + f"Replied {message.strip()[:60]!r}",
            at=sent_at,
        )
        if changed:  # the opt-out list changed: an audit event (a repeat changes nothing)
            audit.record(
                session,
                "opt_out_added" if reply.keyword == STOP else "opt_out_removed",
                user=None,
                obj=audit.Target("opt_out", msisdn, f"+{msisdn}"),
                detail=("Sandbox, simulated: " if simulated else "")
                + f"by reply {message.strip()[:60]!r}",
            )
        if changed and reply.keyword == STOP and words.confirmation:
            reply.confirmation = CONFIRMATION_PENDING
    session.commit()
    return reply, True


def send_confirmation(session: Session, reply_id: int, client, text: str) -> str | None:
    """Send the STOP confirmation of a reply through the gateway, at most once.

    The reply moves ``pending -> sending`` by compare-and-set before the request, so a job run
    twice sends once; a request that failed is recorded with its error, never retried. Returns
    the reply's confirmation state, or None when nothing was due.
    """
    claimed = session.execute(
        update(Reply)
        .where(Reply.id == reply_id, Reply.confirmation == CONFIRMATION_PENDING)
        .values(confirmation=CONFIRMATION_SENDING)
    ).rowcount
    session.commit()
    if claimed != 1:
        return None
    reply = session.get(Reply, reply_id, populate_existing=True)
    campaign = session.get(Campaign, reply.campaign_id) if reply.campaign_id else None
    sender = reply.receiver or (campaign.sender if campaign else None)
    try:
        if not sender:
            raise InvalidMessage("No number to answer from: the reply named no receiver.")
        client.send(
            SmsMessage(
                message=text,
                recipients=[GatewayRecipient(reply.msisdn)],
                sender=sender,
                label="Opt-out confirmation",
                userref=f"reply-{reply.gateway_id}-confirmation",
            )
        )
    except (GatewayError, InvalidMessage) as error:
        reply.confirmation = f"not sent: {error}"[:200]
    else:
        reply.confirmation = CONFIRMATION_SENT
    session.commit()
    return reply.confirmation


# --- The inbox -------------------------------------------------------------------------------


def search_replies(
    session: Session,
    *,
    campaign_id: int | None = None,
    kind: str = "",
    handled: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[Reply]:
    """A page of replies, newest first. ``kind``: "stop", "start", "other" or "" (all);
    ``handled``: "yes", "no" or "" (all)."""
    statement = select(Reply)
    if campaign_id:
        statement = statement.where(Reply.campaign_id == campaign_id)
    if kind in (STOP, START):
        statement = statement.where(Reply.keyword == kind)
    elif kind == "other":
        statement = statement.where(Reply.keyword.is_(None))
    if handled == "yes":
        statement = statement.where(Reply.handled_at.is_not(None))
    elif handled == "no":
        statement = statement.where(Reply.handled_at.is_(None))
    total = count_rows(session, statement)
    page = max(1, page)
    rows = list(
        session.scalars(
            statement.order_by(Reply.received_at.desc(), Reply.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return Page(rows, total, page, per_page)


def campaigns_with_replies(session: Session) -> list[Campaign]:
    """The campaigns some reply answers, newest first: the inbox's campaign filter."""
    answered = select(Reply.campaign_id).where(Reply.campaign_id.is_not(None)).distinct()
    return list(
        session.scalars(
            select(Campaign).where(Campaign.id.in_(answered)).order_by(Campaign.id.desc())
        )
    )


def set_handled(session: Session, reply: Reply, user: User | None, handled: bool = True) -> None:
    """Mark a reply as dealt with (or not yet), and by whom."""
    reply.handled_at = utcnow() if handled else None
    reply.handled_by_id = user_id_of(user) if handled else None
    session.commit()
