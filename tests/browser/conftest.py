"""Fixtures for tests in a REAL headless Chromium (Debian's ``chromium`` and
``chromium-driver``), driven by selenium.

- ``browser``: a Chrome WebDriver on /usr/bin/chromium through
  /usr/bin/chromedriver, headless, no network chatter of its own, a fresh
  profile; the test is skipped (with the reason) when either binary or selenium
  is missing, so a machine without a browser never fails the suite.
- ``web_endpoint``: a real ``python -m workers.web.app`` process on a free port,
  on a database of the test's own (``fresh_dsn``), with no Temporal (journey
  counts come from the journey events); yields its base URL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
# Startup waits are bounded by attempts, not asserted on (as in tests/conftest.py).
_ATTEMPTS = 600
_PAUSE = 0.1
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1300,2200",
)


def _missing_browser() -> str | None:
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not binary.exists():
            return f"{binary} is absent (apt-get install -y {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless Chromium WebDriver with a fresh profile, quit afterwards."""
    reason = _missing_browser()
    if reason is not None:
        pytest.skip(f"no headless Chromium: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="playbook-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def web_endpoint(fresh_dsn: str, tmp_path: Path) -> Iterator[str]:
    """``python -m workers.web.app`` on a free port and the test's own database."""
    from workers.stack.supervisor import free_port

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": fresh_dsn,
        "TEMPORAL_ADDRESS": "127.0.0.1:1",  # nobody there: journey counts from the store
        "PLAYBOOK_DIR": str(ROOT / "playbooks"),
        "PLAYBOOK_STATE_DIR": str(tmp_path / "state"),
        "PLAYBOOK_LINK_SECRET": "browser-test",
        "PLAYBOOK_WEBHOOK_SECRET": "browser-test",
    }
    log = open(tmp_path / "web.log", "wb")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.web.app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(_ATTEMPTS):
            if process.poll() is not None:
                pytest.fail(f"the web endpoint exited; log: {tmp_path / 'web.log'}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(_PAUSE)
        else:
            pytest.fail(f"the web endpoint never answered; log: {tmp_path / 'web.log'}")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
