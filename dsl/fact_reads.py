"""The facts a compiled playbook reads, and which of them a data model no longer
declares.

``reads`` is what data changes are matched against (a journey hears
``facts_changed`` only for paths it reads) and what a model change is checked
against: a running journey runs the IR it started with, so a model that drops a
fact, a fact group or a contact role that IR reads breaks it, whatever the
playbook files say now (``playbook validate --running``).
"""

from __future__ import annotations

from collections.abc import Iterable

from dsl.ir import PLACEHOLDER, Path, Playbook
from dsl.model import OPEN_ROOTS, Model
from dsl.visitor import walk


def reads(playbook: Playbook) -> frozenset[str]:
    """The fact paths ``playbook`` reads: every path in its expressions (entry and
    exit conditions, goals, anchor, waits, ifs, sets...) and every placeholder of its
    journey id and summary templates. Email templates are not in the IR."""
    found = {".".join(node.parts) for node in walk(playbook) if isinstance(node, Path)}
    for template in (playbook.journey_id, playbook.summary):
        found.update(PLACEHOLDER.findall(template))
    return frozenset(found)


def undeclared(read: Iterable[str], model: Model) -> list[str]:
    """The paths of ``read`` that ``model`` does not declare: a fact or fact group it
    lacks, or a contact role (``contacts.ROLE...``) it lacks. ``answers.*`` and
    ``event.*`` are the journey's own and always there."""
    missing: set[str] = set()
    roots = model.roots
    for path in read:
        parts = path.split(".")
        root = parts[0]
        if root in OPEN_ROOTS:
            if root == "contacts" and len(parts) > 1 and parts[1] not in model.contact_roles:
                missing.add(f"contacts.{parts[1]}")
        elif root not in roots:
            missing.add(root)
        elif len(parts) > 1 and parts[1] not in roots[root]:
            missing.add(f"{root}.{parts[1]}")
    return sorted(missing)


def nearest_line(source: str, missing: str) -> int:
    """The line of a model file's source nearest to where ``missing`` was declared:
    its ``facts GROUP:`` block, the ``contact roles:`` line, else the ``model:``
    line (1 if none)."""
    group = missing.split(".")[0]
    wanted = ("contact roles",) if group == "contacts" else (f"facts {group}:", f"facts {group} ")
    first = 1
    for number, line in enumerate(source.splitlines(), start=1):
        text = line.strip()
        if text.startswith("model:") and first == 1:
            first = number
        if text.startswith(wanted):
            return number
    return first
