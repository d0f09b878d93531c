"""The SMTP sink: an aiosmtpd server that accepts every message and keeps it.

Nothing is relayed. Messages land in a Maildir (see ``workers.adapters.mailbox`` for why).

    python -m workers.stack.smtp_sink --host 127.0.0.1 --port 8025 --maildir .state/mail
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from workers.adapters.mailbox import Mailbox


class KeepEverything:
    """aiosmtpd handler: every accepted message goes into the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        mailbox.ensure()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        self.mailbox.deliver(
            str(envelope.mail_from or ""), [str(r) for r in envelope.rcpt_tos], content
        )
        return "250 Message accepted for delivery"


def _smtp_factory(handler: KeepEverything) -> Any:
    return lambda: SMTP(handler, enable_SMTPUTF8=True)


def in_thread(mailbox: Mailbox, host: str = "127.0.0.1", port: int = 0) -> Controller:
    """A started sink serving from a background thread (for tests); ``.stop()`` it.
    With ``port=0`` a free port is chosen: read it from ``controller.port``."""
    if port == 0:
        from workers.stack.supervisor import free_port

        port = free_port(host)
    controller = Controller(KeepEverything(mailbox), hostname=host, port=port, enable_SMTPUTF8=True)
    controller.start()
    return controller


async def serve(host: str, port: int, mailbox: Mailbox) -> None:
    """Serve until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_smtp_factory(KeepEverything(mailbox)), host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"smtp sink on {host}:{port}, keeping mail in {mailbox.folder}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SMTP sink keeping every message")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, Mailbox(args.maildir)))


if __name__ == "__main__":
    main()
