"""The declared fact schema: every fact a playbook may read or write.

The checker rejects unknown fields against this schema (with a "did you mean"),
the compiler types fact paths with it, the store's SQL migrations hold the same
fields, and enrolment compiles entry conditions to SQL over these fields only.

Facts reach a journey as one dict of this shape (see ``engine.facts``):

    {"account": {...}, "subscription": {...}, "usage": {...}, "nps": {...},
     "contacts": {"decision_maker": {...}, ...}, "quote": {...}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

FieldType = Literal["number", "string", "bool", "date"]

ACCOUNT: dict[str, FieldType] = {
    "id": "string",
    "name": "string",
    "segment": "string",  # enterprise | mid_market | smb
    "region": "string",  # amer | emea | apac | japan
    "acv": "number",
    "csm_owner": "string",
    "renewal_rep": "string",
    "sales_owner": "string",
    "tam_owner": "string",
    "risk_level": "string",  # low | medium | high
    "renewal_intent": "string",  # yes | no | not_decision_maker | "" (as the CRM holds it)
    "health_score": "number",  # 0-100
    "deployment": "string",  # cloud | on_premise
    "product_line": "string",
    "installed_version": "string",
    "ga_version": "string",
    "versions_behind": "number",
    "fiscal_year_start_month": "number",
    "onboarding_complete": "bool",
    "timezone": "string",
    "migration_stage": "string",  # not_started | notified | planned | migrating | migrated
}

SUBSCRIPTION: dict[str, FieldType] = {
    "id": "string",
    "status": "string",  # active | renewed | churned
    "product": "string",
    "start_date": "date",
    "renewal_date": "date",
    "licences": "number",
    "unit_price": "number",
    "currency": "string",
    "weekly_notice_opt_out": "bool",
}

USAGE: dict[str, FieldType] = {
    "devices_in_use": "number",
    "active_users": "number",
    "last_login": "date",
    "adoption_percent": "number",
}

NPS: dict[str, FieldType] = {
    "score": "number",
    "category": "string",  # promoter | passive | detractor
    "comment": "string",
    "responded_on": "date",
}

# Text facts that hold one of a few words. The checker refuses other words where a
# playbook compares or sets them (`account.risk_level == "hgh"`); the importer
# refuses them in a CRM export. An empty value means "not known" and is allowed.
VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("account", "segment"): ("enterprise", "mid_market", "smb"),
    ("account", "region"): ("amer", "emea", "apac", "japan"),
    ("account", "risk_level"): ("low", "medium", "high"),
    ("account", "renewal_intent"): ("yes", "no", "not_decision_maker"),
    ("account", "deployment"): ("cloud", "on_premise"),
    ("account", "migration_stage"): ("not_started", "notified", "planned", "migrating", "migrated"),
    ("subscription", "status"): ("active", "renewed", "churned"),
    ("nps", "category"): ("promoter", "passive", "detractor"),
}

CONTACT: dict[str, FieldType] = {
    "id": "string",
    "name": "string",
    "email": "string",
    "title": "string",
    "timezone": "string",
    "opted_out": "bool",
}

QUOTE: dict[str, FieldType] = {
    "id": "string",
    "licences": "number",
    "organic_growth_licences": "number",
    "unit_price": "number",
    "uplift_percent": "number",
    "total": "number",
    "currency": "string",
}

JOURNEY: dict[str, FieldType] = {
    "id": "string",
    "arm": "string",
    "iteration": "number",
    "started": "date",
    "playbook": "string",
}

# Contact roles (people at the customer) and owner roles (our own staff, for CTAs).
CONTACT_ROLES = ("decision_maker", "renewal_contact", "admin", "champion", "billing")
OWNER_ROLES = ("csm", "renewal_rep", "sales", "tam", "support", "ops")
# Which account field names the owner of each owner role; FALLBACK_OWNER is the queue
# a CTA goes to when the account names nobody for its role.
OWNER_FIELDS = {
    "csm": "csm_owner",
    "renewal_rep": "renewal_rep",
    "sales": "sales_owner",
    "tam": "tam_owner",
    "support": "tam_owner",
}
FALLBACK_OWNER = "ops"


def owner_of(account: Mapping[str, Any], owner_role: str) -> str:
    """The person a CTA for ``owner_role`` goes to: the account's field for the role
    (``csm`` -> ``csm_owner``), else the ``FALLBACK_OWNER`` queue."""
    field_name = OWNER_FIELDS.get(owner_role)
    owner = str(account.get(field_name) or "") if field_name else ""
    return owner or FALLBACK_OWNER


# Events every playbook may use without declaring them.
BUILTIN_EVENTS = ("renewed", "churned", "opted_out", "nps_response", "facts_changed")

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

ROOTS: dict[str, dict[str, FieldType]] = {
    "account": ACCOUNT,
    "subscription": SUBSCRIPTION,
    "usage": USAGE,
    "nps": NPS,
    "quote": QUOTE,
    "journey": JOURNEY,
}
# Roots whose fields are not declared: answers.<question>, event.<payload field>,
# contacts.<role>.<contact field>.
OPEN_ROOTS = ("answers", "event", "contacts")

# Facts a playbook may write with `set`.
WRITABLE = {
    ("account", "risk_level"),
    ("account", "renewal_intent"),
    ("account", "health_score"),
    ("account", "migration_stage"),
    ("account", "onboarding_complete"),  # an onboarding playbook marks it done
    ("subscription", "weekly_notice_opt_out"),
    ("subscription", "status"),
}


def reference() -> str:
    """The fact schema as Markdown, for docs/language.md (kept in step by a test)."""
    lines = [
        "| fact | type | notes |",
        "|---|---|---|",
    ]
    for root, fields in ROOTS.items():
        for name, kind in fields.items():
            notes = []
            words = VALUES.get((root, name))
            if words:
                notes.append("one of " + ", ".join(words))
            if (root, name) in WRITABLE:
                notes.append("a playbook may `set` it")
            lines.append(f"| {root}.{name} | {kind} | {'; '.join(notes)} |")
    for name, kind in CONTACT.items():
        lines.append(f"| contacts.ROLE.{name} | {kind} | |")
    lines.append("")
    lines.append("ROLEs (contacts): " + ", ".join(CONTACT_ROLES) + ".")
    lines.append("Owners (CTAs): " + ", ".join(OWNER_ROLES) + ".")
    lines.append(
        "Events any playbook may use without declaring them: " + ", ".join(BUILTIN_EVENTS) + "."
    )
    lines.append("Triggers (`starts on`): " + ", ".join(TRIGGERS) + ".")
    return "\n".join(lines) + "\n"
