"""`make demo`: the main job, end to end, as a user would type it.

Every step is a real `playbook` command run in a subprocess and echoed first, so
what the demo shows is exactly what an ops engineer can do by hand:
check the playbooks, bring the local stack up, seed a book of business, enrol
the accounts whose renewal falls in the window at rehearsal speed, watch the
journeys move, and end by saying where to look.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

console = Console()
ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = [sys.executable, "-m", "cli.app"]

ACCOUNTS = int(os.environ.get("DEMO_ACCOUNTS", "200"))
SPEED = os.environ.get("DEMO_SPEED", "86400")  # a day of playbook time per second
WATCH_SECONDS = int(os.environ.get("DEMO_WATCH_SECONDS", "40"))


class DemoFailed(Exception):
    pass


def run(args: list[str], *, title: str, check: bool = True) -> str:
    console.print(Rule(title, style="cyan"))
    console.print(f"[bold]$ playbook {shlex.join(args)}[/]")
    proc = subprocess.run(
        [*PLAYBOOK, *args], cwd=ROOT, text=True, capture_output=True, env=_env()
    )
    out = (proc.stdout or "") + (proc.stderr or "")
    console.print(out.rstrip(), highlight=False, markup=False)
    if check and proc.returncode != 0:
        raise DemoFailed(f"`playbook {shlex.join(args)}` exited {proc.returncode}")
    return proc.stdout or ""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("COLUMNS", "160")
    return env


def main() -> int:
    playbooks = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "playbooks").glob("*.playbook"))
    try:
        run(["validate", *playbooks], title="1. Check every shipped playbook")
        run(["graph", "playbooks/renewal.playbook"], title="2. The renewal journey, drawn")
        run(["simulate", "playbooks/renewal.playbook", "--answer", "renewal_intent=no"],
            title="3. Simulate one renewal (virtual time, no server): the customer says no")
        run(["dev", "up"], title="4. Bring up the local stack")
        run(["data", "seed", "--accounts", str(ACCOUNTS)],
            title=f"5. Seed a book of business ({ACCOUNTS} accounts)")
        run(["enroll", "renewal", "--speed", SPEED],
            title="6. Enrol every account whose renewal falls in the window")
        _watch()
        run(["ps", "--playbook", "renewal", "--limit", "15"], title="8. Running renewal journeys")
        run(["mail", "ls", "--limit", "10"], title="9. The mailbox (SMTP sink)")
        run(["report"], title="10. The renewal report", check=False)
    except DemoFailed as exc:
        console.print(f"[bold red]demo stopped:[/] {exc}")
        console.print("`playbook dev status` shows each part of the stack; logs are in .state/logs/")
        return 1
    _where_to_look()
    return 0


def _watch() -> None:
    console.print(Rule("7. Journeys running at rehearsal speed (a day a second)", style="cyan"))
    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline:
        proc = subprocess.run(
            [*PLAYBOOK, "mail", "ls", "--count"], cwd=ROOT, text=True, capture_output=True,
            env=_env(),
        )
        console.print(f"  {time.strftime('%H:%M:%S')}  emails in the sink: "
                      f"{(proc.stdout or proc.stderr).strip()}")
        time.sleep(5)


def _where_to_look() -> None:
    console.print(Rule("Where to look", style="green"))
    console.print(
        "  Temporal UI           http://localhost:8233  (type column = playbook name)\n"
        "  Filter in the UI      PlaybookName=\"renewal\" and RiskLevel=\"high\"\n"
        "  From the shell        .venv/bin/temporal workflow list "
        "--query 'PlaybookName=\"renewal\"'\n"
        "  Journeys              .venv/bin/playbook ps --playbook renewal\n"
        "  One journey           .venv/bin/playbook show <journey id>\n"
        "  The mailbox           .venv/bin/playbook mail ls / mail show <id>\n"
        "  The report            .venv/bin/playbook report\n"
        "  Stop the stack        .venv/bin/playbook dev down"
    )


if __name__ == "__main__":
    sys.exit(main())
