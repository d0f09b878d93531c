"""Journeys from the outside: start one, list them, look at one, signal, cancel.

Used by the CLI (``playbook start|ps|show|signal|cancel``), by enrolment and by
the ``start_playbook`` activity. Everything goes through a Temporal client using
the pydantic data converter (``engine.temporal_runtime.DATA_CONVERTER``).

Starting a journey: the playbook is compiled here (never inside the workflow),
the account's facts come from the store, the workflow id is the playbook's
``journey id`` template filled with the facts (``renewal:ACME-0042:2027-04-01``),
the workflow type is the playbook's name. Search attributes are set at start so
the journey is filterable at once; the static summary reads "Renewal - ACME
Corp - renews 2027-04-01". The id reuse policy rejects duplicates, so starting
the same journey twice starts nothing twice, even after the first one ended.
The rehearsal speed goes into the memo, so journeys started *by* a journey
(``start playbook``) run at the same speed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from dsl import printer, schema
from dsl.diagnostics import did_you_mean
from dsl.ir import PLACEHOLDER, Playbook
from engine import search_attributes as attrs
from engine.contract import JourneyInput, JourneyOptions, Timeline, TimelineEntry, reacts_to
from engine.evaluator import as_date, lookup, render
from engine.forecast import qualifies
from engine.interpreter import journey_summary
from workers.adapters import metrics
from workers.adapters.git_source import file_commit
from workers.adapters.store import UnknownAccount
from workers.services import playbooks
from workers.services.connections import Connections
from workers.services.errors import STACK_HINT, JourneyError, TemporalUnreachable

QUERY_TIMEOUT = timedelta(seconds=5)
_SAFE_VALUE = re.compile(r"^[\w.:@+\-/ ]+$")
_ACCOUNTS_PER_QUERY = 100  # account ids in one visibility query's IN (...)
RISK_LEVELS = schema.VALUES["account", "risk_level"]  # as the store keeps them


def journey_id(playbook: Playbook, facts: dict[str, Any]) -> str:
    """The workflow id from the playbook's id template; every placeholder must have a value."""
    missing = [
        name
        for name in PLACEHOLDER.findall(playbook.journey_id)
        if lookup(name.split("."), facts) in (None, "")
    ]
    if missing:
        account = (facts.get("account") or {}).get("id", "?")
        raise JourneyError(
            f"cannot name the {playbook.name} journey of {account}: "
            f"{', '.join(missing)} has no value",
            hint=f"the journey id template is {playbook.journey_id!r}; fix the account's data",
        )
    return render(playbook.journey_id, facts)


def search_attributes(
    playbook: Playbook, account_id: str, facts: dict[str, Any]
) -> TypedSearchAttributes:
    """The journey's search attributes at start (the workflow keeps them current)."""
    account = facts.get("account") or {}
    values: list[tuple[Any, Any]] = [
        (attrs.PLAYBOOK_NAME, playbook.name),
        (attrs.PLAYBOOK_VERSION, playbook.version()),
        (attrs.ACCOUNT_ID, account_id),
        (attrs.SEGMENT, account.get("segment")),
        (attrs.REGION, account.get("region")),
        (attrs.CSM_OWNER, account.get("csm_owner")),
        (attrs.RISK_LEVEL, account.get("risk_level")),
    ]
    renewal = as_date((facts.get("subscription") or {}).get("renewal_date"))
    if isinstance(renewal, date):
        values.append(
            (attrs.RENEWAL_DATE, datetime(renewal.year, renewal.month, renewal.day, tzinfo=UTC))
        )
    pairs = [SearchAttributePair(key, value) for key, value in values if value not in (None, "")]
    return TypedSearchAttributes(pairs)


def static_details(playbook: Playbook, account_id: str, facts: dict[str, Any]) -> str:
    """The UI's static details (Markdown): what the journey is and for whom."""
    account = facts.get("account") or {}
    lines = [f"**{playbook.title}** (`{playbook.name}` version `{playbook.version()}`)"]
    if playbook.description:
        lines.append(playbook.description)
    lines.append(f"**Account:** {account.get('name') or account_id} (`{account_id}`)")
    for label, value in (
        ("Segment", account.get("segment")),
        ("Region", account.get("region")),
        ("CSM", account.get("csm_owner")),
    ):
        if value:
            lines.append(f"**{label}:** {value}")
    return "\n\n".join(lines)


def provenance_memo(playbook: Playbook) -> dict[str, str]:
    """Where a journey's IR came from, for its memo (``playbook show``): its version,
    when it was compiled (now: services compile a playbook right before they start
    its journeys) and the git commit of its file, when there is one. A move to
    another version (``playbook migrate``) writes the new version's."""
    return {
        "version": playbook.version(),
        "compiled_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": file_commit(playbook.source) if playbook.source else "",
    }


# --------------------------------------------------------------------------- starting


@dataclass(frozen=True)
class StartedJourney:
    journey_id: str
    started: bool  # False: a journey with this id already exists
    summary: str
    run_id: str = ""


async def start_journey(
    client: Client,
    store: Any,
    playbook: Playbook,
    account_id: str,
    *,
    task_queue: str,
    speed: float = 1.0,
    start_at: datetime | None = None,
    restart: bool = False,
) -> StartedJourney:
    """Start ``playbook`` for ``account_id``; starting an existing journey starts nothing.
    With ``restart``, a journey that ended (completed, canceled, terminated...) is
    started again under its id (Temporal's ALLOW_DUPLICATE id reuse policy: the
    earlier runs stay in its history); a running one is still not started twice."""
    try:
        facts = await store.load_facts(account_id)
    except UnknownAccount:
        raise JourneyError(
            f"no account {account_id!r} in the store",
            hint="load the book of business with `playbook data seed` or `playbook data import`",
        ) from None
    workflow_id = journey_id(playbook, facts)
    summary = journey_summary(playbook, facts)
    journey = JourneyInput(
        playbook=playbook,
        account_id=account_id,
        journey_id=workflow_id,
        options=JourneyOptions(speed=speed, start_at=start_at),
    )
    try:
        handle = await client.start_workflow(
            playbook.name,
            journey,
            id=workflow_id,
            task_queue=task_queue,
            result_type=Timeline,
            search_attributes=search_attributes(playbook, account_id, facts),
            static_summary=summary,
            static_details=static_details(playbook, account_id, facts),
            memo={
                "speed": speed,
                "start_at": start_at.isoformat() if start_at else "",
                **provenance_memo(playbook),
            },
            id_reuse_policy=(
                WorkflowIDReusePolicy.ALLOW_DUPLICATE
                if restart
                else WorkflowIDReusePolicy.REJECT_DUPLICATE
            ),
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        return StartedJourney(workflow_id, started=False, summary=summary)
    except RPCError as error:
        raise _rpc_problem(error, workflow_id) from error
    metrics.ENROLMENTS.labels(playbook=playbook.name).inc()
    return StartedJourney(
        workflow_id, started=True, summary=summary, run_id=handle.result_run_id or ""
    )


async def speed_of(client: Client, workflow_id: str) -> float:
    """The rehearsal speed a journey was started with (1.0 if unknown)."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
        value = await description.memo_value("speed", 1.0)
        return float(value)
    except (RPCError, KeyError, TypeError, ValueError):
        return 1.0


# --------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class JourneyRow:
    """One journey as ``playbook ps`` lists it."""

    journey_id: str
    playbook: str
    account_id: str
    stage: str
    status: str
    risk_level: str
    renewal_date: date | None
    csm_owner: str
    started: datetime | None
    playbook_version: str = ""


def visibility_query(
    playbook: str | None = None,
    stage: str | None = None,
    account: str | None = None,
    risk: str | None = None,
    status: str = "running",
    version: str | None = None,
) -> str:
    """A Temporal visibility query over the journey search attributes."""
    if status not in ("running", "all"):
        raise JourneyError(f"unknown status {status!r}", hint="use --status running or all")
    if risk:
        risk = risk.strip().lower()
        if risk not in RISK_LEVELS:
            raise JourneyError(
                f"unknown risk level {risk!r}", hint=f"risk levels are {', '.join(RISK_LEVELS)}"
            )
    parts: list[str] = []
    for key, value in (
        (attrs.PLAYBOOK_NAME, playbook),
        (attrs.STAGE, stage),
        (attrs.ACCOUNT_ID, account),
        (attrs.RISK_LEVEL, risk),
        (attrs.PLAYBOOK_VERSION, version),
    ):
        if value:
            if not _SAFE_VALUE.match(value):
                raise JourneyError(f"{value!r} is not a value to filter {key.name} by")
            parts.append(f"{key.name} = '{value}'")
    if status == "running":
        parts.append("ExecutionStatus = 'Running'")
    return " AND ".join(parts)


async def list_journeys(client: Client, query: str, limit: int = 500) -> list[JourneyRow]:
    """Journeys matching ``query``, newest first (workflows of no playbook left out)."""
    rows: list[JourneyRow] = []
    try:
        async for execution in client.list_workflows(query or None, limit=limit):
            found = execution.typed_search_attributes
            name = found.get(attrs.PLAYBOOK_NAME)
            if not name:
                continue
            renewal = found.get(attrs.RENEWAL_DATE)
            rows.append(
                JourneyRow(
                    journey_id=execution.id,
                    playbook=name,
                    account_id=found.get(attrs.ACCOUNT_ID) or "",
                    stage=found.get(attrs.STAGE) or "",
                    status=status_word(execution.status),
                    risk_level=found.get(attrs.RISK_LEVEL) or "",
                    renewal_date=renewal.date() if renewal else None,
                    csm_owner=found.get(attrs.CSM_OWNER) or "",
                    started=execution.start_time,
                    playbook_version=found.get(attrs.PLAYBOOK_VERSION) or "",
                )
            )
    except RPCError as error:
        raise _rpc_problem(error, "") from error
    return rows


async def running_by_account(
    client: Client, playbook: str = "", accounts: list[str] | None = None
) -> dict[str, list[JourneyRow]]:
    """The running journeys (of ``playbook``, or of every playbook if '') by account
    id, newest first; with ``accounts``, only theirs (asked in batches). Visibility
    lists a journey eventually, so one started a moment ago may be missing."""
    queries: list[str] = []
    base = visibility_query(playbook=playbook or None, status="running")
    if accounts is None:
        queries.append(base)
    else:
        wanted = sorted(set(accounts))
        for account in wanted:
            if not _SAFE_VALUE.match(account):
                raise JourneyError(f"{account!r} is not a value to filter AccountId by")
        for start in range(0, len(wanted), _ACCOUNTS_PER_QUERY):
            batch = ", ".join(f"'{a}'" for a in wanted[start : start + _ACCOUNTS_PER_QUERY])
            queries.append(f"{base} AND {attrs.ACCOUNT_ID.name} IN ({batch})")
    found: dict[str, list[JourneyRow]] = {}
    for query in queries:
        for row in await list_journeys(client, query, limit=1_000_000):
            found.setdefault(row.account_id, []).append(row)
    return found


async def count_journeys(client: Client, query: str) -> int | None:
    """How many journeys match ``query`` (the count ``list_journeys`` would reach
    without a limit), or None if visibility cannot count them."""
    journeys_only = f"{attrs.PLAYBOOK_NAME.name} IS NOT NULL"
    try:
        counted = await client.count_workflows(
            f"({query}) AND {journeys_only}" if query else journeys_only
        )
    except RPCError:
        return None
    return counted.count


async def latest_status(client: Client, journey_ids: list[str]) -> dict[str, str]:
    """The status word of each journey's latest run (``running``, ``completed``,
    ``canceled``...), for those Temporal knows; asked in batches."""
    found: dict[str, tuple[datetime, str]] = {}
    for start in range(0, len(journey_ids), _ACCOUNTS_PER_QUERY):
        batch = journey_ids[start : start + _ACCOUNTS_PER_QUERY]
        quoted = ", ".join("'" + j.replace("'", "") + "'" for j in batch)
        for row in await list_journeys(client, f"WorkflowId IN ({quoted})", limit=1_000_000):
            started = row.started or datetime.min.replace(tzinfo=UTC)
            if row.journey_id not in found or started >= found[row.journey_id][0]:
                found[row.journey_id] = (started, row.status)
    return {journey: status for journey, (_, status) in found.items()}


def status_word(status: WorkflowExecutionStatus | None) -> str:
    """``running``, ``completed``, ``canceled``... for a workflow status."""
    return status.name.lower() if status is not None else "unknown"


# --------------------------------------------------------------------------- one journey


@dataclass
class JourneyView:
    """What ``playbook show`` prints: the timeline if the journey could say it,
    else what Temporal knows (status, times, summary)."""

    journey_id: str
    playbook: str
    status: str
    started: datetime | None
    closed: datetime | None
    # The journey's summary from its facts now (the timeline's), else the UI's
    # static summary, from its facts at the start.
    summary: str = ""
    timeline: Timeline | None = None
    note: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    # A journey that ended without a result (canceled, terminated...): where its
    # steps come from, and, if no worker could replay it, what the store recorded.
    source: str = ""
    recorded: list[TimelineEntry] = field(default_factory=list)
    # Where its playbook came from (its memo): version, when compiled, git commit.
    version: str = ""
    compiled_at: str = ""
    commit: str = ""


async def show_journey(
    client: Client,
    workflow_id: str,
    store: Callable[[], Awaitable[Any]] | None = None,
) -> JourneyView:
    """The journey's timeline (query while it runs, its result once completed),
    falling back to Temporal's description. A journey that ended otherwise
    (canceled, terminated, failed) is queried too (a worker replays it); if no
    worker answers, the store (``store()``, called only then; None if there is
    none) says what the journey recorded."""
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(workflow_id, result_type=Timeline)
    try:
        description = await handle.describe()
    except RPCError as error:
        raise _rpc_problem(error, workflow_id) from error
    found = description.typed_search_attributes
    view = JourneyView(
        journey_id=workflow_id,
        playbook=description.workflow_type,
        status=status_word(description.status),
        started=description.start_time,
        closed=description.close_time,
        summary=await description.static_summary() or "",
        attributes={key.name: found.get(key) for key in attrs.ALL if found.get(key) is not None},
        version=found.get(attrs.PLAYBOOK_VERSION) or "",
    )
    for name in ("version", "compiled_at", "commit"):
        try:
            value = await description.memo_value(name, "")
        except (KeyError, TypeError, ValueError):
            value = ""
        if value:
            setattr(view, name, str(value))
    if description.status == WorkflowExecutionStatus.RUNNING:
        try:
            view.timeline = await handle.query(
                "timeline", result_type=Timeline, rpc_timeout=QUERY_TIMEOUT
            )
        except Exception as error:  # no worker polling answers as a timeout
            view.note = f"the journey did not answer ({_first_line(error)}): is a worker running?"
    elif description.status == WorkflowExecutionStatus.COMPLETED:
        try:
            view.timeline = await handle.result(rpc_timeout=QUERY_TIMEOUT)
        except Exception as error:
            view.note = f"cannot read the journey's result: {_first_line(error)}"
    else:
        try:
            view.timeline = await handle.query(
                "timeline", result_type=Timeline, rpc_timeout=QUERY_TIMEOUT
            )
            view.source = "its timeline, replayed by a worker"
        except Exception as error:
            problem = _first_line(error)
            kept = await store() if store is not None else None
            if kept is None:
                view.note = f"the journey is {view.status}; no worker replayed it ({problem})"
                return view
            view.recorded = await recorded_steps(kept, workflow_id)
            view.source = f"what the store recorded (no worker replayed the journey: {problem})"
    if view.timeline is not None and view.timeline.summary:
        view.summary = view.timeline.summary  # as the facts read now: a moved date shows
    return view


async def recorded_steps(store: Any, workflow_id: str) -> list[TimelineEntry]:
    """What the store recorded of a journey (milestones, emails, CTAs), in
    playbook-time order: the steps of a journey Temporal cannot tell any more."""
    found: list[TimelineEntry] = []
    for row in await store.journey_events(workflow_id):
        found.append(
            TimelineEntry(
                step_id="", label=f"{row['kind']} {row['detail']}".strip(), kind="record",
                status="done", at=row["at"],
            )
        )  # fmt: skip
    for row in await store.list_emails(journey_id=workflow_id, limit=1000):
        found.append(
            TimelineEntry(
                step_id=row["step_id"], label=f"send {row['template']} to {row['to_address']}",
                kind="send", status="done", at=row["playbook_time"] or row["sent_at"],
                result=f"{row['status']}: {row['subject']}",
            )
        )  # fmt: skip
    for row in await store.list_ctas(journey_id=workflow_id, limit=1000):
        closed = f", closed: {row['resolution']}" if row["status"] == "closed" else ""
        found.append(
            TimelineEntry(
                step_id=row["step_id"], label=f"CTA for {row['owner'] or row['owner_role']}",
                kind="cta", status="done", at=row["opened_at"],
                result=f"{row['id']} {row['reason']} ({row['status']}{closed})",
            )
        )  # fmt: skip
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda entry: entry.at or epoch)


async def journey_input(client: Client, workflow_id: str) -> JourneyInput:
    """The input the journey's latest run started with (its pinned playbook IR)."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        async for event in handle.fetch_history_events(page_size=1):
            attributes = event.workflow_execution_started_event_attributes
            [journey] = await client.data_converter.decode(
                attributes.input.payloads, [JourneyInput]
            )
            return journey
    except RPCError as error:
        raise _rpc_problem(error, workflow_id) from error
    raise JourneyError(f"journey {workflow_id!r} has no history")


def known_events(playbook: Playbook) -> list[str]:
    """The events a journey of ``playbook`` reacts to, sorted (``engine.contract.reacts_to``)."""
    return sorted(reacts_to(playbook))


async def check_event(client: Client, workflow_id: str, event: str) -> None:
    """Refuse an event the journey's (pinned) playbook does not react to: the
    journey would take the signal and ignore it."""
    playbook = (await journey_input(client, workflow_id)).playbook
    known = known_events(playbook)
    if event in known:
        return
    hint = did_you_mean(event, known)
    hint = f"{hint} " if hint else ""
    raise JourneyError(
        f"the {playbook.name} journey does not react to event {event!r}",
        hint=f"{hint}its events: {', '.join(known)} (--force sends it anyway)",
    )


async def signal_journey(
    client: Client, workflow_id: str, event: str, data: dict[str, Any]
) -> None:
    """Deliver event ``event`` with payload ``data`` to a running journey."""
    try:
        await client.get_workflow_handle(workflow_id).signal(event, data)
    except RPCError as error:
        raise _rpc_problem(error, workflow_id) from error


async def cancel_journey(client: Client, workflow_id: str) -> None:
    """Ask a running journey to stop (Temporal cancellation)."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        # The server accepts a cancel request for a closed run and does nothing:
        # say so instead of pretending.
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            raise JourneyError(
                f"journey {workflow_id!r} has ended ({status_word(description.status)})",
                hint=f"see it with `playbook show {workflow_id}`",
            )
        await handle.cancel()
    except RPCError as error:
        raise _rpc_problem(error, workflow_id) from error


def _rpc_problem(error: RPCError, workflow_id: str) -> JourneyError:
    if error.status == RPCStatusCode.NOT_FOUND and "completed" in error.message and workflow_id:
        return JourneyError(
            f"journey {workflow_id!r} has ended", hint=f"see it with `playbook show {workflow_id}`"
        )
    if error.status == RPCStatusCode.NOT_FOUND and workflow_id:
        return JourneyError(
            f"no journey {workflow_id!r}", hint="list journeys with `playbook ps --status all`"
        )
    if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return TemporalUnreachable(f"Temporal did not answer: {error.message}", hint=STACK_HINT)
    if error.status == RPCStatusCode.FAILED_PRECONDITION and workflow_id:
        return JourneyError(f"journey {workflow_id!r} is not running: {error.message}")
    return JourneyError(f"Temporal refused: {error.message}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


# --------------------------------------------------------------------------- the commands


class StartRequest(BaseModel):
    """``playbook start``: one journey of a playbook for one account."""

    playbook: str  # a name in the playbooks directory, or a .playbook file
    account_id: str
    speed: float = 1.0
    start_at: datetime | None = None  # playbook time to start at (None: now)
    task_queue: str = ""  # '' = PLAYBOOK_TASK_QUEUE
    restart: bool = False  # start an ended journey again under its id
    force: bool = False  # start it even where the playbook's enroll condition is false


class StartOutcome(BaseModel):
    """What ``start`` did; ``status`` is the journey's (``running`` when started now)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    journey: StartedJourney
    status: str
    # With restart: how the earlier run ended ("canceled"...), "" if there was none.
    previous: str = ""


async def start(connections: Connections, request: StartRequest) -> StartOutcome:
    """Start one journey (a journey that exists, even ended, is not started again)."""
    playbook = playbooks.find_playbook(request.playbook, connections.settings)
    store = await connections.store()
    if not request.force:
        await _refuse_unless_enrolled(store, playbook, request)
    client = await connections.temporal()
    previous = ""
    if request.restart:
        try:
            facts = await store.load_facts(request.account_id)
            described = await client.get_workflow_handle(journey_id(playbook, facts)).describe()
            previous = status_word(described.status)
        except (RPCError, UnknownAccount):
            previous = ""  # none yet (or no account: start_journey says so)
    started = await start_journey(
        client,
        store,
        playbook,
        request.account_id,
        task_queue=request.task_queue or connections.settings.task_queue,
        speed=request.speed,
        start_at=request.start_at,
        restart=request.restart,
    )
    if started.started:
        return StartOutcome(journey=started, status="running", previous=previous)
    description = await client.get_workflow_handle(started.journey_id).describe()
    return StartOutcome(journey=started, status=status_word(description.status))


async def _refuse_unless_enrolled(store: Any, playbook: Playbook, request: StartRequest) -> None:
    """A journey its playbook's ``enroll`` condition would not start (a renewal two
    years away) is refused, naming the condition; ``force`` starts it anyway."""
    if playbook.enroll is None:
        return
    try:
        facts = await store.load_facts(request.account_id)
    except UnknownAccount:
        return  # start_journey says so
    as_of = (request.start_at or datetime.now(UTC)).date()
    if qualifies(playbook, facts, as_of):
        return
    raise NotEnrolled(
        f"{request.account_id} does not qualify for {playbook.name} on {as_of}: "
        f"`enroll when {printer.expression(playbook.enroll)}` is false",
        hint="start it anyway with --force (or check the account's facts: playbook show, "
        "playbook data set)",
    )


class NotEnrolled(JourneyError):
    """``playbook start`` of a journey the playbook's enrolment would not start."""


class JourneyQuery(BaseModel):
    """``playbook ps``: which journeys to list."""

    playbook: str = ""
    stage: str = ""
    account: str = ""
    risk: str = ""
    status: str = "running"  # running or all
    version: str = ""  # a playbook version (the hash `ps` shows)
    limit: int = 200


class JourneyList(BaseModel):
    """The journeys a query found, newest first, and how many match in all (None:
    visibility could not count them)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    query: str
    rows: list[JourneyRow]
    total: int | None


async def find_journeys(connections: Connections, request: JourneyQuery) -> JourneyList:
    """The journeys matching ``request`` (``JourneyError`` for a filter no query can hold)."""
    query = visibility_query(
        request.playbook,
        request.stage,
        request.account,
        request.risk,
        request.status,
        request.version,
    )
    client = await connections.temporal()
    rows = await list_journeys(client, query, request.limit)
    # Fewer than the limit is all of them; at the limit, ask visibility for the total.
    total = await count_journeys(client, query) if len(rows) >= request.limit else len(rows)
    return JourneyList(query=query, rows=rows, total=total)


async def show(connections: Connections, journey_id: str) -> JourneyView:
    """One journey (``show_journey``), with the store as the fallback for one no
    worker can replay."""
    return await show_journey(await connections.temporal(), journey_id, connections.maybe_store)


async def send_event(
    connections: Connections,
    journey_id: str,
    event: str,
    payload: dict[str, Any],
    *,
    force: bool = False,
) -> None:
    """Signal ``event`` to a journey; unless ``force``, only one its playbook reacts to."""
    client = await connections.temporal()
    if not force:
        await check_event(client, journey_id, event)
    await signal_journey(client, journey_id, event, payload)


async def cancel(connections: Connections, journey_id: str) -> None:
    """Ask a running journey to stop (``cancel_journey``)."""
    await cancel_journey(await connections.temporal(), journey_id)


async def account_facts(connections: Connections, account_id: str) -> dict[str, Any]:
    """One account's facts as a journey of it would see them (``playbook simulate
    --account``); ``JourneyError`` for an account the store does not have."""
    store = await connections.store()
    try:
        return await store.load_facts(account_id)
    except UnknownAccount:
        raise JourneyError(
            f"no account {account_id!r} in the store", hint="see `playbook data seed`"
        ) from None
