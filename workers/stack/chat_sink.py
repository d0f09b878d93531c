"""The chat sink: a Slack-compatible incoming-webhook server that keeps every post.

``POST /CHANNEL`` with a JSON body (``{"text": "..."}``, as Slack's incoming
webhooks take) is kept in the chat box (``workers.adapters.chatbox``) and
answered ``ok``, as Slack answers. Nothing is relayed. On the local stack every
notify channel without a webhook of its own points here
(``workers.activities.webhook_url``), so notifications are visible:
``playbook notify ls``.

    python -m workers.stack.chat_sink --host 127.0.0.1 --port 8026 --folder .state/chat
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from workers.adapters.chatbox import ChatBox, valid_channel

MAX_POST = 64 * 1024


def handler_for(box: ChatBox) -> type[BaseHTTPRequestHandler]:
    """The request handler keeping posts in ``box``."""

    class KeepPosts(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server protocol
            channel = self.path.strip("/").split("?", 1)[0]
            length = int(self.headers.get("Content-Length") or 0)
            if not valid_channel(channel):
                self._answer(404, "no_such_channel")
                return
            if length > MAX_POST:
                self._answer(413, "too_large")
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._answer(400, "invalid_payload")
                return
            if not isinstance(body, dict):
                self._answer(400, "invalid_payload")
                return
            box.keep(channel, body)
            self._answer(200, "ok")

        def do_GET(self) -> None:  # noqa: N802 - a health check
            self._answer(200, "chat sink")

        def _answer(self, status: int, text: str) -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            print(f"{self.address_string()} {format % args}", flush=True)

    return KeepPosts


def in_thread(box: ChatBox, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A started sink serving from a background thread (for tests); ``.shutdown()``
    it. With ``port=0`` a free port is chosen: ``server.server_address[1]``."""
    server = ThreadingHTTPServer((host, port), handler_for(box))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Chat sink keeping every webhook post")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args(argv)
    box = ChatBox(args.folder)
    server = ThreadingHTTPServer((args.host, args.port), handler_for(box))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"chat sink on {args.host}:{args.port}, keeping posts in {args.folder}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
