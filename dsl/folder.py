"""The playbooks folder: its playbook files and its model file.

A team keeps its playbooks (``NAME.playbook``) and its data model
(``model.playbook``, see ``dsl.model_file``) side by side. Everything that
lists the playbooks of a folder asks ``playbook_files`` so that the model file
is never taken for a playbook.

The project is found as git and ruff find theirs: the nearest folder, from the
working directory up, that holds ``playbooks/`` with a playbook in it
(``project_root``), so the commands work from any folder of the project.
"""

from __future__ import annotations

from pathlib import Path

MODEL_FILE = "model.playbook"
PLAYBOOK_SUFFIX = ".playbook"


def model_file(playbooks_dir: Path) -> Path:
    """Where the team model of the playbooks in ``playbooks_dir`` is."""
    return playbooks_dir / MODEL_FILE


def is_model_file(path: str | Path) -> bool:
    """Whether ``path`` is a team model file rather than a playbook."""
    return Path(path).name == MODEL_FILE


def playbook_files(playbooks_dir: Path) -> list[Path]:
    """The playbook files in ``playbooks_dir``, sorted by name (the model file left out)."""
    return sorted(
        path for path in playbooks_dir.glob(f"*{PLAYBOOK_SUFFIX}") if not is_model_file(path)
    )


PLAYBOOKS_FOLDER = "playbooks"


def project_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (the working directory) holding a
    ``playbooks/`` folder with a playbook or a model file in it; None outside any."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PLAYBOOKS_FOLDER
        if candidate.is_dir() and any(candidate.glob(f"*{PLAYBOOK_SUFFIX}")):
            return folder
    return None
