"""The data model: the facts a playbook may read or write, the CTA owners, the
contact roles and the notify channels.

A ``Model`` is the default model (``dsl/default.model``, the built-in facts)
with what a team declares beside its playbooks (``playbooks/model.playbook``)
added to it; ``dsl.model_file`` reads both. Everything that needs to know a
fact asks a ``Model``: the checker and the compiler, simulate's sample facts,
the forecast, the importer and the store (``Model.fields(root)`` gives a
group's fields with their types).

Facts reach a journey as one dict of this shape::

    {"account": {...}, "subscription": {...}, "usage": {...}, "nps": {...},
     "support": {...},                      # a group a team declared
     "contacts": {"decision_maker": {...}, ...}, "quote": {...}}

The ``contact`` group holds the fields of each contact, read in a playbook as
``contacts.ROLE.FIELD``; it is not a root of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

FieldType = Literal["number", "string", "bool", "date"]
FIELD_TYPES: tuple[FieldType, ...] = ("string", "number", "bool", "date")

CONTACT_GROUP = "contact"  # fields of each contact: contacts.ROLE.FIELD
# Roots of fact paths whose fields are not declared: answers.<question>,
# event.<payload field>, contacts.<role>.<contact field>. No group takes these names.
OPEN_ROOTS = ("answers", "event", "contacts")
DEFAULT_ORIGIN = "default"  # where a built-in declaration comes from


@dataclass(frozen=True)
class Fact:
    """One fact: ``group.name`` of ``type`` (``words``: the only values it takes,
    besides "" for not known), which a playbook may ``set`` if ``settable``."""

    group: str
    name: str
    type: FieldType
    words: tuple[str, ...] = ()
    settable: bool = False
    description: str = ""
    origin: str = DEFAULT_ORIGIN  # "default", or the team model file that declares it
    line: int = 0

    @property
    def path(self) -> str:
        """How a playbook reads it: ``account.segment``, ``contacts.ROLE.email``."""
        if self.group == CONTACT_GROUP:
            return f"contacts.ROLE.{self.name}"
        return f"{self.group}.{self.name}"

    @property
    def built_in(self) -> bool:
        return self.origin == DEFAULT_ORIGIN


@dataclass(frozen=True)
class FactGroup:
    """The facts under one root (``account``, ``support``...). A ``closed`` group
    (quote, journey: the engine makes them) takes no facts from a team model."""

    name: str
    facts: tuple[Fact, ...]
    closed: bool = False
    origin: str = DEFAULT_ORIGIN


@dataclass(frozen=True)
class Owner:
    """A CTA owner: the person the account field ``account.<field>`` names, or,
    without a field, a queue of that name."""

    role: str
    field: str = ""
    description: str = ""
    origin: str = DEFAULT_ORIGIN

    @property
    def is_queue(self) -> bool:
        return not self.field


@dataclass(frozen=True)
class Channel:
    """A notify channel: its webhook is in the environment variable ``env``."""

    name: str
    env: str
    description: str = ""
    origin: str = DEFAULT_ORIGIN


@dataclass(frozen=True)
class Calendar:
    """A business calendar (``playbooks/calendars/NAME.holidays``): its weekend days
    (``date.weekday()`` numbers) and its holidays (ISO date, name)."""

    name: str
    weekend: tuple[int, ...]
    holidays: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CalendarChoice:
    """Which calendar a journey counts business days by: the one the fact ``fact``
    (``account.region``) maps to in ``cases``, else ``default``."""

    fact: str = ""
    cases: tuple[tuple[str, str], ...] = ()
    default: str = ""


@dataclass(frozen=True)
class ContactRule:
    """A contact rule for the whole book (``contact rules:`` in the model): at most
    ``limit`` touches per ``per`` (``contact``: one person, emails only; ``account``:
    everyone there) within ``period_seconds``, counting ``counting`` (``emails``,
    ``ctas`` opened for people to call or meet, ``calls`` logged by phone)."""

    limit: int
    per: Literal["contact", "account"]
    period_seconds: int
    counting: tuple[str, ...] = ("emails",)
    text: str = ""
    origin: str = DEFAULT_ORIGIN


@dataclass(frozen=True)
class Model:
    """The data model playbooks are checked, compiled and run against."""

    groups: tuple[FactGroup, ...]
    owners: tuple[Owner, ...]
    fallback_owner: str
    contact_roles: tuple[str, ...]
    channels: tuple[Channel, ...]
    sources: tuple[str, ...] = field(default=(DEFAULT_ORIGIN,))
    calendars: tuple[Calendar, ...] = ()
    calendar_choice: CalendarChoice | None = None
    contact_rules: tuple[ContactRule, ...] = ()

    # ------------------------------------------------------------------ facts

    def group(self, name: str) -> FactGroup | None:
        return next((g for g in self.groups if g.name == name), None)

    def fields(self, root: str) -> dict[str, FieldType]:
        """The fields of a group with their types, in declaration order ({} if none)."""
        group = self.group(root)
        return {f.name: f.type for f in group.facts} if group else {}

    def fact(self, root: str, name: str) -> Fact | None:
        group = self.group(root)
        return next((f for f in group.facts if f.name == name), None) if group else None

    def facts(self) -> list[Fact]:
        """Every fact, group by group in declaration order."""
        return [f for g in self.groups for f in g.facts]

    def custom_facts(self) -> list[Fact]:
        """The facts a team model added (what the store keeps beside its columns)."""
        return [f for f in self.facts() if not f.built_in]

    @property
    def roots(self) -> dict[str, dict[str, FieldType]]:
        """Root -> fields, for every group a fact path starts with (not ``contact``)."""
        return {g.name: self.fields(g.name) for g in self.groups if g.name != CONTACT_GROUP}

    @property
    def values(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(root, field) -> the words a one-of fact takes."""
        return {(f.group, f.name): f.words for f in self.facts() if f.words}

    @property
    def writable(self) -> set[tuple[str, str]]:
        """(root, field) of every fact a playbook may ``set``."""
        return {(f.group, f.name) for f in self.facts() if f.settable}

    # ------------------------------------------------------------------ owners and channels

    def owner(self, role: str) -> Owner | None:
        return next((o for o in self.owners if o.role == role), None)

    @property
    def owner_roles(self) -> tuple[str, ...]:
        return tuple(o.role for o in self.owners)

    def route(self, role: str) -> tuple[str, str]:
        """(account field, queue) for a CTA for ``role``: the person the field
        names, else the queue. A queue owner is its own queue; an unknown role
        goes to the fallback queue."""
        owner = self.owner(role)
        if owner is None:
            return "", self.fallback_owner
        if owner.is_queue:
            return "", owner.role
        return owner.field, self.fallback_owner

    def owner_of(self, account: Mapping[str, Any], role: str) -> str:
        """The person (or queue) a CTA for ``role`` goes to at this account."""
        return route_owner(account, *self.route(role))

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)

    # ------------------------------------------------------------------ printing

    def to_dict(self) -> dict[str, Any]:
        """The model as plain JSON data (``playbook model --json``)."""
        return {
            "sources": list(self.sources),
            "facts": [
                {
                    "path": f.path,
                    "type": f.type,
                    "words": list(f.words),
                    "settable": f.settable,
                    "description": f.description,
                    "origin": f.origin,
                }
                for f in self.facts()
            ],
            "owners": [
                {
                    "role": o.role,
                    "field": f"account.{o.field}" if o.field else "",
                    "queue": o.is_queue,
                    "description": o.description,
                    "origin": o.origin,
                }
                for o in self.owners
            ],
            "fallback_owner": self.fallback_owner,
            "contact_roles": list(self.contact_roles),
            "channels": [
                {"name": c.name, "env": c.env, "description": c.description, "origin": c.origin}
                for c in self.channels
            ],
            "calendars": [
                {"name": c.name, "weekend": list(c.weekend), "holidays": len(c.holidays)}
                for c in self.calendars
            ],
            "calendar_by": (
                {
                    "fact": self.calendar_choice.fact,
                    "cases": dict(self.calendar_choice.cases),
                    "default": self.calendar_choice.default,
                }
                if self.calendar_choice
                else None
            ),
            "contact_rules": [rule.text for rule in self.contact_rules],
        }


def route_owner(account: Mapping[str, Any], field_name: str, queue: str) -> str:
    """Who a CTA goes to: the person the account's ``field_name`` names, else ``queue``."""
    person = str(account.get(field_name) or "") if field_name else ""
    return person or queue


def cta_owner(
    account: Mapping[str, Any], params: Mapping[str, Any], model: Model
) -> tuple[str, str]:
    """(owner role, owner) of a CTA the interpreter asked for: by the route its
    playbook's IR pinned (``owner_field``/``owner_queue`` in ``params``), else, for IR
    compiled before routes were kept, by ``model``."""
    role = str(params.get("owner_role") or "")
    if "owner_queue" in params:
        field_name = str(params.get("owner_field") or "")
        owner = route_owner(account, field_name, str(params["owner_queue"]))
    else:
        owner = model.owner_of(account, role)
    return role or model.fallback_owner, owner
