"""The demo's CRM: renewals that renew on time, late, churn or go overdue.

Nothing in a rehearsal renews unless the CRM says so. After the enrolment, the
demo plans the fates of the renewals due in the next weeks of playbook time
(``workers.services.renewal_script``: deterministic for the seeded book) and sends
each event through the CRM webhook, signed, as a real CRM would, when the
journey's playbook clock has reached the event's time: for one that must come
before the renewal date, when the fastest the clock can have run (a day a second
since the enrolment began) gets there; for a late renewal, when the journey has
recorded a playbook time past it. Runs in a thread beside the demo's steps.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from workers.services.renewal_script import CrmEvent, Renewal, expected, plan


@dataclass
class CrmScript:
    """The scripted CRM of one demo run: ``start`` it after the enrolment began."""

    enrolled_at: datetime  # wall clock when the enrolment began
    speed: float  # playbook seconds per real second
    events: list[CrmEvent] = field(default_factory=list)
    sent: list[CrmEvent] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.events = asyncio.run(_plan(self.enrolled_at.date()))
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def pending(self) -> list[CrmEvent]:
        return [e for e in self.events if e.event and e not in self.sent]

    def planned(self) -> str:
        counts = expected(self.events)
        return (
            f"{len(self.events)} renewals due in the next weeks: {counts['on_time']} renew on "
            f"time, {counts['late']} late, {counts['churned']} churn, "
            f"{counts['overdue']} are left overdue"
        )

    def clock_upper(self) -> date:
        """The furthest any journey's playbook clock can be now."""
        real = datetime.now(UTC) - self.enrolled_at
        return (self.enrolled_at + real * self.speed).date()

    async def _run(self) -> None:
        import httpx

        from workers.services.connections import Connections
        from workers.services.webhook_signatures import webhook_secret
        from workers.settings import load
        from workers.web.webhook_client import SignedWebhook

        settings = load()
        secret = webhook_secret(settings)
        async with Connections() as connections, httpx.AsyncClient(timeout=10) as http:
            client = await connections.temporal()
            while self.pending and not self._stop.is_set():
                upper = self.clock_upper()
                for event in self.pending:
                    lower = date.min
                    if event.after_date:
                        lower = await _standing_at(client, event)
                        if lower is None:  # ended before it: the CRM's word comes too late
                            self.sent.append(event)
                            self.failures.append(f"{event.account_id}: its journey ended first")
                            continue
                    if not event.due(upper, lower):
                        continue
                    body = {"event": event.event, "account_id": event.account_id, "data": {}}
                    response = await http.post(
                        f"{settings.base_url}/webhooks/crm", json=body, auth=SignedWebhook(secret)
                    )
                    if response.status_code < 300:
                        self.sent.append(event)
                    elif response.status_code < 500:  # refused: not worth trying again
                        self.sent.append(event)
                        self.failures.append(f"{event.account_id}: HTTP {response.status_code}")
                await asyncio.sleep(0.3)


async def _plan(start: date) -> list[CrmEvent]:
    from workers.services.connections import Connections

    async with Connections() as connections:
        store = await connections.store()
        rows = await store.pool.fetch(
            "SELECT account_id, renewal_date FROM subscriptions WHERE status = 'active'"
        )
    return plan([Renewal(r["account_id"], r["renewal_date"]) for r in rows], start)


async def _standing_at(client: Any, event: CrmEvent) -> date | None:
    """The playbook date the account's renewal journey stands at (its clock is at
    least there), or None once it has ended."""
    from temporalio.client import WorkflowExecutionStatus

    from engine.contract import Timeline

    journey_id = f"renewal:{event.account_id}:{event.renewal_date.isoformat()}"
    handle = client.get_workflow_handle(journey_id)
    try:
        timeline = await handle.query(
            "timeline", result_type=Timeline, rpc_timeout=timedelta(seconds=5)
        )
    except Exception:  # not listed yet, or ended and no worker replays it
        try:
            description = await handle.describe()
        except Exception:
            return date.min
        running = description.status == WorkflowExecutionStatus.RUNNING
        return date.min if running else None
    if timeline.status != "running":
        return None
    return timeline.now.date() if timeline.now is not None else date.min
