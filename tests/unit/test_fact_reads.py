"""What a playbook reads, and what a model no longer declares of it (the check a
model change meets against running journeys: ``validate --running``)."""

from __future__ import annotations

from dsl.fact_reads import nearest_line, reads, undeclared
from dsl.loader import check_text
from dsl.model_file import check_model_text, default_model
from tests.unit.test_data_model import TEAM_MODEL

READER = """\
playbook reader:
    title "Reader"
    journey id "reader:{account.id}:{subscription.renewal_date}"
    enroll when account.support_tier == "gold" and support.open_p1_tickets > 0

    step hold "Hold":
        wait 3 days
"""


def team_model():  # noqa: ANN201 - Model
    model, diagnostics = check_model_text(TEAM_MODEL, "model.playbook")
    assert model is not None, diagnostics
    return model


def test_reads_holds_conditions_and_the_journey_id_placeholders() -> None:
    read = {"account.id", "subscription.renewal_date", "support.open_p1_tickets"}
    playbook, diagnostics = check_text(READER, "reader.playbook", model=team_model())
    assert playbook is not None, diagnostics
    assert read <= reads(playbook)
    assert "account.support_tier" in reads(playbook)


def test_undeclared_names_each_missing_fact_group_and_role_once() -> None:
    read = [
        "account.id",
        "account.support_tier",
        "support.open_p1_tickets",
        "support.open_p2_tickets",
        "contacts.champion.email",
        "contacts.sponsor.email",
        "answers.renewal_intent",
        "event.reason",
    ]
    assert undeclared(read, team_model()) == ["contacts.sponsor", "support.open_p2_tickets"]
    assert undeclared(read, default_model()) == [
        "account.support_tier",
        "contacts.sponsor",
        "support",
    ]


def test_nearest_line_is_the_group_block_else_the_model_line() -> None:
    assert nearest_line(TEAM_MODEL, "account.finance_owner") == 3
    assert nearest_line(TEAM_MODEL, "support.open_p2_tickets") == 8
    assert nearest_line(TEAM_MODEL, "usage.seats") == 2
    assert nearest_line("model:\n    contact roles: sponsor\n", "contacts.buyer") == 2
