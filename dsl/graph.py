"""Draw a compiled playbook as a Mermaid flowchart.

The drawing is built from the IR (never from the source text), so it shows what
the engine will run: one node per step, decision nodes for ``if`` and ``match``
with labelled edges, forks and joins for ``parallel``, a back edge for each
``every`` loop, terminal nodes for ``stop`` and ``achieve``, and the journey-wide
event handlers in a subgraph of their own.

Node ids are the step ids made Mermaid-safe, so a node can be traced back to the
step that the timeline, the Temporal UI and ``playbook show`` name. Node labels
are ``dsl.step_labels.diagram_label``, expressions ``dsl.printer``'s, escaped here
for Mermaid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dsl import ir
from dsl.printer import duration, expression
from dsl.step_labels import diagram_label, handler_heading, open_ctas_at_end
from dsl.visitor import NodeVisitor

MAX_LABEL = 70


# An edge still to be drawn: from a node, with an optional label, to whatever comes next.
Pending = tuple[str, str]


def to_mermaid(playbook: ir.Playbook) -> str:
    """Return the playbook as a Mermaid ``flowchart TD`` document."""
    return _Drawing(playbook).render()


# --------------------------------------------------------------------------- labels


def escape_label(text: str) -> str:
    """Make ``text`` safe inside a quoted Mermaid label (quotes, brackets, pipes)."""
    text = " ".join(text.split())
    if len(text) > MAX_LABEL:
        text = text[: MAX_LABEL - 1].rstrip() + "…"
    replacements = {
        "&": "#amp;",
        "#": "#35;",
        "`": "#96;",
        '"': "#quot;",
        "<": "#lt;",
        ">": "#gt;",
        "|": "#124;",
        "[": "#91;",
        "]": "#93;",
        "{": "#123;",
        "}": "#125;",
        "(": "#40;",
        ")": "#41;",
    }
    return "".join(replacements.get(ch, ch) for ch in text)


def node_id(step_id: str) -> str:
    """A Mermaid node id for a step id: letters, digits and underscores only."""
    return "s_" + re.sub(r"[^A-Za-z0-9_]", "_", step_id)


# --------------------------------------------------------------------------- drawing


@dataclass
class _Drawing(NodeVisitor[list[Pending]]):
    """Draws steps; one ``visit_<Step>`` per kind of node shape (the rest are boxes)."""

    playbook: ir.Playbook
    lines: list[str] = field(default_factory=list)
    _used: set[str] = field(default_factory=set)

    def render(self) -> str:
        pb = self.playbook
        self.lines = ["flowchart TD"]
        self._node("start", f"{pb.name}: {pb.title}", "([", "])")
        tail = self._chain(pb.body, [("start", "")])
        if tail:  # a body that always ends in stop/achieve never just runs out
            self._node("finish", "journey ends", "([", "])")
            self._connect(tail, "finish")
        self._draw_rules()
        self._draw_handlers()
        self._draw_open_ctas(tail)
        self.lines += [
            "    classDef terminal fill:#f4f4f4,stroke:#333,stroke-width:2px",
            "    classDef decision fill:#fff6d5,stroke:#b59b00",
            "    classDef human fill:#ffe3e0,stroke:#c0392b",
        ]
        return "\n".join(self.lines) + "\n"

    # -- primitives

    def _fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self._used:
            n += 1
            name = f"{base}_{n}"
        self._used.add(name)
        return name

    def _node(self, name: str, label: str, open_: str, close: str, cls: str = "") -> str:
        name = self._fresh(name)
        suffix = f":::{cls}" if cls else ""
        self.lines.append(f'    {name}{open_}"{escape_label(label)}"{close}{suffix}')
        return name

    def _edge(self, src: str, dst: str, label: str = "", dotted: bool = False) -> None:
        arrow = "-.->" if dotted else "-->"
        text = f'|"{escape_label(label)}"|' if label else ""
        self.lines.append(f"    {src} {arrow}{text} {dst}")

    def _connect(self, pending: list[Pending], dst: str) -> None:
        for src, label in pending:
            self._edge(src, dst, label)

    # -- steps

    def _chain(self, steps: list[ir.Step], incoming: list[Pending]) -> list[Pending]:
        """Draw ``steps`` in sequence after ``incoming``; return the edges leaving them."""
        for step in steps:
            incoming = self._step(step, incoming)
        return incoming

    def _branch(self, steps: list[ir.Step], src: str, label: str) -> list[Pending]:
        return self._chain(steps, [(src, label)])

    def _step(self, step: ir.Step, incoming: list[Pending]) -> list[Pending]:
        """Draw one step after ``incoming``; return the edges leaving it."""
        return self.visit(step, incoming)

    def _step_node(
        self, step: ir.Step, incoming: list[Pending], open_: str, close: str, cls: str = ""
    ) -> str:
        """The step's own node, joined to ``incoming``."""
        label = diagram_label(step, self.playbook)
        name = self._node(node_id(step.id), label, open_, close, cls)
        self._connect(incoming, name)
        return name

    def generic_visit(self, step: ir.Step, incoming: list[Pending]) -> list[Pending]:
        return [(self._step_node(step, incoming, "[", "]"), "")]

    def visit_Stop(self, step: ir.Stop | ir.Goal, incoming: list[Pending]) -> list[Pending]:
        self._step_node(step, incoming, "(((", ")))", "terminal")
        return []

    visit_Goal = visit_Stop

    def visit_Wait(self, step: ir.Wait | ir.WaitUntil, incoming: list[Pending]) -> list[Pending]:
        return [(self._step_node(step, incoming, "[/", "/]"), "")]

    visit_WaitUntil = visit_Wait

    def visit_Cta(self, step: ir.Cta, incoming: list[Pending]) -> list[Pending]:
        return [(self._step_node(step, incoming, "[[", "]]", "human"), "")]

    def visit_WaitEvent(self, step: ir.WaitEvent, incoming: list[Pending]) -> list[Pending]:
        name = self._step_node(step, incoming, "[/", "/]")
        received = self._branch(step.then, name, "received")
        timed_out = self._branch(step.otherwise, name, "timed out" if step.timeout else "")
        return received + (timed_out if step.timeout else [])

    def visit_Escalate(self, step: ir.Escalate, incoming: list[Pending]) -> list[Pending]:
        name = self._step_node(step, incoming, "[[", "]]", "human")
        return [(name, "closed")] + self._branch(step.on_timeout, name, "not closed")

    def visit_Block(self, step: ir.Block, incoming: list[Pending]) -> list[Pending]:
        name = self._step_node(step, incoming, "([", "])")
        # The block's own `at` wait is drawn as part of this header node.
        out = self._chain(step.body, [(name, "")])
        if step.when is not None and step.when.if_past == "skip":
            out.append((name, "already past: skip"))
        return out

    def visit_If(self, step: ir.If, incoming: list[Pending]) -> list[Pending]:
        name = self._step_node(step, incoming, "{", "}", "decision")
        return self._branch(step.then, name, "yes") + self._branch(step.otherwise, name, "no")

    def visit_Match(self, step: ir.Match, incoming: list[Pending]) -> list[Pending]:
        name = self._step_node(step, incoming, "{", "}", "decision")
        out: list[Pending] = []
        for case in step.cases:
            out += self._branch(case.body, name, ", ".join(case.values))
        if step.no_answer is not None:
            out += self._branch(step.no_answer, name, "no answer")
        if step.otherwise is not None:
            out += self._branch(step.otherwise, name, "otherwise")
        elif step.subject_kind == "fact":
            # A fact may hold a value no case names: it carries on after the match.
            # (Every answer and arm is handled; the checker sees to that.)
            out.append((name, "otherwise"))
        return out

    def visit_Parallel(self, step: ir.Parallel, incoming: list[Pending]) -> list[Pending]:
        fork = self._step_node(step, incoming, "[[", "]]", "decision")
        join_label = "first branch done: cancel the rest" if step.mode == "first" else "all done"
        ends = [self._branch(branch.body, fork, branch.name) for branch in step.branches]
        join = self._node(f"{node_id(step.id)}_join", join_label, "[[", "]]", "decision")
        for pending in ends:
            self._connect(pending, join)
        return [(join, "")]

    def visit_Repeat(self, step: ir.Repeat, incoming: list[Pending]) -> list[Pending]:
        loop = self._step_node(step, incoming, "{{", "}}", "decision")
        body_end = self._branch(step.body, loop, "each round")
        for src, edge_label in body_end:
            self._edge(src, loop, edge_label or f"next round in {duration(step.every)}", True)
        return [(loop, "done")]

    # -- header

    def _draw_rules(self) -> None:
        pb = self.playbook
        if not (pb.goals or pb.exits):
            return
        title = "Ends the journey when it holds (a goal: between steps)"
        self.lines.append(f'    subgraph rules["{title}"]')
        for goal in pb.goals:
            text = (
                f"goal {goal.name} when {expression(goal.condition)}"
                if goal.condition is not None
                else f"goal {goal.name}, reached by achieve"
            )
            self._node(f"goal_{goal.name}", text, "(((", ")))", "terminal")
        for rule in pb.exits:
            text = f"exit {rule.name} when {expression(rule.condition)}"
            self._node(f"exit_{rule.name}", text, "(((", ")))", "terminal")
        self.lines.append("    end")

    def _draw_open_ctas(self, tail: list[Pending]) -> None:
        """What becomes of the journey's open CTAs when it ends, however it ends
        (``when the journey ends: ...``; closing them is the default)."""
        text = open_ctas_at_end(self.playbook)
        name = self._node("open_ctas", f"when the journey ends: {text}", "[[", "]]", "human")
        if tail:
            self._edge("finish", name, dotted=True)

    def _draw_handlers(self) -> None:
        pb = self.playbook
        if not pb.handlers:
            return
        self.lines.append('    subgraph handlers["Event handlers (any time in the journey)"]')
        skips: list[tuple[str, str]] = []
        for handler in pb.handlers:
            name = self._node(node_id(handler.id), handler_heading(handler), ">", "]")
            if handler.mode == "complete":
                verb = "achieve" if handler.achieved else "stop as"
                text = f"{verb} {handler.outcome}"
                end = self._node(f"{name}_end", text, "(((", ")))", "terminal")
                self._edge(name, end)
            elif handler.mode == "skip":
                skips.append((name, handler.target))
            else:
                tail = self._chain(handler.body, [(name, "")])
                back = self._node(f"{name}_resume", "back to where the journey was", "([", "])")
                self._connect(tail, back)
        self.lines.append("    end")
        # Skip edges point into the main flow, so they are drawn outside the subgraph.
        blocks = {s.label: node_id(s.id) for s in pb.body if isinstance(s, ir.Block)}
        for name, target in skips:
            if target in blocks:
                self._edge(name, blocks[target], f"skip to {target}", True)
