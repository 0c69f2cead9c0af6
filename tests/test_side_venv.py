"""tests/side_venv.py: a venv per lock, built once, cached by the lock, never half-made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .side_venv import SideVenvError, peer_python, side_venv, venv_path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "taskapp-dev"


def lock(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "requirements.lock"
    path.write_text(text)
    return path


def test_a_venv_is_built_once_and_then_reused(tmp_path: Path, cache: Path) -> None:
    lockfile = lock(tmp_path, "# nothing to install\n")
    python = side_venv("empty", lockfile)
    assert Path(python).is_relative_to(venv_path("empty", lockfile))
    ran = subprocess.run([python, "-c", "print(40 + 2)"], capture_output=True, text=True)
    assert ran.stdout.strip() == "42"
    assert side_venv("empty", lockfile) == python
    assert [p.name for p in cache.iterdir()] == [venv_path("empty", lockfile).name]


def test_another_lock_gets_another_venv(tmp_path: Path, cache: Path) -> None:
    first = side_venv("empty", lock(tmp_path, "# one\n"))
    second = side_venv("empty", lock(tmp_path, "# two\n"))
    assert first != second
    assert len(list(cache.iterdir())) == 2


def test_a_failed_build_says_why_and_leaves_nothing(tmp_path: Path, cache: Path) -> None:
    lockfile = lock(tmp_path, "this is not a requirement !!\n")
    with pytest.raises(SideVenvError, match=r"`uv pip sync` failed: .+"):
        side_venv("broken", lockfile)
    assert list(cache.iterdir()) == []  # no half-made venv for the next run to trust


def test_a_peer_python_is_checked_for_its_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Python named by the variable must hold the pinned versions: outside CI a
    mismatch skips with both versions named, in CI it fails."""
    monkeypatch.setenv("TASKAPP_TEST_PEER", sys.executable)
    pinned = {"pytest": pytest.__version__}
    args = ("peer", lock(tmp_path, ""))
    assert peer_python(*args, env_var="TASKAPP_TEST_PEER", versions=pinned, what="x") == (
        sys.executable
    )
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=rf"has {pytest.__version__}, not pytest==0\.1"):
        peer_python(*args, env_var="TASKAPP_TEST_PEER", versions={"pytest": "0.1"}, what="x")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="; CI must run the peer tests"):
        peer_python(
            *args, env_var="TASKAPP_TEST_PEER", versions={"pytest": "0.2"}, what="the peer tests"
        )
