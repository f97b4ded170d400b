"""DeepDream (Mordvintsev et al. 2015; cs231n): amplify what a layer already sees in an image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int
from ._common import ArrayLike, LayerCapture, as_batch, get_layer, model_device, model_guard, to_numpy
from .transforms import Bounds, check_positive, clamp_to_bounds, random_roll, resolve_bounds, value_range, working_copy

#: octaves whose smaller side would fall below this many pixels are skipped.
MIN_OCTAVE_SIZE = 8


class _StopForward(Exception):
    """Raised by a forward hook once every requested layer has run."""


def layer_activations(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Outputs of the named layers for ``x``, attached to the graph.

    The forward pass stops as soon as the last of them has run, so later layers are neither
    computed nor need to accept the input size (a classifier head fixed to 224 x 224 does not
    stop DeepDream on smaller octaves).

    Raises:
        ValueError: an unknown layer name (listing valid ones), a layer that returns no tensor,
            or a layer that does not run during the forward pass.
    """
    capture = LayerCapture(model, layers)
    wanted = set(capture.layers)
    stoppers = []

    def stop_when_done(module, inputs, output):
        if wanted <= capture.outputs.keys():
            raise _StopForward

    with capture:
        try:
            for module in capture.modules:
                stoppers.append(module.register_forward_hook(stop_when_done))
            model(x)
        except _StopForward:
            pass
        finally:
            for handle in stoppers:
                handle.remove()
    missing = [name for name in capture.layers if name not in capture.outputs]
    if missing:
        raise ValueError(f"layer(s) {missing} did not run in the model's forward pass")
    return dict(capture.outputs)


def _layer_list(layers: str | Sequence[str]) -> list[str]:
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names or not all(isinstance(name, str) for name in names):
        raise ValueError(f"layers must be a layer name or a non-empty sequence of names, got {layers!r}")
    return names


def activation_objective(activations: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-image DeepDream objective, (N,): the sum over layers of the mean squared activation
    (0.5 * ||a||^2 up to a per-layer constant, so that the gradient at the layer is its activation)."""
    return sum(a.flatten(1).square().mean(1) for a in activations.values())


def _octave_sizes(height: int, width: int, octaves: int, octave_scale: float) -> list[tuple[int, int]]:
    """Sizes from the smallest octave to the original."""
    sizes = [(height, width)]
    for i in range(1, octaves):
        size = (round(height / octave_scale ** i), round(width / octave_scale ** i))
        if min(size) < MIN_OCTAVE_SIZE:
            break
        sizes.append(size)
    return sizes[::-1]


def deepdream(model: nn.Module, x: ArrayLike, layers: str | Sequence[str], *, octaves: int = 4,
              octave_scale: float = 1.4, steps_per_octave: int = 10, step_size: float = 1.5,
              max_jitter: int = 32, bounds: Bounds | None = None, seed: int | None = None,
              progress: bool = True) -> np.ndarray:
    """DeepDream: gradient ascent on the activation norm of ``layers``, over an octave pyramid.

    The image is processed from its smallest octave (size / octave_scale^(octaves-1)) up to
    full size. At each octave the detail built so far (dreamed minus original, upsampled) is
    added to the original resized to that octave; then ``steps_per_octave`` times: roll by a
    random offset in [-max_jitter, max_jitter] pixels, take the gradient g of
    :func:`activation_objective` and add ``step * g / mean(|g|)`` per image (the normalised
    step of the original DeepDream), clamp to ``bounds``. Octaves smaller than
    ``MIN_OCTAVE_SIZE`` pixels are skipped.

    ``step_size`` is on a 0-255 scale of the input range (1.5: the original's 1.5 grey levels
    per step): the step is ``step_size / 255 * range`` with range = ``high - low`` of
    ``bounds`` per channel, or each image's max - min when ``bounds`` is None.

    Args:
        model: any module; it is run up to the last of ``layers``.
        x: (N, C, H, W) batch in the model's input space.
        layers: a layer name (as in ``model.named_modules()``) or several (objectives summed).
        octaves: number of scales, >= 1.
        octave_scale: size ratio between octaves, > 1.
        steps_per_octave: gradient steps per octave, >= 1.
        step_size: mean absolute step on a 0-255 scale, > 0.
        max_jitter: largest roll in pixels, >= 0.
        bounds: optional (low, high) model-space box, e.g. ``Preprocessing.bounds()``.
        seed: seed of the jitter (None: torch's global generator).
        progress: show a progress bar.

    Returns:
        (N, C, H, W) float32 dreamed images, model input space.

    Raises:
        ValueError: bad ``x``, unknown layer, ``octaves`` / ``steps_per_octave`` < 1,
            ``octave_scale`` <= 1, non-positive ``step_size``, negative ``max_jitter``, bad ``bounds``.
    """
    from tqdm.auto import tqdm

    names = _layer_list(layers)
    octaves = check_int(octaves, "octaves")
    octave_scale = check_positive(octave_scale, "octave_scale")
    if octave_scale <= 1:
        raise ValueError(f"octave_scale must be > 1, got {octave_scale}")
    steps_per_octave = check_int(steps_per_octave, "steps_per_octave")
    step_size = check_positive(step_size, "step_size")
    max_jitter = check_int(max_jitter, "max_jitter", minimum=0)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None

    with model_guard(model):
        for name in names:  # unknown names fail before any work
            get_layer(model, name)
        original = working_copy(as_batch(x), model_device(model))
        box = resolve_bounds(bounds, original.shape[1], original.device)
        step = step_size / 255.0 * value_range(original, box)
        sizes = _octave_sizes(*original.shape[2:], octaves, octave_scale)
        detail = torch.zeros_like(original[:, :, : sizes[0][0], : sizes[0][1]])
        bar = tqdm(total=len(sizes) * steps_per_octave, desc="deepdream", unit="step",
                   disable=not progress, leave=False)
        for size in sizes:
            base = original if size == tuple(original.shape[2:]) else F.interpolate(
                original, size=size, mode="bilinear", align_corners=False)
            if tuple(detail.shape[2:]) != size:
                detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
            image = clamp_to_bounds(base + detail, box).requires_grad_(True)
            for _ in range(steps_per_octave):
                view, _ = random_roll(image, max_jitter, generator)
                objective = activation_objective(layer_activations(model, view, names))
                (grad,) = torch.autograd.grad(objective.sum(), image)
                with torch.no_grad():
                    scale = grad.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, 1, 1, 1)
                    image += step * grad / scale
                    image.copy_(clamp_to_bounds(image, box))
                bar.update(1)
            detail = image.detach() - base
        bar.close()
        return to_numpy(image)
