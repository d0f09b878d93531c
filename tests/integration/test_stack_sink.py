"""The SMTP sink fixture everyone's integration tests use: real SMTP in, Maildir out."""

from __future__ import annotations

import uuid
from email.message import EmailMessage

import aiosmtplib
import pytest

from workers.adapters.mailbox import links

pytestmark = pytest.mark.integration


async def test_sink_keeps_every_message_with_envelope_and_links(smtp_sink) -> None:  # noqa: ANN001
    to = f"rita+{uuid.uuid4().hex[:6]}@acme.example"
    for number in (1, 2):
        message = EmailMessage()
        message["From"] = "success@playbook.local"
        message["To"] = to
        message["Subject"] = f"Renewal statement {number}"
        message.set_content(f"Statement {number}: https://pay.example/q/{number}")
        message.add_alternative(
            f'<p><a href="https://app.example/answer?q={number}&amp;c=yes">Yes</a></p>',
            subtype="html",
        )
        await aiosmtplib.send(
            message,
            hostname=smtp_sink.host,
            port=smtp_sink.port,
            recipients=[to, "bcc@ops.example"],
        )
    kept = await smtp_sink.wait_for_messages(to, 2)
    assert [m.subject for m in kept] == ["Renewal statement 1", "Renewal statement 2"]
    assert kept[0].to == [to, "bcc@ops.example"]  # the envelope, Bcc included
    full = smtp_sink.read(kept[1].id[:6])
    assert full.text.strip() == "Statement 2: https://pay.example/q/2"
    assert full.links == ["https://pay.example/q/2", "https://app.example/answer?q=2&c=yes"]


def test_links_are_found_once_in_order() -> None:
    text = "Yes: http://a.example/y. No: http://a.example/n, again http://a.example/y"
    assert links(text, '<a href="http://a.example/n">') == [
        "http://a.example/y",
        "http://a.example/n",
    ]
