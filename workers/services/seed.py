"""A synthetic book of business for demos, rehearsals and tests.

``generate_book(n, seed, today)`` is pure and deterministic: the same arguments
give the same accounts. Its shape follows the practitioner write-ups in
DOMAIN.md: segments by ACV (smaller accounts are many, enterprise few), four
regions (Japan budgets from April), renewals spread over the next 18 months,
some accounts using more devices than licensed (organic growth, 5-20% above),
on-premise customers lagging the GA release (some 2+ versions behind), contacts
holding one or more roles (a few accounts lost their champion), NPS answers.

``seed_book(conn, book)`` upserts it in one transaction through COPY into
temporary tables, so 1,000 accounts take about a second and re-seeding changes
rows in place instead of duplicating them. ``seed`` is ``playbook data seed``:
both, into a database brought up to date first.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import asyncpg
from pydantic import BaseModel

from workers.services.connections import Connections

GA_RELEASES = ("10.0", "10.1", "10.2", "10.3", "10.4", "11.0")
REGIONS = {  # region: (share, account time zones, currency)
    "amer": (0.45, ("America/New_York", "America/Chicago", "America/Los_Angeles"), "USD"),
    "emea": (0.30, ("Europe/London", "Europe/Berlin", "Europe/Paris"), "EUR"),
    "apac": (0.15, ("Australia/Sydney", "Asia/Singapore"), "USD"),
    "japan": (0.10, ("Asia/Tokyo",), "JPY"),
}
# Segment by ACV, as the downturn talk recommends: (share of accounts, ACV range, price/licence).
SEGMENTS = {
    "smb": (0.50, (6_000, 25_000), 60.0),
    "mid_market": (0.33, (25_000, 100_000), 50.0),
    "enterprise": (0.17, (100_000, 900_000), 40.0),
}
_ALL_ZONES = tuple(zone for _, zones, _ in REGIONS.values() for zone in zones)
JPY_PER_USD = 150
CSMS = {
    "amer": ("dana.kim", "marcus.lee", "priya.shah", "tom.becker"),
    "emea": ("sofia.rossi", "lars.nilsson", "amelie.durand"),
    "apac": ("chloe.tan", "liam.walsh"),
    "japan": ("haruka.sato", "kenji.ito"),
}
RENEWAL_REPS = ("rachel.ng", "omar.haddad", "julia.berg")
SALES = ("victor.alves", "nina.petrova", "sam.okafor")
TAMS = ("ines.moreau", "raj.patel")
STAFF_DOMAIN = "example.com"

_PREFIXES = (
    "Acme",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
    "Gringotts",
    "Oceanic",
    "Aperture",
    "Pied Piper",
    "Massive Dynamic",
    "Blue Sun",
    "Nakatomi",
    "Sakura",
    "Fuji Peak",
    "Kestrel",
    "Helios",
    "Meridian",
    "Polaris",
    "Summit",
    "Evergreen",
    "Ironwood",
    "Lumen",
    "Atlas",
    "Orion",
)
_SUFFIXES = (
    "Logistics",
    "Health",
    "Bank",
    "Retail",
    "Schools",
    "Foods",
    "Energy",
    "Labs",
    "Media",
    "Insurance",
    "Motors",
    "Airlines",
    "University",
    "Pharma",
    "Telecom",
    "Systems",
)
_FIRST = (
    "Rita",
    "James",
    "Aiko",
    "Mateo",
    "Fatima",
    "Oliver",
    "Yuki",
    "Grace",
    "Ahmed",
    "Elena",
    "Noah",
    "Mei",
    "Lucas",
    "Amara",
    "Hiro",
    "Sara",
    "David",
    "Ingrid",
    "Kofi",
    "Lena",
)
_LAST = (
    "Tanaka",
    "Smith",
    "Garcia",
    "Muller",
    "Okoye",
    "Rossi",
    "Chen",
    "Kowalski",
    "Silva",
    "Novak",
    "Larsen",
    "Dubois",
    "Suzuki",
    "Brown",
    "Haddad",
    "Jensen",
    "Park",
    "Ivanova",
)
_TITLES = {
    "decision_maker": ("VP of IT", "CIO", "Director of Operations", "Head of Workplace Tech"),
    "renewal_contact": ("Procurement Manager", "IT Manager", "Vendor Manager"),
    "admin": ("Systems Administrator", "Endpoint Engineer", "IT Specialist"),
    "champion": ("IT Team Lead", "Digital Workplace Lead", "Senior Engineer"),
    "billing": ("Accounts Payable", "Finance Manager"),
}
_NPS_COMMENTS = {
    "promoter": ("Great product, the team loves it.", "Support is fast and helpful.", ""),
    "passive": ("Works well, pricing is a concern.", "Reporting could be better.", ""),
    "detractor": ("Too many outages lately.", "Upgrades are painful.", "Support is slow."),
}


@dataclass
class Book:
    """Rows for each table, as dicts keyed by column name."""

    accounts: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    contact_roles: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    nps_responses: list[dict[str, Any]] = field(default_factory=list)


def _pick(rng: random.Random, weighted: dict[str, float]) -> str:
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _staff(handle: str) -> str:
    return f"{handle}@{STAFF_DOMAIN}"


def account_id(number: int) -> str:
    return f"ACC-{number:05d}"


def generate_book(n: int, seed: int = 42, today: date | None = None) -> Book:
    """``n`` accounts with their subscription, contacts, usage history and NPS."""
    today = today or date.today()
    rng = random.Random(seed)
    book = Book()
    for number in range(1, n + 1):
        _account(rng, number, today, book)
    return book


def _account(rng: random.Random, number: int, today: date, book: Book) -> None:
    ident = account_id(number)
    region = _pick(rng, {name: share for name, (share, _, _) in REGIONS.items()})
    _, zones, currency = REGIONS[region]
    segment = _pick(rng, {name: share for name, (share, _, _) in SEGMENTS.items()})
    _, (low, high), base_price = SEGMENTS[segment]
    # Log-uniform ACV: many accounts near the bottom of each band, as in real books.
    acv_usd = min(high - 100, round(low * (high / low) ** rng.random(), -2))
    name = f"{rng.choice(_PREFIXES)} {rng.choice(_SUFFIXES)}"
    company = f"{name} {number}"
    timezone = rng.choice(zones)

    on_premise = rng.random() < {"enterprise": 0.45, "mid_market": 0.3, "smb": 0.15}[segment]
    if on_premise:
        behind = int(rng.choices((0, 1, 2, 3, 4), weights=(35, 30, 18, 11, 6))[0])
        migration = _pick(
            rng, {"not_started": 0.6, "notified": 0.2, "planned": 0.12, "migrating": 0.08}
        )
        product_line = rng.choice(("Device Manager Server", "Classic Endpoint Suite"))
    else:
        behind, migration, product_line = 0, "migrated", "Device Cloud"
    ga = GA_RELEASES[-1]
    installed = GA_RELEASES[-1 - behind]

    health = rng.randint(25, 98)
    risk = "high" if health < 45 else "medium" if health < 70 else "low"
    fiscal_month = 4 if region == "japan" else int(rng.choices((1, 4, 7, 10), (70, 10, 12, 8))[0])
    book.accounts.append(
        {
            "id": ident,
            "name": company,
            "segment": segment,
            "region": region,
            "acv": float(acv_usd),
            "csm_owner": _staff(rng.choice(CSMS[region])),
            "renewal_rep": _staff(rng.choice(RENEWAL_REPS)),
            "sales_owner": _staff(rng.choice(SALES)),
            "tam_owner": _staff(rng.choice(TAMS)) if segment == "enterprise" else "",
            "risk_level": risk,
            "renewal_intent": "",
            "health_score": float(health),
            "deployment": "on_premise" if on_premise else "cloud",
            "product_line": product_line,
            "installed_version": installed,
            "ga_version": ga,
            "versions_behind": behind,
            "fiscal_year_start_month": fiscal_month,
            "onboarding_complete": rng.random() < 0.85,
            "timezone": timezone,
            "migration_stage": migration,
        }
    )

    price_usd = round(base_price * rng.uniform(0.85, 1.15), 2)
    licences = max(5, round(acv_usd / price_usd))
    price = round(price_usd * (JPY_PER_USD if currency == "JPY" else 1), 2)
    renewal = today + timedelta(days=rng.randint(1, 548))  # the next 18 months
    term_years = rng.choice((1, 1, 1, 2, 3))
    book.subscriptions.append(
        {
            "id": f"SUB-{number:05d}",
            "account_id": ident,
            "status": "active",
            "product": product_line,
            "start_date": renewal - timedelta(days=365 * term_years),
            "renewal_date": renewal,
            "licences": licences,
            "unit_price": price,
            "currency": currency,
            "weekly_notice_opt_out": rng.random() < 0.05,
        }
    )
    _usage(rng, ident, licences, today, book)
    domain = f"{_slug(name)}-{number}.example"
    holders = _contacts(rng, ident, domain, timezone, segment, book)
    _nps(rng, number, ident, holders, today, book)


def _usage(rng: random.Random, ident: str, licences: int, today: date, book: Book) -> None:
    shape = rng.random()
    if shape < 0.22:  # organic growth: more devices than licences
        ratio = rng.uniform(1.05, 1.20)
    elif shape < 0.32:  # low adoption, a churn signal
        ratio = rng.uniform(0.3, 0.6)
    else:
        ratio = rng.uniform(0.7, 1.0)
    stale = rng.random() < 0.08
    for months_ago in (1, 0):  # a month-old snapshot and today's: the latest wins
        drift = 1.0 - 0.03 * months_ago
        devices = max(1, round(licences * ratio * drift))
        as_of = today - timedelta(days=30 * months_ago)
        last_seen = rng.randint(60, 120) if stale else rng.randint(0, 6)
        book.usage.append(
            {
                "account_id": ident,
                "as_of": as_of,
                "devices_in_use": devices,
                "active_users": max(1, round(devices * rng.uniform(0.6, 0.95))),
                "last_login": as_of - timedelta(days=last_seen),
                "adoption_percent": round(min(100.0, 100.0 * devices / licences), 1),
            }
        )


def _contacts(
    rng: random.Random, ident: str, domain: str, timezone: str, segment: str, book: Book
) -> list[str]:
    """Contacts and their roles; returns the contact ids."""
    # Who holds which role: small accounts have one person doing several jobs.
    if segment == "smb":
        plans: Sequence[tuple[str, ...]] = rng.choice(
            (
                (("decision_maker", "renewal_contact", "billing"), ("admin", "champion")),
                (("decision_maker", "renewal_contact"), ("admin", "champion", "billing")),
            )
        )
    else:
        plans = [
            ("decision_maker",),
            ("renewal_contact", "billing") if rng.random() < 0.5 else ("renewal_contact",),
            ("admin",),
            ("champion",),
        ]
        if "billing" not in plans[1]:
            plans.append(("billing",))
        if segment == "enterprise":
            plans.append(("admin",))  # a second admin: several holders of one role
    if rng.random() < 0.07:  # the champion left: the role is vacant
        plans = [tuple(r for r in roles if r != "champion") for roles in plans]
        plans = [roles for roles in plans if roles]
    ids: list[str] = []
    rank: dict[str, int] = {}
    taken: set[tuple[str, str]] = set()
    for index, roles in enumerate(plans, 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        while (first, last) in taken:  # one address per person within an account
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
        taken.add((first, last))
        # Most people sit where the account does; some work from another office.
        zone = timezone if rng.random() < 0.85 else rng.choice(_ALL_ZONES)
        contact_id = f"CON-{ident[4:]}-{index}"
        ids.append(contact_id)
        book.contacts.append(
            {
                "id": contact_id,
                "account_id": ident,
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}@{domain}",
                "title": rng.choice(_TITLES[roles[0]]),
                "timezone": zone,
                "opted_out": rng.random() < 0.03,
            }
        )
        for role in roles:
            book.contact_roles.append(
                {
                    "contact_id": contact_id,
                    "account_id": ident,
                    "role": role,
                    "rank": rank.get(role, 0),
                }
            )
            rank[role] = rank.get(role, 0) + 1
    return ids


def _nps(
    rng: random.Random, number: int, ident: str, holders: list[str], today: date, book: Book
) -> None:
    if rng.random() >= 0.7 or not holders:
        return
    score = int(rng.choices(range(11), weights=(2, 1, 1, 2, 2, 3, 5, 10, 14, 16, 12))[0])
    category = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    book.nps_responses.append(
        {
            "id": f"NPS-{number:05d}",
            "account_id": ident,
            "contact_id": rng.choice(holders),
            "score": score,
            "category": category,
            "comment": rng.choice(_NPS_COMMENTS[category]),
            "responded_on": today - timedelta(days=rng.randint(3, 180)),
        }
    )


# --------------------------------------------------------------------------- writing

# Table (also the Book attribute holding its rows) and its conflict key.
_TABLES = (
    ("accounts", ("id",)),
    ("subscriptions", ("id",)),
    ("contacts", ("id",)),
    ("contact_roles", ("contact_id", "role")),
    ("usage", ("account_id", "as_of")),
    ("nps_responses", ("id",)),
)


async def _upsert(
    conn: asyncpg.Connection, table: str, keys: tuple[str, ...], rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    columns = list(rows[0])
    staging = f"seed_{table}"
    await conn.execute(
        f"CREATE TEMP TABLE {staging} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    await conn.copy_records_to_table(
        staging, records=[tuple(row[c] for c in columns) for row in rows], columns=columns
    )
    names = ", ".join(columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in keys)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    await conn.execute(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} "
        f"ON CONFLICT ({', '.join(keys)}) {action}"
    )


async def seed_book(conn: asyncpg.Connection, book: Book) -> None:
    """Upsert the book in one transaction. Contacts and roles of the seeded accounts
    that the book no longer has are removed, so re-seeding leaves exactly the book."""
    account_ids = [a["id"] for a in book.accounts]
    async with conn.transaction():
        await _upsert(conn, "accounts", ("id",), book.accounts)
        await conn.execute(
            "DELETE FROM contact_roles WHERE account_id = ANY($1::text[])", account_ids
        )
        await conn.execute(
            "DELETE FROM contacts WHERE account_id = ANY($1::text[]) AND NOT id = ANY($2::text[])",
            account_ids,
            [c["id"] for c in book.contacts],
        )
        for table, keys in _TABLES[1:]:
            await _upsert(conn, table, keys, getattr(book, table))


@dataclass(frozen=True)
class SeedSummary:
    """What ``playbook data seed`` reports."""

    accounts: int
    contacts: int
    by_segment: dict[str, int]
    by_region: dict[str, int]
    organic_growth: int
    two_plus_behind: int


def summarise(book: Book) -> SeedSummary:
    latest = {u["account_id"]: u for u in book.usage}  # rows are oldest first per account
    licences = {s["account_id"]: s["licences"] for s in book.subscriptions}
    by_segment: dict[str, int] = {}
    by_region: dict[str, int] = {}
    for account in book.accounts:
        by_segment[account["segment"]] = by_segment.get(account["segment"], 0) + 1
        by_region[account["region"]] = by_region.get(account["region"], 0) + 1
    return SeedSummary(
        accounts=len(book.accounts),
        contacts=len(book.contacts),
        by_segment=by_segment,
        by_region=by_region,
        organic_growth=sum(
            1 for ident, use in latest.items() if use["devices_in_use"] > licences[ident]
        ),
        two_plus_behind=sum(1 for a in book.accounts if a["versions_behind"] >= 2),
    )


class SeedRequest(BaseModel):
    """``playbook data seed``: how many accounts, the random seed, the day renewals
    are spread from."""

    accounts: int = 100
    seed: int = 42
    today: date


async def seed(connections: Connections, request: SeedRequest) -> SeedSummary:
    """Generate the book and write it to an up-to-date database; what it holds."""
    book = generate_book(request.accounts, request.seed, request.today)
    async with connections.migrated_connection() as conn:
        await seed_book(conn, book)
    return summarise(book)
