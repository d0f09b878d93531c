"""`playbook webhook sign`: headers the web endpoint verifies, or a curl command."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import webhook
from workers.services.webhook_signatures import verify


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """playbook"""

    webhook.register(app)
    return app


@pytest.fixture
def body(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PLAYBOOK_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("PLAYBOOK_WEBHOOK_SECRET", "cli-secret")
    path = tmp_path / "body.json"
    path.write_bytes(b'{"event": "renewed", "account_id": "ACME-0042"}\n')
    return path


def test_the_headers_sign_the_file_as_it_is(body: Path) -> None:
    result = CliRunner().invoke(cli(), ["webhook", "sign", str(body), "--id", "msg_cli"])
    assert result.exit_code == 0, result.output
    headers = dict(line.split(": ", 1) for line in result.output.splitlines())
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert verify("cli-secret", headers, body.read_bytes()) == "msg_cli"


def test_a_curl_command_from_standard_input(body: Path) -> None:
    given = body.read_bytes()
    url = "http://127.0.0.1:8088/webhooks/crm"
    result = CliRunner().invoke(cli(), ["webhook", "sign", "-", "--curl", url], input=given)
    assert result.exit_code == 0, result.output
    words = shlex.split(result.output)
    assert words[:5] == ["curl", "-sS", "-X", "POST", url]
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    assert words[words.index("--data-binary") + 1] == given.decode()
    assert verify("cli-secret", headers, given)
