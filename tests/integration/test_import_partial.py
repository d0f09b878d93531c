"""Partial rows in a re-import, against a real Postgres: a row already in the
database needs only its key and the columns that change (the others keep their
values); a new row still needs every required column, and each one it lacks is an
error naming the file, line and column, with nothing written; a moved date is
checked against the other date as the database holds it."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from tests.integration.test_import import KINDS, SAMPLE, snapshot
from workers.services.importer import ExportFiles, ImportRejected, import_export

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(fresh_dsn):
    pool = await asyncpg.create_pool(fresh_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def imported(pool, tmp_path) -> None:
    """The sample export, imported whole."""
    for kind in KINDS:
        shutil.copy(SAMPLE / f"{kind}.csv", tmp_path / f"{kind}.csv")
    await import_export(pool, ExportFiles(**{kind: tmp_path / f"{kind}.csv" for kind in KINDS}))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def messages(rejected: ImportRejected) -> list[str]:
    return [f"{e} | {e.hint}" if e.hint else str(e) for e in rejected.errors]


async def test_an_id_and_one_column_update_that_column_only(pool, imported, tmp_path):
    before = await snapshot(pool)
    moved = write(tmp_path / "moved.csv", "id,renewal_date\nSUB-ACME-2026,2027-05-01\n")

    report = await import_export(pool, ExportFiles(subscriptions=moved))

    assert [(c.kind, c.rows, c.new, c.updated) for c in report.counts] == [
        ("subscriptions", 1, 0, 1)
    ]
    assert report.changed == {"ACME-0042": ["subscription.renewal_date"]}
    after = await snapshot(pool)
    acme_before = next(s for s in before["subscriptions"] if s["id"] == "SUB-ACME-2026")
    expected = [
        {**s, "renewal_date": date(2027, 5, 1)} if s["id"] == "SUB-ACME-2026" else s
        for s in before["subscriptions"]
    ]
    assert after["subscriptions"] == expected
    assert acme_before["renewal_date"] == date(2027, 4, 1)
    assert {k: v for k, v in after.items() if k != "subscriptions"} == {
        k: v for k, v in before.items() if k != "subscriptions"
    }


async def test_a_partial_contact_keeps_its_account_and_time_zone(pool, imported, tmp_path):
    before = await snapshot(pool)
    roles = write(tmp_path / "roles.csv", "id,title,role\nC-ACME-1,CIO,champion\n")

    await import_export(pool, ExportFiles(contacts=roles))

    after = await snapshot(pool)
    jane = next(c for c in after["contacts"] if c["id"] == "C-ACME-1")
    old = next(c for c in before["contacts"] if c["id"] == "C-ACME-1")
    assert jane == {**old, "title": "CIO"}
    assert [
        (r["contact_id"], r["account_id"], r["role"])
        for r in after["contact_roles"]
        if r["contact_id"] == "C-ACME-1"
    ] == [("C-ACME-1", "ACME-0042", "champion")]


async def test_a_new_row_without_its_required_columns_writes_nothing(pool, imported, tmp_path):
    before = await snapshot(pool)
    mixed = write(
        tmp_path / "subscriptions.csv",
        "id,renewal_date\nSUB-ACME-2026,2027-05-01\nSUB-NEW-2027,2028-01-01\n",
    )

    with pytest.raises(ImportRejected) as rejected:
        await import_export(pool, ExportFiles(subscriptions=mixed))

    hint = (
        "add the column: a new subscription needs id, account_id, start_date, renewal_date; "
        "one already in the database needs only id and the columns that change"
    )
    assert messages(rejected.value) == [
        f"{mixed}:3: account_id: missing: 'SUB-NEW-2027' is a new subscription "
        f"(not in the database) | {hint}",
        f"{mixed}:3: start_date: missing: 'SUB-NEW-2027' is a new subscription "
        f"(not in the database) | {hint}",
    ]
    assert await snapshot(pool) == before


async def test_a_file_without_its_key_column_is_refused(pool, imported, tmp_path):
    keyless = write(tmp_path / "subscriptions.csv", "renewal_date\n2027-05-01\n")
    with pytest.raises(ImportRejected) as rejected:
        await import_export(pool, ExportFiles(subscriptions=keyless))
    assert messages(rejected.value) == [
        f"{keyless}:1: id: required column is missing | add it to the header"
    ]


async def test_a_moved_date_is_checked_against_the_other_as_stored(pool, imported, tmp_path):
    before = await snapshot(pool)
    early = write(
        tmp_path / "subscriptions.csv",
        "id,renewal_date\nSUB-GLOBEX-2026,2027-06-01\nSUB-ACME-2026,2026-01-01\n",
    )
    with pytest.raises(ImportRejected) as rejected:
        await import_export(pool, ExportFiles(subscriptions=early))
    assert messages(rejected.value) == [
        f"{early}:3: renewal_date: 2026-01-01 is before start_date 2026-04-01 "
        "(as the database holds it)"
    ]
    assert await snapshot(pool) == before
