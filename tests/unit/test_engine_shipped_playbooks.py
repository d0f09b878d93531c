"""Every shipped playbook (playbooks/*.playbook), compiled by the DSL and run by the
interpreter in simulation: every question with every answer and with silence,
escalations closed and timed out, and the renewal journey's main branches."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dsl.ir import Ask, Escalate, Playbook, walk
from engine.contract import ActionKind
from engine.simulation import Script, SimulationResult, run_simulation, sample_facts

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "playbooks").glob("*.playbook"))
START = datetime(2026, 11, 1, tzinfo=UTC)
RENEWAL = date(2027, 3, 31)  # the sample account renews 150 days after START
KINDS = set(ActionKind.__args__)  # type: ignore[attr-defined]

loader = pytest.importorskip("dsl.loader", reason="dsl.loader not available yet")


def load(path: Path) -> Playbook:
    return loader.load_playbook(path)  # type: ignore[no-any-return]


def facts_for(playbook: Playbook) -> dict[str, Any]:
    facts = sample_facts(START.date())
    if playbook.name == "nps_followup":
        facts["nps"]["responded_on"] = START.date().isoformat()
    return facts


async def simulate(playbook: Playbook, script: Script, **facts_update: Any) -> SimulationResult:
    facts = facts_for(playbook)
    for dotted, value in facts_update.items():
        root, _, name = dotted.partition("__")
        facts[root][name] = value
    return await run_simulation(
        playbook, facts, script, start=START, until=START + timedelta(days=500)
    )


def check_sane(result: SimulationResult) -> None:
    for request, _ in result.actions:
        assert request.kind in KINDS
        assert request.idempotency_key == (
            f"{request.journey_id}/{request.step_id}/{request.iteration}"
        )
    keys = [r.idempotency_key for r, _ in result.actions if r.kind not in ("load_facts",)]
    assert len(keys) == len(set(keys)), "an action ran twice with one idempotency key"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
async def test_shipped_playbook_runs_in_silence(path: Path) -> None:
    playbook = load(path)
    result = await simulate(playbook, Script())
    check_sane(result)
    assert result.timeline.done, "the journey did nothing at all"


def _questions(playbook: Playbook) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for step in walk(list(playbook.body) + [s for h in playbook.handlers for s in h.body]):
        if isinstance(step, Ask):
            pairs += [(step.question, choice.name) for choice in step.choices]
    return pairs


ANSWERS = [
    pytest.param(path, question, choice, id=f"{path.stem}-{question}={choice}")
    for path in SHIPPED
    for question, choice in _questions(load(path))
]


@pytest.mark.parametrize(("path", "question", "choice"), ANSWERS)
async def test_every_answer_to_every_question(path: Path, question: str, choice: str) -> None:
    playbook = load(path)
    script = Script().answer(question, choice).close_ctas()
    # a nested question (asked only after an event) needs that event
    script.event(START + timedelta(days=12), "decision_maker_found")
    result = await simulate(playbook, script, nps__score=7)
    check_sane(result)
    asked = [r for r in result.requests("ask") if r.params.get("question") == question]
    if asked:
        assert result.timeline.answers.get(question) == choice


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
async def test_escalations_closed_and_timed_out(path: Path) -> None:
    playbook = load(path)
    if not any(isinstance(s, Escalate) for s in walk(playbook.body)):
        pytest.skip("no escalation")
    closed = await simulate(playbook, Script().close_ctas(), nps__score=3)
    timed_out = await simulate(playbook, Script(), nps__score=3)
    check_sane(closed)
    check_sane(timed_out)
    labels = [e.label for e in closed.timeline.done]
    timed_out_labels = [e.label for e in timed_out.timeline.done]
    if "CTA closed" in labels:
        assert "CTA not closed in time" in timed_out_labels


# --------------------------------------------------------------------------- renewal


@pytest.fixture(scope="module")
def renewal() -> Playbook:
    return load(ROOT / "playbooks" / "renewal.playbook")


def _day(result: SimulationResult, kind: str, n: int = 0) -> date:
    return result.requests(kind)[n].playbook_time.date()


async def test_renewal_asks_at_t140_and_quotes_at_t100(renewal: Playbook) -> None:
    result = await simulate(renewal, Script().answer("renewal_intent", "yes"))
    assert _day(result, "ask") == RENEWAL - timedelta(days=140)
    assert _day(result, "quote") == RENEWAL - timedelta(days=100)
    quote = next(e for e in result.timeline.done if e.kind == "quote")
    assert "organic_growth_licences=10" in quote.result


async def test_renewal_no_escalates_to_the_csm(renewal: Playbook) -> None:
    result = await simulate(renewal, Script().answer("renewal_intent", "no").close_ctas())
    escalation = result.requests("escalate")[0]
    assert escalation.params["owner_role"] == "csm"
    assert escalation.params["reason"] == "ACME Corp does not plan to renew"


async def test_renewal_renewed_event_completes(renewal: Playbook) -> None:
    script = Script().answer("renewal_intent", "yes")
    script.event(datetime(2027, 1, 15, 9, tzinfo=UTC), "renewed")
    result = await simulate(renewal, script)
    assert (result.timeline.status, result.timeline.outcome) == ("completed", "renewed")
    assert all(r.playbook_time.date() <= date(2027, 1, 15) for r, _ in result.actions)


async def test_renewal_moved_date_moves_the_survey(renewal: Playbook) -> None:
    script = Script().change_facts(
        START + timedelta(days=3), **{"subscription.renewal_date": "2027-05-01"}
    )
    result = await simulate(renewal, script)
    assert _day(result, "ask") == date(2027, 5, 1) - timedelta(days=140)
