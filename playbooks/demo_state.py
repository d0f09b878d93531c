"""The demo's own state: a fresh rehearsal each run, and a word when interrupted.

The demo marks the state folder it created (``DEMO_MARK`` in PLAYBOOK_STATE_DIR,
``.state`` by default). Run again, it finds the mark: that folder holds only an
earlier demo's rehearsal, so it stops that stack and forgets the folder, without
asking, and the story is told whole again (its journeys are enrolled anew, not
found from the earlier run). A state folder the demo did not create (your own
stack) is never removed: the demo says how to start afresh instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

DEMO_MARK = "made-by-make-demo"


def state_dir() -> Path:
    from workers.settings import load

    return load().state_dir.resolve()


def ours(folder: Path) -> bool:
    """Whether ``folder`` is a state folder an earlier demo created."""
    return (folder / DEMO_MARK).exists()


def mark(folder: Path) -> None:
    """Mark ``folder`` as the demo's own (once the stack created it)."""
    if folder.is_dir():
        (folder / DEMO_MARK).touch()


def forget(folder: Path) -> None:
    """Remove an earlier demo's state folder (its stack stopped first by the caller)."""
    if ours(folder):
        shutil.rmtree(folder, ignore_errors=True)


def running_parts() -> list[str]:
    """The parts of the local stack that run now."""
    from workers.settings import load
    from workers.stack.parts import PART_NAMES, LocalStack

    try:
        stack = LocalStack(load())
        return [name for name in PART_NAMES if not stack.external(name) and stack.running(name)]
    except Exception:  # no state yet, or unreadable: nothing we started
        return []


def interrupted_line(playbook: str) -> str:
    """One line for a Ctrl-C: what still runs and how to stop it."""
    parts = running_parts()
    if not parts:
        return "demo interrupted; nothing of the local stack is running."
    return (
        f"demo interrupted; still running: {', '.join(parts)} "
        f"(journeys carry on). Stop them: {playbook} dev down"
    )
