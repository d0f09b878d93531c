"""The chaos run's duplicate count: a copy explained by the email adapter's one
documented window (the worker killed between the SMTP server's acceptance and the
``sent`` mark) is shown apart and does not fail the run; any other copy does."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.chaos.figures import SMTP_WINDOW_S, Figures, Sink, Verdict
from workers.adapters.email import message_id_for

KEY = "renewal:A1/intent_survey.ask.renewal_intent/0"


def sink_with_copies(*times: datetime) -> Sink:
    sink = Sink()
    message_id = message_id_for(KEY)
    sink[message_id] = len(times)
    sink.times[message_id] = list(times)
    return sink


def figures(fault_line: str) -> Figures:
    first = datetime(2026, 12, 5, 7, 20, 54, 538000, tzinfo=UTC)
    later = datetime(2026, 12, 5, 7, 21, 22, 161000, tzinfo=UTC)
    verdict = Verdict("renewal:A1", "renewal", "completed", twice=[KEY])
    return Figures([verdict], {}, sink_with_copies(first, later), [fault_line])


def test_a_copy_after_a_kill_just_after_acceptance_is_the_smtp_window() -> None:
    found = figures("07:20:54.544  129.8s  worker SIGKILL #7")
    assert found.values()["sent twice"] == 0
    assert found.values()["sent twice, SMTP window"] == 1
    assert not found.bad()
    assert any("sent twice, SMTP window" in line for line in found.report())


def test_any_other_copy_fails_the_run() -> None:
    late = f"07:20:54.{538 + int(SMTP_WINDOW_S * 1000) + 5:03d}  129.8s  worker SIGKILL #7"
    for line in (late, "07:20:54.500  129.8s  worker SIGKILL #7", "07:20:54.540  Postgres killed"):
        found = figures(line)
        assert found.values()["sent twice"] == 1, line
        assert found.values()["sent twice, SMTP window"] == 0, line
        assert found.bad(), line
