"""Loading and saving TransformerNet weights, pytorch/examples-compatible."""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from .._errors import first_line
from .._files import replaced_on_success
from .._torch_files import load_torch_file
from ..models.transformer import BASE_CHANNELS, TransformerNet

# Old pytorch/examples checkpoints carry InstanceNorm running statistics that
# current InstanceNorm2d(affine=True, track_running_stats=False) does not have.
_STALE_KEYS = re.compile(r"(^|\.)in\d+\.(running_mean|running_var|num_batches_tracked)$")


def _state_dict_of(obj: Any, path: Path) -> "OrderedDict[str, torch.Tensor]":
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]  # a pyfast training checkpoint
    elif isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} is not a TransformerNet checkpoint (no state dict of tensors inside)")
    state = OrderedDict()
    for key, value in obj.items():
        key = key[len("module."):] if key.startswith("module.") else key  # saved from DataParallel/DDP
        if not _STALE_KEYS.search(key):
            state[key] = value
    return state


def _some(names: list[str], shown: int = 3) -> str:
    """The first ``shown`` names, and how many there are when that is not all of them."""
    more = f" ... ({len(names)} in all)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def load_error_reason(exc: BaseException) -> str:
    """The informative line of ``load_state_dict``'s error (its first line is only a header):
    the first size mismatch, missing or unexpected key."""
    for line in str(exc).splitlines():
        line = line.strip().rstrip(".")
        if line.startswith("size mismatch"):
            return line[:300]
        if line.startswith(("Missing key", "Unexpected key")):
            keys = re.findall(r'"([^"]+)"', line)
            return f"{line.split(' ', 1)[0].lower()} keys {_some(keys)}"
    return first_line(exc, 300)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> TransformerNet:
    """Loads a TransformerNet from a ``.pth`` file.

    Accepts pytorch/examples' ``fast_neural_style`` files (plain state dicts,
    including old ones with ``in*.running_mean/var`` keys), pyfast's own saved
    models and training checkpoints. The width is read from the weights. Loads
    with ``weights_only=True``: no code in the file is run.

    Returns:
        The model in eval mode, on ``map_location``.

    Raises:
        FileNotFoundError / IsADirectoryError: no such file; a folder.
        ValueError: ``map_location`` is not a device this machine has.
        ValueError: the file is not such a checkpoint (names the missing/unexpected keys).
    """
    path = Path(path)
    obj = load_torch_file(path, map_location, what="checkpoint")
    state = _state_dict_of(obj, path)
    first = state.get("conv1.conv2d.weight")
    if first is None or first.dim() != 4:
        raise ValueError(f"{path} is not a TransformerNet checkpoint: no 'conv1.conv2d.weight'")
    try:
        model = TransformerNet(width=first.shape[0] / BASE_CHANNELS[0])
    except ValueError as exc:  # wider than pyfast builds
        raise ValueError(f"{path} is not a TransformerNet checkpoint pyfast can load: {first.shape[0]} channels "
                         f"in conv1 ({exc})") from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of the wrong shape for this width
        raise ValueError(f"{path} is not a TransformerNet checkpoint: {load_error_reason(exc)}") from None
    if missing or unexpected:
        parts = [f"{what} {_some(keys)}" for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
        raise ValueError(f"{path} is not a TransformerNet checkpoint: {'; '.join(parts)}")
    broken = [name for name, tensor in model.state_dict().items() if not torch.isfinite(tensor).all()]
    if broken:  # a diverged training run: every output would be NaN (a black image)
        raise ValueError(f"{path} holds NaN or infinite weights ({_some(broken)}): the training run that wrote it "
                         f"diverged")
    return model.to(map_location).eval()


def save_model(model: TransformerNet, path: str | os.PathLike) -> Path:
    """Saves the weights as a plain state dict (the pytorch/examples format); a failed or
    interrupted save leaves an earlier file at ``path`` as it was."""
    path = Path(path)
    with replaced_on_success(path) as temporary:
        torch.save(model.state_dict(), temporary)
    return path
