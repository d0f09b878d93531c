"""A playbook version named on the command line (``playbook diff OLD NEW``,
``playbook migrate --to``), compiled:

- ``renewal`` or ``playbooks/renewal.playbook``: the file as it is now;
- ``renewal.playbook@HEAD~1`` (also ``renewal@v1.2``): the file at a git
  revision (a commit, a tag, ``HEAD~1``), compiled against today's data model,
  its templates unchecked (they may have changed since);
- ``version:3f2a9c1b2d4e`` (a prefix will do): the IR pinned in a running journey
  on that version (what those journeys really run, whatever the files say now).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dsl.diagnostics import render_diagnostics
from dsl.ir import Playbook
from dsl.loader import check_text
from workers.adapters.git_source import GitError, file_at
from workers.services import playbooks
from workers.services.connections import Connections
from workers.services.errors import JourneyError
from workers.services.journeys import journey_input, list_journeys, visibility_query

VERSION_PREFIX = "version:"


@dataclass(frozen=True)
class NamedPlaybook:
    """A compiled playbook and how it was named (for headings)."""

    playbook: Playbook
    label: str


async def load_named(connections: Connections, text: str) -> NamedPlaybook:
    """The playbook ``text`` names (see the module docstring); ``JourneyError`` when
    it names nothing or does not compile."""
    text = text.strip()
    if text.startswith(VERSION_PREFIX):
        return await running_version(connections, text[len(VERSION_PREFIX) :])
    if "@" in text:
        name, _, revision = text.rpartition("@")
        return at_revision(connections, name, revision)
    found = playbooks.find_playbook(text, connections.settings)
    return NamedPlaybook(found, f"{text} ({found.version()})")


def at_revision(connections: Connections, name: str, revision: str) -> NamedPlaybook:
    path = playbooks.playbook_path(name, connections.settings)
    try:
        source = file_at(path, revision)
    except GitError as error:
        raise JourneyError(
            f"git cannot show {path} at {revision!r}: {error}",
            hint="name a commit, a tag or HEAD~N of a file in a git repository",
        ) from None
    compiled, diagnostics = check_text(source, str(path), playbooks_dir=Path(path).parent)
    if compiled is None:
        shown = render_diagnostics(diagnostics, source)
        raise JourneyError(f"{path} at {revision} does not compile:\n{shown}")
    return NamedPlaybook(compiled, f"{path}@{revision} ({compiled.version()})")


async def running_version(connections: Connections, version: str) -> NamedPlaybook:
    """The IR a running journey on ``version`` (or a version it starts with) runs."""
    if not version:
        raise JourneyError("no version given", hint="see the versions with `playbook versions`")
    client = await connections.temporal()
    rows = await list_journeys(client, visibility_query(status="running"), limit=1_000_000)
    found = [row for row in rows if row.playbook_version.startswith(version)]
    versions = sorted({row.playbook_version for row in found})
    if not found:
        raise JourneyError(
            f"no running journey is on version {version!r}",
            hint="see the versions running with `playbook versions`",
        )
    if len(versions) > 1:
        raise JourneyError(
            f"{version!r} starts several versions: {', '.join(versions)}",
            hint="give more of the version",
        )
    pinned = (await journey_input(client, found[0].journey_id)).playbook
    return NamedPlaybook(
        pinned, f"version {versions[0]} (as journey {found[0].journey_id} runs it)"
    )
