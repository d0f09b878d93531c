"""Journey email: render a template, build the message, send it exactly once.

Templates live in ``playbooks/templates``: ``NAME.txt.j2`` (required; its first
line is ``Subject: ...``, then a blank line, then the body) and optionally
``NAME.html.j2``. They render in Jinja2's sandbox, the HTML one autoescaped.
Missing facts render empty rather than failing the send (a template reading
``nps.comment`` for an account without NPS is normal), but each one that
reaches the output is logged.

Idempotency (a retried activity never sends twice). The ``emails`` table holds
one row per idempotency key. ``deliver`` first *claims* the key by inserting a
``sending`` row, then talks SMTP, then marks the row ``sent`` (or ``bounced``
on a 5xx). A second attempt that finds ``sent`` or ``bounced`` does nothing.
The row says ``sent`` the moment the server has taken the message (its reply
to DATA, before the goodbye). If Postgres is away then, the mark is tried again,
and the worker remembers the message in its journal of accepted messages
(``AcceptedJournal``: in memory, and on disk in its state folder as soon as a
mark fails): its next attempt, in this process or in the worker that replaces
it after a crash, marks it without sending. The windows left: a crash of the
worker between the server's acceptance and the row (or the journal line) saying
so, a few milliseconds; a retry on another machine while Postgres is away. Then
the retry finds ``sending`` and sends again. We chose at-least-once over
at-most-once there (a renewal notice lost for ever is worse than a rare
duplicate), and made the duplicate detectable: the
Message-ID is derived from the idempotency key, so both copies carry the same
``<sha256(key)[:32]@playbook.local>`` and mail clients, the SMTP sink and
reports can collapse them.

Errors: a 5xx reply is permanent (``PermanentEmailFailure``, recorded as
bounced); 4xx replies, timeouts and refused connections are transient
(``TransientEmailFailure``): the row is marked ``failed`` with the error (so it
never stays ``sending``), and the activity is retried; a retry claims the
``failed`` row again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any, Protocol

import aiosmtplib
from jinja2 import ChainableUndefined, TemplateError, TemplateNotFound, make_logging_undefined
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from workers.adapters.quote import for_display

log = logging.getLogger("playbook.email")

MESSAGE_ID_DOMAIN = "playbook.local"
JOURNEY_HEADER = "X-Playbook-Journey"
KEY_HEADER = "X-Playbook-Key"


class EmailFailure(Exception):
    """Sending an email failed."""


class TemplateProblem(EmailFailure):
    """The template is missing or broken: a retry cannot fix it."""


class PermanentEmailFailure(EmailFailure):
    """The SMTP server refused the message for good (5xx): a retry cannot fix it."""


class TransientEmailFailure(EmailFailure):
    """The SMTP server was unreachable or said "try later" (4xx): retry."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What ``deliver`` did: ``sent`` now, or found it ``already`` done."""

    status: str  # sent | already_sent | already_bounced
    message_id: str


# --------------------------------------------------------------------------- templates


class EmailTemplates:
    """The email templates of one directory, rendered in Jinja2's sandbox."""

    def __init__(self, directory: Path) -> None:
        from jinja2 import FileSystemLoader, select_autoescape

        self.directory = Path(directory)
        self._env = _StrictSandbox(
            loader=FileSystemLoader(str(self.directory)),
            autoescape=select_autoescape(enabled_extensions=("html.j2", "html")),
            undefined=make_logging_undefined(log, ChainableUndefined),
            keep_trailing_newline=True,
        )

    def names(self) -> list[str]:
        """Template names (``renewal_statement``...) that have a text part."""
        return sorted(p.name[: -len(".txt.j2")] for p in self.directory.glob("*.txt.j2"))

    def render(self, name: str, context: dict[str, Any]) -> RenderedEmail:
        """Render template ``name``; raises ``TemplateProblem`` if it is missing or broken."""
        try:
            text = self._env.get_template(f"{name}.txt.j2").render(context)
        except TemplateNotFound as error:
            raise TemplateProblem(
                f"no email template {name!r} ({self.directory / (name + '.txt.j2')} is missing)"
            ) from error
        except TemplateError as error:
            raise TemplateProblem(f"email template {name}.txt.j2: {error}") from error
        subject, body = split_subject(text, name)
        html: str | None = None
        try:
            html = self._env.get_template(f"{name}.html.j2").render(context)
        except TemplateNotFound:
            html = None
        except TemplateError as error:
            raise TemplateProblem(f"email template {name}.html.j2: {error}") from error
        return RenderedEmail(subject=subject, text=body, html=html)


class _StrictSandbox(SandboxedEnvironment):
    """The sandbox, but an unsafe attribute access fails the render instead of
    rendering empty (tolerance is for missing facts, not for escape attempts)."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )


# Keys of the facts that are no fact group of their own.
_NOT_GROUPS = frozenset({"contacts", "contacts_by_role", "answers", "event", "journey"})


def template_context(
    facts: dict[str, Any],
    contact: dict[str, Any],
    *,
    unsubscribe_url: str = "",
    answers: dict[str, Any] | None = None,
    question: dict[str, Any] | None = None,
    links: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The names a template sees: the fact roots (a team's own groups, ``support``,
    too), the recipient as ``contact``, earlier ``answers``, and for questions
    ``question`` (prompt, choices) and ``links`` (choice name -> signed URL)."""
    context: dict[str, Any] = {
        root: dict(facts.get(root) or {})
        for root in ("account", "subscription", "usage", "nps", "quote")
    }
    for root, values in facts.items():  # the groups a team's data model declares
        if root not in context and root not in _NOT_GROUPS and isinstance(values, dict):
            context[root] = dict(values)
    if context["quote"]:
        context["quote"] = for_display(context["quote"])
    context["contacts"] = dict(facts.get("contacts") or {})
    context["contact"] = dict(contact)
    context["answers"] = dict(answers or facts.get("answers") or {})
    context["unsubscribe_url"] = unsubscribe_url
    if question is not None:
        context["question"] = question
        context["links"] = dict(links or {})
    return context


def split_subject(text: str, name: str = "") -> tuple[str, str]:
    """``Subject: ...`` on the first line, a blank line, the body."""
    first, _, rest = text.lstrip("\n").partition("\n")
    if not first.lower().startswith("subject:"):
        raise TemplateProblem(f"email template {name}.txt.j2 must start with 'Subject: ...'")
    # One line, whatever the facts held: a newline in a header would inject headers.
    subject = re.sub(r"\s+", " ", first[len("subject:") :]).strip()
    return subject, rest.lstrip("\n")


# --------------------------------------------------------------------------- messages


def message_id_for(idempotency_key: str) -> str:
    """The Message-ID of the email sent for an idempotency key: the same on every
    attempt, so a duplicate after a crash is recognisable."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{MESSAGE_ID_DOMAIN}>"


def build_message(
    rendered: RenderedEmail,
    *,
    sender: str,
    to_address: str,
    to_name: str = "",
    idempotency_key: str,
    journey_id: str,
    unsubscribe_url: str = "",
    date: datetime | None = None,
) -> EmailMessage:
    """A text (+ HTML alternative) message with the journey's headers."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((to_name, to_address)) if to_name else to_address
    message["Subject"] = rendered.subject
    message["Message-ID"] = message_id_for(idempotency_key)
    message[JOURNEY_HEADER] = journey_id
    message[KEY_HEADER] = idempotency_key
    if date is not None:
        message["Date"] = format_datetime(date)
    if unsubscribe_url:
        # RFC 8058 one-click: the mail client POSTs "List-Unsubscribe=One-Click" to
        # the URL (a GET of it only shows a button: scanners fetch links).
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    if rendered.html:
        message.add_alternative(rendered.html, subtype="html")
    return message


# --------------------------------------------------------------------------- the log


class EmailLog(Protocol):
    """Where ``deliver`` keeps the state of each idempotency key."""

    async def claim(self, key: str, row: dict[str, Any]) -> str | None:
        """Insert a ``sending`` row for ``key`` (or take back a ``failed`` one);
        return the status already there (``sending``/``sent``/``bounced``) or None
        if this call claimed it."""
        ...

    async def mark(self, key: str, status: str, error: str = "") -> None:
        """Set the status of the row of ``key`` (``error`` says why it failed)."""
        ...


class PostgresEmailLog:
    """``EmailLog`` on the ``emails`` table (workers/adapters/migrations/001_core.sql)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def claim(self, key: str, row: dict[str, Any]) -> str | None:
        async with self.pool.acquire() as conn:
            inserted = await conn.fetchval(
                """
                INSERT INTO emails (idempotency_key, journey_id, step_id, account_id,
                                    contact_id, to_address, template, subject, message_id,
                                    status, playbook_time)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'sending', $10)
                ON CONFLICT (idempotency_key) DO NOTHING
                RETURNING id
                """,
                key,
                row.get("journey_id", ""),
                row.get("step_id", ""),
                row.get("account_id", ""),
                row.get("contact_id", ""),
                row.get("to_address", ""),
                row.get("template", ""),
                row.get("subject", ""),
                row.get("message_id", ""),
                row.get("playbook_time"),
            )
            if inserted is not None:
                return None
            # An earlier attempt failed (an outage): this one takes the row back.
            retaken = await conn.fetchval(
                "UPDATE emails SET status = 'sending', to_address = $2, error = '' "
                "WHERE idempotency_key = $1 AND status = 'failed' RETURNING id",
                key,
                row.get("to_address", ""),
            )
            if retaken is not None:
                return None
            return await conn.fetchval("SELECT status FROM emails WHERE idempotency_key = $1", key)

    async def status(self, key: str) -> str | None:
        """``sending``, ``sent``, ``bounced``, ``failed``, or None if ``key`` was never
        attempted."""
        return await self.pool.fetchval("SELECT status FROM emails WHERE idempotency_key = $1", key)

    async def mark(self, key: str, status: str, error: str = "") -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE emails SET status = $2, sent_at = now(), error = $3 "
                "WHERE idempotency_key = $1",
                key,
                status,
                error,
            )


# --------------------------------------------------------------------------- sending


class Mailer:
    """Sends messages over SMTP (the local sink or a real relay)."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    async def send(
        self,
        message: EmailMessage,
        accepted: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Send one message; raises ``PermanentEmailFailure`` or ``TransientEmailFailure``.
        ``accepted`` runs the moment the server has taken the message (its reply to
        DATA), before the goodbye: the log says ``sent`` as soon as it is true."""
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout)
        try:
            await smtp.connect()
            await smtp.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [r.code for r in error.recipients]
            words = "; ".join(f"{r.code} {r.message}" for r in error.recipients)
            if codes and all(code >= 500 for code in codes):
                raise PermanentEmailFailure(f"recipient refused: {words}") from error
            raise TransientEmailFailure(f"recipient deferred: {words}") from error
        except aiosmtplib.SMTPResponseException as error:
            words = f"{error.code} {error.message}"
            if error.code >= 500:
                raise PermanentEmailFailure(f"SMTP server refused the message: {words}") from error
            raise TransientEmailFailure(f"SMTP server said try later: {words}") from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            smtp.close()
            raise TransientEmailFailure(
                f"cannot reach the SMTP server at {self.host}:{self.port}: {error}"
            ) from error
        try:
            if accepted is not None:
                await accepted()
        finally:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()  # the message is taken; a lost goodbye changes nothing


class AcceptedJournal:
    """Messages the SMTP server took whose ``sent`` mark may not be written yet.

    A key goes in (in memory) the moment the server accepts its message and
    comes out once the mark is written. When a mark fails, the key is also kept
    on disk, with a ``path`` (in the worker's state folder): a line appended to
    that file and flushed, so a worker killed while Postgres is away leaves the
    key for the worker that replaces it, which marks the message instead of
    sending it again. A mark that works at once costs no disk write. Without a
    path the journal lives in this process only.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._keys: dict[str, str] = {}
        self._on_disk: set[str] = set()
        if path is not None and path.exists():
            self._keys = self._read(path)
            self._on_disk = set(self._keys)
            self._rewrite()

    @staticmethod
    def _read(path: Path) -> dict[str, str]:
        keys: dict[str, str] = {}
        for line in path.read_text(errors="replace").splitlines():
            mark, _, rest = line.partition("\t")
            key, _, message_id = rest.partition("\t")
            if mark == "+" and key:
                keys[key] = message_id
            elif mark == "-":
                keys.pop(key, None)
        return keys

    def _rewrite(self) -> None:
        """Keep only the keys still unmarked (the file does not grow for ever)."""
        assert self.path is not None
        spare = self.path.with_suffix(".tmp")
        spare.write_text("".join(f"+\t{k}\t{m}\n" for k, m in self._keys.items()))
        spare.replace(self.path)

    def _append(self, line: str) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as journal:
            journal.write(line)
            journal.flush()
            os.fsync(journal.fileno())

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def remember(self, key: str, message_id: str) -> None:
        self._keys[key] = message_id

    async def keep(self, key: str) -> None:
        """Put ``key`` on disk too: its mark failed, the worker may die before the next."""
        if self.path is not None and key in self._keys and key not in self._on_disk:
            await asyncio.to_thread(self._append, f"+\t{key}\t{self._keys[key]}\n")
            self._on_disk.add(key)

    async def forget(self, key: str) -> None:
        self._keys.pop(key, None)
        if key in self._on_disk and self.path is not None:
            await asyncio.to_thread(self._append, f"-\t{key}\t\n")
            self._on_disk.discard(key)


# Where ``deliver`` keeps accepted messages when its caller names no journal.
_IN_PROCESS = AcceptedJournal()
MARK_TRIES = 3
MARK_PAUSE = 0.5  # seconds between tries of the ``sent`` mark


class LogUnavailable(EmailFailure):
    """The email was sent but the log could not say so (the database is away): the
    activity is retried, and the retry marks it without sending again."""


async def _mark_sent(log_: EmailLog, key: str, journal: AcceptedJournal) -> None:
    for attempt in range(MARK_TRIES):
        try:
            await log_.mark(key, "sent")
            await journal.forget(key)
            return
        except Exception:  # the store's own errors, whatever the driver: retried
            await journal.keep(key)
            if attempt == MARK_TRIES - 1:
                raise
            await asyncio.sleep(MARK_PAUSE)


async def deliver(
    mailer: Mailer,
    log_: EmailLog,
    message: EmailMessage,
    row: dict[str, Any],
    journal: AcceptedJournal | None = None,
) -> Outcome:
    """Send ``message`` once per ``row["idempotency_key"]`` (see the module docstring)."""
    journal = journal if journal is not None else _IN_PROCESS
    key = row["idempotency_key"]
    message_id = str(message["Message-ID"])
    if key in journal:  # sent by an earlier attempt, only the mark was lost
        try:
            await _mark_sent(log_, key, journal)
        except Exception as error:
            raise LogUnavailable(f"sent, but the email log cannot say so yet: {error}") from error
        return Outcome("already_sent", message_id)
    existing = await log_.claim(key, {**row, "message_id": message_id})
    if existing == "sent":
        return Outcome("already_sent", message_id)
    if existing == "bounced":
        return Outcome("already_bounced", message_id)
    if existing == "sending":
        log.warning(
            "email %s: an earlier attempt may have sent it; sending again as %s", key, message_id
        )

    async def accepted() -> None:
        journal.remember(key, message_id)
        await _mark_sent(log_, key, journal)

    try:
        await mailer.send(message, accepted)
    except PermanentEmailFailure as error:
        await log_.mark(key, "bounced", str(error))
        raise
    except TransientEmailFailure as error:
        await log_.mark(key, "failed", str(error))
        raise
    except Exception as error:
        if key in journal:
            raise LogUnavailable(f"sent, but the email log cannot say so yet: {error}") from error
        raise
    return Outcome("sent", message_id)
