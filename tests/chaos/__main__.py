"""``make chaos``: the fault run. See ``tests/chaos/__init__.py``.

python -m tests.chaos [--journeys 300] [--speed 86400] [--run-seconds 330]
                      [--faults worker,smtp,postgres,temporal | --no-faults]
                      [--kills 12] [--smtp-outage 75] [--tamper 20] [--keep]
python -m tests.chaos --recheck STATE_DIR   # the checks again, on a kept run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.chaos import book
from tests.chaos.faults import KINDS, Faults
from tests.chaos.figures import Figures, check_journey, read_sink
from tests.chaos.script import World
from tests.chaos.stack import TASK_QUEUE, ChaosStack
from tests.chaos.watch import Watch

WATCH_ROUNDS = 4
WATCH_EVERY = 10.0
OBSERVED = "observed.json"  # what the run saw at its end, for --recheck


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--journeys", type=int, default=300, help="accounts, one journey each")
    parser.add_argument("--speed", type=float, default=86400.0, help="playbook s per real s")
    parser.add_argument("--run-seconds", type=float, default=330.0, help="journeys run this long")
    parser.add_argument("--quiet-tail", type=float, default=90.0, help="last seconds: no faults")
    parser.add_argument("--faults", default=",".join(KINDS), help="which faults, comma separated")
    parser.add_argument("--no-faults", action="store_true", help="the same run with no fault")
    parser.add_argument("--kills", type=int, default=12, help="worker SIGKILLs")
    parser.add_argument("--smtp-outage", type=float, default=75.0, help="seconds the sink is down")
    parser.add_argument("--concurrency", type=int, default=20, help="the worker's activities")
    parser.add_argument("--tamper", type=int, default=20, help="journeys fed a wrong signal")
    parser.add_argument("--keep", action="store_true", help="keep the state directory")
    parser.add_argument("--recheck", type=Path, help="check a kept run's state directory again")
    args = parser.parse_args(argv)
    kinds = set() if args.no_faults else {k for k in args.faults.split(",") if k}
    unknown = kinds - set(KINDS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))} (known: {', '.join(KINDS)})")
    args.kinds = kinds
    return args


def say(text: str) -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------- the run


async def run(args: argparse.Namespace, stack: ChaosStack) -> int:
    from workers.adapters.links import LinkSigner
    from workers.adapters.store import Store
    from workers.services.connections import connect_temporal as connect

    began = time.monotonic()
    playbooks = book.compile_playbooks()
    window = max(book.retry_window(p) for p in playbooks.values())
    shipped = [book.shipped_retry_window(name) for name in playbooks]
    say(
        f"playbooks compiled with activity retries {book.CHAOS_RETRY} (backoff as shipped) "
        f"and timeouts of {book.CHAOS_TIMEOUT}: retry window {window:.0f} s "
        f"(shipped: {min(shipped):.0f}-{max(shipped):.0f} s)"
    )
    if "smtp" in args.kinds and args.smtp_outage <= window:
        say("warning: the SMTP outage is not longer than the retry window")
    await stack.up()
    say(f"stack up in {time.monotonic() - began:.0f} s: state in {stack.state_dir}")
    store = await Store.connect(stack.dsn, min_size=0, max_size=8)
    client = await connect(stack.settings())
    seeded = await book.seed_book(store, args.journeys)
    started = await book.start_all(
        client, store, playbooks, book.assign(seeded), task_queue=TASK_QUEUE, speed=args.speed
    )
    mix = Counter(s.enrolment.playbook for s in started)
    say(
        f"started {len(started)} journeys at speed {args.speed:.0f} "
        f"({', '.join(f'{n} {name}' for name, n in sorted(mix.items()))})"
    )

    async def store_source() -> Any:
        return store

    world = World(
        started=started,
        base_url=stack.base_url,
        maildir=stack.maildir,
        webhook_secret=stack.webhook_secret,
        signer=LinkSigner(stack.link_secret),
        store=store_source,
        client=client,
        speed=args.speed,
        log=stack.state_dir / "world.log",
    )
    fault_log = stack.state_dir / "faults.log"

    def log_fault(line: str) -> None:
        wall = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        say(f"  fault {wall} {line}")
        with fault_log.open("a", encoding="utf-8") as out:
            out.write(f"{wall} {line}\n")

    window_s = max(0.0, args.run_seconds - args.quiet_tail)
    faults = Faults(stack, args.kinds, window_s, args.kills, args.smtp_outage, log_fault)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(world.run(stop)), asyncio.create_task(faults.run(stop))]
    await asyncio.sleep(args.run_seconds)
    stop.set()
    for task, what in zip(tasks, ("the world", "the faults"), strict=True):
        error = (await asyncio.gather(task, return_exceptions=True))[0]
        if isinstance(error, BaseException):
            raise RuntimeError(f"{what} stopped: {type(error).__name__}: {error}") from error
    say(f"world: {world.summary()}")
    if faults.unplanned:
        say(f"unplanned exits: {'; '.join(faults.unplanned)}")
    await _all_up(stack, faults)

    ids = [s.journey_id for s in started]
    watch = Watch(ids, args.speed)
    for n in range(WATCH_ROUNDS):
        await watch.round(client)
        if n + 1 < WATCH_ROUNDS:
            await asyncio.sleep(WATCH_EVERY)
    stuck = watch.stuck()
    stack.worker.stop()  # nothing moves any more: histories and timelines agree
    await watch.round(client, query=False)
    _save(stack.state_dir, ids, watch, stuck)
    code = await check(client, store, stack.maildir, stack.state_dir, args.tamper)
    say(f"run took {time.monotonic() - began:.0f} s")
    await store.close()
    return code


async def _all_up(stack: ChaosStack, faults: Faults) -> None:
    """Every part up again before the journeys are watched."""
    if not stack.smtp.alive:
        stack.smtp.start()
    if stack.postgres.running_pid() is None:
        await stack.start_postgres()
    if not stack.temporal.alive:
        stack.temporal.start()
        await stack.wait_temporal()
    if not stack.web.alive:
        stack.web.start()
    await faults.start_worker()


def _save(state_dir: Path, ids: list[str], watch: Watch, stuck: dict[str, str]) -> None:
    observed = {
        "journeys": ids,
        "statuses": watch.statuses,
        "timelines": {jid: t.model_dump(mode="json") for jid, t in watch.timelines.items()},
        "stuck": stuck,
    }
    (state_dir / OBSERVED).write_text(json.dumps(observed), encoding="utf-8")


# --------------------------------------------------------------------------- the checks


async def check(client: Any, store: Any, maildir: Path, state_dir: Path, tamper: int) -> int:
    """Every journey against its simulation; prints the figures; the exit status."""
    from engine.contract import Timeline

    observed = json.loads((state_dir / OBSERVED).read_text(encoding="utf-8"))
    ids: list[str] = observed["journeys"]
    timelines = {j: Timeline.model_validate(t) for j, t in observed["timelines"].items()}
    sink = read_sink(maildir)
    fault_log = state_dir / "faults.log"
    faults = fault_log.read_text(encoding="utf-8").splitlines() if fault_log.exists() else []
    ctas: dict[str, list[dict[str, Any]]] = {}
    for row in await store.pool.fetch("SELECT * FROM ctas"):
        ctas.setdefault(row["journey_id"], []).append(dict(row))
    tampered = set(sorted(ids, key=lambda j: book.digest(j, "tamper"))[:tamper])
    verdicts = []
    for journey_id in ids:
        status = observed["statuses"].get(journey_id, "unknown")
        timeline = timelines.get(journey_id)
        if status == "completed":
            timeline = await _result(client, journey_id)
        verdict = await check_journey(
            client,
            journey_id,
            status,
            timeline,
            sink,
            ctas.get(journey_id, []),
            tamper=journey_id in tampered,
        )
        verdicts.append(verdict)
    figures = Figures(verdicts, observed["stuck"], sink, faults)
    statuses = Counter(v.status for v in verdicts)
    say(f"journeys by status: {', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}")
    say(
        f"what the journeys met: {sum(v.troubled_calls for v in verdicts)} action calls "
        f"retried after a failed or timed-out round, {sum(v.signals for v in verdicts)} "
        f"signals, {sum(1 for v in verdicts if v.runs > 1)} journeys continued as new"
    )
    tried = [v for v in verdicts if v.tamper_caught is not None]
    if tried:
        caught = sum(1 for v in tried if v.tamper_caught)
        say(f"oracle self-check: {caught} of {len(tried)} journeys fed one signal less differ")
    lines = figures.report()
    report = state_dir / "chaos-report.txt"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for verdict in [v for v in verdicts if v.difference is not None][:15]:
        assert verdict.difference is not None
        say(verdict.difference.words())
    if lines:
        say(f"every problem, with context: {report}")
    for line in figures.lines():
        say(line)
    return 1 if figures.bad() else 0


async def _result(client: Any, journey_id: str) -> Any:
    from engine.contract import Timeline

    try:
        return await client.get_workflow_handle(journey_id, result_type=Timeline).result()
    except Exception:
        return None


async def recheck(args: argparse.Namespace) -> int:
    """The checks again on a kept state directory: its Temporal and Postgres only."""
    from workers.adapters.store import Store
    from workers.services.connections import connect_temporal as connect

    stack = ChaosStack(args.recheck.resolve())
    stack.temporal.start()
    try:
        await stack.start_postgres()
        await stack.wait_temporal()
        store = await Store.connect(stack.dsn, min_size=0, max_size=4)
        client = await connect(stack.settings())
        try:
            return await check(client, store, stack.maildir, stack.state_dir, args.tamper)
        finally:
            await store.close()
    finally:
        stack.down()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    if args.recheck:
        return asyncio.run(recheck(args))
    stack = ChaosStack.in_temp_dir(worker_concurrency=args.concurrency)
    code = 2
    try:
        code = asyncio.run(run(args, stack))
    except KeyboardInterrupt:
        say("interrupted")
    except Exception as error:
        say(f"chaos run failed: {type(error).__name__}: {error}")
        raise
    finally:
        stack.down()
        if code == 0 and not args.keep:
            stack.remove()
        else:
            say(f"state kept in {stack.state_dir} (logs/, world.log, faults.log, chaos-report.txt)")
    return code


if __name__ == "__main__":
    sys.exit(main())
