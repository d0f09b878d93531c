"""What git knows of a playbook file: the commit it was last changed in, and its
text at another revision (``playbook diff renewal.playbook@HEAD~1 ...``).

Both run the ``git`` command in the file's folder. A file outside a repository,
or a machine without git, has no commit ("") and no revisions (``GitError``).
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

GIT_TIMEOUT = 10  # seconds: git on a local repository answers at once


class GitError(Exception):
    """git could not say (no repository, no such revision, no git)."""


def _git(folder: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GitError(f"git did not run: {error}") from None
    if done.returncode != 0:
        problem = done.stderr.strip()
        raise GitError(problem.splitlines()[-1] if problem else "git failed")
    return done.stdout


def file_commit(path: str | Path) -> str:
    """The short hash of the last commit that changed ``path``, with "+ local
    changes" when the file differs from it; "" outside a repository or for a file
    never committed."""
    resolved = Path(path).resolve()
    try:
        stamp = resolved.stat().st_mtime_ns
    except OSError:
        return ""
    return _file_commit(str(resolved), stamp)


@functools.lru_cache(maxsize=64)
def _file_commit(path: str, _mtime: int) -> str:
    folder, name = Path(path).parent, Path(path).name
    try:
        commit = _git(folder, "log", "-1", "--format=%h", "--", name).strip()
        if not commit:
            return ""
        changed = _git(folder, "status", "--porcelain", "--", name).strip()
    except GitError:
        return ""
    return f"{commit} + local changes" if changed else commit


def head_commit(folder: str | Path) -> str:
    """The short hash of the commit checked out in the repository holding
    ``folder``, with "+ local changes" when files differ from it; "" outside a
    repository or without git."""
    try:
        commit = _git(Path(folder), "rev-parse", "--short", "HEAD").strip()
        changed = _git(Path(folder), "status", "--porcelain", "--untracked-files=no").strip()
    except GitError:
        return ""
    return f"{commit} + local changes" if commit and changed else commit


def file_at(path: str | Path, revision: str) -> str:
    """The text of ``path`` at git ``revision`` (``HEAD~1``, a tag, a hash).
    Raises ``GitError`` when git cannot show it."""
    resolved = Path(path).resolve()
    folder = resolved.parent
    root = Path(_git(folder, "rev-parse", "--show-toplevel").strip())
    relative = resolved.relative_to(root.resolve()).as_posix()
    return _git(folder, "show", f"{revision}:{relative}")
