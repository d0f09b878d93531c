"""What a data model change would break in the journeys running now.

A running journey runs the IR it started with (``JourneyInput.playbook``), so a
model that no longer declares a fact, a fact group or a contact role that IR
reads breaks those journeys even when every playbook file beside the model
validates. ``running_breaks`` takes one pinned IR per running version of each
playbook (from Temporal: visibility lists the versions, the start event holds
the IR) and names what the model lacks (``dsl.fact_reads.undeclared``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from dsl.fact_reads import reads, undeclared
from dsl.model import Model
from workers.services import journeys
from workers.services.connections import Connections

LISTED_AT_MOST = 1_000_000  # running journeys looked at (visibility pages through them)


@dataclass(frozen=True)
class RunningBreak:
    """Running journeys of one playbook version that read what the model lacks."""

    playbook: str
    version: str
    running: int
    example: str  # one of the journeys, to `playbook show`
    missing: tuple[str, ...]


async def running_breaks(connections: Connections, model: Model) -> list[RunningBreak]:
    """Every running playbook version that reads a fact, group or contact role
    ``model`` does not declare, with how many journeys run it."""
    client = await connections.temporal()
    query = journeys.visibility_query(status="running")
    rows = await journeys.list_journeys(client, query, limit=LISTED_AT_MOST)
    by_version: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        by_version[row.playbook, row.playbook_version].append(row.journey_id)
    found: list[RunningBreak] = []
    for (playbook, version), ids in sorted(by_version.items()):
        pinned = (await journeys.journey_input(client, ids[0])).playbook
        missing = undeclared(reads(pinned), model)
        if missing:
            found.append(RunningBreak(playbook, version, len(ids), ids[0], tuple(missing)))
    return found
