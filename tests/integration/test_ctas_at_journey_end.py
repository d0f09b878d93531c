"""What becomes of a journey's open CTAs when it ends, on the real stack.

Three renewal journeys (the shipped playbook; two with a ``when the journey
ends:`` line added) run on a real worker at rehearsal speed, as in
``test_journey_e2e``: the customer answers, the journey reaches prospecting,
where the account's 110 devices on 100 licences open a CTA for sales, then the
CRM says "renewed". The default closes that CTA with the outcome as its note;
``keep open ctas`` keeps it open; ``hand open ctas to renewal_rep`` gives it to
the account's renewal rep. Each journey's timeline says what it did.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dsl.loader import load_playbook
from engine.contract import Timeline
from tests.integration.journey_checks import touched_account_id, wait_for, waiting_for
from tests.integration.test_activities_email import SECRET, seed_account, settings_for
from tests.integration.test_journey_e2e import DAY_BEFORE_T90, SPEED
from workers.adapters.links import LinkSigner
from workers.services import journeys
from workers.worker import WorkerOptions, build_worker

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DEVICES_CTA = "ACME Corp uses 110 devices on 100 licences"


def renewal_with(tmp_path: Path, line: str) -> Any:
    """The shipped renewal playbook with ``line`` added to its header."""
    text = (REPO / "playbooks" / "renewal.playbook").read_text()
    head = "    goal renewed when"
    assert head in text
    path = tmp_path / f"renewal_{abs(hash(line))}.playbook"
    path.write_text(text.replace(head, f"    {line}\n{head}", 1))
    return load_playbook(path, REPO / "playbooks" / "templates")


async def renew(client: Any, store: Any, smtp_sink: Any, playbook: Any, queue: str) -> Timeline:
    """A journey of ``playbook`` to prospecting (a CTA open), then renewed; its end."""
    account_id = await seed_account(store, account_id=touched_account_id(playbook))
    started = await journeys.start_journey(
        client, store, playbook, account_id, task_queue=queue, speed=SPEED, start_at=DAY_BEFORE_T90
    )
    journey_id = started.journey_id
    await wait_for(client, journey_id, waiting_for("answer to renewal_intent"), "the question")
    [survey] = smtp_sink.messages(to=f"rita.{account_id.lower()}")
    link = next(u for u in smtp_sink.read(survey.id).links if "/answer/" in u)
    answer = LinkSigner(SECRET).verify_answer(link.rsplit("/", 1)[1])
    await journeys.signal_journey(
        client,
        journey_id,
        "answer",
        {"question": answer.question, "choice": answer.choice, "contact_id": answer.contact_id},
    )
    await wait_for(client, journey_id, waiting_for("expansion_interest"), "prospecting")
    [opened] = await store.list_ctas(journey_id=journey_id, status="open")
    assert opened["reason"] == DEVICES_CTA
    await journeys.signal_journey(client, journey_id, "renewed", {"by": "crm"})
    final: Timeline = await client.get_workflow_handle(journey_id, result_type=Timeline).result()
    assert (final.status, final.outcome) == ("completed", "renewed")
    return final


async def test_a_renewed_journey_closes_keeps_or_hands_over_its_open_ctas(
    temporal_client: Any, store: Any, smtp_sink: Any, task_queue: str, tmp_path: Path
) -> None:
    closing = load_playbook(REPO / "playbooks" / "renewal.playbook")  # the default
    keeping = renewal_with(tmp_path, "when the journey ends: keep open ctas")
    handing = renewal_with(tmp_path, "when the journey ends: hand open ctas to renewal_rep")
    assert (closing.open_ctas_at_end, keeping.open_ctas_at_end) == ("close", "keep")
    settings = settings_for(smtp_sink.host, smtp_sink.port, tmp_path)
    worker, activities = build_worker(
        temporal_client, store, settings, WorkerOptions(task_queue=task_queue)
    )
    async with worker:
        closed, kept, handed = await asyncio.gather(
            *(
                renew(temporal_client, store, smtp_sink, playbook, task_queue)
                for playbook in (closing, keeping, handing)
            )
        )
    await activities.http.aclose()

    # The default: nothing left open; the outcome is the note.
    assert await store.list_ctas(journey_id=closed.journey_id, status="open") == []
    [row] = await store.list_ctas(journey_id=closed.journey_id)
    assert (row["reason"], row["status"]) == (DEVICES_CTA, "closed")
    assert (row["resolution"], row["closed_by"]) == ("journey completed: renewed", "journey")
    [entry] = [e for e in closed.done if e.label == "close open CTAs"]
    assert (entry.status, entry.result) == ("done", f"{row['id']} closed")

    # keep: still open, and the timeline has nothing to say about it.
    [row] = await store.list_ctas(journey_id=kept.journey_id, status="open")
    assert row["reason"] == DEVICES_CTA
    assert not [e for e in kept.done if "open CTAs" in e.label]

    # hand: open, now the account's renewal rep's.
    [row] = await store.list_ctas(journey_id=handed.journey_id, status="open")
    assert (row["owner_role"], row["owner"]) == ("renewal_rep", "ren@example.com")
    [entry] = [e for e in handed.done if e.label == "hand open CTAs to renewal_rep"]
    assert entry.result == f"{row['id']} handed to ren@example.com"
