"""Which versions of each playbook the running journeys run (``playbook versions``,
the report): a journey keeps the IR it started with (or was moved to), so after
an edit some journeys run the old version and new ones the new.

Counted from Temporal visibility (the ``PlaybookVersion`` search attribute of
the running journeys); the version each playbook file compiles to now is marked
``current``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from temporalio.client import Client

from workers.services import playbooks
from workers.services.connections import Connections
from workers.services.journeys import list_journeys, visibility_query


@dataclass(frozen=True)
class VersionCount:
    """Running journeys of one playbook on one version."""

    playbook: str
    version: str
    running: int
    current: bool  # the version the playbook's file compiles to now


async def running_versions(client: Client, playbook: str = "") -> dict[str, Counter[str]]:
    """Running journeys per playbook per version."""
    query = visibility_query(playbook=playbook or None, status="running")
    found: dict[str, Counter[str]] = {}
    for row in await list_journeys(client, query, limit=1_000_000):
        found.setdefault(row.playbook, Counter())[row.playbook_version or "?"] += 1
    return found


async def version_counts(connections: Connections, playbook: str = "") -> list[VersionCount]:
    """Running journeys per version per playbook, by playbook, the most run first;
    a playbook whose file compiles to a version no journey runs yet shows it with 0."""
    current = playbooks.compiled_playbooks(connections.settings)
    if playbook:
        name = playbooks.find_playbook(playbook, connections.settings).name
        current = {name: current[name]} if name in current else {}
        playbook = name
    counted = await running_versions(await connections.temporal(), playbook)
    out: list[VersionCount] = []
    for name in sorted(set(counted) | set(current)):
        now = current[name].version() if name in current else ""
        versions = counted.get(name, Counter())
        if now and now not in versions:
            versions[now] = 0
        for version, running in sorted(versions.items(), key=lambda item: (-item[1], item[0])):
            out.append(VersionCount(name, version, running, version == now))
    return out
