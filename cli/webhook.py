"""`playbook webhook sign`: the headers that sign a webhook body, for curl or a
sender being set up (Standard Webhooks: ``workers.services.webhook_signatures``).

    playbook webhook sign body.json
    echo '{"event":"renewed","account_id":"ACME-0042"}' | playbook webhook sign -
    playbook webhook sign body.json --curl http://127.0.0.1:8088/webhooks/crm

The secret is the installation's (PLAYBOOK_WEBHOOK_SECRET, else
``.state/webhook_secret``). Each run signs with a new id and the time now: the
endpoint takes a signature for five minutes and each id once.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from cli.errors import UserError
from workers import settings
from workers.services.webhook_signatures import signed_headers, webhook_secret

webhook = typer.Typer(
    name="webhook", help="Sign webhook requests (Standard Webhooks headers).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``webhook`` group to the command."""
    app.add_typer(webhook, name="webhook")


@webhook.command("sign")
def sign(
    body: str = typer.Argument(..., help="The JSON body: a file, or - for standard input."),
    curl: str = typer.Option("", "--curl", help="Print a curl command posting it to this URL."),
    webhook_id: str = typer.Option("", "--id", help="The webhook id (default: a new one)."),
) -> None:
    """Print the webhook-id, webhook-timestamp and webhook-signature headers for BODY."""
    try:
        content = sys.stdin.buffer.read() if body == "-" else Path(body).read_bytes()
    except OSError as error:
        raise UserError(f"cannot read {body}: {error.strerror}") from None
    headers = signed_headers(webhook_secret(settings.load()), content, webhook_id=webhook_id)
    if not curl:
        for name, value in headers.items():
            typer.echo(f"{name}: {value}")
        return
    parts = ["curl", "-sS", "-X", "POST", curl, "-H", "content-type: application/json"]
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    given = content.decode("utf-8", "replace") if body == "-" else f"@{body}"
    parts += ["--data-binary", given]
    typer.echo(shlex.join(parts))
