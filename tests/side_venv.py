"""Side virtualenvs for interop peers that cannot share the test venv, built from a lock.

A peer such as the mcp 2.x client (tests/mcp2/) needs packages that conflict with the test
venv's own. `side_venv(name, lockfile)` returns the Python of a venv holding exactly what
`lockfile` (a hashed `uv pip compile` output) pins, built once with uv and cached under
$XDG_CACHE_HOME or ~/.cache/taskapp-dev, keyed by the lock and this Python:
change the lock and the next run builds a new one. It is built in a temporary directory and
renamed into place, so a crash never leaves a half-made venv and two runs may race.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from uv import find_uv_bin

TIMEOUT = 600  # seconds for each uv step: a cold cache downloads every wheel


class SideVenvError(Exception):
    """The side venv could not be built; the message says why and what to do."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "taskapp-dev"


def _python_in(venv: Path) -> Path:
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _uv(*args: str) -> None:
    try:
        subprocess.run(
            [find_uv_bin(), *args], capture_output=True, text=True, timeout=TIMEOUT, check=True
        )
    except subprocess.CalledProcessError as exc:
        said = " ".join(exc.stderr.split())[-600:]  # one line, for a skip reason
        raise SideVenvError(f"`uv {args[0]} {args[1]}` failed: {said}") from exc
    except (OSError, subprocess.SubprocessError) as exc:
        raise SideVenvError(f"`uv {args[0]} {args[1]}` failed: {exc}") from exc


def venv_path(name: str, lockfile: Path) -> Path:
    """Where the venv for `name` built from `lockfile` under this Python lives."""
    key = hashlib.sha256(lockfile.read_bytes())
    key.update(f"\0{sys.version}\0{sys.base_prefix}".encode())
    return cache_root() / f"{name}-{key.hexdigest()[:12]}"


def side_venv(name: str, lockfile: Path) -> str:
    """The Python of the venv for `name`, holding exactly what `lockfile` pins.

    Raises:
        SideVenvError: uv could not build it (most often: no network on a cold cache).
    """
    home = venv_path(name, lockfile)
    if _python_in(home).exists():
        return str(_python_in(home))
    home.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{home.name}-", dir=home.parent))
    try:
        venv = building / "venv"
        _uv("venv", "--quiet", "--relocatable", "--python", sys.executable, str(venv))
        _uv("pip", "sync", "--quiet", "--python", str(_python_in(venv)), str(lockfile))
        try:
            venv.rename(home)
        except OSError:
            if not _python_in(home).exists():  # not just a run that finished first
                raise
    except OSError as exc:
        raise SideVenvError(f"cannot build {home}: {exc}") from exc
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return str(_python_in(home))
