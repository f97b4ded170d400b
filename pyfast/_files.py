"""Files: writing so that a failed or interrupted write never replaces a good one, and finding
the media files below a folder (no torch import)."""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

_counter = itertools.count()
PARTIAL_MARK = ".partial-"  # in the names of temporary files; folder scans skip them


def existing_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` as a Path, checked to be a file (or a link to one) that exists.

    Raises:
        FileNotFoundError: nothing there ("no such {what}: PATH").
        IsADirectoryError: a folder there.
        ValueError: something else there (a device, a pipe).
    """
    path = Path(path)
    if path.is_file():
        return path
    a_what = f"{'an' if what[:1].lower() in 'aeiou' else 'a'} {what}"
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not {a_what}")
    if path.exists():
        raise ValueError(f"{path} is not a regular file, so not {a_what}")
    raise FileNotFoundError(f"no such {what}: {path}")


@contextmanager
def replaced_on_success(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path next to ``path`` (same suffix, so writers that go by the
    extension pick the same format) to write to. When the block finishes, the temporary
    file atomically replaces ``path``; when it raises (or is interrupted), the temporary
    file is removed and whatever was at ``path`` before is left as it was.

    A symbolic link at ``path`` is written through (its target is replaced), and an
    existing file keeps its permission bits. Creates the parent folders.

    Raises:
        PermissionError: the folder cannot be written (the temporary file needs it).
        OSError: from the writer or the replacement, naming ``path``, not the temporary file.
    """
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"cannot write {path}: its folder is not writable")
    temporary = path.with_name(f".{path.stem[:120]}{PARTIAL_MARK}{os.getpid()}-{next(_counter)}{path.suffix}")
    try:
        yield temporary
        if path.exists():
            shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except OSError as exc:
        if str(temporary) in (str(exc.filename), str(exc.filename2)):
            raise OSError(exc.errno, f"cannot write {path} ({exc.strerror})") from None
        raise
    finally:
        temporary.unlink(missing_ok=True)


def _in_the_way(folder: Path) -> Path:
    """The nearest of ``folder`` and its parents that exists (a file, where a folder was asked for)."""
    return next(p for p in (folder, *folder.parents) if p.exists())


@contextmanager
def output_folders(folders: Iterable[str | os.PathLike]) -> Iterator[list[Path]]:
    """Creates each output folder (and its parents) and checks that a file can be created in it,
    before long work that ends by writing there; yields the folders it created. On leaving,
    those of them still empty are removed, so a failed run leaves no empty folders behind.

    Raises:
        OSError: a folder cannot be created or written in; the message names it.
    """
    created: list[Path] = []
    try:
        for folder in dict.fromkeys(Path(f) for f in folders):
            real = Path(os.path.realpath(folder))  # a link to a folder still to be made is written through
            missing = [p for p in (real, *real.parents) if not p.exists()]
            try:
                real.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise NotADirectoryError(errno.ENOTDIR, f"cannot create the output folder {folder}: "
                                         f"{_in_the_way(real)} exists and is not a folder") from None
            except OSError as exc:
                raise OSError(exc.errno, f"cannot create the output folder {folder} ({exc.strerror})") from None
            finally:
                created += [p for p in missing if p.is_dir()]  # parents made before a failure too
            try:
                handle, probe = tempfile.mkstemp(prefix=f".probe{PARTIAL_MARK}", dir=real)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot write in the output folder {folder} ({exc.strerror})") from None
            os.close(handle)
            os.unlink(probe)
        yield created
    finally:
        for folder in sorted(set(created), key=lambda p: len(p.parts), reverse=True):  # deepest first
            try:
                folder.rmdir()
            except OSError:  # not empty (something was written), or gone
                pass


def is_partial(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a temporary file of :func:`replaced_on_success` (left by a killed process)."""
    name = Path(path).name
    return name.startswith(".") and PARTIAL_MARK in name


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


def files_below(folder: str | os.PathLike, suffixes: Iterable[str],
                exclude: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Files below ``folder`` whose suffix (lower-cased) is in ``suffixes``, sorted.

    Follows symbolic links to folders (each real folder is read once, so a link loop ends),
    skips hidden temporary files of :func:`replaced_on_success` and everything below the
    ``exclude`` folders strictly inside ``folder`` (an output folder inside the input folder,
    say; ``folder`` itself is never excluded). Unreadable sub-folders are skipped.
    """
    suffixes = tuple(s.lower() for s in suffixes)
    # Only folders strictly below ``folder``: an output folder that is the input folder itself
    # leaves the scan alone (writing there is refused later, naming the clash).
    excluded = {os.path.realpath(e) for e in exclude} - {os.path.realpath(folder)}
    seen: set[str] = set()
    found = []
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen or real in excluded:
            dirs[:] = []
            continue
        seen.add(real)
        for name in names:
            path = Path(root, name)
            if path.suffix.lower() in suffixes and not is_partial(path) and path.is_file():
                found.append(path)
    return sorted(found)
