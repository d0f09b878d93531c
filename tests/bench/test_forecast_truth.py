"""How true the forecast is: forecast a seeded book, then run the same book on the real
stack at rehearsal speed, and compare emails per template per week and CTAs per owner
per week. Prints each cell that differs and the error as a share of the total (the sum
of the differences over the run's total); asserts the issue's bound (1%).

The book: ``generate_book(N)`` with one contact in ten marked opted out; every shipped
playbook (a cloud migration journey's ``set account.risk_level`` is what a renewal
journey reads later). Nobody answers, or customers answer as ``--answers`` would say
(``renewal_intent=yes:60,no:10``: the same accounts, two days after the question).
No CTA is closed.

The run: a real Temporal dev server, Postgres and SMTP sink, a worker in this process.
Enrolment runs as the daily Schedules would, once per playbook day: day ``d`` is
enrolled (``as_of`` d, so its journeys start at 00:00 of d, at rehearsal speed) when
the rehearsal reaches it on the wall clock, the way a Schedule fires by its clock.
The run ends when every journey's playbook time has passed the window (its timeline
query says so) or it has ended.

    FORECAST_TRUTH_N=150 FORECAST_TRUTH_DAYS=60 make bench
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dsl.ir import Ask, Playbook
from dsl.loader import load_playbook
from engine.contract import Timeline
from engine.forecast import Forecast, World, iso_week, parse_answer_mix, window_start
from tests.integration.test_activities_email import settings_for
from workers.adapters.store import Store
from workers.analytics.forecast import forecast_store
from workers.services import answers, enrolment
from workers.services.answers import Answer
from workers.services.connections import Connections
from workers.services.enrolment import EnrolRequest
from workers.services.seed import Book, generate_book, seed_book
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration
PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
N = int(os.environ.get("FORECAST_TRUTH_N", "150"))
DAYS = int(os.environ.get("FORECAST_TRUTH_DAYS", "60"))
SPEED = float(os.environ.get("FORECAST_TRUTH_SPEED", str(86400 / 2)))  # a day in 2 s
AS_OF = date(2026, 11, 2)  # a Monday
OPTED_OUT_SHARE = 10  # one contact in ten


Cells = Counter[tuple[str, str]]


def forecast_cells(forecast: Forecast) -> tuple[Cells, Cells]:
    """(week, template) -> emails and (week, owner) -> CTAs of the forecast."""
    emails: Cells = Counter((e.week, e.template) for e in forecast.emails if e.contact)
    ctas: Cells = Counter((c.week, c.owner) for c in forecast.ctas)
    return emails, ctas


async def run_cells(store: Store, begin: datetime, end: datetime) -> tuple[Cells, Cells]:
    """The same cells from what the run did: emails sent, CTAs opened, in the window."""
    emails = await store.pool.fetch(
        "SELECT template, playbook_time FROM emails WHERE status = 'sent' "
        "AND playbook_time >= $1 AND playbook_time < $2",
        begin,
        end,
    )
    ctas = await store.pool.fetch(
        "SELECT owner, opened_at FROM ctas WHERE opened_at >= $1 AND opened_at < $2", begin, end
    )
    return (
        Counter((iso_week(r["playbook_time"]), r["template"]) for r in emails),
        Counter((iso_week(r["opened_at"]), r["owner"]) for r in ctas),
    )


def error_share(forecast: Cells, run: Cells) -> tuple[int, int, float]:
    """(sum of per-cell differences, the run's total, their ratio)."""
    difference = sum(abs(forecast[cell] - run[cell]) for cell in set(forecast) | set(run))
    total = sum(run.values())
    return difference, total, difference / total if total else 0.0


def report(name: str, forecast: Cells, run: Cells) -> float:
    """Print the comparison of one kind of touch; its error share."""
    difference, total, share = error_share(forecast, run)
    cells = set(forecast) | set(run)
    exact = sum(1 for cell in cells if forecast[cell] == run[cell])
    print(
        f"  {name:<7} forecast {sum(forecast.values()):5d}  run {total:5d}  "
        f"cell differences {difference:4d} = {share:6.2%} of the total  "
        f"({exact} of {len(cells)} cells exact)"
    )
    for cell in sorted(cells):
        if forecast[cell] != run[cell]:
            print(f"      {cell[0]} {cell[1]:<40} forecast {forecast[cell]:4d} run {run[cell]:4d}")
    return share


def _tagged(book: Book) -> Book:
    """The book under account ids of this run's own (``ACC-00001-7f3a``): journey ids
    come from them, and Temporal refuses an id an earlier run used."""
    tag = uuid.uuid4().hex[:4]
    for row in book.accounts:
        row["id"] = f"{row['id']}-{tag}"
    for rows in (book.subscriptions, book.contacts, book.contact_roles, book.usage):
        for row in rows:
            row["account_id"] = f"{row['account_id']}-{tag}"
    for row in book.nps_responses:
        row["account_id"] = f"{row['account_id']}-{tag}"
    return book


async def _opt_out_some(store: Store) -> int:
    return int(
        await store.pool.fetchval(
            "WITH chosen AS (UPDATE contacts SET opted_out = true "
            "WHERE abs(hashtext(id)) % $1 = 0 RETURNING 1) SELECT count(*) FROM chosen",
            OPTED_OUT_SHARE,
        )
    )


async def _journeys_past(client: Any, journey_ids: set[str], end: datetime) -> None:
    """Until every journey has ended or its playbook time passed ``end``."""
    pending = set(journey_ids)
    for _ in range(2400):
        for journey_id in sorted(pending):
            handle = client.get_workflow_handle(journey_id)
            description = await handle.describe()
            if description.status is None or description.status.name != "RUNNING":
                pending.discard(journey_id)
                continue
            try:
                timeline = await handle.query("timeline", result_type=Timeline)
            except Exception:  # a worker busy: ask again next round
                continue
            if timeline.now is not None and timeline.now >= end:
                pending.discard(journey_id)
        if not pending:
            return
        await asyncio.sleep(0.5)  # a poll interval, not a wait on time
    raise AssertionError(f"{len(pending)} journeys never reached {end:%Y-%m-%d}")


@pytest.fixture
async def own_store(fresh_dsn: str) -> Any:
    store = await Store.connect(fresh_dsn, max_size=12)
    yield store
    await store.close()


class Responder:
    """Customers answering as the forecast's world says: the accounts an answer mix
    picks answer its question ``mix.after`` after the question left (on the rehearsal
    clock), through the path a link click takes (``answers.take_answer``)."""

    def __init__(
        self, store: Store, connections: Connections, world: World, asks: dict[str, str]
    ) -> None:
        self.store, self.connections, self.world, self.asks = store, connections, world, asks
        self.seen: dict[str, float] = {}
        self.answered: set[str] = set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        mixes = {mix.question: mix for mix in self.world.answers}
        while mixes:
            rows = await self.store.pool.fetch(
                "SELECT idempotency_key, journey_id, account_id, contact_id, step_id "
                "FROM emails WHERE status = 'sent'"
            )
            for row in rows:
                key = row["idempotency_key"]
                question = self.asks.get(row["step_id"])
                if question not in mixes or key in self.answered:
                    continue
                assert question is not None
                mix = mixes[question]
                choice = mix.choice_for(row["account_id"])
                if choice is None:
                    continue
                first = self.seen.setdefault(key, loop.time())
                if loop.time() - first < mix.after.total_seconds() / SPEED:
                    continue
                self.answered.add(key)
                answer = Answer(
                    row["journey_id"],
                    question,
                    choice,
                    row["contact_id"],
                    row["account_id"],
                    ask=key,
                )
                await answers.take_answer(self.store, self.connections, answer)
            await asyncio.sleep(0.1)  # a poll interval


def ask_steps(playbooks: list[Playbook]) -> dict[str, str]:
    """Step id of every ``ask`` of the playbooks -> the question it asks."""
    return {
        step.id: step.question
        for playbook in playbooks
        for step in playbook.all_steps()
        if isinstance(step, Ask)
    }


@pytest.mark.parametrize("answer_rates", ["", "renewal_intent=yes:60,no:10"])
async def test_forecast_against_a_rehearsal_of_the_same_book(
    temporal_client: Any,
    own_store: Store,
    smtp_sink: Any,
    task_queue: str,
    tmp_path: Path,
    answer_rates: str,
) -> None:
    async with own_store.pool.acquire() as conn:
        await seed_book(conn, _tagged(generate_book(N, seed=42, today=AS_OF)))
    opted_out = await _opt_out_some(own_store)
    playbooks = [load_playbook(p) for p in sorted(PLAYBOOKS.glob("*.playbook"))]
    begin = window_start(AS_OF)
    end = begin + timedelta(days=DAYS)

    mixes = (parse_answer_mix(answer_rates, playbooks),) if answer_rates else ()
    world = World(mixes)
    forecast = await forecast_store(own_store, playbooks, AS_OF, DAYS, world, enrol_hour=0)
    # The same book with each playbook simulated apart (no facts or governance shared
    # between playbooks): what one simulation of the whole book adds.
    apart_emails: Cells = Counter()
    apart_ctas: Cells = Counter()
    for playbook in playbooks:
        alone = await forecast_store(own_store, [playbook], AS_OF, DAYS, world, enrol_hour=0)
        emails, ctas = forecast_cells(alone)
        apart_emails.update(emails)
        apart_ctas.update(ctas)

    settings = replace(
        settings_for(smtp_sink.host, smtp_sink.port, tmp_path), playbooks_dir=PLAYBOOKS
    )
    worker, _ = build_worker(temporal_client, own_store, settings, WorkerOptions(task_queue))
    journey_ids: set[str] = set()
    connections = Connections(settings, store=own_store, temporal=temporal_client)
    responder = asyncio.ensure_future(
        Responder(own_store, connections, world, ask_steps(playbooks)).run()
    )
    async with worker:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for day in range(DAYS):
            # The daily Schedule fires when the rehearsal's clock reaches the day.
            due = started + day * 86400 / SPEED
            await asyncio.sleep(max(0.0, due - loop.time()))
            for playbook in playbooks:
                if playbook.enroll is None:
                    continue
                result = await enrolment.enrol(
                    connections,
                    EnrolRequest(
                        playbook=playbook.name,
                        as_of=AS_OF + timedelta(days=day),
                        speed=SPEED,
                        task_queue=task_queue,
                    ),
                    playbook=playbook,
                )
                assert not result.failed, result.failed
                journey_ids.update(result.started)
        await _journeys_past(temporal_client, journey_ids, end)
        responder.cancel()
        run_emails, run_ctas = await run_cells(own_store, begin, end)
    forecast_emails, forecast_ctas = forecast_cells(forecast)
    print(
        f"\nforecast vs run: {N} accounts, {DAYS} days from {AS_OF}, {len(playbooks)} playbooks, "
        f"{opted_out} contacts opted out, {world.describe()[:60]}...; "
        f"{len(journey_ids)} journeys run, "
        f"{sum(forecast.journeys.values())} forecast; speed {SPEED:g}"
    )
    email_error = report("emails", forecast_emails, run_emails)
    cta_error = report("CTAs", forecast_ctas, run_ctas)
    print("  each playbook simulated apart:")
    report("emails", apart_emails, run_emails)
    report("CTAs", apart_ctas, run_ctas)
    assert sum(run_emails.values()) > 0 and sum(run_ctas.values()) > 0
    assert email_error <= 0.01 and cta_error <= 0.01
