"""The KPI report: what the playbooks did (activity) kept apart from what came of
it (outcomes), as Jamf's renewal team reported it, plus journeys per playbook and
per experiment arm.

Everything comes from Postgres except the journey counts, which come from
Temporal visibility when a client is given (else from the recorded journey
events). Times are playbook time where the store keeps it (emails, CTAs and
journey events carry the playbook time of the step that wrote them), so a
rehearsal at ``--speed`` reports its own calendar.

Definitions (the window is ``[start, end]``, both optional, dates inclusive;
``as_of`` is the report date: the one given, else today, or, on a rehearsal
stack whose journeys live ahead of the wall clock, its playbook time: the latest
playbook time a journey recorded (``as_of_basis`` says which)):

Activity
- emails: emails sent in the window; per contact and ISO week, the max and mean
  count against the cap of the playbook's contact policy, and the contact-weeks
  over it; per week (``emails_by_week``), emails sent, contacts emailed and
  the most one contact got.
- renewal-intent asked rate: accounts due to be asked (a subscription renewing in
  the window whose asking point has come: at most the ask's lead, e.g. 140 days,
  after ``as_of``) that were emailed the renewal-intent question (an ask of the
  question named like the ``account.renewal_intent`` fact, which its answers
  write), over those accounts. The playbooks' IR says which templates asked it,
  how early, and to whom.
- CTAs (escalations): opened in the window, closed in the window, open now; open
  CTAs per owner with how many are overdue at ``as_of``.
- NPS follow-up: responses in the window by category; follow-up CTAs (of the
  journeys of the playbook that ``starts on nps_response``) opened in the
  window and how many are closed.

Outcomes
- renewal intent: of the accounts asked, those that answered (answer rate) and
  the split of their latest answers (yes / no / not the decision maker).
- renewals: subscriptions renewing in the window whose date has come (``due``):
  renewed on time (status renewed, or a journey recorded the "renewed" outcome,
  no later than the renewal date; a renewal without a recorded time counts as on
  time), renewed late, overdue (still active after the date, no renewal
  recorded), churned; the on-time rate over due.
- quotes: generated in the window, those with organic growth, the organic-growth
  licences and their value (licences x unit price x uplift), and the total of the
  quotes with organic growth.
- version currency: accounts with version data, the share two or more behind GA.
- cloud migration: on-premise accounts (and those already in the programme) by
  region and segment, per migration stage, and the share migrated.
- the book (``book``), each as accounts / count / rate:
  - onboarding complete: of the active accounts, those with
    ``account.onboarding_complete`` (a quarter of churn traces back to an
    onboarding that never got on track);
  - properly in contact: of the active accounts, those whose renewal contact
    (the role the renewal-intent ask goes to, ``renewal_contact`` unless the
    playbooks ask someone else; its first holder by rank) has a
    plausible address (``engine.contact_rules.plausible_address``) that governance
    would not block: the contact not marked opted out, no opted-out contact with
    that address, the address not in ``opt_outs``, neither the address nor its
    domain in ``suppressions``;
  - confirmed intent: of the accounts renewing as in the asked rate (renewing in
    the window, asking point come), those whose renewal intent is "yes":
    ``account.renewal_intent``, or where the account holds none, the latest
    ``renewal_intent`` answer.
  An active account is one whose current subscription (the one its facts show:
  the earliest active, else the latest) is not churned. Onboarding and contact
  are the book as the store holds it now, not narrowed by the window nor
  ``as_of`` (the store keeps no history of them).

Experiment arms (``arms``): per arm of each playbook's experiments, its journeys,
the emails they sent, the CTAs they opened, and how many achieved the playbook's
goal: their recorded outcome is one of its goals (a goal rule, an ``achieve``
step, a handler that achieves), never ``completed`` (ran off the end) nor a stop.

Goals (``goals``): per playbook, arm and goal, the journeys that reached it
(``workers.analytics.goal_counts``).

``playbook`` narrows the activity (emails, CTAs, quotes), the journeys and the
arms to one playbook's journeys; the outcomes are the book's. The email cap is
that playbook's, else the cap of the playbook that asks the renewal-intent
question.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from dsl import schema
from dsl.ir import Ask, Block, ContactPolicy, Playbook, walk
from dsl.schema import NPS_RESPONSE
from engine import search_attributes as attrs
from engine.contact_rules import plausible_address
from engine.contract import Timeline
from engine.experiments import assign_arm
from engine.journey_health import JourneyHealth, journey_health
from workers.adapters.store import CURRENT_SUBSCRIPTIONS
from workers.analytics.goal_counts import goal_counts
from workers.analytics.late_answers import late_answer_counts
from workers.analytics.report_model import (
    Activity,
    Amount,
    Arm,
    Book,
    ContactCap,
    Ctas,
    Emails,
    EmailWeek,
    HealthCounts,
    IntentAnswers,
    IntentAsked,
    JourneysFromEvents,
    JourneysFromTemporal,
    MigrationGroup,
    NpsFollowup,
    Outcomes,
    OwnerCtas,
    PlaybookJourneys,
    Quotes,
    Renewals,
    Report,
    ReportWindow,
    Share,
    VersionCurrency,
)
from workers.services.journeys import QUERY_TIMEOUT

# The renewal-intent question is the one named like the account's intent fact: its
# answers write ``account.renewal_intent`` (``workers.services.answers.fact_for``).
INTENT_QUESTION = "renewal_intent"
INTENT_CHOICES = schema.VALUES["account", INTENT_QUESTION]
MIGRATION_STAGES = schema.VALUES["account", "migration_stage"]
NPS_CATEGORIES = schema.VALUES["nps", "category"]
DEFAULT_INTENT_LEAD_DAYS = 140
DEFAULT_INTENT_ROLE = "renewal_contact"
_STATUSES = ("Running", "Completed", "Failed", "Canceled", "Terminated", "TimedOut")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Window:
    """The report's period (``None``: open on that side) and its date (``None``:
    today, or the rehearsal's playbook time: see ``report_date``)."""

    start: date | None
    end: date | None
    as_of: date | None = None

    def label(self) -> str:
        if self.start is None and self.end is None:
            return "all time"
        return f"{self.start or '...'} to {self.end or '...'}"


# Queries name their parameters (``:start``, ``:end``, ``:as_of``, ``:playbook``...);
# ``_bind`` turns them into asyncpg's ``$n``, passing only those a query uses.
_PARAM = re.compile(r"(?<![:\w]):([a-z_]+)")

# A journey belongs to the playbook if it recorded events as it or its id starts
# "<playbook>:" (the shipped id templates all do); a NULL playbook means every one.
_OF_PLAYBOOK = (
    "(:playbook::text IS NULL OR split_part({col}, ':', 1) = :playbook::text OR {col} IN "
    "(SELECT je.journey_id FROM journey_events je WHERE je.playbook = :playbook::text))"
)
_IN_WINDOW = (
    "((:start::date IS NULL OR ({expr})::date >= :start::date) AND "
    "(:end::date IS NULL OR ({expr})::date <= :end::date))"
)


def _bind(sql: str, values: dict[str, object]) -> tuple[str, list[object]]:
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    return _PARAM.sub(number, sql), [values[name] for name in order]


def _window(expr: str) -> str:
    return _IN_WINDOW.replace("{expr}", expr)


def _playbook(column: str) -> str:
    return _OF_PLAYBOOK.replace("{col}", column)


# An asyncpg row: read by column name (asyncpg ships no types, so its values are Any).
Row = Mapping[str, Any]


class _Query:
    """A connection with the report's named parameters bound once."""

    def __init__(self, conn: asyncpg.Connection, values: dict[str, object]) -> None:
        self.conn = conn
        self.values = values

    async def fetch(self, sql: str, **extra: object) -> list[Row]:
        text, args = _bind(sql, {**self.values, **extra})
        rows: list[Row] = await self.conn.fetch(text, *args)
        return rows

    async def fetchrow(self, sql: str, **extra: object) -> Row:
        """The one row of an aggregate query (every query here returns one)."""
        text, args = _bind(sql, {**self.values, **extra})
        row: Row = await self.conn.fetchrow(text, *args)
        return row


@dataclass(frozen=True)
class _Intent:
    """The renewal-intent numbers, asked (activity) apart from answered (outcomes)."""

    asked: IntentAsked
    answers: IntentAnswers
    confirmed: Share


async def build_report(
    pool: asyncpg.Pool,
    window: Window,
    *,
    playbooks: dict[str, Playbook],
    playbook: str | None = None,
    temporal: Client | None = None,
    nps_playbook: str | None = None,
) -> Report:
    """The whole report (see the module docstring); ``Report.to_json`` for JSON.
    ``nps_playbook`` is the playbook whose CTAs are NPS follow-ups: by default the
    one of ``playbooks`` that starts on ``nps_response``."""
    if window.as_of is None:
        as_of, basis = await report_date(pool)
    else:
        as_of, basis = window.as_of, AS_OF_GIVEN
    values: dict[str, object] = {
        "start": window.start,
        "end": window.end,
        "as_of": as_of,
        "playbook": playbook,
    }
    policy = _contact_policy(playbooks, playbook)
    intent_templates = _intent_templates(playbooks)
    async with pool.acquire() as conn:
        q = _Query(conn, values)
        emails = await _emails(q, policy)
        emails_by_week = await _emails_by_week(q)
        intent = await _intent(q, intent_templates, _intent_lead_days(playbooks))
        ctas = await _ctas(q)
        nps = await _nps_followup(q, nps_playbook or _nps_playbook(playbooks))
        renewals = await _renewals(q)
        quotes = await _quotes(q)
        versions = await _version_currency(q)
        migration = await _migration(q)
        book = await _book(q, _intent_role(playbooks), intent.confirmed)
        arms = await _arms(conn, playbooks, playbook)
        goals = await goal_counts(conn, playbooks, playbook)
        late_answers = await late_answer_counts(conn, playbook)
        names = await _playbook_names(conn, playbooks, playbook)
    journeys = await _journeys(temporal, pool, names)
    return Report(
        window=ReportWindow(
            from_=window.start,
            to=window.end,
            as_of=as_of,
            as_of_basis=basis,
            label=window.label(),
            playbook=playbook,
        ),
        activity=Activity(
            emails=emails,
            emails_by_week=emails_by_week,
            renewal_intent_asked=intent.asked,
            ctas=ctas,
            nps_followup=nps,
        ),
        outcomes=Outcomes(
            renewal_intent=intent.answers,
            renewals=renewals,
            quotes=quotes,
            version_currency=versions,
            cloud_migration=migration,
            book=book,
        ),
        journeys=journeys,
        arms=arms,
        goals=goals,
        late_answers=late_answers,
    )


# --------------------------------------------------------------------------- the date

AS_OF_GIVEN = "given"
AS_OF_TODAY = "today"
AS_OF_PLAYBOOK_TIME = "playbook time"


async def report_date(pool: asyncpg.Pool, today: date | None = None) -> tuple[date, str]:
    """The report's date when none is given, and its basis: today, unless the
    journeys recorded playbook times after today (a rehearsal: ``--speed`` runs
    them ahead of the wall clock), then the latest of those, so the renewals the
    rehearsal has reached are judged as of the rehearsal's own calendar."""
    today = today or datetime.now(UTC).date()
    latest = await pool.fetchval(
        "SELECT greatest((SELECT max(playbook_time) FROM emails), "
        "(SELECT max(at) FROM journey_events WHERE journey_id <> ''))"
    )
    if latest is not None and latest.date() > today:
        return latest.date(), AS_OF_PLAYBOOK_TIME
    return today, AS_OF_TODAY


# --------------------------------------------------------------------------- activity


async def _emails(q: _Query, policy: ContactPolicy) -> Emails:
    weekly_cap = policy.max_emails * 7 * 86400 / max(1, policy.per.seconds)
    row = await q.fetchrow(
        "WITH sent AS (SELECT coalesce(nullif(contact_id, ''), lower(to_address)) AS contact, "
        "date_trunc('week', coalesce(playbook_time, sent_at)) AS week FROM emails "
        f"WHERE status = 'sent' AND {_window('coalesce(playbook_time, sent_at)')} "
        f"AND {_playbook('journey_id')}), "
        "weeks AS (SELECT contact, week, count(*) AS n FROM sent GROUP BY contact, week) "
        "SELECT (SELECT count(*) FROM sent) AS sent, "
        "(SELECT count(*) FROM emails WHERE status = 'failed' AND "
        f"{_window('coalesce(playbook_time, sent_at)')} AND {_playbook('journey_id')}) AS failed, "
        "(SELECT count(DISTINCT contact) FROM sent) AS contacts, "
        "count(*) AS contact_weeks, coalesce(max(n), 0) AS max_n, coalesce(avg(n), 0) AS mean_n, "
        "count(*) FILTER (WHERE n > :weekly_cap::numeric) AS over_cap FROM weeks",
        weekly_cap=weekly_cap,
    )
    return Emails(
        sent=row["sent"],
        failed=row["failed"],
        contacts=row["contacts"],
        contact_weeks=row["contact_weeks"],
        max_per_contact_week=row["max_n"],
        mean_per_contact_week=round(float(row["mean_n"]), 2),
        cap=ContactCap(
            max_emails=policy.max_emails,
            per_days=_number(policy.per.seconds / 86400),
            per_week=_number(weekly_cap),
        ),
        contact_weeks_over_cap=row["over_cap"],
    )


async def _emails_by_week(q: _Query) -> list[EmailWeek]:
    """Per ISO week (its Monday) with a sent email: emails sent, contacts emailed
    and the most any one contact got (to set against the weekly cap)."""
    rows = await q.fetch(
        "WITH sent AS (SELECT coalesce(nullif(contact_id, ''), lower(to_address)) AS contact, "
        "date_trunc('week', coalesce(playbook_time, sent_at))::date AS week FROM emails "
        f"WHERE status = 'sent' AND {_window('coalesce(playbook_time, sent_at)')} "
        f"AND {_playbook('journey_id')}), "
        "per_contact AS (SELECT week, contact, count(*) AS n FROM sent GROUP BY 1, 2) "
        "SELECT week, sum(n)::int AS sent, count(*) AS contacts, max(n) AS max_per_contact "
        "FROM per_contact GROUP BY 1 ORDER BY 1"
    )
    return [
        EmailWeek(
            week=row["week"],
            sent=row["sent"],
            contacts=row["contacts"],
            max_per_contact=row["max_per_contact"],
        )
        for row in rows
    ]


async def _intent(q: _Query, templates: list[str], lead_days: int) -> _Intent:
    # Not narrowed by playbook: the asked rate is about the book's renewals.
    row = await q.fetchrow(
        "WITH renewing AS (SELECT DISTINCT account_id FROM subscriptions "
        f"WHERE {_window('renewal_date')} AND renewal_date <= :as_of::date + :lead::int), "
        "asked AS (SELECT DISTINCT r.account_id FROM renewing r JOIN emails e "
        "ON e.account_id = r.account_id AND e.status = 'sent' "
        "AND e.template = ANY(:templates::text[])), "
        "latest AS (SELECT DISTINCT ON (a.account_id) a.account_id, a.choice FROM answers a "
        "JOIN asked USING (account_id) WHERE a.question = :question::text "
        "ORDER BY a.account_id, a.id DESC) "
        "SELECT (SELECT count(*) FROM renewing) AS renewing, "
        "(SELECT count(*) FROM asked) AS asked, (SELECT count(*) FROM latest) AS answered, "
        "(SELECT coalesce(jsonb_object_agg(choice, n), '{}'::jsonb)::text FROM "
        "(SELECT choice, count(*) AS n FROM latest GROUP BY choice) c) AS split, "
        # Confirmed: the account's intent says yes, or it says nothing and the
        # latest answer (asked or not, by email or phone) did.
        "(SELECT count(*) FROM renewing r JOIN accounts ac ON ac.id = r.account_id "
        "WHERE ac.renewal_intent = 'yes' OR (ac.renewal_intent = '' AND "
        "(SELECT a.choice FROM answers a WHERE a.account_id = r.account_id "
        "AND a.question = :question::text ORDER BY a.id DESC LIMIT 1) = 'yes')) AS confirmed",
        templates=templates,
        question=INTENT_QUESTION,
        lead=lead_days,
    )
    counted = json.loads(row["split"])
    split = {choice: counted.pop(choice, 0) for choice in INTENT_CHOICES} | counted
    return _Intent(
        asked=IntentAsked(
            accounts_due_to_be_asked=row["renewing"],
            asked=row["asked"],
            rate=_rate(row["asked"], row["renewing"]),
        ),
        answers=IntentAnswers(
            asked=row["asked"],
            answered=row["answered"],
            answer_rate=_rate(row["answered"], row["asked"]),
            split=split,
        ),
        confirmed=_share(row["confirmed"], row["renewing"]),
    )


async def _ctas(q: _Query) -> Ctas:
    of_playbook = _playbook("journey_id")
    totals = await q.fetchrow(
        f"SELECT count(*) FILTER (WHERE {_window('opened_at')}) AS opened, "
        "count(*) FILTER (WHERE status = 'closed' AND closed_at IS NOT NULL "
        f"AND {_window('closed_at')}) AS closed, "
        f"count(*) FILTER (WHERE status = 'open') AS open_now FROM ctas WHERE {of_playbook}"
    )
    owners = await q.fetch(
        "SELECT coalesce(nullif(owner, ''), owner_role) AS owner, count(*) AS open, "
        "count(*) FILTER (WHERE due_at IS NOT NULL AND due_at::date < :as_of::date) AS overdue, "
        "count(*) FILTER (WHERE priority = 'urgent') AS urgent FROM ctas "
        f"WHERE status = 'open' AND {of_playbook} GROUP BY 1 ORDER BY 2 DESC, 1"
    )
    return Ctas(
        opened=totals["opened"],
        closed=totals["closed"],
        open_now=totals["open_now"],
        open_by_owner=[OwnerCtas.model_validate(dict(row)) for row in owners],
    )


async def _nps_followup(q: _Query, nps_playbook: str) -> NpsFollowup:
    responses = await q.fetch(
        "SELECT category, count(*) AS n FROM nps_responses "
        f"WHERE {_window('responded_on')} GROUP BY 1"
    )
    follow_ups = await q.fetchrow(
        "SELECT count(*) AS opened, count(*) FILTER (WHERE status = 'closed') AS closed "
        f"FROM ctas WHERE {_window('opened_at')} AND "
        + _playbook("journey_id").replace(":playbook", ":nps_playbook"),
        nps_playbook=nps_playbook,
    )
    by_category: dict[str, int] = {row["category"]: row["n"] for row in responses}
    return NpsFollowup(
        responses=sum(by_category.values()),
        by_category={c: by_category.get(c, 0) for c in NPS_CATEGORIES},
        ctas_opened=follow_ups["opened"],
        ctas_closed=follow_ups["closed"],
        closure_rate=_rate(follow_ups["closed"], follow_ups["opened"]),
    )


# --------------------------------------------------------------------------- outcomes


async def _renewals(q: _Query) -> Renewals:
    # A renewal is the CRM's status, or a journey's recorded "renewed" outcome in the
    # year before the date (the CRM may lag); its time is the first such record.
    row = await q.fetchrow(
        "WITH due AS (SELECT s.status, s.renewal_date, "
        "(SELECT min(je.at)::date FROM journey_events je WHERE je.account_id = s.account_id "
        "AND je.kind = 'outcome' AND je.detail = 'renewed' "
        "AND je.at::date > s.renewal_date - 365) AS renewed_on "
        f"FROM subscriptions s WHERE {_window('s.renewal_date')} "
        "AND s.renewal_date <= :as_of::date), "
        "judged AS (SELECT *, (status = 'renewed' OR renewed_on IS NOT NULL) AS renewed "
        "FROM due) "
        "SELECT count(*) AS due, "
        "count(*) FILTER (WHERE renewed AND (renewed_on IS NULL OR "
        "renewed_on <= renewal_date)) AS on_time, "
        "count(*) FILTER (WHERE renewed AND renewed_on > renewal_date) AS late, "
        "count(*) FILTER (WHERE NOT renewed AND status = 'active') AS overdue, "
        "count(*) FILTER (WHERE NOT renewed AND status = 'churned') AS churned FROM judged"
    )
    return Renewals.model_validate(dict(row) | {"on_time_rate": _rate(row["on_time"], row["due"])})


async def _quotes(q: _Query) -> Quotes:
    row = await q.fetchrow(
        "SELECT count(*) AS generated, "
        "count(*) FILTER (WHERE organic_growth_licences > 0) AS with_organic_growth, "
        "coalesce(sum(organic_growth_licences), 0) AS organic_growth_licences, "
        "coalesce(sum(organic_growth_licences * unit_price * (1 + uplift_percent / 100)), 0) "
        "AS organic_growth_value, "
        "coalesce(sum(total) FILTER (WHERE organic_growth_licences > 0), 0) "
        "AS total_with_organic_growth, coalesce(sum(total), 0) AS total "
        f"FROM quotes WHERE {_window('created_at')} AND {_playbook('journey_id')}"
    )
    return Quotes.model_validate({key: _number(value) for key, value in row.items()})


async def _version_currency(q: _Query) -> VersionCurrency:
    row = await q.fetchrow(
        "SELECT count(*) AS accounts, count(*) FILTER (WHERE versions_behind >= 2) AS behind "
        "FROM accounts WHERE ga_version <> '' OR installed_version <> ''"
    )
    return VersionCurrency(
        accounts=row["accounts"],
        two_plus_behind=row["behind"],
        share_two_plus_behind=_rate(row["behind"], row["accounts"]),
    )


async def _migration(q: _Query) -> list[MigrationGroup]:
    rows = await q.fetch(
        "SELECT region, segment, migration_stage, count(*) AS n FROM accounts "
        "WHERE deployment = 'on_premise' OR migration_stage <> 'not_started' "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2"
    )
    # Per group: accounts per stage, the five stages first (a stage beyond them, which
    # the schema allows none of, still counted under its own name).
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        key = (row["region"] or "-", row["segment"] or "-")
        stages = groups.setdefault(key, dict.fromkeys(MIGRATION_STAGES, 0))
        stages[row["migration_stage"]] = stages.get(row["migration_stage"], 0) + row["n"]
    return [
        MigrationGroup.model_validate(
            {"region": region, "segment": segment, "accounts": sum(stages.values())}
            | stages
            | {"migrated_share": _rate(stages["migrated"], sum(stages.values()))}
        )
        for (region, segment), stages in groups.items()
    ]


async def _book(q: _Query, role: str, confirmed_intent: Share) -> Book:
    """Onboarding complete and properly in contact, over the active accounts as
    the store holds them now (not narrowed by the window: see the module docstring);
    ``confirmed_intent`` comes with the renewal-intent numbers."""
    rows = await q.fetch(
        f"WITH current AS ({CURRENT_SUBSCRIPTIONS}), "
        "book AS (SELECT a.id, a.onboarding_complete FROM accounts a "
        "JOIN current c ON c.account_id = a.id WHERE c.status <> 'churned'), "
        "holder AS (SELECT DISTINCT ON (r.account_id) r.account_id, c.id AS contact_id, "
        "c.email, c.opted_out, lower(btrim(c.email)) AS address FROM contact_roles r "
        "JOIN contacts c ON c.id = r.contact_id WHERE r.role = :role::text "
        "ORDER BY r.account_id, r.rank, c.id) "
        "SELECT b.id, b.onboarding_complete, h.email, (h.opted_out "
        "OR EXISTS (SELECT 1 FROM contacts o WHERE o.opted_out "
        "AND lower(btrim(o.email)) = h.address) "
        "OR EXISTS (SELECT 1 FROM opt_outs x WHERE x.email = h.address) "
        "OR EXISTS (SELECT 1 FROM suppressions s WHERE s.entry = h.address "
        "OR s.entry = regexp_replace(h.address, '^.*@', ''))) AS blocked "
        "FROM book b LEFT JOIN holder h ON h.account_id = b.id",
        role=role,
    )
    accounts = len(rows)
    onboarded = sum(1 for row in rows if row["onboarding_complete"])
    reachable = sum(
        1
        for row in rows
        if row["email"] is not None and not row["blocked"] and plausible_address(row["email"])
    )
    return Book(
        onboarding_complete=_share(onboarded, accounts),
        in_contact=_share(reachable, accounts),
        confirmed_intent=confirmed_intent,
    )


# --------------------------------------------------------------------------- journeys


async def _playbook_names(
    conn: asyncpg.Connection, playbooks: dict[str, Playbook], playbook: str | None
) -> list[str]:
    if playbook is not None:
        return [playbook]
    recorded = await conn.fetch("SELECT DISTINCT playbook FROM journey_events WHERE playbook <> ''")
    return sorted(set(playbooks) | {row["playbook"] for row in recorded})


async def _journeys(
    temporal: Client | None, pool: asyncpg.Pool, names: list[str]
) -> list[PlaybookJourneys]:
    if temporal is not None:
        try:
            return [
                await _from_temporal(temporal, pool, name) for name in names if _NAME.match(name)
            ]
        except Exception:  # visibility down or unsupported: the store still knows a lot
            pass
    rows = await pool.fetch(
        "SELECT playbook, count(DISTINCT journey_id) AS journeys, count(DISTINCT journey_id) "
        "FILTER (WHERE kind = 'outcome') AS ended FROM journey_events WHERE playbook = ANY($1) "
        "GROUP BY 1",
        names,
    )
    found: dict[str, Row] = {row["playbook"]: row for row in rows}
    return [
        JourneysFromEvents(
            playbook=name,
            total=found[name]["journeys"] if name in found else 0,
            running=(found[name]["journeys"] - found[name]["ended"]) if name in found else 0,
            ended=found[name]["ended"] if name in found else 0,
        )
        for name in names
    ]


async def _from_temporal(client: Client, pool: asyncpg.Pool, name: str) -> JourneysFromTemporal:
    """One playbook's journeys by status, and its running ones' health."""
    total, by_status = await _visibility_counts(client, name)
    health = await _health_counts(client, pool, name)
    versions = await _running_versions(client, name)
    return JourneysFromTemporal.model_validate(
        {"playbook": name, "total": total, "versions": versions} | by_status | health.model_dump()
    )


async def _running_versions(client: Client, name: str) -> dict[str, int]:
    """Running journeys of one playbook per version, the most run first."""
    counted: Counter[str] = Counter()
    async for execution in client.list_workflows(
        f"WorkflowType = '{name}' AND ExecutionStatus = 'Running'"
    ):
        found = execution.typed_search_attributes.get(attrs.PLAYBOOK_VERSION)
        counted[found or "?"] += 1
    return dict(counted.most_common())


HEALTH_SAMPLE = 500  # running journeys asked for their timeline, per playbook


async def _health_counts(client: Client, pool: asyncpg.Pool, name: str) -> HealthCounts:
    """Running journeys of one playbook as on track / behind / stuck (the rule is
    ``engine.journey_health``): each journey's timeline by query (at most
    ``HEALTH_SAMPLE``, eight at a time) and its open CTAs from the store."""
    ids = [
        execution.id
        async for execution in client.list_workflows(
            f"WorkflowType = '{name}' AND ExecutionStatus = 'Running'", limit=HEALTH_SAMPLE
        )
    ]
    if not ids:
        return HealthCounts()
    gate = asyncio.Semaphore(8)
    # Once a query goes unanswered (no worker polls), the others are not asked: each
    # would wait out its timeout and the report would take minutes to say nothing.
    unanswered = asyncio.Event()

    async def timeline(journey_id: str) -> Timeline | None:
        async with gate:
            if unanswered.is_set():
                return None
            try:
                handle = client.get_workflow_handle(journey_id)
                # A query by name is untyped; ``result_type`` makes it a Timeline.
                view: Timeline = await handle.query(
                    "timeline", result_type=Timeline, rpc_timeout=QUERY_TIMEOUT
                )
                return view
            except RPCError as error:  # ended meanwhile, or no worker answering
                if error.status == RPCStatusCode.DEADLINE_EXCEEDED:
                    unanswered.set()
                return None
            except Exception:  # e.g. WorkflowQueryFailedError: not counted
                return None

    timelines = await asyncio.gather(*(timeline(journey_id) for journey_id in ids))
    open_ctas: list[Row] = await pool.fetch(
        "SELECT journey_id, id, due_at FROM ctas "
        "WHERE status = 'open' AND due_at IS NOT NULL AND journey_id = ANY($1)",
        ids,
    )
    wall = datetime.now(UTC)
    counts: Counter[JourneyHealth] = Counter()
    for view in timelines:
        if view is None or view.now is None:
            continue
        # A waiting journey's own clock stops at the start of its wait; a live
        # journey's playbook time is the wall clock's, a rehearsal's runs ahead.
        now = max(view.now, wall)
        overdue = {
            str(row["id"])
            for row in open_ctas
            if row["journey_id"] == view.journey_id and row["due_at"] < now
        }
        counts[journey_health(view, overdue, now)] += 1
    return HealthCounts(
        on_track=counts["on_track"],
        behind=counts["behind"],
        stuck=counts["stuck"],
        health_sampled=counts.total(),
    )


async def _visibility_counts(client: Client, name: str) -> tuple[int, dict[str, int]]:
    """Journeys of one playbook, in all and by execution status (lower case), from
    Temporal visibility."""
    # ``name`` matched _NAME above, so it cannot break out of the quoted literal.
    counted = await client.count_workflows(f"WorkflowType = '{name}' GROUP BY ExecutionStatus")
    by_status = {status.lower(): 0 for status in _STATUSES}
    for group in counted.groups:
        status = str(group.group_values[0]) if group.group_values else ""
        by_status[status.lower()] = by_status.get(status.lower(), 0) + group.count
    return counted.count, by_status


async def _arms(
    conn: asyncpg.Connection, playbooks: dict[str, Playbook], playbook: str | None
) -> list[Arm]:
    """Per experiment arm: journeys, emails, CTAs and goals achieved. The arm is
    recomputed from the account id (the split is a stable hash, engine.experiments).
    A journey achieved its goal when its recorded outcome is one of the playbook's
    goals (``Playbook.goal_outcomes``), or the outcome event says ``achieved``. A
    journey that ran off its end also records status ``completed``, with outcome
    ``completed``: that is no goal, so it is not counted."""
    out: list[Arm] = []
    for name, ir in sorted(playbooks.items()):
        if not ir.experiments or (playbook is not None and name != playbook):
            continue
        rows: list[Row] = await conn.fetch(
            "SELECT j.journey_id, max(j.account_id) AS account_id, "
            "coalesce(bool_or(j.kind = 'outcome' AND coalesce((j.data->>'achieved')::boolean, "
            "j.detail = ANY($2::text[]))), false) AS achieved, "
            "(SELECT count(*) FROM emails e WHERE e.journey_id = j.journey_id "
            "AND e.status = 'sent') AS emails, "
            "(SELECT count(*) FROM ctas c WHERE c.journey_id = j.journey_id) AS ctas "
            "FROM journey_events j WHERE j.playbook = $1 GROUP BY j.journey_id",
            name,
            sorted(ir.goal_outcomes()),
        )
        for experiment in ir.experiments:
            arms = {arm.name: arm for arm in experiment.arms}
            stats = {arm_name: _ArmCounts() for arm_name in arms}
            for row in rows:
                arm = assign_arm(experiment, row["account_id"] or "")
                if arm is None:
                    continue
                counts = stats[arm.name]
                counts.journeys += 1
                counts.emails += row["emails"]
                counts.ctas += row["ctas"]
                counts.achieved += 1 if row["achieved"] else 0
            for arm_name, counts in stats.items():
                out.append(
                    Arm(
                        playbook=name,
                        experiment=experiment.name,
                        arm=arm_name,
                        journeys=counts.journeys,
                        emails=counts.emails,
                        ctas=counts.ctas,
                        achieved=counts.achieved,
                        holdout=arms[arm_name].holdout,
                        achieved_rate=_rate(counts.achieved, counts.journeys),
                    )
                )
    return out


@dataclass
class _ArmCounts:
    """What one arm's journeys did, counted as the rows go by."""

    journeys: int = 0
    emails: int = 0
    ctas: int = 0
    achieved: int = 0


# --------------------------------------------------------------------------- small pieces


def _contact_policy(playbooks: dict[str, Playbook], playbook: str | None) -> ContactPolicy:
    """The email cap of ``playbook``, else of the playbook asking the intent question."""
    chosen = playbooks.get(playbook or "") or next(iter(_intent_playbooks(playbooks)), None)
    return chosen.defaults.contact if chosen is not None else ContactPolicy()


def _intent_playbooks(playbooks: dict[str, Playbook]) -> list[Playbook]:
    """The playbooks that ask the renewal-intent question, by name."""
    return [
        ir
        for _, ir in sorted(playbooks.items())
        if any(isinstance(s, Ask) and s.question == INTENT_QUESTION for s in ir.all_steps())
    ]


def _nps_playbook(playbooks: dict[str, Playbook]) -> str:
    """The playbook an NPS response starts (``starts on nps_response``; the first by
    name if several), or "" (no journey's CTAs count as follow-ups)."""
    started = sorted(name for name, ir in playbooks.items() if ir.starts_on == NPS_RESPONSE)
    return started[0] if started else ""


def _intent_templates(playbooks: dict[str, Playbook]) -> list[str]:
    """The templates of every ask of the intent question in the playbooks (the
    emails that asked it)."""
    found = {
        step.template
        for ir in playbooks.values()
        for step in walk(ir.body)
        if isinstance(step, Ask) and step.question == INTENT_QUESTION
    }
    return sorted(found)


def _intent_role(playbooks: dict[str, Playbook]) -> str:
    """The contact role the renewal-intent question goes to (``renewal_contact``
    unless the playbooks ask someone else; the first asking playbook by name)."""
    for ir in _intent_playbooks(playbooks):
        for step in ir.all_steps():
            if isinstance(step, Ask) and step.question == INTENT_QUESTION:
                return step.to_role
    return DEFAULT_INTENT_ROLE


def _intent_lead_days(playbooks: dict[str, Playbook]) -> int:
    """How many days before the anchor the renewal-intent question goes out: the
    ``at N days before`` of the top-level step holding the ask (140 by default)."""
    leads = [
        -block.when.offset.seconds // 86400
        for ir in playbooks.values()
        for block in ir.body
        if isinstance(block, Block)
        and block.when is not None
        and block.when.offset.seconds < 0
        and any(
            isinstance(step, Ask) and step.question == INTENT_QUESTION for step in walk(block.body)
        )
    ]
    return max(leads, default=DEFAULT_INTENT_LEAD_DAYS)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _share(part: int, whole: int) -> Share:
    return Share(accounts=whole, count=part, rate=_rate(part, whole))


def _number(value: Decimal | float | int) -> Amount:
    """Money and counts for JSON: whole numbers as int, others to two decimals."""
    if isinstance(value, Decimal | float):
        number = float(value)
        return int(number) if number.is_integer() else round(number, 2)
    return value
