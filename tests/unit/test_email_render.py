"""Every shipped email template renders with realistic facts: a subject line, a
text body with the facts in it, an autoescaped HTML part, and answer links for
questions. Also the message itself: headers, parts, a stable Message-ID."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workers.adapters.email import (
    EmailTemplates,
    TemplateProblem,
    build_message,
    message_id_for,
    split_subject,
    template_context,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "playbooks" / "templates"
templates = EmailTemplates(TEMPLATES)
SHIPPED = templates.names()


def realistic_facts() -> dict[str, Any]:
    return {
        "account": {
            "id": "ACME-0042",
            "name": "ACME Corp",
            "segment": "enterprise",
            "region": "emea",
            "csm_owner": "dana@example.com",
            "product_line": "Device Manager",
            "installed_version": "10.2",
            "ga_version": "12.0",
            "versions_behind": 2,
        },
        "subscription": {
            "id": "SUB-1",
            "product": "Device Manager Cloud",
            "renewal_date": "2027-04-01",
            "licences": 100,
            "unit_price": 50.0,
            "currency": "USD",
        },
        "usage": {"devices_in_use": 110, "active_users": 87},
        "nps": {"score": 9, "category": "promoter", "comment": "Great support"},
        "quote": {
            "id": "Q-1",
            "licences": 100,
            "organic_growth_licences": 10,
            "unit_price": 50.0,
            "total": 5500.0,
            "currency": "USD",
        },
    }


RITA = {"id": "C-1", "name": "Rita Renewal", "email": "rita@acme.example"}
QUESTION = {
    "name": "renewal_intent",
    "prompt": "Will you renew your subscription on 2027-04-01?",
    "choices": [
        {"name": "yes", "label": "Yes, we plan to renew"},
        {"name": "no", "label": "No, we do not plan to renew"},
    ],
}
LINKS = {"yes": "http://web/answer/tok-yes", "no": "http://web/answer/tok-no"}


def context(facts: dict[str, Any] | None = None) -> dict[str, Any]:
    return template_context(
        facts or realistic_facts(),
        RITA,
        unsubscribe_url="http://web/unsubscribe/tok-u",
        question=QUESTION,
        links=LINKS,
    )


def test_templates_are_shipped() -> None:
    assert "renewal_statement" in SHIPPED
    assert "ask" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_template_renders(name: str) -> None:
    rendered = templates.render(name, context())
    assert rendered.subject and "\n" not in rendered.subject
    assert "Rita Renewal" in rendered.text
    assert "http://web/unsubscribe/tok-u" in rendered.text
    assert "{{" not in rendered.text and "{%" not in rendered.text
    if (TEMPLATES / f"{name}.html.j2").exists():
        assert rendered.html is not None
        assert "http://web/unsubscribe/tok-u" in rendered.html


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_template_survives_missing_facts(name: str) -> None:
    rendered = templates.render(name, template_context({}, {"email": "x@y.example"}))
    assert rendered.subject


@pytest.mark.parametrize("name", [n for n in SHIPPED if n in ("ask", "renewal_intent_survey")])
def test_questions_carry_one_link_per_choice(name: str) -> None:
    rendered = templates.render(name, context())
    for label, url in (("Yes, we plan to renew", LINKS["yes"]), ("No,", LINKS["no"])):
        assert label in rendered.text
        assert url in rendered.text
        assert url in (rendered.html or "")


def test_renewal_statement_shows_the_quote() -> None:
    rendered = templates.render("renewal_statement", context())
    assert "ACME Corp" in rendered.subject and "2027-04-01" in rendered.subject
    text = " ".join(rendered.text.split())
    assert "Total for the next term: 5500.00 USD" in text
    assert "Price per licence: 50.00 USD" in text
    assert "10 more licences" in " ".join(rendered.text.split())


def test_html_is_autoescaped_and_text_is_not() -> None:
    facts = realistic_facts()
    facts["account"]["name"] = "Smith & <Jones>"
    rendered = templates.render("renewal_statement", context(facts))
    assert "Smith &amp; &lt;Jones&gt;" in (rendered.html or "")
    assert "Smith & <Jones>" in rendered.text


def test_the_sandbox_refuses_unsafe_attribute_access(tmp_path: Path) -> None:
    (tmp_path / "evil.txt.j2").write_text(
        "Subject: x\n\n{{ contact.__class__.__mro__ }}", encoding="utf-8"
    )
    with pytest.raises(TemplateProblem, match="evil.txt.j2"):
        EmailTemplates(tmp_path).render("evil", template_context({}, RITA))


def test_missing_template_is_a_template_problem() -> None:
    with pytest.raises(TemplateProblem, match="no email template 'nope'"):
        templates.render("nope", context())


def test_subject_line_is_required_and_kept_on_one_line() -> None:
    assert split_subject("Subject: Hello\n  there\n\nBody\n") == ("Hello", "  there\n\nBody\n")
    with pytest.raises(TemplateProblem, match="must start with 'Subject: ...'"):
        split_subject("Hello\n\nBody", "bad")


def test_message_has_both_parts_and_the_journey_headers() -> None:
    rendered = templates.render("renewal_statement", context())
    message = build_message(
        rendered,
        sender="success@playbook.local",
        to_address="rita@acme.example",
        to_name="Rita Renewal",
        idempotency_key="renewal:ACME-0042:2027-04-01/statement-send/0",
        journey_id="renewal:ACME-0042:2027-04-01",
        unsubscribe_url="http://web/unsubscribe/tok-u",
    )
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert message["X-Playbook-Journey"] == "renewal:ACME-0042:2027-04-01"
    assert message["Message-ID"] == message_id_for("renewal:ACME-0042:2027-04-01/statement-send/0")
    assert message["List-Unsubscribe"] == "<http://web/unsubscribe/tok-u>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["To"] == "Rita Renewal <rita@acme.example>"


def test_message_id_is_stable_per_key_and_differs_between_keys() -> None:
    assert message_id_for("a/b/0") == message_id_for("a/b/0")
    assert message_id_for("a/b/0") != message_id_for("a/b/1")
    assert message_id_for("a/b/0").endswith("@playbook.local>")
