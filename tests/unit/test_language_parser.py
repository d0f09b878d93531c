"""The parser: the AST it builds (spans, clauses, comments) and its syntax errors.

Error tests assert the exact message, line and column: these are the mistakes
people make every day, and the wording is part of the product.
"""

from __future__ import annotations

import pytest

from dsl import syntax as s
from dsl.diagnostics import render_diagnostics
from dsl.loader import check_text
from dsl.parser import decode_source, parse_text
from tests.unit.test_language_cases import HEAD, PLAYBOOKS, doc_example, with_body


def parse_ok(text: str) -> s.PlaybookFile:
    tree, found = parse_text(text, "t.playbook")
    assert tree is not None and not found, [d.headline() for d in found]
    return tree


def syntax_error(text: str) -> tuple[int, int, str, str]:
    tree, found = parse_text(text, "t.playbook")
    assert tree is None and len(found) == 1, [d.headline() for d in found]
    d = found[0]
    return d.line, d.col, d.message, d.hint


# --------------------------------------------------------------------------- the tree


def test_doc_example_parses_with_every_header_line() -> None:
    tree = parse_ok(doc_example())
    assert tree.name.text == "renewal"
    kinds = [type(item).__name__ for item in tree.header]
    assert kinds == [
        "TitleLine", "DescriptionLine", "JourneyIdLine", "SummaryLine", "AnchorLine",
        "EnrollLine", "EventsLine", "ExitLine", "GoalLine", "DefaultsBlock", "ExperimentBlock",
        "OnEvent", "OnEvent", "OnEvent",
    ]  # fmt: skip
    assert [step.label.text for step in tree.steps] == [
        "intent_survey", "prospecting", "quote", "statement", "reminder", "weekly",
    ]  # fmt: skip


def test_step_clauses_and_spans() -> None:
    tree = parse_ok(doc_example())
    step = tree.steps[0]
    assert step.label == s.Name("intent_survey", s.Span(30, 10, 30, 23))
    assert step.title is not None and step.title.raw == "Will you renew?"
    assert step.at is not None and step.at.direction == "before"
    assert step.at.offset == s.Duration("140", "days", s.Span(30, 45, 30, 53))
    reminder = tree.steps[4]
    assert reminder.if_past is not None and reminder.if_past.text == "skip"


def test_ask_and_match_keep_every_part() -> None:
    ask, match = parse_ok(doc_example()).steps[0].body
    assert isinstance(ask, s.AskStmt) and isinstance(match, s.MatchStmt)
    assert ask.question.text == "renewal_intent" and ask.to.text == "renewal_contact"
    assert ask.wait is not None and ask.wait.text == "14 days" and ask.using is None
    assert [c.name.text for c in ask.choices] == ["yes", "no", "not_decision_maker"]
    assert ask.prompt is not None and "{subscription.renewal_date}" in ask.prompt.raw
    assert match.subject_kind == "answer" and match.subject.dotted == "renewal_intent"
    assert [[v.text for v in c.values] for c in match.cases] == [  # type: ignore[union-attr]
        ["yes"],
        ["no"],
        ["not_decision_maker"],
    ]
    assert match.no_answer is not None and match.otherwise is None
    escalate = match.cases[1].body[1]
    assert isinstance(escalate, s.EscalateStmt)
    assert escalate.priority is not None and escalate.priority.text == "urgent"
    assert escalate.wait is not None and escalate.wait.seconds == 14 * 86400
    assert escalate.otherwise is not None and isinstance(escalate.otherwise[0], s.NotifyStmt)


def test_statement_forms() -> None:
    tree = parse_ok(
        with_body(
            'send hello to admin, reason "r", when blocked skip, retry 3 times every 1 minute',
            "generate quote without organic growth, uplift 5%, timeout 2 minutes",
            'call sync_crm(field: "x", score: nps.score), retry 2 times every 10 seconds',
            "start playbook nps_followup",
            "wait until 3 days after renewal if past skip",
            "wait for event ping",
            "otherwise:",
            "    wait 1 day",
            "parallel first:",
            "    branch a:",
            "        wait 2 hours",
            "    branch b:",
            "        wait 30 minutes",
            'if account.region in ["emea", "apac"]:',
            "    stop as done",
            "elif not (nps.score >= 7 and nps.score != 8):",
            "    achieve renewed",
            "else:",
            "    every 1 week until usage.devices_in_use > 3 * -2, at most 4 times:",
            "        wait 1 day",
        )
    )
    send, quote, call, start, until, event, parallel, if_ = tree.steps[0].body
    assert isinstance(send, s.SendStmt) and send.when_blocked is not None
    assert send.policy.retry is not None and send.policy.retry.every.seconds == 60
    assert isinstance(quote, s.QuoteStmt) and quote.organic_growth is False
    assert quote.uplift is not None and quote.uplift.value == 5
    assert isinstance(call, s.CallStmt) and [a.name.text for a in call.args] == ["field", "score"]
    assert isinstance(start, s.StartPlaybookStmt) and start.playbook.text == "nps_followup"
    assert isinstance(until, s.WaitUntilStmt) and until.time.direction == "after"
    assert isinstance(event, s.WaitEventStmt) and event.then is None and event.otherwise
    assert isinstance(parallel, s.ParallelStmt) and parallel.mode is not None
    assert [b.name.text for b in parallel.branches] == ["a", "b"]
    assert isinstance(if_, s.IfStmt) and len(if_.branches) == 2 and if_.else_body
    cond = if_.branches[1].condition
    assert isinstance(cond, s.UnaryOp) and isinstance(cond.operand, s.BinaryOp)
    every = if_.else_body[0]
    assert isinstance(every, s.EveryStmt) and every.at_most is not None
    assert isinstance(every.until, s.BinaryOp) and every.until.op == ">"


def test_operator_precedence() -> None:
    tree = parse_ok(
        with_body("if nps.score > 1 + 2 * 3 or not nps.score == 4 and true:", "    stop")
    )
    cond = tree.steps[0].body[0].branches[0].condition  # type: ignore[union-attr]
    assert isinstance(cond, s.BinaryOp) and cond.op == "or"
    left, right = cond.left, cond.right
    assert isinstance(left, s.BinaryOp) and left.op == ">"
    assert isinstance(left.right, s.BinaryOp) and left.right.op == "+"
    assert isinstance(right, s.BinaryOp) and right.op == "and"
    assert isinstance(right.left, s.UnaryOp) and right.left.op == "not"


def test_comments_are_collected_with_their_lines() -> None:
    text = (
        "# first\n"
        "playbook t:  # after the header\n"
        '    title "T"\n'
        "# at column one, inside the block\n"
        '    journey id "x"\n'
        "    step s:\n"
        "        # indented\n"
        "\n"
        "        wait 1 day # trailing\n"
    )
    tree = parse_ok(text)
    assert [(c.line, c.col, c.text, c.own_line) for c in tree.comments] == [
        (1, 1, "# first", True),
        (2, 14, "# after the header", False),
        (4, 1, "# at column one, inside the block", True),
        (7, 9, "# indented", True),
        (9, 20, "# trailing", False),
    ]


def test_strings_stay_raw() -> None:
    tree = parse_ok(with_body('notify channel ops "say \\"hi\\" {account.name}"'))
    notify = tree.steps[0].body[0]
    assert isinstance(notify, s.NotifyStmt)
    assert notify.message.raw == 'say \\"hi\\" {account.name}'
    assert notify.message.value == 'say "hi" {account.name}'


@pytest.mark.parametrize("path", sorted(PLAYBOOKS.glob("*.playbook")), ids=lambda p: p.stem)
def test_shipped_playbooks_parse(path) -> None:  # type: ignore[no-untyped-def]
    parse_ok(path.read_text())


# --------------------------------------------------------------------------- syntax errors


def test_missing_colon_at_end_of_block_line() -> None:
    text = HEAD + "    step s\n        wait 1 day\n"
    assert syntax_error(text) == (
        7,
        11,
        "missing `:` at the end of this line",
        "a line that opens a block ends with `:`",
    )


def test_send_without_recipient() -> None:
    assert syntax_error(with_body("send renewal_statement")) == (
        8, 31, "`send` needs a recipient: `send TEMPLATE to ROLE`",
        "e.g. `send renewal_statement to renewal_contact`",
    )  # fmt: skip


def test_unclosed_string() -> None:
    assert syntax_error(with_body('notify channel ops "oops')) == (
        8,
        28,
        "unclosed string",
        'a string ends with `"` on the same line',
    )


def test_tab_in_indentation() -> None:
    text = HEAD + "    step s:\n\twait 1 day\n"
    assert syntax_error(text) == (
        8,
        1,
        "tab in indentation",
        "indent with 4 spaces per level; tabs are not allowed",
    )


OPENER_HINT = "a block is indented 4 spaces more than the line ending in `:` above"


def test_indentation_not_four_spaces() -> None:
    text = HEAD + "    step s:\n      wait 1 day\n"
    assert syntax_error(text) == (
        8,
        1,
        "this line is indented by 6 spaces, which fits no block here",
        "indent it by 8 spaces: " + OPENER_HINT,
    )


def test_dedent_to_no_enclosing_block() -> None:
    text = with_body("wait 1 day") + "      wait 1 day\n"
    assert syntax_error(text) == (
        9,
        1,
        "this line is indented by 6 spaces, which fits no block here",
        "indent it by 4 or 8 spaces (8 like the previous line)",
    )


def test_indentation_states_the_real_column_and_the_level_meant() -> None:
    # One space short, after a deeper line: the nearest block level, and the previous line's.
    deeper = with_body("if true:", "    wait 1 day", "wait 2 days", "wait 3 days")
    seven = deeper.replace("        wait 2 days", "       wait 2 days")
    assert syntax_error(seven) == (
        10,
        1,
        "this line is indented by 7 spaces, which fits no block here",
        "indent it by 8 spaces (the nearest block level), or by 12 like the previous line",
    )
    # A space too many (column 10, not "1 space"): the previous line's level.
    nine = with_body("wait 1 day", " wait 2 days")
    assert syntax_error(nine) == (
        9,
        1,
        "this line is indented by 9 spaces, which fits no block here",
        "indent it by 8 spaces, like the previous line",
    )
    # Two spaces in a step: not column 1 (only `playbook` stands there).
    two = with_body("wait 1 day") + "  wait 2 days\n"
    assert syntax_error(two) == (
        9,
        1,
        "this line is indented by 2 spaces, which fits no block here",
        "indent it by 4 spaces (the nearest block level), or by 8 like the previous line",
    )
    # Under a line that opens a block, short or deep: one level deeper than it.
    for spaces in (2, 7, 9):
        opened = HEAD + "    step s:\n" + " " * spaces + "wait 1 day\n"
        assert syntax_error(opened) == (
            8,
            1,
            f"this line is indented by {spaces} spaces, which fits no block here",
            "indent it by 8 spaces: " + OPENER_HINT,
        )
    # A `:` inside a string or a comment opens nothing.
    quoted = with_body('notify channel x "a:" # b:') + "         wait 1 day\n"
    assert syntax_error(quoted)[3] == "indent it by 8 spaces, like the previous line"


def test_unexpected_indent() -> None:
    text = with_body("wait 1 day", "    wait 1 day")
    assert syntax_error(text) == (
        9,
        1,
        "unexpected indentation",
        "only a line that ends with `:` opens an indented block",
    )


def test_single_equals_in_condition() -> None:
    text = with_body('if account.segment = "smb":', "    stop")
    assert syntax_error(text) == (
        8,
        28,
        "`=` assigns; use `==` to compare",
        "conditions compare with ==, !=, <, <=, > or >=",
    )


def test_double_equals_in_set() -> None:
    line, col, message, _ = syntax_error(with_body('set account.risk_level == "high"'))
    assert (line, col, message) == (
        8, 32, "`set` assigns with a single `=`: `set account.FIELD = EXPR`"
    )  # fmt: skip


def test_duration_without_unit() -> None:
    line, col, message, _ = syntax_error(with_body("wait 14"))
    assert (line, col, message) == (8, 16, "a duration needs a unit")


UNIT_EXAMPLES = "write e.g. `14 days`, `2 weeks`, `3 hours`, `30 minutes` or `30 seconds`"


@pytest.mark.parametrize(
    "statement, col, hint",
    [
        ("wait 14 dayz", 17, "did you mean `days`?"),
        ("wait 1 dya", 16, "did you mean `day`?"),
        ("wait 2 wekes", 16, "did you mean `weeks`?"),
        ("wait 3 Hours", 16, "did you mean `hours`?"),
        ("wait 14 fortnights", 17, UNIT_EXAMPLES),
        ("wait 14", 16, UNIT_EXAMPLES),
    ],
)
def test_misspelled_unit_gets_did_you_mean(statement: str, col: int, hint: str) -> None:
    assert syntax_error(with_body(statement)) == (8, col, "a duration needs a unit", hint)


def test_block_without_body() -> None:
    text = HEAD + "    step s:\n    step t:\n        wait 1 day\n"
    line, col, message, _ = syntax_error(text)
    assert (line, col, message) == (8, 5, "expected an indented block")


def test_misspelled_keyword_gets_a_suggestion() -> None:
    assert syntax_error(with_body("sned hello to admin")) == (
        8, 9, "unexpected `sned`", "did you mean `send`?"
    )  # fmt: skip


def test_keywords_are_whole_words() -> None:
    text = HEAD.replace("journey id", "journey_id") + "    step s:\n        wait 1 day\n"
    assert syntax_error(text) == (3, 5, "unexpected `journey_id`", "did you mean `journey`?")


def test_missing_comma_between_options() -> None:
    assert syntax_error(with_body('send hello to admin reason "r"')) == (
        8, 29, "missing `,` before `reason`", "the options after an action are separated by commas"
    )  # fmt: skip
    line, col, message, _ = syntax_error(with_body("every 1 day until true at most 2 times:"))
    assert (line, col, message) == (8, 32, "missing `,` before `at`")


def test_else_if_instead_of_elif() -> None:
    text = with_body("if true:", "    stop", "else if false:", "    stop")
    line, col, message, _ = syntax_error(text)
    assert (line, col, message) == (10, 14, "write `elif`, not `else if`")


def test_else_and_otherwise_without_their_statement() -> None:
    line, col, message, _ = syntax_error(with_body("wait 1 day", "else:", "    stop"))
    assert (line, col, message) == (9, 9, "`else` without an `if` just before it")
    line, col, message, _ = syntax_error(with_body("send a to admin", "otherwise:", "    stop"))
    assert (line, col, message) == (
        9, 9, "`otherwise:` without an `escalate` or `wait for event` just before it"
    )  # fmt: skip


def test_text_without_quotes() -> None:
    text = with_body("ask q to admin, wait up to 1 day:", "    prompt Renew?")
    assert syntax_error(text) == (
        9, 20, "expected a string in double quotes, found `Renew`", 'e.g. "Will you renew?"'
    )  # fmt: skip


def test_statement_outside_a_step() -> None:
    line, col, message, _ = syntax_error(HEAD + "    send hello to admin\n")
    assert (line, col, message) == (7, 5, "`send` outside a step")


def test_expected_operators_are_summarised() -> None:
    _, _, message, hint = syntax_error(with_body("if nps.score 3:", "    stop"))
    assert message == "unexpected `3`"
    assert hint == "expected `.`, `:` or an operator"


def test_option_an_action_does_not_take() -> None:
    tree, found = parse_text(with_body("send hello to admin, priority high"), "t.playbook")
    assert tree is not None
    assert [(d.line, d.col, d.message, d.hint) for d in found] == [
        (8, 30, "`send` does not take `priority`",
         "`send` takes `reason`, `when blocked`, `retry`, `timeout`"),
    ]  # fmt: skip


def test_option_given_twice() -> None:
    tree, found = parse_text(
        with_body(
            "wait for event ping up to 1 day",
            "send a to admin, timeout 1 minute, timeout 2 minutes",
        ),
        "t.playbook",
    )
    assert [(d.line, d.col, d.message) for d in found] == [(9, 44, "`timeout` given twice")]


# --------------------------------------------------------------------------- broken input


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty file"),
        (b"  \n\n# only a comment\n", "empty file"),
        (b"\x00\x01\x02binary", "this is a binary file, not a playbook"),
        (b'playbook t:\n    title "caf\xe9"\n', "not valid UTF-8 (byte 0xe9)"),
    ],
)
def test_unreadable_input_gives_one_diagnostic(data: bytes, message: str) -> None:
    text, found = decode_source(data, "t.playbook")
    if text is not None:
        _, found = check_text(text, "t.playbook")
    assert [d.message for d in found] == [message]


def test_invalid_utf8_points_at_the_byte() -> None:
    _, found = decode_source(b'playbook t:\n    title "caf\xe9"\n', "t.playbook")
    assert (found[0].line, found[0].col) == (2, 15)


def test_rendering_shows_the_line_and_a_caret() -> None:
    text = with_body("send renewal_statement")
    _, found = parse_text(text, "t.playbook")
    assert render_diagnostics(found, text) == (
        "t.playbook:8:31: error: `send` needs a recipient: `send TEMPLATE to ROLE`\n"
        " 8 |         send renewal_statement\n"
        "   |                               ^\n"
        "hint: e.g. `send renewal_statement to renewal_contact`"
    )


def _nodes(value: object):  # type: ignore[no-untyped-def]
    """Every dataclass node below ``value``."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        yield value
        for f in dataclasses.fields(value):
            yield from _nodes(getattr(value, f.name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _nodes(item)


@pytest.mark.parametrize(
    "path", [None, *sorted(PLAYBOOKS.glob("*.playbook"))], ids=lambda p: p.stem if p else "doc"
)
def test_every_node_has_a_span(path) -> None:  # type: ignore[no-untyped-def]
    tree = parse_ok(path.read_text() if path else doc_example())
    for node in _nodes(tree):
        span = getattr(node, "span", None)
        if isinstance(node, s.Span | s.Comment | s.Policy):
            continue
        assert isinstance(span, s.Span) and span.line > 0 and span.col > 0, node
        assert (span.end_line, span.end_col) >= (span.line, span.col), node


def test_several_syntax_errors_in_one_run() -> None:
    text = (
        doc_example()
        .replace('title "Renewal"', "title Renewal")
        .replace("arm weekly 45%", "arm weekly 45")
        .replace('choice no "No, we do not plan to renew"', "choice no No")
        .replace("send renewal_documents to decision_maker", "send renewal_documents")
        .replace("step quote at 100 days before renewal:", "step quote at 100 days before renewal")
    )
    tree, found = parse_text(text, "t.playbook")
    assert tree is None
    assert [(d.line, d.col, d.message) for d in found] == [
        (3, 11, "expected a string in double quotes, found `Renewal`"),
        (20, 22, "unexpected end of line"),
        (34, 23, "expected a string in double quotes, found `No`"),
        (51, 31, "`send` needs a recipient: `send TEMPLATE to ROLE`"),
        (55, 42, "missing `:` at the end of this line"),
    ]


def test_catalogued_mistakes_match_at_any_depth() -> None:
    text = with_body("if true:", "    every 1 day, at most 2 times:", "        send hello")
    assert syntax_error(text)[2] == "`send` needs a recipient: `send TEMPLATE to ROLE`"
