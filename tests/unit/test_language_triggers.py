"""The `starts on TRIGGER` header line: parsed, checked (exact error text), compiled
into the IR, kept by `fmt`, and left out of the version of playbooks without it."""

from __future__ import annotations

from dsl import schema
from dsl.formatter import format_text
from dsl.ir import Playbook
from dsl.loader import check_text, load_playbook
from tests.unit.test_language_cases import HEAD, PLAYBOOKS, only, problems, with_body


def compiled(text: str) -> Playbook:
    playbook, found = check_text(text, "t.playbook", None)
    assert playbook is not None, [d.headline() for d in found]
    return playbook


def test_the_trigger_goes_into_the_ir() -> None:
    playbook = compiled(with_body("stop", header="starts on ga_release"))
    assert playbook.starts_on == "ga_release"
    assert compiled(with_body("stop")).starts_on == ""
    assert Playbook.from_json(playbook.to_json()).starts_on == "ga_release"


def test_every_trigger_the_services_know_is_accepted() -> None:
    for trigger in schema.TRIGGERS:
        assert compiled(with_body("stop", header=f"starts on {trigger}")).starts_on == trigger


def test_an_unknown_trigger_says_which_it_may_have_meant() -> None:
    d = only(with_body("stop", header="starts on nps_respons"))
    assert (d.line, d.col, d.end_col) == (7, 15, 26)
    assert d.message == "unknown trigger nps_respons"
    assert d.hint == "did you mean nps_response?"


def test_an_unknown_trigger_far_from_any_lists_the_triggers() -> None:
    d = only(with_body("stop", header="starts on crm_sync"))
    assert d.message == "unknown trigger crm_sync"
    assert d.hint == "triggers: nps_response, ga_release"


def test_a_second_trigger_line_is_refused() -> None:
    text = with_body("stop", header="starts on ga_release\nstarts on nps_response")
    assert problems(text) == [(8, 5, "`starts on` given twice")]


def test_without_on_the_parser_expects_it() -> None:
    d = only(with_body("stop", header="starts nps_response"))
    assert (d.line, d.col, d.message, d.hint) == (
        7,
        12,
        "unexpected `nps_response`",
        "expected `on`",
    )


def test_fmt_keeps_it_after_the_entry_condition() -> None:
    text = (
        HEAD.replace("    events ping\n", "    starts on nps_response\n    events ping\n")
        + "    enroll when true\n"
        + "    step s:\n        stop\n"
    )
    formatted, found = format_text(text)
    assert formatted is not None, found
    lines = [line.strip() for line in formatted.splitlines()]
    assert lines.index("starts on nps_response") == lines.index("enroll when true") + 1
    assert format_text(formatted)[0] == formatted
    assert compiled(formatted).version() == compiled(text).version()


def test_old_ir_without_the_field_still_loads() -> None:
    playbook = load_playbook(PLAYBOOKS / "renewal.playbook")
    data = playbook.model_dump(mode="json")
    del data["starts_on"]
    assert Playbook.model_validate(data) == playbook


def test_only_playbooks_that_use_it_change_version() -> None:
    plain = compiled(with_body("stop"))
    assert plain.version() == plain.model_copy(update={"starts_on": ""}).version()
    assert plain.model_copy(update={"starts_on": "ga_release"}).version() != plain.version()


def test_the_shipped_playbooks_declare_their_triggers() -> None:
    found = {
        path.stem: load_playbook(path).starts_on for path in sorted(PLAYBOOKS.glob("*.playbook"))
    }
    assert {name: trigger for name, trigger in found.items() if trigger} == {
        "nps_followup": "nps_response",
        "version_currency": "ga_release",
    }
