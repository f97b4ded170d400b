"""Reading ``torch.save`` files safely (``weights_only=True``) with one-line errors."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from ._errors import first_line
from ._files import existing_file


def load_torch_file(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    what: str = "file") -> object:
    """``torch.load(path, weights_only=True)``: no code in the file is run.

    Args:
        path: the file. map_location: where tensors go. what: how a missing file is named
            ("no such {what}: PATH"), e.g. "model file" or "checkpoint".

    Raises:
        FileNotFoundError / IsADirectoryError: no such file; a folder.
        ValueError: ``map_location`` is not a device this machine has; the file is not a
            ``torch.save`` file (empty, truncated, another format), or it holds Python objects
            that ``weights_only`` refuses (a pickled whole model).
    """
    path = existing_file(path, what)
    map_location = _checked_device(map_location)
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty, not a PyTorch checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if not _looks_like_torch_file(path):
            raise ValueError(f"{path} is not a PyTorch checkpoint (neither a torch.save archive nor a pickle)") from None
        raise ValueError(f"{path} cannot be loaded with weights_only=True: it holds Python objects, not just "
                         f"tensors (a pickled whole model?); save model.state_dict() instead ({first_line(exc, 160, typed=True)})") from None
    except Exception as exc:  # zip, EOF and torch errors of files that are not checkpoints
        raise ValueError(f"{path} is not a PyTorch checkpoint ({first_line(exc, 160, typed=True)})") from None


def _looks_like_torch_file(path: Path) -> bool:
    """A torch.save zip archive, or a legacy pickle (starts with the PROTO opcode)."""
    with open(path, "rb") as handle:
        head = handle.read(1)
    return zipfile.is_zipfile(path) or head == b"\x80"


def _checked_device(map_location: str | torch.device) -> str | torch.device:
    """``map_location`` if it names a device this machine has (other kinds of map_location,
    such as dicts, are torch.load's to check).

    Raises:
        ValueError: not a device name, or a device that is not here (no CUDA, a CUDA index
            past the last GPU, a backend this torch was built without).
    """
    if not isinstance(map_location, (str, torch.device)):
        return map_location
    name = str(map_location)
    try:
        device = torch.device(map_location)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"map_location {name!r} is not a device ({first_line(exc, 120)})") from None
    if device.type == "meta":
        raise ValueError("map_location 'meta' would load no weights; give a real device such as 'cpu'")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"map_location {name!r}: there is no CUDA device here")
    if device.type == "cpu" and device.index not in (None, 0):
        raise ValueError(f"map_location {name!r}: the CPU takes no device index; use 'cpu'")
    try:
        torch.empty(0, device=device)  # an index past the last GPU, a backend this build lacks
    except Exception as exc:  # torch raises RuntimeError, AssertionError or NotImplementedError here
        raise ValueError(f"map_location {name!r} is not a device here ({first_line(exc, 120)})") from None
    return map_location
