"""Feature inversion (Mahendran & Vedaldi, CVPR 2015; cs231n): an image whose features at a layer
match those of a given image, regularised by the beta total variation and an alpha norm."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._checks import check_choice, check_int, check_non_negative
from ..ops import total_variation
from ._common import ArrayLike, as_batch, get_layer, model_device, model_guard, to_numpy
from .deepdream import layer_activations
from .transforms import Bounds, check_positive, clamp_to_bounds, resolve_bounds, value_range, working_copy

OPTIMIZERS = ("adam", "lbfgs")


@dataclass
class FeatureInversion:
    """Result of :func:`feature_inversion`.

    Attributes:
        images: (N, C, H, W) float32 reconstructions, model input space.
        losses: (num_iterations, N) float32, the total objective of each image at each iteration
            (before that iteration's update).
        feature_losses: (num_iterations, N) float32, its feature-matching part alone.
    """

    images: np.ndarray
    losses: np.ndarray
    feature_losses: np.ndarray


def feature_inversion(model: nn.Module, x: ArrayLike, layer: str, *, num_iterations: int = 200,
                      optimizer: str = "adam", learning_rate: float | None = None,
                      tv_weight: float = 0.5, tv_beta: float = 2.0, norm_weight: float = 0.0,
                      norm_alpha: float = 6.0, init: ArrayLike | None = None, bounds: Bounds | None = None,
                      seed: int | None = None, progress: bool = True) -> FeatureInversion:
    """Reconstructs images from their features at ``layer``.

    With B the input range (``high - low`` of ``bounds`` per channel, else each image's
    max - min of ``x``), centre m (the middle of ``bounds``, else 0) and P = H * W, each image
    minimises (Mahendran & Vedaldi's normalised objective)::

        ||phi(I) - phi(x)||^2 / ||phi(x)||^2
        + tv_weight   * TV_beta((I - m) / B) / P          # pyfast.ops.total_variation(., beta=tv_beta)
        + norm_weight * sum |(I - m) / B|^norm_alpha / P

    The optimisation runs on the normalised image (I - m) / B, so ``learning_rate`` does not
    depend on the input space; with ``bounds`` the image is clamped into them after each step.

    Args:
        model: any module; it is run up to ``layer``.
        x: (N, C, H, W) images whose features are inverted, model input space.
        layer: layer name as in ``model.named_modules()``.
        num_iterations: optimiser iterations, >= 1.
        optimizer: "adam" or "lbfgs" (L-BFGS with history 20 and a fixed step, no line search).
        learning_rate: > 0; None for 0.02 (Adam) or 1.0 (L-BFGS).
        tv_weight: weight of the beta-TV term, >= 0.
        tv_beta: TV exponent beta, >= 0 (2: the cs231n TV; Mahendran & Vedaldi use 1-2).
        norm_weight: weight of the alpha-norm term, >= 0 (0 disables it).
        norm_alpha: its exponent, > 0 (Mahendran & Vedaldi: 6).
        init: (N, C, H, W) starting images; None for the centre plus Gaussian noise of 0.05 B.
        bounds: optional (low, high) model-space box, e.g. ``Preprocessing.bounds()``.
        seed: seed of the initial noise (None: torch's global generator).
        progress: show a progress bar.

    Returns:
        :class:`FeatureInversion` (images, total and feature loss histories).

    Raises:
        ValueError: bad ``x`` / ``init`` (rank, dtype, a shape other than x's), unknown ``layer``,
            ``num_iterations`` < 1, non-positive ``learning_rate`` / ``norm_alpha``, negative
            weights or ``tv_beta``, unknown ``optimizer``, bad ``bounds``.
    """
    from tqdm.auto import tqdm

    num_iterations = check_int(num_iterations, "num_iterations")
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    if learning_rate is None:
        learning_rate = 0.02 if optimizer == "adam" else 1.0
    learning_rate = check_positive(learning_rate, "learning_rate")
    tv_weight = check_non_negative(tv_weight, "tv_weight")
    tv_beta = check_non_negative(tv_beta, "tv_beta")
    norm_weight = check_non_negative(norm_weight, "norm_weight")
    norm_alpha = check_positive(norm_alpha, "norm_alpha")
    if not isinstance(layer, str):
        raise ValueError(f"layer must be a layer name, got {layer!r}")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None

    with model_guard(model):
        get_layer(model, layer)
        reference = working_copy(as_batch(x), model_device(model))
        box = resolve_bounds(bounds, reference.shape[1], reference.device)
        scale = value_range(reference, box)
        centre = (box[0] + box[1]) / 2 if box is not None else torch.zeros_like(scale)
        if init is None:
            z = 0.05 * torch.randn(reference.shape, generator=generator).to(reference.device)
        else:
            start = working_copy(as_batch(init, "init"), reference.device)
            if start.shape != reference.shape:
                raise ValueError(f"init must have the shape of x {tuple(reference.shape)}, got {tuple(start.shape)}")
            z = (start - centre) / scale
        z_box = None if box is None else ((box[0] - centre) / scale, (box[1] - centre) / scale)
        z = clamp_to_bounds(z, z_box).clone().requires_grad_(True)

        with torch.no_grad():
            goal = layer_activations(model, reference, [layer])[layer].detach().flatten(1)
        goal_norm = goal.square().sum(1).clamp_min(1e-12)
        pixels = reference.shape[2] * reference.shape[3]

        def objective() -> tuple[torch.Tensor, torch.Tensor]:
            image = centre + scale * z
            features = layer_activations(model, image, [layer])[layer].flatten(1)
            feature_loss = (features - goal).square().sum(1) / goal_norm
            loss = feature_loss
            if tv_weight > 0:
                loss = loss + tv_weight * total_variation(z, beta=tv_beta, reduction="none") / pixels
            if norm_weight > 0:
                loss = loss + norm_weight * z.abs().pow(norm_alpha).flatten(1).sum(1) / pixels
            return loss, feature_loss

        losses = torch.empty((num_iterations, reference.shape[0]))
        feature_losses = torch.empty_like(losses)
        if optimizer == "adam":
            opt = torch.optim.Adam([z], lr=learning_rate)
        else:
            # one iteration per step() call, so the history has one row per iteration; no line search
            # (torch's strong-Wolfe search stalls when resumed one iteration at a time)
            opt = torch.optim.LBFGS([z], lr=learning_rate, max_iter=1, history_size=20)
        recorded: list[tuple[torch.Tensor, torch.Tensor]] = []  # losses at the first evaluation of a step

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            loss, feature_loss = objective()
            if not recorded:
                recorded.append((loss.detach().cpu(), feature_loss.detach().cpu()))
            total = loss.sum()
            total.backward()
            return total

        for t in tqdm(range(num_iterations), desc="feature inversion", unit="step",
                      disable=not progress, leave=False):
            recorded.clear()
            opt.step(closure)
            losses[t], feature_losses[t] = recorded[0]
            if z_box is not None:
                with torch.no_grad():
                    z.copy_(clamp_to_bounds(z, z_box))
        with torch.no_grad():
            images = centre + scale * z
        return FeatureInversion(images=to_numpy(images), losses=losses.numpy(), feature_losses=feature_losses.numpy())
