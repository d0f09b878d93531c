"""A new GA release: record it, recount how far behind each account is, and start
(or tell) the version currency journeys.

``record_release`` runs in one transaction: it records the release in
``ga_releases``, sets ``accounts.ga_version`` for the accounts of the product line
(every line without ``--product``) and recomputes ``versions_behind``. Cloud
accounts are upgraded by us, so their ``installed_version`` follows the GA and they
are never behind.

How far behind, the rule (the one ``workers.services.seed`` builds its book with):
versions compare numerically, part by part (``10.10`` is after ``10.9``), and
``versions_behind`` is the number of GA *minor* releases (distinct major.minor)
after the installed version, up to and including the GA. The releases counted are
those recorded here plus every version some account runs or ran as GA, so a book
seeded or imported before any release was recorded counts right too; and since
the book may know releases no account runs any more, a count never drops below
the account's old count plus the releases after its old GA. Patch releases
(``10.4.1``) do not count as releases of their own. An installed version that is
not dotted numbers is left with the count it had.

``release_trigger`` then enrols, for every playbook whose header says ``starts
on ga_release`` (``workers.services.playbooks.started_by``), the playbook's own
cohort (its ``enroll`` condition, e.g. ``versions_behind >= 2`` and an active
subscription) among the accounts the release covers, by the one enrolment path
(``workers.services.enrolment.enrol``), exactly as the playbook's daily
enrolment (``workers.services.schedules``) would. A journey id that names the GA
(``{account.id}:{account.ga_version}``) makes a release start a journey once per
account, however often it is recorded. A journey of an older GA still running
for an account that now has its journey of the new GA gets ``superseded`` when
the playbook handles that event (it stops: one journey per account, no double
CTAs); other journeys of changed accounts get ``facts_changed``: they reload the
facts (new GA, new count) before their next step, and end if the account is
current.
Visibility lists running journeys eventually, so a journey started a moment
before the release may not be listed yet: each changed account's journey of its
previous GA (the journey id over the facts as they were) is also told by its id,
and reported only if it heard it.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client

from dsl.ir import PLACEHOLDER, Playbook
from dsl.schema import GA_RELEASE
from engine.contract import reacts_to
from workers.adapters.store import Store, UnknownAccount
from workers.services import enrolment, journeys, playbooks
from workers.services.connections import Connections
from workers.services.errors import JourneyError, ServiceError
from workers.services.given_text import ID, LINE, BadText, checked_text
from workers.services.signals import deliver
from workers.settings import Settings

# The event that tells a journey of an older GA that the account's journey of the
# new GA has started (the playbook ends it with `on event superseded stop as ...`).
SUPERSEDED = "superseded"
_VERSION = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9}){0,7}")
Minor = tuple[int, int]


class ReleaseError(ServiceError, ValueError):
    """A release that cannot be recorded; the message says why, ``status`` is the
    HTTP status the release webhook answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class ReleaseNotStarted(JourneyError):
    """The release is recorded, but its journeys could not be started (yet)."""


class ReleaseRequest(BaseModel):
    """A new GA release: ``playbook data release`` and the release webhook."""

    version: str
    product: str = ""  # '' = every product line
    speed: float = 1.0  # rehearsal speed of the journeys it starts
    task_queue: str = ""  # '' = PLAYBOOK_TASK_QUEUE
    concurrency: int = 32


def parse_release(body: Any) -> ReleaseRequest:
    """The release a webhook body ``{"version": "11.1", "product": "..."}`` announces
    (product optional: every line); ``ReleaseError`` (400) naming the field otherwise."""
    if not isinstance(body, dict):
        raise ReleaseError('the body must be a JSON object: {"version": "11.1", "product": ...}')
    try:
        version = checked_text(body.get("version"), "version", kind=ID)
        product = checked_text(body.get("product"), "product", kind=LINE, required=False)
    except BadText as bad:
        raise ReleaseError(str(bad)) from None
    version_key(version)
    return ReleaseRequest(version=version, product=product)


def version_key(text: str) -> tuple[int, ...]:
    """``"10.4.1"`` -> ``(10, 4, 1)``; ``ReleaseError`` for anything but dotted
    numbers of ASCII digits (``"\uff11\uff11.1"``, full-width, is no version), at
    most 9 digits a part and 8 parts."""
    text = text.strip()
    if not _VERSION.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ReleaseError(
            f"'version' {shown!r} is not a version (dotted numbers of digits 0-9, e.g. 11.1)"
        )
    return tuple(int(part) for part in text.split("."))


def minor(text: str) -> Minor | None:
    """The (major, minor) release a version belongs to, or None if it is not a version."""
    try:
        key = version_key(text)
    except ReleaseError:
        return None
    return (key[0], key[1] if len(key) > 1 else 0)


def versions_behind(installed: str, ga: str, releases: set[Minor]) -> int | None:
    """GA minor releases after ``installed`` up to ``ga`` (None: ``installed`` is no version)."""
    have, target = minor(installed), minor(ga)
    if have is None or target is None:
        return None
    return sum(1 for release in releases | {target} if have < release <= target)


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class AccountChange:
    """What a release changed on one account."""

    account_id: str
    installed_version: str
    old_ga: str
    old_behind: int
    new_behind: int


@dataclass
class Release:
    """A recorded release: which accounts it covers, which it changed."""

    version: str
    product: str  # '' = every product line
    accounts: list[str] = field(default_factory=list)
    changed: list[AccountChange] = field(default_factory=list)

    @property
    def two_plus_behind(self) -> list[str]:
        """Accounts the release left two or more minor releases behind."""
        return [c.account_id for c in self.changed if c.new_behind >= 2]


async def record_release(store: Store, version: str, product: str = "") -> Release:
    """Record GA ``version`` of ``product`` (every line if '') and recount, in one
    transaction. Recording the same release again changes nothing. ``ReleaseError``
    for a version older than an account's GA, or a product no account has."""
    version = version.strip()
    new_key = version_key(version)
    release = Release(version, product)
    async with store.pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id, product_line, deployment, installed_version, ga_version, "
            "versions_behind FROM accounts WHERE ($1 = '' OR product_line = $1) "
            "ORDER BY id FOR UPDATE",
            product,
        )
        if product and not rows:
            raise ReleaseError(f"no account has product line {product!r}", status=404)
        newer = [r for r in rows if _is_newer(r["ga_version"], new_key)]
        if newer:
            latest = max(newer, key=lambda r: version_key(r["ga_version"]))
            raise ReleaseError(
                f"{version} is older than the GA of {len(newer)} accounts (up to "
                f"{latest['ga_version']}, e.g. {latest['id']}): record the newest release",
                status=409,
            )
        await conn.execute(
            "INSERT INTO ga_releases (product_line, version) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            product,
            version,
        )
        history = await _release_history(conn, rows)
        updates = []
        for row in rows:
            release.accounts.append(row["id"])
            cloud = row["deployment"] == "cloud"
            installed = version if cloud else row["installed_version"]
            behind = _recount(row, installed, version, history.get(row["product_line"], set()))
            if (installed, behind, version) == (
                row["installed_version"],
                row["versions_behind"],
                row["ga_version"],
            ):
                continue
            updates.append((row["id"], installed, behind))
            release.changed.append(
                AccountChange(
                    row["id"], installed, row["ga_version"], row["versions_behind"], behind
                )
            )
        await _write(conn, version, updates, release.changed)
    return release


def _recount(row: Any, installed: str, version: str, releases: set[Minor]) -> int:
    """The account's new count: releases after ``installed`` up to ``version``, and
    never less than its old count plus the releases since its old GA (the book may
    know releases no account runs any more)."""
    counted = versions_behind(installed, version, releases)
    if counted is None:
        return int(row["versions_behind"])
    old_ga, have = row["ga_version"], minor(installed)
    since = versions_behind(old_ga, version, releases)
    if since is None or have is None or have > (minor(old_ga) or have):
        return counted
    return max(counted, int(row["versions_behind"]) + since)


def _is_newer(version: str, than: tuple[int, ...]) -> bool:
    """Whether ``version`` (possibly not a version at all) is after ``than``;
    trailing zeros do not count (``11.0`` is ``11``)."""
    if minor(version) is None:
        return False

    def bare(key: tuple[int, ...]) -> tuple[int, ...]:
        while len(key) > 1 and key[-1] == 0:
            key = key[:-1]
        return key

    return bare(version_key(version)) > bare(than)


async def _release_history(conn: Any, rows: list[Any]) -> dict[str, set[Minor]]:
    """Per product line: the minor releases recorded, or run or GA on some account."""
    lines = {row["product_line"] for row in rows}
    recorded = await conn.fetch(
        "SELECT product_line, version FROM ga_releases WHERE product_line = ANY($1::text[])",
        sorted(lines | {""}),
    )
    history: dict[str, set[Minor]] = {line: set() for line in lines}
    for found in recorded:
        key = minor(found["version"])
        targets = lines if found["product_line"] == "" else {found["product_line"]}
        for line in targets:
            if key is not None:
                history[line].add(key)
    for row in rows:
        for text in (row["installed_version"], row["ga_version"]):
            key = minor(text)
            if key is not None:
                history[row["product_line"]].add(key)
    return history


async def _write(
    conn: Any, version: str, updates: list[tuple[str, str, int]], changes: list[AccountChange]
) -> None:
    if not updates:
        return
    await conn.execute(
        "UPDATE accounts AS a SET ga_version = $1, installed_version = c.installed, "
        "versions_behind = c.behind, updated_at = now() "
        "FROM unnest($2::text[], $3::text[], $4::int[]) AS c(id, installed, behind) "
        "WHERE a.id = c.id",
        version,
        [u[0] for u in updates],
        [u[1] for u in updates],
        [u[2] for u in updates],
    )
    # The audit trail every `set` leaves, for the facts a release moves.
    audit = [
        (c.account_id, "account.ga_version", json.dumps(c.old_ga), json.dumps(version))
        for c in changes
        if c.old_ga != version
    ] + [
        (
            c.account_id,
            "account.versions_behind",
            json.dumps(c.old_behind),
            json.dumps(c.new_behind),
        )
        for c in changes
        if c.old_behind != c.new_behind
    ]
    await conn.executemany(
        "INSERT INTO fact_changes (account_id, path, old_value, new_value, step_id) "
        "VALUES ($1, $2, $3::jsonb, $4::jsonb, $5)",
        [(*entry, f"release:{version}") for entry in audit],
    )


# --------------------------------------------------------------------------- the trigger


@dataclass
class PlaybookTrigger:
    """What the release set going for one playbook: journeys started, found, told."""

    playbook: str
    started: list[str] = field(default_factory=list)  # journey ids
    already: list[str] = field(default_factory=list)  # journey ids that existed
    failed: list[tuple[str, str]] = field(default_factory=list)  # (account id, why)
    signalled: dict[str, str] = field(default_factory=dict)  # journey id -> delivery
    superseded: list[str] = field(default_factory=list)  # told to step aside for the new GA


@dataclass
class ReleaseTrigger:
    """What the release set going, playbook by playbook, and all together."""

    playbooks: list[PlaybookTrigger] = field(default_factory=list)

    @property
    def started(self) -> list[str]:
        return [journey for p in self.playbooks for journey in p.started]

    @property
    def already(self) -> list[str]:
        return [journey for p in self.playbooks for journey in p.already]

    @property
    def failed(self) -> list[tuple[str, str]]:
        return [failure for p in self.playbooks for failure in p.failed]

    @property
    def signalled(self) -> dict[str, str]:
        return {journey: how for p in self.playbooks for journey, how in p.signalled.items()}

    @property
    def superseded(self) -> list[str]:
        return [journey for p in self.playbooks for journey in p.superseded]


async def release_trigger(
    client: Client,
    store: Store,
    settings: Settings,
    release: Release,
    *,
    task_queue: str,
    speed: float = 1.0,
    concurrency: int = 32,
) -> ReleaseTrigger:
    """For every playbook that starts on ``ga_release``: enrol its cohort among the
    accounts the release covers, then tell the changed accounts' journeys of an
    older GA: ``superseded`` where the account now has its journey of this GA
    (when the playbook handles that event), else ``facts_changed``. Raises
    ``NoTriggeredPlaybook`` when no playbook starts on ``ga_release``."""
    connections = Connections(settings, store=store, temporal=client)
    fired = ReleaseTrigger()
    for playbook in playbooks.started_by(GA_RELEASE, settings):
        request = enrolment.EnrolRequest(
            playbook=playbook.name,
            speed=speed,
            concurrency=concurrency,
            task_queue=task_queue,
            accounts=release.accounts,
            beside_running=True,  # the older GA's journey is superseded below
        )
        running = await _running_journeys(client, playbook.name) if release.changed else {}
        result = await enrolment.enrol(connections, request, playbook=playbook)
        outcome = PlaybookTrigger(playbook.name, result.started, result.already, result.failed)
        await _tell_older_journeys(
            store, client, playbook, release, running, result.journeys, outcome, concurrency
        )
        fired.playbooks.append(outcome)
    return fired


async def _tell_older_journeys(
    store: Store,
    client: Client,
    playbook: Playbook,
    release: Release,
    running: dict[str, list[str]],
    enrolled: dict[str, str],
    outcome: PlaybookTrigger,
    concurrency: int,
) -> None:
    """Tell each changed account's running journeys what the release means for them.
    Visibility lists running journeys eventually, so each account's journey of its
    previous GA is also told by its id; of those, only one that heard it is reported
    (accounts without one, or whose journey has ended, are no news)."""

    async def source() -> Client:
        return client

    steps_aside = SUPERSEDED in reacts_to(playbook)
    payload = {"source": "ga_release", "ga_version": release.version}
    gate = asyncio.Semaphore(concurrency)

    async def tell(journey_id: str, account_id: str, listed: bool) -> None:
        current = enrolled.get(account_id)
        if journey_id == current or journey_id in outcome.signalled:
            return  # the journey of this GA itself, or told already
        event = SUPERSEDED if steps_aside and current else "facts_changed"
        delivery = await deliver(source, journey_id, event, {**payload, "by": current or ""})
        if listed or delivery == "delivered":
            outcome.signalled[journey_id] = delivery
            if event == SUPERSEDED and delivery == "delivered":
                outcome.superseded.append(journey_id)

    async def tell_account(change: AccountChange) -> None:
        async with gate:
            for journey_id in running.get(change.account_id, []):
                await tell(journey_id, change.account_id, listed=True)
            before = await _journey_before(store, playbook, change)
            if before is not None:
                await tell(before, change.account_id, listed=False)

    await asyncio.gather(*(tell_account(change) for change in release.changed))


def outcome_json(release: Release, fired: ReleaseTrigger) -> dict[str, Any]:
    """What the release webhook answers: the recount and the journeys."""
    return {
        "version": release.version,
        "product": release.product,
        "accounts": len(release.accounts),
        "changed": len(release.changed),
        "two_plus_behind": len(release.two_plus_behind),
        "started": fired.started,
        "already": fired.already,
        "failed": [{"account_id": a, "error": why} for a, why in fired.failed],
        "signalled": fired.signalled,
        "superseded": fired.superseded,
    }


# The facts a release moves, as ``AccountChange`` knows them from before it.
_BEFORE = {"account.id", "account.ga_version", "account.versions_behind"}


async def _journey_before(store: Store, playbook: Playbook, change: AccountChange) -> str | None:
    """The id the playbook gave the account's journey before the release (from the
    facts with the old GA and count); None if the facts cannot fill the template.
    The facts are loaded only when the template names more than the release knows."""
    account = {
        "id": change.account_id,
        "ga_version": change.old_ga,
        "versions_behind": change.old_behind,
    }
    names = set(PLACEHOLDER.findall(playbook.journey_id))
    if names <= _BEFORE:
        facts: dict[str, Any] = {"account": account}
    else:
        try:
            facts = await store.load_facts(change.account_id)
        except UnknownAccount:
            return None
        facts["account"] = {**(facts.get("account") or {}), **account}
    try:
        return journeys.journey_id(playbook, facts)
    except journeys.JourneyError:
        return None


async def _running_journeys(client: Client, playbook: str) -> dict[str, list[str]]:
    """Running journeys of ``playbook`` by account id."""
    found = await journeys.running_by_account(client, playbook)
    return {account: [row.journey_id for row in rows] for account, rows in found.items()}


# --------------------------------------------------------------------------- the command


@dataclass
class ReleaseOutcome:
    """``playbook data release``: the recorded release and what it set going."""

    release: Release
    fired: ReleaseTrigger


async def release(connections: Connections, request: ReleaseRequest) -> ReleaseOutcome:
    """Record the release (the schema brought up to date first), then start and tell
    the journeys (``release_trigger``). Once recorded, a failure to start leaves the
    release recorded: asking again starts nothing twice."""
    store = await connections.store()
    await connections.migrate()
    recorded = await record_release(store, request.version, request.product)
    try:
        fired = await release_trigger(
            await connections.temporal(),
            store,
            connections.settings,
            recorded,
            task_queue=request.task_queue or connections.settings.task_queue,
            speed=request.speed,
            concurrency=request.concurrency,
        )
    except JourneyError as error:
        raise ReleaseNotStarted(
            str(error),
            hint=(error.hint + "; " if error.hint else "")
            + "the release is recorded: run this again once it is fixed (nothing starts twice)",
        ) from error
    return ReleaseOutcome(recorded, fired)
