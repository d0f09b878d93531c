"""`playbook data import` against a real Postgres: a valid export lands, a bad
row anywhere writes nothing, re-importing changes nothing, references may point
at accounts already in the database, and the command prints what it did."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest
import typer
from typer.testing import CliRunner

from cli import data_import
from cli.app import UserError
from workers.services.importer import ExportFiles, ImportRejected, import_export

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).parents[1] / "fixtures" / "crm_export"
KINDS = ("accounts", "contacts", "subscriptions", "usage", "nps")


@pytest.fixture
def import_dsn(fresh_dsn) -> str:
    """A fresh migrated database of this test's own."""
    return fresh_dsn


@pytest.fixture
async def pool(import_dsn):
    pool = await asyncpg.create_pool(import_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def export(tmp_path) -> ExportFiles:
    """A copy of the sample export the test may edit."""
    for kind in KINDS:
        shutil.copy(SAMPLE / f"{kind}.csv", tmp_path / f"{kind}.csv")
    return ExportFiles(**{kind: tmp_path / f"{kind}.csv" for kind in KINDS})


_SNAPSHOT = {
    "accounts": "SELECT * FROM accounts ORDER BY id",
    "contacts": "SELECT * FROM contacts ORDER BY id",
    "contact_roles": "SELECT * FROM contact_roles ORDER BY contact_id, role",
    "subscriptions": "SELECT * FROM subscriptions ORDER BY id",
    "usage": "SELECT * FROM usage ORDER BY account_id, as_of",
    "nps_responses": "SELECT * FROM nps_responses ORDER BY id",
}


async def snapshot(pool) -> dict[str, list[dict]]:
    """Every imported table's rows, without the updated_at stamps."""
    tables = {}
    for table, query in _SNAPSHOT.items():
        rows = await pool.fetch(query)
        tables[table] = [{k: v for k, v in dict(r).items() if k != "updated_at"} for r in rows]
    return tables


def counts(report) -> list[tuple[str, int, int, int]]:
    return [(c.kind, c.rows, c.new, c.updated) for c in report.counts]


async def test_a_valid_export_is_imported(pool, export):
    report = await import_export(pool, export)

    assert counts(report) == [
        ("accounts", 4, 4, 0),
        ("contacts", 9, 9, 0),
        ("subscriptions", 4, 4, 0),
        ("usage", 4, 4, 0),
        ("nps", 3, 3, 0),
    ]
    acme = await pool.fetchrow("SELECT * FROM accounts WHERE id = 'ACME-0042'")
    assert (acme["name"], acme["acv"], acme["onboarding_complete"]) == ("ACME Corp", 60000, True)
    assert (acme["fiscal_year_start_month"], acme["timezone"]) == (4, "Europe/Berlin")
    # An empty contact time zone takes the account's.
    assert await pool.fetchval("SELECT timezone FROM contacts WHERE id = 'C-ACME-2'") == (
        "Europe/Berlin"
    )
    roles = await pool.fetch(
        "SELECT contact_id, role, rank FROM contact_roles WHERE account_id = 'GLOBEX-0007' "
        "ORDER BY contact_id, role"
    )
    assert [tuple(r) for r in roles] == [
        ("C-GLOBEX-1", "decision_maker", 0),
        ("C-GLOBEX-2", "admin", 0),
        ("C-GLOBEX-2", "champion", 0),
        ("C-GLOBEX-2", "renewal_contact", 0),
    ]
    # An empty NPS category follows from the score.
    assert await pool.fetchval("SELECT category FROM nps_responses WHERE id = 'NPS-GLOBEX-1'") == (
        "passive"
    )
    sub = await pool.fetchrow("SELECT * FROM subscriptions WHERE id = 'SUB-ACME-2026'")
    assert (str(sub["renewal_date"]), sub["licences"], sub["currency"]) == (
        "2027-04-01",
        100,
        "EUR",
    )


async def test_reimport_is_idempotent(pool, export):
    await import_export(pool, export)
    before = await snapshot(pool)

    again = await import_export(pool, export)

    assert counts(again) == [
        ("accounts", 4, 0, 4),
        ("contacts", 9, 0, 9),
        ("subscriptions", 4, 0, 4),
        ("usage", 4, 0, 4),
        ("nps", 3, 0, 3),
    ]
    assert await snapshot(pool) == before


async def test_one_bad_row_writes_nothing(pool, export):
    await import_export(pool, export)
    before = await snapshot(pool)
    # A corrected ACME name and a new account in the accounts file (both valid),
    # and one bad date in the very last file.
    text = export.accounts.read_text().replace("ACME Corp", "ACME Corporation")
    export.accounts.write_text(
        text + "NEW-0001,New Co,smb,amer,1000,,,,,low,,50,cloud,,,,0,1,false,UTC,not_started\n"
    )
    with export.nps.open("a") as nps:
        nps.write("NPS-NEW-1,NEW-0001,,10,,Great,2026-02-30\n")

    with pytest.raises(ImportRejected) as rejected:
        await import_export(pool, export)

    assert [str(e) for e in rejected.value.errors] == [
        f"{export.nps}:5: responded_on: '2026-02-30' is not a valid date "
        "(day is out of range for month)"
    ]
    assert await snapshot(pool) == before


async def test_empty_database_and_a_bad_row_leaves_it_empty(pool, export):
    with export.usage.open("a") as usage:
        usage.write("ACME-0042,2026-12-01,lots,1,,10\n")

    with pytest.raises(ImportRejected) as rejected:
        await import_export(pool, export)

    assert [(e.file, e.row, e.column) for e in rejected.value.errors] == [
        (str(export.usage), 6, "devices_in_use")
    ]
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 0


async def test_references_may_point_at_accounts_already_in_the_database(pool, export, tmp_path):
    await import_export(pool, ExportFiles(accounts=export.accounts))
    contacts = tmp_path / "more_contacts.csv"
    contacts.write_text(
        "id,account_id,name,email,role\n"
        "C-ACME-9,ACME-0042,New Champion,champ@acme.example,champion\n"
        "C-GHOST-1,GHOST-0001,Nobody,nobody@ghost.example,admin\n"
    )

    with pytest.raises(ImportRejected) as rejected:
        await import_export(pool, ExportFiles(contacts=contacts))
    assert [str(e) for e in rejected.value.errors] == [
        f"{contacts}:3: account_id: unknown account 'GHOST-0001'"
    ]

    contacts.write_text(
        contacts.read_text().splitlines()[0] + "\n"
        "C-ACME-9,ACME-0042,New Champion,champ@acme.example,champion\n"
    )
    report = await import_export(pool, ExportFiles(contacts=contacts))
    assert counts(report) == [("contacts", 1, 1, 0)]
    # The account's time zone, read from the database.
    assert await pool.fetchval("SELECT timezone FROM contacts WHERE id = 'C-ACME-9'") == (
        "Europe/Berlin"
    )


async def test_columns_left_out_keep_their_values(pool, export, tmp_path):
    await import_export(pool, export)
    risk = tmp_path / "risk.csv"
    risk.write_text("id,name,risk_level\nACME-0042,ACME Corp,high\n")

    await import_export(pool, ExportFiles(accounts=risk))

    acme = await pool.fetchrow(
        "SELECT risk_level, acv, csm_owner FROM accounts WHERE id = $1", "ACME-0042"
    )
    assert tuple(acme) == ("high", 60000, "maria.csm@playbook.local")


async def test_dry_run_writes_nothing(pool, export):
    report = await import_export(pool, export, dry_run=True)

    assert report.dry_run
    assert counts(report)[0] == ("accounts", 4, 4, 0)
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 0


def _cli() -> typer.Typer:
    app = typer.Typer()
    data_import.register(app)
    return app


async def invoke(args: list[str]):
    # In a thread: the command runs its own event loop with asyncio.run.
    return await asyncio.to_thread(CliRunner().invoke, _cli(), args)


def _args(export: ExportFiles, *extra: str) -> list[str]:
    args = ["data", "import"]
    for kind in KINDS:
        args += [f"--{kind}", str(getattr(export, kind))]
    return [*args, *extra]


async def test_the_command_prints_counts(import_dsn, export, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", import_dsn)

    result = await invoke(_args(export))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "imported 4 accounts (4 new, 0 updated)",
        "imported 9 contacts (9 new, 0 updated)",
        "imported 4 subscriptions (4 new, 0 updated)",
        "imported 4 usage (4 new, 0 updated)",
        "imported 3 nps (3 new, 0 updated)",
        # Responses from October: the follow-up playbook enrols only fresh ones,
        # so no journey starts (and no Temporal is needed).
        "nps_followup: 0 started, 0 running told, 0 already ran, 3 not enrolled (e.g. older "
        "than the playbook's window), 0 failed",
    ]


async def test_the_command_lists_every_error_and_fails(import_dsn, export, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", import_dsn)
    export.accounts.write_text(export.accounts.read_text().replace(",emea,", ",europe,"))
    export.contacts.write_text(export.contacts.read_text().replace("hank@", "hank at "))

    result = await invoke(_args(export))

    assert isinstance(result.exception, UserError)
    assert str(result.exception) == "2 errors in the export; nothing was written"
    assert result.stderr.splitlines() == [
        f"{export.accounts}:2: region: unknown value 'europe'",
        "  hint: one of: amer, emea, apac, japan",
        f"{export.contacts}:5: email: 'hank at globex.example' is not a valid email address",
        "  hint: e.g. jane.doe@acme.com",
    ]
