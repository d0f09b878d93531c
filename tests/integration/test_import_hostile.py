"""`data import` of a careless or hostile export (issue 13 part 8), against a real
Postgres: a short row leaves a new account without segment and region (refused:
required of a new account), and a NUL or a 3 KB id is refused by the dry run
without a database, the dry run with one and the real run alike, each naming
file:line: column; never a driver error, nothing written."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from tests.integration.test_import import snapshot
from workers.services.importer import ExportFiles, ImportRejected, check_export, import_export

pytestmark = pytest.mark.integration

HEADER = "id,name,segment,region\n"


@pytest.fixture
async def pool(fresh_dsn: str):  # noqa: ANN201 - an asyncpg pool
    pool = await asyncpg.create_pool(fresh_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


def accounts(tmp_path: Path, text: str) -> ExportFiles:
    path = tmp_path / "accounts.csv"
    path.write_text(text, encoding="utf-8")
    return ExportFiles(accounts=path)


async def refusals(pool: asyncpg.Pool, files: ExportFiles) -> list[list[str]]:
    """What the dry run without a database, the dry run and the real run refuse."""
    found = []
    before = await snapshot(pool)
    for run in ("check", "dry", "real"):
        with pytest.raises(ImportRejected) as caught:
            if run == "check":
                check_export(files)
            else:
                await import_export(pool, files, dry_run=run == "dry")
        found.append([str(error).rsplit("/", 1)[-1] for error in caught.value.errors])
    assert await snapshot(pool) == before
    return found


async def test_a_short_row_is_refused_for_a_new_account(pool: asyncpg.Pool, tmp_path: Path):
    files = accounts(tmp_path, HEADER + "ACC-1,Acme Corp,smb,emea\nACC-2,Short Corp\n")
    expected = ["accounts.csv:3: segment: missing value", "accounts.csv:3: region: missing value"]
    assert await refusals(pool, files) == [expected, expected, expected]


async def test_a_new_account_needs_segment_and_region_columns(pool: asyncpg.Pool, tmp_path):
    files = accounts(tmp_path, "id,name\nACC-9,Acme\n")
    with pytest.raises(ImportRejected) as caught:
        await import_export(pool, files, dry_run=True)
    assert [f"{Path(e.file).name}:{e.row}: {e.column}" for e in caught.value.errors] == [
        "accounts.csv:2: segment",
        "accounts.csv:2: region",
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("ACC\x00X,Acme,smb,emea", "accounts.csv:2: id: the value holds a NUL character"),
        ("ACC-1,Ac\x00me,smb,emea", "accounts.csv:2: name: the value holds a NUL character"),
        ("N" * 3000 + ",Acme,smb,emea", "accounts.csv:2: id: the value is too long for an id"),
    ],
)
async def test_a_nul_or_a_3_kb_id_is_refused_by_dry_and_real_runs_alike(
    pool: asyncpg.Pool, tmp_path: Path, row: str, message: str
) -> None:
    files = accounts(tmp_path, HEADER + row + "\n")
    found = await refusals(pool, files)
    assert found[0] == found[1] == found[2], found
    assert len(found[0]) == 1 and found[0][0].startswith(message), found
