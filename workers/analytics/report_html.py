"""The KPI report as one self-contained HTML page: ``playbook report --html FILE``
and the web endpoint's ``GET /report``.

It renders the ``Report`` that ``workers.analytics.report.build_report`` returns
(``workers.analytics.report_model``; no KPI is computed here, only laid out). The
page fetches nothing when viewed: CSS is inline and the charts are inline SVG drawn
here, so it can be mailed or opened from disk. Every chart carries a ``<title>``
and an ``aria-label``, and its numbers are also printed as text next to it (tables,
labels), so neither a screen reader nor a printout loses them. The template
autoescapes; chart labels are escaped as the SVG is built.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from workers.analytics.report_model import PlaybookJourneys, Report

TEMPLATES = Path(__file__).parent / "templates"
# Colours chosen to stay apart for the common colour-vision deficiencies.
PALETTE = ("#2b6cb0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")
INTENT_COLOURS = {"yes": "#55a868", "no": "#c44e52", "not_decision_maker": "#8172b3"}
RENEWAL_COLOURS = {
    "on_time": "#55a868",
    "late": "#dd8452",
    "overdue": "#c44e52",
    "churned": "#6b6b6b",
}
_WIDTH = 560
_BAR_AREA = 150
# Axis labels (11px): a generous width per character, so a wrapped line fits its
# slot in any sans-serif font; lines 13px apart.
_CHAR_PX = 7.0
_LINE_PX = 13
_BREAK_AFTER = re.compile(r"[^ ./@_-]+[ ./@_-]*|[ ./@_-]+")


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: its label, value and colour."""

    label: str
    value: float
    colour: str = PALETTE[0]
    # What the bar says instead of its value (e.g. "no journeys" for an empty arm).
    text: str | None = None
    # The label in full in the bar's tooltip when the axis shows a short form.
    full: str | None = None


def render_html(report: Report) -> str:
    """The whole page for one report (see ``workers.analytics.report``)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html", "j2")),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = percent
    env.filters["num"] = number
    env.filters["words"] = words
    return env.get_template("report.html.j2").render(
        report=report,
        window=report.window,
        charts=_charts(report),
        journey_columns=journey_columns(report.journeys),
    )


def journey_columns(journeys: list[PlaybookJourneys]) -> list[str]:
    """The count columns of the journey rows (statuses from Temporal, or running
    and ended from the journey events), in the order they first appear."""
    found: list[str] = []
    for row in journeys:
        for key in row.counts():
            if key not in found:
                found.append(key)
    return found


# --------------------------------------------------------------------------- text


def percent(rate: float | None) -> str:
    """A rate as a percentage (``-`` when there was nothing to divide by)."""
    return "-" if rate is None else f"{rate * 100:.1f}%"


def number(value: object) -> str:
    """Counts with thousands separators, money with two decimals when it has cents."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return str(value)


def words(name: str) -> str:
    """A column name as words: ``not_decision_maker`` -> ``not decision maker``."""
    return str(name).replace("_", " ")


# --------------------------------------------------------------------------- charts


def _charts(report: Report) -> dict[str, Markup]:
    activity, outcomes = report.activity, report.outcomes
    cap, ctas, weeks = activity.emails.cap, activity.ctas, activity.emails_by_week
    renewals = outcomes.renewals
    charts = {
        "emails_per_week": bar_chart(
            "Emails sent per week",
            [Bar(week_label(week.week), week.sent, full=week.week.isoformat()) for week in weeks],
        ),
        "contact_week_vs_cap": bar_chart(
            "Most emails to one contact per week, against the cap",
            [
                Bar(
                    week_label(week.week),
                    week.max_per_contact,
                    PALETTE[3] if week.max_per_contact > cap.per_week else PALETTE[1],
                    full=week.week.isoformat(),
                )
                for week in weeks
            ],
            cap=cap.per_week,
        ),
        "ctas": bar_chart(
            "CTAs opened, closed and open now",
            [
                Bar("opened", ctas.opened, PALETTE[0]),
                Bar("closed", ctas.closed, PALETTE[2]),
                Bar("open now", ctas.open_now, PALETTE[1]),
            ],
        ),
        "ctas_by_owner": bar_chart(
            "Open CTAs per owner",
            [Bar(owner.owner, owner.open, PALETTE[4]) for owner in ctas.open_by_owner],
        ),
        "intent_split": stacked_bar(
            "Renewal intent answers: yes, no, not the decision maker",
            [
                Bar(words(choice), count, INTENT_COLOURS.get(choice, PALETTE[5]))
                for choice, count in outcomes.renewal_intent.split.items()
            ],
        ),
        "renewals": stacked_bar(
            "Renewals due: on time, late, overdue, churned",
            [
                Bar(words("on_time"), renewals.on_time, RENEWAL_COLOURS["on_time"]),
                Bar(words("late"), renewals.late, RENEWAL_COLOURS["late"]),
                Bar(words("overdue"), renewals.overdue, RENEWAL_COLOURS["overdue"]),
                Bar(words("churned"), renewals.churned, RENEWAL_COLOURS["churned"]),
            ],
        ),
        "migration": grouped_bar(
            "Cloud migration by region and segment, accounts per stage",
            [f"{group.region} / {group.segment}" for group in outcomes.cloud_migration],
            {
                words("not_started"): [g.not_started for g in outcomes.cloud_migration],
                words("notified"): [g.notified for g in outcomes.cloud_migration],
                words("planned"): [g.planned for g in outcomes.cloud_migration],
                words("migrating"): [g.migrating for g in outcomes.cloud_migration],
                words("migrated"): [g.migrated for g in outcomes.cloud_migration],
            },
        ),
        "journeys": bar_chart(
            "Journeys per playbook",
            [Bar(row.playbook, row.total) for row in report.journeys],
        ),
        "arms": bar_chart(
            "Outcome achieved per experiment arm (percent of journeys)",
            [
                Bar(
                    f"{arm.arm}{' (holdout)' if arm.holdout else ''}",
                    round((arm.achieved_rate or 0) * 100, 1),
                    PALETTE[3] if arm.holdout else PALETTE[2],
                    text=None if arm.achieved_rate is not None else "no journeys",
                )
                for arm in report.arms
            ],
            unit="%",
        ),
    }
    return charts


def _svg(title: str, height: float, body: list[str], width: int = _WIDTH) -> Markup:
    label, height = escape(title), math.ceil(height)
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{label}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}"><title>{label}</title>{"".join(body)}</svg>'
    )


def _empty(title: str) -> Markup:
    return Markup('<p class="empty">{}: nothing in this period.</p>').format(title)


def bar_chart(title: str, bars: list[Bar], *, cap: float | None = None, unit: str = "") -> Markup:
    """Vertical bars with the value above each and the label below, wrapped to
    its slot (never cut; when bars are too narrow for a label, every n-th bar is
    labelled and the rest carry theirs in the tooltip); ``cap`` draws a dashed
    line (the contact policy's weekly limit)."""
    if not bars:
        return _empty(title)
    top = max([bar.value for bar in bars] + [cap or 0, 1])
    slot = min(120, (_WIDTH - 40) / len(bars))
    width = min(slot * 0.7, 64)
    base = 20 + _BAR_AREA
    body = [f'<line x1="30" y1="{base}" x2="{_WIDTH - 5}" y2="{base}" class="axis"/>']
    centres: list[float] = []
    for i, bar in enumerate(bars):
        height = bar.value / top * _BAR_AREA
        x = 35 + i * slot + (slot - width) / 2
        shown = bar.text or (f"{bar.value:g}{unit}" if unit else number(bar.value))
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{base - height:.1f}" width="{width:.1f}" '
            f'height="{max(height, 0.5):.1f}" fill="{bar.colour}">'
            f"<title>{escape(bar.full or bar.label)}: {escape(shown)}</title></rect>"
            f'<text x="{x + width / 2:.1f}" y="{base - height - 4:.1f}" class="value">'
            f"{escape(shown)}</text>"
        )
        centres.append(x + width / 2)
    labels, below = axis_labels(centres, [bar.label for bar in bars], slot, base)
    body.extend(labels)
    if cap is not None:
        y = base - cap / top * _BAR_AREA
        body.append(
            f'<line class="cap" x1="30" y1="{y:.1f}" x2="{_WIDTH - 5}" y2="{y:.1f}"/>'
            f'<text x="{_WIDTH - 5}" y="{y - 4:.1f}" class="cap-label">'
            f"cap {escape(number(cap))}</text>"
        )
    return _svg(title, base + below, body)


def stacked_bar(title: str, parts: list[Bar]) -> Markup:
    """One horizontal bar split into parts, with a legend giving each count."""
    total = sum(part.value for part in parts)
    if total <= 0:
        return _empty(title)
    body, x = [], 10.0
    span = _WIDTH - 20
    for part in parts:
        width = part.value / total * span
        if width > 0:
            body.append(
                f'<rect class="segment" x="{x:.1f}" y="10" width="{width:.1f}" height="34" '
                f'fill="{part.colour}"><title>{escape(part.label)}: '
                f"{escape(number(part.value))}</title></rect>"
            )
            if width > 28:
                body.append(
                    f'<text x="{x + width / 2:.1f}" y="32" class="inside">'
                    f"{escape(number(part.value))}</text>"
                )
        x += width
    legend_x = 10
    for part in parts:
        text = f"{part.label} {number(part.value)}"
        body.append(
            f'<rect x="{legend_x}" y="56" width="12" height="12" fill="{part.colour}"/>'
            f'<text x="{legend_x + 16}" y="66" class="legend">{escape(text)}</text>'
        )
        legend_x += 24 + 7 * len(text)
    return _svg(title, 76, body)


def grouped_bar(title: str, groups: list[str], series: dict[str, list[float]]) -> Markup:
    """Bars per group, one per series, with a legend."""
    if not groups:
        return _empty(title)
    top = max([value for values in series.values() for value in values] + [1])
    slot = (_WIDTH - 40) / len(groups)
    width = slot * 0.8 / len(series)
    base = 20 + _BAR_AREA
    body = [f'<line x1="30" y1="{base}" x2="{_WIDTH - 5}" y2="{base}" class="axis"/>']
    for g, group in enumerate(groups):
        left = 35 + g * slot + slot * 0.1
        for s, (name, values) in enumerate(series.items()):
            height = values[g] / top * _BAR_AREA
            x = left + s * width
            colour = PALETTE[s % len(PALETTE)]
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{base - height:.1f}" width="{width:.1f}" '
                f'height="{max(height, 0.5):.1f}" fill="{colour}">'
                f"<title>{escape(group)}, {escape(name)}: {escape(number(values[g]))}</title>"
                "</rect>"
            )
            if values[g]:
                body.append(
                    f'<text x="{x + width / 2:.1f}" y="{base - height - 3:.1f}" class="value">'
                    f"{escape(number(values[g]))}</text>"
                )
    centres = [35 + g * slot + slot * 0.5 for g in range(len(groups))]
    labels, below = axis_labels(centres, groups, slot, base)
    body.extend(labels)
    legend_y = base + below + 2
    legend_x = 10
    for s, name in enumerate(series):
        body.append(
            f'<rect x="{legend_x}" y="{legend_y}" width="12" height="12" '
            f'fill="{PALETTE[s % len(PALETTE)]}"/>'
            f'<text x="{legend_x + 16}" y="{legend_y + 10}" class="legend">{escape(name)}</text>'
        )
        legend_x += 28 + 7 * len(name)
    return _svg(title, legend_y + 20, body)


# --------------------------------------------------------------------------- axis labels


def week_label(week: date) -> str:
    """A week on an axis as its Monday, short: ``Dec 07``."""
    return week.strftime("%b %d")


def axis_labels(
    centres: list[float], labels: list[str], slot: float, base: float
) -> tuple[list[str], float]:
    """The labels under bars centred at ``centres`` (``slot`` pixels apart, axis at
    ``base``) and the height they take below it. A label is never cut: on one
    line when it fits its slot, else wrapped after a space, dot, slash, ``@``,
    ``-`` or ``_`` (at most three lines), else every label is turned upright
    (read bottom to top). Bars too narrow for a line each are labelled every
    n-th; the others carry their label in the tooltip."""
    every = max(1, math.ceil(_LINE_PX / slot))
    shown = [(centres[i], labels[i]) for i in range(0, len(labels), every)]
    wrapped = [wrap_label(label, slot * every) for _, label in shown]
    if all(lines is not None and len(lines) <= 3 for lines in wrapped):
        texts = [
            _label_text(x, base + 14, lines or [""])
            for (x, _), lines in zip(shown, wrapped, strict=True)
        ]
        most = max((len(lines or ()) for lines in wrapped), default=1)
        return texts, 24 + (max(most, 1) - 1) * _LINE_PX
    texts = [
        f'<text x="{x:.1f}" y="{base + 8}" dy="0.35em" class="label upright" '
        f'transform="rotate(-90 {x:.1f} {base + 8})">{escape(label)}</text>'
        for x, label in shown
    ]
    longest = max((len(label) for _, label in shown), default=1)
    return texts, 14 + longest * _CHAR_PX


def wrap_label(label: str, room: float) -> list[str] | None:
    """A label as lines that each fit ``room`` pixels, broken after a space, dot,
    slash, ``@``, ``-`` or ``_``; ``None`` when a word alone is wider."""
    fits = int(min(room, 120) / _CHAR_PX)
    lines: list[str] = []
    line = ""
    for piece in _BREAK_AFTER.findall(label):
        if len((line + piece).rstrip()) <= fits:
            line += piece
            continue
        if len(piece.rstrip()) > fits:
            return None
        lines.append(line.rstrip())
        line = piece
    lines.append(line.rstrip())
    return [line for line in lines if line] or [""]


def _label_text(x: float, y: float, lines: list[str]) -> str:
    spans = "".join(
        f'<tspan x="{x:.1f}" dy="{0 if i == 0 else _LINE_PX}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text x="{x:.1f}" y="{y}" class="label">{spans}</text>'
