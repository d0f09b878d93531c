"""How a journey's timeline prints: the steps done, the one waiting, the planned
ones (``playbook simulate`` and ``playbook show`` alike)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from engine.contract import Timeline, TimelineEntry

STATUS_STYLE = {
    "done": "green",
    "skipped": "yellow",
    "deferred": "cyan",
    "failed": "bold red",
    "event": "magenta",
    "waiting": "bold cyan",
    "planned": "dim",
}


def _step_name(step_id: str, iteration: int = 0) -> str:
    """The playbook step an entry belongs to (its top-level label), with the round."""
    name = step_id.split(".")[0] if step_id else ""
    return f"{name} #{iteration}" if iteration and name else name


def _when(entry: TimelineEntry, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return entry.at.strftime(fmt) if entry.at else ""


def planned_rows(timeline: Timeline) -> list[tuple[str, str]]:
    """The when and the note of each planned step, in the order they will run. A step
    whose date comes before the end of what runs first (the wait now, an earlier
    step) runs right after it, and one whose date went by (a journey enrolled late)
    runs next or is skipped: such a step reads "next" and its date goes to the note,
    so the when column never runs backwards."""
    floor = timeline.now
    if timeline.waiting is not None and timeline.waiting.at is not None:
        floor = max(floor, timeline.waiting.at) if floor else timeline.waiting.at
    rows: list[tuple[str, str]] = []
    for entry in timeline.planned:
        at = entry.at
        if at is None:
            rows.append(("", entry.result))
        elif timeline.now is not None and at < timeline.now:
            rows.append(("next", entry.result or f"was due {at:%Y-%m-%d}"))
        elif floor is not None and at < floor:
            rows.append(("next", f"due {at:%Y-%m-%d}, runs after the step before it"))
        else:
            rows.append((f"{at:%Y-%m-%d %H:%M}", entry.result))
            floor = at
    return rows


def timeline_table(timeline: Timeline) -> Table:
    """The journey as a table: date, step, action, result (done, waiting, planned)."""
    table = Table(title=f"{timeline.playbook} - {timeline.journey_id}", title_justify="left")
    table.add_column("date", no_wrap=True)
    table.add_column("step", no_wrap=True)
    table.add_column("action")
    table.add_column("result")
    for entry in timeline.done:
        style = STATUS_STYLE.get(entry.status, "")
        status = "" if entry.status == "done" else f"[{style}]{entry.status}[/] "
        table.add_row(
            _when(entry),
            _step_name(entry.step_id, entry.iteration),
            entry.label,
            f"{status}{escape(entry.result)}".strip(),
        )
    if timeline.waiting is not None:
        waiting = timeline.waiting
        table.add_row(
            _when(waiting) or "(no deadline)",
            _step_name(waiting.step_id, waiting.iteration),
            waiting.label,
            "[bold cyan]waiting[/]",
        )
    for entry, (when, note) in zip(timeline.planned, planned_rows(timeline), strict=True):
        table.add_row(
            f"[dim]{when[:10] or 'after the previous step'}[/]",
            f"[dim]{_step_name(entry.step_id)}[/]",
            f"[dim]{escape(entry.label)}[/]",
            f"[dim]planned{': ' + escape(note) if note else ''}[/]",
        )
    return table
