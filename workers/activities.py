"""The journey's side effects: one Temporal activity per ``ActionKind``.

``JourneyActivities`` receives its clients at construction (the store, the
mailer, the link signer, an HTTP client, the Temporal client) and exposes one
``@activity.defn(name=<kind>)`` method per action kind, each taking one
``ActionRequest`` and returning an ``ActionResult``. Register them all with
``Worker(..., activities=JourneyActivities(...).all())``.

Every effect is idempotent by ``request.idempotency_key``: emails through the
email log (see ``workers.adapters.email``), CTAs, quotes and journey events through the
store's unique keys, webhooks through a recorded ``notify`` event, other
journeys through their workflow id.

Failures: data a retry cannot fix (no such account, a missing template, an
unknown custom action, a 5xx from the SMTP server) raise ``ApplicationError``
of type ``PermanentFailure`` with ``non_retryable=True``; the workflow turns
that into a ``failed`` result and the journey carries on. Anything else
(Postgres or SMTP unreachable, a 4xx) raises and is retried by the step's
policy. A missing contact or an invalid address (never handed to SMTP) is not an
exception but a ``failed`` result with a "fix the data" CTA for the account's CSM
(ops without one); a bounce opens that CTA too, then fails permanently. A blocked
send's result detail starts with the governance rule that decided ("quiet_hours: ...").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from dsl import schema
from dsl.ir import ContactPolicy
from dsl.model import cta_owner
from engine import contact_rules
from engine.contract import PERMANENT_FAILURE, ActionRequest, ActionResult
from workers.adapters import custom_actions, custom_facts, metrics
from workers.adapters.email import (
    AcceptedJournal,
    EmailTemplates,
    Mailer,
    PermanentEmailFailure,
    PostgresEmailLog,
    TemplateProblem,
    TransientEmailFailure,
    build_message,
    deliver,
    template_context,
)
from workers.adapters.links import (
    ANSWER_GRACE_SECONDS,
    LinkSigner,
    make_answer_link,
    make_unsubscribe_link,
    signer_for,
)
from workers.adapters.quote import QuoteError, quote_from_facts
from workers.adapters.store import Store, UnknownAccount, UnknownFact
from workers.services import ctas, governance, journeys
from workers.services.channels import webhook_env, webhook_url
from workers.services.errors import JourneyError
from workers.services.playbooks import find_playbook
from workers.settings import Settings

log = logging.getLogger("playbook.activities")

# Emails the SMTP server took whose ``sent`` mark failed (see AcceptedJournal).
ACCEPTED_JOURNAL = "email-accepted.journal"


def permanent(message: str) -> ApplicationError:
    """A failure no retry can fix; the journey records it and carries on."""
    return ApplicationError(message, type=PERMANENT_FAILURE, non_retryable=True)


class JourneyActivities:
    """Every journey side effect, bound to the clients it needs."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        mailer: Mailer | None = None,
        templates: EmailTemplates | None = None,
        signer: LinkSigner | None = None,
        http: httpx.AsyncClient | None = None,
        temporal: Client | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.mailer = mailer or Mailer(settings.smtp_host, settings.smtp_port)
        self.templates = templates or EmailTemplates(settings.templates_dir)
        self.signer = signer or signer_for(settings)
        self.email_log = PostgresEmailLog(store.pool)
        self.accepted = AcceptedJournal(settings.state_dir / ACCEPTED_JOURNAL)
        self.http = http or httpx.AsyncClient(timeout=10.0)
        self.temporal = temporal

    def all(self) -> list[Callable[..., Any]]:
        """The activity functions to register with a worker."""
        return [
            self.load_facts,
            self.send,
            self.ask,
            self.cta,
            self.escalate,
            self.set,
            self.quote,
            self.notify,
            self.start_playbook,
            self.custom,
            self.settle_ctas,
            self.record,
        ]

    # ----------------------------------------------------------------- facts

    @activity.defn(name="load_facts")
    async def load_facts(self, request: ActionRequest) -> ActionResult:
        """The account's facts, as the journey reads them."""
        return ActionResult(data=await self._facts(request))

    async def _facts(self, request: ActionRequest) -> dict[str, Any]:
        try:
            return await self.store.load_facts(request.account_id)
        except UnknownAccount:
            raise permanent(f"no account {request.account_id!r} in the store") from None

    # ----------------------------------------------------------------- email

    @activity.defn(name="send")
    async def send(self, request: ActionRequest) -> ActionResult:
        """Email a template to the contact holding ``params.to_role``."""
        return await self._email(request, str(request.params.get("template", "")))

    @activity.defn(name="ask")
    async def ask(self, request: ActionRequest) -> ActionResult:
        """Email a question with one signed answer link per choice."""
        return await self._email(request, str(request.params.get("template") or "ask"), ask=True)

    async def _email(
        self, request: ActionRequest, template: str, ask: bool = False
    ) -> ActionResult:
        if request.held_out:
            metrics.email_held("held_out", "skip")
            return ActionResult(status="skipped", detail="held out (experiment holdout arm)")
        params = request.params
        # Done before? Then no governance check either: a retry must not be deferred
        # by a cap that its own first attempt used up.
        status = await self.email_log.status(request.idempotency_key)
        if status in ("sent", "bounced"):
            return _already(status)
        facts = await self._facts(request)
        role = str(params.get("to_role", ""))
        contact = (facts.get("contacts") or {}).get(role) or {}
        # No one to write to, or an address never handed to SMTP (a relay would bounce
        # it at best, mangle it at worst): a human fixes the data; the journey carries on.
        problem = contact_rules.unreachable(role, contact)
        if problem is not None:
            return await self._bad_data(request, facts, problem)
        policy = ContactPolicy.model_validate(params.get("contact_policy") or {})
        decision = await governance.decide_for_action(
            self.store.pool,
            request,
            contact,
            policy,
            reason=str(params.get("reason") or ""),
            when_blocked=params.get("when_blocked"),
            fallback_timezone=str((facts.get("account") or {}).get("timezone") or ""),
            # The book's contact rules: the model of this worker's playbooks folder.
            rules=custom_facts.model_of(self.settings.playbooks_dir).contact_rules,
        )
        # The rule goes with the detail, so `playbook show` says which rule decided.
        blocked = f"{decision.rule}: {decision.detail}"
        if decision.action in ("skip", "defer"):
            metrics.email_held(decision.rule, decision.action)
        if decision.action == "skip":
            return ActionResult(status="skipped", detail=blocked)
        if decision.action == "defer":
            return ActionResult(status="deferred", detail=blocked, retry_at=decision.retry_at)
        unsubscribe = make_unsubscribe_link(
            self.settings.base_url,
            self.signer,
            str(contact.get("id", "")),
            str(contact["email"]),
            request.account_id,
            request.journey_id,
        )
        question, links = self._question(request, contact) if ask else (None, None)
        context = template_context(
            facts,
            contact,
            unsubscribe_url=unsubscribe,
            answers=await self.store.answers(request.journey_id),
            question=question,
            links=links,
        )
        try:
            rendered = self.templates.render(template, context)
        except TemplateProblem as error:
            raise permanent(str(error)) from error
        message = build_message(
            rendered,
            sender=self.settings.mail_from,
            to_address=str(contact["email"]),
            to_name=str(contact.get("name") or ""),
            idempotency_key=request.idempotency_key,
            journey_id=request.journey_id,
            unsubscribe_url=unsubscribe,
            date=datetime.now(UTC),  # when it really leaves, even in a rehearsal
        )
        row = {
            "idempotency_key": request.idempotency_key,
            "journey_id": request.journey_id,
            "step_id": request.step_id,
            "account_id": request.account_id,
            "contact_id": str(contact.get("id", "")),
            "to_address": str(contact["email"]),
            "template": template,
            "subject": rendered.subject,
            "playbook_time": request.playbook_time,
        }
        try:
            outcome = await deliver(self.mailer, self.email_log, message, row, self.accepted)
        except PermanentEmailFailure as error:
            _, fixing = await self._fix_the_data(
                request, facts, f"email to {contact['email']} bounced ({error})"
            )
            raise permanent(f"bounced: {error}; {fixing}") from error
        except TransientEmailFailure as error:
            # Not sent: the touch does not count against the contact's caps while
            # the outage lasts (the retry reserves it again).
            await governance.release_touch(self.store.pool, request.idempotency_key)
            raise ApplicationError(str(error), type="TransientEmailFailure") from error
        if outcome.status != "sent":
            return _already(outcome.status.removeprefix("already_"))
        metrics.EMAILS_SENT.labels(template=template).inc()
        return ActionResult(
            detail=f"emailed {contact['email']}",
            data={"message_id": outcome.message_id, "to": contact["email"], "template": template},
        )

    def _question(
        self, request: ActionRequest, contact: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        params = request.params
        name = str(params.get("question", ""))
        choices = [dict(c) for c in params.get("choices") or []]
        expires = _link_expiry(request.playbook_time, params.get("expires_at"))
        links = {
            str(choice["name"]): make_answer_link(
                self.settings.base_url,
                self.signer,
                request.journey_id,
                name,
                str(choice["name"]),
                str(contact.get("id", "")),
                expires,
                request.account_id,
                ask=request.idempotency_key,
            )
            for choice in choices
        }
        question = {"name": name, "prompt": str(params.get("prompt", "")), "choices": choices}
        return question, links

    async def _bad_data(
        self, request: ActionRequest, facts: dict[str, Any], problem: str
    ) -> ActionResult:
        """A ``failed`` result naming ``problem``, with a "fix the data" CTA opened."""
        name = (facts.get("account") or {}).get("name") or request.account_id
        cta_id, fixing = await self._fix_the_data(request, facts, problem)
        return ActionResult(
            status="failed", detail=f"{problem} at {name}; {fixing}", data={"cta_id": cta_id}
        )

    async def _fix_the_data(
        self, request: ActionRequest, facts: dict[str, Any], problem: str
    ) -> tuple[str, str]:
        """Open (once per idempotency key) a "fix the data" CTA for the account's CSM,
        else ops; returns its id and "<cta id> opened for <owner> to fix the data"."""
        account = facts.get("account") or {}
        name = account.get("name") or request.account_id
        owner_role, owner = owner_for(account, contact_rules.FIX_DATA_OWNER)
        cta_id = await self.store.open_cta(
            f"{request.idempotency_key}/fix-data",
            account_id=request.account_id,
            owner_role=owner_role,
            owner=owner,
            priority=contact_rules.FIX_DATA_PRIORITY,
            reason=f"Fix the data of {name}: {problem} (journey {request.journey_id})",
            journey_id=request.journey_id,
            step_id=request.step_id,
            opened_at=request.playbook_time,
        )
        return cta_id, f"{cta_id} opened for {owner} to fix the data"

    # ----------------------------------------------------------------- CTAs

    @activity.defn(name="cta")
    async def cta(self, request: ActionRequest) -> ActionResult:
        """Open a CTA for the owner of ``params.owner_role`` at the account."""
        return await self._open_cta(request)

    @activity.defn(name="escalate")
    async def escalate(self, request: ActionRequest) -> ActionResult:
        """Open a CTA the journey waits on; ``data.cta_id`` names it."""
        return await self._open_cta(request)

    async def _open_cta(self, request: ActionRequest) -> ActionResult:
        if request.held_out:
            return ActionResult(status="skipped", detail="held out (experiment holdout arm)")
        params = request.params
        facts = await self._facts(request)
        owner_role, owner = cta_owner(facts.get("account") or {}, params, schema.DEFAULT)
        cta_id = await self.store.open_cta(
            request.idempotency_key,
            account_id=request.account_id,
            owner_role=owner_role,
            owner=owner,
            priority=str(params.get("priority") or "medium"),
            reason=str(params.get("reason") or ""),
            due_at=_instant(params.get("due")),
            journey_id=request.journey_id,
            step_id=request.step_id,
            opened_at=request.playbook_time,
        )
        return ActionResult(
            detail=f"{cta_id} for {owner}: {params.get('reason', '')}",
            data={"cta_id": cta_id, "owner": owner},
        )

    @activity.defn(name="settle_ctas")
    async def settle_ctas(self, request: ActionRequest) -> ActionResult:
        """At the journey's end: close its open CTAs (the outcome as their note), or
        hand them to the owner of ``params.owner_role`` at the account."""
        params = request.params
        how = str(params.get("how") or "close")
        owner_role, owner = "", ""
        if how == "hand":
            facts = await self._facts(request)
            owner_role, owner = cta_owner(facts.get("account") or {}, params, schema.DEFAULT)
        settled = await ctas.settle_journey_ctas(
            self.store,
            request.journey_id,
            how,
            note=str(params.get("note") or ""),
            at=request.playbook_time,
            owner_role=owner_role,
            owner=owner,
        )
        if not settled:
            return ActionResult(detail="none open", data={"ctas": []})
        done = f"handed to {owner}" if how == "hand" else "closed"
        return ActionResult(detail=f"{', '.join(settled)} {done}", data={"ctas": settled})

    # ----------------------------------------------------------------- facts written

    @activity.defn(name="set")
    async def set(self, request: ActionRequest) -> ActionResult:
        """Write one fact the data model lets a playbook set (``Model.writable``: the
        built-in ones and a team's ``settable`` facts), audited. Idempotent by nature:
        a retry writes the same value again (and audits it again)."""
        path = [str(p) for p in request.params.get("path") or []]
        if tuple(path) not in self.store.model().writable:
            raise permanent(f"{'.'.join(path)} is not a fact a playbook may set")
        value = request.params.get("value")
        try:
            old = await self.store.set_fact(
                request.account_id, path, value, request.journey_id, request.step_id
            )
        except UnknownAccount:
            raise permanent(f"no account {request.account_id!r} in the store") from None
        except UnknownFact as error:
            raise permanent(str(error)) from error
        return ActionResult(
            detail=f"{'.'.join(path)} = {value} (was {old})", data={"old": old, "new": value}
        )

    @activity.defn(name="quote")
    async def quote(self, request: ActionRequest) -> ActionResult:
        """Generate and store the renewal quote (organic growth, uplift)."""
        facts = await self._facts(request)
        try:
            computed = quote_from_facts(
                facts,
                with_organic_growth=bool(request.params.get("organic_growth", True)),
                uplift_percent=float(request.params.get("uplift_percent") or 0),
            )
        except QuoteError as error:
            raise permanent(f"cannot quote {request.account_id}: {error}") from error
        saved = await self.store.save_quote(
            request.idempotency_key,
            account_id=request.account_id,
            subscription_id=str((facts.get("subscription") or {}).get("id") or ""),
            licences=computed.licences,
            organic_growth_licences=computed.organic_growth_licences,
            unit_price=computed.unit_price,
            uplift_percent=computed.uplift_percent,
            total=computed.total,
            currency=computed.currency,
            journey_id=request.journey_id,
        )
        saved["total_licences"] = int(saved["licences"]) + int(saved["organic_growth_licences"])
        return ActionResult(data={"quote": saved})

    # ----------------------------------------------------------------- channels

    @activity.defn(name="notify")
    async def notify(self, request: ActionRequest) -> ActionResult:
        """Post ``params.message`` to the channel's webhook (Slack-compatible JSON)."""
        channel = str(request.params.get("channel", ""))
        message = str(request.params.get("message", ""))
        if await self._event_recorded(request.idempotency_key):
            return ActionResult(detail=f"already posted to #{channel}")
        env = str(request.params.get("webhook_env") or "") or webhook_env(channel)
        url = webhook_url(channel, self.settings, env)
        if not url:
            return ActionResult(
                status="skipped",
                detail=f"no webhook for channel {channel!r} (set {env} or add it to channels.json)",
            )
        try:
            response = await self.http.post(
                url,
                json={"text": message},
                headers={"Idempotency-Key": request.idempotency_key},
            )
        except httpx.HTTPError as error:
            raise ApplicationError(f"webhook for #{channel} unreachable: {error}") from error
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise permanent(f"webhook for #{channel} refused: HTTP {response.status_code}")
        if response.status_code >= 300:
            raise ApplicationError(f"webhook for #{channel} answered HTTP {response.status_code}")
        # Recorded after the post: a crash in between posts twice (at least once, as
        # for email); receivers can deduplicate by the Idempotency-Key header.
        await self._record_event(request, "notify", message, {"channel": channel})
        return ActionResult(detail=f"posted to #{channel}")

    # ----------------------------------------------------------------- other journeys

    @activity.defn(name="start_playbook")
    async def start_playbook(self, request: ActionRequest) -> ActionResult:
        """Start another playbook for the same account (idempotent by its journey id)."""
        if self.temporal is None:
            raise permanent("this worker has no Temporal client to start journeys with")
        name = str(request.params.get("playbook", ""))
        try:
            playbook = find_playbook(name, self.settings)
        except JourneyError as error:
            raise permanent(str(error)) from error
        speed = await journeys.speed_of(self.temporal, request.journey_id)
        try:
            started = await journeys.start_journey(
                self.temporal,
                self.store,
                playbook,
                request.account_id,
                task_queue=activity.info().task_queue,
                speed=speed,
                start_at=request.playbook_time,
            )
        except JourneyError as error:
            raise permanent(str(error)) from error
        words = "started" if started.started else "already running"
        return ActionResult(
            detail=f"{started.journey_id} {words}", data={"journey_id": started.journey_id}
        )

    # ----------------------------------------------------------------- custom, record

    @activity.defn(name="custom")
    async def custom(self, request: ActionRequest) -> ActionResult:
        """Run a registered custom action (``workers.adapters.custom_actions``)."""
        name = str(request.params.get("action", ""))
        args = dict(request.params.get("args") or {})
        context = custom_actions.CustomContext(request=request, store=self.store)
        try:
            data = await custom_actions.invoke(name, context, args)
        except custom_actions.UnknownAction as error:
            raise permanent(str(error)) from error
        except TypeError as error:
            raise permanent(f"custom action {name!r}: {error}") from error
        return ActionResult(data=data)

    @activity.defn(name="record")
    async def record(self, request: ActionRequest) -> ActionResult:
        """Record a journey event (stage change, outcome) for reports."""
        params = dict(request.params)
        kind = str(params.pop("event", "") or "event")
        detail = str(params.get("stage") or params.get("outcome") or "")
        await self._record_event(request, kind, detail, params)
        return ActionResult()

    async def _record_event(
        self, request: ActionRequest, kind: str, detail: str, data: dict[str, Any]
    ) -> bool:
        return await self.store.record_journey_event(
            request.journey_id,
            kind,
            detail,
            data=data,
            account_id=request.account_id,
            playbook=request.playbook,
            at=request.playbook_time,
            idempotency_key=request.idempotency_key,
        )

    async def _event_recorded(self, key: str) -> bool:
        found = await self.store.pool.fetchval(
            "SELECT 1 FROM journey_events WHERE idempotency_key = $1", key
        )
        return found is not None


# --------------------------------------------------------------------------- pure parts


def owner_for(account: dict[str, Any], owner_role: str) -> tuple[str, str]:
    """(owner role, owner) for a CTA: the account's field for the role
    (``csm`` -> ``csm_owner``), else the ``ops`` queue (``dsl.schema.owner_of``)."""
    return (owner_role or schema.FALLBACK_OWNER), schema.owner_of(account, owner_role)


def _already(status: str) -> ActionResult:
    if status == "bounced":
        raise permanent("bounced earlier (the SMTP server refused this email)")
    return ActionResult(detail="already sent")


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _link_expiry(playbook_time: datetime, expires_at: Any) -> int:
    """Wall-clock expiry of an answer link: as long from now as the question waits
    in playbook time, plus a grace period (customers click in real time)."""
    waits = 14 * 86400.0
    deadline = _instant(expires_at)
    if deadline is not None:
        waits = max(0.0, (deadline - playbook_time).total_seconds())
    return int(time.time() + waits + ANSWER_GRACE_SECONDS)
