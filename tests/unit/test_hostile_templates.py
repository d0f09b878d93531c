"""Templates a careless or hostile author writes (issue 13, part 7): a template
name longer than a file name may be, a template that fails every time it renders
(a name the sandbox refuses, an include from outside the templates folder), a
journey id Temporal refuses whatever the facts. Each is a clear error from
validate (and every tool that checks), never a crash at run time."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from dsl.loader import check_file
from tests.unit.test_language_cli import run
from workers.adapters.email import EmailTemplates, TemplateProblem, template_context
from workers.services.playbooks import compiled_playbooks
from workers.settings import Settings
from workers.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
LONG = "x" * 300


def folder(tmp_path: Path, edit: tuple[str, str] = ("", ""), **templates: str) -> Path:
    """A playbooks folder: the shipped renewal playbook (``edit`` applied) beside a
    copy of the shipped templates and ``templates`` (name: text part)."""
    shutil.copytree(ROOT / "playbooks" / "templates", tmp_path / "templates")
    text = (ROOT / "playbooks" / "renewal.playbook").read_text(encoding="utf-8")
    old, new = edit
    assert old in text
    (tmp_path / "renewal.playbook").write_text(text.replace(old, new, 1), encoding="utf-8")
    for name, body in templates.items():
        (tmp_path / "templates" / f"{name}.txt.j2").write_text(body, encoding="utf-8")
    return tmp_path / "renewal.playbook"


def errors(path: Path) -> list[str]:
    playbook, diagnostics = check_file(path)
    assert playbook is None
    return [d.message for d in diagnostics]


LONG_NAME = ("send renewal_documents to", f"send {LONG} to")


@pytest.mark.parametrize("command", ["validate", "compile", "fmt", "graph", "simulate"])
def test_a_template_name_too_long_for_a_file_is_an_error_not_a_crash(
    tmp_path: Path, command: str
) -> None:
    path = folder(tmp_path, LONG_NAME)
    args = [command, "--check", str(path)] if command == "fmt" else [command, str(path)]
    result = run(*args)
    assert "Traceback" not in result.stderr and "PLAYBOOK_DEBUG" not in result.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the template name is 300 bytes long" in result.stdout + result.stderr


def test_the_web_endpoint_leaves_such_a_playbook_out(tmp_path: Path) -> None:
    """/webhooks/crm and /report compile the folder: the broken file is left out."""
    path = folder(tmp_path, LONG_NAME)
    settings = Settings(state_dir=tmp_path / "state", playbooks_dir=path.parent)
    assert compiled_playbooks(settings) == {}


async def test_the_report_answers_with_such_a_playbook_in_the_folder(tmp_path: Path) -> None:
    path = folder(tmp_path, LONG_NAME)
    settings = Settings(
        state_dir=tmp_path / "state",
        playbooks_dir=path.parent,
        link_secret="s",
        webhook_secret="h",
    )
    transport = httpx.ASGITransport(app=create_app(settings, clients=_no_temporal))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        # An unknown playbook is refused before the store: the folder was compiled.
        got = await client.get("/report", params={"playbook": "renewal"}, auth=("ops", "h"))
    assert got.status_code == 400
    assert "known: none" in got.text


async def _no_temporal() -> object:
    raise AssertionError("nothing here reaches Temporal")


@pytest.mark.parametrize(
    "body, words",
    [
        ("Subject: Hi\n\n{{ account.__class__ }}\n", "the sandbox refuses `__class__`"),
        ("Subject: Hi\n\n{{ account['__class__'] }}\n", "the sandbox refuses `__class__`"),
        (
            "Subject: Hi\n\n{{ account.name.__class__.__mro__ }}\n",
            "the sandbox refuses `__mro__`",
        ),
        ("Subject: Hi\n\n{% include '../renewal.playbook' %}\n", "is outside the templates"),
        ("Subject: Hi\n\n{% include '/etc/passwd' %}\n", "is outside the templates"),
        ("Subject: Hi\n\n{% extends 'templates/../../x' %}\n", "is outside the templates"),
        ("Subject: Hi\n\n{% import 'nowhere.j2' as n %}\n", "is not in the templates folder"),
    ],
)
def test_a_template_that_fails_every_render_does_not_validate(
    tmp_path: Path, body: str, words: str
) -> None:
    path = folder(tmp_path, ("send renewal_documents to", "send hostile to"), hostile=body)
    assert any(words in message for message in errors(path)), errors(path)
    # And it does fail at render: validate only says so before a journey runs.
    templates = EmailTemplates(path.parent / "templates")
    context = template_context({"account": {"name": "ACME"}}, {"email": "r@a.example"})
    with pytest.raises(TemplateProblem):
        templates.render("hostile", context)


def test_includes_of_the_folder_and_optional_ones_still_validate(tmp_path: Path) -> None:
    body = (
        "Subject: Hi\n\n{% include 'footer.txt' %}{% include 'gone.txt' ignore missing %}"
        "{{ account.name }}\n"
    )
    path = folder(tmp_path, ("send renewal_documents to", "send friendly to"), friendly=body)
    (path.parent / "templates" / "footer.txt").write_text("Bye\n", encoding="utf-8")
    playbook, diagnostics = check_file(path)
    assert playbook is not None, [d.message for d in diagnostics]


def test_a_journey_id_longer_than_temporal_takes_does_not_validate(tmp_path: Path) -> None:
    long_id = "renewal:" + "y" * 1000 + ":{account.id}"
    shipped = 'journey id "renewal:{account.id}:{subscription.renewal_date}"'
    path = folder(tmp_path, (shipped, f'journey id "{long_id}"'))
    [message] = [m for m in errors(path) if "journey id" in m]
    assert "at least 1,009 bytes" in message and "1,000" in message


def test_a_journey_id_with_long_placeholders_only_still_validates(tmp_path: Path) -> None:
    """Placeholders render as long as their facts: only the text alone is checked."""
    path = folder(tmp_path)
    playbook, diagnostics = check_file(path)
    assert playbook is not None, [d.message for d in diagnostics]
