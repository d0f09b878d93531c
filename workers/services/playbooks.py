"""The playbooks directory (PLAYBOOK_DIR): find a playbook by name or file,
compile them all, and find those a trigger starts.

Services never name a playbook: a GA release or an NPS response starts the
playbooks whose header says so (``starts on ga_release``, ``starts on
nps_response``; the triggers are ``dsl.schema.TRIGGERS``), found here with
``started_by``. Each is compiled from its file when asked, so an edited playbook
applies to the journeys started from then on (a journey pins the IR it started
with).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dsl.diagnostics import PlaybookError
from dsl.folder import playbook_files as files_in
from dsl.ir import Playbook
from dsl.loader import load_playbook
from workers.services.errors import JourneyError
from workers.settings import Settings


class NoTriggeredPlaybook(JourneyError):
    """No playbook in the directory starts on the trigger."""


def playbook_path(name_or_path: str, settings: Settings) -> Path:
    """A playbook file from a path or a name in the playbooks directory."""
    given = Path(name_or_path)
    if given.suffix == ".playbook" or given.exists():
        if not given.is_file():
            raise JourneyError(f"no such playbook file: {given}")
        return given
    candidate = settings.playbooks_dir / f"{name_or_path}.playbook"
    if candidate.is_file():
        return candidate
    known = [p.stem for p in files_in(settings.playbooks_dir)]
    if known:
        hint = f"known playbooks: {', '.join(known)}"
    else:
        hint = (
            "run it in the project (any folder under the one holding playbooks/), "
            "set PLAYBOOK_DIR to the playbooks folder, or give the file: NAME.playbook"
        )
    raise JourneyError(f"no playbook named {name_or_path!r} in {settings.playbooks_dir}", hint=hint)


def find_playbook(name_or_path: str, settings: Settings) -> Playbook:
    """Compile a playbook given by name or path; diagnostics become ``JourneyError``."""
    path = playbook_path(name_or_path, settings)
    try:
        return load_playbook(path)
    except PlaybookError as error:
        raise JourneyError(error.render()) from error


@dataclass(frozen=True)
class PlaybookFile:
    """A playbook in the playbooks directory, compiled (or why not)."""

    name: str  # the file name without .playbook
    playbook: Playbook | None
    problem: str = ""  # the first line of its first diagnostic, when it does not compile

    @property
    def schedulable(self) -> bool:
        """Whether it compiles and has an ``enroll`` condition (a daily enrolment)."""
        return self.playbook is not None and self.playbook.enroll is not None


def playbook_files(settings: Settings) -> list[PlaybookFile]:
    """Every ``*.playbook`` in the playbooks directory (its model file left out), by
    file name, compiled."""
    found: list[PlaybookFile] = []
    for path in files_in(settings.playbooks_dir):
        try:
            found.append(PlaybookFile(path.stem, load_playbook(path)))
        except PlaybookError as error:
            found.append(PlaybookFile(path.stem, None, error.render().splitlines()[0]))
    return found


def compiled_playbooks(settings: Settings) -> dict[str, Playbook]:
    """The playbooks that compile, by playbook name (broken files left out)."""
    return {f.playbook.name: f.playbook for f in playbook_files(settings) if f.playbook}


def started_by(trigger: str, settings: Settings) -> list[Playbook]:
    """The playbooks whose header says ``starts on TRIGGER``, by name. Raises
    ``NoTriggeredPlaybook`` when there is none (naming the files that do not
    compile: one of them may be it)."""
    files = playbook_files(settings)
    found = [f.playbook for f in files if f.playbook and f.playbook.starts_on == trigger]
    if found:
        return sorted(found, key=lambda playbook: playbook.name)
    broken = [f"{f.name}.playbook" for f in files if f.playbook is None]
    hint = f"add `starts on {trigger}` to the header of the playbook it should start"
    if broken:
        hint += f" (these do not compile: {', '.join(broken)})"
    raise NoTriggeredPlaybook(
        f"no playbook in {settings.playbooks_dir} starts on {trigger}", hint=hint
    )
