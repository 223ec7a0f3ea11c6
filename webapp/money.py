"""Money as text: Decimal amounts with two to four decimals, never through a float."""

from __future__ import annotations

from decimal import Decimal


def money_text(value) -> str:
    """``Decimal("4.5000")`` -> ``"4.50"``; ``Decimal("0.1234")`` -> ``"0.1234"``; with commas."""
    text = f"{Decimal(value or 0):,.4f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"
