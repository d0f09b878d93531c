"""Cold start: ``playbook validate playbooks/*.playbook`` in a fresh process against
a bare ``python -c pass``, printed as a ratio (issue 15 target: under 0.5 s). Prints
figures; asserts only that validate succeeded."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNS = 5


def _best(argv: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        done = subprocess.run(argv, cwd=REPO, capture_output=True, check=False)
        times.append(time.perf_counter() - began)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    return statistics.median(times)


def test_cold_validate_vs_bare_python() -> None:
    files = [str(p) for p in sorted((REPO / "playbooks").glob("*.playbook"))]
    bare = _best([sys.executable, "-c", "pass"])
    validate = _best([sys.executable, "-m", "cli.app", "validate", *files])
    print(
        f"\ncold start (median of {RUNS}): playbook validate {len(files)} files "
        f"{validate * 1000:.0f} ms, bare python {bare * 1000:.0f} ms, "
        f"ratio {validate / bare:.1f}x (target: under 500 ms)"
    )
