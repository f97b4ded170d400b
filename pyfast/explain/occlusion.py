"""Occlusion sensitivity (Zeiler & Fergus 2014) with Captum's semantics, on compiled kernels.

A window is slid over every channel of the image; each position is replaced by the
baseline and the drop of the target class score, ``score(x) - score(occluded x)``, is
recorded. A pixel's attribution is the mean drop over all windows that cover it. The
window placement is Captum's ``Occlusion`` with ``sliding_window_shapes=(C, h, w)``:
positions 0, stride, 2*stride, ... until the image is covered, the last window cut off
at the border when ``H - window`` is not a multiple of the stride; the maps equal
``Occlusion(model).attribute(x, (C, h, w), (C, sh, sw), baseline, target,
perturbations_per_eval=batch_size).sum(1) / C`` (the attribution is the same on every channel).

The occluded batches are written straight from the image by :func:`pyfast.ops.occlude`
and the heatmap is gathered by :func:`pyfast.ops.occlusion_heatmap`; Python only loops
over batches. The forward passes run on one of two backends:

- ``"torch"``: the module itself, batched, under ``torch.inference_mode``;
- ``"onnxruntime"``: the module exported once to ONNX (cached per module and input size)
  and run by :class:`pyfast.runtime.Engine` on the CPU provider; also what an ONNX file
  or an Engine given as ``model`` runs on (numpy batches, no torch model needed).
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._errors import first_line
from ..ops.occlusion import IntPair, OcclusionGrid, occlude, occlusion_heatmap
from ._common import (
    ArrayLike,
    as_batch,
    class_scores,
    model_device,
    model_guard,
    resolve_targets,
)

BACKENDS = ("torch", "onnxruntime", "incremental")
ScoreFn = Callable[[torch.Tensor], torch.Tensor]  # (B, C, H, W) -> (B, K) scores on the CPU or model device

# nn.Module -> (fingerprint, input shape, Engine): the ONNX export of a module, reused while
# its parameters are unchanged.
_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _check_batch_size(batch_size: object) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return batch_size


def _baselines(baseline: float | ArrayLike, x: torch.Tensor) -> list[float | torch.Tensor]:
    """One baseline per image: a number, or a (C, H, W) tensor from one broadcastable to x."""
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return [float(baseline)] * x.shape[0]
    if isinstance(baseline, np.ndarray):
        baseline = torch.from_numpy(baseline)
    if not isinstance(baseline, torch.Tensor) or not (baseline.is_floating_point() or baseline.dim() == 0):
        raise ValueError(f"baseline must be a number or a floating-point tensor broadcastable to {tuple(x.shape)}, "
                         f"got {baseline!r}")
    if baseline.dim() == 0:
        return [float(baseline)] * x.shape[0]
    try:
        full = torch.broadcast_to(baseline.to(device=x.device, dtype=x.dtype), x.shape)
    except RuntimeError:
        raise ValueError(f"baseline of shape {tuple(baseline.shape)} does not broadcast to x's {tuple(x.shape)}") from None
    return [full[n].contiguous() for n in range(x.shape[0])]


def _fingerprint(model: nn.Module) -> tuple:
    return tuple((t.data_ptr(), t._version) for t in (*model.parameters(), *model.buffers()))


def export_classifier(model: nn.Module, shape: Sequence[int], path: str | os.PathLike, opset: int = 17) -> Path:
    """Exports a classifier to ONNX with a dynamic batch axis; the caller's model is left untouched.

    Args:
        model: returns (N, num_classes) scores for an (N, C, H, W) float32 input.
        shape: the (C, H, W) the graph is traced at.
        path: where to write the ``.onnx`` file.

    Raises:
        ValueError: the model cannot be exported.
    """
    clone = copy.deepcopy(model).float().cpu().eval()
    dummy = torch.zeros((1, *shape))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(clone, (dummy,), str(path), input_names=["input"], output_names=["scores"],
                              opset_version=opset, dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}},
                              dynamo=False)
    except Exception as exc:  # noqa: BLE001 - the exporter raises many types
        raise ValueError(f"the model could not be exported to ONNX: {first_line(exc, 300)}") from None
    return Path(path)


def _cached_engine(model: nn.Module, shape: tuple[int, ...]):
    from ..runtime import Engine

    fingerprint = _fingerprint(model)
    cached = _ENGINES.get(model)
    if cached is not None and cached[0] == fingerprint and cached[1] == shape:
        return cached[2]
    with tempfile.TemporaryDirectory(prefix="pyfast-occlusion-") as tmp:
        engine = Engine(export_classifier(model, shape, Path(tmp) / "model.onnx"), providers=["CPUExecutionProvider"])
    _ENGINES[model] = (fingerprint, shape, engine)
    return engine


def _engine_scores(engine) -> ScoreFn:
    def scores(batch: torch.Tensor) -> torch.Tensor:
        out = engine.run(batch.detach().to(device="cpu", dtype=torch.float32).numpy())
        if out.ndim != 2 or out.shape[0] != batch.shape[0]:
            raise ValueError(f"the model must return class scores of shape (N, num_classes) = ({batch.shape[0]}, K), "
                             f"got {out.shape}")
        return torch.from_numpy(out)

    return scores


def _torch_scores(model: nn.Module) -> ScoreFn:
    def scores(batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return class_scores(model, batch)

    return scores


def occlusion(
    model: nn.Module | str | os.PathLike,
    x: ArrayLike,
    target: int | Sequence[int] | torch.Tensor | np.ndarray | None = None,
    window: IntPair = 8,
    stride: IntPair = 4,
    baseline: float | ArrayLike = 0.0,
    batch_size: int = 64,
    progress: bool = True,
    backend: str = "torch",
) -> np.ndarray:
    """Occlusion attribution maps with Captum's semantics.

    Args:
        model: an ``nn.Module`` returning (N, num_classes) scores, an ONNX file path, or a
            :class:`pyfast.runtime.Engine`. The module is used in eval mode and left as it was.
        x: images (N, C, H, W) in the model's input space, tensor or array, floating point.
        target: class per image (one int for all, or N ints); None explains each image's
            predicted class (the argmax of the unoccluded scores). Captum requires it for
            multi-class outputs; pass the same classes to compare.
        window: window size, an int or (h, w); it covers all channels.
        stride: step between windows, an int or (h, w); at most the window where the window
            is smaller than the image.
        baseline: value of occluded pixels: a number, or a tensor/array broadcastable to x.
        batch_size: occluded images per forward pass (Captum's ``perturbations_per_eval``
            with one image; the sweep runs image by image).
        progress: show a tqdm progress bar over the windows.
        backend: for an ``nn.Module``: "torch" (the module on its device), "onnxruntime"
            (exported once, cached while the parameters are unchanged, run on the CPU provider;
            in ``pyfast bench occlusion`` on 2 cores: 2.4x the torch backend on the shipped
            classifier, 1.4x on ResNet-18) or "incremental" (the leading layers recomputed only
            where each window changes them, :mod:`pyfast.explain.incremental`; a model it cannot
            plan runs on "torch" with a warning). Ignored for an ONNX file or Engine.

    Returns:
        (N, H, W) float32: mean drop of the target score over the windows covering each pixel.

    Raises:
        ValueError: x not (N, C, H, W); target out of range; window below 1 or larger than the
            image; stride below 1 or larger than the window; batch_size below 1; unknown
            backend; a model that does not return (N, num_classes) scores.
        FileNotFoundError: an ONNX path that does not exist.
    """
    x = as_batch(x)
    batch_size = _check_batch_size(batch_size)
    _n, c, h, w = x.shape
    grid = OcclusionGrid.create((h, w), window, stride)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")

    if isinstance(model, nn.Module):
        with model_guard(model):
            if backend == "torch":
                device = model_device(model)
                return _sweep(_torch_scores(model), x.to(device), target, grid, baseline, batch_size, progress)
            if backend == "incremental":
                return _incremental_or_torch(model, x, target, grid, baseline, batch_size, progress)
            scores = _engine_scores(_cached_engine(model, (c, h, w)))
            return _sweep(scores, x.detach().cpu().float(), target, grid, baseline, batch_size, progress)
    from ..runtime import Engine

    engine = model if isinstance(model, Engine) else Engine(model, providers="auto")
    return _sweep(_engine_scores(engine), x.detach().cpu().float(), target, grid, baseline, batch_size, progress)


def _incremental_or_torch(model: nn.Module, x, target, grid: OcclusionGrid, baseline, batch_size: int,
                          progress: bool) -> np.ndarray:
    """The incremental sweep (:mod:`pyfast.explain.incremental`); the torch one, with a warning, for models it cannot plan."""
    from .incremental import IncrementalPlanError, incremental_occlusion

    x = x.to(model_device(model))
    try:
        return incremental_occlusion(model, x, target, grid, _baselines(baseline, x), batch_size, progress)
    except IncrementalPlanError as exc:
        warnings.warn(f"{exc}; running backend='torch' instead", stacklevel=3)
    return _sweep(_torch_scores(model), x, target, grid, baseline, batch_size, progress)


def _sweep(
    scores: ScoreFn,
    x: torch.Tensor,
    target,
    grid: OcclusionGrid,
    baseline,
    batch_size: int,
    progress: bool,
) -> np.ndarray:
    """Runs the sweep over every image of x with the forward ``scores``; returns (N, H, W) float32."""
    from tqdm.auto import tqdm

    n = x.shape[0]
    base = scores(x)
    targets = resolve_targets(target, n, base.shape[1], predicted=base.argmax(dim=1))
    base_target = base.double().gather(1, targets.to(base.device).view(-1, 1)).view(-1).cpu()
    baselines = _baselines(baseline, x)
    drops = torch.empty((n, grid.count), dtype=torch.float64)
    buffer = torch.empty((min(batch_size, grid.count), *x.shape[1:]), dtype=x.dtype, device=x.device)
    with tqdm(total=n * grid.count, desc="occlusion", unit="window", disable=not progress, leave=False) as bar:
        for i in range(n):
            for first in range(0, grid.count, batch_size):
                count = min(batch_size, grid.count - first)
                batch = occlude(x[i], grid, baselines[i], first, count, out=buffer[:count])
                out = scores(batch)
                drops[i, first:first + count] = base_target[i] - out[:, int(targets[i])].double().cpu()
                bar.update(count)
    return occlusion_heatmap(drops, grid).float().numpy()
