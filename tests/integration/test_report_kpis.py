"""The KPI report against seeded rows with known counts: every number asserted
exactly. The book (as of 2027-03-01, window 2027-01-01 to 2027-03-31):

- renewals: A1 renewed on time (recorded 01-20 for 02-01), A2 renewed late
  (02-15 for 02-10), A3 still active after 02-20 (overdue), A4 churned, A7
  renewed with no recorded time (on time); A5 renews 03-20 (in the window, not
  due yet); A6 renews in June (outside).
- the renewal-intent question went to A1, A2, A3, A5 (and A6, outside); A1
  answered no then yes (latest wins), A2 no, A3 not the decision maker.
- the book (``seed_book``): active accounts A1 A2 A3 A5 A6 A7 (A4 churned).
  Onboarding complete: A1 A3 A5 (and churned A4) -> 3 of 6. Renewal contact
  (first holder by rank) reachable: A1, A7; not A2 (first holder opted out, the
  second is fine), A3 (address in opt_outs), A5 (domain suppressed), A6 (not an
  address; its decision maker is fine but is not the role asked) -> 2 of 6.
  Confirmed intent among the 6 renewing: A1 (latest answer yes), A2 (answered
  no, the account now says yes); not A7 (answered yes, the account now says no),
  A3, A4, A5 -> 2 of 6; A6 says yes but renews outside the window.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import uuid
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest

from dsl.loader import load_playbook
from engine.experiments import assign_arm
from tests.integration.enrol_fixtures import enrol_pool_fixture, insert_row  # noqa: F401
from workers.analytics.report import Window, build_report

pytestmark = pytest.mark.integration

PLAYBOOKS = pathlib.Path(__file__).parents[2] / "playbooks"
WINDOW = Window(start=date(2027, 1, 1), end=date(2027, 3, 31), as_of=date(2027, 3, 1))


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


ACCOUNTS = [
    # id, renewal date, status, ga/versions, deployment, region, segment, migration stage
    ("A1", "2027-02-01", "renewed", 0, "on_premise", "emea", "enterprise", "not_started"),
    ("A2", "2027-02-10", "renewed", 2, "on_premise", "emea", "enterprise", "planned"),
    ("A3", "2027-02-20", "active", 3, "cloud", "emea", "enterprise", "migrated"),
    ("A4", "2027-02-25", "churned", 1, "on_premise", "apac", "smb", "notified"),
    ("A5", "2027-03-20", "active", None, "cloud", "amer", "smb", "not_started"),
    ("A6", "2027-06-01", "active", None, "cloud", "amer", "smb", "not_started"),
    ("A7", "2027-01-15", "renewed", None, "cloud", "amer", "smb", "not_started"),
]


async def seed(conn) -> None:
    for account_id, renewal, status, behind, deployment, region, segment, stage in ACCOUNTS:
        await insert_row(
            conn,
            "accounts",
            {
                "id": account_id,
                "name": f"Account {account_id}",
                "csm_owner": "Ann",
                "region": region,
                "segment": segment,
                "deployment": deployment,
                "migration_stage": stage,
                "ga_version": "12.0" if behind is not None else "",
                "versions_behind": behind or 0,
            },
        )
        day = date.fromisoformat(renewal)
        await insert_row(
            conn,
            "subscriptions",
            {
                "id": f"S-{account_id}",
                "account_id": account_id,
                "status": status,
                "start_date": date(day.year - 1, day.month, day.day),
                "renewal_date": day,
            },
        )
    for journey, kind, detail, day, data in [
        ("renewal:A1", "stage", "intent_survey", "2027-01-10", {}),
        ("renewal:A1", "outcome", "renewed", "2027-01-20", {"status": "completed"}),
        ("renewal:A2", "stage", "intent_survey", "2027-01-10", {}),
        ("renewal:A2", "outcome", "renewed", "2027-02-15", {"status": "completed"}),
        ("renewal:A3", "stage", "intent_survey", "2027-01-10", {}),
        ("renewal:A5", "stage", "intent_survey", "2027-01-10", {}),
    ]:
        await conn.execute(
            "INSERT INTO journey_events (journey_id, account_id, playbook, kind, detail, data, "
            "at) VALUES ($1, $2, 'renewal', $3, $4, $5::jsonb, $6)",
            journey,
            journey.split(":")[1],
            kind,
            detail,
            json.dumps(data),
            at(day),
        )
    emails = [
        # journey, account, contact, template, playbook day, status
        *[
            ("renewal:A1", "A1", "C1", "renewal_statement", f"2027-01-0{d}", "sent")
            for d in (4, 5, 6, 7)
        ],
        ("renewal:A1", "A1", "C1", "renewal_statement", "2027-01-05", "bounced"),
        ("renewal:A1", "A1", "C1", "renewal_statement", "2027-01-12", "sent"),
        # could not reach the mail server: not sent, not counted as sent anywhere
        ("renewal:A3", "A3", "C6", "renewal_statement", "2027-01-08", "failed"),
        ("version_currency:A2", "A2", "C2", "upgrade_invitation", "2027-01-05", "sent"),
        ("version_currency:A2", "A2", "C2", "upgrade_reminder", "2027-01-06", "sent"),
        *[
            (f"renewal:{a}", a, c, "renewal_intent_survey", "2027-01-18", "sent")
            for a, c in (("A1", "C4"), ("A2", "C5"), ("A3", "C6"), ("A5", "C7"))
        ],
        ("renewal:A6", "A6", "C8", "renewal_intent_survey", "2026-12-01", "sent"),
    ]
    for i, (journey, account, contact, template, day, status) in enumerate(emails):
        await insert_row(
            conn,
            "emails",
            {
                "idempotency_key": f"k{i}",
                "journey_id": journey,
                "account_id": account,
                "contact_id": contact,
                "to_address": f"{contact.lower()}@example.com",
                "template": template,
                "status": status,
                "playbook_time": at(day),
            },
        )
    for question, choice, journey, account in [
        ("renewal_intent", "no", "renewal:A1", "A1"),
        ("renewal_intent", "yes", "renewal:A1", "A1"),
        ("renewal_intent", "no", "renewal:A2", "A2"),
        ("renewal_intent", "not_decision_maker", "renewal:A3", "A3"),
        ("other_question", "yes", "renewal:A5", "A5"),
    ]:
        await insert_row(
            conn,
            "answers",
            {"journey_id": journey, "account_id": account, "question": question, "choice": choice},
        )
    ctas = [
        # key, journey, owner, role, priority, opened, closed, due
        ("c1", "renewal:A1", "Ann", "csm", "high", "2027-01-10", "2027-01-12", "2027-01-12"),
        ("c2", "renewal:A3", "Ann", "csm", "urgent", "2027-02-21", None, "2027-02-23"),
        (
            "c3",
            "nps_followup:A2:2027-01-05",
            "Bob",
            "csm",
            "high",
            "2027-01-06",
            "2027-01-09",
            None,
        ),
        ("c4", "nps_followup:A4:2027-02-01", "", "ops", "medium", "2027-02-02", None, "2027-03-10"),
        ("c5", "renewal:A5", "Ann", "renewal_rep", "medium", "2026-12-01", None, "2027-04-01"),
    ]
    for key, journey, owner, role, priority, opened, closed, due in ctas:
        await insert_row(
            conn,
            "ctas",
            {
                "idempotency_key": key,
                "journey_id": journey,
                "account_id": journey.split(":")[1],
                "owner": owner,
                "owner_role": role,
                "priority": priority,
                "opened_at": at(opened),
                "status": "closed" if closed else "open",
                "closed_at": at(closed) if closed else None,
                "due_at": at(due) if due else None,
            },
        )
    for i, (account, day, score, category) in enumerate(
        [
            ("A2", "2027-01-05", 4, "detractor"),
            ("A4", "2027-02-01", 3, "detractor"),
            ("A1", "2027-01-15", 10, "promoter"),
            ("A6", "2026-11-01", 8, "passive"),
        ]
    ):
        await insert_row(
            conn,
            "nps_responses",
            {
                "id": f"N{i}",
                "account_id": account,
                "score": score,
                "category": category,
                "responded_on": date.fromisoformat(day),
            },
        )
    for key, account, day, licences, growth, price, uplift, total in [
        ("q1", "A1", "2027-01-15", 100, 10, 50, 0, 5500),
        ("q2", "A2", "2027-02-01", 60, 0, 50, 0, 3000),
        ("q3", "A3", "2027-02-10", 100, 5, 20, 10, 2310),
        ("q4", "A6", "2026-10-01", 10, 7, 20, 0, 340),
    ]:
        await insert_row(
            conn,
            "quotes",
            {
                "id": key,
                "idempotency_key": key,
                "account_id": account,
                "licences": licences,
                "organic_growth_licences": growth,
                "unit_price": price,
                "uplift_percent": uplift,
                "total": total,
                "journey_id": f"renewal:{account}",
                "created_at": at(day),
            },
        )
    await seed_book(conn)


async def seed_book(conn) -> None:
    """Onboarding, renewal contacts, opt-outs, suppressions and intent of the book."""
    await conn.execute(
        "UPDATE accounts SET onboarding_complete = true WHERE id IN ('A1', 'A3', 'A4', 'A5')"
    )
    for account, intent in (("A2", "yes"), ("A7", "no"), ("A6", "yes")):
        await conn.execute("UPDATE accounts SET renewal_intent = $2 WHERE id = $1", account, intent)
    for contact, account, email, opted_out, role, rank in [
        ("K1", "A1", "rita@a1.example", False, "renewal_contact", 0),
        ("K2a", "A2", "old@a2.example", True, "renewal_contact", 0),
        ("K2b", "A2", "new@a2.example", False, "renewal_contact", 1),
        ("K3", "A3", "Ops@A3.example", False, "renewal_contact", 0),
        ("K4", "A4", "gone@a4.example", False, "renewal_contact", 0),
        ("K5", "A5", "buyer@blocked.example", False, "renewal_contact", 0),
        ("K6", "A6", "not-an-email", False, "renewal_contact", 0),
        ("K6b", "A6", "dm@a6.example", False, "decision_maker", 0),
        ("K7", "A7", "lee@a7.example", False, "renewal_contact", 0),
        ("K7b", "A7", "old@a7.example", True, "renewal_contact", 1),
    ]:
        await insert_row(
            conn,
            "contacts",
            {"id": contact, "account_id": account, "email": email, "opted_out": opted_out},
        )
        await insert_row(
            conn,
            "contact_roles",
            {"contact_id": contact, "account_id": account, "role": role, "rank": rank},
        )
    await insert_row(conn, "opt_outs", {"email": "ops@a3.example", "source": "unsubscribe"})
    await insert_row(conn, "suppressions", {"entry": "blocked.example", "reason": "legal hold"})
    # A7 said yes by phone; the account was set to no since (the account wins).
    await insert_row(
        conn,
        "answers",
        {
            "journey_id": "renewal:A7",
            "account_id": "A7",
            "question": "renewal_intent",
            "choice": "yes",
        },
    )


BOOK = {
    "onboarding_complete": {"accounts": 6, "count": 3, "rate": 0.5},
    "in_contact": {"accounts": 6, "count": 2, "rate": round(2 / 6, 4)},
    "confirmed_intent": {"accounts": 6, "count": 2, "rate": round(2 / 6, 4)},
}


@pytest.fixture
async def seeded(enrol_pool):
    async with enrol_pool.acquire() as conn:
        await seed(conn)
    return enrol_pool


@pytest.fixture(scope="module")
def playbooks():
    return {"renewal": load_playbook(PLAYBOOKS / "renewal.playbook")}


async def report_json(pool: asyncpg.Pool, window: Window, **options: Any) -> dict[str, Any]:
    """The report as ``playbook report --json`` prints it (the shape users' scripts read)."""
    # Of the shipped playbooks only renewal's IR is given: name the NPS follow-up one
    # (the report finds it by its trigger, `starts on nps_response`, in the IR).
    options.setdefault("nps_playbook", "nps_followup")
    return (await build_report(pool, window, **options)).to_json()


async def test_activity_is_counted_exactly(seeded, playbooks):
    report = await report_json(seeded, WINDOW, playbooks=playbooks)
    activity = report["activity"]
    assert activity["emails"] == {
        "sent": 11,
        "failed": 1,
        "contacts": 6,
        "contact_weeks": 7,
        "max_per_contact_week": 4,
        "mean_per_contact_week": round(11 / 7, 2),
        "cap": {"max_emails": 3, "per_days": 7, "per_week": 3},
        "contact_weeks_over_cap": 1,
    }
    assert activity["renewal_intent_asked"] == {
        "accounts_due_to_be_asked": 6,
        "asked": 4,
        "rate": round(4 / 6, 4),
    }
    assert activity["ctas"] == {
        "opened": 4,
        "closed": 2,
        "open_now": 3,
        "open_by_owner": [
            {"owner": "Ann", "open": 2, "overdue": 1, "urgent": 1},
            {"owner": "ops", "open": 1, "overdue": 0, "urgent": 0},
        ],
    }
    assert activity["nps_followup"] == {
        "responses": 3,
        "by_category": {"promoter": 1, "passive": 0, "detractor": 2},
        "ctas_opened": 2,
        "ctas_closed": 1,
        "closure_rate": 0.5,
    }


async def test_outcomes_are_counted_exactly(seeded, playbooks):
    report = await report_json(seeded, WINDOW, playbooks=playbooks)
    outcomes = report["outcomes"]
    assert outcomes["renewal_intent"] == {
        "asked": 4,
        "answered": 3,
        "answer_rate": 0.75,
        "split": {"yes": 1, "no": 1, "not_decision_maker": 1},
    }
    assert outcomes["renewals"] == {
        "due": 5,
        "on_time": 2,
        "late": 1,
        "overdue": 1,
        "churned": 1,
        "on_time_rate": 0.4,
    }
    assert outcomes["quotes"] == {
        "generated": 3,
        "with_organic_growth": 2,
        "organic_growth_licences": 15,
        "organic_growth_value": 610,
        "total_with_organic_growth": 7810,
        "total": 10810,
    }
    assert outcomes["version_currency"] == {
        "accounts": 4,
        "two_plus_behind": 2,
        "share_two_plus_behind": 0.5,
    }
    assert outcomes["cloud_migration"] == [
        {
            "region": "apac",
            "segment": "smb",
            "accounts": 1,
            "not_started": 0,
            "notified": 1,
            "planned": 0,
            "migrating": 0,
            "migrated": 0,
            "migrated_share": 0.0,
        },
        {
            "region": "emea",
            "segment": "enterprise",
            "accounts": 3,
            "not_started": 1,
            "notified": 0,
            "planned": 1,
            "migrating": 0,
            "migrated": 1,
            "migrated_share": round(1 / 3, 4),
        },
    ]


async def test_the_book_kpis_are_counted_exactly(seeded, playbooks):
    report = await report_json(seeded, WINDOW, playbooks=playbooks)
    assert report["outcomes"]["book"] == BOOK
    assert "book" not in report["activity"]
    # Narrowing to a playbook leaves the book alone (outcomes are the book's).
    narrowed = await report_json(seeded, WINDOW, playbooks=playbooks, playbook="renewal")
    assert narrowed["outcomes"]["book"] == BOOK


async def test_the_book_follows_the_store_and_the_window(seeded, playbooks):
    # All time as of 03-01: A6 (June) is renewing too, and says yes -> 3 of 7;
    # onboarding and contact are the book as it is now, window or not.
    report = await report_json(seeded, Window(None, None, WINDOW.as_of), playbooks=playbooks)
    book = report["outcomes"]["book"]
    assert book["confirmed_intent"] == {"accounts": 7, "count": 3, "rate": round(3 / 7, 4)}
    assert book["onboarding_complete"] == BOOK["onboarding_complete"]
    assert book["in_contact"] == BOOK["in_contact"]
    async with seeded.acquire() as conn:
        # A2's first holder is re-ranked behind the fine one; the suppression of
        # A5's domain is lifted; A7's only renewal contact opts out (by address,
        # as the unsubscribe link records it) -> A1, A2, A5 reachable.
        await conn.execute("UPDATE contact_roles SET rank = 2 WHERE contact_id = 'K2a'")
        await conn.execute("DELETE FROM suppressions WHERE entry = 'blocked.example'")
        await insert_row(conn, "opt_outs", {"email": "lee@a7.example"})
        # A6 churns: out of the active book (it was neither onboarded nor reachable).
        await conn.execute("UPDATE subscriptions SET status = 'churned' WHERE account_id = 'A6'")
    book = (await report_json(seeded, WINDOW, playbooks=playbooks))["outcomes"]["book"]
    assert book["in_contact"] == {"accounts": 5, "count": 3, "rate": 0.6}
    async with seeded.acquire() as conn:
        # A contact of another account with A1's address opted out: governance
        # blocks the address for everyone, so A1 is no longer reachable.
        await insert_row(
            conn,
            "contacts",
            {"id": "K9", "account_id": "A4", "email": "RITA@a1.example", "opted_out": True},
        )
    book = (await report_json(seeded, WINDOW, playbooks=playbooks))["outcomes"]["book"]
    assert book["in_contact"] == {"accounts": 5, "count": 2, "rate": 0.4}
    assert book["onboarding_complete"] == {"accounts": 5, "count": 3, "rate": 0.6}


async def test_all_time_asks_whoever_has_reached_the_asking_point(seeded, playbooks):
    # As of 03-01 the question is due for renewals up to 07-19 (T-140): all seven,
    # A6 (June) included; A6 was asked too.
    report = await report_json(seeded, Window(None, None, WINDOW.as_of), playbooks=playbooks)
    assert report["activity"]["renewal_intent_asked"] == {
        "accounts_due_to_be_asked": 7,
        "asked": 5,
        "rate": round(5 / 7, 4),
    }
    early = Window(None, None, date(2026, 9, 1))  # T-140 of A7 (01-15) and no one else's
    report = await report_json(seeded, early, playbooks=playbooks)
    assert report["activity"]["renewal_intent_asked"]["accounts_due_to_be_asked"] == 1


async def test_a_recorded_renewal_counts_before_the_crm_catches_up(seeded, playbooks):
    async with seeded.acquire() as conn:
        await insert_row(conn, "accounts", {"id": "A8", "name": "Account A8"})
        await insert_row(
            conn,
            "subscriptions",
            {
                "id": "S-A8",
                "account_id": "A8",
                "status": "active",  # the CRM has not caught up
                "start_date": date(2026, 2, 5),
                "renewal_date": date(2027, 2, 5),
            },
        )
        await conn.execute(
            "INSERT INTO journey_events (journey_id, account_id, playbook, kind, detail, at) "
            "VALUES ('renewal:A8', 'A8', 'renewal', 'outcome', 'renewed', $1)",
            at("2027-02-01"),
        )
    renewals = (await report_json(seeded, WINDOW, playbooks=playbooks))["outcomes"]["renewals"]
    assert (renewals["due"], renewals["on_time"], renewals["overdue"]) == (6, 3, 1)


async def test_playbook_narrows_activity_to_its_journeys(seeded, playbooks):
    report = await report_json(seeded, WINDOW, playbooks=playbooks, playbook="renewal")
    assert report["activity"]["emails"]["sent"] == 9  # the version_currency emails drop out
    assert report["activity"]["ctas"]["opened"] == 2  # c1, c2: the NPS follow-ups drop out
    assert report["outcomes"]["renewals"]["due"] == 5  # outcomes stay the book's


async def test_journeys_and_arms_without_temporal(seeded, playbooks):
    report = await report_json(seeded, WINDOW, playbooks=playbooks)
    assert report["journeys"] == [
        {"playbook": "renewal", "source": "journey events", "total": 4, "running": 2, "ended": 2}
    ]
    experiment = playbooks["renewal"].experiments[0]
    expected: dict[str, dict] = {
        arm.name: {"journeys": 0, "emails": 0, "achieved": 0} for arm in experiment.arms
    }
    emails = {"A1": 6, "A2": 1, "A3": 1, "A5": 1}  # A1: 5 statements and the question
    for account in ("A1", "A2", "A3", "A5"):
        arm = assign_arm(experiment, account).name
        expected[arm]["journeys"] += 1
        expected[arm]["emails"] += emails[account]
        expected[arm]["achieved"] += 1 if account in ("A1", "A2") else 0
    got = {
        row["arm"]: {k: row[k] for k in ("journeys", "emails", "achieved")}
        for row in report["arms"]
    }
    assert got == expected
    assert sum(row["ctas"] for row in report["arms"]) == 3  # c1, c2, c5
    assert {row["holdout"] for row in report["arms"] if row["arm"] == "control"} == {True}


async def test_an_empty_book_reports_zeros_not_errors(enrol_pool, playbooks):
    report = await report_json(enrol_pool, Window(None, None, date(2027, 1, 1)), playbooks={})
    assert report["activity"]["emails"]["sent"] == 0
    assert report["outcomes"]["renewals"]["on_time_rate"] is None
    assert report["outcomes"]["cloud_migration"] == []
    assert report["arms"] == []
    assert report["window"]["label"] == "all time"
    empty = {"accounts": 0, "count": 0, "rate": None}
    assert report["outcomes"]["book"] == {
        "onboarding_complete": empty,
        "in_contact": empty,
        "confirmed_intent": empty,
    }


async def test_journey_counts_come_from_temporal_visibility(
    seeded, playbooks, fresh_dsn, temporal_client, task_queue
):
    """Three journeys of a playbook no other test starts, counted by visibility."""
    from workers.adapters.store import Store
    from workers.services.journeys import start_journey

    name = f"renewal_{uuid.uuid4().hex[:8]}"
    renamed = playbooks["renewal"].model_copy(update={"name": name, "experiments": []})
    store = await Store.connect(fresh_dsn)
    try:
        for account in ("A3", "A5", "A6"):  # the active subscriptions
            await start_journey(temporal_client, store, renamed, account, task_queue=task_queue)
    finally:
        await store.close()
    rows: list = []
    for _ in range(300):  # visibility is eventually consistent: poll, never time
        report = await report_json(
            seeded, WINDOW, playbooks={name: renamed}, playbook=name, temporal=temporal_client
        )
        rows = report["journeys"]
        if rows and rows[0].get("total") == 3:
            break
        await asyncio.sleep(0.1)
    assert rows[0]["source"] == "temporal"
    assert (rows[0]["playbook"], rows[0]["total"], rows[0]["running"]) == (name, 3, 3)


def seed_for_the_command(monkeypatch, dsn: str) -> None:  # noqa: ANN001 - pytest's monkeypatch
    """Seed the known book into ``dsn`` and point the `playbook` command at it, with
    Temporal unreachable (journey counts then come from the journey events)."""
    import threading

    async def seed_it() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await seed(conn)
        finally:
            await conn.close()

    # The test's own event loop is running: seed from a thread with a loop of its own.
    worker = threading.Thread(target=lambda: asyncio.run(seed_it()))
    worker.start()
    worker.join()
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")  # nobody there: journey events instead
    monkeypatch.setenv("PLAYBOOK_DIR", str(PLAYBOOKS))


def test_report_command_prints_tables_and_json(monkeypatch, fresh_dsn):
    from typer.testing import CliRunner

    from cli.app import app

    monkeypatch.setenv("COLUMNS", "200")
    seed_for_the_command(monkeypatch, fresh_dsn)
    runner = CliRunner()
    window = ["--from", "2027-01-01", "--to", "2027-03-31", "--as-of", "2027-03-01"]

    as_json = runner.invoke(app, ["report", *window, "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["outcomes"]["renewals"]["on_time_rate"] == 0.4
    assert data["activity"]["renewal_intent_asked"]["rate"] == round(4 / 6, 4)
    assert data["outcomes"]["book"] == BOOK

    table = runner.invoke(app, ["report", *window])
    assert table.exit_code == 0, table.output
    for words in (
        "Activity (what the playbooks did)",
        "Outcomes (what came of it)",
        "renewal intent asked",
        "66.7%",
        "renewed on time",
        "40.0%",
        "open CTAs per owner",
        "cloud migration by region and segment",
        "journeys per playbook (from journey events)",
        "per experiment arm",
        "the book (active accounts now; intent: renewing in the window)",
        "onboarding complete",
        "50.0%",
        "3 of 6 active accounts",
        "properly in contact",
        "2 of 6 active accounts",
        "confirmed renewal intent",
        "33.3%",
        "2 of 6 renewing",
    ):
        assert words in table.output, words

    # The runner sees the UserError itself; `playbook` (cli.app.main) prints it as one line.
    unknown = runner.invoke(app, ["report", "--playbook", "nope"])
    assert str(unknown.exception) == "no playbook named 'nope'"
    assert unknown.exception.hint.startswith("known playbooks: cloud_migration")


async def test_arms_count_goals_achieved_not_journeys_that_ran_to_their_end(enrol_pool, playbooks):
    # 23 renewal journeys ended and no subscription renewed: 22 ran off their end
    # (outcome "completed", which the journey also records as its status), one stopped.
    # As the record activity writes them: detail = outcome, data = status and outcome.
    experiment = playbooks["renewal"].experiments[0]
    accounts = [f"R{i:02d}" for i in range(23)]

    async def ended(account: str, outcome: str, status: str) -> None:
        await enrol_pool.execute(
            "INSERT INTO journey_events (journey_id, account_id, playbook, kind, detail, data, "
            "at) VALUES ($1, $2, 'renewal', 'outcome', $3, $4::jsonb, $5)",
            f"renewal:{account}",
            account,
            outcome,
            json.dumps({"status": status, "outcome": outcome}),
            at("2027-02-01"),
        )

    for account in accounts:
        if account == "R00":
            await ended(account, "churned", "stopped")
        else:
            await ended(account, "completed", "completed")
    arms = (await report_json(enrol_pool, WINDOW, playbooks=playbooks))["arms"]
    assert sum(row["journeys"] for row in arms) == 23
    assert [row["achieved"] for row in arms] == [0] * len(experiment.arms)
    assert {row["achieved_rate"] for row in arms if row["journeys"]} == {0.0}

    from rich.console import Console

    from cli.report import _arms
    from workers.analytics.report_model import Arm

    console = Console(width=200, record=True)
    console.print(_arms([Arm.model_validate(row) for row in arms]))
    assert "0 (0.0%)" in console.export_text()
    assert "100.0%" not in console.export_text()

    # One renews (the goal of the renewal playbook): 1 achieved, in its arm.
    await enrol_pool.execute("DELETE FROM journey_events WHERE journey_id = 'renewal:R05'")
    await ended("R05", "renewed", "completed")
    arms = (await report_json(enrol_pool, WINDOW, playbooks=playbooks))["arms"]
    assert sum(row["achieved"] for row in arms) == 1
    arm = assign_arm(experiment, "R05").name
    assert [row["achieved"] for row in arms if row["arm"] == arm] == [1]
