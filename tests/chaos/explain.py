"""One journey of a kept chaos run, side by side with its simulation, in the order
each recorded its steps, with the signals as the oracle delivers them.

    python -m tests.chaos.explain STATE_DIR JOURNEY_ID
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from engine.contract import Timeline
from tests.chaos.compare import compare, show_entry
from tests.chaos.feed import deliveries
from tests.chaos.history import read_history
from tests.chaos.oracle import RUN_TO_END, simulate
from tests.chaos.stack import ChaosStack


async def explain(state_dir: Path, journey_id: str) -> None:
    from workers.services.connections import connect_temporal as connect

    stack = ChaosStack(state_dir.resolve())
    stack.temporal.start()
    try:
        await stack.start_postgres()
        await stack.wait_temporal()
        client = await connect(stack.settings())
        observed = json.loads((state_dir / "observed.json").read_text(encoding="utf-8"))
        status = observed["statuses"].get(journey_id)
        if status == "completed":
            handle = client.get_workflow_handle(journey_id, result_type=Timeline)
            real = await handle.result()
        else:
            real = Timeline.model_validate(observed["timelines"][journey_id])
        history = await read_history(client, journey_id)
        running = status == "running"
        given = deliveries(journey_id, real.done, history.signals, real.now, running)
        start = history.first_input.options.start_at  # type: ignore[union-attr]
        until = real.now if status == "running" else (real.now or start) + RUN_TO_END
        playbook = history.first_input.playbook  # type: ignore[union-attr]
        simulated, _ = await simulate(playbook, history, real, until, given)
        print(f"{journey_id}: {status}, {history.runs} run(s), {history.events} events")
        print("signals (history order):")
        for signal in history.signals:
            print(
                f"  {signal.received:%H:%M:%S.%f} {signal.name} {signal.payload} took={signal.took}"
            )
        print("deliveries:")
        for d in given:
            place = f"inside {sorted(d.running)}" if d.running else f"waiting, after {d.done} calls"
            print(f"  {d.at} {place}: {d.name} {d.payload}")
        print(
            "failed activities:",
            [(a.request.step_id, a.failure) for a in history.failed_activities()],
        )
        for name, timeline in (("real", real), ("simulation", simulated.timeline)):
            print(f"{name} ({timeline.status} {timeline.outcome}, now {timeline.now}):")
            for n, entry in enumerate(timeline.done):
                print(f"  {n:3d} {show_entry(entry)}")
            print(f"  waiting: {show_entry(timeline.waiting)}")
        difference = compare(real, simulated.timeline)
        print(difference.words() if difference else "no difference")
    finally:
        stack.down()


if __name__ == "__main__":
    asyncio.run(explain(Path(sys.argv[1]), sys.argv[2]))
