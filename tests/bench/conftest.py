"""Benchmarks run only when asked for by path (``make bench`` = ``pytest -q -s
tests/bench``); a plain ``pytest`` / ``make test`` run does not collect them, so
their minutes never count against the test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def _asked_for(config: pytest.Config) -> bool:
    """True if a path given on the command line is this folder or inside it."""
    for arg in config.invocation_params.args:
        text = str(arg)
        if text.startswith("-"):
            continue
        path = (Path(config.invocation_params.dir) / text.split("::", 1)[0]).resolve()
        if path == _HERE or _HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.name.startswith("test_") and not _asked_for(config):
        return True
    return None
