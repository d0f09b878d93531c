"""`make demo`: the main job, end to end, as a user would type it.

It lives with the shipped playbooks because it is about them: it enrols the
renewal playbook, answers its question, and leaves version currency journeys
running.

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
from datetime import UTC, datetime
from pathlib import Path

import demo_state
from demo_crm import CrmScript
from rich.console import Console
from rich.rule import Rule

# How the demo's customers answer the renewal question, in turn (None: no answer),
# and the same as the shares step 14's forecast assumes.
DEMO_ANSWER_PATTERN = ["yes", "yes", None, "yes", "not_decision_maker", None, "yes", "no", "yes"]
DEMO_ANSWER_RATES = "renewal_intent=yes:56,no:11,not_decision_maker:11"

console = Console()
ROOT = Path(__file__).resolve().parent.parent
# The installed entry point, exactly what a user types (.venv/bin/playbook).
PLAYBOOK = [str(Path(sys.executable).with_name("playbook"))]

ACCOUNTS = int(os.environ.get("DEMO_ACCOUNTS", "200"))
SPEED = os.environ.get("DEMO_SPEED", "86400")  # a day of playbook time per second
# The watch ends once the CRM has said what it had to and the mail went quiet.
WATCH_SECONDS = int(os.environ.get("DEMO_WATCH_SECONDS", "150"))
# The renewal journeys run a year in minutes; these stay running for hours, to explore.
EXPLORE_SPEED = os.environ.get("DEMO_EXPLORE_SPEED", "1440")
QUIET_SECONDS = 15  # the watch ends early once no email has arrived for this long
AFTER_CRM_SECONDS = 10  # ... or this long after the CRM sent its last event


class DemoFailed(Exception):
    pass


def run(args: list[str], *, title: str, check: bool = True) -> str:
    console.print(Rule(title, style="cyan"))
    console.print(f"[bold]$ playbook {shlex.join(args)}[/]")
    proc = subprocess.run([*PLAYBOOK, *args], cwd=ROOT, text=True, capture_output=True, env=_env())
    out = (proc.stdout or "") + (proc.stderr or "")
    sys.stdout.write(out.rstrip() + "\n")
    sys.stdout.flush()
    if check and proc.returncode != 0:
        raise DemoFailed(f"`playbook {shlex.join(args)}` exited {proc.returncode}")
    return proc.stdout or ""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("COLUMNS", "160")
    return env


def main() -> int:
    try:
        return _story()
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        console.print(demo_state.interrupted_line(_playbook_command()), highlight=False)
        return 130


def _playbook_command() -> str:
    return shlex.quote(os.path.relpath(PLAYBOOK[0], Path.cwd()))


def _fresh_state() -> None:
    """An earlier demo's rehearsal is stopped and forgotten (the demo's own folder
    only), so this run tells the whole story again."""
    folder = demo_state.state_dir()
    if demo_state.ours(folder):
        console.print(
            Rule("0. A fresh rehearsal: the earlier demo's stack and data go", style="cyan")
        )
        run(["dev", "down"], title="   stop the earlier demo's stack", check=False)
        demo_state.forget(folder)
        console.print(f"  removed {folder} (the demo created it)")
    elif folder.exists():
        console.print(
            f"  {folder} was not made by the demo: kept. If it holds an earlier rehearsal,\n"
            f"  a fresh one: `{_playbook_command()} dev down && rm -rf {folder}`"
        )


def _story() -> int:
    playbooks = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "playbooks").glob("*.playbook"))
    fresh = not demo_state.state_dir().exists() or demo_state.ours(demo_state.state_dir())
    _fresh_state()
    try:
        run(["validate", *playbooks], title="1. Check every shipped playbook")
        run(
            ["simulate", "playbooks/renewal.playbook", "--answer", "renewal_intent=no"],
            title="2. Simulate one renewal (virtual time, no server): the customer says no",
        )
        run(["dev", "up"], title="3. Bring up the local stack")
        if fresh:
            demo_state.mark(demo_state.state_dir())
        run(
            ["data", "seed", "--accounts", str(ACCOUNTS)],
            title=f"4. Seed a book of business ({ACCOUNTS} accounts)",
        )
        enrolled_at = datetime.now(UTC)
        run(
            ["enroll", "renewal", "--speed", SPEED],
            title="5. Enrol every account whose renewal falls in the window (a day a second)",
        )
        crm = CrmScript(enrolled_at, float(SPEED))
        crm.start()
        console.print(f"  the CRM (scripted): {crm.planned()}")
        journey_id = _customer_says_no(since=enrolled_at)
        if journey_id:
            run(["show", journey_id], title="7. That journey now waits on its CSM")
            cta_id = _open_cta_of(journey_id)
            if cta_id:
                run(
                    ["cta", "close", cta_id, "--note", "Called the customer: budget issue, fixed"],
                    title="8. The CSM closes the CTA: the journey carries on",
                )
                time.sleep(2)
                run(["show", journey_id], title="   ... back on the automated path")
        _watch(crm)
        run(["ps", "--playbook", "renewal", "--limit", "10"], title="10. Running renewal journeys")
        run(["mail", "ls", "--limit", "8"], title="11. The mailbox (SMTP sink)")
        run(
            ["notify", "ls", "--limit", "6"],
            title="12. The team's channels (the chat sink, Slack-compatible)",
        )
        run(["report"], title="13. The report: activity apart from outcomes")
        page = os.path.relpath(demo_state.state_dir() / "report.html", ROOT)
        run(["report", "--html", page], title="14. The same report as a page")
        run(
            # The answer rates of step 6's customers; CTAs closed within three days.
            ["forecast", "--days", "28", "--answers", DEMO_ANSWER_RATES, "--close-ctas-after", "3"],
            title="15. The next four weeks' load, before it happens (simulated over the book)",
        )
        run(
            ["enroll", "version_currency", "--speed", EXPLORE_SPEED],
            title="16. Left running for you: version currency journeys at a day a minute",
        )
    except DemoFailed as exc:
        console.print(f"[bold red]demo stopped:[/] {exc}")
        logs = os.path.relpath(demo_state.state_dir() / "logs", ROOT)
        console.print(f"`playbook dev status` shows each part of the stack; logs: {logs}/")
        return 1
    _where_to_look()
    return 0


def _answer_links(since: datetime) -> dict[str, dict[str, str]]:
    """The signed answer links of question emails received since ``since``:
    journey id -> {choice: url}, newest first."""
    from workers.adapters.links import LinkError, signer_for
    from workers.adapters.mailbox import Mailbox, mail_dir
    from workers.settings import load

    settings = load()
    box = Mailbox(mail_dir(settings.state_dir))
    signer = signer_for(settings)
    found: dict[str, dict[str, str]] = {}
    for summary in reversed([m for m in box.list() if m.received_at >= since]):
        for url in box.get(summary.id).links:
            if "/answer/" not in url:
                continue
            try:
                link = signer.verify_answer(url.rsplit("/", 1)[1])
            except LinkError:
                continue
            found.setdefault(link.journey_id, {})[link.choice] = url
    return found


def _customer_says_no(since: datetime) -> str:
    """Click "no" in a renewal question email sent since ``since`` (the signed link
    opens a page with one button, whose POST records the answer: a GET, as a mail
    scanner sends, takes nothing); let other customers answer too."""
    import httpx

    console.print(Rule('6. A customer clicks "No" in the renewal question email', style="cyan"))
    links: dict[str, dict[str, str]] = {}
    for _ in range(20):  # until the enrolment's question emails stop arriving
        seen = len(links)
        links = {j: c for j, c in _answer_links(since).items() if "no" in c}
        if links and len(links) == seen:
            break
        time.sleep(1.5)
    if not links:
        console.print(
            "  no new question email: the journeys were enrolled by an earlier run. For a fresh\n"
            f"  rehearsal: `{_playbook_command()} dev down && rm -rf {demo_state.state_dir()}"
            " && make demo`"
        )
        return ""
    journey_id, choices = next(iter(links.items()))
    console.print(f"  {journey_id}: GET {choices['no'][:64]}...")
    shown = httpx.get(choices["no"], timeout=10)
    console.print(f"  -> HTTP {shown.status_code}: {_page_title(shown.text)} (one button)")
    response = httpx.post(choices["no"], timeout=10)
    said = _page_title(response.text)
    console.print(f"  POST (the button) -> HTTP {response.status_code}: {said}")
    _others_answer({j: c for j, c in links.items() if j != journey_id})
    time.sleep(2)
    return journey_id


def _others_answer(links: dict[str, dict[str, str]]) -> None:
    """Two customers in three answer; most say yes (a fixed pattern, so every demo
    run tells the same story)."""
    import httpx

    pattern = DEMO_ANSWER_PATTERN
    counts: dict[str, int] = {}
    for index, choices in enumerate(links.values()):
        choice = pattern[index % len(pattern)]
        if choice is None or choice not in choices:
            continue
        if httpx.post(choices[choice], timeout=10).status_code == 200:
            counts[choice] = counts.get(choice, 0) + 1
    said = ", ".join(f"{n} {choice}" for choice, n in sorted(counts.items())) or "nobody"
    console.print(f"  other customers answered too: {said}")


def _page_title(html: str) -> str:
    start, end = html.find("<title>"), html.find("</title>")
    return html[start + 7 : end] if 0 <= start < end else html[:80]


def _open_cta_of(journey_id: str) -> str:
    import asyncio

    from workers.services.connections import Connections

    async def find() -> str:
        async with Connections() as connections:
            store = await connections.store()
            for _ in range(10):
                ctas = await store.list_ctas(status="open", journey_id=journey_id)
                if ctas:
                    return str(ctas[0]["id"])
                await asyncio.sleep(1)
            return ""

    return asyncio.run(find())


def _watch(crm: CrmScript) -> None:
    """Until the scripted CRM has sent its renewals and churns (each when its
    journey's playbook time reached it) and no email came for a while."""
    from workers.adapters.mailbox import Mailbox, mail_dir
    from workers.settings import load

    console.print(Rule("9. Journeys running at rehearsal speed; the CRM renews some", style="cyan"))
    box = Mailbox(mail_dir(load().state_dir))
    deadline = time.monotonic() + WATCH_SECONDS
    last, last_change = -1, time.monotonic()
    crm_done_at: float | None = None
    try:
        while time.monotonic() < deadline:
            count = len(box.list())
            if count != last:
                last, last_change = count, time.monotonic()
            if not crm.pending and crm_done_at is None:
                crm_done_at = time.monotonic()
            if crm_done_at is not None and (
                time.monotonic() - last_change >= QUIET_SECONDS
                or time.monotonic() - crm_done_at >= AFTER_CRM_SECONDS
            ):
                console.print(
                    "  the CRM has said its piece; the journeys carry on in the background"
                )
                break
            sent, planned = len(crm.sent), len(crm.sent) + len(crm.pending)
            console.print(
                f"  {time.strftime('%H:%M:%S')}  playbook time <= {crm.clock_upper()}  "
                f"emails: {count}  CRM events: {sent}/{planned}"
            )
            time.sleep(5)
    finally:
        crm.stop()
    for failure in crm.failures:
        console.print(f"  CRM event not taken: {failure}")


def _where_to_look() -> None:
    """Where to look, at the addresses and state folder this stack really uses."""
    from workers.services.connections import temporal_target
    from workers.settings import load

    settings = load()
    state = os.path.relpath(settings.state_dir.resolve(), Path.cwd())
    pb = _playbook_command()
    temporal = temporal_target(settings).cli_flags()
    ui = f"http://localhost:{settings.temporal_ui_port}"
    temporal_cli = shlex.quote(os.path.relpath(Path(PLAYBOOK[0]).with_name("temporal")))
    console.print(Rule("Where to look", style="green"))
    console.print(
        f"  Temporal UI           {ui}  (type column = playbook name)\n"
        '  Filter in the UI      PlaybookName="renewal" and RiskLevel="high"\n'
        f"  From the shell        {temporal_cli} workflow list \\\n"
        f"                          {temporal} \\\n"
        "                          --query 'PlaybookName=\"renewal\"'\n"
        f"  Journeys              {pb} ps --playbook version_currency\n"
        "                        (these run at a day a minute: hours of playbook time)\n"
        f"  Finished ones         {pb} ps --playbook renewal --status all\n"
        "                        (the renewals ran at a day a second: done in minutes)\n"
        f"  One journey           {pb} show <journey id>\n"
        f"  Next quarter's load   {pb} forecast --days 90\n"
        f"  The mailbox           {pb} mail ls / mail show <id>\n"
        f"  The team's channels   {pb} notify ls (posts kept in {state}/chat/)\n"
        f"  The report            {pb} report, {state}/report.html, or\n"
        f"                        {settings.base_url}/report (charts; any user name,\n"
        f"                        the password in {state}/webhook_secret)\n"
        f"  CTAs for humans       {pb} cta ls\n"
        f"  Stop the stack        {pb} dev down; forget it: rm -rf {state}\n"
        "                        (or run `make demo` again: a fresh rehearsal)",
        highlight=False,
    )


if __name__ == "__main__":
    sys.exit(main())
