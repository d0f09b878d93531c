"""The one walker over the language's trees (dsl.visitor), and the step labels on it."""

from __future__ import annotations

import typing
from typing import Any

import pytest

from dsl import ir
from dsl import syntax as s
from dsl.step_labels import DiagramLabels, StepWords, describe, diagram_label
from dsl.visitor import NodeVisitor, iter_child_nodes, walk

CONDITION = ir.Binary(
    op="and",
    left=ir.Binary(
        op="==",
        left=ir.Path(parts=["subscription", "status"]),
        right=ir.Literal(type="string", value="active"),
    ),
    right=ir.Call(fn="days_until", args=[ir.Path(parts=["subscription", "renewal_date"])]),
    span=ir.Span(line=3, col=18),
)


class Kinds(NodeVisitor[None]):
    """Records each node's class as the generic walk meets it."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def generic_visit(self, node: Any, *args: Any, **kwargs: Any) -> None:
        self.seen.append(type(node).__name__)
        super().generic_visit(node, *args, **kwargs)


def test_generic_visit_walks_children_in_field_order_without_spans() -> None:
    kinds = Kinds()
    kinds.visit(CONDITION)
    assert kinds.seen == ["Binary", "Binary", "Path", "Literal", "Call", "Path"]


def test_visit_dispatches_on_the_class_name_and_passes_arguments_on() -> None:
    class Paths(NodeVisitor[list[str]]):
        def visit_Path(self, node: ir.Path, prefix: str) -> list[str]:
            return [prefix + ".".join(node.parts)]

        def generic_visit(self, node: Any, prefix: str) -> list[str]:
            return [p for child in iter_child_nodes(node) for p in self.visit(child, prefix)]

    assert Paths().visit(CONDITION, "$") == ["$subscription.status", "$subscription.renewal_date"]


def test_child_nodes_of_steps_include_nested_blocks_in_source_order() -> None:
    send = ir.Send(id="b.send", template="t", to_role="admin")
    wait = ir.Wait(id="b.wait", duration=ir.Duration(seconds=60))
    when = ir.WaitUntil(id="b.at", at=ir.Call(fn="anchor", args=[]))
    block = ir.Block(id="b", label="b", when=when, body=[send, wait])
    assert list(iter_child_nodes(block)) == [when, send, wait]
    steps = [n.id for n in walk(block) if isinstance(n, ir.StepBase)]
    assert steps == ["b", "b.at", "b.send", "b.wait"]


def test_walk_covers_the_syntax_tree_too() -> None:
    body = [s.SendStmt(template=s.Name("t"), to=s.Name("admin"))]
    branch = s.CondBranch(condition=s.BoolLit(True), body=body)
    node = s.IfStmt(branches=[branch], else_body=[], else_span=s.Span(4, 5, 4, 10))
    names = [type(n).__name__ for n in walk(node)]
    assert names == ["IfStmt", "CondBranch", "BoolLit", "SendStmt", "Name", "Name", "Policy"]


def _step_classes() -> list[type]:
    union = typing.get_args(ir.Step)[0]
    return list(typing.get_args(union))


@pytest.mark.parametrize("labels", [StepWords, DiagramLabels])
def test_every_kind_of_step_has_its_own_label(labels: type) -> None:
    missing = [
        cls.__name__ for cls in _step_classes() if not hasattr(labels, f"visit_{cls.__name__}")
    ]
    assert missing == []


def test_timeline_words_and_diagram_labels() -> None:
    anchor = ir.Path(parts=["subscription", "renewal_date"], type="date")
    playbook = ir.Playbook(name="p", title="P", journey_id="p", anchor=anchor, body=[])
    when = ir.WaitUntil(
        id="s.at", at=ir.Call(fn="anchor", args=[]), offset=ir.Duration(seconds=-140 * 86400)
    )
    block = ir.Block(id="s", label="intent", title="Intent", when=when, body=[])
    assert describe(block) == "step intent"
    assert diagram_label(block, playbook) == "T-140 step intent: Intent"
    assert describe(when) == "wait until 140 days before the anchor date"
    assert diagram_label(when, playbook) == "wait until T-140"
    check = ir.If(id="i", condition=CONDITION, then=[])
    assert describe(check) == "if"
    assert diagram_label(check, playbook) == (
        'if subscription.status == "active" and days_until(subscription.renewal_date)'
    )
    wait = ir.Wait(id="w", duration=ir.Duration(seconds=86400))
    assert describe(wait) == diagram_label(wait, playbook) == "wait 1 day"
