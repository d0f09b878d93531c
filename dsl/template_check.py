"""Check the email templates a playbook uses, before anything runs.

A template is ``<templates>/NAME.txt.j2`` (required) and ``NAME.html.j2``
(optional), Jinja2 (docs/language.md, "Email templates"). For each part this
finds: Jinja syntax errors, a text part whose first line is not ``Subject:``,
names the template context does not hold, and fields of the fact roots
(``account.nam``) or of the recipient (``contact.emial``) that the schema does
not declare. The checker reports each problem once, at the first statement that
uses the template.

It also refuses what fails every time the template renders: a name the sandbox
refuses (``account.__class__``, ``x["_secret"]``: the sandbox turns away every
name starting with ``_``), and an include, import or extends of a template
outside the templates folder (``../secrets.txt``, ``/etc/passwd``) or missing
from it. ``name_problem`` says why a template name cannot be a file name at all
(longer than a file system allows, or with a path in it), before any file is
looked up with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dsl.diagnostics import did_you_mean
from dsl.model import FieldType, Model
from dsl.model_file import default_model

# What every template sees (workers.adapters.email.template_context), and what only the
# question email of an `ask` sees.
CONTEXT_NAMES = (
    "account", "subscription", "usage", "nps", "quote", "contacts", "contact", "answers",
    "unsubscribe_url",
)  # fmt: skip
ASK_NAMES = ("question", "links")

# The longest file name a template part gets is NAME.html.j2; file systems allow 255 bytes.
_PART_SUFFIXES = (".txt.j2", ".html.j2")
MAX_NAME_BYTES = 255 - max(len(suffix) for suffix in _PART_SUFFIXES)

# Roots whose fields the data model declares; quote gains display fields when
# rendered, so its fields are left to the renderer.
_CHECKED_ROOTS = ("account", "subscription", "usage", "nps", "contact")


@dataclass(frozen=True)
class TemplateProblem:
    """One problem in a template file (``line`` 0: the file as a whole)."""

    file: str
    line: int
    message: str
    hint: str = ""

    def text(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        return f"template {where}: {self.message}"


def name_problem(name: str) -> TemplateProblem | None:
    """Why ``name`` cannot name a template file (``None``: it can)."""
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return TemplateProblem(
            f"{name[:40]}...",
            0,
            f"the template name is {size} bytes long; a file name allows {MAX_NAME_BYTES} "
            "with its .html.j2 ending",
            "give the template a shorter name",
        )
    if "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
        return TemplateProblem(name, 0, "a template name is a file name, not a path")
    return None


def check_template(
    directory: Path, name: str, for_ask: bool, model: Model | None = None
) -> list[TemplateProblem]:
    """Problems in the parts of template ``name`` (the caller checks it exists);
    fields against ``model`` (``None``: the default model)."""
    model = model or default_model()
    fields = {root: model.fields(root) for root in _CHECKED_ROOTS}
    problems: list[TemplateProblem] = []
    for suffix in _PART_SUFFIXES:
        path = directory / f"{name}{suffix}"
        if path.is_file():
            problems += _check_part(path, suffix == ".txt.j2", for_ask, fields)
    return problems


def _always_fails(tree: object, file: str, directory: Path) -> list[TemplateProblem]:
    """What fails each render: a name the sandbox refuses, a template loaded from
    outside the templates folder or missing from it."""
    from jinja2 import nodes

    assert isinstance(tree, nodes.Template)
    problems: list[TemplateProblem] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attr: object = None
        if isinstance(node, nodes.Getattr):
            attr = node.attr
        elif isinstance(node, nodes.Getitem):
            key = getattr(node, "arg", None)
            attr = key.value if isinstance(key, nodes.Const) else None
        if isinstance(attr, str) and attr.startswith("_"):
            problems.append(
                TemplateProblem(
                    file,
                    node.lineno,
                    f"the sandbox refuses `{attr}`: this template fails every time it renders",
                    "templates read facts; names starting with `_` are never one",
                )
            )
    loads = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)
    for load in tree.find_all(loads):
        target = getattr(load, "template", None)
        if not isinstance(target, nodes.Const) or not isinstance(target.value, str):
            continue
        loaded = target.value
        segments = loaded.replace("\\", "/").split("/")
        if loaded.startswith("/") or ".." in segments:
            problems.append(
                TemplateProblem(
                    file,
                    load.lineno,
                    f"`{loaded}` is outside the templates folder: this template fails "
                    "every time it renders",
                    "templates load only templates of their own folder, by name",
                )
            )
            continue
        ignore_missing = isinstance(load, nodes.Include) and load.ignore_missing
        if not ignore_missing and not _exists(directory, loaded):
            problems.append(
                TemplateProblem(
                    file,
                    load.lineno,
                    f"`{loaded}` is not in the templates folder: this template fails "
                    "every time it renders",
                )
            )
    return problems


def _exists(directory: Path, name: str) -> bool:
    try:
        return (directory / name).is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL, names no file
        return False


def _check_part(
    path: Path, is_text: bool, for_ask: bool, declared: dict[str, dict[str, FieldType]]
) -> list[TemplateProblem]:
    from jinja2 import TemplateSyntaxError, meta, nodes
    from jinja2.sandbox import SandboxedEnvironment

    file = path.name
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [TemplateProblem(file, 0, f"cannot read ({exc})")]
    try:
        tree = SandboxedEnvironment().parse(source)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(file, exc.lineno or 0, f"Jinja syntax error: {exc.message}")]
    problems = _always_fails(tree, file, path.parent)
    if is_text and not source.lstrip("\n").startswith("Subject:"):
        problems.append(
            TemplateProblem(
                file,
                1,
                "the first line is not `Subject: ...`",
                "a text template starts with `Subject: ...`, a blank line, then the body",
            )  # fmt: skip
        )
    known = CONTEXT_NAMES + (ASK_NAMES if for_ask else ())
    for unknown in sorted(meta.find_undeclared_variables(tree) - set(known)):
        line = next(
            (n.lineno for n in tree.find_all(nodes.Name) if n.name == unknown and n.ctx == "load"),
            0,
        )
        hint = did_you_mean(unknown, known) or "templates see " + ", ".join(known)
        if unknown in ASK_NAMES:
            hint = f"`{unknown}` is only there for the question email of an `ask`"
        problems.append(TemplateProblem(file, line, f"unknown name {unknown}", hint))
    reported: set[tuple[str, str]] = set()
    for node in tree.find_all(nodes.Getattr):
        if not isinstance(node.node, nodes.Name) or node.node.name not in declared:
            continue
        root, attr = node.node.name, node.attr
        fields = declared[root]
        if attr in fields or (root, attr) in reported:
            continue
        reported.add((root, attr))
        problems.append(
            TemplateProblem(
                file,
                node.lineno,
                f"unknown field {root}.{attr}",
                did_you_mean(attr, fields) or f"{root} has {', '.join(fields)}",
            )  # fmt: skip
        )
    return problems
