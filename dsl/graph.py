"""Draw a compiled playbook as a Mermaid flowchart.

The drawing is built from the IR (never from the source text), so it shows what
the engine will run: one node per step, decision nodes for ``if`` and ``match``
with labelled edges, forks and joins for ``parallel``, a back edge for each
``every`` loop, terminal nodes for ``stop`` and ``achieve``, and the journey-wide
event handlers in a subgraph of their own.

Node ids are the step ids made Mermaid-safe, so a node can be traced back to the
step that the timeline, the Temporal UI and ``playbook show`` name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dsl import ir
from dsl.syntax import PRECEDENCE

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


def describe_expr(expr: ir.Expr) -> str:
    """Render an IR expression back in the playbook language's notation."""
    return _expr(expr, 0)


def _expr(expr: ir.Expr, outer: int) -> str:
    if isinstance(expr, ir.Literal):
        return _literal(expr)
    if isinstance(expr, ir.Path):
        return ".".join(expr.parts)
    if isinstance(expr, ir.Unary):
        inner = _expr(expr.operand, PRECEDENCE["neg"])
        return f"not {inner}" if expr.op == "not" else f"-{inner}"
    if isinstance(expr, ir.Binary):
        level = PRECEDENCE[expr.op]
        text = f"{_expr(expr.left, level)} {expr.op} {_expr(expr.right, level + 1)}"
        return f"({text})" if level < outer else text
    if isinstance(expr, ir.ListExpr):
        return "[" + ", ".join(_expr(item, 0) for item in expr.items) + "]"
    if isinstance(expr, ir.Call):
        return f"{expr.fn}(" + ", ".join(_expr(arg, 0) for arg in expr.args) + ")"
    return "?"


def _literal(lit: ir.Literal) -> str:
    if lit.type == "string":
        return f'"{lit.value}"'
    if lit.type == "bool":
        return "true" if lit.value else "false"
    if lit.type == "null" or lit.value is None:
        return "null"
    if lit.type == "duration":
        return _duration_text(int(lit.value))
    return str(lit.value)


def _duration_text(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def duration(value: ir.Duration) -> str:
    """How a duration reads: as written in the playbook when known."""
    return value.text or _duration_text(value.seconds)


def describe_time(when: ir.WaitUntil, playbook: ir.Playbook) -> str:
    """``T-140`` for points relative to the playbook's anchor, else the point in words."""
    days, rest = divmod(abs(when.offset.seconds), 86400)
    if _is_anchor(when.at, playbook) and rest == 0:
        if when.offset.seconds == 0:
            return "T"
        return f"T{'-' if when.offset.seconds < 0 else '+'}{days}"
    target = describe_expr(when.at)
    if when.offset.seconds == 0:
        return f"at {target}"
    side = "before" if when.offset.seconds < 0 else "after"
    return f"{_duration_text(abs(when.offset.seconds))} {side} {target}"


def _is_anchor(expr: ir.Expr, playbook: ir.Playbook) -> bool:
    if isinstance(expr, ir.Call) and expr.fn == "anchor":
        return True
    return playbook.anchor is not None and expr == playbook.anchor


def step_label(step: ir.Step, playbook: ir.Playbook) -> str:
    """A short, readable label for one step, in the language's own words."""
    if isinstance(step, ir.Send):
        return f"send {step.template} to {step.to_role}"
    if isinstance(step, ir.Ask):
        return f"ask {step.question} to {step.to_role}, wait up to {duration(step.timeout)}"
    if isinstance(step, ir.Cta):
        return f"CTA for {step.owner_role} ({step.priority}): {step.reason}"
    if isinstance(step, ir.Escalate):
        return f"escalate to {step.owner_role} ({step.priority}), wait up to {duration(step.wait)}"
    if isinstance(step, ir.SetFact):
        return f"set {'.'.join(step.path)} = {describe_expr(step.value)}"
    if isinstance(step, ir.GenerateQuote):
        growth = "with" if step.organic_growth else "without"
        uplift = f", uplift {step.uplift_percent:g}%" if step.uplift_percent else ""
        return f"generate quote {growth} organic growth{uplift}"
    if isinstance(step, ir.Notify):
        return f"notify #{step.channel}: {step.message}"
    if isinstance(step, ir.StartPlaybook):
        return f"start playbook {step.playbook}"
    if isinstance(step, ir.CustomAction):
        return f"call {step.action}(" + ", ".join(a.name for a in step.args) + ")"
    if isinstance(step, ir.Stop):
        return f"stop as {step.outcome}"
    if isinstance(step, ir.Goal):
        return f"achieve {step.name}"
    if isinstance(step, ir.Wait):
        return f"wait {duration(step.duration)}"
    if isinstance(step, ir.WaitUntil):
        past = ", skip if past" if step.if_past == "skip" else ""
        return f"wait until {describe_time(step, playbook)}{past}"
    if isinstance(step, ir.WaitEvent):
        up_to = f" up to {duration(step.timeout)}" if step.timeout else ""
        return f"wait for event {step.event}{up_to}"
    if isinstance(step, ir.Block):
        when = f"{describe_time(step.when, playbook)} " if step.when else ""
        title = f": {step.title}" if step.title else ""
        return f"{when}step {step.label}{title}"
    if isinstance(step, ir.Repeat):
        until = f" until {describe_expr(step.until)}" if step.until is not None else ""
        most = f", at most {step.max_times} times" if step.max_times is not None else ""
        return f"every {duration(step.every)}{until}{most}"
    if isinstance(step, ir.If):
        return f"if {describe_expr(step.condition)}"
    if isinstance(step, ir.Match):
        kind = "" if step.subject_kind == "fact" else f"{step.subject_kind} "
        return f"match {kind}{step.subject}"
    if isinstance(step, ir.Parallel):
        return f"parallel {step.mode}"
    return step.kind


# --------------------------------------------------------------------------- drawing


@dataclass
class _Drawing:
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
        label = step_label(step, self.playbook)
        nid = node_id(step.id)
        if isinstance(step, ir.Block):
            return self._block(step, nid, label, incoming)
        if isinstance(step, (ir.Stop, ir.Goal)):
            name = self._node(nid, label, "(((", ")))", "terminal")
            self._connect(incoming, name)
            return []
        if isinstance(step, ir.If):
            return self._if(step, nid, label, incoming)
        if isinstance(step, ir.Match):
            return self._match(step, nid, label, incoming)
        if isinstance(step, ir.Parallel):
            return self._parallel(step, nid, label, incoming)
        if isinstance(step, ir.Repeat):
            return self._repeat(step, nid, label, incoming)
        if isinstance(step, ir.WaitEvent):
            name = self._node(nid, label, "[/", "/]")
            self._connect(incoming, name)
            received = self._branch(step.then, name, "received")
            timed_out = self._branch(step.otherwise, name, "timed out" if step.timeout else "")
            return received + (timed_out if step.timeout else [])
        if isinstance(step, ir.Escalate):
            name = self._node(nid, label, "[[", "]]", "human")
            self._connect(incoming, name)
            return [(name, "closed")] + self._branch(step.on_timeout, name, "not closed")
        if isinstance(step, (ir.Wait, ir.WaitUntil)):
            name = self._node(nid, label, "[/", "/]")
        elif isinstance(step, ir.Cta):
            name = self._node(nid, label, "[[", "]]", "human")
        else:
            name = self._node(nid, label, "[", "]")
        self._connect(incoming, name)
        return [(name, "")]

    def _block(
        self, step: ir.Block, nid: str, label: str, incoming: list[Pending]
    ) -> list[Pending]:
        name = self._node(nid, label, "([", "])")
        self._connect(incoming, name)
        # The block's own `at` wait is drawn as part of this header node.
        out = self._chain(step.body, [(name, "")])
        if step.when is not None and step.when.if_past == "skip":
            out.append((name, "already past: skip"))
        return out

    def _if(self, step: ir.If, nid: str, label: str, incoming: list[Pending]) -> list[Pending]:
        name = self._node(nid, label, "{", "}", "decision")
        self._connect(incoming, name)
        return self._branch(step.then, name, "yes") + self._branch(step.otherwise, name, "no")

    def _match(
        self, step: ir.Match, nid: str, label: str, incoming: list[Pending]
    ) -> list[Pending]:
        name = self._node(nid, label, "{", "}", "decision")
        self._connect(incoming, name)
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

    def _parallel(
        self, step: ir.Parallel, nid: str, label: str, incoming: list[Pending]
    ) -> list[Pending]:
        fork = self._node(nid, label, "[[", "]]", "decision")
        self._connect(incoming, fork)
        join_label = "first branch done: cancel the rest" if step.mode == "first" else "all done"
        ends = [self._branch(branch.body, fork, branch.name) for branch in step.branches]
        join = self._node(f"{nid}_join", join_label, "[[", "]]", "decision")
        for pending in ends:
            self._connect(pending, join)
        return [(join, "")]

    def _repeat(
        self, step: ir.Repeat, nid: str, label: str, incoming: list[Pending]
    ) -> list[Pending]:
        loop = self._node(nid, label, "{{", "}}", "decision")
        self._connect(incoming, loop)
        body_end = self._branch(step.body, loop, "each round")
        for src, edge_label in body_end:
            self._edge(src, loop, edge_label or f"next round in {duration(step.every)}", True)
        return [(loop, "done")]

    # -- header

    def _draw_rules(self) -> None:
        pb = self.playbook
        if not (pb.goals or pb.exits):
            return
        self.lines.append('    subgraph rules["Ends the journey whenever it holds"]')
        for goal in pb.goals:
            text = f"goal {goal.name} when {describe_expr(goal.condition)}"
            self._node(f"goal_{goal.name}", text, "(((", ")))", "terminal")
        for rule in pb.exits:
            text = f"exit {rule.name} when {describe_expr(rule.condition)}"
            self._node(f"exit_{rule.name}", text, "(((", ")))", "terminal")
        self.lines.append("    end")

    def _draw_handlers(self) -> None:
        pb = self.playbook
        if not pb.handlers:
            return
        self.lines.append('    subgraph handlers["Event handlers (any time in the journey)"]')
        skips: list[tuple[str, str]] = []
        for handler in pb.handlers:
            name = self._node(node_id(handler.id), f"on event {handler.event}", ">", "]")
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
