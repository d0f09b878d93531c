"""The worker and the web endpoint of `playbook dev up` are supervised: killed with
SIGKILL, each comes back, the log and `dev status` say so, and `dev down` stops them
for good. The whole stack runs for real, in a temp state dir on free ports."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from tests.integration.test_stack_dev import DevStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    folder = Path(tempfile.mkdtemp(prefix="playbook-supervised-"))
    folder.chmod(0o755)
    stack = DevStack(folder / "state")
    try:
        up = stack.run("dev", "up")
        assert up.returncode == 0, up.stdout + up.stderr
        yield stack
    finally:
        stack.run("dev", "down")
        shutil.rmtree(folder, ignore_errors=True)


def pid_of(stack: DevStack, name: str) -> int | None:
    """The part's own process as its pid file names it, if that process lives."""
    try:
        pid = int(json.loads((stack.state_dir / "run" / f"{name}.pid").read_text())["pid"])
    except (FileNotFoundError, ValueError, KeyError):
        return None
    return pid if alive(pid) else None


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def until(check: Callable[[], object], what: str, attempts: int = 1200) -> None:
    """Wait until ``check()`` holds (bounded by attempts: a slow machine waits longer)."""
    for _ in range(attempts):
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def pollers(stack: DevStack) -> set[str]:
    """The identities polling the stack's task queue for workflow tasks (``pid@host``)."""

    async def ask() -> set[str]:
        address = f"127.0.0.1:{stack.env['PLAYBOOK_TEMPORAL_PORT']}"
        client = await Client.connect(address)
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name="playbook"),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return {poller.identity for poller in answer.pollers}

    return asyncio.run(ask())


def web_answers(stack: DevStack) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", int(stack.env["WEB_PORT"])), timeout=0.5):
            return True
    except OSError:
        return False


def test_a_worker_killed_with_sigkill_is_replaced_and_status_says_so(stack: DevStack) -> None:
    first = pid_of(stack, "worker")
    assert first is not None
    until(lambda: any(p.startswith(f"{first}@") for p in pollers(stack)), "the worker polls")
    os.kill(first, signal.SIGKILL)
    until(lambda: pid_of(stack, "worker") not in (None, first), "a new worker process")
    second = pid_of(stack, "worker")
    # Not just a process: a worker polling the task queue again.
    until(lambda: any(p.startswith(f"{second}@") for p in pollers(stack)), "the new worker polls")
    status = stack.run("dev", "status")
    row = stack.row(status.stdout, "worker")
    assert "running" in row and "ok" in row, row
    assert "restarted 1 time, last " in row and "(killed by SIGKILL)" in row, row
    logs = stack.run("dev", "logs", "worker").stdout
    assert "worker exited unexpectedly (killed by SIGKILL)" in logs
    assert f"started worker, pid {second} (restart 1)" in logs


def test_the_web_endpoint_killed_with_sigkill_answers_again(stack: DevStack) -> None:
    first = pid_of(stack, "web")
    assert first is not None and web_answers(stack)
    os.kill(first, signal.SIGKILL)
    until(lambda: pid_of(stack, "web") not in (None, first), "a new web process")
    until(lambda: web_answers(stack), "the web endpoint answers again")
    row = stack.row(stack.run("dev", "status").stdout, "web")
    assert "running" in row and "ok" in row, row
    assert "restarted 1 time" in row and "(killed by SIGKILL)" in row, row


def test_down_stops_the_supervised_parts_for_good(stack: DevStack) -> None:
    run = stack.state_dir / "run"
    supervisors = [
        int(json.loads((run / f"{name}.supervisor.pid").read_text())["pid"])
        for name in ("worker", "web")
    ]
    children = [pid_of(stack, name) for name in ("worker", "web")]
    assert all(children)
    down = stack.run("dev", "down")
    assert down.returncode == 0, down.stderr
    for pid in [*supervisors, *children]:
        assert pid is not None and not alive(pid)
    status = stack.run("dev", "status").stdout
    for name in ("worker", "web"):
        assert "stopped" in stack.row(status, name)
        assert pid_of(stack, name) is None
    logs = stack.run("dev", "logs", "worker").stdout.splitlines()
    assert "supervisor: worker stopped" in logs[-1]  # no restart after a deliberate stop
