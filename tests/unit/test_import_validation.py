"""Checking a CRM export row by row, without a database: every kind of error is
reported with its file, row and column, all of them at once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workers.services.importer import ExportFiles, ImportRejected, check_export

SAMPLE = Path(__file__).parents[1] / "fixtures" / "crm_export"


def sample_files(directory: Path) -> ExportFiles:
    for name in ("accounts", "contacts", "subscriptions", "usage", "nps"):
        shutil.copy(SAMPLE / f"{name}.csv", directory / f"{name}.csv")
    return ExportFiles(
        accounts=directory / "accounts.csv",
        contacts=directory / "contacts.csv",
        subscriptions=directory / "subscriptions.csv",
        usage=directory / "usage.csv",
        nps=directory / "nps.csv",
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def errors_of(files: ExportFiles) -> list[str]:
    with pytest.raises(ImportRejected) as rejected:
        check_export(files)
    return [f"{e} | {e.hint}" if e.hint else str(e) for e in rejected.value.errors]


def test_the_sample_export_is_valid(tmp_path):
    report = check_export(sample_files(tmp_path))
    assert [(c.kind, c.rows) for c in report.counts] == [
        ("accounts", 4),
        ("contacts", 9),
        ("subscriptions", 4),
        ("usage", 4),
        ("nps", 3),
    ]


def test_account_value_errors(tmp_path):
    accounts = write(
        tmp_path / "accounts.csv",
        """
id,name,segment,acv,onboarding_complete,timezone,fiscal_year_start_month,health_score
A-1,Good Co,smb,100,true,Europe/Berlin,4,50
,No Id Inc,smb,100,true,UTC,1,50
A-3,Bad Co,enterprize,1.000.000,maybe,Europe/Berln,13,101
A-4,Half Co,smb,100,yes,UTC,4.5,50
""",
    )
    assert errors_of(ExportFiles(accounts=accounts)) == [
        f"{accounts}:3: id: missing value | this column is required",
        f"{accounts}:4: segment: unknown value 'enterprize' | did you mean 'enterprise'?",
        f"{accounts}:4: acv: '1.000.000' is not a number | write plain numbers: 1234.5 "
        "(no separators)",
        f"{accounts}:4: onboarding_complete: 'maybe' is not a yes/no value | "
        "write true or false (or yes/no, 1/0)",
        f"{accounts}:4: timezone: unknown time zone 'Europe/Berln' | did you mean 'Europe/Berlin'?",
        f"{accounts}:4: fiscal_year_start_month: 13 is above the maximum 12",
        f"{accounts}:4: health_score: 101 is above the maximum 100",
        f"{accounts}:5: fiscal_year_start_month: '4.5' is not a whole number",
    ]


def test_contact_errors_roles_emails_and_references(tmp_path):
    files = sample_files(tmp_path)
    write(
        files.contacts,
        """
id,account_id,name,email,timezone,role
C-1,ACME-0042,Jane,jane@acme.example,,decision_maker
C-2,ACME-0042,Max,max(at)acme.example,,renewal_contact
C-3,ACME-0042,Erika,erika@acme.example,,decision_maker;cfo
C-4,NOPE-1,Ghost,ghost@nope.example,,admin
C-1,ACME-0042,Jane again,jane2@acme.example,,champoin
""",
    )
    write(
        files.nps, "id,account_id,contact_id,score,responded_on\nN-1,ACME-0042,C-9,11,2026-13-01\n"
    )
    contacts, nps = files.contacts, files.nps
    assert errors_of(files) == [
        f"{contacts}:3: email: 'max(at)acme.example' is not a valid email address | "
        "e.g. jane.doe@acme.com",
        f"{contacts}:4: role: unknown contact role 'cfo' | known roles: decision_maker, "
        "renewal_contact, admin, champion, billing",
        f"{contacts}:5: account_id: unknown account 'NOPE-1' | "
        "not in the accounts file nor in the database",
        f"{contacts}:6: role: unknown contact role 'champoin' | did you mean 'champion'?",
        f"{contacts}:6: id: duplicate 'C-1' (first on row 2)",
        f"{nps}:2: score: 11 is above the maximum 10",
        f"{nps}:2: responded_on: '2026-13-01' is not a valid date (month must be in 1..12)",
        f"{nps}:2: contact_id: unknown contact 'C-9' | "
        "not in the contacts file nor in the database",
    ]


def test_subscription_dates(tmp_path):
    files = sample_files(tmp_path)
    write(
        files.subscriptions,
        """
id,account_id,start_date,renewal_date,currency
S-1,ACME-0042,01/04/2026,2027-04-01,EUR
S-2,ACME-0042,2026-04-01,2025-04-01,euro
S-3,ACME-0042,2026-04-01,,USD
""",
    )
    subs = files.subscriptions
    assert errors_of(files) == [
        f"{subs}:2: start_date: '01/04/2026' is not an ISO date | "
        "write dates as YYYY-MM-DD: 2027-04-01",
        f"{subs}:3: currency: 'euro' is not a currency code | "
        "a three-letter ISO code: USD, EUR, JPY",
        f"{subs}:4: renewal_date: missing value | this column is required",
    ]


def test_cross_column_check_runs_when_the_cells_are_valid(tmp_path):
    files = sample_files(tmp_path)
    write(
        files.subscriptions,
        "id,account_id,start_date,renewal_date\nS-1,ACME-0042,2026-04-01,2025-04-01\n",
    )
    assert errors_of(files) == [
        f"{files.subscriptions}:2: renewal_date: 2025-04-01 is before start_date 2026-04-01"
    ]


def test_header_errors(tmp_path):
    usage = write(
        tmp_path / "usage.csv",
        "account_id,devices,active_users,active_users\nACME-0042,10,5,5\n",
    )
    empty = write(tmp_path / "nps.csv", "")
    assert errors_of(ExportFiles(usage=usage, nps=empty)) == [
        f"{usage}:1: devices: unknown column | did you mean 'devices_in_use'?",
        f"{usage}:1: active_users: column appears twice",
        f"{usage}:1: as_of: required column is missing | add it to the header",
        f"{empty}:1: empty file | the first line is the header, e.g. "
        "id,account_id,score,responded_on",
    ]


def test_row_with_too_many_cells_and_missing_file(tmp_path):
    accounts = write(tmp_path / "accounts.csv", "id,name\nA-1,Acme, Inc\nA-2,Globex\n")
    missing = tmp_path / "contacts.csv"
    assert errors_of(ExportFiles(accounts=accounts, contacts=missing)) == [
        f"{accounts}:2: 3 cells but the header has 2 columns | quote cells that contain commas",
        f"{missing}: file not found",
    ]


def test_row_numbers_are_line_numbers_across_quoted_newlines_and_blank_lines(tmp_path):
    nps = write(
        tmp_path / "nps.csv",
        'id,account_id,score,comment,responded_on\nN-1,A-1,9,"two\nlines",2026-10-01\n\n'
        "N-2,A-1,x,,2026-10-01\n",
    )
    accounts = write(tmp_path / "accounts.csv", "id,name\nA-1,Acme\n")
    assert errors_of(ExportFiles(accounts=accounts, nps=nps)) == [
        f"{nps}:5: score: 'x' is not a number | write plain numbers: 1234.5 (no separators)"
    ]


def test_excel_byte_order_mark_and_header_case_are_accepted(tmp_path):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("\ufeffID,Name\nA-1,Acme\n", encoding="utf-8")
    report = check_export(ExportFiles(accounts=accounts))
    assert report.counts[0].rows == 1


def test_nps_category_must_match_the_score(tmp_path):
    files = sample_files(tmp_path)
    write(
        files.nps,
        "id,account_id,score,category,responded_on\n"
        "N-1,ACME-0042,3,promoter,2026-10-01\n"
        "N-2,ACME-0042,8,passive,2026-10-01\n",
    )
    assert errors_of(files) == [
        f"{files.nps}:2: category: 'promoter' does not match score 3 (a detractor) | "
        "NPS: 9-10 promoter, 7-8 passive, 0-6 detractor; or leave it empty"
    ]
