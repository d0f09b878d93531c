"""The synthetic book of business: deterministic, and shaped like a real one."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from dsl import schema
from workers.services.seed import GA_RELEASES, generate_book, summarise

TODAY = date(2026, 11, 22)


def test_same_seed_same_book_other_seed_other_book() -> None:
    assert generate_book(50, seed=3, today=TODAY) == generate_book(50, seed=3, today=TODAY)
    assert generate_book(50, seed=3, today=TODAY) != generate_book(50, seed=4, today=TODAY)


def test_rows_carry_every_schema_field() -> None:
    book = generate_book(20, seed=1, today=TODAY)
    assert all(set(a) == set(schema.ACCOUNT) for a in book.accounts)
    assert all(set(schema.SUBSCRIPTION) <= set(s) for s in book.subscriptions)
    assert all(set(schema.CONTACT) <= set(c) for c in book.contacts)
    assert all(set(schema.USAGE) <= set(u) for u in book.usage)
    assert all(set(schema.NPS) <= set(n) for n in book.nps_responses)


def test_segments_follow_acv_and_small_accounts_are_many() -> None:
    book = generate_book(1000, seed=42, today=TODAY)
    segments = Counter(a["segment"] for a in book.accounts)
    assert segments["smb"] > segments["mid_market"] > segments["enterprise"] > 100
    for account in book.accounts:
        acv = account["acv"]
        expected = "enterprise" if acv >= 100_000 else "mid_market" if acv >= 25_000 else "smb"
        assert account["segment"] == expected, account
    regions = Counter(a["region"] for a in book.accounts)
    assert set(regions) == {"amer", "emea", "apac", "japan"}
    assert regions["amer"] > regions["emea"] > regions["japan"] > 50
    assert all(a["fiscal_year_start_month"] == 4 for a in book.accounts if a["region"] == "japan")


def test_renewals_spread_over_the_next_18_months() -> None:
    book = generate_book(1000, seed=42, today=TODAY)
    renewals = [s["renewal_date"] for s in book.subscriptions]
    assert min(renewals) > TODAY and max(renewals) <= TODAY + timedelta(days=548)
    # Every quarter of the 18 months has renewals, none holds most of them.
    quarters = Counter((r - TODAY).days // 92 for r in renewals)
    assert set(quarters) == {0, 1, 2, 3, 4, 5}
    assert max(quarters.values()) < 0.3 * len(renewals)
    assert all(s["start_date"] < s["renewal_date"] for s in book.subscriptions)


def test_some_organic_growth_and_some_lagging_versions() -> None:
    book = generate_book(1000, seed=42, today=TODAY)
    summary = summarise(book)
    assert 100 <= summary.organic_growth <= 350
    licences = {s["account_id"]: s["licences"] for s in book.subscriptions}
    latest = {u["account_id"]: u for u in book.usage if u["as_of"] == TODAY}
    growth = [
        latest[a]["devices_in_use"] / licences[a]
        for a in licences
        if latest[a]["devices_in_use"] > licences[a]
    ]
    assert max(growth) <= 1.21 and min(growth) > 1.0
    assert 30 <= summary.two_plus_behind <= 200
    for account in book.accounts:
        assert account["ga_version"] == GA_RELEASES[-1]
        behind = GA_RELEASES.index(account["ga_version"]) - GA_RELEASES.index(
            account["installed_version"]
        )
        assert behind == account["versions_behind"]
        if account["deployment"] == "cloud":
            assert behind == 0


def test_contacts_hold_roles_with_time_zones_and_emails() -> None:
    book = generate_book(300, seed=42, today=TODAY)
    roles_by_account: dict[str, set[str]] = {}
    for row in book.contact_roles:
        roles_by_account.setdefault(row["account_id"], set()).add(row["role"])
        assert row["role"] in schema.CONTACT_ROLES
    assert len(roles_by_account) == 300
    assert all(
        {"decision_maker", "renewal_contact", "admin"} <= r for r in roles_by_account.values()
    )
    # A few accounts lost their champion; most have one.
    without_champion = sum(1 for r in roles_by_account.values() if "champion" not in r)
    assert 0 < without_champion < 60
    # Someone holds several roles somewhere.
    per_contact = Counter(row["contact_id"] for row in book.contact_roles)
    assert max(per_contact.values()) >= 2
    for contact in book.contacts:
        assert contact["email"].count("@") == 1 and contact["email"].endswith(".example")
        assert "/" in contact["timezone"]
    ids = [c["id"] for c in book.contacts]
    assert len(ids) == len(set(ids))
    emails = [c["email"] for c in book.contacts]
    assert len(emails) == len(set(emails))  # one address per person
    home = {a["id"]: a["timezone"] for a in book.accounts}
    away = sum(1 for c in book.contacts if c["timezone"] != home[c["account_id"]])
    assert 0 < away < 0.3 * len(book.contacts)


def test_nps_categories_match_scores_and_owners_are_set() -> None:
    book = generate_book(300, seed=42, today=TODAY)
    assert 150 <= len(book.nps_responses) <= 260
    for response in book.nps_responses:
        score, category = response["score"], response["category"]
        assert category == ("promoter" if score >= 9 else "passive" if score >= 7 else "detractor")
        assert response["responded_on"] < TODAY
    assert all(a["csm_owner"].endswith("@example.com") for a in book.accounts)
    assert all(bool(a["tam_owner"]) == (a["segment"] == "enterprise") for a in book.accounts)
