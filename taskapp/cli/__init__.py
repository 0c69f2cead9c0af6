"""The `taskapp` command: a thin shell over the programmatic API (`taskapp.cli:main`)."""

from .main import main as main

__all__ = ("main",)
