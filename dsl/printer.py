"""The expression printer: an expression written back in the playbook language.

One printer for every place that shows an expression: ``playbook fmt`` (over the
parser's AST), the Mermaid drawing, the step labels of timelines and the cohort
SQL backend's reasons and messages (over the IR). The form is the formatter's
canonical one: one space around operators, parentheses only where precedence
needs them (``not`` binds looser than a comparison, comparisons do not chain,
binary operators are left-associative), calls and lists with ``", "``.

The AST keeps literals as written, and they are printed so. The IR keeps values,
and they are written the one way the language reads them back:

- strings in double quotes, with ``\\``, ``"``, newline and tab escaped;
- durations in the largest whole unit of day, hour, minute, second
  (``14 days``, ``1 hour``, ``90 seconds``); a duration that kept how it was
  written (``ir.Duration.text``) is printed as written;
- dates as ISO ``YYYY-MM-DD``, ``true``/``false``, ``null``, numbers as Python
  writes them.

A node that is not an expression prints as its class name.

Imports only the standard library, pydantic and dsl modules that do: the engine's
step labels use it inside the Temporal workflow sandbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dsl import ir
from dsl import syntax as s
from dsl.calendar_dates import BusinessDays, Months
from dsl.syntax import PRECEDENCE
from dsl.visitor import NodeVisitor

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60))
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}
_ATOM = 99  # literals, paths, calls and lists never need parentheses

# An expression of either tree: the operators' layout is shared.
Operand = ir.Expr | s.Expr


def expression(expr: ir.Expr) -> str:
    """An IR expression in the language's notation."""
    return ExpressionPrinter().visit(expr)


def written(expr: s.Expr) -> str:
    """An AST expression in canonical form, its literals as written."""
    return WrittenPrinter().visit(expr)


def duration_text(seconds: int) -> str:
    """A length of time in the largest whole unit: ``14 days``, ``1 hour``, ``90 seconds``."""
    if seconds < 0:
        return "-" + duration_text(-seconds)
    for unit, size in _UNITS:
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


def months_text(months: int) -> str:
    """Calendar months in the largest whole unit: ``1 year``, ``3 months``."""
    return str(Months(months))


def duration(value: ir.Duration) -> str:
    """An IR duration as written in the playbook, else in its largest whole unit."""
    if value.text:
        return value.text
    if value.months and not value.seconds:
        return months_text(value.months)
    if value.business_days and not value.seconds:
        return str(BusinessDays(value.business_days))
    return duration_text(value.seconds)


def string_literal(text: str) -> str:
    """``text`` as a string literal of the language (quoted, escaped)."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


class ExpressionPrinter(NodeVisitor[str]):
    """Prints IR expressions; the operators' layout is shared with ``WrittenPrinter``."""

    def generic_visit(self, node: Any, *args: Any, **kwargs: Any) -> str:
        return type(node).__name__

    # -- IR nodes

    def visit_Literal(self, node: ir.Literal) -> str:
        if node.value is None or node.type == "null":
            return "null"
        if node.type == "string":
            return string_literal(str(node.value))
        if node.type == "bool":
            return "true" if node.value else "false"
        if node.type == "duration":
            return duration_text(int(node.value))
        return str(node.value)

    def visit_Path(self, node: ir.Path) -> str:
        return ".".join(node.parts)

    def visit_Call(self, node: ir.Call) -> str:
        count = node.args[0] if node.fn in ("months", "business_days") and node.args else None
        if isinstance(count, ir.Literal) and isinstance(count.value, int):
            if node.fn == "business_days":  # how the compiler keeps `2 business days`
                return str(BusinessDays(count.value))
            return months_text(count.value)  # how the compiler keeps `3 months`
        return self.call(node.fn, node.args)

    def visit_ListExpr(self, node: ir.ListExpr) -> str:
        return self.items(node.items)

    def visit_Unary(self, node: ir.Unary) -> str:
        return self.unary(node.op, node.operand)

    def visit_Binary(self, node: ir.Binary) -> str:
        return self.binary(node.op, node.left, node.right)

    # -- the layout of operators, calls and lists (both trees)

    def call(self, fn: str, args: Sequence[Operand]) -> str:
        return f"{fn}(" + ", ".join(self.visit(arg) for arg in args) + ")"

    def items(self, items: Sequence[Operand]) -> str:
        return "[" + ", ".join(self.visit(item) for item in items) + "]"

    def unary(self, op: str, operand: Operand) -> str:
        if op == "not":
            # `not` binds looser than comparisons: `not a == b` is `not (a == b)`.
            return "not " + self.wrap(operand, _precedence(operand) < PRECEDENCE["not"])
        negated = _precedence(operand) == PRECEDENCE["neg"]
        return "-" + self.wrap(operand, _precedence(operand) < PRECEDENCE["neg"] or negated)

    def binary(self, op: str, left: Operand, right: Operand) -> str:
        level = PRECEDENCE[op]
        comparison = level == PRECEDENCE["=="]
        # Left-associative; comparisons do not chain, so a comparison operand needs parens.
        left_level, right_level = _precedence(left), _precedence(right)
        left_text = self.wrap(left, left_level < level or (comparison and left_level == level))
        return f"{left_text} {op} {self.wrap(right, right_level <= level)}"

    def wrap(self, node: Operand, parens: bool) -> str:
        text = self.visit(node)
        return f"({text})" if parens else text


class WrittenPrinter(ExpressionPrinter):
    """Prints AST expressions (``dsl.syntax``) with their literals as written."""

    def generic_visit(self, node: Any, *args: Any, **kwargs: Any) -> str:
        raise TypeError(f"not an expression: {node!r}")

    def visit_NumberLit(self, node: s.NumberLit) -> str:
        return node.text

    def visit_DateLit(self, node: s.DateLit) -> str:
        return node.text

    def visit_StringLit(self, node: s.StringLit) -> str:
        return f'"{node.raw}"'

    def visit_BoolLit(self, node: s.BoolLit) -> str:
        return "true" if node.value else "false"

    def visit_NullLit(self, node: s.NullLit) -> str:
        return "null"

    def visit_Duration(self, node: s.Duration) -> str:
        return f"{node.amount} {node.unit}"

    def visit_PathExpr(self, node: s.PathExpr) -> str:
        return node.dotted

    def visit_CallExpr(self, node: s.CallExpr) -> str:
        return self.call(node.fn.text, node.args)

    def visit_ListLit(self, node: s.ListLit) -> str:
        return self.items(node.items)

    def visit_UnaryOp(self, node: s.UnaryOp) -> str:
        return self.unary(node.op, node.operand)

    def visit_BinaryOp(self, node: s.BinaryOp) -> str:
        return self.binary(node.op, node.left, node.right)


def _precedence(node: Operand) -> int:
    """How tightly ``node`` binds, in either tree (``_ATOM`` for all but operators)."""
    if isinstance(node, ir.Binary | s.BinaryOp):
        return PRECEDENCE[node.op]
    if isinstance(node, ir.Unary | s.UnaryOp):
        return PRECEDENCE["not"] if node.op == "not" else PRECEDENCE["neg"]
    return _ATOM
