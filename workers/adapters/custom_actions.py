"""Custom actions: functions a playbook calls by name (``call log_note with ...``).

A custom action is an async (or plain) function ``(context, **args) -> dict | None``
registered under a name. It receives a ``CustomContext`` (the action request and
the store) and the playbook's evaluated arguments; what it returns becomes the
result's ``data``. It must be idempotent by ``context.request.idempotency_key``.

Where they come from, in this order (a later one with the same name wins):

1. the built-ins below (``log_note``, ``record_metric``, ``sync_crm``);
2. the entry point group ``playbook.actions`` of installed packages
   (``[project.entry-points."playbook.actions"] my_action = "pkg.mod:func"``);
3. modules named in ``PLAYBOOK_ACTIONS`` (comma separated); each module calls
   ``register`` at import, or exposes ``ACTIONS = {"name": func}``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypeVar, overload

from engine.contract import ActionRequest

if TYPE_CHECKING:
    from workers.adapters.store import Store

log = logging.getLogger("playbook.actions")

ENTRY_POINT_GROUP = "playbook.actions"
MODULES_ENV = "PLAYBOOK_ACTIONS"

CustomFunction = Callable[..., Awaitable[dict[str, Any] | None] | dict[str, Any] | None]
Function = TypeVar("Function", bound=CustomFunction)


@dataclass(frozen=True)
class CustomContext:
    """What a custom action may use: the request and the store."""

    request: ActionRequest
    store: Store


class UnknownAction(LookupError):
    """No custom action is registered under this name."""


_registry: dict[str, CustomFunction] = {}


@overload
def register(name: str) -> Callable[[Function], Function]: ...
@overload
def register(name: str, function: Function) -> Function: ...
def register(
    name: str, function: Function | None = None
) -> Function | Callable[[Function], Function]:
    """Register ``function`` as custom action ``name``; usable as a decorator."""

    def add(fn: Function) -> Function:
        _registry[name] = fn
        return fn

    return add(function) if function is not None else add


def registry() -> dict[str, CustomFunction]:
    """Every registered action by name (built-ins, entry points, PLAYBOOK_ACTIONS)."""
    return dict(_registry)


def lookup(name: str) -> CustomFunction:
    """The function registered as ``name``; ``UnknownAction`` with the known names."""
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "none"
        raise UnknownAction(f"no custom action {name!r} is registered (known: {known})") from None


async def invoke(name: str, context: CustomContext, args: dict[str, Any]) -> dict[str, Any]:
    """Run custom action ``name`` with ``args``; its result as a dict."""
    function = lookup(name)
    result = function(context, **args)
    if inspect.isawaitable(result):
        result = await result
    if result is None:
        return {}
    return result if isinstance(result, dict) else {"result": result}


def load_plugins(environ: dict[str, str] | None = None) -> list[str]:
    """Import entry point and PLAYBOOK_ACTIONS actions; returns what was loaded.
    Raises ``ImportError`` naming the module that failed (a typo must not pass)."""
    loaded: list[str] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        register(entry.name, entry.load())
        loaded.append(entry.name)
    text = (environ if environ is not None else os.environ).get(MODULES_ENV, "")
    for module_name in (m.strip() for m in text.split(",") if m.strip()):
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ImportError(f"{MODULES_ENV}: cannot import {module_name!r}: {error}") from error
        for name, function in (getattr(module, "ACTIONS", None) or {}).items():
            register(name, function)
        loaded.append(module_name)
    return loaded


# --------------------------------------------------------------------------- built-ins


@register("log_note")
async def log_note(context: CustomContext, text: str = "", **fields: Any) -> dict[str, Any]:
    """Record a note on the journey (``call log_note with text "..."``)."""
    request = context.request
    await context.store.record_journey_event(
        request.journey_id,
        "note",
        str(text),
        data=dict(fields),
        account_id=request.account_id,
        playbook=request.playbook,
        at=request.playbook_time,
        idempotency_key=request.idempotency_key,
    )
    return {"note": str(text)}


@register("record_metric")
async def record_metric(
    context: CustomContext, name: str = "", value: Any = None, **fields: Any
) -> dict[str, Any]:
    """Record a named measurement for reports (``call record_metric with name "x", value 1``)."""
    request = context.request
    await context.store.record_journey_event(
        request.journey_id,
        "metric",
        str(name),
        data={"value": value, **fields},
        account_id=request.account_id,
        playbook=request.playbook,
        at=request.playbook_time,
        idempotency_key=request.idempotency_key,
    )
    return {"metric": str(name), "value": value}


@register("sync_crm")
async def sync_crm(context: CustomContext, field: str = "", **values: Any) -> dict[str, Any]:
    """Queue a write to the CRM (``call sync_crm(field: "nps_score", score: ...)``).

    Postgres is the source of truth here; the CRM is downstream. The write goes
    into the journey's event log as a ``crm_sync`` row (once per idempotency key),
    an outbox a CRM connector drains at its own pace, so a rate-limited CRM API
    never holds a journey up or loses a write."""
    if not field:
        raise TypeError('sync_crm needs a field: call sync_crm(field: "name", ...)')
    request = context.request
    queued = await context.store.record_journey_event(
        request.journey_id,
        "crm_sync",
        str(field),
        data={"field": str(field), **values},
        account_id=request.account_id,
        playbook=request.playbook,
        at=request.playbook_time,
        idempotency_key=request.idempotency_key,
    )
    return {"crm_field": str(field), "queued": queued}
