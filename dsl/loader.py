"""The language's public API: from a file or text to the IR, or to diagnostics.

    load_playbook(path) -> Playbook            raises PlaybookError(diagnostics)
    check_file(path) -> (Playbook | None, [Diagnostic])
    check_model_file(path) -> (Model | None, [Diagnostic])   a team's model.playbook
    check_text(text, path="<text>", templates_dir=None) -> (Playbook | None, [Diagnostic])
    parse_file(path) / parse_text(text) -> (PlaybookFile | None, [Diagnostic])   (for fmt)
    render_diagnostics(diagnostics, source) -> str

A file compiles when it has no error diagnostics; warnings do not stop it.
Templates are looked up in ``templates_dir`` if given, else ``$PLAYBOOK_TEMPLATES``
if set, else ``<playbook dir>/templates`` (``templates_dir_for``).
"""

from __future__ import annotations

import os
from pathlib import Path

from dsl.checker import check
from dsl.compiler import compile_playbook
from dsl.diagnostics import Diagnostic, PlaybookError, render_diagnostics
from dsl.folder import PLAYBOOKS_FOLDER, model_file, project_root
from dsl.ir import Playbook
from dsl.model import Model
from dsl.model_file import ModelError, check_model_text, load_model
from dsl.parser import decode_source, parse_file, parse_text

__all__ = [
    "Diagnostic",
    "PlaybookError",
    "check_file",
    "check_model_file",
    "check_text",
    "load_playbook",
    "parse_file",
    "parse_text",
    "read_source",
    "render_diagnostics",
    "templates_dir_for",
]

TEMPLATES_ENV = "PLAYBOOK_TEMPLATES"
TEMPLATE_SUFFIX = ".txt.j2"


def templates_dir_for(path: str | Path, templates_dir: str | Path | None = None) -> Path:
    """Where the templates of the playbook at ``path`` are looked up: ``templates_dir``
    if given (``--templates DIR``), else ``$PLAYBOOK_TEMPLATES`` if set, else
    ``templates/`` next to the playbook file, else the playbook's own folder when
    templates lie beside it (a playbook copied out with its templates), else the
    templates of the project the working directory is in."""
    if templates_dir is not None:
        return Path(templates_dir)
    from_env = os.environ.get(TEMPLATES_ENV, "")
    if from_env:
        return Path(from_env)
    folder = Path(path).resolve().parent
    beside = folder / "templates"
    if beside.is_dir() or folder.name == PLAYBOOKS_FOLDER:
        return beside
    if any(folder.glob(f"*{TEMPLATE_SUFFIX}")):
        return folder
    root = project_root()
    return root / PLAYBOOKS_FOLDER / "templates" if root is not None else beside


MAX_SOURCE_BYTES = 1_000_000  # a playbook is a page or two of text


def read_source(path: str | Path) -> tuple[str | None, list[Diagnostic]]:
    """The text of a playbook file, or a diagnostic (missing, unreadable, binary, not UTF-8)."""
    name = str(path)
    try:
        # Read one byte past the limit: a device such as /dev/urandom never ends.
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_SOURCE_BYTES + 1)
    except FileNotFoundError:
        return None, [Diagnostic("error", "no such file", name)]
    except IsADirectoryError:
        return None, [Diagnostic("error", "this is a directory, not a playbook file", name)]
    except OSError as exc:
        return None, [Diagnostic("error", f"cannot read file: {exc.strerror or exc}", name)]
    if len(data) > MAX_SOURCE_BYTES:
        limit = f"{MAX_SOURCE_BYTES // 1_000_000} MB"
        return None, [Diagnostic("error", f"file too large for a playbook (over {limit})", name)]
    return decode_source(data, name)


def check_text(
    text: str,
    path: str = "<text>",
    templates_dir: str | Path | None = None,
    playbooks_dir: str | Path | None = None,
    model: Model | None = None,
) -> tuple[Playbook | None, list[Diagnostic]]:
    """Parse, check and compile ``text``. ``templates_dir=None`` leaves templates
    unchecked; ``playbooks_dir`` (for ``start playbook``) likewise. The data model
    is ``model`` if given, else the one of ``playbooks_dir`` (its ``model.playbook``
    added to the default model), else the default model."""
    tree, diagnostics = parse_text(text, path)
    if tree is None:
        return None, diagnostics
    folder = Path(playbooks_dir) if playbooks_dir is not None else None
    if model is None:
        model, problem = _model_of(folder, path)
        if model is None:
            return None, diagnostics + problem
    try:
        diagnostics = diagnostics + check(
            tree,
            Path(templates_dir) if templates_dir is not None else None,
            folder,
            model,
        )
        diagnostics.sort(key=lambda d: (d.line, d.col, d.message))
        if any(d.is_error for d in diagnostics):
            return None, diagnostics
        return compile_playbook(tree, model), diagnostics
    except RecursionError:  # thousands of nested operators: a diagnostic, not a crash
        return None, [
            Diagnostic(
                "error",
                "this playbook nests too deeply to compile",
                path,
                hint="split long expressions and deep blocks into smaller ones",
            )
        ]


def _model_of(folder: Path | None, path: str) -> tuple[Model | None, list[Diagnostic]]:
    """The model of the playbooks in ``folder``, or one diagnostic on the playbook
    saying that its folder's model file does not load (and where)."""
    try:
        return load_model(folder), []
    except ModelError as exc:
        first = exc.diagnostics[0] if exc.diagnostics else None
        where = first.headline() if first else str(exc)
        model_path = model_file(folder) if folder is not None else "model.playbook"
        return None, [
            Diagnostic(
                "error",
                f"the data model does not load: {where}",
                path,
                hint=f"fix it first: playbook validate {model_path}",
            )
        ]


def check_file(
    path: str | Path, templates_dir: str | Path | None = None
) -> tuple[Playbook | None, list[Diagnostic]]:
    """Check a playbook file; templates where ``templates_dir_for`` says."""
    text, problems = read_source(path)
    if text is None:
        return None, problems
    folder = Path(path).resolve().parent
    return check_text(text, str(path), templates_dir_for(path, templates_dir), folder)


def check_model_file(path: str | Path) -> tuple[Model | None, list[Diagnostic]]:
    """Check a team model file (``model.playbook``): the default model with it added."""
    text, problems = read_source(path)
    if text is None:
        return None, problems
    return check_model_text(text, str(path))


def load_playbook(path: str | Path, templates_dir: str | Path | None = None) -> Playbook:
    """The IR of a playbook file; raises ``PlaybookError`` with every diagnostic if
    it does not compile."""
    playbook, diagnostics = check_file(path, templates_dir)
    if playbook is None:
        text, _ = read_source(path)
        raise PlaybookError(diagnostics, text or "")
    return playbook


# parse_file is re-exported for fmt; keep the name bound here.
_ = parse_file
