"""The built-in facts under the names the code has always used, and what the
services know beside the data model (built-in events, triggers).

The facts, owners, contact roles and channels themselves live in one place, the
default model ``dsl/default.model`` (read by ``dsl.model_file``); the constants
here are derived from it. Code that should also see a team's own facts asks the
``Model`` of its playbooks folder (``dsl.model_file.load_model``).

Facts reach a journey as one dict of this shape (see ``dsl.model``):

    {"account": {...}, "subscription": {...}, "usage": {...}, "nps": {...},
     "contacts": {"decision_maker": {...}, ...}, "quote": {...}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dsl import syntax
from dsl.model import OPEN_ROOTS, FieldType, Model
from dsl.model_file import default_model

__all__ = ["OPEN_ROOTS", "FieldType", "Model", "default_model"]

DEFAULT: Model = default_model()

ACCOUNT: dict[str, FieldType] = DEFAULT.fields("account")
SUBSCRIPTION: dict[str, FieldType] = DEFAULT.fields("subscription")
USAGE: dict[str, FieldType] = DEFAULT.fields("usage")
NPS: dict[str, FieldType] = DEFAULT.fields("nps")
CONTACT: dict[str, FieldType] = DEFAULT.fields("contact")
QUOTE: dict[str, FieldType] = DEFAULT.fields("quote")
JOURNEY: dict[str, FieldType] = DEFAULT.fields("journey")

# Text facts that hold one of a few words. The checker refuses other words where a
# playbook compares or sets them (`account.risk_level == "hgh"`); the importer
# refuses them in a CRM export. An empty value means "not known" and is allowed.
VALUES: dict[tuple[str, str], tuple[str, ...]] = DEFAULT.values

# Contact roles (people at the customer) and owner roles (our own staff, for CTAs).
CONTACT_ROLES = DEFAULT.contact_roles
OWNER_ROLES = DEFAULT.owner_roles
# Which account field names the owner of each owner role; FALLBACK_OWNER is the queue
# a CTA goes to when the account names nobody for its role.
OWNER_FIELDS = {o.role: o.field for o in DEFAULT.owners if o.field}
FALLBACK_OWNER = DEFAULT.fallback_owner


def owner_of(account: Mapping[str, Any], owner_role: str) -> str:
    """The person a CTA for ``owner_role`` goes to under the default model: the
    account's field for the role (``csm`` -> ``csm_owner``), else the
    ``FALLBACK_OWNER`` queue."""
    return DEFAULT.owner_of(account, owner_role)


# Events every playbook may use without declaring them.
FACTS_CHANGED = syntax.FACTS_CHANGED  # the account's facts changed: journeys reload them
BUILTIN_EVENTS = ("renewed", "churned", "opted_out", "nps_response", FACTS_CHANGED)

# Events the engine itself takes (an ask takes ``answer``, an escalation
# ``cta_closed``): a playbook may neither declare nor handle them.
ENGINE_OWN_EVENTS: dict[str, tuple[str, str]] = {
    "answer": ("an answer to an ask", "act on an answer with `match answer QUESTION`"),
    "cta_closed": (
        "a CTA closed by a person",
        "an `escalate` waits for its CTA to close by itself",
    ),
}

# What outside the journeys starts a playbook that says so in its header
# (`starts on TRIGGER`), and which services act on it.
NPS_RESPONSE = "nps_response"
GA_RELEASE = "ga_release"
TRIGGERS: dict[str, str] = {
    NPS_RESPONSE: "an NPS response arrives (the NPS webhook, `playbook data nps`, "
    "`playbook data import --nps`): its journey starts with the response as its first "
    "`nps_response` event, or a running one hears it",
    GA_RELEASE: "a new GA release is recorded (the release webhook, `playbook data release`): "
    "the playbook enrols its cohort among the accounts the release covers",
}

ROOTS: dict[str, dict[str, FieldType]] = DEFAULT.roots

# Facts a playbook may write with `set`.
WRITABLE = DEFAULT.writable


def reference(model: Model | None = None) -> str:
    """The model as Markdown, for docs/language.md (kept in step by a test)."""
    model = model or DEFAULT
    lines = ["| fact | type | notes |", "|---|---|---|"]
    for fact in model.facts():
        notes = [fact.description] if fact.description else []
        if fact.words:
            notes.append("one of " + ", ".join(fact.words))
        if fact.settable:
            notes.append("a playbook may `set` it")
        kind = "string" if fact.words else fact.type
        lines.append(f"| {fact.path} | {kind} | {'; '.join(notes)} |")
    lines.append("")
    lines.append("ROLEs (contacts): " + ", ".join(model.contact_roles) + ".")
    owners = [
        f"{o.role} (account.{o.field})" if o.field else f"{o.role} (a queue)" for o in model.owners
    ]
    lines.append("Owners (CTAs): " + ", ".join(owners) + f"; nobody named: {model.fallback_owner}.")
    channels = [f"{c.name} ({c.env})" for c in model.channels]
    lines.append("Channels (`notify channel`): " + ", ".join(channels) + ".")
    lines.append(
        "Events any playbook may use without declaring them: " + ", ".join(BUILTIN_EVENTS) + "."
    )
    lines.append("Triggers (`starts on`): " + ", ".join(TRIGGERS) + ".")
    return "\n".join(lines) + "\n"
