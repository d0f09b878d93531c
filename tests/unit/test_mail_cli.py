"""`playbook mail ls` against a Maildir written the way the SMTP sink writes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import mail
from workers.adapters.mailbox import Mailbox, mail_dir


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """playbook"""

    mail.register(app)
    return app


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PLAYBOOK_STATE_DIR", str(tmp_path))
    box = Mailbox(mail_dir(tmp_path))
    for number in range(5):
        to = "rita@acme.example" if number % 2 == 0 else "sam@globex.example"
        box.deliver("cs@ours.example", [to], f"Subject: note {number}\r\n\r\nhello\r\n".encode())
    return tmp_path


def ls(*args: str) -> str:
    result = CliRunner().invoke(cli(), ["mail", "ls", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_ls_says_how_many_it_left_out(state: Path) -> None:
    output = ls("--limit", "2")
    assert "note 3" in output and "note 4" in output and "note 2" not in output
    assert "the newest 2 of 5 messages (oldest first; --limit N for more)" in output


def test_ls_with_a_filter_counts_the_matching_messages(state: Path) -> None:
    output = ls("--to", "rita", "--limit", "1")
    assert "note 4" in output and "note 2" not in output
    assert "the newest 1 of 3 messages to rita (oldest first; --limit N for more)" in output


def test_ls_of_everything_has_no_note(state: Path) -> None:
    output = ls()
    assert all(f"note {n}" in output for n in range(5))
    assert "--limit N for more" not in output


def test_ls_json_holds_the_rows_of_the_table(state: Path) -> None:
    import json

    table = ls("--to", "rita", "--limit", "2")
    found = json.loads(ls("--to", "rita", "--limit", "2", "--json"))
    assert found["total"] == 3
    messages = found["messages"]
    assert [m["subject"] for m in messages] == ["note 2", "note 4"]
    for message in messages:  # each JSON row is a row of the table
        assert message["id"] in table and message["to"] == ["rita@acme.example"]
    assert "note 0" not in table


def test_show_json_is_the_whole_message(state: Path) -> None:
    import json

    first = json.loads(ls("--json"))["messages"][0]
    result = CliRunner().invoke(cli(), ["mail", "show", first["id"][:8], "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["summary"] == first
    assert shown["text"].strip() == "hello"
    assert ["Subject", "note 0"] in shown["headers"]
