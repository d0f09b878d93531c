"""Import a CRM export (CSV files) into the store, all or nothing.

    report = await import_export(pool, ExportFiles(accounts=Path("accounts.csv"), ...))
    report = await run_import(connections, files)   # playbook data import

Every row of every file is checked against the fact schema (``dsl.schema``):
ids present, numbers that are numbers (whole where the column is), ISO dates,
yes/no booleans, values from the known sets (segment, region, contact roles...),
valid email addresses, IANA time zones, and references to accounts (and, for
NPS responses, contacts) that are in the export or already in the database.
All problems are collected, each as ``file.csv:ROW: column: message`` with a
hint, and ``ImportRejected`` carries them. Nothing is written unless the whole
export is valid; then everything is upserted by id in one transaction, so
importing the same export again changes nothing.

Data changes reach journeys. In the same transaction, the facts a journey sees of
each account the export touches (the account, its current subscription, its
latest usage: ``Store.load_facts``'s rules) are compared before and after the
upsert; every changed fact is audited in ``fact_changes`` (step ``import``) and
each changed account gets a notice with its changed paths
(``workers.services.fact_notices``). ``run_import`` then sends ``facts_changed``
with those paths to the running journeys of the changed accounts whose playbook
reads one of them (through the outbox; the worker tells them later if Temporal is
down). An account whose facts did not change is not told anything.

Row numbers are the file's line numbers (the header is line 1), as an editor
shows them. A column missing from a file is left as it is in the database (or
takes its default for new rows); an empty cell takes the column's default.

Partial rows: a file needs only its key columns (``id``; usage: ``account_id``
and ``as_of``). A row the database already holds is updated in the file's
columns only, so ``subscriptions.csv`` with ``id,renewal_date`` moves renewal
dates and nothing else; a new row needs every required column, and each it lacks
is an error naming the file, line and column. A subscription row that moves one
of its dates is checked against the other as the database holds it. (Without a
database, ``check_export`` cannot tell new rows from old, and checks neither.)

File formats (header names are the schema's field names, any order):

- accounts.csv: id, name, segment, region, acv, csm_owner, ... (``dsl.schema.ACCOUNT``)
- contacts.csv: id, account_id, name, email, title, timezone, opted_out, role
  (roles separated by ``;``: ``renewal_contact;decision_maker``; the file order
  ranks the holders of a role; an empty timezone takes the account's)
- subscriptions.csv: id, account_id, status, product, start_date, renewal_date, ...
- usage.csv: account_id, as_of, devices_in_use, active_users, last_login, adoption_percent
- nps.csv: id, account_id, contact_id, score, category, comment, responded_on
  (an empty category follows from the score: 9-10 promoter, 7-8 passive, 0-6 detractor)

The data model of the playbooks folder (``Settings.playbooks_dir``: the default
model with the team's ``model.playbook``) adds columns: a fact the team declares on
account or subscription is a column of that file (typed, its words checked; an
empty cell is None, not known), and each fact group it declares is a file of its
own (``ExportFiles.groups``: ``support.csv`` with account_id and the group's facts,
one row per account; a row updates the facts it has and keeps the others). An
undeclared column is refused with a did-you-mean naming the model file. The team's
facts are diffed, audited and told to journeys as the built-in ones are.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dsl import schema
from dsl.folder import model_file
from dsl.model import Fact, Model
from dsl.model_file import ModelError, load_model
from workers.adapters import custom_facts
from workers.adapters.store import CURRENT_SUBSCRIPTIONS, connection, plain
from workers.services import fact_notices
from workers.services.connections import Connections
from workers.services.errors import DatabaseUnavailable
from workers.services.given_text import ID, LINE, PROSE, TextKind, text_problem

# --------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class Column:
    """How one CSV column is read. ``kind`` refines the schema type: ``integer``
    is a whole number, ``email``/``timezone``/``roles`` are checked strings."""

    name: str
    kind: str
    required: bool = False
    default: Any = ""
    choices: tuple[str, ...] = ()
    low: Decimal | None = None
    high: Decimal | None = None
    custom: bool = False  # a fact of the team's model: kept in the row's jsonb


@dataclass(frozen=True)
class Table:
    """One file of the export and the table it fills. A fact group the team's
    model declares (``support``) fills ``fact_groups`` (``group`` names it)."""

    kind: str  # accounts | contacts | subscriptions | usage | nps | a group's name
    table: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    has_updated_at: bool = True
    group: str = ""
    declared_in: str = ""  # where a new column is declared: the model file, its section

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


_INTEGERS = {
    "versions_behind",
    "fiscal_year_start_month",
    "licences",
    "devices_in_use",
    "active_users",
    "score",
}
# Refinements of the schema's types: sets of known values, bounds, defaults
# (the defaults mirror the column defaults of migrations/001_core.sql).
_REFINE: dict[str, dict[str, Any]] = {
    "account.id": {"required": True},
    "account.name": {"required": True},
    "account.segment": {"required": True, "choices": schema.VALUES["account", "segment"]},
    "account.region": {"required": True, "choices": schema.VALUES["account", "region"]},
    "account.acv": {"low": 0, "default": Decimal(0)},
    "account.risk_level": {"choices": schema.VALUES["account", "risk_level"], "default": "low"},
    "account.renewal_intent": {"choices": schema.VALUES["account", "renewal_intent"]},
    "account.health_score": {"low": 0, "high": 100, "default": Decimal(0)},
    "account.deployment": {"choices": schema.VALUES["account", "deployment"], "default": "cloud"},
    "account.versions_behind": {"low": 0, "default": 0},
    "account.fiscal_year_start_month": {"low": 1, "high": 12, "default": 1},
    "account.onboarding_complete": {"default": False},
    "account.timezone": {"kind": "timezone", "default": "UTC"},
    "account.migration_stage": {
        "choices": schema.VALUES["account", "migration_stage"],
        "default": "not_started",
    },
    "subscription.id": {"required": True},
    "subscription.status": {
        "choices": schema.VALUES["subscription", "status"],
        "default": "active",
    },
    "subscription.start_date": {"required": True},
    "subscription.renewal_date": {"required": True},
    "subscription.licences": {"low": 0, "default": 0},
    "subscription.unit_price": {"low": 0, "default": Decimal(0)},
    "subscription.currency": {"kind": "currency", "default": "USD"},
    "subscription.weekly_notice_opt_out": {"default": False},
    "contact.id": {"required": True},
    "contact.email": {"kind": "email", "required": True},
    "contact.timezone": {"kind": "timezone"},
    "contact.opted_out": {"default": False},
    "usage.devices_in_use": {"low": 0, "default": 0},
    "usage.active_users": {"low": 0, "default": 0},
    "usage.last_login": {"default": None},
    "usage.adoption_percent": {"low": 0, "high": 100, "default": Decimal(0)},
    "nps.score": {"required": True, "low": 0, "high": 10},
    "nps.category": {"choices": schema.VALUES["nps", "category"]},
    "nps.responded_on": {"required": True},
}
_ZERO_DEFAULT = {"number": Decimal(0), "bool": False, "date": None, "string": ""}


def _columns(
    root: str, fields: dict[str, schema.FieldType], skip: Iterable[str] = ()
) -> list[Column]:
    columns = []
    for name, kind in fields.items():
        if name in skip:
            continue
        refine = dict(_REFINE.get(f"{root}.{name}", {}))
        column_kind = refine.pop("kind", "integer" if name in _INTEGERS else kind)
        refine.setdefault("default", _ZERO_DEFAULT[kind] if column_kind != "integer" else 0)
        for bound in ("low", "high"):
            if bound in refine:
                refine[bound] = Decimal(refine[bound])
        columns.append(Column(name, column_kind, **refine))
    return columns


_ACCOUNT_REF = Column("account_id", "string", required=True)

ACCOUNTS = Table("accounts", "accounts", ("id",), tuple(_columns("account", schema.ACCOUNT)))
CONTACTS = Table(
    "contacts",
    "contacts",
    ("id",),
    (
        _columns("contact", schema.CONTACT)[0],
        _ACCOUNT_REF,
        *_columns("contact", schema.CONTACT, skip=("id",)),
        Column("role", "roles"),
    ),
)
SUBSCRIPTIONS = Table(
    "subscriptions",
    "subscriptions",
    ("id",),
    (
        _columns("subscription", schema.SUBSCRIPTION)[0],
        _ACCOUNT_REF,
        *_columns("subscription", schema.SUBSCRIPTION, skip=("id",)),
    ),
)
USAGE = Table(
    "usage",
    "usage",
    ("account_id", "as_of"),
    (_ACCOUNT_REF, Column("as_of", "date", required=True), *_columns("usage", schema.USAGE)),
    has_updated_at=False,
)
NPS = Table(
    "nps",
    "nps_responses",
    ("id",),
    (
        Column("id", "string", required=True),
        _ACCOUNT_REF,
        Column("contact_id", "string"),
        *_columns("nps", schema.NPS),
    ),
    has_updated_at=False,
)
TABLES = (ACCOUNTS, CONTACTS, SUBSCRIPTIONS, USAGE, NPS)


def custom_column(fact: Fact) -> Column:
    """How a cell of a fact the team's model declares is read: its type, its words;
    an empty cell is None (not known)."""
    return Column(fact.name, fact.type, default=None, choices=fact.words, custom=True)


def tables_for(model: Model, model_path: str = "") -> tuple[Table, ...]:
    """The files of an export under ``model``: accounts and subscriptions with the
    team's own columns, and a file per fact group it declares (key ``account_id``).
    ``model_path`` (the team's model file) is named where a column is unknown."""
    where = model_path or "playbooks/model.playbook"
    extended = []
    for table, root in ((ACCOUNTS, "account"), (SUBSCRIPTIONS, "subscription")):
        extra = tuple(custom_column(f) for f in custom_facts.custom_facts(model, root))
        declared = f"{where}, under `facts {root}:`"
        extended.append(replace(table, columns=table.columns + extra, declared_in=declared))
    groups = tuple(
        Table(
            group.name,
            custom_facts.GROUP_TABLE,
            ("account_id",),
            (_ACCOUNT_REF, *(custom_column(f) for f in group.facts)),
            group=group.name,
            declared_in=f"{where}, under `facts {group.name}:`",
        )
        for group in custom_facts.new_groups(model)
    )
    accounts, subscriptions = extended
    return (accounts, CONTACTS, subscriptions, USAGE, NPS, *groups)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ExportFiles:
    """The files of one CRM export; any may be left out. ``groups``: a file per fact
    group the team's model declares, ``(("support", Path("support.csv")),)``."""

    accounts: Path | None = None
    contacts: Path | None = None
    subscriptions: Path | None = None
    usage: Path | None = None
    nps: Path | None = None
    groups: tuple[tuple[str, Path], ...] = ()

    def given(self) -> list[tuple[str, Path]]:
        """(kind, file) of every file given: the tables' in import order, then groups."""
        files = [(t.kind, getattr(self, t.kind)) for t in TABLES]
        return [(kind, path) for kind, path in files if path is not None] + list(self.groups)


@dataclass(frozen=True)
class RowError:
    """One problem in the export: ``accounts.csv:7: acv: 'abc' is not a number``."""

    file: str
    row: int
    column: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.row}" if self.row else self.file
        return (
            f"{where}: {self.column}: {self.message}" if self.column else f"{where}: {self.message}"
        )


class ImportRejected(Exception):
    """The export has errors; nothing was written. ``errors`` lists them all."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} error{'' if len(errors) == 1 else 's'} in the export")
        self.errors = errors


@dataclass
class TableCount:
    """What an import did to one table: rows read, of which new and updated."""

    kind: str
    rows: int = 0
    new: int = 0
    updated: int = 0
    new_ids: list[str] = field(default_factory=list)  # tables keyed by id: the new rows


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do), table by table."""

    counts: list[TableCount] = field(default_factory=list)
    dry_run: bool = False
    offline: bool = False  # a dry run without a database: references checked in the files only
    # account id -> the fact paths the import changed (existing accounts only)
    changed: dict[str, list[str]] = field(default_factory=dict)
    notices: list[int] = field(default_factory=list)  # fact_notices recorded for them
    told: fact_notices.Told | None = None  # what telling their journeys came to

    def new_ids(self, kind: str) -> list[str]:
        """The ids of the rows of ``kind`` the import created (e.g. new NPS responses)."""
        return [i for count in self.counts if count.kind == kind for i in count.new_ids]


# --------------------------------------------------------------------------- reading


@dataclass
class _Row:
    line: int
    values: dict[str, Any]


@dataclass
class _File:
    table: Table
    path: Path
    name: str
    header: list[str] = field(default_factory=list)
    rows: list[_Row] = field(default_factory=list)


def read_export(
    files: ExportFiles, tables: tuple[Table, ...] = TABLES
) -> tuple[list[_File], list[RowError]]:
    """Read and type-check every file (references to the database aside) by
    ``tables`` (``tables_for`` the data model)."""
    parsed: list[_File] = []
    errors: list[RowError] = []
    by_kind = {t.kind: t for t in tables}
    for kind, path in files.given():
        table = by_kind.get(kind)
        if table is None:
            errors.append(_unknown_group(kind, path, tables))
            continue
        export_file = _File(table, path, str(path))
        errors.extend(_read_file(export_file))
        parsed.append(export_file)
    return parsed, errors


def _read_file(export_file: _File) -> list[RowError]:
    name, table = export_file.name, export_file.table
    try:
        text = export_file.path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return [RowError(name, 0, "", "file not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return [RowError(name, 0, "", f"cannot read: {exc}", "save the file as UTF-8 CSV")]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        header = []
    expected = ",".join(c.name for c in table.columns if c.required)
    if not any(cell.strip() for cell in header):
        return [
            RowError(name, 1, "", "empty file", f"the first line is the header, e.g. {expected}")
        ]
    errors = _check_header(export_file, [cell.strip().lower() for cell in header])
    if errors:
        return errors
    line = reader.line_num + 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                errors.extend(_read_row(export_file, line, cells))
            line = reader.line_num + 1
    except csv.Error as exc:
        errors.append(
            RowError(name, line, "", f"malformed CSV: {exc}", "check the quotes on this line")
        )
    return errors


def _unknown_group(kind: str, path: Path, tables: tuple[Table, ...]) -> RowError:
    groups = [t.kind for t in tables if t.group]
    close = difflib.get_close_matches(kind, groups, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    hint += (
        f"groups of the data model: {', '.join(groups)}"
        if groups
        else "declare the group in the playbooks' model.playbook (`facts GROUP:`)"
    )
    return RowError(str(path), 0, "", f"unknown fact group {kind!r}", hint)


def _check_header(export_file: _File, header: list[str]) -> list[RowError]:
    name, table = export_file.name, export_file.table
    known = [c.name for c in table.columns]
    errors = []
    for index, column in enumerate(header):
        if column not in known:
            close = difflib.get_close_matches(column, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known columns: {', '.join(known)}"
            if table.declared_in:
                hint += f" (a new column is declared in {table.declared_in})"
            errors.append(
                RowError(name, 1, column or f"column {index + 1}", "unknown column", hint)
            )
        elif column in header[:index]:
            errors.append(RowError(name, 1, column, "column appears twice"))
    for key in table.key:  # the other required columns only a new row needs
        if key not in header:
            errors.append(
                RowError(name, 1, key, "required column is missing", "add it to the header")
            )
    export_file.header = header
    return errors


def _read_row(export_file: _File, line: int, cells: list[str]) -> list[RowError]:
    name, header = export_file.name, export_file.header
    if len(cells) > len(header):
        extra = f"{len(cells)} cells but the header has {len(header)} columns"
        return [RowError(name, line, "", extra, "quote cells that contain commas")]
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for index, column_name in enumerate(header):
        column = export_file.table.column(column_name)
        assert column is not None  # the header was checked
        raw = cells[index].strip() if index < len(cells) else ""
        try:
            values[column_name] = cell_value(column, raw)
        except BadValue as bad:
            errors.append(RowError(name, line, column_name, bad.message, bad.hint))
    if not errors:
        errors.extend(_check_row(export_file, line, values))
    export_file.rows.append(_Row(line, values))
    return errors


def _check_row(export_file: _File, line: int, values: dict[str, Any]) -> list[RowError]:
    """Checks across the columns of one row."""
    start, end = values.get("start_date"), values.get("renewal_date")
    if start and end and end < start:
        message = f"{end.isoformat()} is before start_date {start.isoformat()}"
        return [RowError(export_file.name, line, "renewal_date", message)]
    day, tomorrow = values.get("responded_on"), datetime.now(UTC).date() + timedelta(days=1)
    if export_file.table.kind == NPS.kind and day and day > tomorrow:
        message = f"{day.isoformat()} is in the future"
        return [RowError(export_file.name, line, "responded_on", message, "the day it was given")]
    category, score = values.get("category"), values.get("score")
    if export_file.table.kind == NPS.kind and category and score is not None:
        expected = nps_category(score)
        if category != expected:
            message = f"{category!r} does not match score {score} (a {expected})"
            hint = "NPS: 9-10 promoter, 7-8 passive, 0-6 detractor; or leave it empty"
            return [RowError(export_file.name, line, "category", message, hint)]
    return []


def nps_category(score: int) -> str:
    """The NPS category of a 0-10 score."""
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


class BadValue(ValueError):
    """A cell (or a fact value) that is not what its column takes: ``message`` says
    what is wrong, ``hint`` what is expected."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


def cell_value(column: Column, raw: str) -> Any:
    """The typed value of one cell (or ``BadValue`` saying what is wrong): the one
    reading of a fact's text, for an import and for a fact update alike."""
    if raw == "":
        if column.required:
            raise BadValue("missing value", "this column is required")
        return column.default
    problem = text_problem(raw, _text_kind(column))
    if problem:
        raise BadValue(f"the value {problem}")
    reader = _READERS.get(column.kind, _string)
    value = reader(raw)
    if column.choices and value not in column.choices:
        close = difflib.get_close_matches(str(value), column.choices, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"one of: {', '.join(column.choices)}"
        raise BadValue(f"unknown value {raw!r}", hint)
    if column.low is not None and value < column.low:
        raise BadValue(f"{raw} is below the minimum {column.low}")
    if column.high is not None and value > column.high:
        raise BadValue(f"{raw} is above the maximum {column.high}")
    return value


def _text_kind(column: Column) -> TextKind:
    """How much text a cell of ``column`` may hold (``workers.services.given_text``):
    an id (a key, a reference, part of a journey id), a comment, or a line."""
    if column.name == "id" or column.name.endswith("_id"):
        return ID
    return PROSE if column.name == "comment" else LINE


def _string(raw: str) -> str:
    return raw


def _number(raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise BadValue(f"{raw!r} is not a number", "write plain numbers: 1234.5 (no separators)")
    return value


def _integer(raw: str) -> int:
    value = _number(raw)
    if value != value.to_integral_value():
        raise BadValue(f"{raw!r} is not a whole number")
    return int(value)


def _bool(raw: str) -> bool:
    word = raw.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise BadValue(f"{raw!r} is not a yes/no value", "write true or false (or yes/no, 1/0)")


def _date(raw: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise BadValue(f"{raw!r} is not an ISO date", "write dates as YYYY-MM-DD: 2027-04-01")
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise BadValue(f"{raw!r} is not a valid date ({exc})") from None


def _email(raw: str) -> str:
    if not _EMAIL.fullmatch(raw):
        raise BadValue(f"{raw!r} is not a valid email address", "e.g. jane.doe@acme.com")
    return raw


@functools.cache
def _zone_names() -> list[str]:
    return sorted(available_timezones())


def _timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(raw, _zone_names(), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "an IANA name, e.g. Europe/Berlin"
        raise BadValue(f"unknown time zone {raw!r}", hint) from None
    return raw


def _currency(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{3}", raw):
        raise BadValue(f"{raw!r} is not a currency code", "a three-letter ISO code: USD, EUR, JPY")
    return raw.upper()


def _roles(raw: str) -> tuple[str, ...]:
    roles = tuple(r.strip() for r in re.split(r"[;|]", raw) if r.strip())
    for role in roles:
        if role not in schema.CONTACT_ROLES:
            close = difflib.get_close_matches(role, schema.CONTACT_ROLES, n=1)
            known = ", ".join(schema.CONTACT_ROLES)
            hint = f"did you mean {close[0]!r}?" if close else f"known roles: {known}"
            raise BadValue(f"unknown contact role {role!r}", hint)
    return roles


_READERS: dict[str, Callable[[str], Any]] = {
    "number": _number,
    "integer": _integer,
    "bool": _bool,
    "date": _date,
    "email": _email,
    "timezone": _timezone,
    "currency": _currency,
    "roles": _roles,
}


# --------------------------------------------------------------------------- references


@dataclass
class _Known:
    """Ids the export may refer to: those in its files and those in the database."""

    accounts: dict[str, str] = field(default_factory=dict)  # id -> time zone
    contacts: set[str] = field(default_factory=set)


def _duplicates(files: list[_File]) -> list[RowError]:
    errors = []
    for export_file in files:
        key = export_file.table.key
        first: dict[tuple[Any, ...], int] = {}
        for row in export_file.rows:
            if any(k not in row.values for k in key):
                continue
            ident = tuple(row.values[k] for k in key)
            if ident in first:
                what = "/".join(str(v) for v in ident)
                errors.append(
                    RowError(
                        export_file.name,
                        row.line,
                        key[0],
                        f"duplicate {what!r} (first on row {first[ident]})",
                    )
                )
            else:
                first[ident] = row.line
    return errors


def _references(files: list[_File], known: _Known) -> list[RowError]:
    errors = []
    for export_file in files:
        for row in export_file.rows:
            account = row.values.get("account_id")
            if account and account not in known.accounts:
                errors.append(
                    RowError(
                        export_file.name,
                        row.line,
                        "account_id",
                        f"unknown account {account!r}",
                        "not in the accounts file nor in the database",
                    )
                )
            contact = row.values.get("contact_id")
            if export_file.table.kind == NPS.kind and contact and contact not in known.contacts:
                errors.append(
                    RowError(
                        export_file.name,
                        row.line,
                        "contact_id",
                        f"unknown contact {contact!r}",
                        "not in the contacts file nor in the database",
                    )
                )
    return errors


def _file_ids(files: list[_File]) -> _Known:
    known = _Known()
    for export_file in files:
        for row in export_file.rows:
            if export_file.table.kind == ACCOUNTS.kind and row.values.get("id"):
                known.accounts[row.values["id"]] = row.values.get("timezone") or "UTC"
            if export_file.table.kind == CONTACTS.kind and row.values.get("id"):
                known.contacts.add(row.values["id"])
    return known


async def _known_ids(conn: Any, files: list[_File]) -> _Known:
    """The ids in the files, plus those the files refer to that the database holds."""
    known = _file_ids(files)
    wanted_accounts = {str(r.values.get("account_id") or "") for f in files for r in f.rows}
    wanted_contacts = {
        str(r.values.get("contact_id") or "")
        for f in files
        if f.table.kind == NPS.kind
        for r in f.rows
    }
    missing = sorted(wanted_accounts - known.accounts.keys() - {""})
    if missing:
        for record in await conn.fetch(
            "SELECT id, timezone FROM accounts WHERE id = ANY($1::text[])", missing
        ):
            known.accounts[record["id"]] = record["timezone"]
    missing = sorted(wanted_contacts - known.contacts - {""})
    if missing:
        for record in await conn.fetch(
            "SELECT id FROM contacts WHERE id = ANY($1::text[])", missing
        ):
            known.contacts.add(record["id"])
    return known


def _fill_derived(files: list[_File], known: _Known) -> None:
    """Values that follow from others: a contact's time zone from its account,
    an NPS category from the score."""
    for export_file in files:
        for row in export_file.rows:
            values = row.values
            if export_file.table.kind == CONTACTS.kind and not values.get("timezone"):
                values["timezone"] = known.accounts.get(values.get("account_id", ""), "UTC")
            if (
                export_file.table.kind == NPS.kind
                and not values.get("category")
                and "score" in values
            ):
                values["category"] = nps_category(values["score"])


# --------------------------------------------------------------------------- writing


async def import_export(
    conn_or_pool: Any,
    files: ExportFiles,
    *,
    dry_run: bool = False,
    model: Model | None = None,
    model_path: str = "",
) -> ImportReport:
    """Validate the whole export, then upsert it in one transaction.

    ``conn_or_pool`` is an asyncpg pool or connection, or a ``Store``; with
    ``dry_run`` nothing is written and the report says what would be. The files'
    columns are those of ``model`` (default: the built-in model; ``model_path``, the
    team's model file, is named in the hint for an unknown column). Raises
    ``ImportRejected`` (listing every error) when any row is invalid: then the
    database is unchanged.
    """
    model = model or schema.DEFAULT
    parsed, errors = _read_all(files, model, model_path)
    async with connection(conn_or_pool) as conn, conn.transaction():
        errors.extend(_duplicates(parsed))
        known = await _known_ids(conn, parsed)
        errors.extend(_references(parsed, known))
        existing = [await _existing(conn, export_file) for export_file in parsed]
        errors.extend(_new_rows_complete(parsed, existing))
        errors.extend(await _dates_in_order(conn, parsed))
        if errors:
            raise ImportRejected(sorted(errors, key=_error_order(parsed)))
        _fill_derived(parsed, known)
        report = ImportReport(dry_run=dry_run)
        touched = [] if dry_run else await _touched_accounts(conn, parsed)
        before = await facts_of(conn, touched, model)
        for export_file, found in zip(parsed, existing, strict=True):
            report.counts.append(await _upsert(conn, export_file, found, dry_run))
        if touched:
            after = await facts_of(conn, touched, model)
            report.changed = changed_paths(before, after)
            await _audit(conn, before, after, report.changed)
            report.notices = await fact_notices.record(conn, report.changed, "import")
    return report


def check_export(
    files: ExportFiles, model: Model | None = None, model_path: str = ""
) -> ImportReport:
    """Validate an export without a database: references are checked against the
    files only, and every row counts as new. Raises ``ImportRejected``."""
    parsed, errors = _read_all(files, model or schema.DEFAULT, model_path)
    errors.extend(_duplicates(parsed))
    known = _file_ids(parsed)
    errors.extend(_references(parsed, known))
    if errors:
        raise ImportRejected(sorted(errors, key=_error_order(parsed)))
    report = ImportReport(dry_run=True)
    for export_file in parsed:
        rows = len(export_file.rows)
        report.counts.append(TableCount(export_file.table.kind, rows=rows, new=rows))
    return report


def _read_all(
    files: ExportFiles, model: Model, model_path: str
) -> tuple[list[_File], list[RowError]]:
    """Every file read by the tables of ``model``; ``ImportRejected`` when none is
    given, or none names a table or group."""
    parsed, errors = read_export(files, tables_for(model, model_path))
    if not parsed:
        none = RowError("(no files)", 0, "", "give at least one CSV file")
        raise ImportRejected(errors or [none])
    return parsed, errors


def _error_order(files: list[_File]) -> Callable[[RowError], tuple[int, int]]:
    position = {f.name: i for i, f in enumerate(files)}
    return lambda e: (position.get(e.file, len(files)), e.row)


_NOUNS = {
    "accounts": "account",
    "contacts": "contact",
    "subscriptions": "subscription",
    "usage": "usage row",
    "nps": "NPS response",
}


def _key(table: Table, row: _Row) -> tuple[Any, ...] | None:
    """The row's key (its id, or account and day), None when a key cell is bad."""
    if any(row.values.get(k) in (None, "") for k in table.key):
        return None
    return tuple(row.values[k] for k in table.key)


def _new_rows_complete(files: list[_File], existing: list[set[tuple[Any, ...]]]) -> list[RowError]:
    """A row already in the database needs only its key and the columns it changes;
    a new one needs every required column: an error for each it lacks."""
    errors = []
    for export_file, found in zip(files, existing, strict=True):
        table = export_file.table
        needed = [c.name for c in table.columns if c.required]
        missing = [name for name in needed if name not in export_file.header]
        if not missing:
            continue
        noun = _NOUNS.get(table.kind, f"{table.kind} row")
        hint = (
            f"add the column: a new {noun} needs {', '.join(needed)}; one already in the "
            f"database needs only {' and '.join(table.key)} and the columns that change"
        )
        for row in export_file.rows:
            key = _key(table, row)
            if key is None or key in found:
                continue
            what = "/".join(str(v) for v in key)
            for name in missing:
                message = f"missing: {what!r} is a new {noun} (not in the database)"
                errors.append(RowError(export_file.name, row.line, name, message, hint))
    return errors


async def _dates_in_order(conn: Any, files: list[_File]) -> list[RowError]:
    """A subscription row that moves one of its dates (the other as the database
    holds it) must still renew after it starts. A row with both is checked as read."""
    errors = []
    dates = {"start_date", "renewal_date"}
    for export_file in files:
        given = dates & set(export_file.header)
        if export_file.table.kind != SUBSCRIPTIONS.kind or len(given) != 1:
            continue
        ids = [row.values["id"] for row in export_file.rows if row.values.get("id")]
        held = {
            record["id"]: record
            for record in await conn.fetch(
                "SELECT id, start_date, renewal_date FROM subscriptions WHERE id = ANY($1::text[])",
                ids,
            )
        }
        (column,) = given
        for row in export_file.rows:
            record = held.get(row.values.get("id"))
            value = row.values.get(column)
            if record is None or value is None:
                continue
            start = value if column == "start_date" else record["start_date"]
            end = value if column == "renewal_date" else record["renewal_date"]
            if end < start:
                other = "start_date" if column == "renewal_date" else "renewal_date"
                message = (
                    f"{value.isoformat()} is {'before' if column == 'renewal_date' else 'after'} "
                    f"{other} {record[other].isoformat()} (as the database holds it)"
                )
                errors.append(RowError(export_file.name, row.line, column, message))
    return errors


async def _upsert(
    conn: Any, export_file: _File, existing: set[tuple[Any, ...]], dry_run: bool
) -> TableCount:
    """Insert the new rows (every column of the file), update the existing ones
    (only the columns of the file: the others keep their values)."""
    table = export_file.table
    count = TableCount(table.kind, rows=len(export_file.rows))
    if not export_file.rows:
        return count
    new = [row for row in export_file.rows if _key(table, row) not in existing]
    old = [row for row in export_file.rows if _key(table, row) in existing]
    count.new, count.updated = len(new), len(old)
    if table.key == ("id",):
        count.new_ids = [row.values["id"] for row in new]
    if dry_run:
        return count
    if table.group:
        await _write_group_rows(conn, export_file)
        return count
    await _insert(conn, export_file, new)
    await _update(conn, export_file, old)
    if table.kind == CONTACTS.kind and "role" in export_file.header:
        await _write_roles(conn, export_file)
    return count


async def _insert(conn: Any, export_file: _File, rows: list[_Row]) -> None:
    if not rows:
        return
    table = export_file.table
    # Every new row of a file has the same columns (the header's, plus derived ones).
    columns = [c for c in _written_columns(export_file) if c != "role"]
    columns, custom = _split_custom(table, columns)
    placeholders = [f"${i}" for i in range(1, len(columns) + 1)]
    # Another import may have inserted the row since it was looked up.
    updates = [f"{c} = EXCLUDED.{c}" for c in columns if c not in table.key]
    if custom:
        placeholders.append(f"${len(columns) + 1}::text::jsonb")
        updates.append(f"custom = {table.table}.custom || EXCLUDED.custom")
    if table.has_updated_at:
        updates.append("updated_at = now()")
    conflict = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    names = columns + (["custom"] if custom else [])
    await conn.executemany(
        f"INSERT INTO {table.table} ({', '.join(names)}) VALUES ({', '.join(placeholders)}) "
        f"ON CONFLICT ({', '.join(table.key)}) {conflict}",
        [[row.values[c] for c in columns] + _custom_values(row, custom) for row in rows],
    )


async def _update(conn: Any, export_file: _File, rows: list[_Row]) -> None:
    table = export_file.table
    columns = [c for c in _updated_columns(export_file) if c != "role" and c not in table.key]
    columns, custom = _split_custom(table, columns)
    if not rows or not (columns or custom):
        return
    first = len(table.key) + 1
    sets = [f"{c} = ${i}" for i, c in enumerate(columns, start=first)]
    if custom:  # the file's custom facts over those held, the others kept
        sets.append(f"custom = custom || ${first + len(columns)}::text::jsonb")
    if table.has_updated_at:
        sets.append("updated_at = now()")
    where = " AND ".join(f"{k} = ${i}" for i, k in enumerate(table.key, start=1))
    await conn.executemany(
        f"UPDATE {table.table} SET {', '.join(sets)} WHERE {where}",
        [
            [row.values[k] for k in table.key]
            + [row.values[c] for c in columns]
            + _custom_values(row, custom)
            for row in rows
        ],
    )


def _split_custom(table: Table, columns: list[str]) -> tuple[list[str], list[str]]:
    """The file's columns that are table columns, and those kept in ``custom``."""
    custom = {c.name for c in table.columns if c.custom}
    return [c for c in columns if c not in custom], [c for c in columns if c in custom]


def _custom_values(row: _Row, custom: list[str]) -> list[str]:
    """The row's custom facts as one jsonb parameter (none without custom columns)."""
    return [custom_facts.encode({c: row.values[c] for c in custom})] if custom else []


async def _write_group_rows(conn: Any, export_file: _File) -> None:
    """A fact group's rows: the file's facts over those the account's row holds."""
    facts = [c for c in export_file.header if c != "account_id"]
    for row in export_file.rows:
        values = {name: row.values[name] for name in facts}
        await custom_facts.write_group(
            conn, row.values["account_id"], export_file.table.group, values
        )


def _written_columns(export_file: _File) -> list[str]:
    """The columns a new row is inserted with: the header's, and those derived."""
    columns = list(export_file.header)
    derived = {CONTACTS.kind: "timezone", NPS.kind: "category"}.get(export_file.table.kind)
    if derived and derived not in columns:
        columns.append(derived)
    return columns


def _updated_columns(export_file: _File) -> list[str]:
    """The columns an existing row is updated in: the header's (and an NPS
    category, which follows a new score)."""
    columns = list(export_file.header)
    if export_file.table.kind == NPS.kind and "score" in columns and "category" not in columns:
        columns.append("category")
    return columns


async def _existing(conn: Any, export_file: _File) -> set[tuple[Any, ...]]:
    """The keys of the file's rows that the database holds."""
    table = export_file.table
    keys = [key for row in export_file.rows if (key := _key(table, row)) is not None]
    if not keys:
        return set()
    if table.key == ("id",):
        rows = await conn.fetch(
            f"SELECT id FROM {table.table} WHERE id = ANY($1::text[])", [k[0] for k in keys]
        )
        return {(r["id"],) for r in rows}
    if table.group:
        rows = await conn.fetch(
            f"SELECT account_id FROM {table.table} WHERE group_name = $2 "
            "AND account_id = ANY($1::text[])",
            [k[0] for k in keys],
            table.group,
        )
        return {(r["account_id"],) for r in rows}
    rows = await conn.fetch(
        f"SELECT account_id, as_of FROM {table.table} "
        "WHERE (account_id, as_of) IN (SELECT * FROM unnest($1::text[], $2::date[]))",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["account_id"], r["as_of"]) for r in rows}


# --------------------------------------------------------------------------- changes

# The facts of an account a journey sees, table by table (``Store.load_facts``):
# the account, its current subscription, its latest usage.
_FACT_QUERIES = (
    ("account", "id", schema.ACCOUNT, "SELECT * FROM accounts WHERE id = ANY($1::text[])"),
    (
        "subscription",
        "account_id",
        schema.SUBSCRIPTION,
        f"SELECT * FROM ({CURRENT_SUBSCRIPTIONS}) AS s WHERE account_id = ANY($1::text[])",
    ),
    (
        "usage",
        "account_id",
        schema.USAGE,
        "SELECT DISTINCT ON (account_id) * FROM usage WHERE account_id = ANY($1::text[]) "
        "ORDER BY account_id, as_of DESC",
    ),
)
Facts = dict[str, dict[str, Any]]  # account id -> fact path -> value


async def _touched_accounts(conn: Any, files: list[_File]) -> list[str]:
    """The accounts in the database whose facts the export may change: those it
    names, and those whose subscriptions it moves to another account."""
    named: set[str] = set()
    subscriptions: list[str] = []
    for export_file in files:
        for row in export_file.rows:
            if export_file.table.kind == ACCOUNTS.kind:
                named.add(str(row.values.get("id") or ""))
            else:
                named.add(str(row.values.get("account_id") or ""))
            if export_file.table.kind == SUBSCRIPTIONS.kind and row.values.get("id"):
                subscriptions.append(row.values["id"])
    if subscriptions:
        for record in await conn.fetch(
            "SELECT account_id FROM subscriptions WHERE id = ANY($1::text[])", subscriptions
        ):
            named.add(record["account_id"])
    found = await conn.fetch(
        "SELECT id FROM accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
        sorted(named - {""}),
    )
    return [record["id"] for record in found]


async def facts_of(conn: Any, accounts: list[str], model: Model | None = None) -> Facts:
    """The facts of ``accounts`` a journey would see, by path: the built-in ones and
    those ``model`` adds (typed; a group's facts None where not given)."""
    model = model or schema.DEFAULT
    facts: Facts = {account: {} for account in accounts}
    if not accounts:
        return facts
    for root, key, fields, query in _FACT_QUERIES:
        for record in await conn.fetch(query, accounts):
            values = facts.setdefault(record[key], {})
            for name in fields:
                values[f"{root}.{name}"] = plain(record[name])
            if root in custom_facts.EXTENDED_TABLES:
                for name, value in custom_facts.typed(model, root, record["custom"]).items():
                    values[f"{root}.{name}"] = value
    groups = await custom_facts.load_groups(conn, model, accounts)
    for account, by_group in groups.items():
        for group, values in by_group.items():
            facts[account].update({f"{group}.{name}": v for name, v in values.items()})
    return facts


def changed_paths(before: Facts, after: Facts) -> dict[str, list[str]]:
    """Account id -> the paths whose value differs (only accounts with a change)."""
    changed: dict[str, list[str]] = {}
    for account, old in before.items():
        new = after.get(account, {})
        paths = sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p))
        if paths:
            changed[account] = paths
    return changed


def _audit_value(value: Any) -> str:
    """A fact value as the ``fact_changes`` audit keeps it (JSON text)."""
    value = plain(value)
    if isinstance(value, date):
        value = value.isoformat()
    return json.dumps(value)


async def _audit(conn: Any, before: Facts, after: Facts, changed: dict[str, list[str]]) -> None:
    """Every changed fact in ``fact_changes``, as a ``set`` is audited (step ``import``)."""
    await conn.executemany(
        "INSERT INTO fact_changes (account_id, path, old_value, new_value, step_id) "
        "VALUES ($1, $2, $3::text::jsonb, $4::text::jsonb, 'import')",
        [
            (
                account,
                path,
                _audit_value(before[account].get(path)),
                _audit_value(after[account].get(path)),
            )
            for account, paths in sorted(changed.items())
            for path in paths
        ],
    )


async def _write_roles(conn: Any, export_file: _File) -> None:
    """Replace the roles of the imported contacts; file order ranks a role's holders."""
    ids = [row.values["id"] for row in export_file.rows]
    await conn.execute("DELETE FROM contact_roles WHERE contact_id = ANY($1::text[])", ids)
    # A row that leaves out account_id keeps the contact's account.
    account_of = {
        record["id"]: record["account_id"]
        for record in await conn.fetch(
            "SELECT id, account_id FROM contacts WHERE id = ANY($1::text[])", ids
        )
    }
    rank: dict[tuple[str, str], int] = {}
    records = []
    for row in export_file.rows:
        account_id = account_of[row.values["id"]]
        for role in row.values.get("role") or ():
            slot = (account_id, role)
            records.append((row.values["id"], account_id, role, rank.get(slot, 0)))
            rank[slot] = rank.get(slot, 0) + 1
    await conn.executemany(
        "INSERT INTO contact_roles (contact_id, account_id, role, rank) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (contact_id, role) DO UPDATE SET rank = EXCLUDED.rank, "
        "account_id = EXCLUDED.account_id",
        records,
    )


# --------------------------------------------------------------------------- the command


def import_model(playbooks_dir: Path) -> tuple[Model, str]:
    """The data model an import reads its columns by (that of the settings'
    playbooks folder) and the team's model file; ``ImportRejected`` when the file
    does not load."""
    path = model_file(Path(playbooks_dir))
    try:
        return load_model(playbooks_dir), str(path)
    except ModelError as problem:
        first = problem.diagnostics[0] if problem.diagnostics else None
        message = f"the data model does not load: {first.message if first else problem}"
        hint = "run `playbook validate` on it"
        where = first.line if first else 0
        raise ImportRejected([RowError(str(path), where, "", message, hint)]) from None


async def run_import(
    connections: Connections, files: ExportFiles, *, dry_run: bool = False
) -> ImportReport:
    """``playbook data import``: the export upserted into an up-to-date database (a
    dry run writes nothing). A dry run without a database checks references
    against the files only (``check_export``; the report's ``offline`` says so)."""
    model, model_path = import_model(connections.settings.playbooks_dir)
    if dry_run:
        try:
            connections.database_url()
        except DatabaseUnavailable:
            report = check_export(files, model, model_path)
            report.offline = True
            return report
    async with connections.migrated_connection() as conn:
        report = await import_export(
            conn, files, dry_run=dry_run, model=model, model_path=model_path
        )
    if report.notices:
        report.told = await fact_notices.tell(
            await connections.store(), connections, connections.settings, report.notices
        )
    return report
