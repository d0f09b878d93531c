"""The local stack's chat sink: a Slack-compatible webhook server that keeps every
post, where notify channels without a webhook of their own post, and
``playbook notify ls`` that shows them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.integration.test_activities_email import action, seed_account, settings_for
from workers.activities import JourneyActivities
from workers.adapters.chatbox import ChatBox, chat_dir
from workers.services.channels import channel_list
from workers.stack import chat_sink
from workers.stack.parts import PART_NAMES, LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture
def sink(tmp_path: Path) -> Any:
    server = chat_sink.in_thread(ChatBox(chat_dir(tmp_path)))
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_sink_keeps_slack_posts_and_refuses_what_is_not_one(sink: str, tmp_path: Path) -> None:
    answer = httpx.post(f"{sink}/renewals", json={"text": "ACME is past due"})
    assert (answer.status_code, answer.text) == (200, "ok")
    assert httpx.post(f"{sink}/a/b", json={"text": "x"}).status_code == 404
    assert httpx.post(f"{sink}/renewals", content=b"not json").status_code == 400
    posts = ChatBox(chat_dir(tmp_path)).posts()
    assert [(p.channel, p.text) for p in posts] == [("renewals", "ACME is past due")]


async def test_notify_posts_to_the_local_sink_by_default(
    store: Any, smtp_sink: Any, tmp_path: Path, sink: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PLAYBOOK_WEBHOOK_RENEWALS", raising=False)
    monkeypatch.delenv("PLAYBOOK_CHANNELS", raising=False)
    settings = replace(settings_for(smtp_sink.host, smtp_sink.port, tmp_path), chat_sink_url=sink)
    activities = JourneyActivities(store, settings)
    account_id = await seed_account(store)
    result = await activities.notify(
        action("notify", account_id, "sink-1", channel="renewals", message="quote +10 licences")
    )
    assert (result.status, result.detail) == ("done", "posted to #renewals")
    kept = ChatBox(chat_dir(tmp_path)).posts("renewals")
    assert [p.text for p in kept] == ["quote +10 licences"]

    listed = channel_list(settings)
    renewals = next(c for c in listed.channels if c.name == "renewals")
    assert (renewals.url, renewals.source, renewals.posts) == (
        f"{sink}/renewals",
        "the local chat sink",
        1,
    )
    assert renewals.env == "PLAYBOOK_WEBHOOK_RENEWALS"
    # The channel's own variable wins over the sink.
    monkeypatch.setenv("PLAYBOOK_WEBHOOK_RENEWALS", "https://hooks.example/renewals")
    renewals = next(c for c in channel_list(settings).channels if c.name == "renewals")
    assert (renewals.url, renewals.source) == (
        "https://hooks.example/renewals",
        "PLAYBOOK_WEBHOOK_RENEWALS",
    )


def test_notify_ls_shows_channels_and_posts(
    sink: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PLAYBOOK_WEBHOOK_RENEWALS", "PLAYBOOK_WEBHOOK_OPS", "PLAYBOOK_CHANNELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PLAYBOOK_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("PLAYBOOK_CHAT_SINK_URL", sink)
    httpx.post(f"{sink}/renewals", json={"text": "Escalation for ACME not closed"})
    result = CliRunner().invoke(app, ["notify", "ls", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    by_name = {c["name"]: c for c in shown["channels"]}
    assert by_name["renewals"]["url"] == f"{sink}/renewals"
    assert by_name["renewals"]["posts"] == 1 and by_name["ops"]["posts"] == 0
    assert [p["text"] for p in shown["posts"]] == ["Escalation for ACME not closed"]

    monkeypatch.delenv("PLAYBOOK_CHAT_SINK_URL")  # no sink runs: nowhere, and said so
    plain = CliRunner().invoke(app, ["notify", "ls", "--json"])
    assert plain.exit_code == 0, plain.output
    renewals = next(c for c in json.loads(plain.output)["channels"] if c["name"] == "renewals")
    assert (renewals["url"], renewals["source"]) == ("", "")
    table = CliRunner().invoke(app, ["notify", "ls"], env={"COLUMNS": "200"})
    assert "nowhere: notify steps are skipped" in table.output


def test_the_stack_tells_the_worker_where_the_sink_is(tmp_path: Path) -> None:
    from workers.settings import Settings

    (tmp_path / "database_url").write_text("postgresql://localhost/x\n")
    stack = LocalStack(Settings(state_dir=tmp_path, chat_port=18026), environ={})
    assert "chat" in PART_NAMES
    assert stack.child_env()["PLAYBOOK_CHAT_SINK_URL"] == "http://127.0.0.1:18026"
    assert stack.address("chat") == "http://127.0.0.1:18026"
    assert not stack.external("chat")


def test_dev_up_starts_the_chat_sink_and_down_stops_it(tmp_path: Path) -> None:
    from tests.integration.test_stack_dev import DevStack

    stack = DevStack(tmp_path / "state")
    others = ("temporal", "postgres", "smtp", "worker", "web")
    skips = [arg for name in others for arg in ("--skip", name)]
    try:
        up = stack.run("dev", "up", *skips)
        assert up.returncode == 0, up.stdout + up.stderr
        port = stack.env["PLAYBOOK_CHAT_PORT"]
        assert f"chat: started, healthy at http://127.0.0.1:{port}" in up.stdout
        answer = httpx.post(f"http://127.0.0.1:{port}/ops", json={"text": "hello ops"})
        assert answer.text == "ok"
        kept = ChatBox(chat_dir(tmp_path / "state")).posts("ops")
        assert [p.text for p in kept] == ["hello ops"]
    finally:
        down = stack.run("dev", "down")
    assert "chat: stopped" in down.stdout
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"http://127.0.0.1:{port}/ops", json={"text": "gone"})
