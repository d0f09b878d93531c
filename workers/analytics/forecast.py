"""The book of business for ``playbook forecast``, read from Postgres in a few queries.

``load_book`` returns account id -> facts in exactly the shape of
``Store.load_facts`` (one query per table, not one per account); ``running_journeys``
finds the accounts already in a journey (milestones recorded, no outcome yet);
``ended_journeys`` the journey ids whose outcome is recorded; ``touches_done`` the
idempotency keys of the emails and CTAs already made, so that what went out this
morning is not forecast again; ``contact_book`` what governance knows (opt-outs,
suppressions, the touches that count against the caps). ``forecast_store`` puts
them through ``engine.forecast``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from temporalio.client import Client

from dsl import schema
from dsl.ir import Playbook
from dsl.model import Model
from engine.book_simulation import ContactBook, Started
from engine.contact_rules import AccountTouch, Touch
from engine.contract import JourneyState, Standing, Timeline
from engine.email_cap import rules_in_force
from engine.forecast import Forecast, World, forecast_book, window_start
from workers.adapters import custom_facts
from workers.adapters.store import CURRENT_SUBSCRIPTIONS, Store, plain
from workers.services.journeys import QUERY_TIMEOUT, journey_input, list_journeys, visibility_query

_LATEST = {
    "subscription": CURRENT_SUBSCRIPTIONS,
    "usage": "SELECT DISTINCT ON (account_id) * FROM usage ORDER BY account_id, as_of DESC",
    "nps": (
        "SELECT DISTINCT ON (account_id) * FROM nps_responses "
        "ORDER BY account_id, responded_on DESC, id DESC"
    ),
    "quote": (
        "SELECT DISTINCT ON (account_id) * FROM quotes "
        "ORDER BY account_id, created_at DESC, id DESC"
    ),
}
_COLUMNS = {
    "subscription": schema.SUBSCRIPTION,
    "usage": schema.USAGE,
    "nps": schema.NPS,
    "quote": schema.QUOTE,
}


def _row(record: Mapping[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    return {name: plain(record[name]) for name in columns}


async def load_book(store: Store, model: Model | None = None) -> dict[str, dict[str, Any]]:
    """Every account's facts, as ``Store.load_facts`` gives them, in one snapshot: the
    team's own facts and groups of ``model`` (default: the store's) too."""
    model = model or store.model()
    async with (
        store.pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        accounts = await conn.fetch("SELECT * FROM accounts ORDER BY id")
        latest = {root: await conn.fetch(sql) for root, sql in _LATEST.items()}
        contacts = await conn.fetch(
            "SELECT r.account_id AS holder_account, r.role, c.* FROM contact_roles r "
            "JOIN contacts c ON c.id = r.contact_id ORDER BY r.account_id, r.role, r.rank, c.id"
        )
        groups = await custom_facts.load_groups(conn, model, [r["id"] for r in accounts])
    book: dict[str, dict[str, Any]] = {}
    for record in accounts:
        book[record["id"]] = {
            "account": {
                **_row(record, schema.ACCOUNT),
                **custom_facts.typed(model, "account", record["custom"]),
            },
            **{root: {} for root in _LATEST},
            "contacts": {},
            "contacts_by_role": {},
        }
    for root, records in latest.items():
        for record in records:
            if record["account_id"] in book:
                row = _row(record, _COLUMNS[root])
                if root in custom_facts.EXTENDED_TABLES:
                    row.update(custom_facts.typed(model, root, record["custom"]))
                book[record["account_id"]][root] = row
    for record in contacts:
        facts = book.get(record["holder_account"])
        if facts is None:
            continue
        holders = facts["contacts_by_role"].setdefault(record["role"], [])
        holders.append(_row(record, schema.CONTACT))
        facts["contacts"].setdefault(record["role"], holders[0])
    return {
        ident: {**{key: facts[key] for key in _ORDER}, **groups[ident]}
        for ident, facts in book.items()
    }


_ORDER = ("account", "subscription", "usage", "nps", "contacts", "contacts_by_role", "quote")


async def running_journeys(store: Store, playbooks: list[str]) -> dict[str, dict[str, datetime]]:
    """playbook -> account id -> first milestone of its journey still running."""
    rows = await store.pool.fetch(
        "SELECT playbook, account_id, min(at) AS began FROM journey_events e "
        "WHERE playbook = ANY($1::text[]) AND account_id <> '' AND NOT EXISTS ("
        "SELECT 1 FROM journey_events o WHERE o.journey_id = e.journey_id "
        "AND o.kind = 'outcome') GROUP BY playbook, account_id",
        playbooks,
    )
    out: dict[str, dict[str, datetime]] = {}
    for row in rows:
        out.setdefault(row["playbook"], {})[row["account_id"]] = row["began"]
    return out


async def ended_journeys(store: Store, playbooks: list[str]) -> set[str]:
    """The journey ids of these playbooks whose outcome is recorded (they ran to the end)."""
    rows = await store.pool.fetch(
        "SELECT DISTINCT journey_id FROM journey_events "
        "WHERE kind = 'outcome' AND playbook = ANY($1::text[])",
        playbooks,
    )
    return {row["journey_id"] for row in rows}


# A touch made a little before the forecast's first morning may still be one the
# simulation plans inside it (its journey ran ahead: a deferral elsewhere, a start
# just before the business hour); keys match exactly, so a margin only costs rows.
DONE_MARGIN = timedelta(days=7)


async def touches_done(store: Store, since: datetime) -> set[str]:
    """The idempotency keys of the emails (any status: sent, being sent, bounced,
    failed) and CTAs whose playbook time is ``since`` or later: touches that were
    made and will not be made again."""
    rows = await store.pool.fetch(
        "SELECT idempotency_key FROM emails WHERE playbook_time >= $1 OR playbook_time IS NULL "
        "UNION SELECT idempotency_key FROM ctas WHERE opened_at >= $1",
        since,
    )
    return {row["idempotency_key"] for row in rows}


# Touches older than this never count against a cap (the longest period a playbook
# or the global cap names is weeks, not months).
HISTORY_LOOKBACK = timedelta(days=92)


async def contact_book(store: Store, since: datetime) -> ContactBook:
    """What governance knows now: the opt-out list, the suppressions, the book's
    contact rules as the worker enforces them (``engine.email_cap.rules_in_force``
    over the model's), every address's touches since ``since`` (``contact_touches``)
    and, under a per-account rule, each account's emails, CTAs and phone answers."""
    rules = rules_in_force(custom_facts.model_of(store.playbooks_dir).contact_rules)
    opt_outs = await store.pool.fetch("SELECT email, source FROM opt_outs")
    suppressions = await store.pool.fetch("SELECT entry, reason FROM suppressions")
    touches = await store.pool.fetch(
        "SELECT idempotency_key, email, account_id, journey_id, reason, touched_at "
        "FROM contact_touches WHERE touched_at > $1 ORDER BY touched_at, idempotency_key",
        since,
    )
    history: dict[str, list[tuple[str, Touch]]] = {}
    accounts: dict[str, list[AccountTouch]] = {}
    for row in touches:
        touch = Touch(row["touched_at"], row["journey_id"], row["reason"])
        history.setdefault(row["email"], []).append((row["idempotency_key"], touch))
        accounts.setdefault(row["account_id"], []).append((row["touched_at"], "emails"))
    if rules.per_account is not None:
        for kind, query in (
            ("ctas", "SELECT account_id, opened_at FROM ctas WHERE opened_at > $1"),
            (
                "calls",
                "SELECT account_id, answered_at FROM answers "
                "WHERE source = 'phone' AND answered_at > $1",
            ),
        ):
            for row in await store.pool.fetch(query, since):
                accounts.setdefault(row[0], []).append((row[1], kind))
    return ContactBook(
        opt_outs={row["email"]: row["source"] or "" for row in opt_outs},
        suppressions={row["entry"]: row["reason"] or "" for row in suppressions},
        global_cap=rules.per_contact,
        history=history,
        account_rule=rules.per_account,
        account_history=accounts if rules.per_account is not None else {},
    )


async def journeys_as_they_stand(
    client: Client,
    playbooks: list[str],
    begin: datetime,
    began: Mapping[str, Mapping[str, datetime]] | None = None,
) -> list[Started]:
    """The running journeys of these playbooks as Temporal holds them: each on its
    pinned playbook (the IR it runs, not the file's), taken up where it waits (the
    ``standing`` query: the one place it waits, as ``playbook migrate`` picks a
    journey up) with its answers, from its playbook time (or ``begin``, if later).
    A journey that waits in several places at once (a ``parallel``, a handler)
    runs again on its pinned playbook from when it began (``began[playbook]
    [account]``: its first milestone); one that does not answer is left to the
    store's account of it."""
    rows = await list_journeys(client, visibility_query(status="running"), limit=1_000_000)
    out: list[Started] = []
    for row in rows:
        if row.playbook not in playbooks:
            continue
        pinned = (await journey_input(client, row.journey_id)).playbook
        handle = client.get_workflow_handle(row.journey_id)
        try:
            standing = await handle.query(
                "standing", result_type=Standing, rpc_timeout=QUERY_TIMEOUT
            )
            timeline = await handle.query(
                "timeline", result_type=Timeline, rpc_timeout=QUERY_TIMEOUT
            )
        except Exception:  # no worker answered: as the store has it (below)
            continue
        spots = standing.spots
        if len(spots) == 1 and not spots[0].why_not:  # one place, as a move needs
            now = max(timeline.now or begin, begin)
            state = JourneyState(answers=dict(timeline.answers), resume=spots[0].point)
            out.append(Started(pinned, row.account_id, now, row.journey_id, state))
        elif (start := ((began or {}).get(row.playbook) or {}).get(row.account_id)) is not None:
            out.append(Started(pinned, row.account_id, start, row.journey_id))
    return out


async def forecast_store(
    store: Store,
    playbooks: list[Playbook],
    as_of: date,
    days: int,
    world: World | None = None,
    *,
    enrol_hour: int | None = None,
    temporal: Client | None = None,
) -> Forecast:
    """The forecast of the whole book in the store, in ``world`` (default: nobody
    answers, no CTA is closed), as one simulation (``engine.book_simulation``):
    journeys running go on, the daily enrolment starts new ones at ``enrol_hour``
    (default: the Schedules' hour, ``PLAYBOOK_ENROL_HOUR``), and governance starts
    from what the store holds (opt-outs, suppressions, the touches already made).
    An account whose journey, under the id the playbook would give it now, has
    already ended is not counted as a fresh start; an email or CTA already made
    (this morning's, before the forecast runs) is not counted again."""
    # The Schedules' hour (imported here: enrolment imports this module for load_book).
    from workers.services.schedules import enrol_hour as schedule_hour

    book = await load_book(store)
    # Dates as ISO strings: the facts a journey sees arrive as JSON from an activity.
    facts = json.loads(json.dumps(book, default=str))
    names = [p.name for p in playbooks]
    running = await running_journeys(store, names)
    ended = await ended_journeys(store, names)
    begin = window_start(as_of)
    done = await touches_done(store, begin - DONE_MARGIN)
    contacts = await contact_book(store, begin - HISTORY_LOOKBACK)
    standing = await journeys_as_they_stand(temporal, names, begin, running) if temporal else []
    return await forecast_book(
        playbooks,
        facts,
        as_of,
        days,
        running,
        world,
        ended,
        done,
        enrol_hour=schedule_hour(enrol_hour),
        contacts=contacts,
        standing=standing,
    )
