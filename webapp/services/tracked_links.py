"""Tracked links: a URL in the message becomes a short link unique per recipient, so clicks
count per recipient without cookies, and the long URL never reaches the phone.

In the stored message a tracked link is written ``[track:https://shop.example/sale]``: the
composer's "Track links" button (and ``flask campaigns send --track-links``) wraps the URLs so,
and the user still sees where it goes. Every recipient gets ``go.shop.example/c/<code>``
instead, on ``LINK_BASE_URL`` (or the public address) without the scheme, as the opt-out footer
does. The code is the recipient's row id (6 base-62 characters), the link's number (1) and a
MAC of both under the app's secret (7 characters, 41 bits): nothing is stored per recipient,
no code can be guessed, and an altered one matches nothing. Codes have one length, so the
counter, the preview and the cost count the short link's real length before any code exists.

A campaign's links are derived from its message: numbered by first appearance (the same URL
twice is one link), stored as ``CampaignLink`` rows when the campaign is confirmed.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import delete
from sqlalchemy.orm import Session

from webapp.models import Campaign, CampaignLink
from webapp.services.optout_links import ID_CHARS, MAC_CHARS, base62, base62_value, signature

MARKER = re.compile(r"\[track:\s*(\S+?)\s*\]")
"""A tracked link in the stored message: ``[track:<target>]``."""
BARE_URL = re.compile(r"(?<![\w\[:])https?://[^\s\[\]<>\"]+")
"""A URL typed into the message that is not tracked yet."""
_TRAILING = ".,;:!?)'"  # punctuation after a URL belongs to the sentence, not to the URL

LINK_PATH = "/c/"
CODE_LENGTH = ID_CHARS + 1 + MAC_CHARS
SAMPLE_CODE = "x" * CODE_LENGTH  # the counter and previews: the real length
MAX_LINKS = 9  # one base-62 digit would allow 61; nine is plenty for one SMS
MAX_TARGET_LENGTH = 2000
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign")


class LinkProblem(ValueError):
    """A tracked link that cannot be sent; the message says which and why."""


# --- The message's text ----------------------------------------------------------------------


def targets(message: str) -> list[str]:
    """The message's tracked targets, each once, in order of first appearance (link 1, 2...)."""
    return list(dict.fromkeys(match.group(1) for match in MARKER.finditer(message)))


def has_links(message: str) -> bool:
    return MARKER.search(message) is not None


def link_host(base_url: str | None) -> str | None:
    """The short links' host as the message shows it: "go.shop.example", no scheme."""
    if not base_url:
        return None
    return base_url.split("://", 1)[-1].rstrip("/")


def expand(
    message: str,
    host: str | None,
    code_of: Callable[[int], str],
    order: Sequence[str] | None = None,
) -> str:
    """The message with each tracked link replaced by its short link, ``code_of(number)``
    giving the code of link ``number`` (1, 2, ...): its place in ``order`` (the campaign's
    targets across its texts), by default in this message's own."""
    if not has_links(message):
        return message
    numbering = order if order is not None else targets(message)
    numbers = {target: number for number, target in enumerate(numbering, start=1)}
    return MARKER.sub(
        lambda match: f"{host or ''}{LINK_PATH}{code_of(numbers[match.group(1)])}", message
    )


def sample_text(message: str, host: str | None) -> str:
    """The message as a recipient gets it, with sample codes of the real length."""
    return expand(message, host, lambda number: SAMPLE_CODE)


def code_tag(number: int) -> str:
    """The gateway tag that carries each recipient's code of link ``number``."""
    return f"%link_code_{number}%"


def tagged_text(message: str, host: str | None, order: Sequence[str] | None = None) -> str:
    """The message as sent to the gateway: each short link's code as a per-recipient tag."""
    return expand(message, host, code_tag, order)


def link_problem(message: str, host: str | None) -> str | None:
    """Why the message's tracked links cannot be sent, or None."""
    found = targets(message)
    if not found:
        return None
    if not host:
        return (
            "Tracked links need the dashboard's public address: set PUBLIC_URL "
            "(or LINK_BASE_URL for a short domain)."
        )
    if len(found) > MAX_LINKS:
        return f"A message can have at most {MAX_LINKS} tracked links; it has {len(found)}."
    for target in found:
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"The tracked link {target!r} is not a web address (http:// or https://)."
        if len(target) > MAX_TARGET_LENGTH:
            return f"A tracked link can be at most {MAX_TARGET_LENGTH} characters long."
    return None


def with_utm(url: str, utm: dict[str, str] | None) -> str:
    """``url`` with the UTM parameters given (source, medium, campaign) set; others kept."""
    chosen = {name: value.strip() for name, value in (utm or {}).items() if value and value.strip()}
    if not chosen:
        return url
    parts = urlsplit(url)
    query = [(name, value) for name, value in parse_qsl(parts.query) if name not in chosen]
    query += [(name, chosen[name]) for name in UTM_FIELDS if name in chosen]
    return urlunsplit(parts._replace(query=urlencode(query)))


def track_urls(message: str, utm: dict[str, str] | None = None) -> str:
    """Every URL typed in the message turned into a tracked link, UTM parameters added; the
    links already tracked stay as they are."""

    def wrap(match: re.Match) -> str:
        url = match.group(0)
        kept = url.rstrip(_TRAILING)
        return f"[track:{with_utm(kept, utm)}]{url[len(kept) :]}"

    pieces = MARKER.split(message)  # even: plain text, odd: tracked targets
    for index in range(0, len(pieces), 2):
        pieces[index] = BARE_URL.sub(wrap, pieces[index])
    for index in range(1, len(pieces), 2):
        pieces[index] = f"[track:{pieces[index]}]"
    return "".join(pieces)


def short_links_in(text: str, bases: list[str]) -> list[tuple[str, str | None]]:
    """``text`` cut into (piece, address) pairs, address None but for this dashboard's short
    links (tracked and opt-out) on one of ``bases``: a phone shows those as links."""
    hosts = {link_host(base): base.rstrip("/") for base in bases if base}
    if not hosts:
        return [(text, None)]
    pattern = re.compile("(" + "|".join(map(re.escape, hosts)) + r")(/[cu]/[0-9A-Za-z]+)")
    pieces: list[tuple[str, str | None]] = []
    end = 0
    for match in pattern.finditer(text):
        pieces.append((text[end : match.start()], None))
        pieces.append((match.group(0), hosts[match.group(1)] + match.group(2)))
        end = match.end()
    pieces.append((text[end:], None))
    return [(piece, address) for piece, address in pieces if piece]


# --- Codes -----------------------------------------------------------------------------------


def link_code(secret: str, recipient_id: int, number: int) -> str:
    """The code of one campaign recipient's short link ``number``."""
    return _code(secret, "click", recipient_id, number)


def test_link_code(secret: str, test_send_id: int, number: int) -> str:
    """The code of short link ``number`` in a test message: it opens the link's target like
    a recipient's code does, and counts no click (see `decode_test`)."""
    return _code(secret, "test-click", test_send_id, number)


def decode(secret: str, code: str) -> tuple[int, int] | None:
    """(campaign recipient id, link number) of a code, or None for any code this app did not
    make."""
    return _decoded(secret, "click", code)


def decode_test(secret: str, code: str) -> tuple[int, int] | None:
    """(test send id, link number) of a test message's code, or None. The MAC is over another
    text than a recipient's, so neither kind of code can pass for the other."""
    return _decoded(secret, "test-click", code)


def _code(secret: str, kind: str, row_id: int, number: int) -> str:
    mac = signature(secret, f"{kind}:{row_id}:{number}")
    return base62(row_id, ID_CHARS) + base62(number, 1) + mac


def _decoded(secret: str, kind: str, code: str) -> tuple[int, int] | None:
    if len(code) != CODE_LENGTH:
        return None
    row_id = base62_value(code[:ID_CHARS])
    number = base62_value(code[ID_CHARS])
    if row_id is None or number is None:
        return None
    expected = signature(secret, f"{kind}:{row_id}:{number}")
    if not hmac.compare_digest(code[ID_CHARS + 1 :], expected):
        return None
    return row_id, number


# --- The campaign's links --------------------------------------------------------------------


def campaign_targets(campaign: Campaign) -> list[str]:
    """The tracked targets of all the campaign's texts (an A/B test's variants too), numbered
    1, 2, ... across them: a target two variants share is one link."""
    texts = [campaign.message]
    if campaign.is_ab_test:
        texts += [campaign.message_b or "", campaign.message_c or ""]
    return targets("\n".join(texts))


def sync_links(session: Session, campaign: Campaign) -> list[CampaignLink]:
    """Store the campaign's links as its texts have them (at confirmation: they no longer
    change); the caller commits."""
    session.execute(delete(CampaignLink).where(CampaignLink.campaign_id == campaign.id))
    links = [
        CampaignLink(campaign_id=campaign.id, ordinal=number, target=target)
        for number, target in enumerate(campaign_targets(campaign), start=1)
    ]
    session.add_all(links)
    return links
