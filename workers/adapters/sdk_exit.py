"""Ending a process that has used the Temporal SDK.

The SDK's Rust threads can outlive interpreter finalisation and abort the
process (temporalio/sdk-python#300, "PyGILState_Release ... finalizing"), which
turned a successful `playbook ps` into exit 134 about one run in five. Once the
SDK's bridge is loaded, ``exit_process`` flushes the standard streams and leaves
without finalising; otherwise it exits normally. Imports nothing heavy, so the
`playbook` command can use it on every run.
"""

from __future__ import annotations

import os
import sys

_BRIDGE = "temporalio.bridge.temporal_sdk_bridge"


def exit_process(code: int) -> None:
    """Exit with ``code`` (see the module docstring)."""
    if _BRIDGE in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
