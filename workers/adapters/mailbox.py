"""The SMTP sink's mailbox: every message the local stack "sent", kept as a Maildir.

Why a Maildir and not a Postgres table: the sink stands in for an outside mail
provider, so it must not share the journey database (a test counting deliveries
must see what really crossed SMTP, not what the store logged), it has to work
when Postgres is external or down, each delivery is one atomic file rename
(no lost or half-written messages, no locks between the sink and readers), and
any mail tool can open the folder.

File names are ``<received ns>.<id>.playbook``; the id (10 hex digits) is what
``playbook mail ls`` shows and ``playbook mail show ID`` takes.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

ENVELOPE_FROM = "X-Envelope-From"
ENVELOPE_TO = "X-Envelope-To"
_LINK = re.compile(r"""https?://[^\s"'<>()\]]+""")
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def mail_dir(state_dir: Path) -> Path:
    """Where the local stack's sink keeps its Maildir."""
    return state_dir / "mail"


class MessageNotFound(KeyError):
    """No message with this id (or id prefix) in the mailbox."""


@dataclass(frozen=True)
class MailSummary:
    """One line of ``playbook mail ls``."""

    id: str
    received_at: datetime
    sender: str
    to: list[str]
    subject: str
    message_id: str


@dataclass(frozen=True)
class Mail:
    """One message as ``playbook mail show`` prints it."""

    summary: MailSummary
    headers: list[tuple[str, str]]
    text: str
    html: str
    links: list[str] = field(default_factory=list)


class Mailbox:
    """A Maildir written by the sink (``deliver``) and read by the CLI and tests."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def ensure(self) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)

    def deliver(self, envelope_from: str, envelope_to: list[str], content: bytes) -> str:
        """Keep one message (the Maildir way: write in tmp/, rename into new/); return its id."""
        self.ensure()
        message_id = uuid.uuid4().hex[:10]
        name = f"{datetime.now(UTC).timestamp() * 1e9:.0f}.{message_id}.playbook"
        trace = (
            f"{ENVELOPE_FROM}: {envelope_from}\r\n{ENVELOPE_TO}: {', '.join(envelope_to)}\r\n"
        ).encode()
        staging = self.folder / "tmp" / name
        with open(staging, "wb") as handle:
            handle.write(trace + content)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(staging, self.folder / "new" / name)
        return message_id

    def _files(self) -> list[Path]:
        files = [
            path
            for sub in ("new", "cur")
            if (self.folder / sub).is_dir()
            for path in (self.folder / sub).iterdir()
            if path.name.count(".") >= 2
        ]
        return sorted(files, key=lambda path: int(path.name.split(".")[0]))

    def _parse(self, path: Path) -> tuple[MailSummary, EmailMessage]:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        stamp, ident = path.name.split(".")[:2]
        envelope_to = [a.strip() for a in str(message.get(ENVELOPE_TO, "")).split(",") if a]
        summary = MailSummary(
            id=ident,
            received_at=datetime.fromtimestamp(int(stamp) / 1e9, UTC),
            sender=str(message.get("From", message.get(ENVELOPE_FROM, ""))),
            to=envelope_to or [str(message.get("To", ""))],
            subject=str(message.get("Subject", "")),
            message_id=str(message.get("Message-ID", "")),
        )
        return summary, message

    def list(self, to: str | None = None, limit: int | None = None) -> list[MailSummary]:
        """Messages oldest first; ``to`` keeps those with a recipient containing it
        (case-insensitive); ``limit`` keeps the newest ``limit``."""
        found = [self._parse(path)[0] for path in self._files()]
        if to:
            needle = to.lower()
            found = [m for m in found if any(needle in r.lower() for r in m.to)]
        if limit is not None:
            found = found[-limit:] if limit > 0 else []
        return found

    def get(self, ident: str) -> Mail:
        """One message by id (or a unique prefix of it). Raises ``MessageNotFound``."""
        matches = [p for p in self._files() if p.name.split(".")[1].startswith(ident)]
        if len(matches) != 1 or not ident:
            raise MessageNotFound(ident)
        summary, message = self._parse(matches[0])
        text = _part(message, "plain")
        html = _part(message, "html")
        return Mail(
            summary=summary,
            headers=[(k, str(v)) for k, v in message.items()],
            text=text,
            html=html,
            links=links(text, html),
        )


def _part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    if body is None or body.get_content_subtype() != subtype:
        return ""
    content = body.get_content()
    return content if isinstance(content, str) else ""


def links(text: str, html: str = "") -> list[str]:
    """Every distinct URL in the text part and the html hrefs, in order of appearance."""
    seen: dict[str, None] = {}
    for url in [*_LINK.findall(text), *_HREF.findall(html)]:
        url = url.rstrip(".,;").replace("&amp;", "&")
        if url.startswith(("http://", "https://")):
            seen.setdefault(url, None)
    return list(seen)
