"""Fooling images (Szegedy et al. 2014; cs231n): small targeted changes that flip the prediction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._checks import check_int
from ._common import ArrayLike, as_batch, class_scores, model_device, model_guard, resolve_targets, to_numpy
from .saliency import Target
from .transforms import Bounds, check_positive, clamp_to_bounds, resolve_bounds, working_copy


@dataclass
class FoolingResult:
    """Result of :func:`fooling_images`; one entry per image.

    Attributes:
        images: (N, C, H, W) float32, the modified images (model input space).
        success: (N,) bool, the model predicts the target class for the modified image.
        steps: (N,) int64, gradient steps taken (0 when the image was already classified so).
        l2: (N,) float32, L2 norm of the perturbation ``images - x``.
        linf: (N,) float32, largest absolute change of one value.
        targets: (N,) int64 classes aimed at.
        predicted: (N,) int64 classes the model predicts for ``images``.
    """

    images: np.ndarray
    success: np.ndarray
    steps: np.ndarray
    l2: np.ndarray
    linf: np.ndarray
    targets: np.ndarray
    predicted: np.ndarray


def fooling_images(model: nn.Module, x: ArrayLike, target: Target, *, learning_rate: float = 1.0,
                   max_steps: int = 100, bounds: Bounds | None = None,
                   progress: bool = True) -> FoolingResult:
    """Changes each image until the model predicts ``target`` (cs231n's ``make_fooling_image``).

    Each step adds ``learning_rate * g / ||g||`` (g: gradient of the target class score with
    respect to that image, the norm per image) to every image not yet classified as its target,
    then clamps to ``bounds``. An image stops changing as soon as it is classified as its target;
    the loop ends when all are, or after ``max_steps`` steps.

    Args:
        model: returns (N, num_classes) scores.
        x: (N, C, H, W) batch in the model's input space.
        target: class per image (one int for all, or N ints); required.
        learning_rate: L2 norm of each step in input-space units, > 0 (cs231n: 1).
        max_steps: most steps per image, >= 1 (cs231n: 100).
        bounds: optional (low, high) model-space box, e.g. ``Preprocessing.bounds()``.
        progress: show a progress bar.

    Returns:
        :class:`FoolingResult`.

    Raises:
        ValueError: bad ``x``, ``target`` None / out of range / wrong length, non-positive
            ``learning_rate`` or ``max_steps``, bad ``bounds``.
    """
    from tqdm.auto import tqdm

    if target is None:
        raise ValueError("target is required: the class the fooled model should predict")
    learning_rate = check_positive(learning_rate, "learning_rate")
    max_steps = check_int(max_steps, "max_steps")

    with model_guard(model):
        original = working_copy(as_batch(x), model_device(model))
        n = original.shape[0]
        with torch.no_grad():
            num_classes = class_scores(model, original).shape[1]
        targets = resolve_targets(target, n, num_classes).to(original.device)
        box = resolve_bounds(bounds, original.shape[1], original.device)
        image = clamp_to_bounds(original, box).clone().requires_grad_(True)
        steps = torch.zeros(n, dtype=torch.int64)

        bar = tqdm(total=max_steps, desc="fooling", unit="step", disable=not progress, leave=False)
        for _ in range(max_steps + 1):
            scores = class_scores(model, image)
            active = scores.argmax(1) != targets
            if not bool(active.any()) or int(steps.max()) >= max_steps:
                break
            picked = scores.gather(1, targets.view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(picked, image)
            with torch.no_grad():
                norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                mask = active.to(image.dtype).view(-1, 1, 1, 1)
                image += mask * learning_rate * grad / norm
                image.copy_(clamp_to_bounds(image, box))
            steps += active.cpu().to(torch.int64)
            bar.update(1)
        bar.close()

        with torch.no_grad():
            predicted = class_scores(model, image).argmax(1)
            delta = (image - original).flatten(1)
        return FoolingResult(
            images=to_numpy(image), success=(predicted == targets).cpu().numpy(), steps=steps.numpy(),
            l2=to_numpy(delta.norm(dim=1)), linf=to_numpy(delta.abs().amax(dim=1)),
            targets=targets.cpu().numpy(), predicted=predicted.cpu().numpy())
