"""The CLI, the worker and the web endpoint reach Temporal as a Temporal profile
says: over TLS (the server's CA from the profile), with a client certificate
(mutual TLS) and an API key. In front of the session's plaintext dev server
stands a TLS-terminating proxy (``tests.integration.tls_proxy``) that refuses
any client without a certificate its CA signed and reads the HTTP/2 headers of
every gRPC call: the API key must arrive as ``authorization: Bearer <key>``.
Nothing here sets TEMPORAL_ADDRESS: address, namespace, key and certificates
come from the profile file alone."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from tests.conftest import TEST_CODEC_KEYS
from tests.integration.tls_proxy import Certificates, TlsProxy
from workers.services import setup
from workers.services.schedules import task_queue_pollers
from workers.stack.supervisor import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
API_KEY = "pb-test-key-5f2c"
_ATTEMPTS = 600
_PAUSE = 0.1


@pytest.fixture
def proxy(temporal_server: str, tmp_path: Path) -> Iterator[TlsProxy]:
    with TlsProxy(temporal_server, Certificates.make(tmp_path / "certs")) as running:
        yield running


@pytest.fixture
def profile_env(proxy: TlsProxy, tmp_path: Path, postgres_dsn: str, smtp_sink) -> dict[str, str]:  # noqa: ANN001
    """The environment of a process configured by a profile file only."""
    certs = proxy.certs
    file = tmp_path / "temporal.toml"
    file.write_text(
        f"""
[profile.secure]
address = "127.0.0.1:{proxy.port}"
namespace = "default"
api_key = "{API_KEY}"

[profile.secure.tls]
server_name = "localhost"
server_ca_cert_path = "{certs.ca}"
client_cert_path = "{certs.client[0]}"
client_key_path = "{certs.client[1]}"
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    return {
        **env,
        "TEMPORAL_CONFIG_FILE": str(file),
        "TEMPORAL_PROFILE": "secure",
        "DATABASE_URL": postgres_dsn,
        "SMTP_HOST": smtp_sink.host,
        "SMTP_PORT": str(smtp_sink.port),
        "PLAYBOOK_CODEC_KEYS": TEST_CODEC_KEYS,
        "PLAYBOOK_STATE_DIR": str(tmp_path / "state"),
        "COLUMNS": "200",
    }


async def until(condition, what: str) -> None:  # noqa: ANN001
    """Wait for ``condition()`` to hold, bounded by attempts, not time."""
    for _ in range(_ATTEMPTS):
        if await condition():
            return
        await asyncio.sleep(_PAUSE)
    raise AssertionError(f"never: {what}")


async def test_the_cli_connects_with_tls_and_the_api_key(
    proxy: TlsProxy, profile_env: dict[str, str]
) -> None:
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli.app", "ps", "--status", "all"],
        env=profile_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listed = proxy.calls("ListWorkflowExecutions")
    assert listed and set(listed) == {f"Bearer {API_KEY}"}


async def test_a_client_without_the_profile_does_not_get_through(
    proxy: TlsProxy, profile_env: dict[str, str]
) -> None:
    # Plaintext at the proxy's address: no TLS, no way in (the proxy is really TLS).
    env = {**profile_env, "TEMPORAL_PROFILE": "", "TEMPORAL_ADDRESS": f"127.0.0.1:{proxy.port}"}
    env.pop("TEMPORAL_CONFIG_FILE")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli.app", "ps"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot reach Temporal at 127.0.0.1:")
    assert proxy.requests == []


async def test_the_worker_polls_with_tls_and_the_api_key(
    proxy: TlsProxy, profile_env: dict[str, str], temporal_client: Client, task_queue: str
) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "workers.worker", "--task-queue", task_queue],
        env=profile_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        async def polling() -> bool:
            assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
            return await task_queue_pollers(temporal_client, task_queue) > 0

        # The server (asked directly) sees the worker poll; the proxy saw how it came.
        await until(polling, f"a worker polls {task_queue}")
        polls = proxy.calls("PollWorkflowTaskQueue")
        assert polls and set(polls) == {f"Bearer {API_KEY}"}
    finally:
        worker.terminate()
        out, _ = worker.communicate(timeout=60)
    assert "(mTLS, API key, profile secure)" in out


async def test_the_web_endpoint_connects_with_tls_and_the_api_key(
    proxy: TlsProxy, profile_env: dict[str, str], tmp_path: Path, temporal_client: Client
) -> None:
    port = free_port()
    secret = "operator-secret-for-the-report"
    # A namespace of its own (registered directly: a profile with an API key is taken
    # for Temporal Cloud, where setup does not register namespaces): the report asks
    # Temporal about every running journey, and the shared server's earlier tests
    # left journeys whose workers are gone (each query would wait out its timeout).
    namespace = f"tls-{uuid.uuid4().hex[:12]}"
    await temporal_client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    await setup.wait_until_known(temporal_client, namespace)
    await setup.register_search_attributes(temporal_client, namespace)
    env = {
        **profile_env,
        "PLAYBOOK_WEBHOOK_SECRET": secret,
        "PLAYBOOK_LINK_SECRET": "links",
        "TEMPORAL_NAMESPACE": namespace,
    }
    web = subprocess.Popen(
        [sys.executable, "-m", "workers.web.app", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    token = base64.b64encode(f"ops:{secret}".encode()).decode()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:

            async def up() -> bool:
                assert web.poll() is None, web.stdout.read() if web.stdout else ""
                try:
                    await http.get("/healthz")
                except httpx.TransportError:
                    return False
                return True

            await until(up, "the web endpoint answers")
            # The report asks Temporal which journeys run (through the proxy).
            page = await http.get("/report", headers={"Authorization": f"Basic {token}"})
            assert page.status_code == 200, page.text
        calls = [auth for path, auth in proxy.requests if "WorkflowService" in path]
        assert calls and set(calls) == {f"Bearer {API_KEY}"}
    finally:
        web.terminate()
        web.communicate(timeout=60)
