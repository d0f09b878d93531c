"""The checker: one test per kind of error, with the exact message, line and column.

Bodies start at line 8, column 9 (see ``with_body``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_language_cases import (
    HEAD,
    PLAYBOOKS,
    diagnostics,
    doc_example,
    only,
    problems,
    with_body,
)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    for name in ("ask", "renewal_statement", "welcome"):
        (folder / f"{name}.txt.j2").write_text("Subject: hi\n\nbody\n")
    return folder


def test_valid_playbooks_have_no_diagnostics() -> None:
    assert diagnostics(doc_example(), PLAYBOOKS / "templates") == []
    assert diagnostics(with_body("wait 1 day")) == []


# --------------------------------------------------------------------------- fields


def test_misspelled_field_at_exact_position_with_suggestion() -> None:
    d = only(with_body("if subscription.renewal_dte < today():", "    stop"))
    assert (d.line, d.col, d.end_col) == (8, 25, 36)
    assert d.message == "unknown field subscription.renewal_dte"
    assert d.hint == "did you mean renewal_date?"


def test_unknown_field_without_close_match_lists_fields() -> None:
    d = only(with_body("if nps.zzz == 1:", "    stop"))
    assert (d.line, d.col, d.message) == (8, 16, "unknown field nps.zzz")
    assert d.hint == "nps has score, category, comment, responded_on"


def test_a_word_a_fact_cannot_hold_is_refused_where_compared() -> None:
    d = only(with_body('if account.risk_level == "hgh":', "    stop"))
    assert (d.line, d.col, d.message) == (8, 34, "'hgh' is not a value of account.risk_level")
    assert d.hint == "did you mean high? (values: low, medium, high)"
    d = only(with_body('if "europe" != account.region:', "    stop"))
    assert (d.col, d.message) == (12, "'europe' is not a value of account.region")
    assert d.hint == "values: amer, emea, apac, japan"


def test_a_word_a_fact_cannot_hold_is_refused_in_set_in_and_match() -> None:
    d = only(with_body('set account.risk_level = "hgh"'))
    assert (d.col, d.message) == (34, "'hgh' is not a value of account.risk_level")
    d = only(with_body('if account.segment in ["smb", "enterprse"]:', "    stop"))
    assert d.message == "'enterprse' is not a value of account.segment"
    assert d.hint.startswith("did you mean enterprise?")
    d = only(
        with_body(
            "match subscription.status:",
            "    when active, renewd:",
            "        stop",
            "    otherwise:",
            "        stop",
        )
    )
    assert (d.line, d.message) == (9, "'renewd' is not a value of subscription.status")


def test_known_words_and_an_empty_value_pass() -> None:
    assert problems(with_body('if account.renewal_intent == "":', "    stop")) == []
    assert problems(with_body('set account.risk_level = "high"')) == []
    assert problems(with_body('if account.name == "ACME":', "    stop")) == []  # free text


def test_unknown_root_name() -> None:
    d = only(with_body("if acount.name == 1:", "    stop"))
    assert (d.line, d.col, d.message, d.hint) == (
        8, 12, "unknown name acount", "did you mean account?"
    )  # fmt: skip


def test_field_without_its_root() -> None:
    d = only(with_body('set risk_level = "high"'))
    assert (d.line, d.col, d.message, d.hint) == (
        8, 13, "unknown name risk_level", "did you mean account.risk_level?"
    )  # fmt: skip


def test_root_without_field() -> None:
    d = only(with_body("if account == 1:", "    stop"))
    assert (d.line, d.col, d.message) == (8, 12, "account is not a value; name one of its fields")


def test_contact_field_and_role() -> None:
    text = with_body('if contacts.admin.emial == "x" or contacts.boss.email == "y":', "    stop")
    assert problems(text) == [
        (8, 27, "unknown field contacts.admin.emial"),
        (8, 52, "unknown contact role boss"),
    ]


def test_placeholder_checked_like_a_fact_path() -> None:
    d = only(with_body('notify channel ops "Renews {subscription.renewal_dte} for {account.name}"'))
    assert (d.line, d.col, d.end_col) == (8, 50, 61)
    assert d.message == "unknown field subscription.renewal_dte"
    assert d.hint == "did you mean renewal_date?"


def test_placeholder_in_header_string() -> None:
    text = HEAD.replace('journey id "t:{account.id}"', 'journey id "t:{account.idd}"')
    text += "    step s:\n        wait 1 day\n"
    assert problems(text) == [(3, 28, "unknown field account.idd")]


def test_event_payload_only_while_handling_an_event() -> None:
    text = with_body(
        'notify channel ops "{event.reason}"',
        "wait for event ping up to 1 day:",
        '    notify channel ops "{event.reason}"',
        header='on event ping interrupt:\n    notify channel ops "{event.note}"',
    )
    assert problems(text) == [(10, 30, "event.reason is only known while handling an event")]


def test_answers_name_a_question() -> None:
    d = only(
        with_body(
            'if answers.intnet == "yes":',
            "    stop",
            "ask intent to admin, wait up to 1 day:",
            '    prompt "?"',
            '    choice yes "Yes"',
            "match answer intent:",
            "    otherwise:",
            "        stop",
        )
    )
    assert (d.line, d.col, d.message, d.hint) == (
        8, 20, "unknown question intnet", "did you mean intent?"
    )  # fmt: skip


# --------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    "condition, col, message",
    [
        ("subscription.renewal_date > 30", 12, "cannot compare a date with a number using `>`"),
        ("subscription.renewal_date == 30", 12, "cannot compare a date with a number"),
        ("nps.score and true", 12, "`and` needs true/false on both sides, not a number"),
        ("true or account.name", 20, "`or` needs true/false on both sides, not a string"),
        ('account.region in "emea"', 30, "`in` needs a list on the right, not a string"),
        ("not nps.score", 16, "`not` needs true/false, not a number"),
        ("nps.score", 12, "a condition must be true or false, not a number"),
        ("subscription.renewal_date + 3 > today()", 12, "cannot add a date and a number"),
        ('nps.score - "a" > 1', 12, "cannot subtract a number and a string"),
        ("days_until(nps.score) > 1", 23, "days_until() needs a date, not a number"),
        ("days_until() > 1", 12, "days_until() takes 1 argument, not 0"),
        ("round(1, 2, 3) > 1", 12, "round() takes 1 or 2 arguments, not 3"),
        ("max(nps.score, today()) > 1", 12, "max() mixes a date and a number"),
        ("count(nps.score) > 1", 18, "count() needs a list, not a number"),
        ("dayz_until(today()) > 1", 12, "unknown function dayz_until"),
        ("2027-02-30 > today()", 12, "2027-02-30 is not a date"),
    ],
)
def test_type_errors(condition: str, col: int, message: str) -> None:
    assert problems(with_body(f"if {condition}:", "    stop")) == [(8, col, message)]


@pytest.mark.parametrize(
    "condition, date",
    [
        ("subscription.renewal_date > 30", "subscription.renewal_date"),
        ("subscription.renewal_date == 30", "subscription.renewal_date"),
        ("14 <= renewal", "renewal"),
        ("subscription.renewal_date - 1 week < nps.score", "subscription.renewal_date - 1 week"),
    ],
)
def test_date_compared_with_a_number_hints_days_until(condition: str, date: str) -> None:
    found = only(with_body(f"if {condition}:", "    stop"))
    assert found.message.startswith("cannot compare a ")
    assert found.hint == (
        f"compare days_until({date}) with a number (days_since for a past date), "
        "or the date with a date"
    )


def test_other_mismatched_comparisons_have_no_date_hint() -> None:
    assert only(with_body('if nps.score > "a":', "    stop")).hint == ""


def test_date_arithmetic_is_fine() -> None:
    ok = [
        "subscription.renewal_date - 14 days > today()",
        "subscription.renewal_date - today() < 30 days",
        "renewal + 1 week >= today() and 2 weeks + 1 day > 1 hour",
        'lower(account.region) in ["emea", "apac"] and account.region not in ["japan"]',
        "max(nps.score, 3) >= min(1, 2) and round(3.5) == 4 and count([1, 2]) == 2",
        "account.name != null and -nps.score < 0 and nps.score / 2 * 3 > 1",
    ]
    for condition in ok:
        assert diagnostics(with_body(f"if {condition}:", "    stop")) == [], condition


def test_anchor_must_be_a_date() -> None:
    text = HEAD.replace("anchor renewal = subscription.renewal_date", "anchor renewal = nps.score")
    text += "    step s:\n        wait 1 day\n"
    d = only(text)
    assert (d.line, d.col, d.message) == (4, 22, "the anchor must be a date, not a number")


def test_at_before_a_name_that_is_not_the_anchor() -> None:
    text = HEAD + "    step s at 10 days before renewl:\n        wait 1 day\n"
    d = only(text)
    assert (d.line, d.col, d.message, d.hint) == (
        7, 30, "renewl is not the anchor nor a date", "did you mean renewal?"
    )  # fmt: skip


def test_at_a_number_is_not_a_time() -> None:
    text = HEAD + "    step s at nps.score:\n        wait 1 day\n"
    assert problems(text) == [(7, 15, "a time must be a date, not a number")]


def test_set_value_of_the_wrong_type() -> None:
    assert problems(with_body("set account.risk_level = 3")) == [
        (8, 34, "account.risk_level is a string, not a number")
    ]


# --------------------------------------------------------------------------- names


def test_set_only_writable_facts() -> None:
    d = only(with_body('set account.segment = "smb"'))
    assert (d.line, d.col, d.message) == (8, 13, "account.segment cannot be set")
    assert d.hint.startswith("a playbook may set account.health_score, ")
    # An onboarding playbook marks onboarding done (a goal can then test it).
    assert problems(with_body("set account.onboarding_complete = true")) == []


def test_unknown_contact_role(templates: Path) -> None:
    d = only(with_body("send welcome to renewal_contct"), templates)
    assert (d.line, d.col, d.message, d.hint) == (
        8, 25, "unknown contact role renewal_contct", "did you mean renewal_contact?"
    )  # fmt: skip


def test_unknown_owner_role_and_priority() -> None:
    text = with_body('create cta for csmm, priority hi, due in 1 day, reason "r"')
    assert [(d.line, d.col, d.message, d.hint) for d in diagnostics(text)] == [
        (8, 24, "unknown owner role csmm", "did you mean csm?"),
        (8, 39, "priority must be low, medium, high or urgent, not hi", "did you mean high?"),
    ]


def test_cta_and_escalate_need_due_reason_and_wait() -> None:
    text = with_body("create cta for csm", 'escalate to tam, due in 1 day, reason "r"')
    assert problems(text) == [
        (8, 24, "`create cta` needs `due in DURATION`"),
        (8, 24, '`create cta` needs `reason "..."`'),
        (9, 21, "`escalate` needs `wait up to DURATION`"),
    ]


def test_undefined_template(templates: Path) -> None:
    d = only(with_body("send renewal_statment to admin"), templates)
    assert (d.line, d.col, d.message, d.hint) == (
        8, 14, "unknown template renewal_statment", "did you mean renewal_statement?"
    )  # fmt: skip


def test_ask_default_template_must_exist(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    text = with_body(
        "ask q to admin, wait up to 1 day:", '    prompt "?"', '    choice a "A"',
        "match answer q:", "    otherwise:", "        stop",
    )  # fmt: skip
    d = only(text, folder)
    assert (d.line, d.col, d.message) == (8, 13, "no template ask for this ask")
    assert d.hint == (
        f"create {folder / 'ask.txt.j2'} (the shared question email), add `, using TEMPLATE`, "
        "or give the templates folder with --templates DIR (or PLAYBOOK_TEMPLATES)"
    )


def test_missing_template_hint_mentions_templates_option(templates: Path) -> None:
    d = only(with_body("send farewell to admin"), templates)
    assert (d.line, d.col, d.message, d.hint) == (
        8, 14, "unknown template farewell",
        f"create {templates / 'farewell.txt.j2'}, or give the templates folder with "
        "--templates DIR (or PLAYBOOK_TEMPLATES)",
    )  # fmt: skip


def test_no_templates_folder_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    d = only(with_body("send renewal_statement to admin"), folder)
    assert (d.message, d.hint) == (
        "unknown template renewal_statement",
        f"there is no templates folder {folder}: give the templates folder with "
        "--templates DIR (or PLAYBOOK_TEMPLATES)",
    )


def test_ask_using_a_template(templates: Path) -> None:
    text = with_body(
        "ask q to admin, using welcom, wait up to 1 day:", '    prompt "?"', '    choice a "A"',
        "match answer q:", "    otherwise:", "        stop",
    )  # fmt: skip
    assert problems(text, templates) == [(8, 31, "unknown template welcom")]


def test_undefined_event() -> None:
    d = only(with_body("wait for event pnig up to 1 day"))
    assert (d.line, d.col, d.message, d.hint) == (8, 24, "unknown event pnig", "did you mean ping?")


def test_builtin_events_need_no_declaration() -> None:
    assert diagnostics(with_body("wait for event nps_response up to 1 day")) == []


def test_undeclared_goal() -> None:
    text = with_body("achieve renewd", header="on event churned achieve lost")
    assert problems(text) == [
        (7, 30, "unknown goal lost"),
        (9, 17, "unknown goal renewd"),
    ]


def test_skip_to_unknown_step() -> None:
    d = only(with_body("wait 1 day", header="on event ping skip to ss"))
    assert (d.line, d.col, d.message, d.hint) == (7, 27, "unknown step ss", "did you mean s?")


def test_start_unknown_playbook(tmp_path: Path) -> None:
    from dsl.loader import check_file

    (tmp_path / "other.playbook").write_text(with_body("wait 1 day"))
    path = tmp_path / "main.playbook"
    path.write_text(with_body("start playbook othr"))
    _, found = check_file(path)
    assert [(d.line, d.col, d.message, d.hint) for d in found] == [
        (8, 24, "unknown playbook othr", "did you mean other?")
    ]


def test_bad_choice_words() -> None:
    text = with_body(
        "send a to admin, when blocked wait",
        "parallel some:",
        "    branch x:",
        "        wait 1 day",
        "wait until renewal if past maybe",
    )
    assert problems(text) == [
        (8, 39, "`when blocked` must be defer or skip, not wait"),
        (9, 18, "`parallel` mode must be all or first, not some"),
        (12, 36, "`if past` must be run or skip, not maybe"),
    ]


# --------------------------------------------------------------------------- header


def test_missing_title_and_journey_id() -> None:
    text = "playbook t:\n    step s:\n        wait 1 day\n"
    assert problems(text) == [
        (1, 10, "missing `journey id` line"),
        (1, 10, "missing `title` line"),
    ]


def test_header_line_given_twice_and_after_a_step() -> None:
    text = HEAD + '    title "Again"\n    step s:\n        wait 1 day\n    summary "late"\n'
    assert problems(text) == [
        (7, 5, "`title` given twice"),
        (10, 5, "`summary` comes after the first step"),
    ]


def test_experiment_percentages_and_holdouts() -> None:
    header = "experiment e:\n    arm a 50%\n    arm a 30%\n    holdout h 5%\n    holdout g 5%"
    assert problems(with_body("wait 1 day", header=header)) == [
        (7, 16, "the arms of experiment e add up to 90%, not 100%"),
        (9, 13, "arm a given twice"),
        (11, 9, "experiment e has more than one holdout"),
    ]


def test_defaults_in_range() -> None:
    header = "defaults:\n    retry 0 times every 1 second\n    quiet hours 20 to 24"
    assert problems(with_body("wait 1 day", header=header)) == [
        (8, 15, "`retry` times must be a whole number of at least 1, not 0"),
        (9, 27, "hour 24 is not between 0 and 23"),
    ]


def test_duplicate_event_and_goal_declarations() -> None:
    header = 'events ping\ngoal renewed when subscription.status == "renewed"'
    assert problems(with_body("wait 1 day", header=header)) == [
        (7, 12, "event ping declared twice"),
        (8, 10, "goal renewed declared twice"),
    ]


# --------------------------------------------------------------------------- match


ASK = [
    "ask intent to admin, wait up to 14 days:",
    '    prompt "Renew?"',
    '    choice yes "Yes"',
    '    choice no "No"',
    '    choice maybe "Maybe"',
]


def test_match_answer_missing_choices() -> None:
    text = with_body(*ASK, "match answer intent:", "    when yes:", "        stop",
                     "    no answer:", "        stop")  # fmt: skip
    d = only(text)
    assert (d.line, d.col, d.end_col) == (13, 9, 28)
    assert d.message == "match answer intent does not handle no, maybe"
    assert d.hint == "add `when` blocks for them or an `otherwise:` block"


def test_match_answer_missing_no_answer() -> None:
    text = with_body(*ASK, "match answer intent:", "    when yes, no, maybe:", "        stop")
    d = only(text)
    assert (d.line, d.col, d.message) == (13, 9, "match answer intent does not handle no answer")
    assert d.hint == "the question may go unanswered in 14 days: add a `no answer:` block"


def test_match_answer_otherwise_covers_the_rest() -> None:
    text = with_body(*ASK, "match answer intent:", "    when yes:", "        stop",
                     "    otherwise:", "        wait 1 day")  # fmt: skip
    assert diagnostics(text) == []


def test_match_answer_unknown_and_duplicate_choices() -> None:
    text = with_body(*ASK, "match answer intent:", "    when yes, ye:", "        stop",
                     "    when yes:", "        stop", "    otherwise:", "        stop")  # fmt: skip
    assert [(d.line, d.col, d.message, d.hint) for d in diagnostics(text)] == [
        (14, 23, "ye is not a choice of intent", "did you mean yes?"),
        (16, 18, "`when yes` is handled twice", ""),
    ]


def test_misspelled_choice_is_the_one_error_not_a_follow_on() -> None:
    # `yess` was meant to handle yes: no "does not handle yes" ahead of the real error.
    text = with_body(*ASK, "match answer intent:", "    when yess:", "        stop",
                     "    when no, maybe:", "        stop",
                     "    no answer:", "        stop")  # fmt: skip
    d = only(text)
    assert (d.line, d.col, d.message, d.hint) == (
        14, 18, "yess is not a choice of intent", "did you mean yes?"
    )  # fmt: skip


def test_misspelled_choice_leaves_the_other_missing_choices_reported() -> None:
    text = with_body(*ASK, "match answer intent:", "    when yess:", "        stop",
                     "    no answer:", "        stop")  # fmt: skip
    assert [(d.line, d.col, d.message, d.hint) for d in diagnostics(text)] == [
        (13, 9, "match answer intent does not handle no, maybe",
         "add `when` blocks for them or an `otherwise:` block"),
        (14, 18, "yess is not a choice of intent", "did you mean yes?"),
    ]  # fmt: skip


def test_match_answer_needs_an_earlier_ask() -> None:
    text = with_body("match answer intent:", "    otherwise:", "        stop", *ASK)
    d = only(text)
    assert (d.line, d.col, d.message, d.hint) == (
        8, 22, "no earlier `ask intent` to match", "the ask comes after this match"
    )  # fmt: skip


def test_duplicate_choices() -> None:
    text = with_body(*ASK, '    choice yes "Again"', "match answer intent:", "    otherwise:",
                     "        stop")  # fmt: skip
    assert problems(text) == [(13, 20, "choice yes given twice")]


def test_match_arm() -> None:
    header = "experiment cadence:\n    arm weekly 50%\n    holdout control 50%"
    text = with_body("match arm cadense:", "    otherwise:", "        stop",
                     "match arm cadence:", "    when weekly, monthly:", "        stop",
                     header=header)  # fmt: skip
    assert problems(text) == [
        (11, 19, "unknown experiment cadense"),
        (14, 9, "match arm cadence does not handle control"),
        (15, 26, "monthly is not an arm of cadence"),
    ]


def test_no_answer_only_for_answers() -> None:
    text = with_body("match account.region:", "    when emea:", "        stop",
                     "    no answer:", "        stop")  # fmt: skip
    assert problems(text) == [(11, 13, "`no answer:` is only for `match answer`")]


# --------------------------------------------------------------------------- structure


def test_statements_after_stop_are_unreachable() -> None:
    text = with_body("if true:", "    stop", "    send a to admin", "    wait 1 day")
    d = only(text)
    assert (d.line, d.col, d.end_col) == (10, 13, 17)
    assert d.message == "unreachable: this comes after `stop`"


def test_statement_after_achieve() -> None:
    assert problems(with_body("achieve renewed", "wait 1 day")) == [
        (9, 9, "unreachable: this comes after `achieve`")
    ]


def test_step_after_an_endless_every() -> None:
    text = with_body("every 1 day:", "    wait 1 hour") + "    step after:\n        wait 1 day\n"
    d = only(text)
    assert (d.line, d.col, d.message) == (10, 10, "step after is never reached")
    assert d.hint == "the `every` on line 8 repeats forever; give it `until` or `at most N times`"


def test_step_after_endless_every_reached_by_skip_to() -> None:
    text = with_body("every 1 day:", "    wait 1 hour", header="on event ping skip to after")
    text += "    step after:\n        wait 1 day\n"
    assert diagnostics(text) == []


def test_step_after_a_step_that_always_stops() -> None:
    text = with_body("stop as done") + "    step b:\n        wait 1 day\n"
    text += "    step c:\n        wait 1 day\n"
    d = only(text)
    assert (d.line, d.col, d.message) == (9, 10, "step b is never reached")
    assert d.hint == "the journey always ends at the `stop` on line 8"
    assert (
        diagnostics(with_body("if true:", "    stop") + "    step b:\n        wait 1 day\n") == []
    )
    reached = text.replace("    step s:", "    on event ping skip to c\n    step s:")
    assert problems(reached) == [(10, 10, "step b is never reached")]


def test_duplicate_step_labels_and_branches() -> None:
    text = (
        with_body(
            "parallel:",
            "    branch a:",
            "        wait 1 day",
            "    branch a:",
            "        wait 1 day",
        )
        + "    step s:\n        wait 1 day\n"
    )
    assert problems(text) == [
        (11, 20, "branch a given twice"),
        (13, 10, "step s defined twice"),
    ]


def test_durations_in_range() -> None:
    text = with_body("wait 0 seconds", "wait 36501 days", "if today() + 99999 weeks > today():",
                     "    stop")  # fmt: skip
    assert problems(text) == [
        (8, 14, "a duration of 0 seconds is too short"),
        (9, 14, "a duration of 36501 days is too long"),
        (10, 22, "a duration of 99999 weeks is too long"),
    ]


def test_a_number_in_quotes_compared_with_a_number_says_to_drop_the_quotes() -> None:
    d = only(with_body('if usage.adoption_percent < "50":', "    stop"))
    assert d.message == "cannot compare a number with a string using `<`"
    assert d.hint == "write the number without quotes: 50"


def test_a_zero_offset_from_a_date_says_to_write_the_date() -> None:
    d = only(with_body("wait until 0 days after renewal"))
    assert d.message == "0 days before or after a date is the date itself"
    assert d.hint == "leave out the offset: `renewal` alone is the day itself"
    assert problems(with_body("wait until renewal")) == []


def test_otherwise_after_a_wait_without_deadline() -> None:
    text = with_body("wait for event ping", "otherwise:", "    stop")
    assert problems(text) == [(9, 9, "`otherwise:` never runs: the wait has no `up to DURATION`")]


def test_all_errors_of_a_file_in_one_run() -> None:
    text = with_body(
        "send a to nobody",
        "if nps.scor > 1:",
        "    achieve nothing",
        "wait for event nothing up to 1 day",
    )
    assert [m for _, _, m in problems(text)] == [
        "unknown contact role nobody",
        "unknown field nps.scor",
        "unknown goal nothing",
        "unknown event nothing",
    ]


# --------------------------------------------------------------------------- template contents


def test_template_contents_are_checked(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "hello.txt.j2").write_text(
        "Subject: Hi {{ contact.name }}\n\n{{ account.nam }} renews {{ subscriptoin.x }}\n"
        "{{ links.yes }}\n"
    )
    (folder / "hello.html.j2").write_text("<p>{% if account.name %}hi{% endfi %}</p>\n")
    (folder / "nosubject.txt.j2").write_text("Hello {{ account.name }}\n")
    text = with_body("send hello to admin", "send hello to admin", "send nosubject to admin")
    assert [(d.line, d.col, d.message, d.hint) for d in diagnostics(text, folder)] == [
        (8, 14, "template hello.html.j2, line 1: Jinja syntax error: Encountered unknown tag "
         "'endfi'. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The "
         "innermost block that needs to be closed is 'if'.", ""),
        (8, 14, "template hello.txt.j2, line 3: unknown field account.nam", "did you mean name?"),
        (8, 14, "template hello.txt.j2, line 3: unknown name subscriptoin",
         "did you mean subscription?"),
        (8, 14, "template hello.txt.j2, line 4: unknown name links",
         "`links` is only there for the question email of an `ask`"),
        (10, 14, "template nosubject.txt.j2, line 1: the first line is not `Subject: ...`",
         "a text template starts with `Subject: ...`, a blank line, then the body"),
    ]  # fmt: skip


def test_shipped_templates_are_clean() -> None:
    for path in sorted(PLAYBOOKS.glob("*.playbook")):
        from dsl.loader import check_file

        _, found = check_file(path)
        assert found == [], [d.headline() for d in found]
