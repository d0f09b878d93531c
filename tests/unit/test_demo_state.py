"""The demo's own state (playbooks/demo_state.py) and `dev logs` without a part."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "playbooks"))
import demo_state  # noqa: E402


def test_only_a_folder_the_demo_made_is_forgotten(tmp_path: Path) -> None:
    mine, yours = tmp_path / "mine", tmp_path / "yours"
    for folder in (mine, yours):
        folder.mkdir()
        (folder / "codec_keys").write_text("k")
    demo_state.mark(mine)
    assert demo_state.ours(mine) and not demo_state.ours(yours)
    demo_state.forget(mine)
    demo_state.forget(yours)
    assert not mine.exists()
    assert (yours / "codec_keys").read_text() == "k"


def test_interrupted_with_nothing_running_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYBOOK_STATE_DIR", str(tmp_path))
    line = demo_state.interrupted_line("playbook")
    assert line == "demo interrupted; nothing of the local stack is running."


def test_interrupted_names_what_runs_and_how_to_stop_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_state, "running_parts", lambda: ["temporal", "worker"])
    line = demo_state.interrupted_line(".venv/bin/playbook")
    assert line == (
        "demo interrupted; still running: temporal, worker (journeys carry on). "
        "Stop them: .venv/bin/playbook dev down"
    )
    assert "\n" not in line


def test_dev_logs_without_a_part_lists_the_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYBOOK_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["dev", "logs"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for part in ("temporal", "postgres", "smtp", "chat", "worker", "web"):
        assert f"{part}" in result.output
    assert str(tmp_path / "logs" / "worker.log") in result.output
