"""`playbook dev up|status|down` for real, in a temp state dir on free ports.

The worker and web parts are skipped here (they belong to other modules and
have their own tests); the three infrastructure parts are started, detached,
checked, mailed to, and stopped. The fixture stops everything even if a test
fails, so no server outlives the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import asyncpg
import psutil
import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from workers.services.setup import SEARCH_ATTRIBUTE_TYPES
from workers.stack.supervisor import free_port

pytestmark = pytest.mark.integration

PLAYBOOK = str(Path(sys.executable).with_name("playbook"))
# The session's codec key is dropped too: `dev up` creates the stack's own key file.
EXTERNAL_VARS = (
    "TEMPORAL_ADDRESS",
    "DATABASE_URL",
    "SMTP_HOST",
    "SMTP_PORT",
    "PLAYBOOK_CODEC_KEYS",
    "PLAYBOOK_CHAT_SINK_URL",
)


class DevStack:
    """Runs the CLI against one temp state dir."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.smtp_port = free_port()
        self.env = {k: v for k, v in os.environ.items() if k not in EXTERNAL_VARS}
        self.env.update(
            PLAYBOOK_STATE_DIR=str(state_dir),
            PLAYBOOK_TEMPORAL_PORT=str(free_port()),
            TEMPORAL_UI_PORT=str(free_port()),
            PLAYBOOK_SMTP_PORT=str(self.smtp_port),
            PLAYBOOK_CHAT_PORT=str(free_port()),
            WEB_PORT=str(free_port()),
            COLUMNS="200",  # one table row per line
        )

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PLAYBOOK, *args], env={**self.env, **env}, capture_output=True, text=True
        )

    def row(self, output: str, part: str) -> str:
        return next(line for line in output.splitlines() if line.startswith(f"│ {part} "))


@pytest.fixture(scope="module")
def dev_stack() -> Iterator[DevStack]:
    folder = Path(tempfile.mkdtemp(prefix="playbook-dev-"))
    folder.chmod(0o755)
    stack = DevStack(folder / "state")
    try:
        yield stack
    finally:
        stack.run("dev", "down")
        shutil.rmtree(folder, ignore_errors=True)


def test_up_starts_detached_parts_and_status_shows_them(dev_stack: DevStack) -> None:
    up = dev_stack.run("dev", "up", "--skip", "worker", "--skip", "web")
    assert up.returncode == 0, up.stdout + up.stderr
    status = dev_stack.run("dev", "status")
    assert status.returncode == 0
    for part in ("temporal", "postgres", "smtp"):
        row = dev_stack.row(status.stdout, part)
        assert "running" in row and "ok" in row, row
    assert "http://localhost:" + dev_stack.env["TEMPORAL_UI_PORT"] in status.stdout
    assert f"127.0.0.1:{dev_stack.smtp_port}" in status.stdout
    for name in ("temporal", "smtp"):
        assert (dev_stack.state_dir / "run" / f"{name}.pid").exists()
        assert (dev_stack.state_dir / "logs" / f"{name}.log").exists()
    assert (dev_stack.state_dir / "temporal.sqlite").exists()
    # `dev up` ran `playbook setup`: the dev server (started bare) has the journey
    # search attributes, and the daily enrolment schedules are there.
    for name in SEARCH_ATTRIBUTE_TYPES:
        assert f"registered search attribute {name} " in up.stdout
    assert "created schedule enrol:renewal" in up.stdout
    address = f"127.0.0.1:{dev_stack.env['PLAYBOOK_TEMPORAL_PORT']}"

    async def custom_attributes() -> dict[str, int]:
        client = await Client.connect(address)
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        return dict(listed.custom_attributes)

    assert asyncio.run(custom_attributes()) == dict(SEARCH_ATTRIBUTE_TYPES)


def test_database_url_file_points_at_a_migrated_database(dev_stack: DevStack) -> None:
    dsn = (dev_stack.state_dir / "database_url").read_text().strip()

    async def tables() -> set[str]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT version FROM schema_migrations")
            return {r["version"] for r in rows}
        finally:
            await conn.close()

    assert "001_core" in asyncio.run(tables())


def test_up_twice_leaves_running_parts_alone(dev_stack: DevStack) -> None:
    before = (dev_stack.state_dir / "run" / "temporal.pid").read_text()
    again = dev_stack.run("dev", "up", "--skip", "worker", "--skip", "web")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout
    assert "registered" not in again.stdout and "created schedule" not in again.stdout
    assert (dev_stack.state_dir / "run" / "temporal.pid").read_text() == before


def test_the_sink_keeps_mail_and_mail_ls_shows_it(dev_stack: DevStack) -> None:
    message = EmailMessage()
    message["From"] = "success@playbook.local"
    message["To"] = "rita@acme.example"
    message["Subject"] = "Will you renew?"
    message.set_content("Hi Rita,\nanswer here: http://127.0.0.1:8088/answer/abc?choice=yes\n")
    asyncio.run(aiosmtplib.send(message, hostname="127.0.0.1", port=dev_stack.smtp_port))

    listed = dev_stack.run("mail", "ls", "--to", "rita@acme")
    assert listed.returncode == 0, listed.stderr
    assert "Will you renew?" in listed.stdout
    assert "no messages" in dev_stack.run("mail", "ls", "--to", "nobody@else").stdout
    ident = next(line.split()[1] for line in listed.stdout.splitlines() if "renew" in line)
    shown = dev_stack.run("mail", "show", ident)
    assert shown.returncode == 0, shown.stderr
    assert "Subject: Will you renew?" in shown.stdout
    assert "Hi Rita," in shown.stdout
    assert "[1] http://127.0.0.1:8088/answer/abc?choice=yes" in shown.stdout
    missing = dev_stack.run("mail", "show", "0000000000")
    assert missing.returncode == 1 and "no single message" in missing.stderr


def test_the_state_folder_is_private(dev_stack: DevStack) -> None:
    """After up and a mail kept: the folder 0700 (0711 when Postgres runs as another
    user, who must reach its data folder: search, never list), every file 0600,
    no folder readable or writable by others; the secrets are there, private."""
    import stat

    root = dev_stack.state_dir
    assert (root / "link_secret").exists() and (root / "codec_keys").exists()
    assert list((root / "mail").rglob("*.playbook")), "the mail test kept a message"
    mode = stat.S_IMODE(root.stat().st_mode)
    assert mode in (0o700, 0o711), oct(mode)
    wide = []
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
            wide.append((str(path.relative_to(root)), oct(stat.S_IMODE(info.st_mode))))
        if stat.S_ISDIR(info.st_mode) and info.st_mode & 0o066:
            wide.append((str(path.relative_to(root)), oct(stat.S_IMODE(info.st_mode))))
    assert wide == []


def test_logs_prints_the_end_of_a_part_log(dev_stack: DevStack) -> None:
    logs = dev_stack.run("dev", "logs", "smtp", "--lines", "5")
    assert logs.returncode == 0, logs.stderr
    assert f"smtp sink on 127.0.0.1:{dev_stack.smtp_port}" in logs.stdout
    assert dev_stack.run("dev", "logs", "postgres").returncode == 0


def test_an_env_address_makes_a_part_external(dev_stack: DevStack) -> None:
    status = dev_stack.run("dev", "status", SMTP_HOST="127.0.0.1", SMTP_PORT="1")
    row = dev_stack.row(status.stdout, "smtp")
    assert "external" in row and "not answering" in row


def test_a_temporal_profile_with_an_address_makes_temporal_external(
    dev_stack: DevStack, tmp_path: Path
) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text('[profile.ops]\naddress = "127.0.0.1:1"\n')
    status = dev_stack.run(
        "dev", "status", TEMPORAL_CONFIG_FILE=str(config), TEMPORAL_PROFILE="ops"
    )
    row = dev_stack.row(status.stdout, "temporal")
    assert "external" in row and "not answering" in row and "127.0.0.1:1" in row
    unknown = dev_stack.run("dev", "status", TEMPORAL_CONFIG_FILE=str(config), TEMPORAL_PROFILE="x")
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert unknown.stderr.startswith(f"error: Temporal config in {config}: Profile 'x' not found")


def test_down_stops_everything(dev_stack: DevStack) -> None:
    pids = [
        int(json.loads(p.read_text())["pid"]) for p in (dev_stack.state_dir / "run").glob("*.pid")
    ]
    down = dev_stack.run("dev", "down")
    assert down.returncode == 0, down.stderr
    status = dev_stack.run("dev", "status").stdout
    for part in ("temporal", "postgres", "smtp"):
        assert "stopped" in dev_stack.row(status, part)
    assert not (dev_stack.state_dir / "database_url").exists()
    for pid in pids:  # gone, or a zombie its new parent has not reaped yet
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_a_port_taken_by_someone_else_fails_that_part_clearly(tmp_path: Path) -> None:
    stack = DevStack(tmp_path / "state")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", stack.smtp_port))
        squatter.listen()
        up = stack.run(
            "dev", "up", "--skip", "temporal", "--skip", "postgres", "--skip", "worker",
            "--skip", "web", "--skip", "chat",
        )  # fmt: skip
    assert up.returncode == 1
    assert f"port {stack.smtp_port} is in use by another process" in up.stdout
    assert "error: not everything came up: smtp" in up.stderr
    assert not (tmp_path / "state" / "run" / "smtp.pid").exists()
