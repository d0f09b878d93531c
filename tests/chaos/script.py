"""The world during a chaos run: customers, staff and the CRM, acting on the real stack.

Every choice is fixed per account (``book.digest``), only its moment depends on
how the run goes:

- customers answer questions by opening the signed answer links of the emails in
  the SMTP sink (POST, or GET where the endpoint takes only GET), some late, some
  never; a promoter who was invited posts a review (``review_posted``);
- staff close CTAs (``workers.services.ctas.close_cta``), most escalations and some others;
- the CRM sends events through the web endpoint's webhook: ``renewed`` (which
  also writes subscription.status), ``decision_maker_found`` after a "not the
  decision maker" answer, migration and upgrade events, risk flags.

What a call meets (Postgres or Temporal down, the web endpoint answering 503) is
retried a little later, as a person or a CRM would. Everything done is logged to
``world.log`` in the state directory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx

from tests.chaos.book import Started, digest, pick
from workers.adapters.mailbox import links as mail_links
from workers.web.webhook_client import SignedWebhook

ANSWERS: dict[str, tuple[str | None, ...]] = {
    "renewal_intent": ("yes",) * 7 + ("no",) * 4 + ("not_decision_maker",) * 3 + (None,) * 6,
    "decision_maker_intent": ("yes", "yes", "no", None),
    "make_it_a_nine": ("product", "support", "training", "pricing", None),
    "advocacy": ("review", "review", "referral", "not_now", None),
}
# (event, share in percent, first day, last day after the journey starts, data)
CRM_EVENTS: dict[str, list[tuple[str, int, int, int, dict[str, str]]]] = {
    "renewal": [
        ("renewed", 35, 15, 150, {}),
        ("risk_flagged", 10, 5, 120, {"reason": "support escalation"}),
        ("expansion_interest", 25, 20, 40, {"note": "wants 50 more seats"}),
    ],
    "cloud_migration": [
        ("migration_scheduled", 30, 3, 60, {}),
        ("migration_blocked", 15, 10, 100, {"reason": "a plugin has no cloud version"}),
        ("migrated", 35, 40, 180, {}),
    ],
    "version_currency": [
        ("upgrade_scheduled", 30, 1, 13, {}),
        ("upgrade_blocked", 10, 5, 60, {"reason": "a bug in the installer"}),
        ("upgrade_completed", 30, 20, 90, {}),
    ],
    "nps_followup": [],
}
RETRY = 2.0  # seconds before a call that met an outage is tried again
RENEWED_SLACK_DAYS = 1.0  # `renewed` is sent while the journey waits at least this long


@dataclass(order=True)
class Due:
    """Something the world will do at wall time ``at`` (monotonic)."""

    at: float
    seq: int
    what: str = field(compare=False)
    act: Callable[[], Awaitable[bool]] = field(compare=False)  # True: done, False: retry
    tries: int = field(default=0, compare=False)


class World:
    """Customers, staff and CRM of one chaos run (see the module docstring)."""

    def __init__(
        self,
        *,
        started: list[Started],
        base_url: str,
        maildir: Path,
        webhook_secret: str,
        signer: Any,
        store: Callable[[], Awaitable[Any]],
        client: Any,
        speed: float,
        log: Path,
    ) -> None:
        self.started = {s.journey_id: s for s in started}
        self.by_account = {s.enrolment.account_id: s for s in started}
        self.base_url = base_url
        self.maildir = maildir
        self.secret = webhook_secret
        self.signer = signer
        self.store = store
        self.client = client
        self.day = 86400.0 / speed  # real seconds per playbook day
        self.log_file = log
        self.queue: list[Due] = []
        self.seq = 0
        self.seen_mail: set[str] = set()
        self.seen_ctas: set[str] = set()
        self.answered: set[str] = set()
        self.counts: dict[str, int] = {}
        self.http = httpx.AsyncClient(timeout=15.0)

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> None:
        self._plan_crm_events()
        last_cta_scan = 0.0
        try:
            while not stop.is_set():
                try:
                    await self._scan_mail()
                    if time.monotonic() - last_cta_scan >= 2.0:
                        last_cta_scan = time.monotonic()
                        await self._scan_ctas()
                except Exception as error:  # an outage: look again next round
                    self._log(f"scan failed: {type(error).__name__}: {str(error)[:120]}")
                    self._count("scans that met an outage")
                await self._act_due()
                try:
                    await asyncio.wait_for(stop.wait(), 0.5)
                except TimeoutError:
                    pass
        finally:
            await self.http.aclose()

    def summary(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items())) or "nothing"

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def _log(self, text: str) -> None:
        with self.log_file.open("a", encoding="utf-8") as out:
            out.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def _later(self, delay: float, what: str, act: Callable[[], Awaitable[bool]]) -> None:
        self.seq += 1
        self.queue.append(Due(time.monotonic() + delay, self.seq, what, act))
        self.queue.sort()

    async def _act_due(self) -> None:
        now = time.monotonic()
        due = [d for d in self.queue if d.at <= now]
        self.queue = [d for d in self.queue if d.at > now]
        for item in due:
            try:
                done = await item.act()
            except Exception as error:  # an outage: try again a little later
                self._log(f"retry {item.what}: {type(error).__name__}: {str(error)[:120]}")
                done = False
            if not done:
                item.tries += 1
                if item.tries < 60:
                    item.at = time.monotonic() + RETRY
                    self.queue.append(item)
        self.queue.sort()

    # ------------------------------------------------------------------ customers

    async def _scan_mail(self) -> None:
        folder = self.maildir / "new"
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            if path.name in self.seen_mail or path.name.count(".") < 2:
                continue
            self.seen_mail.add(path.name)
            try:
                message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            except OSError:
                continue
            key = str(message.get("X-Playbook-Key", ""))
            body = message.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            answers = [url for url in mail_links(str(text)) if "/answer/" in url]
            if answers:
                self._customer_reads_question(key, answers)
            elif key.split("/")[-2:-1] == ["follow_up.if.else.match.review.send"]:
                self._promoter_reviews(key)

    def _customer_reads_question(self, key: str, urls: list[str]) -> None:
        if key in self.answered:
            return
        self.answered.add(key)
        choices: dict[str, str] = {}
        link = None
        for url in urls:
            try:
                link = self.signer.verify_answer(url.rsplit("/", 1)[1])
            except Exception:
                continue
            choices[link.choice] = url
        if link is None:
            return
        started = self.started.get(link.journey_id)
        if started is None:
            return
        account = started.enrolment.account_id
        choice = pick(ANSWERS.get(link.question, (None,)), account, link.question, key)
        if choice is None or choice not in choices:
            self._log(f"{account} leaves {link.question} unanswered ({key})")
            return
        late = digest(account, key, "late") % 100 < 8
        days = 15 + digest(account, key) % 4 if late else 1 + digest(account, key) % 9
        url = choices[choice]
        what = f"{account} answers {link.question}={choice} ({key}) after {days} days"

        async def click() -> bool:
            response = await self.http.post(url)  # the page's button (a GET takes nothing)
            if response.status_code >= 500:
                return False
            self._count("answers")
            self._log(f"{what}: HTTP {response.status_code}")
            if choice == "not_decision_maker" and response.status_code == 200:
                self._decision_maker_found(account)
            return True

        self._later(days * self.day, what, click)

    def _promoter_reviews(self, key: str) -> None:
        journey_id = key.split("/")[0]
        started = self.started.get(journey_id)
        if started is None or digest(journey_id, "review") % 2:
            return
        days = 2 + digest(journey_id, "review days") % 18
        self._crm_later(started.enrolment.account_id, "review_posted", {}, days * self.day)

    def _decision_maker_found(self, account: str) -> None:
        if digest(account, "decision maker") % 10 < 6:
            days = 2 + digest(account, "found") % 7
            self._crm_later(account, "decision_maker_found", {}, days * self.day)

    # ------------------------------------------------------------------ staff

    async def _scan_ctas(self) -> None:
        store = await self.store()
        rows = await store.pool.fetch(
            "SELECT id, journey_id, step_id, idempotency_key FROM ctas WHERE status = 'open'"
        )
        for row in rows:
            cta_id = str(row["id"])
            if cta_id in self.seen_ctas or row["journey_id"] not in self.started:
                continue
            self.seen_ctas.add(cta_id)
            escalation = str(row["step_id"]).endswith("escalate")
            share = 65 if escalation else 25
            if digest(row["idempotency_key"], "close") % 100 >= share:
                continue
            days = 1 + digest(row["idempotency_key"], "days") % 9
            self._later(
                days * self.day, f"close {cta_id} ({row['idempotency_key']})", self._closer(cta_id)
            )

    def _closer(self, cta_id: str) -> Callable[[], Awaitable[bool]]:
        from workers.services.ctas import close_cta

        async def close() -> bool:
            store = await self.store()

            async def clients() -> Any:
                return self.client

            outcome = await close_cta(store, clients, cta_id, note="done", closed_by="chaos")
            self._count("CTA closes")
            self._log(f"closed {cta_id}: {outcome.status}, {outcome.delivery}")
            return True

        return close

    # ------------------------------------------------------------------ the CRM

    def _plan_crm_events(self) -> None:
        for started in self.started.values():
            account = started.enrolment.account_id
            for event, share, first, last, data in CRM_EVENTS[started.enrolment.playbook]:
                if digest(account, event) % 100 >= share:
                    continue
                day = first + digest(account, event, "day") % (last - first + 1)
                wall = started.wall_start + day * self.day - time.monotonic()
                self._crm_later(account, event, data, max(0.0, wall))

    def _crm_later(self, account: str, event: str, data: dict[str, str], delay: float) -> None:
        started = self.by_account[account]

        async def send() -> bool:
            if event == "renewed" and not await self._waits_long(started.journey_id):
                return False
            response = await self.http.post(
                f"{self.base_url}/webhooks/crm",
                json={"event": event, "account_id": account, "data": data},
                auth=SignedWebhook(self.secret),
            )
            if response.status_code >= 500:
                return False
            self._count("CRM events")
            self._log(
                f"crm {event} for {account}: HTTP {response.status_code} {response.text[:160]}"
            )
            return True

        self._later(delay, f"crm {event} for {account}", send)

    async def _waits_long(self, journey_id: str) -> bool:
        """Whether the journey waits on something at least a day of playbook time
        away: the CRM's fact write and its signal then reach a journey at rest."""
        from workers.services.journeys import show_journey

        view = await show_journey(self.client, journey_id)
        timeline = view.timeline
        if view.status != "running":
            return True  # nothing to race with any more
        if timeline is None or timeline.waiting is None or timeline.waiting.at is None:
            return False
        now = timeline.now or datetime.min
        return (timeline.waiting.at - now).total_seconds() >= RENEWED_SLACK_DAYS * 86400
