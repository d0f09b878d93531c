"""The shape of the code, checked: a thin CLI (no database or Temporal code of its
own, commands loaded only when they run, none importing the app that lists them),
no import circle between the outbox and the triggers, and no code outside
playbooks/ and tests/ that names a shipped playbook."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.app import COMMANDS, DATA_COMMANDS, Verb, app, load_command

ROOT = Path(__file__).resolve().parents[2]
CODE = ("dsl", "engine", "workers", "cli")
CLI_MODULES = sorted((ROOT / "cli").glob("*.py"))


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (TYPE_CHECKING blocks and
    function bodies included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("path", CLI_MODULES, ids=lambda p: p.name)
def test_no_cli_module_touches_the_database_or_temporal(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"asyncpg|temporalio", text), f"{path.name} names asyncpg or temporalio"
    roots = {name.split(".")[0] for name in _imports(path)}
    assert not roots & {"asyncpg", "temporalio"}


@pytest.mark.parametrize("path", CLI_MODULES, ids=lambda p: p.name)
def test_no_command_module_imports_the_app(path: Path) -> None:
    if path.name == "app.py":
        return
    assert not {"cli.app", "cli"} & _imports(path) - {"cli"}, f"{path.name} imports cli.app"
    assert "cli.app" not in _imports(path)


def test_help_lists_every_command_with_its_one_line_help() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for name, verb in COMMANDS.items():
        assert re.search(rf"│ {name} +{re.escape(verb.help)}", result.output), name
    data = CliRunner().invoke(app, ["data", "--help"], env={"COLUMNS": "300"})
    for name, verb in DATA_COMMANDS.items():
        assert re.search(rf"│ {name} +{re.escape(verb.help)}", data.output), name


def _verbs() -> list[tuple[tuple[str, ...], Verb]]:
    top = [((name,), verb) for name, verb in COMMANDS.items() if verb.module]
    return top + [(("data", name), verb) for name, verb in DATA_COMMANDS.items()]


@pytest.mark.parametrize(("path", "verb"), _verbs(), ids=lambda v: str(v))
def test_the_table_says_what_each_command_says(path: tuple[str, ...], verb: Verb) -> None:
    """The help ``--help`` lists without loading a command is the command's own."""
    command = load_command(path, verb.module)
    own = " ".join((command.help or "").split("\n\n")[0].split())
    assert own == verb.help


def test_every_command_module_is_in_the_table() -> None:
    listed = {verb.module for verb in [*COMMANDS.values(), *DATA_COMMANDS.values()]}
    helpers = {"app", "errors", "json_output", "services", "timeline", "__init__"}
    modules = {f"cli.{p.stem}" for p in CLI_MODULES if p.stem not in helpers}
    assert modules == listed - {""}


def test_validate_loads_no_other_command_and_no_client() -> None:
    """`playbook validate` must start fast: no other command module, no asyncpg,
    no Temporal SDK, no service layer."""
    probe = (
        "import sys\n"
        "from cli.app import _run_app\n"
        "sys.argv = ['playbook', 'validate', 'playbooks/renewal.playbook']\n"
        "code = _run_app()\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('cli.', 'asyncpg', "
        "'temporalio', 'workers.services')))\n"
        "print(code, *loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    code, *loaded = done.stdout.split("\n")[-2].split()
    assert code == "0"
    assert loaded == ["cli.app", "cli.errors", "cli.lang"]


def test_a_command_module_registers_on_any_app() -> None:
    """What tests and the lazy group both rely on: ``register(app)`` adds the command."""
    from cli import lang

    holder = typer.Typer()
    holder.callback()(lambda: None)
    lang.register(holder)
    result = CliRunner().invoke(holder, ["validate", str(ROOT / "playbooks/renewal.playbook")])
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- circles


def test_the_outbox_and_the_triggers_import_in_one_direction() -> None:
    services = ROOT / "workers" / "services"
    assert "workers.services.triggers" not in _imports(services / "outbox.py")
    assert "workers.services.outbox" in _imports(services / "triggers.py")
    for first in ("outbox", "triggers"):  # either may be imported first
        subprocess.run(
            [sys.executable, "-c", f"import workers.services.{first}"], cwd=ROOT, check=True
        )


# --------------------------------------------------------------------------- playbooks


def _shipped() -> list[str]:
    return sorted(p.stem for p in (ROOT / "playbooks").glob("*.playbook"))


def _strings(path: Path) -> list[tuple[int, str]]:
    """The string literals of a Python file (docstrings and comments left out:
    they may give a shipped playbook as an example), with their line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def _names_a_playbook(text: str, names: list[str]) -> str:
    for name in names:
        # As a whole string, the start of a journey id, a file, or a word of an id.
        if re.search(rf"(^|[^\w.]){re.escape(name)}(:|\.playbook|$|[^\w])", text):
            # "renewal" is also a domain word ("the renewal date"): only the name
            # alone, a journey id or the file name mean the playbook.
            if name == "renewal" and not re.search(r"^renewal$|renewal:|renewal\.playbook", text):
                continue
            return name
    return ""


def test_no_code_outside_playbooks_and_tests_names_a_shipped_playbook() -> None:
    names = _shipped()
    assert "nps_followup" in names and "version_currency" in names
    found = []
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, text in _strings(path):
                name = _names_a_playbook(text, names)
                if name:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {name}: {text[:60]!r}")
    assert found == []


def test_the_check_finds_a_playbook_name() -> None:
    names = ["nps_followup", "renewal"]
    assert _names_a_playbook("nps_followup", names) == "nps_followup"
    assert _names_a_playbook("nps_followup: 3 started", names) == "nps_followup"
    assert _names_a_playbook("renewal:{account.id}", names) == "renewal"
    assert _names_a_playbook("renewal", names) == "renewal"
    assert _names_a_playbook("the renewal date", names) == ""
    assert _names_a_playbook("nps_followup_x", names) == ""


def test_no_code_comment_or_string_names_a_shipped_playbook_file() -> None:
    """Not even in comments: no code reads a shipped playbook's file by its name."""
    pattern = re.compile("|".join(re.escape(f"{name}.playbook") for name in _shipped()))
    found = []
    for folder in CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
            for token in tokens:
                if token.type == tokenize.STRING and pattern.search(token.string):
                    if not token.string.startswith(('"""', "'''")):
                        found.append(f"{path.relative_to(ROOT)}:{token.start[0]}")
    assert found == []
