"""Whether a process can do its work: each dependency checked, with a reason.

    readiness = await check({"postgres": ping_postgres, "temporal": ping_temporal})
    readiness.ready     # every check passed within the time allowed
    readiness.reasons   # {"postgres": "cannot reach Postgres: ..."} for the failed ones

A check is an async callable that returns when its dependency answers and raises
(anything) when it does not; one that takes longer than ``timeout`` seconds fails
as "no answer within N s". The checks run together, so /readyz answers within
``timeout`` whatever hangs. The worker's and the web endpoint's /readyz
(``workers.web.probes``) answer 200 or 503 from this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

Check = Callable[[], Awaitable[object]]
TIMEOUT = 3.0


@dataclass(frozen=True)
class Readiness:
    """The outcome of the checks: ready, or the reasons by dependency."""

    checked: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not self.reasons

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "status": "ready" if self.ready else "not ready",
            "checked": list(self.checked),
        }
        if self.reasons:
            body["reasons"] = self.reasons
        return body


async def check(checks: Mapping[str, Check], timeout: float = TIMEOUT) -> Readiness:
    """Run every check at once; a failure or a timeout is a reason."""
    names = list(checks)
    outcomes = await asyncio.gather(
        *(_one(checks[name], timeout) for name in names), return_exceptions=False
    )
    reasons = {name: reason for name, reason in zip(names, outcomes, strict=True) if reason}
    return Readiness(checked=tuple(names), reasons=reasons)


async def _one(run: Check, timeout: float) -> str:
    try:
        await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except Exception as error:  # whatever failed is the reason
        text = str(error).strip() or type(error).__name__
        return text.splitlines()[0][:300]
    return ""
