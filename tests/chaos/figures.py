"""The figures of a chaos run, journey by journey, and the report behind them.

For each journey: its real timeline against the oracle's simulation
(``tests.chaos.oracle``), its emails against the SMTP sink, its CTAs against the
store. Then one line per figure:

- ``differing from the simulation``: journeys whose steps, times or outcome part
  from the simulation's (or that could not be compared: no timeline);
- ``emails lost``: emails the simulation sent, or the real journey recorded as
  sent, that never reached the sink (a running journey: before its playbook time
  now);
- ``sent twice``: extra copies of one email (one Message-ID per idempotency key)
  in the sink, but for the one window the email adapter documents
  (``workers.adapters.email``): the worker killed after the SMTP server took the
  message and before the emails row could say so. A copy whose first one reached
  the sink at most ``SMTP_WINDOW_S`` before a worker SIGKILL is counted apart,
  in ``sent twice, SMTP window``, shown but not a failure of the run;
- ``CTAs twice``: CTAs a journey opened more often for one step and reason than
  its simulation did;
- ``stuck``: running journeys that made no progress although something was due
  (``tests.chaos.watch``);
- ``failed workflows``: journeys that failed, were terminated or timed out, or
  whose latest workflow task failed (a journey that cannot go on).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from engine.contract import Timeline
from tests.chaos.compare import Difference, canonical, compare, show_entry
from tests.chaos.feed import Delivery, deliveries
from tests.chaos.history import JourneyHistory, read_history
from tests.chaos.oracle import RUN_TO_END, simulate
from workers.adapters.email import message_id_for

FIGURES = (
    "journeys",
    "differing from the simulation",
    "emails lost",
    "sent twice",
    "sent twice, SMTP window",
    "CTAs twice",
    "stuck",
    "failed workflows",
)


@dataclass
class Verdict:
    """What the checks found for one journey."""

    journey_id: str
    playbook: str
    status: str
    difference: Difference | None = None
    lost: list[str] = field(default_factory=list)
    twice: list[str] = field(default_factory=list)
    twice_in_window: list[str] = field(default_factory=list)  # see SMTP_WINDOW_S
    ctas_twice: list[str] = field(default_factory=list)
    failed: str = ""
    stuck: str = ""
    notes: list[str] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    tamper_caught: bool | None = None  # the self-check's verdict, when this one was tampered
    runs: int = 1  # Temporal runs (continue-as-new)
    troubled_calls: int = 0  # action calls with a round that failed or timed out
    signals: int = 0


class Sink(Counter[str]):
    """How often each Message-ID reached the sink, and when (UTC, wall time)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: dict[str, list[datetime]] = {}


def read_sink(maildir: Path) -> Sink:
    """Every message the sink kept, by Message-ID."""
    seen = Sink()
    parser = BytesParser(policy=policy.default)
    for sub in ("new", "cur"):
        folder = maildir / sub
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.count(".") < 2:
                continue
            with path.open("rb") as handle:
                headers = parser.parse(handle, headersonly=True)
            message_id = str(headers.get("Message-ID", ""))
            seen[message_id] += 1
            received = datetime.fromtimestamp(int(path.name.split(".")[0]) / 1e9, UTC)
            seen.times.setdefault(message_id, []).append(received)
    return seen


async def check_journey(
    client: Any,
    journey_id: str,
    status: str,
    timeline: Timeline | None,
    sink: Sink,
    cta_rows: list[dict[str, Any]],
    tamper: bool = False,
) -> Verdict:
    history = await read_history(client, journey_id)
    playbook = history.first_input.playbook if history.first_input else None
    verdict = Verdict(journey_id, playbook.name if playbook else "?", status)
    verdict.runs, verdict.signals = history.runs, len(history.signals)
    verdict.troubled_calls = len(history.failed_activities())
    if status in ("failed", "terminated", "timed_out", "canceled"):
        verdict.failed = f"the workflow {status}"
    elif history.last_task == "failed":
        verdict.failed = f"its workflow task fails: {history.task_failures[-1]}"
    if history.task_failures:
        verdict.notes.append(
            f"{len(history.task_failures)} failed workflow tasks, e.g. {history.task_failures[0]}"
        )
    failed_activities = history.failed_activities()
    if failed_activities:
        kinds = Counter(t.split(":")[0] for a in failed_activities for t in a.troubles)
        verdict.notes.append(f"activities failed or timed out: {dict(kinds)}")
    if timeline is None or playbook is None or history.first_facts is None:
        verdict.difference = Difference(
            journey_id, 0, f"not compared: no timeline ({status})", "-", "-"
        )
        return verdict
    running = timeline.status == "running" and status == "running"
    if running and timeline.now is not None:
        until = timeline.now
    else:
        until = (timeline.now or history.first_input.options.start_at) + RUN_TO_END  # type: ignore[union-attr, operator]
    given = deliveries(journey_id, timeline.done, history.signals, timeline.now, running)
    simulated, _world = await simulate(playbook, history, timeline, until, given)
    verdict.difference = compare(timeline, simulated.timeline)
    if verdict.difference is not None:
        verdict.context = _context(timeline, simulated.timeline, verdict.difference.index)
    if history.runs > 1 and len(timeline.done) >= 200:
        verdict.notes.append("timeline truncated by continue-as-new: compared as it is")
    _emails(verdict, history, simulated, timeline if running else None, sink)
    _ctas(verdict, simulated, cta_rows)
    wrong = _tampered(given, journey_id) if tamper else None
    if wrong is not None:
        again, _ = await simulate(playbook, history, timeline, until, wrong)
        verdict.tamper_caught = compare(timeline, again.timeline) is not None
    return verdict


def _emails(
    verdict: Verdict,
    history: JourneyHistory,
    simulated: Any,
    running: Timeline | None,
    sink: Sink,
) -> None:
    horizon = running.now if running is not None else None
    expected = {
        request.idempotency_key
        for request, result in simulated.actions
        if request.kind in ("send", "ask")
        and result.status == "done"
        and (horizon is None or request.playbook_time < horizon)
    }
    recorded = {
        request.idempotency_key
        for kind in ("send", "ask")
        for request, result in history.completed(kind)
        if result.status == "done"
    }
    for key in sorted(expected | recorded):
        copies = sink.get(message_id_for(key), 0)
        if copies == 0:
            verdict.lost.append(key)
        elif copies > 1:
            verdict.twice.extend([key] * (copies - 1))


def _ctas(verdict: Verdict, simulated: Any, rows: list[dict[str, Any]]) -> None:
    real = Counter((r["step_id"], r["reason"]) for r in rows)
    expected = Counter(
        (request.step_id, request.params.get("reason", ""))
        for request, result in simulated.actions
        if request.kind in ("cta", "escalate") and result.status == "done"
    )
    for (step_id, reason), count in real.items():
        extra = count - max(1, expected.get((step_id, reason), 0))
        verdict.ctas_twice.extend([f"{step_id}: {reason[:80]}"] * max(0, extra))


def _tampered(given: list[Delivery], journey_id: str) -> list[Delivery] | None:
    """The same signals less one the real timeline shows (an answer, a CTA close, a
    CRM event): the oracle must see that the world was not the same."""
    traced = [d for d in given if d.traced]
    if not traced:
        return None
    dropped = random.Random(journey_id).choice(traced)
    return [d for d in given if d is not dropped]


def _context(real: Timeline, simulated: Timeline, index: int) -> list[str]:
    lines = []
    for name, entries in (
        ("real", canonical(real.done)),
        ("simulation", canonical(simulated.done)),
    ):
        lines.append(f"    {name} entries {max(0, index - 3)}..{index + 3}:")
        for n in range(max(0, index - 3), min(len(entries), index + 4)):
            mark = ">" if n == index else " "
            lines.append(f"     {mark}{n:3d} {show_entry(entries[n])}")
        if name == "real" and real.waiting is not None:
            lines.append(f"       waiting: {show_entry(real.waiting)}")
    return lines


# How long after the SMTP server took a message a worker SIGKILL still falls in the
# window between that acceptance and the emails row saying ``sent`` (an UPDATE on
# a busy 2-core machine: a few milliseconds; generous on purpose).
SMTP_WINDOW_S = 0.05
# Figures a run shows without failing on them.
SHOWN_ONLY = ("journeys", "sent twice, SMTP window")


def _clock(line: str) -> datetime | None:
    """The time of day a faults.log line starts with, on day 1 (compared by time)."""
    try:
        return datetime.strptime(line[:12], "%H:%M:%S.%f")
    except ValueError:
        return None


def _of_day(at: datetime) -> datetime:
    return datetime(1900, 1, 1, at.hour, at.minute, at.second, at.microsecond)


@dataclass
class Figures:
    verdicts: list[Verdict]
    stuck: dict[str, str]
    sink: Sink = field(default_factory=Sink)
    faults: list[str] = field(default_factory=list)  # faults.log: "HH:MM:SS.mmm  t  what"

    def __post_init__(self) -> None:
        for verdict in self.verdicts:
            verdict.stuck = self.stuck.get(verdict.journey_id, "")
            in_window = [key for key in verdict.twice if self._in_smtp_window(key)]
            for key in in_window:
                verdict.twice.remove(key)
            verdict.twice_in_window.extend(in_window)

    def _in_smtp_window(self, key: str) -> bool:
        """Whether the first copy of ``key`` reached the sink just before a worker
        SIGKILL (the documented at-least-once window)."""
        times = sorted(self.sink.times.get(message_id_for(key), []))
        if not times:
            return False
        first = _of_day(times[0])
        kills = [at for line in self.faults if "worker SIGKILL" in line if (at := _clock(line))]
        return any(0 <= (kill - first).total_seconds() <= SMTP_WINDOW_S for kill in kills)

    def values(self) -> dict[str, int]:
        v = self.verdicts
        return {
            "journeys": len(v),
            "differing from the simulation": sum(1 for x in v if x.difference is not None),
            "emails lost": sum(len(x.lost) for x in v),
            "sent twice": sum(len(x.twice) for x in v),
            "sent twice, SMTP window": sum(len(x.twice_in_window) for x in v),
            "CTAs twice": sum(len(x.ctas_twice) for x in v),
            "stuck": sum(1 for x in v if x.stuck),
            "failed workflows": sum(1 for x in v if x.failed),
        }

    def lines(self) -> list[str]:
        return [f"{name:31} {value}" for name, value in self.values().items()]

    def bad(self) -> bool:
        return any(value for name, value in self.values().items() if name not in SHOWN_ONLY)

    def _when(self, key: str) -> str:
        """When the copies of an email came, and the faults about then."""
        times = sorted(self.sink.times.get(message_id_for(key), []))
        if not times:
            return ""
        copies = ", ".join(f"{t:%H:%M:%S.%f}"[:-3] for t in times)
        near = []
        for line in self.faults:
            try:
                at = datetime.strptime(line[:12], "%H:%M:%S.%f").time()
            except ValueError:
                continue
            seconds = [abs((t - t.replace(hour=at.hour, minute=at.minute, second=at.second,
                        microsecond=at.microsecond)).total_seconds()) for t in times]  # fmt: skip
            if min(seconds) <= 5:
                near.append(line.strip())
        faults = f"; faults within 5 s: {' | '.join(near)}" if near else ""
        return f" (copies received {copies} UTC{faults})"

    def report(self) -> list[str]:
        """Everything behind the figures, journey by journey."""
        out: list[str] = []
        for verdict in sorted(self.verdicts, key=lambda x: x.journey_id):
            problems = []
            if verdict.difference is not None:
                problems.append(verdict.difference.words())
                problems.extend(verdict.context)
            if verdict.lost:
                problems.append(f"  emails lost: {', '.join(verdict.lost)}")
            for key in verdict.twice:
                problems.append(f"  sent twice: {key}{self._when(key)}")
            for key in verdict.twice_in_window:
                problems.append(f"  sent twice, SMTP window: {key}{self._when(key)}")
            if verdict.ctas_twice:
                problems.append(f"  CTAs twice: {'; '.join(verdict.ctas_twice)}")
            if verdict.stuck:
                problems.append(f"  stuck: {verdict.stuck}")
            if verdict.failed:
                problems.append(f"  failed: {verdict.failed}")
            if problems:
                out.append(f"== {verdict.journey_id} ({verdict.playbook}, {verdict.status})")
                out.extend(problems)
                out.extend(f"  note: {note}" for note in verdict.notes)
        return out
