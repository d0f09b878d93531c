"""The renewal quote's arithmetic (organic growth, uplift, cents)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from workers.adapters.quote import QuoteError, compute_quote, organic_growth, quote_from_facts


def test_devices_above_licences_become_organic_growth() -> None:
    quote = compute_quote(100, 110, "50.00")
    assert quote.licences == 100
    assert quote.organic_growth_licences == 10
    assert quote.total_licences == 110
    assert quote.total == Decimal("5500.00")


def test_fewer_devices_than_licences_adds_nothing() -> None:
    assert organic_growth(100, 80) == 0
    assert compute_quote(100, 80, 50).total == Decimal("5000.00")


def test_organic_growth_can_be_left_out() -> None:
    quote = compute_quote(100, 110, 50, with_organic_growth=False)
    assert quote.organic_growth_licences == 0
    assert quote.total == Decimal("5000.00")


def test_uplift_applies_to_the_whole_term_and_rounds_half_up_to_cents() -> None:
    # 3 x 33.33 = 99.99; +5% = 104.9895 -> 104.99
    assert compute_quote(3, 0, "33.33", uplift_percent=5).total == Decimal("104.99")
    # 1 x 0.10 x 1.05 = 0.105 -> 0.11 (half up, not banker's rounding)
    assert compute_quote(1, 0, "0.10", uplift_percent=5).total == Decimal("0.11")


def test_float_prices_do_not_leak_binary_error_into_cents() -> None:
    # 0.1 as a float is 0.1000000000000000055...; the quote must be exactly 1.00.
    assert compute_quote(10, 0, 0.1).total == Decimal("1.00")


def test_negative_input_is_refused() -> None:
    with pytest.raises(QuoteError):
        compute_quote(-1, 0, 10)
    with pytest.raises(QuoteError):
        compute_quote(1, 0, -10)
    with pytest.raises(QuoteError, match="not a number"):
        compute_quote(1, 0, "ten")


def test_quote_from_facts_reads_subscription_and_usage() -> None:
    facts = {
        "subscription": {"licences": 100, "unit_price": 50.0, "currency": "EUR"},
        "usage": {"devices_in_use": 110},
    }
    quote = quote_from_facts(facts, uplift_percent=3)
    assert quote.currency == "EUR"
    assert quote.total == Decimal("5665.00")  # 110 x 50 x 1.03
    as_facts = quote.as_facts("Q-1")
    assert as_facts["organic_growth_licences"] == 10
    assert as_facts["total"] == 5665.0
    assert as_facts["id"] == "Q-1"


def test_quote_without_subscription_is_an_error() -> None:
    with pytest.raises(QuoteError, match="no subscription"):
        quote_from_facts({"usage": {"devices_in_use": 3}})
