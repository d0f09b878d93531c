"""``--json``: what a verb prints as a table or text, as JSON on stdout (indented,
dates as ISO text), for scripts and ``jq``. Services return dataclasses and
pydantic models; both become JSON here, the one way every verb does it."""

from __future__ import annotations

import json
from typing import Any

import typer
from pydantic_core import to_jsonable_python

JSON_HELP = "Print it as JSON (the same rows as the table)."


def print_json(value: Any) -> None:
    """``value`` (dataclasses, pydantic models, dates...) as indented JSON."""
    typer.echo(json.dumps(to_jsonable_python(value), indent=2, ensure_ascii=False))
