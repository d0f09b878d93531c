"""Business days and calendars (issue 11, time): written, checked (line:col),
compiled with the calendars pinned, simulated around holidays and weekends, drawn
and formatted."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from dsl.calendar_dates import add_business_days
from dsl.formatter import format_text
from dsl.graph import to_mermaid
from dsl.ir import Playbook
from dsl.loader import check_model_file, check_text
from engine.simulation import SimulationResult, run_simulation, sample_facts
from tests.unit.test_language_cases import PLAYBOOKS, only, with_body

FOLDER = Path(__file__).parents[1] / "fixtures" / "business_days"
YEAR_END = (FOLDER / "year_end.playbook").read_text(encoding="utf-8")


def compiled(text: str, folder: Path = FOLDER) -> Playbook:
    playbook, found = check_text(text, "year_end.playbook", PLAYBOOKS / "templates", folder)
    assert playbook is not None, [d.headline() for d in found]
    return playbook


def simulated(
    playbook: Playbook, region: str, renewal: str, until: datetime | None = None
) -> SimulationResult:
    facts = sample_facts(date(2026, 12, 1))
    facts["account"]["region"] = region
    facts["subscription"]["renewal_date"] = renewal
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    until = until or datetime(2027, 3, 1, tzinfo=UTC)
    return asyncio.run(run_simulation(playbook, facts, start=start, until=until))


def actions(result: SimulationResult) -> list[tuple[str, str]]:
    return [
        (req.playbook_time.date().isoformat(), req.kind)
        for req, _ in result.actions
        if req.kind in ("cta", "send")
    ]


def test_business_days_skip_weekends_and_holidays() -> None:
    holidays = frozenset({"2026-12-25", "2026-12-28", "2027-01-01"})
    friday = datetime(2026, 12, 18, 9)
    assert add_business_days(friday, 1, (5, 6), frozenset()) == datetime(2026, 12, 21, 9)
    assert add_business_days(date(2026, 12, 24), 1, (5, 6), holidays) == date(2026, 12, 29)
    assert add_business_days(date(2026, 12, 29), -1, (5, 6), holidays) == date(2026, 12, 24)
    assert add_business_days(date(2026, 12, 24), 1, (4, 5), frozenset()) == date(2026, 12, 27)


def test_the_us_calendar_skips_christmas_and_the_weekend() -> None:
    result = simulated(compiled(YEAR_END), "amer", "2026-12-31")
    # 3 business days before Thu Dec 31: Dec 30, 29, 28 (no US holiday between).
    # The CTA is due 2 business days later; the email waits 3 (Dec 31).
    assert actions(result) == [("2026-12-28", "cta"), ("2026-12-31", "send")]
    cta = next(req for req, _ in result.actions if req.kind == "cta")
    assert cta.params["due"].startswith("2026-12-30")


def test_the_uk_calendar_skips_boxing_day_too() -> None:
    result = simulated(compiled(YEAR_END), "emea", "2026-12-31")
    # Dec 30, 29, then Dec 28 (Boxing Day substitute), the weekend and Dec 25
    # (Christmas) are skipped: the third business day before is Thu Dec 24.
    assert actions(result) == [("2026-12-24", "cta"), ("2026-12-31", "send")]
    cta = next(req for req, _ in result.actions if req.kind == "cta")
    assert cta.params["due"].startswith("2026-12-30")  # Dec 29, Dec 30
    labels = [e.label for e in result.timeline.done]
    assert labels[0] == "CTA for csm (medium, due 2026-12-30, uk calendar)"
    halfway = simulated(
        compiled(YEAR_END), "emea", "2026-12-31", datetime(2026, 12, 26, tzinfo=UTC)
    )
    waiting = halfway.timeline.waiting
    assert waiting is not None
    assert (waiting.label, waiting.at) == (
        "wait 3 business days (uk calendar)",
        datetime(2026, 12, 31, 9, tzinfo=UTC),
    )


def test_the_calendars_are_pinned_in_the_ir() -> None:
    playbook = compiled(YEAR_END)
    assert [c.name for c in playbook.calendars] == ["us", "uk"]
    uk = next(c for c in playbook.calendars if c.name == "uk")
    assert [h.date for h in uk.holidays] == ["2026-12-25", "2026-12-28", "2027-01-01"]
    assert playbook.calendar_choice is not None
    assert playbook.calendar_choice.cases == {"amer": "us", "emea": "uk"}
    again = Playbook.from_json(playbook.to_json())
    assert actions(simulated(again, "emea", "2026-12-31"))[0] == ("2026-12-24", "cta")


def test_without_calendars_business_days_are_weekdays() -> None:
    playbook = compiled(
        with_body("wait 2 business days", "send renewal_statement to billing"), PLAYBOOKS
    )
    assert playbook.calendars == [] and playbook.calendar_choice is None
    facts = sample_facts(date(2026, 12, 1))
    start = datetime(2026, 12, 24, 9, tzinfo=UTC)  # a Thursday
    result = asyncio.run(run_simulation(playbook, facts, start=start))
    sends = [r.playbook_time.date() for r, _ in result.actions if r.kind == "send"]
    assert sends and sends[0] >= date(2026, 12, 28)
    assert add_business_days(date(2026, 12, 24), 2, (5, 6), frozenset()) == date(2026, 12, 28)


def test_a_playbook_without_business_days_keeps_its_version() -> None:
    plain = with_body("wait 2 days", "send renewal_statement to billing")
    assert compiled(plain, FOLDER).version() == compiled(plain, PLAYBOOKS).version()
    assert compiled(plain, FOLDER).calendars == []


def test_fmt_and_graph_keep_business_days() -> None:
    assert format_text(YEAR_END) == (YEAR_END, [])
    drawn = to_mermaid(compiled(YEAR_END))
    assert "T-3 business days step call: Call before renewal" in drawn
    assert '"wait 3 business days"' in drawn


def write_model(tmp_path: Path, model: str, files: dict[str, str]) -> Path:
    (tmp_path / "calendars").mkdir()
    for name, text in files.items():
        (tmp_path / "calendars" / name).write_text(text, encoding="utf-8")
    path = tmp_path / "model.playbook"
    path.write_text(model, encoding="utf-8")
    return path


def test_an_unknown_calendar_is_refused_with_line_and_column(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        "model:\n    calendars by account.region:\n        amer: us\n        emea: ukk\n",
        {"us.holidays": "2026-12-25 Christmas Day\n", "uk.holidays": ""},
    )
    model, found = check_model_file(path)
    assert model is None
    [d] = found
    assert (d.line, d.col) == (4, 15)
    assert d.message == f"unknown calendar ukk: no file {tmp_path}/calendars/ukk.holidays"
    assert d.hint == "did you mean uk?"


def test_a_missing_holiday_file_says_where_to_write_it(tmp_path: Path) -> None:
    path = tmp_path / "model.playbook"
    path.write_text("model:\n    calendars:\n        otherwise: us\n", encoding="utf-8")
    _, [d] = check_model_file(path)
    assert (d.line, d.col) == (3, 20)
    assert d.hint == f"write {tmp_path}/calendars/us.holidays: one `YYYY-MM-DD Name` a line"


def test_a_bad_date_line_is_refused_with_line_and_column(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        "model:\n    calendars:\n        otherwise: us\n",
        {"us.holidays": "# US\n2026-12-25 Christmas Day\n  2026-13-01 Nope\nweekend sat, sonday\n"},
    )
    _, found = check_model_file(path)
    where = [(d.path.rsplit("/", 1)[-1], d.line, d.col, d.message) for d in found]
    assert where == [
        ("us.holidays", 3, 3, "`2026-13-01` is not a date"),
        ("us.holidays", 4, 14, "`sonday` is not a day of the week"),
    ]
    assert found[1].hint == "did you mean sunday?"


def test_a_calendar_case_names_a_value_of_the_fact(tmp_path: Path) -> None:
    path = write_model(
        tmp_path,
        "model:\n    calendars by account.region:\n        emae: us\n",
        {"us.holidays": ""},
    )
    _, [d] = check_model_file(path)
    assert (d.line, d.col, d.message, d.hint) == (
        3,
        9,
        "account.region is never emae",
        "did you mean emea?",
    )


def test_business_days_are_refused_where_a_fixed_length_is_needed() -> None:
    playbook, found = check_text(
        with_body('notify channel ops "hi", timeout 2 business days'),
        "x.playbook",
        PLAYBOOKS / "templates",
        PLAYBOOKS,
    )
    assert playbook is None
    assert [(d.line, d.message) for d in found] == [(8, "business days have no fixed length here")]


def test_the_fixture_folder_is_a_valid_model(tmp_path: Path) -> None:
    shutil.copytree(FOLDER, tmp_path / "f")
    model, found = check_model_file(tmp_path / "f" / "model.playbook")
    assert model is not None, [d.headline() for d in found]
    assert [c.name for c in model.calendars] == ["us", "uk"]


def test_a_misspelt_business_day_gets_a_hint() -> None:
    d = only(with_body("wait 2 busines days"))
    assert (d.line, d.col, d.message) == (8, 16, "a duration needs a unit")
    assert d.hint == "did you mean `business days`?"


def test_diff_says_what_changed_in_business_days_and_calendars(tmp_path: Path) -> None:
    from dsl.diff import diff_playbooks

    shutil.copytree(FOLDER, tmp_path / "b", symlinks=True)
    with (tmp_path / "b" / "calendars" / "uk.holidays").open("a", encoding="utf-8") as f:
        f.write("2026-12-29 A day of our own\n")
    later = YEAR_END.replace("at 3 business days before", "at 4 business days before")
    changes = diff_playbooks(compiled(YEAR_END), compiled(later, tmp_path / "b")).changes
    assert [c.words for c in changes] == [
        "calendar uk changed (+2026-12-29)",
        "step call: time point moved from 3 business days before renewal "
        "to 4 business days before renewal",
    ]


def test_every_business_day_skips_the_holidays() -> None:
    playbook = compiled(
        with_body("every 1 business day, at most 4 times:", "    send renewal_statement to billing")
    )
    facts = sample_facts(date(2026, 12, 1))
    facts["account"]["region"] = "emea"  # the uk calendar
    start = datetime(2026, 12, 23, 9, tzinfo=UTC)
    result = asyncio.run(run_simulation(playbook, facts, start=start))
    sends = [r.playbook_time.date().isoformat() for r, _ in result.actions if r.kind == "send"]
    assert sends == ["2026-12-24", "2026-12-29", "2026-12-30", "2026-12-31"]
