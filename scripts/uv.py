"""Run the pinned uv, installing it first into a cached virtualenv: `python3 scripts/uv.py ARGS`.

Standard library only, so it works on a fresh machine with nothing but Python 3.11+: the
uv it needs goes into its own virtualenv (made by `venv`, with that venv's pip, so a
Debian "externally managed" system Python is no obstacle), under the user's cache
directory, once per uv version. Nothing is added to PATH and no variable has to be set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

UV_VERSION = "0.13.9"


def cache_dir() -> Path:
    """Where taskapp's development tools live: $XDG_CACHE_HOME or ~/.cache, taskapp-dev."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "taskapp-dev"


def uv_path(home: Path) -> Path:
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    return home / scripts / ("uv.exe" if sys.platform == "win32" else "uv")


def install(home: Path) -> None:
    """Build the venv beside `home` and rename it into place, so a race or a crash never
    leaves a half-made one where the next run would trust it."""
    home.parent.mkdir(parents=True, exist_ok=True)
    print(f"scripts/uv.py: installing uv=={UV_VERSION} into {home}", file=sys.stderr)
    building = Path(tempfile.mkdtemp(prefix=f".{home.name}-", dir=home.parent))
    try:
        venv.create(building, with_pip=True, clear=True)
        python = building / ("Scripts" if sys.platform == "win32" else "bin") / "python"
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             f"uv=={UV_VERSION}"],
            check=True,
        )  # fmt: skip
        building.rename(home)
    except OSError:
        if not uv_path(home).exists():  # not just another run that got there first
            raise
    finally:
        shutil.rmtree(building, ignore_errors=True)


def main() -> None:
    home = cache_dir() / f"uv-{UV_VERSION}"
    if not uv_path(home).exists():
        try:
            install(home)
        except (OSError, subprocess.CalledProcessError) as exc:
            sys.exit(f"scripts/uv.py: could not install uv=={UV_VERSION} into {home}: {exc}")
    uv = str(uv_path(home))
    if sys.platform == "win32":  # no exec there: wait for it and pass its exit code on
        sys.exit(subprocess.run([uv, *sys.argv[1:]], check=False).returncode)
    os.execv(uv, [uv, *sys.argv[1:]])


if __name__ == "__main__":
    main()
