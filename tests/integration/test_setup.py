"""`playbook setup` against a fresh Temporal dev server, started here without any
of the project's registration: the first run registers the namespace, the nine
journey search attributes and the enrolment schedules, the second finds nothing
to do; `--dry-run` changes nothing. The Temporal Cloud path (search attributes
made with tcld) is taken for a namespace with an account suffix: setup prints
the tcld lines, exits 1, and is satisfied once the attributes exist."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError

from tests.conftest import TEST_CODEC_KEYS
from workers.services.schedules import planned_schedules
from workers.services.setup import SEARCH_ATTRIBUTE_TYPES, tcld_command, wait_until_known
from workers.settings import Settings
from workers.stack import temporal
from workers.stack.supervisor import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
_ATTEMPTS = 600


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[str]:
    """A dev server of this test alone, in memory, nothing registered."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen(
            temporal.dev_server_command(port, None),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        for _ in range(_ATTEMPTS):
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            if _answers(address):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the dev server never answered")
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(address: str) -> bool:
    import asyncio

    return asyncio.run(temporal.healthy(address))


def setup(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.app", "setup", *args],
        env={**os.environ, **env, "COLUMNS": "200"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def custom_attributes(client: Client, namespace: str) -> dict[str, int]:
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return dict(listed.custom_attributes)


async def schedule_ids(address: str, namespace: str) -> set[str]:
    client = await Client.connect(address, namespace=namespace)
    return {listed.id async for listed in await client.list_schedules()}


async def test_setup_registers_everything_once(fresh_server: str) -> None:
    namespace = "playbook-journeys"
    env = {
        "TEMPORAL_ADDRESS": fresh_server,
        "TEMPORAL_NAMESPACE": namespace,
        "PLAYBOOK_CODEC_KEYS": TEST_CODEC_KEYS,
    }
    wanted, _ = planned_schedules(Settings(playbooks_dir=ROOT / "playbooks"))
    assert wanted, "the shipped playbooks have enrolment schedules"
    client = await Client.connect(fresh_server)

    dry = setup(env, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would register namespace {namespace}" in dry.stdout
    assert "would register search attribute RenewalDate (Datetime)" in dry.stdout
    for ident in wanted:
        assert f"would create schedule {ident}" in dry.stdout
    assert "dry run: nothing changed" in dry.stdout
    with pytest.raises(RPCError, match="not found"):  # the dry run made nothing
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )

    first = setup(env)
    assert first.returncode == 0, first.stderr
    assert f"registered namespace {namespace} (retention 30 days)" in first.stdout
    for name in SEARCH_ATTRIBUTE_TYPES:
        assert f"registered search attribute {name} " in first.stdout
    for ident in wanted:
        assert f"created schedule {ident}" in first.stdout
    assert "nothing to do" not in first.stdout
    # The server's own state: the namespace, the attributes with their types, the schedules.
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    assert await custom_attributes(client, namespace) == dict(SEARCH_ATTRIBUTE_TYPES)
    assert await schedule_ids(fresh_server, namespace) == set(wanted)

    second = setup(env)
    assert second.returncode == 0, second.stderr
    assert "nothing to do: namespace playbook-journeys, 9 search attributes, " in second.stdout
    assert f"{len(wanted)} enrolment schedules in place" in second.stdout
    assert "registered" not in second.stdout and "created" not in second.stdout
    assert await custom_attributes(client, namespace) == dict(SEARCH_ATTRIBUTE_TYPES)
    assert await schedule_ids(fresh_server, namespace) == set(wanted)

    # A changed wish (another enrolment hour) is an update, then nothing again.
    later = setup({**env, "PLAYBOOK_ENROL_HOUR": "9"})
    assert all(f"updated schedule {ident}" in later.stdout for ident in wanted), later.stdout
    assert "nothing to do" in setup({**env, "PLAYBOOK_ENROL_HOUR": "9"}).stdout


async def test_on_temporal_cloud_setup_says_what_to_create(fresh_server: str) -> None:
    # A namespace with an account suffix is a Cloud namespace: made in Cloud (here,
    # by hand), its search attributes with tcld, never by setup.
    namespace = "journeys.a1b2c"
    client = await Client.connect(fresh_server)
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    await wait_until_known(client, namespace)
    env = {
        "TEMPORAL_ADDRESS": fresh_server,
        "TEMPORAL_NAMESPACE": namespace,
        "PLAYBOOK_CODEC_KEYS": TEST_CODEC_KEYS,
    }
    first = setup(env)
    assert first.returncode == 1
    for name, kind in SEARCH_ATTRIBUTE_TYPES.items():
        assert tcld_command(namespace, name, kind) in first.stdout
    assert "error: missing: search attribute PlaybookName (Keyword)" in first.stderr
    assert await custom_attributes(client, namespace) == {}  # setup made none itself

    # The operator runs the tcld lines (here: the operator API does what tcld does).
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=namespace, search_attributes=SEARCH_ATTRIBUTE_TYPES)
    )
    again = setup(env)
    assert again.returncode == 0, again.stderr
    assert "tcld" not in again.stdout
    assert "nothing to do" in again.stdout  # the schedules were made by the first run


async def test_setup_without_a_server_is_one_line() -> None:
    done = setup({"TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"})
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot reach Temporal at 127.0.0.1:")
    assert "Traceback" not in done.stderr
