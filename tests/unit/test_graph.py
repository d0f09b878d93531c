"""``playbook graph``: the Mermaid flowchart drawn from a compiled playbook."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import authoring
from dsl import ir
from dsl.graph import escape_label, node_id, to_mermaid
from dsl.loader import load_playbook

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "playbooks").glob("*.playbook"))

NODE = re.compile(r'^    (\w+)(\(\(\(|\(\[|\[\[|\[/|\{\{|\[|\{|>)"([^"]*)"')
EDGE = re.compile(r'^    (\w+) (-->|-\.->)(?:\|"([^"]*)"\|)? (\w+)$')


class Chart:
    """The nodes and edges of a Mermaid flowchart, read back from its text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.nodes: dict[str, tuple[str, str]] = {}
        self.edges: list[tuple[str, str, str, str]] = []
        for line in text.splitlines():
            if edge := EDGE.match(line):
                src, arrow, label, dst = edge.groups()
                self.edges.append((src, dst, label or "", arrow))
            elif node := NODE.match(line):
                name, shape, label = node.groups()
                assert name not in self.nodes, f"node {name} defined twice"
                self.nodes[name] = (shape, label)

    def labels_from(self, src: str) -> set[str]:
        return {label for s, _, label, _ in self.edges if s == src}


def charts() -> list[tuple[ir.Playbook, Chart]]:
    return [(load_playbook(path), Chart(to_mermaid(load_playbook(path)))) for path in SHIPPED]


@pytest.fixture(scope="module", params=SHIPPED, ids=lambda p: p.stem)
def drawn(request: pytest.FixtureRequest) -> tuple[ir.Playbook, Chart]:
    playbook = load_playbook(request.param)
    return playbook, Chart(to_mermaid(playbook))


def _drawn_steps(playbook: ir.Playbook) -> list[ir.Step]:
    """Every step the chart draws: a block's own `at` wait is part of its header node."""
    whens = {id(step.when) for step in ir.walk(playbook.body) if isinstance(step, ir.Block)}
    handler_steps = [s for handler in playbook.handlers for s in ir.walk(handler.body)]
    return [s for s in ir.walk(playbook.body) if id(s) not in whens] + handler_steps


def test_is_a_top_down_flowchart(drawn: tuple[ir.Playbook, Chart]) -> None:
    _, chart = drawn
    assert chart.text.startswith("flowchart TD\n")
    assert chart.text.count("subgraph ") == chart.text.count("\n    end\n")


def test_every_step_has_a_node(drawn: tuple[ir.Playbook, Chart]) -> None:
    playbook, chart = drawn
    for step in _drawn_steps(playbook):
        assert node_id(step.id) in chart.nodes, step.id


def test_every_edge_joins_drawn_nodes(drawn: tuple[ir.Playbook, Chart]) -> None:
    _, chart = drawn
    assert chart.edges
    for src, dst, _, _ in chart.edges:
        assert src in chart.nodes and dst in chart.nodes, (src, dst)


def test_every_node_but_the_start_and_handlers_is_reached(
    drawn: tuple[ir.Playbook, Chart],
) -> None:
    playbook, chart = drawn
    targets = {dst for _, dst, _, _ in chart.edges}
    entry_points = {"start"} | {node_id(h.id) for h in playbook.handlers}
    # Rules and what becomes of open CTAs hold whenever the journey ends: no edge in.
    rules = {n for n in chart.nodes if n.startswith(("goal_", "exit_", "open_ctas"))}
    assert set(chart.nodes) - targets - entry_points - rules == set()


def test_decisions_label_their_edges(drawn: tuple[ir.Playbook, Chart]) -> None:
    playbook, chart = drawn
    for step in _drawn_steps(playbook):
        name = node_id(step.id)
        labels = chart.labels_from(name)
        if isinstance(step, ir.Match):
            assert chart.nodes[name][0] == "{"
            for case in step.cases:
                assert escape_label(", ".join(case.values)) in labels
            if step.no_answer is not None:
                assert "no answer" in labels
            if step.otherwise is not None or step.subject_kind == "fact":
                assert "otherwise" in labels
            else:
                assert "otherwise" not in labels
        elif isinstance(step, ir.If):
            assert chart.nodes[name][0] == "{"
            assert {"yes", "no"} <= labels
        elif isinstance(step, ir.WaitEvent) and step.timeout is not None:
            assert {"received", "timed out"} <= labels
        elif isinstance(step, ir.Escalate):
            assert "closed" in labels
            if step.on_timeout:
                assert "not closed" in labels


def test_loops_have_a_back_edge_and_parallels_fork_and_join(
    drawn: tuple[ir.Playbook, Chart],
) -> None:
    playbook, chart = drawn
    for step in _drawn_steps(playbook):
        name = node_id(step.id)
        if isinstance(step, ir.Repeat):
            back = [e for e in chart.edges if e[1] == name and e[3] == "-.->"]
            assert back, f"no back edge into {name}"
            assert "done" in chart.labels_from(name)
        if isinstance(step, ir.Parallel):
            assert {b.name for b in step.branches} <= chart.labels_from(name)
            join = f"{name}_join"
            assert join in chart.nodes
            assert sum(1 for e in chart.edges if e[1] == join) >= len(step.branches)


def test_stop_and_achieve_are_terminal(drawn: tuple[ir.Playbook, Chart]) -> None:
    playbook, chart = drawn
    for step in _drawn_steps(playbook):
        if isinstance(step, ir.Stop | ir.Goal):
            name = node_id(step.id)
            assert chart.nodes[name][0] == "((("
            assert chart.labels_from(name) == set()


def test_event_handlers_are_drawn_apart(drawn: tuple[ir.Playbook, Chart]) -> None:
    playbook, chart = drawn
    handlers = chart.text.split("subgraph handlers", 1)[1].split("\n    end\n", 1)[0]
    for handler in playbook.handlers:
        assert f"    {node_id(handler.id)}>" in handlers
        assert chart.nodes[node_id(handler.id)][1] == f"on event {handler.event}"


def test_the_renewal_chart_reads_like_the_process() -> None:
    chart = Chart(to_mermaid(load_playbook(ROOT / "playbooks" / "renewal.playbook")))
    labels = [label for _, label in chart.nodes.values()]
    assert "T-140 step intent_survey: Will you renew?" in labels
    assert "T-45 step reminder" in labels
    assert "T+1 step past_due: Past due" in labels
    assert "ask renewal_intent to renewal_contact, wait up to 14 days" in labels
    assert "match arm statement_cadence" in labels
    assert any(label.startswith("every 7 days until subscription.status ==") for label in labels)
    edge_labels = {label for _, _, label, _ in chart.edges}
    assert {"yes", "no", "not_decision_maker", "no answer", "already past: skip"} <= edge_labels
    assert "skip to" not in chart.text  # renewal has no skip handler
    version_chart = Chart(
        to_mermaid(load_playbook(ROOT / "playbooks" / "version_currency.playbook"))
    )
    assert any(label == "skip to confirm" for _, _, label, _ in version_chart.edges)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ('say "hi"', "say #quot;hi#quot;"),
        ("a [b] (c) {d}", "a #91;b#93; #40;c#41; #123;d#125;"),
        ("x < 2 | y > 3 & #z", "x #lt; 2 #124; y #gt; 3 #amp; #35;z"),
        ("one\n  two", "one two"),
    ],
)
def test_labels_are_escaped(text: str, escaped: str) -> None:
    assert escape_label(text) == escaped


def test_long_labels_are_shortened() -> None:
    assert escape_label("x" * 200).endswith("…")
    assert len(escape_label("x" * 200)) <= 70


# --------------------------------------------------------------------------- the CLI


def cli() -> typer.Typer:
    app = typer.Typer()
    authoring.register(app)
    return app


def test_graph_command_prints_mermaid(tmp_path: Path) -> None:
    path = ROOT / "playbooks" / "nps_followup.playbook"
    result = CliRunner().invoke(cli(), ["graph", str(path), "--format", "mermaid"])
    assert result.exit_code == 0, result.output
    assert result.output == to_mermaid(load_playbook(path))

    out = tmp_path / "nps.mmd"
    result = CliRunner().invoke(cli(), ["graph", str(path), "-o", str(out)])
    assert result.exit_code == 0
    assert out.read_text().startswith("flowchart TD\n")


def test_graph_command_reports_errors_without_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.playbook"
    broken.write_text(
        'playbook broken:\n    title "B"\n    journey id "b"\n    step s:\n        wat 1 day\n'
    )
    result = CliRunner().invoke(cli(), ["graph", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:5:9: error:" in result.output

    result = CliRunner().invoke(
        cli(), ["graph", str(ROOT / "playbooks" / "renewal.playbook"), "--format", "dot"]
    )
    assert "unknown graph format" in str(result.exception)


def test_the_shipped_playbooks_use_every_construct_of_the_language() -> None:
    # The charts above are only as good as what they draw: every IR form must occur.
    playbooks = [load_playbook(path) for path in SHIPPED]
    steps = [s for pb in playbooks for s in ir.walk(pb.body)]
    steps += [s for pb in playbooks for h in pb.handlers for s in ir.walk(h.body)]
    kinds = {s.kind for s in steps}
    step_union = typing.get_args(ir.Step)[0]
    every_kind = {m.model_fields["kind"].default for m in typing.get_args(step_union)}
    assert len(every_kind) == 19
    assert kinds == every_kind
    matches = [s for s in steps if isinstance(s, ir.Match)]
    assert {m.subject_kind for m in matches} == {"answer", "arm", "fact"}
    assert any(m.no_answer for m in matches) and any(m.otherwise for m in matches)
    assert any(len(case.values) > 1 for m in matches for case in m.cases)
    assert {p.mode for p in steps if isinstance(p, ir.Parallel)} == {"all", "first"}
    waits = [w for w in steps if isinstance(w, ir.WaitEvent)]
    assert any(w.then and w.otherwise and w.timeout for w in waits)
    repeats = [r for r in steps if isinstance(r, ir.Repeat)]
    assert any(r.until is not None and r.max_times for r in repeats)
    ifs = [i for i in steps if isinstance(i, ir.If)]
    assert any(len(i.otherwise) == 1 and isinstance(i.otherwise[0], ir.If) for i in ifs)  # elif
    assert any(i.otherwise and not isinstance(i.otherwise[0], ir.If) for i in ifs)  # else
    assert any(isinstance(e, ir.Escalate) and e.on_timeout for e in steps)
    assert any(isinstance(a, ir.Ask) and a.template != "ask" for a in steps)
    assert any(getattr(a, "policy", ir.ActionPolicy()).retry for a in steps)
    assert any(getattr(a, "policy", ir.ActionPolicy()).timeout for a in steps)
    assert any(isinstance(a, ir.Send) and a.when_blocked for a in steps)
    assert any(isinstance(b, ir.Block) and b.when and b.when.if_past == "skip" for b in steps)
    handlers = [h for pb in playbooks for h in pb.handlers]
    assert {(h.mode, h.achieved) for h in handlers} == {
        ("complete", True),
        ("complete", False),
        ("skip", False),
        ("interrupt", False),
    }
    assert any(arm.holdout for pb in playbooks for e in pb.experiments for arm in e.arms)
    assert all(pb.exits for pb in playbooks)
    assert sum(bool(pb.goals) for pb in playbooks) >= 3
    assert all(pb.defaults != ir.Defaults() for pb in playbooks)
