"""Read model files: the default model (``dsl/default.model``) and a team's
``playbooks/model.playbook``, in the playbook language's own style
(``dsl/model_grammar.lark``), into one ``dsl.model.Model``.

    default_model() -> Model                      the built-in facts, owners, roles, channels
    load_model(playbooks_dir) -> Model            default + the team model; raises ModelError
    check_model_text(text, path) -> (Model | None, [Diagnostic])   for validate

A team model adds facts to the groups (not to the closed ones: quote, journey),
new groups, owners, contact roles and channels, and may name another fallback
queue; it may not redefine anything the default model declares. Every problem is
a ``Diagnostic`` with line, column and hint, like a playbook's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, VisitError
from lark.tree import Meta

from dsl.diagnostics import Diagnostic, PlaybookError, did_you_mean, error
from dsl.folder import model_file
from dsl.holidays import CALENDARS_FOLDER, HOLIDAYS_SUFFIX, read_holidays
from dsl.model import (
    CONTACT_GROUP,
    DEFAULT_ORIGIN,
    FIELD_TYPES,
    OPEN_ROOTS,
    Calendar,
    CalendarChoice,
    Channel,
    ContactRule,
    Fact,
    FactGroup,
    FieldType,
    Model,
    Owner,
)
from dsl.parser import Indentation, IndentationProblem, source_lines

_GRAMMAR = Path(__file__).with_name("model_grammar.lark")
DEFAULT_MODEL = Path(__file__).with_name("default.model")

TYPE_WORDS = (*FIELD_TYPES, "one of WORDS")
# What a book-wide contact rule may count, and the lengths of its period.
TOUCH_KINDS = ("emails", "ctas", "calls")
RULE_UNITS = {"hour": 3600, "day": 86400, "week": 7 * 86400}
_FACT_EXAMPLE = 'e.g. `support_tier: one of gold, silver, bronze "Support contract tier"`'


class ModelError(PlaybookError):
    """A model file that does not load; ``diagnostics`` say why, ``source`` is its text."""


# --------------------------------------------------------------------------- the file as written


@dataclass
class _Where:
    line: int
    col: int
    end_col: int | None = None


@dataclass
class _FactLine:
    name: str
    where: _Where
    type: FieldType | None
    words: tuple[str, ...]
    settable: bool
    description: str


@dataclass
class _Section:
    kind: str  # facts, owners, roles, channels
    where: _Where
    name: str = ""
    closed: bool = False
    items: list[Any] = field(default_factory=list)


@dataclass
class _OwnerLine:
    role: str
    where: _Where
    root: str = ""
    field: str = ""
    field_where: _Where | None = None
    description: str = ""
    fallback: bool = False


@dataclass
class _CalendarCase:
    value: str
    where: _Where
    calendar: str
    calendar_where: _Where


@dataclass
class _RuleLine:
    where: _Where
    limit: int
    noun: Token
    per: Token
    amount: int
    unit: Token
    counting: list[Token]


@dataclass
class _ChannelLine:
    name: str
    where: _Where
    env: str
    description: str


def _at(token: Token) -> _Where:
    return _Where(token.line or 1, token.column or 1, token.end_column)


def _text(token: Token | None) -> str:
    return str(token)[1:-1] if token is not None else ""


class _ToSections(Transformer[Token, list[_Section]]):
    """Parse tree -> sections; a type word that is no type becomes a diagnostic."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.diagnostics: list[Diagnostic] = []

    def start(self, children: list[Any]) -> list[_Section]:
        return next(c for c in children if isinstance(c, list))

    def model(self, children: list[Any]) -> list[_Section]:
        return [c for c in children if isinstance(c, _Section)]

    def facts(self, c: list[Any]) -> _Section:
        name, closed, *lines = c
        return _Section("facts", _at(name), str(name), closed is not None, lines)

    @v_args(meta=True)
    def owners(self, meta: Meta, c: list[Any]) -> _Section:
        return _Section("owners", _Where(meta.line, meta.column), items=list(c))

    @v_args(meta=True)
    def contact_roles(self, meta: Meta, c: list[Any]) -> _Section:
        return _Section("roles", _Where(meta.line, meta.column), items=list(c))

    @v_args(meta=True)
    def channels(self, meta: Meta, c: list[Any]) -> _Section:
        return _Section("channels", _Where(meta.line, meta.column), items=list(c))

    @v_args(meta=True)
    def calendars(self, meta: Meta, c: list[Any]) -> _Section:
        root, name, *cases = c
        fact = f"{root}.{name}" if root is not None else ""
        where = _at(root) if root is not None else _Where(meta.line, meta.column)
        return _Section("calendars", where, name=fact, items=cases)

    def calendar_case(self, c: list[Any]) -> _CalendarCase:
        value, calendar = c
        return _CalendarCase(str(value), _at(value), str(calendar), _at(calendar))

    @v_args(meta=True)
    def contact_rules(self, meta: Meta, c: list[Any]) -> _Section:
        return _Section("contact_rules", _Where(meta.line, meta.column), items=list(c))

    @v_args(meta=True)
    def contact_rule(self, meta: Meta, c: list[Any]) -> _RuleLine:
        limit, noun, per, amount, unit, *counting = c
        return _RuleLine(
            _Where(meta.line, meta.column),
            int(limit),
            noun,
            per,
            int(amount),
            unit,
            [t for t in counting if t is not None],
        )

    def fact(self, c: list[Any]) -> _FactLine:
        name, (kind, words, settable), description = c
        return _FactLine(str(name), _at(name), kind, words, settable, _text(description))

    def simple_kind(self, c: list[Any]) -> tuple[FieldType | None, tuple[str, ...], bool]:
        word, settable = c
        if str(word) in FIELD_TYPES:
            return str(word), (), settable is not None  # type: ignore[return-value]
        where = _at(word)
        hint = did_you_mean(str(word), FIELD_TYPES) or "types: " + ", ".join(TYPE_WORDS)
        self.diagnostics.append(
            error(f"unknown type {word}", where.line, where.col, where.end_col, hint, self.path)
        )
        return None, (), settable is not None

    def one_of(self, c: list[Any]) -> tuple[FieldType | None, tuple[str, ...], bool]:
        words = [t for t in c if t.type == "NAME"]
        settables = [t for t in c if t.type == "SETTABLE"]
        settable = bool(settables) and c[-1].type == "SETTABLE"
        for token in settables[:-1] if settable else settables:
            where = _at(token)
            self.diagnostics.append(
                error(
                    "`settable` comes last, after the words",
                    where.line,
                    where.col,
                    where.end_col,
                    "e.g. `risk_level: one of low, medium, high, settable`",
                    self.path,
                )
            )
        seen: set[str] = set()
        for token in words:
            if str(token) in seen:
                where = _at(token)
                self.diagnostics.append(
                    error(
                        f"{token} given twice", where.line, where.col, where.end_col, "", self.path
                    )
                )
            seen.add(str(token))
        return "string", tuple(dict.fromkeys(str(t) for t in words)), settable

    def owner_field(self, c: list[Any]) -> _OwnerLine:
        role, root, name, description = c
        return _OwnerLine(str(role), _at(role), str(root), str(name), _at(root), _text(description))

    def owner_queue(self, c: list[Any]) -> _OwnerLine:
        role, description = c
        return _OwnerLine(str(role), _at(role), description=_text(description))

    def fallback(self, c: list[Any]) -> _OwnerLine:
        return _OwnerLine(str(c[0]), _at(c[0]), fallback=True)

    def channel(self, c: list[Any]) -> _ChannelLine:
        name, env, description = c
        return _ChannelLine(str(name), _at(name), str(env), _text(description))


# --------------------------------------------------------------------------- parsing


_lark: Lark | None = None
_lock = threading.RLock()  # the postlexer keeps the indentation of the parse in progress


def _parser() -> Lark:
    global _lark
    if _lark is None:
        _lark = Lark(
            _GRAMMAR.read_text(encoding="utf-8"),
            parser="lalr",
            lexer="contextual",
            postlex=Indentation(),
            propagate_positions=True,
            maybe_placeholders=True,
            cache=True,
        )
    return _lark


def _parse(text: str) -> Tree[Token]:
    with _lock:
        return _parser().parse(text)


_SECTIONS_HINT = (
    'e.g. `facts support:` and, indented under it, `open_p1_tickets: number "Open P1s"`'
)
# What was expected, in the parser's terminal names -> what the line should be.
_EXPECTED: list[tuple[frozenset[str], str, str]] = [
    (
        frozenset({"MODEL"}),
        "a model file starts with `model:`",
        "then, indented, `facts GROUP:`, `owners:`, `contact roles: ...` and `channels:`",
    ),
    (
        frozenset({"FACTS", "OWNERS", "CONTACT", "CHANNELS"}),
        "a model holds `facts GROUP:`, `owners:`, `contact roles: ...` and `channels:` blocks",
        _SECTIONS_HINT,
    ),
    (
        frozenset({"ONE"}),
        "a fact needs a type",
        "types: " + ", ".join(TYPE_WORDS) + "; " + _FACT_EXAMPLE,
    ),
    (
        frozenset({"QUEUE"}),
        "an owner is found in an account field or is a queue",
        'e.g. `finance: account.finance_owner "Finance"` or `legal: queue`',
    ),
    (
        frozenset({"DOT"}),
        "an owner is found in an account field or is a queue",
        'e.g. `finance: account.finance_owner "Finance"` or `legal: queue`',
    ),
    (
        frozenset({"ENV"}),
        'a channel is `NAME: env VARIABLE "description"`',
        'e.g. `renewals: env PLAYBOOK_WEBHOOK_RENEWALS "The renewal team"`',
    ),
    (
        frozenset({"COLON"}),
        "a name in a model is followed by `:`",
        _FACT_EXAMPLE + ", `finance: account.finance_owner`",
    ),
]
_SECTION_WORDS = ("facts", "owners", "contact", "channels", "calendars")


def _catalogued(exc: UnexpectedInput) -> tuple[str, str] | None:
    accepts = set(getattr(exc, "accepts", None) or getattr(exc, "expected", None) or ())
    for expected, message, hint in _EXPECTED:
        if expected <= accepts:
            return message, hint
    return None


def _syntax_error(exc: Exception, text: str, path: str) -> Diagnostic:
    if isinstance(exc, IndentationProblem):
        return error(str(exc), exc.line, exc.col, exc.end_col, exc.hint, path)
    assert isinstance(exc, UnexpectedInput)
    line, col = max(exc.line, 1), max(exc.column, 1)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else ""
        hint = 'a string ends with `"` on the same line' if char == '"' else ""
        return error(f"unexpected character `{char}`", line, col, col + 1, hint, path)
    token: Token | None = getattr(exc, "token", None)
    found = str(token) if token is not None and token.type in ("NAME", "STRING") else ""
    if token is None or token.type == "$END" or token.line is None:
        lines = text.rstrip("\n").split("\n")
        line, col = len(lines), len(lines[-1]) + 1
    end = col + len(found) if found else None
    label = _catalogued(exc)
    if label is not None:
        message, hint = label
        if message.startswith("a model holds") and found:
            hint = did_you_mean(found, _SECTION_WORDS) or hint
        return error(message, line, col, end, hint, path)
    if token is not None and token.type == "_INDENT":
        hint = "only a line that ends with `:` opens an indented block"
        return error("unexpected indentation", token.end_line or line, 1, None, hint, path)
    what = f"`{found}`" if found else "end of line"
    return error(f"unexpected {what}", line, col, end, "see docs/language.md, The data model", path)


def _read_sections(text: str, path: str) -> tuple[list[_Section] | None, list[Diagnostic]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.split("\n")
    ):
        return None, [error("empty model file", 1, 1, None, "a model starts with `model:`", path)]
    if not text.endswith("\n"):
        text += "\n"
    lines_token = source_lines.set(text.split("\n"))  # for the postlexer's hints
    try:
        tree = _parse(text)
    except (IndentationProblem, UnexpectedInput) as exc:
        return None, [_syntax_error(exc, text, path)]
    finally:
        source_lines.reset(lines_token)
    builder = _ToSections(path)
    try:
        sections = builder.transform(tree)
    except VisitError as exc:  # lark wraps what a transformer method raises
        raise exc.orig_exc from exc
    return sections, builder.diagnostics


# --------------------------------------------------------------------------- building


class _Builder:
    """Sections -> a ``Model``, on top of ``base`` (the default model) if given."""

    def __init__(self, path: str, base: Model | None) -> None:
        self.path = path
        self.base = base
        self.origin = DEFAULT_ORIGIN if base is None else path
        self.diagnostics: list[Diagnostic] = []
        self.groups: dict[str, FactGroup] = {g.name: g for g in base.groups} if base else {}
        self.owners: dict[str, Owner] = {o.role: o for o in base.owners} if base else {}
        self.fallback = base.fallback_owner if base else ""
        self.fallback_at: _Where | None = None
        self.roles: list[str] = list(base.contact_roles) if base else []
        self.channels: dict[str, Channel] = {c.name: c for c in base.channels} if base else {}
        self.declared_groups: set[str] = set()
        self.calendars: dict[str, Calendar] = {c.name: c for c in base.calendars} if base else {}
        self.calendar_choice = base.calendar_choice if base else None
        self.rules: list[ContactRule] = list(base.contact_rules) if base else []
        self.unread: set[str] = set()  # calendars whose file did not read

    def report(self, message: str, where: _Where, hint: str = "") -> None:
        self.diagnostics.append(
            error(message, where.line, where.col, where.end_col, hint, self.path)
        )

    def built_in(self, what: str, where: _Where, hint: str) -> None:
        self.report(
            f"{what} is built in: a team model may not redefine it",
            where,
            hint + " (`playbook model` lists the built-in ones)",
        )

    def build(self, sections: list[_Section]) -> Model:
        for section in sections:
            if section.kind == "facts":
                self.add_facts(section)
        owner_lines = [line for s in sections if s.kind == "owners" for line in s.items]
        for line in owner_lines:
            self.add_owner(line)
        for line in owner_lines:  # once every owner is known
            if line.fallback:
                self.set_fallback(line)
        for section in sections:
            if section.kind == "roles":
                self.add_roles(section.items)
            elif section.kind == "channels":
                for channel in section.items:
                    self.add_channel(channel)
            elif section.kind == "calendars":
                self.add_calendars(section)
            elif section.kind == "contact_rules":
                for rule in section.items:
                    self.add_rule(rule)
        if not self.fallback:
            self.report(
                "no fallback owner", sections[0].where, "add `fallback: QUEUE` to `owners:`"
            )
        sources = (DEFAULT_ORIGIN,) if self.base is None else (DEFAULT_ORIGIN, self.path)
        return Model(
            groups=tuple(self.groups.values()),
            owners=tuple(self.owners.values()),
            fallback_owner=self.fallback,
            contact_roles=tuple(self.roles),
            channels=tuple(self.channels.values()),
            sources=sources,
            calendars=tuple(self.calendars.values()),
            calendar_choice=self.calendar_choice,
            contact_rules=tuple(self.rules),
        )

    # ------------------------------------------------------------------ facts

    def add_facts(self, section: _Section) -> None:
        name = section.name
        if name in OPEN_ROOTS:
            self.report(
                f"`{name}` is not a fact group name",
                section.where,
                f"playbooks read {', '.join(OPEN_ROOTS)} without a model; name the group otherwise",
            )
            return
        if name in self.declared_groups:
            self.report(f"facts {name} declared twice", section.where, "declare a group once")
        self.declared_groups.add(name)
        group = self.groups.get(name)
        if group is not None and group.closed and group.origin == DEFAULT_ORIGIN:
            self.report(
                f"{name} facts come from the engine: a team model adds none",
                section.where,
                "declare your facts in a group of your own, e.g. `facts support:`",
            )
            return
        if group is not None and section.closed and group.origin == DEFAULT_ORIGIN:
            self.report(f"{name} is built in: a team model may not close it", section.where)
        facts = list(group.facts) if group else []
        for line in section.items:
            fact = self.fact(name, line)
            known = next((f for f in facts if f.name == line.name), None)
            if known is not None and known.built_in and self.base is not None:
                self.built_in(
                    f"{_path(name, line.name)}",
                    line.where,
                    "give your fact a name of its own",
                )
            elif known is not None:
                self.report(f"{_path(name, line.name)} declared twice", line.where)
            elif fact is not None:
                facts.append(fact)
        origin = group.origin if group else self.origin
        closed = group.closed if group else section.closed
        self.groups[name] = FactGroup(name, tuple(facts), closed, origin)

    def fact(self, group: str, line: _FactLine) -> Fact | None:
        if line.type is None:
            return None
        return Fact(
            group,
            line.name,
            line.type,
            line.words,
            line.settable,
            line.description,
            self.origin,
            line.where.line,
        )

    # ------------------------------------------------------------------ owners

    def add_owner(self, line: _OwnerLine) -> None:
        if line.fallback:
            return
        known = self.owners.get(line.role)
        if known is not None and known.origin == DEFAULT_ORIGIN and self.base is not None:
            self.built_in(f"owner {line.role}", line.where, "give your owner a name of its own")
            return
        if known is not None:
            self.report(f"owner {line.role} declared twice", line.where)
            return
        if line.field_where is not None and not self.owner_field(line, line.field_where):
            return
        self.owners[line.role] = Owner(line.role, line.field, line.description, self.origin)

    def owner_field(self, line: _OwnerLine, where: _Where) -> bool:
        """An owner's person is named by a declared text fact of the account."""
        if line.root != "account":
            self.report(
                f"an owner is found in an account field, not in {line.root}",
                where,
                f"e.g. `{line.role}: account.{line.role}_owner`, declared under `facts account:`",
            )
            return False
        fields = self.groups["account"].facts if "account" in self.groups else ()
        fact = next((f for f in fields if f.name == line.field), None)
        at = _Where(where.line, where.col, where.col + len(f"account.{line.field}"))
        if fact is None:
            names = [f.name for f in fields]
            self.report(
                f"unknown field account.{line.field}",
                at,
                did_you_mean(line.field, names)
                or f'declare it under `facts account:`, e.g. `{line.field}: string "..."`',
            )
            return False
        if fact.type != "string" or fact.words:
            self.report(
                f"account.{line.field} holds no person: an owner's field is a string",
                at,
                "the field holds the owner's address, e.g. `finance_owner: string`",
            )
            return False
        return True

    def set_fallback(self, line: _OwnerLine) -> None:
        if self.fallback_at is not None:
            self.report("fallback given twice", line.where)
            return
        self.fallback_at = line.where
        owner = self.owners.get(line.role)
        queues = [o.role for o in self.owners.values() if o.is_queue]
        if owner is None:
            self.report(
                f"unknown owner {line.role}",
                line.where,
                did_you_mean(line.role, queues) or f"declare it first: `{line.role}: queue`",
            )
        elif not owner.is_queue:
            self.report(
                f"the fallback must be a queue, and {line.role} is a person",
                line.where,
                "queues: " + ", ".join(queues),
            )
        else:
            self.fallback = line.role

    # ------------------------------------------------------------------ roles and channels

    def add_roles(self, tokens: list[Token]) -> None:
        built_in = set(self.base.contact_roles) if self.base else set()
        for token in tokens:
            role = str(token)
            if role in built_in:
                self.built_in(f"contact role {role}", _at(token), "list only your own roles")
            elif role in self.roles:
                self.report(f"contact role {role} declared twice", _at(token))
            else:
                self.roles.append(role)

    def add_channel(self, line: _ChannelLine) -> None:
        known = self.channels.get(line.name)
        if known is not None and known.origin == DEFAULT_ORIGIN and self.base is not None:
            self.built_in(f"channel {line.name}", line.where, "give your channel a name of its own")
        elif known is not None:
            self.report(f"channel {line.name} declared twice", line.where)
        else:
            self.channels[line.name] = Channel(line.name, line.env, line.description, self.origin)

    # ------------------------------------------------------------------ calendars

    def add_calendars(self, section: _Section) -> None:
        if self.calendar_choice is not None:
            self.report("calendars declared twice", section.where, "keep one `calendars` block")
            return
        words: tuple[str, ...] = ()
        if section.name:
            root, _, name = section.name.partition(".")
            fact = self.groups[root].facts if root in self.groups else ()
            known = next((f for f in fact if f.name == name), None)
            if known is None:
                paths = [f"{g.name}.{f.name}" for g in self.groups.values() for f in g.facts]
                hint = did_you_mean(section.name, paths) or "e.g. `calendars by account.region:`"
                self.report(f"unknown fact {section.name}", section.where, hint)
                return
            words = known.words
        cases: dict[str, str] = {}
        default = ""
        for case in section.items:
            if not self.calendar(case.calendar, case.calendar_where):
                continue
            if case.value == "otherwise":
                default = case.calendar
            elif not section.name:
                self.report(
                    f"`{case.value}:` needs a fact to match",
                    case.where,
                    "write `calendars by account.region:`, or only `otherwise: CALENDAR`",
                )
            elif words and case.value not in words:
                hint = did_you_mean(case.value, words) or f"{section.name} is one of " + ", ".join(
                    words
                )
                self.report(f"{section.name} is never {case.value}", case.where, hint)
            elif case.value in cases:
                self.report(f"{case.value} given twice", case.where)
            else:
                cases[case.value] = case.calendar
        self.calendar_choice = CalendarChoice(section.name, tuple(cases.items()), default)

    def calendar(self, name: str, where: _Where) -> bool:
        """Read calendar ``name`` from its holiday file next to the model; False (and a
        diagnostic) when there is none or it does not read."""
        if name in self.calendars:
            return True
        if name in self.unread:  # said once
            return False
        folder = Path(self.path).parent / CALENDARS_FOLDER
        path = folder / f"{name}{HOLIDAYS_SUFFIX}"
        if not path.is_file():
            there = sorted(p.stem for p in folder.glob(f"*{HOLIDAYS_SUFFIX}"))
            hint = did_you_mean(name, there) or (
                f"the calendars there: {', '.join(there)}"
                if there
                else f"write {path}: one `YYYY-MM-DD Name` a line"
            )
            self.report(f"unknown calendar {name}: no file {path}", where, hint)
            return False
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.report(f"calendar {name}: {path} does not read ({exc})", where)
            self.unread.add(name)
            return False
        calendar, problems = read_holidays(name, text, str(path))
        self.diagnostics += problems
        if calendar is None:
            self.unread.add(name)
            return False
        self.calendars[name] = calendar
        return True

    # ------------------------------------------------------------------ contact rules

    def add_rule(self, line: _RuleLine) -> None:
        noun, per, unit = str(line.noun), str(line.per), str(line.unit)
        example = "e.g. `at most 2 emails per contact per 7 days`"
        if per not in ("contact", "account"):
            self.report(
                f"a rule is per contact or per account, not per {per}",
                _at(line.per),
                did_you_mean(per, ("contact", "account")) or example,
            )
            return
        nouns = ("emails", "email") if per == "contact" else ("touches", "emails", "email")
        if noun not in nouns:
            hint = (
                "per contact, a rule counts emails"
                if per == "contact"
                else "per account, `touches ... counting emails, ctas, calls` or `emails`"
            )
            self.report(f"unknown {noun}: at most N {nouns[0]} per {per}", _at(line.noun), hint)
            return
        seconds = RULE_UNITS.get(unit.removesuffix("s"))
        if seconds is None or line.amount <= 0:
            self.report(
                f"a rule's period is a number of days, weeks or hours, not {line.amount} {unit}",
                _at(line.unit),
                did_you_mean(unit, ("days", "weeks", "hours")) or example,
            )
            return
        counting = tuple(str(t) for t in line.counting)
        for token in line.counting:
            if str(token) not in TOUCH_KINDS:
                hint = did_you_mean(str(token), TOUCH_KINDS) or "counting " + ", ".join(TOUCH_KINDS)
                if str(token) in ("meetings", "meeting", "tasks"):
                    hint = "the calls and meetings people make are their CTAs: count `ctas`"
                self.report(f"unknown touch {token}", _at(token), hint)
                return
        if per == "contact" and counting not in ((), ("emails",)):
            self.report(
                "a rule per contact counts emails only",
                _at(line.counting[0]),
                "count CTAs and calls per account: `at most 3 touches per account per 7 days`",
            )
            return
        if not counting:
            counting = ("emails",) if noun.startswith("email") else TOUCH_KINDS
        text = f"at most {line.limit} {noun} per {per} per {line.amount} {unit}"
        if per == "account" and noun == "touches":
            text += " counting " + ", ".join(counting)
        rule = ContactRule(
            line.limit,
            "contact" if per == "contact" else "account",
            line.amount * seconds,
            counting,
            text,
            self.origin,
        )
        self.rules.append(rule)


def _path(group: str, name: str) -> str:
    return f"contacts.ROLE.{name}" if group == CONTACT_GROUP else f"{group}.{name}"


# --------------------------------------------------------------------------- the public API


def build_model(text: str, path: str, base: Model | None) -> tuple[Model | None, list[Diagnostic]]:
    """The model ``text`` declares on top of ``base`` (``None``: it is the default
    model itself), or ``None`` and every problem."""
    sections, diagnostics = _read_sections(text, path)
    if sections is None:
        return None, diagnostics
    builder = _Builder(path, base)
    model = builder.build(sections)
    diagnostics = sorted(diagnostics + builder.diagnostics, key=lambda d: (d.line, d.col))
    return (None if any(d.is_error for d in diagnostics) else model), diagnostics


_default: Model | None = None


def default_model() -> Model:
    """The built-in model (``dsl/default.model``), read once."""
    global _default
    if _default is None:
        text = DEFAULT_MODEL.read_text(encoding="utf-8")
        model, diagnostics = build_model(text, str(DEFAULT_MODEL), None)
        if model is None:
            raise ModelError(diagnostics, text)
        _default = model
    return _default


def check_model_text(text: str, path: str = "<text>") -> tuple[Model | None, list[Diagnostic]]:
    """A team model file's text: the default model with it added, or every problem."""
    return build_model(text, path, default_model())


_loaded: dict[tuple[str, str], Model] = {}


def _calendar_texts(folder: Path) -> str:
    """The holiday files next to a model, as one text: a changed holiday file is a
    changed model."""
    parts = []
    for path in sorted((folder / CALENDARS_FOLDER).glob(f"*{HOLIDAYS_SUFFIX}")):
        try:
            parts.append(f"\0{path.name}\0{path.read_text(encoding='utf-8')}")
        except (OSError, UnicodeDecodeError):
            parts.append(f"\0{path.name}\0?")
    return "".join(parts)


def load_model(playbooks_dir: str | Path | None) -> Model:
    """The model of the playbooks in ``playbooks_dir``: the default model, with the
    team's ``model.playbook`` there (if any) added. Raises ``ModelError``."""
    if playbooks_dir is None:
        return default_model()
    path = model_file(Path(playbooks_dir))
    if not path.is_file():
        return default_model()
    from dsl.loader import read_source  # the loader checks playbooks against models

    text, problems = read_source(path)
    if text is None:
        raise ModelError(problems, "")
    key = (str(path.resolve()), text + _calendar_texts(path.parent))
    if key not in _loaded:
        model, diagnostics = check_model_text(text, str(path))
        if model is None:
            raise ModelError(diagnostics, text)
        if len(_loaded) > 32:  # a process reads the models of a folder or two
            _loaded.clear()
        _loaded[key] = model
    return _loaded[key]


__all__ = [
    "DEFAULT_MODEL",
    "ModelError",
    "build_model",
    "check_model_text",
    "default_model",
    "load_model",
]
