"""Reading ``torch.save`` files safely (``weights_only=True``) with one-line errors."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch

from ._errors import first_line


def load_torch_file(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    what: str = "file") -> object:
    """``torch.load(path, weights_only=True)``: no code in the file is run.

    Args:
        path: the file. map_location: where tensors go. what: how a missing file is named
            ("no such {what}: PATH"), e.g. "model file" or "checkpoint".

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a ``torch.save`` file (empty, truncated, another format),
            or it holds Python objects that ``weights_only`` refuses (a pickled whole model).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such {what}: {path}")
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
