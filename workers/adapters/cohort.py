"""Entry conditions as SQL: who qualifies for a playbook, asked of Postgres at once.

A playbook's ``enroll when EXPR`` (an IR ``Expr``) compiles to one parameterised
``SELECT`` over the declared facts, so enrolling 100,000 accounts is one query,
not 100,000 fact loads and evaluations. Two rules keep it safe:

- every literal is a ``$n`` parameter; no value is ever written into the SQL text;
- identifiers come only from a whitelist built from ``dsl.schema`` (fact root and
  field -> table alias and column); anything else is a ``CohortError``.

The SQL means what the engine's evaluator means (``engine.evaluator``), hole for
hole: a missing fact is ``NULL``; ``==``/``!=`` compare ``NULL`` as a value
(``IS [NOT] DISTINCT FROM``); an ordering comparison with a hole is false; ``not``
of a hole is true. Conditions therefore compile to SQL that is never ``NULL``.
Durations are seconds (``numeric``), dates are ``date``; ``date ± duration`` moves
by whole days as Python's ``date + timedelta`` does.

Facts read by the SQL: ``account.*`` (table ``accounts``), ``subscription.*`` (the
account's current subscription, chosen as the store's fact loader chooses it),
``usage.*`` (the latest usage row) and ``nps.*`` (the latest NPS response). Given
the data model, a team's own facts too: ``account.support_tier`` is
``(a.custom ->> 'support_tier')`` cast to its type (numeric, boolean, date), a
group's ``support.open_p1_tickets`` the same of its ``fact_groups`` row (a fact
not given, or an account without the row, is ``NULL``: a hole, as in a journey).
Fact names in the SQL text come from the model and are checked to be identifiers.
``today()`` is a parameter, so a dry run can ask "who qualifies as of" any date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from dsl import printer, schema
from dsl.ir import Binary, Call, Expr, ListExpr, Literal, Path, Unary
from dsl.model import Model
from dsl.visitor import NodeVisitor
from workers.adapters import custom_facts


class CohortError(ValueError):
    """An entry condition that cannot run as SQL; the message names the construct."""


# --------------------------------------------------------------------------- the whitelist


@dataclass(frozen=True)
class FactSource:
    """Where the facts of one root live: the SQL alias, and how the row is joined.
    ``custom``: facts kept in the row's jsonb ``document`` column (a team's own)."""

    root: str
    alias: str
    fields: dict[str, schema.FieldType]
    join: str  # "" for the driving table
    custom: dict[str, schema.FieldType] = field(default_factory=dict)
    document: str = "custom"


# The account's current subscription: the active one renewing first, else the one
# renewing last. Kept identical to the store's fact loader (workers.adapters.store).
_SUBSCRIPTION_JOIN = (
    "LEFT JOIN LATERAL (SELECT * FROM subscriptions AS s0 WHERE s0.account_id = a.id "
    "ORDER BY (s0.status = 'active') DESC, "
    "CASE WHEN s0.status = 'active' THEN s0.renewal_date END ASC, s0.renewal_date DESC "
    "LIMIT 1) AS s ON true"
)
_USAGE_JOIN = (
    "LEFT JOIN LATERAL (SELECT * FROM usage AS u0 WHERE u0.account_id = a.id "
    "ORDER BY u0.as_of DESC LIMIT 1) AS u ON true"
)
_NPS_JOIN = (
    "LEFT JOIN LATERAL (SELECT * FROM nps_responses AS n0 WHERE n0.account_id = a.id "
    "ORDER BY n0.responded_on DESC NULLS LAST, n0.id DESC LIMIT 1) AS n ON true"
)

SOURCES: dict[str, FactSource] = {
    "account": FactSource("account", "a", schema.ACCOUNT, ""),
    "subscription": FactSource("subscription", "s", schema.SUBSCRIPTION, _SUBSCRIPTION_JOIN),
    "usage": FactSource("usage", "u", schema.USAGE, _USAGE_JOIN),
    "nps": FactSource("nps", "n", schema.NPS, _NPS_JOIN),
}
_JOIN_ORDER = ("subscription", "usage", "nps")


def sources_for(model: Model | None) -> dict[str, FactSource]:
    """The fact sources under a data model: the built-in ones with the team's own
    account and subscription facts (in ``custom``), and each group it declares
    (its row of ``fact_groups``, joined by account and group name)."""
    if model is None:
        return SOURCES
    sources = dict(SOURCES)
    for root in custom_facts.EXTENDED_TABLES:
        extra = {f.name: f.type for f in custom_facts.custom_facts(model, root)}
        sources[root] = replace(SOURCES[root], custom=extra)
    for number, group in enumerate(custom_facts.new_groups(model)):
        name = custom_facts.safe_name(group.name)
        alias = f"g{number}"
        join = (
            f"LEFT JOIN {custom_facts.GROUP_TABLE} AS {alias} ON {alias}.account_id = a.id "
            f"AND {alias}.group_name = '{name}'"
        )
        fields = {f.name: f.type for f in group.facts}
        sources[name] = FactSource(name, alias, {}, join, custom=fields, document="facts")
    return sources


def column_for(
    parts: list[str], sources: dict[str, FactSource] | None = None
) -> tuple[str, schema.FieldType]:
    """``alias."column"`` (or a jsonb fact cast to its type) and the declared type
    of a fact path, or a ``CohortError``."""
    sources = sources or SOURCES
    dotted = ".".join(parts)
    if not parts or parts[0] not in sources:
        roots = ", ".join(sources)
        raise CohortError(
            f"{dotted}: an entry condition can read only {roots} facts "
            f"(enrolment selects accounts in the database before any journey exists)"
        )
    source = sources[parts[0]]
    if len(parts) == 2 and parts[1] in source.custom:
        kind = source.custom[parts[1]]
        name = custom_facts.safe_name(parts[1])
        text = f"({source.alias}.{source.document} ->> '{name}')"
        return (text if kind == "string" else f"{text}::{_CASTS[kind]}"), kind
    if len(parts) != 2 or parts[1] not in source.fields:
        known = ", ".join(sorted({*source.fields, *source.custom}))
        raise CohortError(f"{dotted}: not a declared {source.root} field (known: {known})")
    return f'{source.alias}."{parts[1]}"', source.fields[parts[1]]


# --------------------------------------------------------------------------- --where text

# The DSL has no entry point for a lone expression, so an extra condition is checked
# as the `enroll when` line of a minimal playbook: the same parser, the same checks
# (declared fields, types, "did you mean"), the same compiler.
_WHERE_PREFIX = "    enroll when "
_WHERE_PLAYBOOK = (
    "playbook where:\n"
    '    title "where"\n'
    '    journey id "where:{{account.id}}"\n'
    "{prefix}{expr}\n"
    "    step only:\n"
    "        wait 1 day\n"
)
_WHERE_LINE = 4


@dataclass(frozen=True)
class ConditionProblem:
    """Why a ``--where`` text is not a condition: the message, the column (1-based,
    in the expression) and a hint."""

    message: str
    col: int = 0
    hint: str = ""


class ConditionError(ValueError):
    """A ``--where`` text that does not check; ``problems`` says why."""

    def __init__(self, text: str, problems: list[ConditionProblem]) -> None:
        self.text = text
        self.problems = problems
        super().__init__(problems[0].message if problems else "not a condition")

    def render(self, label: str = "--where") -> str:
        """Each problem as ``label: message``, the expression, a caret, a hint."""
        lines = []
        for problem in self.problems:
            lines.append(f"{label}: error: {problem.message}")
            lines.append(f"    {self.text}")
            if problem.col > 0:
                lines.append("    " + " " * (problem.col - 1) + "^")
            if problem.hint:
                lines.append(f"hint: {problem.hint}")
        return "\n".join(lines)


def parse_condition(text: str, model: Model | None = None) -> Expr:
    """The IR ``Expr`` of a condition written as in an ``enroll when`` line, checked
    against ``model`` (default: the built-in model).

    Raises ``ConditionError`` with the checker's diagnostics (columns relative to
    ``text``) when it does not parse or check."""
    from dsl.loader import check_text

    expr_text = text.strip()
    if not expr_text or "\n" in expr_text or "\r" in expr_text:
        raise ConditionError(expr_text, [ConditionProblem("write the condition on one line")])
    source = _WHERE_PLAYBOOK.format(prefix=_WHERE_PREFIX, expr=expr_text)
    playbook, diagnostics = check_text(source, "--where", model=model)
    errors = [d for d in diagnostics if d.is_error]
    if playbook is None or playbook.enroll is None or errors:
        problems = [
            ConditionProblem(
                d.message,
                d.col - len(_WHERE_PREFIX) if d.line == _WHERE_LINE else 0,
                d.hint or "",
            )
            for d in errors
        ] or [ConditionProblem("not a condition")]
        raise ConditionError(expr_text, problems)
    return playbook.enroll


# --------------------------------------------------------------------------- the query


@dataclass(frozen=True)
class CohortQuery:
    """A compiled cohort: ``sql`` with ``$n`` placeholders and their ``params``.

    Each row has ``account_id`` and one column ``why_<i>`` per entry of ``reasons``
    (the facts and day counts the condition read, e.g. ``subscription.renewal_date``
    and ``days_until(subscription.renewal_date)``), for dry runs to show why.
    """

    sql: str
    params: list[Any]
    reasons: list[str] = field(default_factory=list)


def compile_cohort(
    condition: Expr | None,
    *,
    today: date,
    extra: Expr | None = None,
    anchor: Expr | None = None,
    limit: int | None = None,
    model: Model | None = None,
) -> CohortQuery:
    """The SQL selecting the accounts for which ``condition`` (and ``extra``) hold.

    ``today`` is the playbook's date the condition is judged at; ``anchor`` is the
    playbook's anchor expression (for ``anchor()``); ``limit`` caps the rows;
    ``model`` the data model whose own facts the condition may read. No condition
    at all selects every account.
    """
    sources = sources_for(model)
    compiler = _Compiler(today, anchor, sources)
    clauses = [compiler.condition(expr) for expr in (condition, extra) if expr is not None]
    where = " AND ".join(clauses) if clauses else "true"
    reasons = list(compiler.reasons.items())
    select = ["a.id AS account_id"] + [f"{sql} AS why_{i}" for i, (_, sql) in enumerate(reasons)]
    order = [*_JOIN_ORDER, *(root for root in sources if root not in SOURCES)]
    joins = [sources[root].join for root in order if root in compiler.roots]
    sql = f"SELECT {', '.join(select)} FROM accounts AS a"
    if joins:
        sql += " " + " ".join(joins)
    sql += f" WHERE {where} ORDER BY a.id"
    if limit is not None:
        sql += f" LIMIT {compiler.param(int(limit), 'bigint')}"
    return CohortQuery(sql=sql, params=compiler.params, reasons=[label for label, _ in reasons])


# --------------------------------------------------------------------------- the compiler


@dataclass(frozen=True)
class _Sql:
    text: str
    type: str  # number | string | bool | date | duration | null


_CASTS = {"string": "text", "number": "numeric", "bool": "boolean", "date": "date"}
_ORDERING = ("<", "<=", ">", ">=")
_SECONDS_PER_DAY = 86400


class _Compiler(NodeVisitor[_Sql]):
    def __init__(
        self, today: date, anchor: Expr | None, sources: dict[str, FactSource] | None = None
    ) -> None:
        self.sources = sources or SOURCES
        self.params: list[Any] = []
        self.roots: set[str] = set()
        self.reasons: dict[str, str] = {}  # label -> SQL, in the order first read
        self._today = today
        self._today_sql = ""
        self._anchor = anchor

    def param(self, value: Any, cast: str) -> str:
        self.params.append(value)
        return f"${len(self.params)}::{cast}"

    # ---------------------------------------------------------- conditions (never NULL)

    def condition(self, expr: Expr) -> str:
        if isinstance(expr, Binary) and expr.op in ("and", "or"):
            joiner = " AND " if expr.op == "and" else " OR "
            return f"({self.condition(expr.left)}{joiner}{self.condition(expr.right)})"
        if isinstance(expr, Unary) and expr.op == "not":
            return f"(NOT {self.condition(expr.operand)})"
        if isinstance(expr, Binary) and expr.op in ("==", "!=", *_ORDERING):
            return self._comparison(expr)
        if isinstance(expr, Binary) and expr.op in ("in", "not in"):
            found = self._membership(expr)
            return found if expr.op == "in" else f"(NOT {found})"
        value = self.value(expr)
        if value.type == "bool":
            return f"COALESCE({value.text}, false)"
        if value.type == "null":
            return "false"
        raise CohortError(f"{describe(expr)}: a {value.type} is not a condition (true or false)")

    def _comparison(self, expr: Binary) -> str:
        left, right = self.value(expr.left), self.value(expr.right)
        _check_comparable(expr, left, right)
        if expr.op == "==":
            return f"({left.text} IS NOT DISTINCT FROM {right.text})"
        if expr.op == "!=":
            return f"({left.text} IS DISTINCT FROM {right.text})"
        if "string" in (left.type, right.type):
            # Python orders strings by code point; so does the C collation.
            return f'COALESCE(({left.text} COLLATE "C") {expr.op} {right.text}, false)'
        return f"COALESCE({left.text} {expr.op} {right.text}, false)"

    def _membership(self, expr: Binary) -> str:
        item = self.value(expr.left)
        if item.type == "null":
            return "false"  # the evaluator: a hole is in nothing
        if isinstance(expr.right, ListExpr):
            return self._in_list(item, expr.right)
        container = self.value(expr.right)
        if container.type == "string" and item.type == "string":
            return f"COALESCE(strpos({container.text}, {item.text}) > 0, false)"
        raise CohortError(f"{describe(expr)}: `in` needs a list, or a text to search for a text in")

    def _in_list(self, item: _Sql, items: ListExpr) -> str:
        if not items.items:
            return "false"
        if all(isinstance(i, Literal) for i in items.items):
            literals = [i for i in items.items if isinstance(i, Literal)]
            types = {lit.type for lit in literals if lit.value is not None}
            if len(types) > 1:
                raise CohortError(f"{describe(items)}: a list mixing {', '.join(sorted(types))}")
            kind = types.pop() if types else item.type
            _check_comparable_types(describe(items), item.type, kind)
            values = [_param_value(lit) for lit in literals]
            array = self.param(values, f"{_cast(kind, items)}[]")
            return f"COALESCE({item.text} = ANY({array}), false)"
        parts = []
        for entry in items.items:
            value = self.value(entry)
            _check_comparable_types(describe(entry), item.type, value.type)
            parts.append(value.text)
        return f"COALESCE({item.text} IN ({', '.join(parts)}), false)"

    # ---------------------------------------------------------- values (may be NULL)

    def value(self, expr: Expr) -> _Sql:
        return self.visit(expr)

    def generic_visit(self, node: Any, *args: Any, **kwargs: Any) -> _Sql:
        raise CohortError(f"{type(node).__name__}: not an expression an entry condition can use")

    def visit_Literal(self, expr: Literal) -> _Sql:
        if expr.value is None or expr.type == "null":
            return _Sql("NULL", "null")
        if expr.type == "duration":
            return _Sql(self.param(Decimal(int(expr.value)), "numeric"), "duration")
        if expr.type not in _CASTS:
            raise CohortError(f"{describe(expr)}: a {expr.type} literal is not supported here")
        return _Sql(self.param(_param_value(expr), _CASTS[expr.type]), expr.type)

    def visit_Path(self, expr: Path) -> _Sql:
        column, kind = column_for(list(expr.parts), self.sources)
        self.roots.add(expr.parts[0])
        self.reasons.setdefault(".".join(expr.parts), column)
        return _Sql(column, kind)

    def visit_Unary(self, expr: Unary) -> _Sql:
        if expr.op == "not":
            return _Sql(self.condition(expr), "bool")
        operand = self.value(expr.operand)
        if operand.type not in ("number", "duration"):
            raise CohortError(f"{describe(expr)}: `-` needs a number or a duration")
        return _Sql(f"(-{operand.text})", operand.type)

    def visit_Binary(self, expr: Binary) -> _Sql:
        if expr.op in ("+", "-", "*", "/"):
            return self._arithmetic(expr)
        return _Sql(self.condition(expr), "bool")

    def visit_ListExpr(self, expr: ListExpr) -> _Sql:
        raise CohortError(f"{describe(expr)}: a list can only follow `in` here")

    def visit_Call(self, expr: Call) -> _Sql:
        translate = SQL_FUNCTIONS.get(expr.fn)
        sql = translate(self, expr) if translate is not None else None
        if sql is None:
            raise CohortError(
                f"{describe(expr)}: not supported in an entry condition ({_SUPPORTED})"
            )
        return sql

    def _arithmetic(self, expr: Binary) -> _Sql:
        left, right = self.value(expr.left), self.value(expr.right)
        pair, op = (left.type, right.type), expr.op
        if pair == ("number", "number"):
            if op == "/":
                return _Sql(f"({left.text}::numeric / NULLIF({right.text}, 0))", "number")
            return _Sql(f"({left.text} {op} {right.text})", "number")
        if op in ("+", "-") and pair == ("date", "duration"):
            return _Sql(f"({left.text} {op} {_whole_days(right.text)})", "date")
        if op == "+" and pair == ("duration", "date"):
            return _Sql(f"({right.text} + {_whole_days(left.text)})", "date")
        if op == "-" and pair == ("date", "date"):
            return _Sql(f"(({left.text} - {right.text}) * {_SECONDS_PER_DAY})", "duration")
        if op in ("+", "-") and pair == ("duration", "duration"):
            return _Sql(f"({left.text} {op} {right.text})", "duration")
        if "null" in pair:
            return _Sql("NULL", "null")
        raise CohortError(
            f"{describe(expr)}: `{op}` on a {left.type} and a {right.type} "
            "is not supported in an entry condition"
        )

    # ---------------------------------------------------------- built-in functions
    # Each returns the call's SQL, or None when this form of the call has none.

    def sql_today(self, expr: Call) -> _Sql | None:
        return _Sql(self._today_param(), "date") if not expr.args else None

    def sql_days_between(self, expr: Call) -> _Sql | None:
        if len(expr.args) != 1:
            return None
        day = self.value(expr.args[0])
        if day.type == "null":
            return _Sql("NULL", "null")
        if day.type != "date":
            raise CohortError(f"{describe(expr)}: {expr.fn} needs a date, not a {day.type}")
        today = self._today_param()
        until = expr.fn == "days_until"
        sql = f"({day.text} - {today})" if until else f"({today} - {day.text})"
        self.reasons.setdefault(describe(expr), sql)
        return _Sql(sql, "number")

    def sql_lower(self, expr: Call) -> _Sql | None:
        if len(expr.args) != 1:
            return None
        text = self.value(expr.args[0])
        if text.type not in ("string", "null"):
            raise CohortError(f"{describe(expr)}: lower needs a text, not a {text.type}")
        return _Sql(f"lower({text.text})", "string")

    def sql_extreme(self, expr: Call) -> _Sql | None:
        if len(expr.args) >= 2:
            return self._extreme(expr, expr.args)
        if len(expr.args) == 1 and isinstance(expr.args[0], ListExpr):
            if not expr.args[0].items:
                return _Sql("NULL", "null")  # the evaluator: min of nothing is a hole
            return self._extreme(expr, expr.args[0].items)
        return None

    def sql_anchor(self, expr: Call) -> _Sql | None:
        if expr.args or self._anchor is None:
            return None
        return self.value(self._anchor)

    def _extreme(self, expr: Call, args: list[Any]) -> _Sql:
        values = [self.value(arg) for arg in args]
        types = {v.type for v in values} - {"null"}
        if len(types) > 1:
            raise CohortError(f"{describe(expr)}: {expr.fn} of a mix of {', '.join(sorted(types))}")
        kind = types.pop() if types else "null"
        # LEAST/GREATEST skip NULLs, as the evaluator leaves holes out.
        sql_fn = "LEAST" if expr.fn == "min" else "GREATEST"
        return _Sql(f"{sql_fn}({', '.join(v.text for v in values)})", kind)

    def _today_param(self) -> str:
        if not self._today_sql:
            self._today_sql = self.param(self._today, "date")
        return self._today_sql


# The SQL of each built-in function (``dsl.builtins.BUILTINS``), by its name; the
# built-ins in NOT_IN_SQL have none, and an entry condition calling one is refused.
SQL_FUNCTIONS: dict[str, Callable[[_Compiler, Call], _Sql | None]] = {
    "today": _Compiler.sql_today,
    "days_until": _Compiler.sql_days_between,
    "days_since": _Compiler.sql_days_between,
    "lower": _Compiler.sql_lower,
    "min": _Compiler.sql_extreme,
    "max": _Compiler.sql_extreme,
    "anchor": _Compiler.sql_anchor,
}
NOT_IN_SQL = frozenset(
    {
        "round",
        "count",
        "contains",
        "month",
        "year",
        "date",
        "add_months",
        "next_date",
        "months",
        "business_days",
    }
)
_SUPPORTED = (
    "(supported: today(), days_until(date), days_since(date), lower(text), "
    "min(a, b...), max(a, b...), min([list]), max([list]), anchor())"
)


# --------------------------------------------------------------------------- small pieces


def _whole_days(seconds_sql: str) -> str:
    """Whole days of a duration, rounded down as ``timedelta.days`` is."""
    return f"floor({seconds_sql} / {_SECONDS_PER_DAY})::int"


def _param_value(expr: Literal) -> Any:
    if expr.value is None:
        return None
    if expr.type == "date":
        return date.fromisoformat(str(expr.value)[:10])
    if expr.type == "number":
        return Decimal(str(expr.value))
    if expr.type == "bool":
        return bool(expr.value)
    if expr.type == "string":
        return str(expr.value)
    if expr.type == "duration":
        return Decimal(int(expr.value))
    raise CohortError(f"{describe(expr)}: a {expr.type} literal is not supported here")


def _cast(kind: str, expr: Expr) -> str:
    if kind == "duration":
        return "numeric"
    if kind not in _CASTS:
        raise CohortError(f"{describe(expr)}: a list of {kind} is not supported here")
    return _CASTS[kind]


def _check_comparable(expr: Binary, left: _Sql, right: _Sql) -> None:
    _check_comparable_types(describe(expr), left.type, right.type)


def _check_comparable_types(what: str, left: str, right: str) -> None:
    if left == right or "null" in (left, right):
        return
    raise CohortError(f"{what}: compares a {left} with a {right}")


def describe(expr: Expr) -> str:
    """An expression written back as in the playbook, for messages and reasons."""
    return printer.expression(expr)
