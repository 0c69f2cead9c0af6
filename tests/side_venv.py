"""Side virtualenvs for interop peers that cannot share the test venv, built from a lock.

A peer such as the mcp 2.x client (tests/mcp2/) needs packages that conflict with the test
venv's own. `side_venv(name, lockfile)` returns the Python of a venv holding exactly what
`lockfile` (a hashed `uv pip compile` output) pins, built once with uv and cached under
$XDG_CACHE_HOME or ~/.cache/taskapp-dev, keyed by the lock and this Python:
change the lock and the next run builds a new one. It is built in a temporary directory and
renamed into place, so a crash never leaves a half-made venv and two runs may race.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest
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


def skip_or_fail(reason: str, what: str) -> NoReturn:
    """Skip the test with `reason`; in CI (CI is set), where `what` must run, fail it."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run {what}", pytrace=False)
    pytest.skip(reason)


@functools.cache
def _peer_python(
    name: str, lockfile: Path, env_var: str, versions: tuple[tuple[str, str], ...]
) -> tuple[str | None, str | None]:
    python = os.environ.get(env_var)
    where = f"{env_var}={python}"
    wanted = ", ".join(f"{package}=={version}" for package, version in versions)
    if not python:
        where = f"the {name} virtualenv"
        try:
            python = side_venv(name, lockfile)
        except SideVenvError as exc:
            return None, (
                f"cannot build the {name} virtualenv from {lockfile.name} ({exc}): give this "
                f"machine access to PyPI once (it is cached), or set {env_var} to a Python "
                f"with {wanted}"
            )
    packages = ", ".join(f"m.version({package!r})" for package, _ in versions)
    probe = f"import importlib.metadata as m; print({packages})"
    try:
        found = subprocess.run(
            [python, "-c", probe], capture_output=True, text=True, timeout=60, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{where} cannot report the versions of its packages ({exc})"
    if found != [version for _, version in versions]:
        return None, f"{where} has {' '.join(found)}, not {wanted}"
    return python, None


def peer_python(
    name: str, lockfile: Path, *, env_var: str, versions: dict[str, str], what: str
) -> str:
    """The Python of a peer's side venv: the one `env_var` names, or `side_venv(name,
    lockfile)`, checked to hold exactly `versions`. Without one the test is skipped with
    the reason, or failed in CI, where `what` must run (`skip_or_fail`)."""
    python, problem = _peer_python(name, lockfile, env_var, tuple(versions.items()))
    if python is None:
        skip_or_fail(problem or f"no Python for {name}", what)
    return python
