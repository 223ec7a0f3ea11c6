"""What a message costs: segments after tag replacement, times a price per destination country.

The sandbox prices every request with this, and the dashboard can use the same function to
price a preview locally when the real gateway is not known to honour `dry_run`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from webapp.gateway.numbers import country_of
from webapp.gateway.rules import replace_tags
from webapp.sms import analyze

# Price per SMS part, in the table's currency. DK matches the contract's example (2 parts, 0.30).
DEFAULT_PRICES: Mapping[str, Decimal] = {
    "DK": Decimal("0.15"),
    "SE": Decimal("0.25"),
    "NO": Decimal("0.25"),
    "FI": Decimal("0.30"),
    "DE": Decimal("0.45"),
    "GB": Decimal("0.30"),
    "US": Decimal("0.35"),
}
DEFAULT_PRICE = Decimal("0.50")
DEFAULT_CURRENCY = "DKK"


@dataclass(frozen=True)
class PriceTable:
    """Prices per part by ISO country code; a country not in the table costs `default`."""

    prices: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    default: Decimal = DEFAULT_PRICE
    currency: str = DEFAULT_CURRENCY

    def price_for(self, country: str) -> Decimal:
        return self.prices.get(country, self.default)

    def cost_of(self, segments_by_country: Mapping[str, int]) -> Decimal:
        """What these segments cost: each country's count at its price, as a local preview
        adds up each recipient's parts at their country's price."""
        return sum(
            (self.price_for(country) * count for country, count in segments_by_country.items()),
            Decimal(0),
        )


@dataclass(frozen=True, slots=True)
class RecipientPrice:
    """One recipient of a priced message: the text they get and what it costs."""

    msisdn: str
    text: str
    country: str
    parts: int


@dataclass(frozen=True)
class PricedMessage:
    """A message priced per recipient, with the contract's `usage` numbers."""

    recipients: list[RecipientPrice]
    countries: dict[str, int]
    currency: str
    total_cost: Decimal
    encoding: str  # "GSM" or "UCS2", as the SMS engine counted it for the first recipient


def price_message(
    message: str,
    recipients: Sequence[tuple[str, Sequence[str] | None]],
    *,
    tags: Sequence[str] | None = None,
    encoding: str | None = None,
    table: PriceTable | None = None,
) -> PricedMessage:
    """Price one SMS object: render each recipient's text, count its segments, price per country.

    `recipients` are (msisdn, tagvalues) pairs of valid msisdns; `encoding` "UCS2" forces
    Unicode, anything else lets the engine choose GSM 03.38 where it can. Raises ValueError for
    text the engine cannot encode (a lone surrogate).
    """
    table = table or PriceTable()
    engine_encoding = "UCS2" if encoding == "UCS2" else "auto"
    counted: dict[str, tuple[int, str]] = {}
    priced: list[RecipientPrice] = []
    countries: dict[str, int] = {}
    total = Decimal(0)
    for msisdn, tagvalues in recipients:
        text = replace_tags(message, tags or (), tagvalues or ()) if tags else message
        if text not in counted:
            analysis = analyze(text, engine_encoding)
            counted[text] = (analysis.segments, analysis.encoding)
        parts = counted[text][0]
        country = country_of(msisdn) or "ZZ"
        priced.append(RecipientPrice(msisdn, text, country, parts))
        countries[country] = countries.get(country, 0) + parts
        total += table.price_for(country) * parts
    first_encoding = counted[priced[0].text][1] if priced else "GSM"
    return PricedMessage(priced, countries, table.currency, total, first_encoding)
