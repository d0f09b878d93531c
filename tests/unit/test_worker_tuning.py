"""Worker tuning from the environment (``workers.settings.tuning``): defaults,
overrides, ``--concurrency`` winning, and a clear error for a value that does not fit."""

from __future__ import annotations

import pytest

from workers import settings
from workers.settings import BadSetting, Settings, WorkerTuning, tuning


def test_defaults_leave_the_sdk_its_own_where_unset() -> None:
    found = tuning({})
    assert found == WorkerTuning()
    assert (found.max_activities, found.max_workflow_tasks) == (20, 10)
    assert (found.sticky_cache, found.workflow_pollers, found.activity_pollers) == (
        None,
        None,
        None,
    )
    assert found.shutdown_grace_seconds == 20
    assert found.db_pool_size == 25  # one connection per activity slot, and five


def test_every_variable_is_read() -> None:
    found = tuning(
        {
            "PLAYBOOK_MAX_ACTIVITIES": "50",
            "PLAYBOOK_MAX_WORKFLOW_TASKS": "40",
            "PLAYBOOK_STICKY_CACHE": "5000",
            "PLAYBOOK_WORKFLOW_POLLERS": "4",
            "PLAYBOOK_ACTIVITY_POLLERS": "8",
            "PLAYBOOK_SHUTDOWN_GRACE_SECONDS": "45",
            "PLAYBOOK_DB_POOL_SIZE": "30",
        }
    )
    assert found == WorkerTuning(50, 40, 5000, 4, 8, 45, 30)
    assert found.db_pool_size == 30


def test_concurrency_wins_and_the_pool_follows_it() -> None:
    found = tuning({"PLAYBOOK_MAX_ACTIVITIES": "10"}).with_concurrency(50)
    assert (found.max_activities, found.db_pool_size) == (50, 55)
    assert tuning({}).with_concurrency(None).max_activities == 20
    pinned = tuning({"PLAYBOOK_DB_POOL_SIZE": "12"}).with_concurrency(50)
    assert pinned.db_pool_size == 12


@pytest.mark.parametrize(
    ("name", "value", "minimum"),
    [
        ("PLAYBOOK_MAX_ACTIVITIES", "lots", 1),
        ("PLAYBOOK_MAX_ACTIVITIES", "0", 1),
        ("PLAYBOOK_MAX_WORKFLOW_TASKS", "1", 2),
        ("PLAYBOOK_STICKY_CACHE", "-1", 0),
        ("PLAYBOOK_WORKFLOW_POLLERS", "1", 2),
        ("PLAYBOOK_ACTIVITY_POLLERS", "2.5", 1),
        ("PLAYBOOK_SHUTDOWN_GRACE_SECONDS", "20s", 0),
        ("PLAYBOOK_DB_POOL_SIZE", "1", 2),
    ],
)
def test_a_bad_value_names_the_variable_and_what_fits(name: str, value: str, minimum: int) -> None:
    with pytest.raises(BadSetting) as raised:
        tuning({name: value})
    assert str(raised.value) == (f"{name}={value!r}: expected a whole number of at least {minimum}")


def test_statement_cache_off_for_pgbouncer_and_default_otherwise() -> None:
    assert settings.statement_cache_size(Settings(db_statement_cache="")) is None
    assert settings.statement_cache_size(Settings(db_statement_cache="0")) == 0
    assert settings.statement_cache_size(Settings(db_statement_cache="200")) == 200
    with pytest.raises(BadSetting, match="PLAYBOOK_DB_STATEMENT_CACHE='off'"):
        settings.statement_cache_size(Settings(db_statement_cache="off"))


def test_worker_http_port_off_by_default() -> None:
    assert settings.worker_http_port(Settings(worker_http_port="")) == 0
    assert settings.worker_http_port(Settings(worker_http_port="9464")) == 9464
    with pytest.raises(BadSetting, match="at most 65535"):
        settings.worker_http_port(Settings(worker_http_port="70000"))
    with pytest.raises(BadSetting, match="PLAYBOOK_WORKER_HTTP_PORT='http'"):
        settings.worker_http_port(Settings(worker_http_port="http"))


def test_log_format() -> None:
    assert settings.log_format({}) == "text"
    assert settings.log_format({"PLAYBOOK_LOG_FORMAT": "JSON"}) == "json"
    with pytest.raises(BadSetting, match="expected text or json"):
        settings.log_format({"PLAYBOOK_LOG_FORMAT": "yaml"})


def test_the_worker_command_says_what_is_wrong_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from cli.app import app

    monkeypatch.setenv("PLAYBOOK_MAX_ACTIVITIES", "many")
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "error: PLAYBOOK_MAX_ACTIVITIES='many': expected a whole number of at least 1" in (
        result.output
    )
    assert "Traceback" not in result.output
