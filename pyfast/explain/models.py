"""The models the explain methods run on: the shipped GlyphNet, or the user's own state dict.

:func:`load_model_spec` returns a :class:`~pyfast.explain.ModelSpec` (network in eval mode,
preprocessing, class names, friendly layer names) for

- ``None`` or ``"glyphnet"``: the classifier shipped with pyfast (16 glyph classes, 64 x 64);
- a path to a state dict, built with ``arch``: a pyfast registry name (``pyfast.models.list_models()``),
  a torchvision model name (when torchvision is installed), or ``"package.module:callable"``
  returning an ``nn.Module``. Wrapped checkpoints (``{"state_dict": ...}``, ``{"model": ...}``) and
  the ``module.`` / ``_orig_mod.`` prefixes of DistributedDataParallel / ``torch.compile`` are accepted.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from .._errors import first_line
from .._torch_files import load_torch_file
from ..models import classifier as glyphnet_module
from ..models.registry import create_model, list_models
from ._common import ModelSpec, Preprocessing, model_guard

DEFAULT_MODEL = "glyphnet"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_SIZE = (224, 224)
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net")
_PREFIXES = ("module.", "_orig_mod.")
_SHOWN = 5  # keys listed in a mismatch message
_NAME_FILE_SUFFIXES = (".txt", ".names", ".csv", ".lst")


def load_model_spec(model: str | os.PathLike | None = None, *, arch: str | None = None,
                    mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                    size: int | Sequence[int] | None = None,
                    classes: str | os.PathLike | Sequence[str] | None = None) -> ModelSpec:
    """A network ready for the explain methods, with its preprocessing and class names.

    Args:
        model: None or ``"glyphnet"`` for the shipped classifier, else the path of a state dict.
        arch: how to build the network a state dict belongs to: a pyfast model name, a
            torchvision model name, or ``"package.module:callable"`` (called without arguments).
            When the factory takes ``num_classes``, it is set from the checkpoint's last
            2-D weight. Required for a state dict; ignored for the shipped model unless it
            names another architecture.
        mean, std: per-channel input statistics (1 or 3 entries); default ImageNet's for user
            models, the card's for GlyphNet.
        size: input size, an int or (H, W); default 224 x 224 for user models, 64 x 64 for GlyphNet.
        classes: class names: a sequence, a comma-separated string, or the path of a text
            file with one name per line. Default: GlyphNet's names, none for user models.

    Returns:
        A :class:`ModelSpec` whose module is in eval mode on the CPU.

    Raises:
        FileNotFoundError: ``model`` (or a ``classes`` file) does not exist, or the shipped weights
            are missing from this installation.
        ValueError: not a PyTorch checkpoint / not a state dict, ``arch`` missing or unknown,
            missing / unexpected / mis-shaped keys (a few are listed), bad ``mean``/``std``/``size``,
            or a number of class names that does not match the model's outputs.
    """
    preprocessing_args = (mean, std, size)
    if model is None or (str(model) == DEFAULT_MODEL and not Path(model).exists()):
        if arch not in (None, DEFAULT_MODEL):
            raise ValueError(f"arch={arch!r} needs a state dict path as model; the shipped model is {DEFAULT_MODEL!r}")
        return _shipped_spec(*preprocessing_args, classes)

    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {path} (give a state dict path, or None / {DEFAULT_MODEL!r} "
                                f"for the shipped classifier)")
    if arch is None:
        raise ValueError(f"arch is required to load the state dict {path}: a pyfast model name "
                         f"({', '.join(list_models())}), a torchvision model name, or 'package.module:callable'")
    state = load_state_dict(path)
    num_classes = _output_features(state)
    network = build_arch(arch, num_classes)
    _load_strict(network, state, path)
    network.eval()
    names = _class_names(classes)
    outputs = _output_features(network.state_dict())
    if names and outputs is not None and len(names) != outputs:
        raise ValueError(f"classes has {len(names)} names but the model has {outputs} outputs")
    is_glyphnet = isinstance(network, glyphnet_module.GlyphNet)
    default_size = glyphnet_module.INPUT_SIZE if is_glyphnet else DEFAULT_SIZE
    return _checked(ModelSpec(
        module=network,
        preprocessing=_preprocessing(mean, std, size, default_size=default_size,
                                     default_mean=glyphnet_module.MEAN if is_glyphnet else IMAGENET_MEAN,
                                     default_std=glyphnet_module.STD if is_glyphnet else IMAGENET_STD),
        class_names=tuple(names),
        layers=dict(glyphnet_module.LAYERS) if is_glyphnet else {},
        name=path.stem,
    ))


def _shipped_spec(mean, std, size, classes) -> ModelSpec:
    card = glyphnet_module.read_card()
    names = _class_names(classes) or tuple(card["classes"])
    if len(names) != len(card["classes"]):
        raise ValueError(f"classes has {len(names)} names but {DEFAULT_MODEL} has {len(card['classes'])} outputs")
    return _checked(ModelSpec(
        module=glyphnet_module.load_glyphnet(),
        preprocessing=_preprocessing(mean, std, size, default_size=tuple(card["size"]),
                                     default_mean=tuple(card["mean"]), default_std=tuple(card["std"])),
        class_names=names,
        layers=dict(glyphnet_module.LAYERS),
        name=DEFAULT_MODEL,
    ))


def _checked(spec: ModelSpec) -> ModelSpec:
    """``spec`` after one forward pass on zeros of its input shape, so that a channel count or
    size the network cannot take is reported here, naming the shape, not deep inside a method."""
    size = spec.preprocessing.size or DEFAULT_SIZE
    shape = (1, spec.preprocessing.channels, *size)
    try:
        with model_guard(spec.module), torch.no_grad():
            spec.module(torch.zeros(shape))
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"{spec.name} cannot take input of shape {shape} (from --mean/--std/--size): "
                         f"{first_line(exc)}") from None
    return spec


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Reads a state dict with ``torch.load(weights_only=True)`` on the CPU, unwrapped and unprefixed.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a PyTorch checkpoint (or a pickled whole model, which cannot be loaded
            safely), or no mapping of names to tensors inside.
    """
    loaded = load_torch_file(path, what="model file")
    if isinstance(loaded, Mapping):
        for key in _WRAPPER_KEYS:
            inner = loaded.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                loaded = inner
                break
    if not isinstance(loaded, Mapping) or not loaded or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()):
        kind = type(loaded).__name__
        raise ValueError(f"{path} does not hold a state dict (a mapping of parameter names to tensors), got {kind}")
    state = dict(loaded)
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def build_arch(arch: str, num_classes: int | None = None) -> nn.Module:
    """Builds an untrained network from a pyfast model name, a torchvision name or ``"module:callable"``.

    ``num_classes`` is passed to factories that accept it (ignored when None).

    Raises:
        ValueError: unknown name, an import or attribute that fails, or a callable that does not
            return an ``nn.Module``.
    """
    if not isinstance(arch, str) or not arch:
        raise ValueError(f"arch must be a non-empty string, got {arch!r}")
    if ":" in arch:
        network = _from_import_path(arch)
    elif arch in list_models():
        network = create_model(arch, **_num_classes_kwargs(arch, num_classes))
    else:
        network = _from_torchvision(arch, num_classes)
    if not isinstance(network, nn.Module):
        raise ValueError(f"arch {arch!r} returned {type(network).__name__}, not a torch.nn.Module")
    return network


def _num_classes_kwargs(arch: str, num_classes: int | None) -> dict:
    """``{"num_classes": n}`` when ``n`` is known and the registered factory ``arch`` accepts it."""
    from ..models.registry import _REGISTRY  # the factory itself, to read its signature

    if num_classes is None:
        return {}
    parameters = inspect.signature(_REGISTRY[arch]).parameters
    takes = "num_classes" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    return {"num_classes": num_classes} if takes else {}


def _from_import_path(arch: str) -> nn.Module:
    module_name, _, attribute = arch.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"arch {arch!r} must look like 'package.module:callable'")
    try:
        target = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"arch {arch!r}: cannot import {module_name!r} ({exc})") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"arch {arch!r}: {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"arch {arch!r}: {attribute!r} is not callable")
    return target()


def _from_torchvision(arch: str, num_classes: int | None) -> nn.Module:
    valid = ", ".join(list_models())
    try:
        import torchvision
    except ImportError:
        raise ValueError(f"unknown arch {arch!r}: not a pyfast model ({valid}) nor 'package.module:callable', "
                         f"and torchvision (for torchvision model names) is not installed") from None
    if arch not in torchvision.models.list_models():
        raise ValueError(f"unknown arch {arch!r}: not a pyfast model ({valid}), not a torchvision model, "
                         f"nor 'package.module:callable'")
    kwargs = {"num_classes": num_classes} if num_classes is not None else {}
    return torchvision.models.get_model(arch, weights=None, **kwargs)


def _output_features(state: Mapping[str, torch.Tensor]) -> int | None:
    """Rows of the last 2-D ``*.weight`` (the final linear layer), None without one."""
    matrices = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 2]
    return int(matrices[-1].shape[0]) if matrices else None


def _load_strict(network: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = network.state_dict()
    # Old checkpoints lack BatchNorm's step counter; it does not affect eval-mode outputs.
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
              for k, v in state.items() if k in expected and v.shape != expected[k].shape]
    problems = []
    for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
        if keys:
            more = f" (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
            problems.append(f"{label} {', '.join(keys[:_SHOWN])}{more}")
    if problems:
        raise ValueError(f"{path} does not fit {type(network).__name__}: " + "; ".join(problems))
    network.load_state_dict(state, strict=False)


def _class_names(classes: str | os.PathLike | Sequence[str] | None) -> tuple[str, ...]:
    if classes is None:
        return ()
    if isinstance(classes, (str, os.PathLike)):
        text = str(classes)
        path = Path(text)
        if _is_file(path):
            try:
                names = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
            except UnicodeDecodeError:
                raise ValueError(f"{path} is not a UTF-8 text file of class names (one per line)") from None
        elif isinstance(classes, os.PathLike) or ("," not in text and (path.suffix in _NAME_FILE_SUFFIXES or os.sep in text)):
            raise FileNotFoundError(f"no such class-name file: {path}")
        else:
            names = tuple(name.strip() for name in text.split(",") if name.strip())
    else:
        names = tuple(str(name) for name in classes)
    if not names:
        raise ValueError(f"classes gives no class names: {classes!r}")
    return names


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a name longer than the file system allows: not a file
        return False


def _preprocessing(mean, std, size, *, default_size, default_mean, default_std) -> Preprocessing:
    mean = tuple(float(m) for m in (default_mean if mean is None else mean))
    std = tuple(float(s) for s in (default_std if std is None else std))
    if size is None:
        size = default_size
    elif isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    size = tuple(size)
    if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size):
        raise ValueError(f"size must be a positive int or (H, W), got {size!r}")
    return Preprocessing(mean=mean, std=std, size=size)


__all__ = ["DEFAULT_MODEL", "build_arch", "load_model_spec", "load_state_dict"]
