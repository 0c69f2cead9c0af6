"""Opaque listing cursors: "after sequence number N", tagged by the store that made them."""

from __future__ import annotations

import base64
import re

from .base import InvalidCursorError

_SHAPE = re.compile(r"([a-z]\d):(\d{1,19})")


def encode_cursor(tag: str, seq: int) -> str:
    """A cursor meaning "after `seq`"; `tag` (e.g. "m1") names the store and its format."""
    return base64.urlsafe_b64encode(f"{tag}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(tag: str, cursor: str | None) -> int:
    """The sequence number in a cursor made by `encode_cursor(tag, ...)`; 0 for None.

    Raises InvalidCursorError for anything else, another store's cursors included.
    """
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    match = _SHAPE.fullmatch(text)
    if match is None or match.group(1) != tag:
        raise InvalidCursorError(f"invalid cursor {cursor!r}")
    return int(match.group(2))
