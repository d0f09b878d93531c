"""`playbook setup`: what a Temporal namespace needs before journeys run there.

    report = await set_up(connections)                 # register what is missing
    report = await set_up(connections, dry_run=True)   # say what would be done

Three things, each checked first and only made when missing, so a second run
has nothing to do:

1. the namespace (self-hosted: ``RegisterNamespace`` when ``DescribeNamespace``
   does not find it; on Temporal Cloud namespaces are made in Cloud, so a
   missing one is an error saying so);
2. the journey search attributes (``engine.search_attributes``; their types
   here, ``SEARCH_ATTRIBUTE_TYPES``, the one place that knows them):
   self-hosted, the operator service's ``AddSearchAttributes``; on Temporal
   Cloud they are managed outside the namespace API, so setup lists them
   (``ListSearchAttributes``) and prints the ``tcld`` line for each one missing;
3. the daily enrolment Schedules (``workers.services.schedules``: created,
   updated where a playbook's wants changed, removed where no playbook wants one).

`playbook dev up` runs it once the local Temporal answers; a deployment runs
it as a one-shot job before the workers start.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    ListSchedulesRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from engine import search_attributes as attrs
from workers.services import schedules
from workers.services.connections import Connections, TemporalTarget, temporal_target
from workers.services.errors import ServiceError

# Name -> indexed type of every journey search attribute (the type's short name is
# what `temporal operator search-attribute create --type` and tcld take).
SEARCH_ATTRIBUTE_TYPES: dict[str, IndexedValueType.ValueType] = {
    key.name: IndexedValueType.ValueType(int(key.indexed_value_type)) for key in attrs.ALL
}
DEFAULT_RETENTION = timedelta(days=30)
_NAMESPACE_ATTEMPTS = 300
_NAMESPACE_PAUSE = 0.1


class SetupError(ServiceError):
    """Temporal refused a setup request, or something only its operator can make
    is missing (a Cloud namespace, a search attribute of another type)."""


def type_name(kind: IndexedValueType.ValueType) -> str:
    """``Keyword``, ``Datetime``...: the name the Temporal CLI and tcld use."""
    return IndexedValueType.Name(kind).removeprefix("INDEXED_VALUE_TYPE_").title()


def tcld_command(namespace: str, name: str, kind: IndexedValueType.ValueType) -> str:
    """The Temporal Cloud command that adds one search attribute to ``namespace``."""
    sa = f"{name}={type_name(kind)}"
    return f'tcld namespace search-attributes add --namespace {namespace} --search-attribute "{sa}"'


Verb = Literal["register", "create", "update", "remove"]
_PAST: dict[Verb, str] = {
    "register": "registered",
    "create": "created",
    "update": "updated",
    "remove": "removed",
}


@dataclass(frozen=True)
class SetupAction:
    """One thing setup did or would do: ``register`` ``search attribute Stage (Keyword)``."""

    verb: Verb
    what: str

    def words(self, *, dry_run: bool = False) -> str:
        """``registered ...``, or in a dry run ``would register ...``."""
        return f"would {self.verb} {self.what}" if dry_run else f"{_PAST[self.verb]} {self.what}"


@dataclass
class SetupReport:
    """What setup did (or, in a dry run, would do), in the order it did it."""

    target: str  # the server and namespace, for people
    cloud: bool = False
    dry_run: bool = False
    new_namespace: bool = False  # registered now (in a dry run: would be)
    done: list[SetupAction] = field(default_factory=list)
    in_place: list[str] = field(default_factory=list)  # what was there already
    missing: list[str] = field(default_factory=list)  # what only the operator can make
    commands: list[str] = field(default_factory=list)  # how to make it (tcld lines)
    notes: list[str] = field(default_factory=list)  # playbooks without a schedule and why

    @property
    def nothing_to_do(self) -> bool:
        return not self.done and not self.missing


async def set_up(
    connections: Connections,
    *,
    dry_run: bool = False,
    retention: timedelta = DEFAULT_RETENTION,
    target: TemporalTarget | None = None,
) -> SetupReport:
    """Make what is missing: namespace, search attributes, enrolment schedules
    (see the module docstring). ``SetupError`` when Temporal refuses."""
    target = target or temporal_target(connections.settings)
    client = await connections.temporal()
    report = SetupReport(target.describe(), cloud=target.cloud, dry_run=dry_run)
    try:
        await _namespace(client, target, report, retention)
        await _search_attributes(client, target, report)
        await _schedules(connections, report)
    except RPCError as error:
        raise SetupError(
            f"Temporal refused: {error.message}",
            hint="the Temporal profile's credentials may lack the rights to change the namespace",
        ) from None
    return report


async def register_search_attributes(client: Client, namespace: str = "default") -> list[str]:
    """Register the journey search attributes missing from a self-hosted
    ``namespace``; what it registered (nothing when all were there)."""
    report = SetupReport(namespace)
    await _search_attributes(client, TemporalTarget(address="", namespace=namespace), report)
    return [action.what for action in report.done]


# --------------------------------------------------------------------------- the namespace


async def _namespace(
    client: Client, target: TemporalTarget, report: SetupReport, retention: timedelta
) -> None:
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=target.namespace)
        )
        report.in_place.append(f"namespace {target.namespace}")
        return
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    if target.cloud:
        raise SetupError(
            f"namespace {target.namespace} does not exist on Temporal Cloud",
            hint="create it in the Cloud UI or with `tcld namespace create`, then run setup again",
        )
    days = retention.days
    report.done.append(
        SetupAction("register", f"namespace {target.namespace} (retention {days} days)")
    )
    report.new_namespace = True
    if report.dry_run:
        return
    try:
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=target.namespace,
                workflow_execution_retention_period=Duration(
                    seconds=int(retention.total_seconds())
                ),
                description="Playbook journeys",
            )
        )
    except RPCError as error:
        if error.status != RPCStatusCode.ALREADY_EXISTS:  # another setup was quicker
            raise
    await wait_until_known(client, target.namespace)


async def wait_until_known(client: Client, namespace: str) -> None:
    """Wait until the servers know a namespace just registered (each learns of
    it from its namespace cache); bounded by attempts, not time."""
    for _ in range(_NAMESPACE_ATTEMPTS):
        try:
            await client.workflow_service.list_schedules(
                ListSchedulesRequest(namespace=namespace, maximum_page_size=1)
            )
            await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
            return
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        await asyncio.sleep(_NAMESPACE_PAUSE)
    raise SetupError(
        f"namespace {namespace} was registered but the servers do not know it yet",
        hint="run `playbook setup` again in a minute",
    )


# --------------------------------------------------------------------------- search attributes


async def _search_attributes(client: Client, target: TemporalTarget, report: SetupReport) -> None:
    existing = await _existing_search_attributes(client, target.namespace, report)
    wanted: dict[str, IndexedValueType.ValueType] = {}
    for name, kind in SEARCH_ATTRIBUTE_TYPES.items():
        found = existing.get(name)
        if found is None:
            wanted[name] = kind
        elif found != kind:
            raise SetupError(
                f"search attribute {name} exists as {type_name(found)}, "
                f"journeys need {type_name(kind)}",
                hint="a search attribute's type cannot change: remove it (its filters go with it) "
                "and run setup again",
            )
    if len(wanted) < len(SEARCH_ATTRIBUTE_TYPES):
        report.in_place.append(f"{len(SEARCH_ATTRIBUTE_TYPES) - len(wanted)} search attributes")
    if not wanted:
        return
    if target.cloud:
        for name, kind in wanted.items():
            report.missing.append(f"search attribute {name} ({type_name(kind)})")
            report.commands.append(tcld_command(target.namespace, name, kind))
        return
    for name, kind in wanted.items():
        report.done.append(SetupAction("register", f"search attribute {name} ({type_name(kind)})"))
    if report.dry_run:
        return
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=target.namespace, search_attributes=wanted)
    )


async def _existing_search_attributes(
    client: Client, namespace: str, report: SetupReport
) -> dict[str, IndexedValueType.ValueType]:
    if report.dry_run and report.new_namespace:
        return {}  # the namespace is not there yet: neither is anything in it
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return {**dict(listed.system_attributes), **dict(listed.custom_attributes)}


# --------------------------------------------------------------------------- schedules


async def _schedules(connections: Connections, report: SetupReport) -> None:
    if report.dry_run and report.new_namespace:
        wanted, result = schedules.planned_schedules(connections.settings)
        result.created = list(wanted)  # a namespace to come has no schedules yet
    else:
        result = await schedules.apply(connections, dry_run=report.dry_run)
    for ident in result.created:
        report.done.append(SetupAction("create", f"schedule {ident}"))
    for ident in result.updated:
        report.done.append(SetupAction("update", f"schedule {ident}"))
    for ident in result.removed:
        report.done.append(SetupAction("remove", f"schedule {ident} (no playbook wants it)"))
    if result.unchanged:
        report.in_place.append(f"{len(result.unchanged)} enrolment schedules")
    for name, why in result.skipped.items():
        report.notes.append(f"no schedule for {name}: {why}")
