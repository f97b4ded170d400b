"""Class visualisation by gradient ascent on a class score (Simonyan et al. 2014; Yosinski et al.
2015; cs231n), optionally with Lucid-style transformations and a Fourier parameterisation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_choice, check_int, check_non_negative
from ._common import ArrayLike, as_batch, class_scores, model_device, model_guard, resolve_targets, to_numpy
from .saliency import Target
from .transforms import (
    Bounds,
    FourierImage,
    check_positive,
    clamp_to_bounds,
    gaussian_blur,
    random_roll,
    resolve_bounds,
    working_copy,
)

PARAMETERISATIONS = ("pixel", "fft")
#: cs231n's learning rate is the L2 norm of each step for one 3 x 224 x 224 image.
REFERENCE_NUMEL = 3 * 224 * 224


@dataclass
class ClassVisualization:
    """Result of :func:`class_visualization`.

    Attributes:
        images: (N, C, H, W) float32, model input space.
        scores: (num_iterations, N) float32, the target score of the image before each step
            (as seen through that step's jitter / transformations).
        targets: (N,) int64 classes.
    """

    images: np.ndarray
    scores: np.ndarray
    targets: np.ndarray


def class_visualization(model: nn.Module, x: ArrayLike, target: Target, *, num_iterations: int = 100,
                        learning_rate: float | None = None, l2_reg: float = 1e-3, blur_every: int = 10,
                        blur_sigma: float = 0.5, max_jitter: int = 16, transforms: Callable | None = None,
                        parameterisation: str = "pixel", bounds: Bounds | None = None,
                        seed: int | None = None, progress: bool = True) -> ClassVisualization:
    """Synthesises images that maximise ``score_target(I) - l2_reg * ||I||^2``.

    Every iteration: the image is rolled by a random offset in [-max_jitter, max_jitter] (and,
    if given, passed through ``transforms``; a result of another size is resized back to
    H x W so fixed-size models work), the objective's gradient is taken through those
    operations, and the image takes a step:

    - ``parameterisation="pixel"`` (cs231n): ``I += lr * g / ||g||`` per image with
      ``lr = learning_rate * sqrt(C*H*W / (3*224*224))``, i.e. ``learning_rate`` is the step's
      L2 norm for a 3 x 224 x 224 image and the per-pixel step is the same at any size; then
      the image is clamped to ``bounds`` and, every ``blur_every`` iterations (from the first),
      blurred with a Gaussian of ``blur_sigma`` pixels. The defaults (learning_rate=25,
      l2_reg=1e-3, num_iterations=100, blur_every=10, max_jitter=16, sigma 0.5) are cs231n's,
      tuned for ImageNet-normalised inputs (mean/std per channel, values about -2..2.6);
      for an input space of another scale, scale ``learning_rate`` by the ratio of ranges.
    - ``parameterisation="fft"``: the image is a :class:`FourierImage` (decorrelated colour for
      3 channels, 1/f spectrum, squashed into ``bounds`` by a sigmoid when given) initialised
      from ``x`` and optimised by Adam (``learning_rate`` defaults to 0.05); ``blur_every``
      is not used.

    Args:
        model: returns (N, num_classes) scores.
        x: (N, C, H, W) starting images in the model's input space, e.g.
            ``torch.randn(1, 3, 224, 224)`` (cs231n) or photographs.
        target: class per image (one int for all, or N ints); required.
        num_iterations: >= 1.
        learning_rate: > 0; None for 25 ("pixel") or 0.05 ("fft").
        l2_reg: weight of the L2 penalty, >= 0.
        blur_every: blur period in iterations ("pixel"); 0 disables blurring.
        blur_sigma: blur standard deviation in pixels, > 0.
        max_jitter: largest roll in pixels, >= 0.
        transforms: optional callable ``(images, generator) -> images``, e.g.
            :func:`pyfast.explain.transforms.standard_transforms`.
        parameterisation: "pixel" or "fft".
        bounds: optional (low, high) model-space box, e.g. ``Preprocessing.bounds()``.
        seed: seed of the jitter / transformations (None: torch's global generator).
        progress: show a progress bar.

    Returns:
        :class:`ClassVisualization` (images, score history, targets).

    Raises:
        ValueError: bad ``x``, ``target`` None / out of range / wrong length, non-positive
            ``num_iterations`` / ``learning_rate`` / ``blur_sigma``, negative ``l2_reg`` /
            ``blur_every`` / ``max_jitter``, unknown ``parameterisation``, bad ``bounds``.
    """
    from tqdm.auto import tqdm

    if target is None:
        raise ValueError("target is required: the class to visualise")
    num_iterations = check_int(num_iterations, "num_iterations")
    l2_reg = check_non_negative(l2_reg, "l2_reg")
    blur_every = check_int(blur_every, "blur_every", minimum=0)
    blur_sigma = check_positive(blur_sigma, "blur_sigma")
    max_jitter = check_int(max_jitter, "max_jitter", minimum=0)
    check_choice(parameterisation, "parameterisation", PARAMETERISATIONS)
    if learning_rate is None:
        learning_rate = 25.0 if parameterisation == "pixel" else 0.05
    learning_rate = check_positive(learning_rate, "learning_rate")
    if transforms is not None and not callable(transforms):
        raise ValueError(f"transforms must be callable (images, generator) -> images, got {type(transforms).__name__}")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None

    with model_guard(model):
        image = working_copy(as_batch(x), model_device(model))
        n, c, h, w = image.shape
        with torch.no_grad():
            num_classes = class_scores(model, image).shape[1]
        targets = resolve_targets(target, n, num_classes).to(image.device)
        box = resolve_bounds(bounds, c, image.device)
        image = clamp_to_bounds(image, box)

        if parameterisation == "pixel":
            image.requires_grad_(True)
            decode, params = (lambda: image), [image]
            step_norm = learning_rate * math.sqrt(c * h * w / REFERENCE_NUMEL)
        else:
            fourier = FourierImage.from_images(image, bounds=bounds)
            decode, params = fourier, [fourier.spectrum]
            optimizer = torch.optim.Adam(params, lr=learning_rate)

        history = torch.empty((num_iterations, n))
        for t in tqdm(range(num_iterations), desc="class visualisation", unit="step",
                      disable=not progress, leave=False):
            current = decode()
            view, _ = random_roll(current, max_jitter, generator)
            if transforms is not None:
                view = transforms(view, generator)
                if tuple(view.shape[2:]) != (h, w):
                    view = F.interpolate(view, size=(h, w), mode="bilinear", align_corners=False)
            score = class_scores(model, view).gather(1, targets.view(-1, 1)).squeeze(1)
            history[t] = score.detach().cpu()
            objective = score - l2_reg * current.flatten(1).square().sum(1)
            (grad,) = torch.autograd.grad(objective.sum(), params[0])
            with torch.no_grad():
                if parameterisation == "pixel":
                    norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                    image += step_norm * grad / norm
                    image.copy_(clamp_to_bounds(image, box))
                    if blur_every and t % blur_every == 0:
                        image.copy_(gaussian_blur(image, blur_sigma))
                else:
                    optimizer.zero_grad(set_to_none=True)
                    fourier.spectrum.grad = -grad
                    optimizer.step()
        with torch.no_grad():
            final = clamp_to_bounds(decode(), box)
        return ClassVisualization(images=to_numpy(final), scores=history.numpy(), targets=targets.cpu().numpy())
