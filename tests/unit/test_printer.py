"""The one expression printer (dsl.printer): exact text for the tricky cases, and
what it prints reads back as the same expression."""

from __future__ import annotations

import pytest

from dsl import ir
from dsl import syntax as s
from dsl.compiler import compile_playbook
from dsl.parser import parse_text
from dsl.printer import duration, duration_text, expression, string_literal, written


def parsed(text: str) -> tuple[s.Expr, ir.Expr]:
    """The AST and the IR of ``text`` as the value of a `set`."""
    source = (
        'playbook p:\n    title "p"\n    journey id "p:{account.id}"\n'
        f"    step only:\n        set account.risk_level = {text}\n"
    )
    tree, diagnostics = parse_text(source)
    assert tree is not None, diagnostics
    statement = tree.steps[0].body[0]
    assert isinstance(statement, s.SetStmt)
    step = compile_playbook(tree).body[0]
    assert isinstance(step, ir.Block) and isinstance(step.body[0], ir.SetFact)
    return statement.value, step.body[0].value


def without_spans(expr: ir.Expr) -> dict:
    dumped = expr.model_dump(mode="json")

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "span"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(dumped)


def p(dotted: str) -> ir.Path:
    return ir.Path(parts=dotted.split("."))


def lit(kind: str, value) -> ir.Literal:
    return ir.Literal(type=kind, value=value)


def b(left, op: str, right) -> ir.Binary:
    return ir.Binary(op=op, left=left, right=right)


def neg(operand) -> ir.Unary:
    return ir.Unary(op="-", operand=operand)


def not_(operand) -> ir.Unary:
    return ir.Unary(op="not", operand=operand)


A, B, C = p("account.a"), p("account.b"), p("account.c")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\temp\\new", '"C:\\\\temp\\\\new"'),
        ("line\nnext\tcell", '"line\\nnext\\tcell"'),
        ("", '""'),
        ("{account.name} — ü 日本", '"{account.name} — ü 日本"'),
    ],
)
def test_strings_are_quoted_and_escaped(value: str, text: str) -> None:
    assert expression(lit("string", value)) == text
    assert string_literal(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (14 * 86400, "14 days"),
        (86400, "1 day"),
        (7 * 86400, "7 days"),
        (3600, "1 hour"),
        (36 * 3600, "36 hours"),
        (5400, "90 minutes"),
        (90, "90 seconds"),
        (1, "1 second"),
        (0, "0 seconds"),
        (-2 * 86400, "-2 days"),
    ],
)
def test_durations_in_the_largest_whole_unit(seconds: int, text: str) -> None:
    assert duration_text(seconds) == text
    if seconds >= 0:
        assert expression(lit("duration", seconds)) == text


def test_a_duration_prints_as_written_when_it_kept_its_text() -> None:
    assert duration(ir.Duration(seconds=14 * 86400, text="2 weeks")) == "2 weeks"
    assert duration(ir.Duration(seconds=14 * 86400)) == "14 days"


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (lit("date", "2027-04-01"), "2027-04-01"),
        (lit("number", 150), "150"),
        (lit("number", 2.5), "2.5"),
        (lit("bool", True), "true"),
        (lit("bool", False), "false"),
        (lit("null", None), "null"),
        (lit("string", None), "null"),
        (ir.ListExpr(items=[lit("string", "emea"), lit("string", "apac")]), '["emea", "apac"]'),
        (ir.Call(fn="today", args=[]), "today()"),
        (ir.Call(fn="min", args=[A, B]), "min(account.a, account.b)"),
    ],
)
def test_values_paths_calls_and_lists(expr: ir.Expr, text: str) -> None:
    assert expression(expr) == text


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (b(b(A, "or", B), "and", C), "(account.a or account.b) and account.c"),
        (b(A, "or", b(B, "and", C)), "account.a or account.b and account.c"),
        (b(b(A, "and", B), "or", C), "account.a and account.b or account.c"),
        (b(A, "and", b(B, "and", C)), "account.a and (account.b and account.c)"),
        (not_(b(A, "==", B)), "not account.a == account.b"),
        (not_(b(A, "and", B)), "not (account.a and account.b)"),
        (b(not_(A), "and", not_(B)), "not account.a and not account.b"),
        (b(not_(A), "==", B), "(not account.a) == account.b"),
        (not_(not_(A)), "not not account.a"),
        (b(b(A, "<", B), "==", C), "(account.a < account.b) == account.c"),
        (b(A, "-", b(B, "-", C)), "account.a - (account.b - account.c)"),
        (b(b(A, "-", B), "-", C), "account.a - account.b - account.c"),
        (b(b(A, "+", B), "*", C), "(account.a + account.b) * account.c"),
        (neg(b(A, "+", B)), "-(account.a + account.b)"),
        (neg(neg(A)), "-(-account.a)"),
        (b(neg(A), "*", B), "-account.a * account.b"),
        (
            b(p("account.region"), "not in", ir.ListExpr(items=[lit("string", "emea")])),
            'account.region not in ["emea"]',
        ),
    ],
)
def test_parentheses_only_where_precedence_needs_them(expr: ir.Expr, text: str) -> None:
    assert expression(expr) == text


def test_a_node_that_is_no_expression_prints_as_its_class() -> None:
    assert expression(ir.Duration(seconds=1)) == "Duration"


@pytest.mark.parametrize(
    "text",
    [
        '"say \\"hi\\" to C:\\\\temp"',
        '"tab\\there"',
        'days_until(subscription.renewal_date) <= 150 and subscription.status == "active"',
        'not (account.acv > 10 or account.segment == "smb")',
        "account.acv - (usage.devices_in_use - 3) * 2",
        "-(account.acv + 1)",
        'account.region in ["emea", "apac"] or account.name != null',
        "subscription.renewal_date - 14 days < today()",
        "max(subscription.renewal_date, 2027-04-01)",
        "(account.acv > 1) == true",
    ],
)
def test_printed_ir_reads_back_as_the_same_expression(text: str) -> None:
    syntax_tree, expr = parsed(text)
    assert written(syntax_tree) == text  # canonical input: fmt prints it unchanged
    again = expression(expr)
    assert without_spans(parsed(again)[1]) == without_spans(expr)


def test_the_ast_printer_keeps_literals_as_written() -> None:
    syntax_tree, expr = parsed('[1.50, 2 weeks, "a\\qb", ((account.acv))]')
    assert written(syntax_tree) == '[1.50, 2 weeks, "a\\qb", account.acv]'
    # The IR keeps values, so its printing is canonical instead.
    assert expression(expr) == '[1.5, 14 days, "a\\\\qb", account.acv]'


def test_the_ast_printer_refuses_what_is_no_expression() -> None:
    with pytest.raises(TypeError, match="not an expression"):
        written(s.Name("x"))  # type: ignore[arg-type]
