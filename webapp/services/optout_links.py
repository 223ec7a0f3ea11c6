"""Opt-out links: a footer with a short link unique per recipient, for senders that cannot be
replied to (alphanumeric ones).

A code is the recipient's row id (6 base-62 characters) and a MAC of it under the app's secret
(7 characters, 41 bits), so nothing is stored per recipient and no code can be guessed: an
unknown or altered code matches nothing. Codes have one length, so the counter, the preview and
the cost count the footer's real length before any code exists.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy.orm import Session

from webapp.models import Campaign, CampaignRecipient, ConsentAction, ConsentSource, OptOut
from webapp.services import audit
from webapp.services.optouts import record_consent

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_CHARS = 6  # 62**6: 56 billion recipient rows
MAC_CHARS = 7  # 62**7 > 2**41: the part no one can guess
CODE_LENGTH = ID_CHARS + MAC_CHARS
CODE_SLOT = "{code}"  # where a campaign's stored footer takes the code
CODE_TAG = "%opt_out_code%"  # the gateway tag the footer is sent with
CODE_FIELD = "opt_out_code"
SAMPLE_CODE = "x" * CODE_LENGTH  # previews and tests: the real length, no live link
LINK_PATH = "/u/"


def base62(number: int, width: int) -> str:
    """``number`` in ``width`` base-62 digits (leading zeros kept)."""
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    if number:
        raise ValueError("number too large for the code")
    return "".join(reversed(digits))


def signature(secret: str, text: str) -> str:
    """A MAC of ``text`` under the app's secret in ``MAC_CHARS`` base-62 characters (41 bits)."""
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256)
    return base62(int.from_bytes(digest.digest()[:8]) % 62**MAC_CHARS, MAC_CHARS)


def base62_value(text: str) -> int | None:
    """The number base-62 ``text`` stands for; None when it holds another character."""
    number = 0
    for char in text:
        digit = ALPHABET.find(char)
        if digit < 0:
            return None
        number = number * 62 + digit
    return number


def _mac(secret: str, recipient_id: int) -> str:
    return signature(secret, f"opt-out:{recipient_id}")


def link_code(secret: str, recipient_id: int) -> str:
    """The code of one campaign recipient's opt-out link."""
    return base62(recipient_id, ID_CHARS) + _mac(secret, recipient_id)


def footer_for(text: str, public_url: str) -> str:
    """A campaign's footer as stored: ``text`` (with ``{link}``) around the short link on the
    dashboard's public address, without the scheme: "Afmeld: shop.example/u/{code}"."""
    host = public_url.split("://", 1)[-1].rstrip("/")
    return "\n" + text.replace("{link}", f"{host}{LINK_PATH}{CODE_SLOT}")


def footer_text(campaign: Campaign, code: str = SAMPLE_CODE) -> str:
    """The footer one recipient gets ("" for a campaign without one)."""
    return footer_text_for(campaign.opt_out_footer, code)


def footer_text_for(footer: str | None, code: str = SAMPLE_CODE) -> str:
    return (footer or "").replace(CODE_SLOT, code)


def recipient_of(session: Session, secret: str, code: str) -> CampaignRecipient | None:
    """The campaign recipient a code belongs to, or None for any code this app did not make."""
    if len(code) != CODE_LENGTH or any(char not in ALPHABET for char in code):
        return None
    recipient_id = 0
    for char in code[:ID_CHARS]:
        recipient_id = recipient_id * 62 + ALPHABET.index(char)
    if not hmac.compare_digest(code[ID_CHARS:], _mac(secret, recipient_id)):
        return None
    return session.get(CampaignRecipient, recipient_id)


@dataclass(frozen=True)
class LinkOptOut:
    campaign: Campaign
    already: bool


def opt_out_by_link(
    session: Session, recipient: CampaignRecipient, *, address: str | None = None
) -> LinkOptOut:
    """Opt the link's number out, recorded as by link with its campaign (and in the audit log,
    by the system, with the client ``address``); a second click finds it done and records
    nothing more."""
    campaign = session.get(Campaign, recipient.campaign_id)
    if session.get(OptOut, recipient.msisdn) is not None:
        return LinkOptOut(campaign, already=True)
    record_consent(
        session,
        recipient.msisdn,
        ConsentAction.OPT_OUT,
        ConsentSource.LINK,
        campaign_id=campaign.id,
    )
    audit.record(
        session,
        "opt_out_added",
        user=None,
        obj=audit.Target("opt_out", recipient.msisdn, f"+{recipient.msisdn}"),
        address=address,
        detail=f"by the opt-out link of campaign “{campaign.name}” ({campaign.id})",
    )
    session.commit()
    return LinkOptOut(campaign, already=False)
