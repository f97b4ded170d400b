"""Pieces every method of :mod:`pyfast.explain` shares.

- :func:`as_batch` checks an image batch (N, C, H, W) and returns it as a float tensor.
- :func:`resolve_targets` turns ``target`` (None, an int, a sequence) into class indices (N,).
- :func:`model_guard` leaves the caller's model as it found it: training/eval mode of every
  module, ``requires_grad`` of every parameter, and no hooks added inside the block.
- :func:`class_scores` runs the model and checks that it returns (N, num_classes) scores.
- :func:`get_layer` / :class:`LayerCapture` find layers by name and record their outputs.
- :class:`Preprocessing` converts between uint8 pictures and the model's input space;
  :class:`ModelSpec` bundles a network with its preprocessing and class names.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

ArrayLike = torch.Tensor | np.ndarray


def as_batch(x: ArrayLike, name: str = "x") -> torch.Tensor:
    """Checks an image batch and returns it as a floating-point tensor (no copy when it already is one).

    Args:
        x: (N, C, H, W) tensor or array, floating point, finite, N, C, H, W >= 1.

    Raises:
        ValueError: wrong type, rank, dtype, an empty dimension or non-finite values; the message
            names ``name`` and what was given.
    """
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor or numpy array of shape (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {x.dim()} dimensions {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floating point (the model's input space), got {x.dtype}")
    if min(x.shape) < 1:
        raise ValueError(f"{name} has an empty dimension: {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model without any)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextmanager
def model_guard(model: nn.Module, freeze: bool = True) -> Iterator[nn.Module]:
    """Puts ``model`` in eval mode (and freezes its parameters) inside the block; restores it after.

    On exit, even after an exception: each module's ``training`` flag and each parameter's
    ``requires_grad`` are restored, and every forward / pre-forward / backward hook
    registered on any submodule inside the block is removed.
    """
    modules = list(model.modules())
    training = [m.training for m in modules]
    params = list(model.parameters())
    requires_grad = [p.requires_grad for p in params]
    hook_dicts = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
                  "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs")
    before = [{d: set(getattr(m, d, {}).keys()) for d in hook_dicts} for m in modules]
    model.eval()
    if freeze:
        for p in params:
            p.requires_grad_(False)
    try:
        yield model
    finally:
        for m, flag, keys in zip(modules, training, before):
            m.training = flag
            for d, old in keys.items():
                hooks = getattr(m, d, None)
                if hooks is None:
                    continue
                for key in [k for k in hooks if k not in old]:
                    del hooks[key]
        for p, flag in zip(params, requires_grad):
            p.requires_grad_(flag)


def class_scores(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` checked to be (N, num_classes) scores.

    Raises:
        ValueError: the model returns something else (a tuple, another rank, another batch size).
    """
    out = model(x)
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the model must return class scores of shape (N, num_classes) = ({x.shape[0]}, K), got {shape}")
    return out


def resolve_targets(target: int | Sequence[int] | torch.Tensor | np.ndarray | None, n: int,
                    num_classes: int, predicted: torch.Tensor | None = None) -> torch.Tensor:
    """Class index per image, (N,) int64.

    Args:
        target: one index for every image, one per image, or None for ``predicted``.
        n: batch size.
        num_classes: K; every index must lie in [0, K).
        predicted: (N,) indices used when ``target`` is None.

    Raises:
        ValueError: wrong length, non-integer or out-of-range indices, or None without ``predicted``.
    """
    if target is None:
        if predicted is None:
            raise ValueError("target is None and no predicted classes were given")
        target = predicted
    try:
        t = torch.as_tensor(target)
    except (OverflowError, RuntimeError, ValueError) as exc:  # e.g. an integer beyond int64, a ragged list
        raise ValueError(f"target {target!r} cannot be read as class indices in [0, {num_classes}): {exc}") from None
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"target must be integer class indices, got dtype {t.dtype}")
    t = t.to(torch.int64).reshape(-1).cpu()
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(f"target must be one index or one per image ({n}), got {t.numel()}")
    bad = (t < 0) | (t >= num_classes)
    if bool(bad.any()):
        raise ValueError(f"target {int(t[bad][0])} is out of range for a model with {num_classes} classes")
    return t.clone()


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (as in ``model.named_modules()``).

    Raises:
        ValueError: no such layer; the message lists a few valid names.
    """
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        names = [k for k in modules if k]
        hint = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise ValueError(f"the model has no layer {name!r}; layers: {hint}")
    return modules[name]


class LayerCapture:
    """Records the outputs of named layers during forward passes; hooks removed on exit.

    Example::

        with LayerCapture(model, ["features.3", "features.8"]) as cap:
            model(x)
        cap.outputs["features.3"]   # tensor, still attached to the graph
    """

    def __init__(self, model: nn.Module, layers: Sequence[str]) -> None:
        self.layers = list(layers)
        self.modules = [get_layer(model, name) for name in self.layers]
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles: list = []

    def __enter__(self) -> LayerCapture:
        for name, module in zip(self.layers, self.modules):
            self._handles.append(module.register_forward_hook(self._recorder(name)))
        return self

    def _recorder(self, name: str):
        def record(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise ValueError(f"layer {name!r} returns {type(output).__name__}, not a tensor")
            self.outputs[name] = output

        return record

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


@dataclass(frozen=True)
class Preprocessing:
    """How pictures become the model's input: resize to ``size``, scale to 0..1, subtract ``mean``, divide by ``std``.

    ``mean`` / ``std`` have one entry per input channel (3: RGB, 1: grayscale);
    ``size`` is (H, W) or None for models that take any size.
    """

    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    size: tuple[int, int] | None = (224, 224)

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or len(self.mean) not in (1, 3):
            raise ValueError(f"mean and std need 1 or 3 entries each, got {self.mean} and {self.std}")
        if not all(math.isfinite(m) for m in self.mean):
            raise ValueError(f"mean must be finite, got {self.mean}")
        if not all(1e-6 <= s < math.inf for s in self.std):  # also refuses NaN
            raise ValueError(f"std must be finite and >= 1e-6, got {self.std}")

    @property
    def channels(self) -> int:
        return len(self.mean)

    def _stats(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        return mean, std

    def images_to_batch(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 pictures (H, W, 3) or (H, W) -> normalised (N, C, H, W) float32, resized to ``size``."""
        from ..data.images import resize

        if len(images) == 0:
            raise ValueError("no images given")
        arrays = []
        for i, image in enumerate(images):
            image = np.asarray(image)
            if image.dtype != np.uint8 or image.ndim not in (2, 3):
                raise ValueError(f"image {i} must be uint8 (H, W) or (H, W, 3), got {image.dtype} {image.shape}")
            if image.ndim == 2:
                image = np.repeat(image[:, :, None], 3, axis=2)
            image = image[:, :, :3]
            if self.size is not None and image.shape[:2] != tuple(self.size):
                image = resize(image, *self.size)
            arrays.append(image)
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"images of different sizes cannot form one batch: {sorted(shapes)}")
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
        if self.channels == 1:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            batch = (batch * weights).sum(1, keepdim=True)
        mean, std = self._stats(batch.device)
        return ((batch - mean) / std).contiguous()

    def batch_to_images(self, x: ArrayLike) -> np.ndarray:
        """Model-space (N, C, H, W) -> uint8 pictures (N, H, W, 3), clipped to 0..255."""
        x = as_batch(x).detach().float().cpu()
        mean, std = self._stats(x.device)
        rgb = (x * std + mean).clamp(0, 1)
        if rgb.shape[1] == 1:
            rgb = rgb.expand(-1, 3, -1, -1)
        return (rgb.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)

    def bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Model-space values of pixel 0 and 255, (1, C, 1, 1) each: the valid input box."""
        mean, std = self._stats("cpu")
        return (0 - mean) / std, (1 - mean) / std


@dataclass
class ModelSpec:
    """A network and what is needed to use it on pictures.

    Attributes:
        module: the network, returning (N, num_classes) scores.
        preprocessing: picture <-> input conversion.
        class_names: one name per output, or empty when unknown.
        layers: friendly layer names -> module names (e.g. {"conv3": "features.6"}), the default
            choices for layer-based methods (DeepDream, inversion, activations).
        name: shown in plots and reports.
    """

    module: nn.Module
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    class_names: Sequence[str] = ()
    layers: Mapping[str, str] = field(default_factory=dict)
    name: str = "model"

    def class_name(self, index: int) -> str:
        return self.class_names[index] if 0 <= index < len(self.class_names) else str(index)

    def layer(self, name: str) -> str:
        """Module name for a friendly name or a module name."""
        return self.layers.get(name, name)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """Detached float32 CPU copy as a numpy array."""
    return t.detach().to(device="cpu", dtype=torch.float32).numpy().copy()
