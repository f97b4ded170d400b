"""Exception messages shortened for one-line errors (no torch import: the runtime uses it)."""

from __future__ import annotations


def first_line(exc: BaseException, limit: int = 200, typed: bool = False) -> str:
    """The first non-empty line of ``exc``'s message, at most ``limit`` characters; the
    exception's type name when the message is empty. ``typed`` prefixes the type name
    ("EOFError: Ran out of input")."""
    line = next((text.strip() for text in str(exc).splitlines() if text.strip()), "")[:limit]
    if not line:
        return type(exc).__name__
    return f"{type(exc).__name__}: {line}" if typed else line


def error_text(exc: BaseException) -> str:
    """``exc``'s message for a user: an OSError about a file as "path: reason" (Python's
    "[Errno 2] No such file or directory: 'x'" otherwise), anything else as ``str(exc)``."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc)
