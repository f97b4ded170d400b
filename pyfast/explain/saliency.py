"""Gradient saliency maps (Simonyan et al. 2014, cs231n) and SmoothGrad (Smilkov et al. 2017)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .._checks import check_choice, check_int, check_non_negative
from ._common import ArrayLike, as_batch, class_scores, model_device, model_guard, resolve_targets, to_numpy
from .transforms import Bounds, resolve_bounds, value_range, working_copy

Target = int | Sequence[int] | torch.Tensor | np.ndarray | None
MAGNITUDES = ("abs", "square")


def input_gradients(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d scores[n, target[n]] / d x for every image, (N, C, H, W); ``x`` is not modified.

    A building block: call it inside :func:`model_guard`; ``target`` is (N,) class indices
    already checked (see :func:`resolve_targets`).
    """
    x_in = x.detach().clone().requires_grad_(True)
    scores = class_scores(model, x_in)
    picked = scores.gather(1, target.to(scores.device).view(-1, 1))
    (grad,) = torch.autograd.grad(picked.sum(), x_in)
    return grad


def _prepare(model: nn.Module, x: ArrayLike, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked working copy of ``x`` on the model's device and the (N,) target classes
    (the predicted class where ``target`` is None). Call inside :func:`model_guard`."""
    x = working_copy(as_batch(x), model_device(model))
    with torch.no_grad():
        scores = class_scores(model, x)
    targets = resolve_targets(target, x.shape[0], scores.shape[1], predicted=scores.argmax(1))
    return x, targets


def gradient(model: nn.Module, x: ArrayLike, target: Target = None) -> np.ndarray:
    """Raw input gradient of the target class score, (N, C, H, W) float32.

    Args:
        model: returns (N, num_classes) scores.
        x: (N, C, H, W) batch in the model's input space.
        target: class per image (one int for all, a sequence of N) or None for the predicted class.

    Raises:
        ValueError: bad ``x`` (rank, dtype, non-finite), ``target`` out of range or of the wrong
            length, a model that does not return (N, num_classes) scores.
    """
    with model_guard(model):
        x, targets = _prepare(model, x, target)
        return to_numpy(input_gradients(model, x, targets))


def saliency(model: nn.Module, x: ArrayLike, target: Target = None) -> np.ndarray:
    """Saliency map: ``|d score_target / d x|``, maximum over channels (cs231n).

    Args:
        model: returns (N, num_classes) scores.
        x: (N, C, H, W) batch in the model's input space.
        target: class per image (one int for all, a sequence of N) or None for the predicted class.

    Returns:
        (N, H, W) float32, >= 0.

    Raises:
        ValueError: as :func:`gradient`.
    """
    with model_guard(model):
        x, targets = _prepare(model, x, target)
        return to_numpy(input_gradients(model, x, targets).abs().amax(dim=1))


def smoothgrad(model: nn.Module, x: ArrayLike, target: Target = None, *, samples: int = 50,
               noise_level: float = 0.15, magnitude: str = "abs", bounds: Bounds | None = None,
               seed: int | None = None, progress: bool = True) -> np.ndarray:
    """SmoothGrad: the saliency map averaged over noisy copies of each image.

    For each of ``samples`` draws, Gaussian noise of standard deviation
    ``noise_level * (input range)`` is added, the input gradient g of the target score (fixed
    from the clean image) is taken, and the per-pixel map ``max_c |g|`` (``magnitude="abs"``) or
    ``max_c g^2`` (``"square"``) is averaged. With ``noise_level=0`` and ``"abs"`` this is
    exactly :func:`saliency`.

    Args:
        model, x, target: as :func:`saliency`.
        samples: number of noisy copies, >= 1.
        noise_level: noise standard deviation as a fraction of the input range, >= 0
            (Smilkov et al. recommend 0.1-0.2). The range is ``high - low`` of ``bounds`` per
            channel, or each image's max - min when ``bounds`` is None.
        magnitude: "abs" or "square".
        bounds: optional (low, high) model-space box (e.g. ``Preprocessing.bounds()``); only sets
            the range, noisy inputs are not clamped.
        seed: seed of the noise (None: drawn from torch's global generator).
        progress: show a progress bar over the samples.

    Returns:
        (N, H, W) float32, >= 0.

    Raises:
        ValueError: as :func:`saliency`; ``samples`` < 1, negative ``noise_level``, unknown
            ``magnitude``, bad ``bounds``.
    """
    from tqdm.auto import tqdm

    samples = check_int(samples, "samples")
    noise_level = check_non_negative(noise_level, "noise_level")
    check_choice(magnitude, "magnitude", MAGNITUDES)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    with model_guard(model):
        x, targets = _prepare(model, x, target)
        box = resolve_bounds(bounds, x.shape[1], x.device)
        sigma = noise_level * value_range(x, box)
        total = torch.zeros((x.shape[0], *x.shape[2:]), dtype=x.dtype, device=x.device)
        for _ in tqdm(range(samples), desc="smoothgrad", unit="sample", disable=not progress, leave=False):
            noise = torch.randn(x.shape, generator=generator).to(x.device)
            grad = input_gradients(model, x + sigma * noise, targets)
            total += (grad.abs() if magnitude == "abs" else grad.square()).amax(dim=1)
        return to_numpy(total / samples)
