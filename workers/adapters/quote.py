"""The renewal quote's arithmetic: pure, no I/O, exact to the cent.

Organic growth (the Jamf process, DOMAIN.md section 1): a customer with 100
licences under contract and 110 devices in use gets a quote for 10 more
licences at the contract's unit price. An optional uplift (a price increase in
percent) applies to the whole term. Money is ``Decimal`` throughout and the
total is rounded half-up to cents, once, at the end.

``licences`` on the quote is the number under contract (what the renewal
statement shows as "Licences under contract"); ``total_licences`` adds the
organic growth.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


class QuoteError(ValueError):
    """The facts cannot make a quote (no licences, a negative price...)."""


@dataclass(frozen=True)
class Quote:
    """A renewal quote for one subscription."""

    licences: int
    organic_growth_licences: int
    unit_price: Decimal
    uplift_percent: Decimal
    total: Decimal
    currency: str

    @property
    def total_licences(self) -> int:
        return self.licences + self.organic_growth_licences

    def as_facts(self, quote_id: str) -> dict[str, Any]:
        """The quote as the ``quote`` facts root (JSON numbers, cents kept exact)."""
        return {
            "id": quote_id,
            "licences": self.licences,
            "organic_growth_licences": self.organic_growth_licences,
            "total_licences": self.total_licences,
            "unit_price": float(self.unit_price),
            "uplift_percent": float(self.uplift_percent),
            "total": float(self.total),
            "currency": self.currency,
        }


def organic_growth(licences: int, devices_in_use: int) -> int:
    """Licences to add so the contract covers the devices in use (never negative)."""
    return max(0, devices_in_use - licences)


def compute_quote(
    licences: int,
    devices_in_use: int,
    unit_price: Decimal | float | int | str,
    *,
    with_organic_growth: bool = True,
    uplift_percent: Decimal | float | int | str = 0,
    currency: str = "USD",
) -> Quote:
    """The renewal quote: (licences + organic growth) x unit price x (1 + uplift %).

    Raises ``QuoteError`` for negative counts or prices.
    """
    price = _money(unit_price, "unit price")
    uplift = _decimal(uplift_percent, "uplift percent")
    if licences < 0 or devices_in_use < 0:
        raise QuoteError("licences and devices in use cannot be negative")
    if price < 0:
        raise QuoteError(f"the unit price cannot be negative (got {price})")
    growth = organic_growth(licences, devices_in_use) if with_organic_growth else 0
    gross = Decimal(licences + growth) * price * (Decimal(1) + uplift / Decimal(100))
    return Quote(
        licences=licences,
        organic_growth_licences=growth,
        unit_price=price,
        uplift_percent=uplift,
        total=gross.quantize(CENT, rounding=ROUND_HALF_UP),
        currency=currency or "USD",
    )


def quote_from_facts(
    facts: dict[str, Any], *, with_organic_growth: bool = True, uplift_percent: float = 0
) -> Quote:
    """The quote for the facts of one journey (``subscription`` and ``usage`` roots)."""
    subscription = facts.get("subscription") or {}
    usage = facts.get("usage") or {}
    if not subscription:
        raise QuoteError("the account has no subscription to quote")
    try:
        licences = int(subscription.get("licences") or 0)
        devices = int(usage.get("devices_in_use") or 0)
    except (TypeError, ValueError) as error:
        raise QuoteError(f"licences or devices in use are not numbers: {error}") from error
    return compute_quote(
        licences,
        devices,
        subscription.get("unit_price") or 0,
        with_organic_growth=with_organic_growth,
        uplift_percent=uplift_percent or 0,
        currency=str(subscription.get("currency") or "USD"),
    )


def for_display(quote: dict[str, Any]) -> dict[str, Any]:
    """A stored quote as emails show it: money as exact cents (``5500.00``, never
    ``5500.0``) and ``total_licences`` filled in when the store left it out."""
    shown = dict(quote)
    for money in ("unit_price", "total"):
        if isinstance(shown.get(money), int | float | Decimal | str) and shown[money] != "":
            try:
                shown[money] = _money(shown[money], money)
            except QuoteError:
                pass
    if "total_licences" not in shown and "licences" in shown:
        try:
            growth = int(shown.get("organic_growth_licences") or 0)
            shown["total_licences"] = int(shown["licences"]) + growth
        except (TypeError, ValueError):
            pass
    return shown


def _decimal(value: Decimal | float | int | str, what: str) -> Decimal:
    # Through str(): Decimal(0.1) would carry the float's binary error into the cents.
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as error:
        raise QuoteError(f"the {what} is not a number: {value!r}") from error


def _money(value: Decimal | float | int | str, what: str) -> Decimal:
    return _decimal(value, what).quantize(CENT, rounding=ROUND_HALF_UP)
