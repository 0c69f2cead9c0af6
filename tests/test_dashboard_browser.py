"""The dashboard in a real browser: Playwright drives Debian's headless chromium.

`taskapp run examples/hello.py:app --transport http --dashboard` serves a memory store;
tasks are made over MCP; the page shows a running task's status change, cancels
another, and shows it `cancelled`. Locally the test is skipped, with the reason, when
chromium or Playwright is missing; in CI (CI set) it fails instead. Set
TASKAPP_DASHBOARD_SCREENSHOT=path to save the page (docs/img/dashboard.png).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.clients import LegacyClient

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# The flags of the machine's notes: without the background-networking ones chromium
# keeps trying hosts this closed network refuses.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TOKEN = "dashboard-test-token"


def unavailable() -> str | None:
    """Why the browser test cannot run here, or None."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ModuleNotFoundError:
        return "the playwright package is missing (the test extra installs it)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server() -> Iterator[tuple[str, str]]:
    """The MCP URL and the dashboard's URL of a running server."""
    why = unavailable()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {why}")
        pytest.skip(why)
    mcp, dashboard = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "taskapp", "run", "examples/hello.py:app", "--transport", "http",
         "--port", str(mcp), f"--dashboard={dashboard}", "--dashboard-token", TOKEN],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        for _ in range(20):  # the banner, then the dashboard's address
            line = process.stderr.readline().decode()
            if "dashboard at" in line or not line:
                break
        assert f"dashboard at http://127.0.0.1:{dashboard}/" in line, line
        yield f"http://127.0.0.1:{mcp}/mcp", f"http://127.0.0.1:{dashboard}/"
    finally:
        process.terminate()
        process.communicate(timeout=20)


def start_task(url: str, **arguments: Any) -> str:
    async def call() -> str:
        async with LegacyClient(url) as client:
            created = await client.call_tool_as_task("slow_add", arguments)
            return created.task.task_id

    # In a thread of its own: Playwright's sync API runs an event loop in this one.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(anyio.run, call).result(timeout=30)


def test_the_page_follows_a_task_and_cancels_another(server: tuple[str, str]) -> None:
    from playwright.sync_api import expect, sync_playwright

    mcp, dashboard = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 700})
            page.goto(f"{dashboard}#token={TOKEN}")
            expect(page.locator("#live")).to_have_text("live")
            quick = start_task(mcp, a=2, b=3, steps=4, delay=0.75)
            slow = start_task(mcp, a=1, b=1, steps=200, delay=0.5)
            status = page.locator(f'tr[data-task-id="{quick}"] td.status')
            expect(status).to_have_text("working", timeout=10_000)  # a new task shows
            expect(status).to_have_text("completed", timeout=20_000)  # and then its end
            page.locator(f'tr[data-task-id="{slow}"]').click()
            expect(page.locator("#d-id")).to_have_text(slow)
            expect(page.locator('dd[data-field="owner"]')).to_contain_text("session:")
            expect(page.locator("#d-arguments")).to_contain_text('"steps": 200')
            page.locator("#cancel").click()
            expect(page.locator(f'tr[data-task-id="{slow}"] td.status')).to_have_text("cancelled")
            expect(page.locator('dd[data-field="status"]')).to_have_text("cancelled")
            expect(page.locator("#cancel")).to_be_disabled()  # terminal stays terminal
            expect(page.locator('#counts [data-status="cancelled"]')).to_have_text("cancelled 1")
            expect(page.locator("#error")).to_have_text("")
            shot = os.environ.get("TASKAPP_DASHBOARD_SCREENSHOT")
            if shot:
                page.screenshot(path=shot)
        finally:
            browser.close()
