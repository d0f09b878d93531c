"""``when the journey ends: close|keep open ctas`` / ``hand open ctas to OWNER``:
parsed, checked, compiled into the IR (the default left out of the version),
formatted, drawn and simulated. The real stack: tests/integration/test_ctas_at_journey_end.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from dsl.formatter import format_text
from dsl.graph import to_mermaid
from dsl.loader import check_text
from engine.simulation import Script, run_simulation
from tests.unit.engine_playbooks import account_facts

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"

HEAD = """playbook tiny:
    title "Tiny"
    journey id "tiny:{account.id}"
    goal done
"""
BODY = """
    step call:
        create cta for csm, priority medium, due in 3 days, reason "Call them"
        wait 3 days
        achieve done
"""


def compiled(line: str = ""):  # noqa: ANN201 - dsl.ir.Playbook
    playbook, diagnostics = check_text(HEAD + line + BODY, "tiny.playbook", None, PLAYBOOKS)
    assert playbook is not None, "\n".join(d.headline() for d in diagnostics)
    return playbook


@pytest.mark.parametrize(
    ("line", "how", "owner"),
    [
        ("", "close", ""),
        ("    when the journey ends: close open ctas\n", "close", ""),
        ("    when the journey ends: keep open ctas\n", "keep", ""),
        ("    when the journey ends: hand open ctas to renewal_rep\n", "hand", "renewal_rep"),
    ],
)
def test_each_form_compiles_into_the_ir(line: str, how: str, owner: str) -> None:
    playbook = compiled(line)
    assert (playbook.open_ctas_at_end, playbook.open_ctas_owner) == (how, owner)
    if owner:  # where the handed CTAs go is pinned like any CTA owner's
        assert playbook.owner_route(owner) is not None


def test_the_default_written_out_is_the_same_version() -> None:
    assert (
        compiled().version() == compiled("    when the journey ends: close open ctas\n").version()
    )
    assert compiled().version() != compiled("    when the journey ends: keep open ctas\n").version()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("    when the journey ends: hand open ctas to nobody\n", "unknown owner role nobody"),
        ("    when the journey ends: keep ctas\n", "unexpected `ctas`"),
        (
            "    when the journey ends: keep open ctas\n"
            "    when the journey ends: close open ctas\n",
            "`when the journey ends` given twice",
        ),
    ],
)
def test_mistakes_are_reported(line: str, message: str) -> None:
    playbook, diagnostics = check_text(HEAD + line + BODY, "tiny.playbook", None, PLAYBOOKS)
    assert playbook is None
    assert any(message in d.headline() for d in diagnostics), [d.headline() for d in diagnostics]


def test_fmt_puts_it_after_the_header_and_keeps_it() -> None:
    written = HEAD.replace("    goal done\n", "") + (
        "    when   the journey ends :  hand open ctas to  csm\n    goal done\n" + BODY
    )
    formatted, diagnostics = format_text(written)
    assert formatted is not None, diagnostics
    lines = formatted.splitlines()
    assert "    when the journey ends: hand open ctas to csm" in lines
    assert lines.index("    goal done") < lines.index(
        "    when the journey ends: hand open ctas to csm"
    )
    assert format_text(formatted)[0] == formatted


@pytest.mark.parametrize(
    ("line", "drawn"),
    [
        ("", "when the journey ends: close open CTAs #40;note: the outcome#41;"),
        ("    when the journey ends: keep open ctas\n", "when the journey ends: keep open CTAs"),
        ("    when the journey ends: hand open ctas to tam\n", "hand open CTAs to tam"),
    ],
)
def test_graph_draws_it(line: str, drawn: str) -> None:
    assert drawn in to_mermaid(compiled(line))


@pytest.mark.parametrize(
    ("line", "label"),
    [("", "close open CTAs"), ("    when the journey ends: hand open ctas to sales\n", None)],
)
async def test_simulate_shows_it_in_the_timeline(line: str, label: str | None) -> None:
    playbook = compiled(line)
    start = datetime(2027, 1, 4, 9, tzinfo=UTC)
    result = await run_simulation(playbook, account_facts(), Script(), start=start)
    entries = [(e.label, e.result) for e in result.timeline.done if "open CTAs" in e.label]
    assert entries == [(label or "hand open CTAs to sales", "CTA-1")]


async def test_simulate_settles_nothing_the_journey_closed_or_never_opened() -> None:
    playbook = compiled("    when the journey ends: close open ctas\n")
    start = datetime(2027, 1, 4, 9, tzinfo=UTC)
    keeping = compiled("    when the journey ends: keep open ctas\n")
    kept = await run_simulation(keeping, account_facts(), Script(), start=start)
    assert not [e for e in kept.timeline.done if "open CTAs" in e.label]
    closed = await run_simulation(
        playbook,
        account_facts(),
        Script().event(datetime(2027, 1, 5, 9, tzinfo=UTC), "cta_closed", cta_id="CTA-1"),
        start=start,
    )
    assert [(e.label, e.result) for e in closed.timeline.done if "open CTAs" in e.label] == [
        ("close open CTAs", "none open")
    ]


def test_diff_says_what_changed() -> None:
    from dsl.diff import diff_playbooks

    changes = diff_playbooks(compiled(), compiled("    when the journey ends: keep open ctas\n"))
    assert "when the journey ends: keep open CTAs, not close open CTAs (note: the outcome)" in str(
        changes
    )
