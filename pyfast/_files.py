"""Writing files so that a failed or interrupted write never replaces a good one (no torch import)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_counter = itertools.count()


@contextmanager
def replaced_on_success(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path next to ``path`` (same suffix, so writers that go by the
    extension pick the same format) to write to. When the block finishes, the temporary
    file atomically replaces ``path``; when it raises (or is interrupted), the temporary
    file is removed and whatever was at ``path`` before is left as it was. Creates the
    parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.partial-{os.getpid()}-{next(_counter)}{path.suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file: the same resolved path, or two existing paths
    to one file (a hard link, another spelling on a case-insensitive file system)."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False
