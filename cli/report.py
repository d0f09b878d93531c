"""`playbook report`: the KPIs, activity kept apart from outcomes.

    playbook report                                   # all time, every playbook
    playbook report --from 2027-01-01 --to 2027-03-31 --playbook renewal
    playbook report --json                            # the same numbers as JSON
    playbook report --html report.html                # one self-contained page with charts

Numbers come from Postgres (``workers.analytics.report``); journey counts from Temporal
visibility when it answers, else from the recorded journey events.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import TYPE_CHECKING

import typer
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table

from cli.errors import UserError
from cli.services import call
from workers import settings as settings_module
from workers.analytics.report_model import (
    Activity,
    Arm,
    Book,
    GoalCount,
    LateAnswerCount,
    Outcomes,
    PlaybookJourneys,
    Report,
)
from workers.services.connections import Connections
from workers.services.errors import ServiceError

if TYPE_CHECKING:
    from dsl.ir import Playbook
    from workers.analytics.report import Window

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add ``playbook report`` to the command."""
    app.command("report")(report)


def report(
    start: str = typer.Option("", "--from", help="First day of the window (YYYY-MM-DD)."),
    end: str = typer.Option("", "--to", help="Last day of the window (YYYY-MM-DD)."),
    playbook: str = typer.Option("", "--playbook", help="Only this playbook's activity."),
    as_of: str = typer.Option(
        "", "--as-of", help="The report date (default: today; a rehearsal's: its playbook time)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the KPIs as JSON."),
    html: str = typer.Option(
        "", "--html", metavar="FILE", help="Write the report as one HTML page with charts."
    ),
) -> None:
    """The KPI report: activity (emails, asks, CTAs) apart from outcomes (renewals, intent)."""
    from workers.analytics.report import Window

    window = Window(
        start=_day(start, "--from") if start else None,
        end=_day(end, "--to") if end else None,
        as_of=_day(as_of, "--as-of") if as_of else None,
    )
    if window.start and window.end and window.start > window.end:
        raise UserError("--from is after --to", hint="the window is --from FIRST --to LAST")
    settings = settings_module.load()
    playbooks = _playbooks(settings)
    if playbook and playbook not in playbooks:
        known = ", ".join(sorted(playbooks)) or "none"
        raise UserError(f"no playbook named {playbook!r}", hint=f"known playbooks: {known}")
    built = call(
        lambda connections: _build(connections, window, playbooks, playbook or None),
        settings=settings,
        pool_size=2,
    )
    if html:
        _write_html(built, html)
        return
    if as_json:
        console.print_json(json.dumps(built.to_json()))
        return
    console.print(render(built))


def _write_html(report: Report, target: str) -> None:
    """Write the page (``workers.analytics.report_html``) to ``target``; say where."""
    from pathlib import Path

    from workers.analytics.report_html import render_html

    path = Path(target)
    try:
        path.write_text(render_html(report), encoding="utf-8")
    except OSError as error:
        raise UserError(
            f"cannot write {target}: {error.strerror or error}",
            hint="give a file in a folder you can write to",
        ) from None
    err.print(f"report written to {path}")


async def _build(
    connections: Connections,
    window: Window,
    playbooks: dict[str, Playbook],
    playbook: str | None,
) -> Report:
    from workers.analytics.report import build_report

    store = await connections.store()
    try:  # the report does without Temporal if it does not answer soon
        client = await asyncio.wait_for(connections.temporal(), timeout=5)
    except (ServiceError, TimeoutError):
        client = None
    return await build_report(
        store.pool, window, playbooks=playbooks, playbook=playbook, temporal=client
    )


def _playbooks(settings: settings_module.Settings) -> dict[str, Playbook]:
    """The compiled playbooks of the playbooks directory (broken ones left out)."""
    from dsl.folder import playbook_files
    from dsl.loader import check_file

    found: dict[str, Playbook] = {}
    for path in playbook_files(settings.playbooks_dir):
        compiled, _ = check_file(path)
        if compiled is not None:
            found[compiled.name] = compiled
    return found


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} {text!r} is not a date", hint="use YYYY-MM-DD") from None


# --------------------------------------------------------------------------- rendering


def render(report: Report) -> Group:
    """The report as Rich renderables: activity, outcomes, journeys, arms."""
    window = report.window
    title = f"KPI report - {window.label} - as of {window.as_of}{_basis(window.as_of_basis)}"
    if window.playbook:
        title += f" - playbook {window.playbook}"
    parts: list[RenderableType] = [f"[bold]{title}[/]"]
    parts.append(Panel(_activity(report.activity), title="Activity (what the playbooks did)"))
    parts.append(Panel(_outcomes(report.outcomes), title="Outcomes (what came of it)"))
    parts.append(_journeys(report.journeys))
    if report.arms:
        parts.append(_arms(report.arms))
    if report.goals:
        parts.append(_goals(report.goals))
    if report.late_answers:
        parts.append(_late_answers(report.late_answers))
    return Group(*parts)


def _basis(basis: str) -> str:
    """What the report date is, when it is not the one given."""
    if basis == "playbook time":
        return " (playbook time: the rehearsal runs ahead of the clock; --as-of to choose)"
    if basis == "today":
        return " (today)"
    return ""


def _activity(activity: Activity) -> Group:
    emails, asked, ctas, nps = (
        activity.emails,
        activity.renewal_intent_asked,
        activity.ctas,
        activity.nps_followup,
    )
    cap = emails.cap
    table = _kpi_table()
    table.add_row("emails sent", _n(emails.sent), f"to {emails.contacts} contacts")
    if emails.failed:
        table.add_row(
            "emails not sent",
            _n(emails.failed),
            "could not reach the mail server; each has a CTA (`playbook cta ls`)",
        )
    table.add_row(
        "emails per contact per week",
        f"max {emails.max_per_contact_week}, mean {emails.mean_per_contact_week}",
        f"cap {cap.max_emails} per {cap.per_days:g} days; "
        f"{emails.contact_weeks_over_cap} of {emails.contact_weeks} contact-weeks over",
    )
    table.add_row(
        "renewal intent asked",
        _pct(asked.rate),
        f"{asked.asked} of {asked.accounts_due_to_be_asked} accounts due to be asked",
    )
    table.add_row(
        "CTAs (escalations)",
        f"{ctas.opened} opened, {ctas.closed} closed",
        f"{ctas.open_now} open now",
    )
    table.add_row(
        "NPS follow-up closed",
        _pct(nps.closure_rate),
        f"{nps.ctas_closed} of {nps.ctas_opened} follow-up CTAs; {nps.responses} "
        f"responses ({_split(nps.by_category)})",
    )
    owners = Table(title="open CTAs per owner", title_justify="left", expand=False)
    for column in ("owner", "open", "overdue", "urgent"):
        owners.add_column(column, justify="left" if column == "owner" else "right")
    for row in ctas.open_by_owner:
        owners.add_row(row.owner, _n(row.open), _n(row.overdue), _n(row.urgent))
    return Group(table, owners) if ctas.open_by_owner else Group(table)


def _outcomes(outcomes: Outcomes) -> Group:
    intent, renewals, quotes, versions = (
        outcomes.renewal_intent,
        outcomes.renewals,
        outcomes.quotes,
        outcomes.version_currency,
    )
    table = _kpi_table()
    table.add_row(
        "renewal intent answered",
        _pct(intent.answer_rate),
        f"{intent.answered} of {intent.asked} asked: {_split(intent.split)}",
    )
    table.add_row(
        "renewed on time",
        _pct(renewals.on_time_rate),
        f"{renewals.on_time} of {renewals.due} due; {renewals.late} late, "
        f"{renewals.churned} churned",
    )
    table.add_row("overdue renewals", _n(renewals.overdue), "due and still not renewed")
    table.add_row(
        "quotes with organic growth",
        f"{quotes.with_organic_growth} of {quotes.generated}",
        f"+{_n(quotes.organic_growth_licences)} licences worth "
        f"{_money(quotes.organic_growth_value)}; those quotes total "
        f"{_money(quotes.total_with_organic_growth)}",
    )
    table.add_row(
        "2+ versions behind GA",
        _pct(versions.share_two_plus_behind),
        f"{versions.two_plus_behind} of {versions.accounts} accounts with version data",
    )
    migration = Table(title="cloud migration by region and segment", title_justify="left")
    columns = ("region", "segment", "accounts", "not_started", "notified", "planned")
    for column in (*columns, "migrating", "migrated", "migrated %"):
        migration.add_column(column, justify="left" if column in ("region", "segment") else "right")
    for group in outcomes.cloud_migration:
        migration.add_row(
            group.region,
            group.segment,
            _n(group.accounts),
            _n(group.not_started),
            _n(group.notified),
            _n(group.planned),
            _n(group.migrating),
            _n(group.migrated),
            _pct(group.migrated_share),
        )
    parts = [table, _book(outcomes.book)]
    return Group(*parts, migration) if outcomes.cloud_migration else Group(*parts)


def _book(book: Book) -> Table:
    """Onboarding, contact (the active book now) and confirmed intent (the renewals
    of the window)."""
    table = Table(
        title="the book (active accounts now; intent: renewing in the window)",
        title_justify="left",
        show_header=True,
        expand=False,
        box=None,
        pad_edge=False,
    )
    table.add_column("KPI", style="bold")
    table.add_column("value", justify="right")
    table.add_column("detail", style="dim")
    for kpi, name, of, what in (
        (book.onboarding_complete, "onboarding complete", "active accounts", ""),
        (
            book.in_contact,
            "properly in contact",
            "active accounts",
            ": renewal contact reachable by email",
        ),
        (book.confirmed_intent, "confirmed renewal intent", "renewing", " said yes"),
    ):
        detail = f"{_n(kpi.count)} of {_n(kpi.accounts)} {of}{what}"
        table.add_row(name, _pct(kpi.rate), detail)
    return table


# The columns after "total", by where the counts came from.
_JOURNEY_COLUMNS = {
    "temporal": ["running", "on_track", "behind", "stuck", "completed", "failed"]
    + ["canceled", "terminated"],
    "journey events": ["running", "ended"],
}


def _journeys(journeys: list[PlaybookJourneys]) -> Table:
    source = journeys[0].source if journeys else "temporal"
    table = Table(title=f"journeys per playbook (from {source})", title_justify="left")
    columns = _JOURNEY_COLUMNS[source]
    table.add_column("playbook")
    for column in ("total", *columns):
        table.add_column(column.replace("_", " "), justify="right")
    versioned = source == "temporal"
    if versioned:
        table.add_column("running per version")
    for row in journeys:
        counts = row.counts()
        cells = [row.playbook, _n(row.total), *(_n(counts.get(c, 0)) for c in columns)]
        if versioned:
            versions = getattr(row, "versions", {})
            cells.append(", ".join(f"{v}: {n}" for v, n in versions.items()) or "-")
        table.add_row(*cells)
    return table


def _arms(arms: list[Arm]) -> Table:
    table = Table(title="per experiment arm", title_justify="left")
    for column in ("playbook", "experiment", "arm"):
        table.add_column(column)
    for column in ("journeys", "emails", "CTAs", "achieved"):
        table.add_column(column, justify="right")
    for row in arms:
        arm = row.arm + (" (holdout)" if row.holdout else "")
        table.add_row(
            row.playbook,
            row.experiment,
            arm,
            _n(row.journeys),
            _n(row.emails),
            _n(row.ctas),
            f"{row.achieved} ({_pct(row.achieved_rate)})",
        )
    return table


def _goals(goals: list[GoalCount]) -> Table:
    table = Table(title="goals reached", title_justify="left")
    for column in ("playbook", "arm", "goal"):
        table.add_column(column)
    table.add_column("reached", justify="right")
    for row in goals:
        table.add_row(
            row.playbook,
            row.arm or "-",
            row.goal,
            f"{row.reached} of {_n(row.journeys)} ({_pct(_share(row.reached, row.journeys))})",
        )
    return table


def _late_answers(rows: list[LateAnswerCount]) -> Table:
    table = Table(title="late answers (after the answer window closed)", title_justify="left")
    for column in ("playbook", "question"):
        table.add_column(column)
    table.add_column("late", justify="right")
    for row in rows:
        share = _pct(_share(row.late, row.answers))
        table.add_row(row.playbook, row.question, f"{row.late} of {_n(row.answers)} ({share})")
    return table


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _kpi_table() -> Table:
    table = Table(show_header=True, expand=False, box=None, pad_edge=False)
    table.add_column("KPI", style="bold")
    table.add_column("value", justify="right")
    table.add_column("detail", style="dim")
    return table


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _n(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _money(value: int | float) -> str:
    return f"{value:,.2f}"


def _split(counts: dict[str, int]) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {count}" for name, count in counts.items())
