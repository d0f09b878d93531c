"""``playbook fmt``: one canonical layout, idempotent, never a change of meaning.

The properties are checked on the shipped playbooks, on the shipped playbooks
with their whitespace, blank lines and comments scrambled, and on playbooks
generated from a small grammar of statements (with redundant parentheses and
clauses in any order).
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import authoring
from dsl.formatter import format_playbook, format_text
from dsl.loader import check_text

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"
TEMPLATES = PLAYBOOKS / "templates"
SHIPPED = sorted(PLAYBOOKS.glob("*.playbook"))
SOURCES = {path.name: path.read_text() for path in SHIPPED}

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def version(text: str) -> str:
    """The IR version of playbook text, checked like a file in playbooks/."""
    playbook, diagnostics = check_text(text, "generated.playbook", TEMPLATES, PLAYBOOKS)
    assert playbook is not None, "\n".join(d.headline() for d in diagnostics)
    return playbook.version()


def fmt(text: str) -> str:
    formatted, diagnostics = format_text(text)
    assert formatted is not None, "\n".join(d.headline() for d in diagnostics)
    return formatted


def cli() -> typer.Typer:
    app = typer.Typer()
    authoring.register(app)
    return app


# --------------------------------------------------------------------------- shipped playbooks


def test_there_are_four_shipped_playbooks() -> None:
    assert [p.stem for p in SHIPPED] == [
        "cloud_migration",
        "nps_followup",
        "renewal",
        "version_currency",
    ]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_playbooks_are_fmt_clean(path: Path) -> None:
    assert fmt(SOURCES[path.name]) == SOURCES[path.name]


def test_fmt_check_passes_on_the_shipped_playbooks() -> None:
    result = CliRunner().invoke(cli(), ["fmt", "--check", *map(str, SHIPPED)])
    assert result.exit_code == 0, result.output
    assert result.output == ""


# --------------------------------------------------------------------------- layout rules


def test_canonical_layout() -> None:
    messy = (
        "playbook  demo :\n"
        '    title   "Demo"\n'
        '    journey id "demo:{account.id}"\n'
        "    events ping ,pong\n"
        "    step first:\n"
        "        wait   1 day\n"
        "    step second  at 3 days after subscription.start_date  if past skip :\n"
        '        send renewal_statement to admin ,timeout 1 minute,reason "r" ,when blocked skip\n'
        '        create cta for csm,reason "why", due in 2 days,priority high\n'
    )
    assert fmt(messy) == (
        "playbook demo:\n"
        '    title "Demo"\n'
        '    journey id "demo:{account.id}"\n'
        "    events ping, pong\n"
        "\n"
        "    step first:\n"
        "        wait 1 day\n"
        "\n"
        "    step second at 3 days after subscription.start_date if past skip:\n"
        '        send renewal_statement to admin, reason "r", when blocked skip, timeout 1 minute\n'
        '        create cta for csm, priority high, due in 2 days, reason "why"\n'
    )


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("(account.acv + 1) * 2 > 3", "(account.acv + 1) * 2 > 3"),
        ("account.acv + (1 * 2) > 3", "account.acv + 1 * 2 > 3"),
        ("account.acv - (1 - 2) > 3", "account.acv - (1 - 2) > 3"),
        ("((account.acv - 1) - 2) > 3", "account.acv - 1 - 2 > 3"),
        ("not (account.acv > 1 and true)", "not (account.acv > 1 and true)"),
        ("(not true) and (false or true)", "not true and (false or true)"),
        ("-(-account.acv) < 0", "-(-account.acv) < 0"),
        ('account.region in [ "emea","apac" ]', 'account.region in ["emea", "apac"]'),
        (
            "days_until( subscription.renewal_date )<=150",
            "days_until(subscription.renewal_date) <= 150",
        ),
    ],
)
def test_parentheses_only_where_precedence_needs_them(written: str, canonical: str) -> None:
    text = f'playbook demo:\n    title "Demo"\n    journey id "d"\n    enroll when {written}\n'
    out = fmt(text)
    assert out.splitlines()[3] == f"    enroll when {canonical}"
    assert version(out) == version(text)


def test_comments_stay_with_their_statements() -> None:
    text = (
        "# about the file\n"
        "playbook demo:  # the name\n"
        '    title "Demo"\n'
        '    journey id "d"\n'
        "    step one:\n"
        "            # why we wait\n"
        "        wait 1 day   # a day is enough\n"
        "        if true:\n"
        "            wait 2 days\n"
        "        # the else case\n"
        "        else:\n"
        "            wait 3 days\n"
        "# the end\n"
    )
    assert fmt(text) == (
        "# about the file\n"
        "playbook demo:  # the name\n"
        '    title "Demo"\n'
        '    journey id "d"\n'
        "\n"
        "    step one:\n"
        "        # why we wait\n"
        "        wait 1 day  # a day is enough\n"
        "        if true:\n"
        "            wait 2 days\n"
        "        # the else case\n"
        "        else:\n"
        "            wait 3 days\n"
        "            # the end\n"
    )


def test_header_lines_and_defaults_in_canonical_order_with_their_comments() -> None:
    text = (
        "playbook demo:\n"
        "    # why these events\n"
        "    events ping\n"
        "    on event ping stop as pinged\n"
        '    exit gone when subscription.status == "churned"\n'
        "    defaults:\n"
        "        quiet hours 20 to 8\n"
        "        # never more than two\n"
        "        email cap 2 per 7 days\n"
        "        timeout 1 minute\n"
        '    title "Demo"\n'
        '    journey id "d"\n'
        '    exit lost when subscription.status == "renewed"\n'
        "    step one:\n"
        "        wait 1 day\n"
    )
    out = fmt(text)
    assert out == (
        "playbook demo:\n"
        '    title "Demo"\n'
        '    journey id "d"\n'
        "    # why these events\n"
        "    events ping\n"
        '    exit gone when subscription.status == "churned"\n'
        '    exit lost when subscription.status == "renewed"\n'
        "\n"
        "    defaults:\n"
        "        timeout 1 minute\n"
        "        # never more than two\n"
        "        email cap 2 per 7 days\n"
        "        quiet hours 20 to 8\n"
        "\n"
        "    on event ping stop as pinged\n"
        "\n"
        "    step one:\n"
        "        wait 1 day\n"
    )
    assert version(out) == version(text)


def test_blank_lines_kept_once_and_never_open_a_block() -> None:
    text = (
        'playbook demo:\n    title "Demo"\n    journey id "d"\n'
        "    step one:\n\n\n        wait 1 day\n\n\n\n        wait 2 days\n"
    )
    assert fmt(text) == (
        'playbook demo:\n    title "Demo"\n    journey id "d"\n\n'
        "    step one:\n        wait 1 day\n\n        wait 2 days\n"
    )


# --------------------------------------------------------------------------- the CLI


def _copy_playbooks(tmp_path: Path) -> Path:
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    for path in SHIPPED:
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_fmt_check_lists_files_that_would_change_and_fmt_rewrites_them(tmp_path: Path) -> None:
    folder = _copy_playbooks(tmp_path)
    messy = folder / "renewal.playbook"
    scrambled, _ = scramble(
        SOURCES["renewal.playbook"], random.Random(7), blanks=False, comments=False
    )
    messy.write_text(scrambled)
    clean = folder / "nps_followup.playbook"

    result = CliRunner().invoke(cli(), ["fmt", "--check", str(messy), str(clean)])
    assert result.exit_code == 1
    assert result.output.strip() == f"would reformat {messy}"
    assert messy.read_text() != SOURCES["renewal.playbook"]

    result = CliRunner().invoke(cli(), ["fmt", str(messy), str(clean)])
    assert result.exit_code == 0, result.output
    assert messy.read_text() == SOURCES["renewal.playbook"]
    assert clean.read_text() == SOURCES["nps_followup.playbook"]


def test_fmt_never_writes_a_file_that_does_not_check(tmp_path: Path) -> None:
    folder = _copy_playbooks(tmp_path)
    broken = folder / "renewal.playbook"
    text = SOURCES["renewal.playbook"].replace("send renewal_documents", "send  renewal_docs", 1)
    broken.write_text(text)
    result = CliRunner().invoke(cli(), ["fmt", str(broken)])
    assert result.exit_code == 1
    assert "unknown template renewal_docs" in result.output
    assert broken.read_text() == text


def test_fmt_of_a_missing_file_is_a_user_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.playbook"
    result = CliRunner().invoke(cli(), ["fmt", str(missing)])
    assert result.exit_code == 1
    assert f"{missing}:1:1: error: no such file" in result.output


def test_fmt_of_a_folder_formats_its_playbooks(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli(), ["fmt", "--check", str(PLAYBOOKS)])
    assert result.exit_code == 0, result.output
    folder = _copy_playbooks(tmp_path)
    (folder / "nps_followup.playbook").write_text(
        SOURCES["nps_followup.playbook"].replace("step record:", "step   record :")
    )
    result = CliRunner().invoke(cli(), ["fmt", "--check", str(folder)])
    assert result.exit_code == 1
    assert result.output == f"would reformat {folder / 'nps_followup.playbook'}\n"


# --------------------------------------------------------------------------- scrambled playbooks


def _split_line(line: str) -> tuple[str, list[tuple[bool, str]], str]:
    """Indent, then (is_code, text) segments outside/inside strings, then a trailing comment."""
    indent = line[: len(line) - len(line.lstrip(" "))]
    rest = line[len(indent) :]
    segments: list[tuple[bool, str]] = []
    current, in_string, i = "", False, 0
    while i < len(rest):
        ch = rest[i]
        if in_string:
            current += ch
            if ch == "\\":
                current += rest[i + 1]
                i += 1
            elif ch == '"':
                segments.append((False, current))
                current, in_string = "", False
        elif ch == '"':
            segments.append((True, current))
            current, in_string = '"', True
        elif ch == "#":
            segments.append((True, current))
            return indent, segments, rest[i:]
        else:
            current += ch
        i += 1
    segments.append((True, current))
    return indent, segments, ""


def _scramble_code(code: str, rng: random.Random) -> str:
    out = []
    for ch in code:
        if ch == " ":
            out.append(" " * rng.randint(1, 3))
        elif ch in ",:()[]%" and rng.random() < 0.5:
            out.append(" " + ch + " " * rng.randint(0, 1))
        else:
            out.append(ch)
    return "".join(out)


def scramble(
    text: str, rng: random.Random, *, blanks: bool, comments: bool
) -> tuple[str, list[str]]:
    """Respace every line outside strings; optionally add blank lines and comments."""
    lines: list[str] = []
    added: list[str] = []
    for number, line in enumerate(text.splitlines()):
        if not line.strip() or line.lstrip().startswith("#"):
            if line.strip() or not (blanks and rng.random() < 0.3):  # blank lines may go away
                lines.append(line)
            continue
        indent, segments, comment = _split_line(line)
        body = "".join(_scramble_code(t, rng) if code else t for code, t in segments)
        if comments and rng.random() < 0.15:
            note = f"# note {number}"
            added.append(note)
            lines.append(" " * rng.choice([0, 2, 4, 9]) + note)
        if comments and not comment and rng.random() < 0.15:
            comment = f"# trailing {number}"
            added.append(comment)
        lines.append(indent + body + (" " * rng.randint(1, 3) + comment if comment else ""))
        if blanks and rng.random() < 0.2:
            lines.extend([""] * rng.randint(1, 2))
    return "\n".join(lines) + "\n", added


@PROPERTY
@given(name=st.sampled_from(sorted(SOURCES)), rng=st.randoms(use_true_random=False))
def test_respacing_a_shipped_playbook_formats_back_to_it(name: str, rng: random.Random) -> None:
    scrambled, _ = scramble(SOURCES[name], rng, blanks=False, comments=False)
    assert fmt(scrambled) == SOURCES[name]


def shuffle_header(text: str, rng: random.Random) -> str:
    """Shuffle the one-line header lines (each with the comments above it); lines of
    one kind (two exits) keep their order, as the IR's lists do."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("playbook ")) + 1
    end = lines.index("", start)
    units: list[list[str]] = []
    pending: list[str] = []
    for line in lines[start:end]:
        pending.append(line)
        if not line.lstrip().startswith("#"):
            units.append(pending)
            pending = []
    order = list(range(len(units)))
    rng.shuffle(order)
    by_kind: dict[str, list[list[str]]] = {}
    for unit in units:
        by_kind.setdefault(unit[-1].split()[0], []).append(unit)
    shuffled = [by_kind[units[i][-1].split()[0]].pop(0) for i in order]
    return "\n".join(lines[:start] + [x for u in shuffled for x in u] + lines[end:]) + "\n"


@PROPERTY
@given(name=st.sampled_from(sorted(SOURCES)), rng=st.randoms(use_true_random=False))
def test_shuffled_header_lines_go_back_in_place(name: str, rng: random.Random) -> None:
    assert fmt(shuffle_header(SOURCES[name], rng)) == SOURCES[name]


@PROPERTY
@given(name=st.sampled_from(sorted(SOURCES)), rng=st.randoms(use_true_random=False))
def test_fmt_is_idempotent_and_keeps_the_ir_and_comments(name: str, rng: random.Random) -> None:
    scrambled, added = scramble(SOURCES[name], rng, blanks=True, comments=True)
    once = fmt(scrambled)
    assert fmt(once) == once
    assert version(once) == version(SOURCES[name])
    for comment in added:
        assert comment in once
    for line in once.splitlines():
        assert line == line.rstrip()
        assert (len(line) - len(line.lstrip(" "))) % 4 == 0


# --------------------------------------------------------------------------- generated playbooks

NUMBER_FACTS = ["account.acv", "account.versions_behind", "nps.score", "usage.devices_in_use"]
ROLES = ["decision_maker", "renewal_contact", "admin", "champion"]
OWNERS = ["csm", "renewal_rep", "sales", "tam"]


@st.composite
def numbers(draw: st.DrawFn, depth: int = 2) -> str:
    """A number expression, every compound part in parentheses (the formatter drops extras)."""
    if depth == 0 or draw(st.booleans()):
        return draw(
            st.one_of(
                st.sampled_from(NUMBER_FACTS),
                st.integers(0, 500).map(str),
                st.just("days_until(subscription.renewal_date)"),
            )
        )
    op = draw(st.sampled_from(["+", "-", "*"]))
    if op == "-" and draw(st.booleans()):
        return f"-({draw(numbers(depth - 1))})"
    return f"({draw(numbers(depth - 1))} {op} {draw(numbers(depth - 1))})"


@st.composite
def conditions(draw: st.DrawFn, depth: int = 2) -> str:
    """A true/false expression over facts, fully parenthesised."""
    if depth == 0 or draw(st.booleans()):
        return draw(
            st.one_of(
                st.builds(
                    lambda a, op, b: f"({a} {op} {b})",
                    numbers(1),
                    st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
                    numbers(1),
                ),
                st.sampled_from(
                    [
                        'account.segment == "enterprise"',
                        'account.region in ["emea", "apac"]',
                        'account.region not in ["japan"]',
                        "subscription.weekly_notice_opt_out",
                        "true",
                    ]
                ),
            )
        )
    kind = draw(st.sampled_from(["and", "or", "not"]))
    if kind == "not":
        return f"not ({draw(conditions(depth - 1))})"
    return f"({draw(conditions(depth - 1))} {kind} {draw(conditions(depth - 1))})"


def _clauses(head: str, clauses: list[str], draw: st.DrawFn) -> str:
    order = draw(st.permutations(clauses))
    return ", ".join([head, *order])


@st.composite
def actions(draw: st.DrawFn) -> list[str]:
    """One simple statement (a list of one line)."""
    role = draw(st.sampled_from(ROLES))
    owner = draw(st.sampled_from(OWNERS))
    policy = draw(st.sampled_from([[], ["timeout 30 seconds"], ["retry 2 times every 1 minute"]]))
    choice = draw(st.integers(0, 7))
    if choice == 0:
        extra = draw(st.sampled_from([[], ['reason "why"'], ["when blocked skip"]]))
        return [_clauses(f"send renewal_statement to {role}", extra + policy, draw)]
    if choice == 1:
        priority = draw(st.sampled_from(["priority high", "priority account.risk_level"]))
        scaled = f"1 day * ({draw(numbers(1))})"
        due = draw(st.sampled_from(["2 days", scaled, "renewal - today()"]))
        clauses = [priority, f"due in {due}", 'reason "for {account.name}"', *policy]
        return [_clauses(f"create cta for {owner}", clauses, draw)]
    if choice == 2:
        return [f"set account.health_score = {draw(numbers())}"]
    if choice == 3:
        return [f"set subscription.weekly_notice_opt_out = {draw(conditions())}"]
    if choice == 4:
        return [_clauses('notify channel ops "hello {account.name}"', policy, draw)]
    if choice == 5:
        unit = draw(st.sampled_from(["days", "months", "years"]))
        return [f"wait {draw(st.integers(1, 9))} {unit}"]
    if choice == 6:
        return [_clauses(f"call sync_crm(score: {draw(numbers())}, flag: true)", policy, draw)]
    clauses = ["uplift 5%", *policy]
    return [_clauses("generate quote with organic growth", clauses, draw)]


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


@st.composite
def blocks(draw: st.DrawFn, depth: int) -> list[str]:
    """A block body: one to three statements, compound ones while ``depth`` lasts."""
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        lines += draw(statements(depth))
    return lines


@st.composite
def statements(draw: st.DrawFn, depth: int) -> list[str]:
    if depth == 0:
        return draw(actions())
    kind = draw(st.integers(0, 7))
    inner = blocks(depth - 1)
    if kind == 0:
        out = [f"if {draw(conditions())}:", *_indent(draw(inner))]
        if draw(st.booleans()):
            out += [f"elif {draw(conditions())}:", *_indent(draw(inner))]
        if draw(st.booleans()):
            out += ["else:", *_indent(draw(inner))]
        return out
    if kind == 1:
        return [
            f"every 7 days until {draw(conditions())}, at most 3 times:",
            *_indent(draw(inner)),
        ]
    if kind == 2:
        mode = draw(st.sampled_from(["", " all", " first"]))
        return [
            f"parallel{mode}:",
            "    branch one:",
            *_indent(_indent(draw(inner))),
            "    branch two:",
            *_indent(_indent(draw(inner))),
        ]
    if kind == 3:
        out = ["wait for event ping up to 3 days:", *_indent(draw(inner))]
        if draw(st.booleans()):
            out += ["otherwise:", *_indent(draw(inner))]
        return out
    if kind == 4:
        return [
            "match account.region:",
            '    when emea, "apac":',
            *_indent(_indent(draw(inner))),
            "    otherwise:",
            *_indent(_indent(draw(inner))),
        ]
    if kind == 5:
        clauses = ["priority urgent", "due in 1 day", 'reason "r"', "wait up to 5 days"]
        out = [_clauses("escalate to csm", clauses, draw)]
        if draw(st.booleans()):
            out += ["otherwise:", *_indent(draw(inner))]
        return out
    if kind == 6:
        return ["wait until 10 days before subscription.renewal_date if past skip"]
    return draw(actions())


@st.composite
def generated_playbooks(draw: st.DrawFn) -> str:
    lines = [
        "playbook generated:",
        '    title "Generated"',
        '    journey id "generated:{account.id}"',
        "    anchor renewal = subscription.renewal_date",
        f"    enroll when {draw(conditions())}",
        "    events ping",
        '    goal done when subscription.status == "renewed"',
        "    goal closed",
        "    on event renewed achieve closed",
        "    on event ping stop as pinged",
    ]
    if draw(st.booleans()):  # on condition EXPR: (issue 11), its block drawn too
        lines.append(f"    on condition {draw(conditions())}:")
        lines += ["        " + line for line in draw(blocks(2))]
    for index in range(draw(st.integers(1, 3))):
        at = draw(st.sampled_from(["", f" at {index * 10 + 5} days before renewal"]))
        lines.append(f"    step s{index}{at}:")
        lines += ["        " + line for line in draw(blocks(2))]
    lines.append("    step last:")
    lines.append(
        "        " + draw(st.sampled_from(["stop as finished", "achieve done", "wait 1 day"]))
    )
    return "\n".join(lines) + "\n"


@PROPERTY
@given(text=generated_playbooks(), rng=st.randoms(use_true_random=False))
def test_generated_playbooks_format_idempotently_and_keep_their_ir(
    text: str, rng: random.Random
) -> None:
    scrambled, _ = scramble(text, rng, blanks=True, comments=True)
    once = fmt(scrambled)
    assert fmt(once) == once
    assert version(once) == version(text)
    outcome = format_playbook(scrambled, "generated.playbook", TEMPLATES, PLAYBOOKS)
    assert outcome.error == ""
    assert outcome.formatted == once
