"""What a layer responds to (cs231n lecture 12): activation maps, receptive fields, maximally
activating patches, feature-space neighbours and 2-D embeddings of features.

- :func:`activation_maps` records a layer's output (N, C, h, w); :func:`activation_grid` draws it.
- :func:`receptive_field` measures the input region a layer's unit sees (size, stride, offset) by
  gradient probing, so it follows the model's real forward pass (padding, dilation, branches).
- :func:`top_activating_patches` finds, per channel, the k strongest units over many images
  (a tensor, an iterable of batches, or a folder of pictures) and crops their receptive fields;
  :func:`patches_grid` draws them, one row per channel.
- :func:`extract_features` turns images into (N, D) feature vectors at a layer;
  :func:`nearest_neighbours` / :func:`feature_neighbours` find the closest gallery items;
  :func:`pca` and :func:`embed_2d` (PCA or t-SNE) place features in the plane.

Every function leaves the caller's model as it found it (:func:`~pyfast.explain._common.model_guard`)
and accepts a :class:`~pyfast.explain._common.ModelSpec` in place of the module: its friendly layer
names and its preprocessing (for pictures read from files) are then used.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .._checks import check_choice, check_int
from ..data.images import list_images, read_image
from . import render
from ._common import ArrayLike, LayerCapture, ModelSpec, Preprocessing, as_batch, get_layer, model_device, model_guard

ModelLike = nn.Module | ModelSpec
Images = ArrayLike | str | os.PathLike | Sequence[str | os.PathLike] | Iterable[ArrayLike]
POOLINGS = ("flatten", "avg", "max")
METRICS = ("cosine", "l2")
EMBEDDINGS = ("pca", "tsne")
# Up to this many points t-SNE uses the exact gradient: faster than Barnes-Hut there, and exact.
EXACT_TSNE_MAX = 200


# --------------------------------------------------------------------------- shared plumbing

def _unwrap(model: ModelLike, layer: str | None, preprocessing: Preprocessing | None = None
            ) -> tuple[nn.Module, str | None, Preprocessing | None]:
    """(module, module name of ``layer``, preprocessing) for an ``nn.Module`` or a ``ModelSpec``."""
    if isinstance(model, ModelSpec):
        return model.module, None if layer is None else model.layer(layer), preprocessing or model.preprocessing
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module or a ModelSpec, got {type(model).__name__}")
    return model, layer, preprocessing


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once the wanted layer has run."""


def _layer_output(module: nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    """Output of ``layer`` (its first call) for input ``x``; the rest of the forward pass is skipped.

    Raises:
        ValueError: unknown layer, a layer the forward pass never runs, or a non-tensor output.
    """
    target = get_layer(module, layer)

    def stop(*_):
        raise _StopForward

    with LayerCapture(module, [layer]) as capture:
        handle = target.register_forward_hook(stop)
        try:
            module(x)
        except _StopForward:
            pass
        finally:
            handle.remove()
    if layer not in capture.outputs:
        raise ValueError(f"layer {layer!r} is not run by the model's forward pass")
    return capture.outputs[layer]


def _spatial_output(module: nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    out = _layer_output(module, layer, x)
    if out.dim() != 4:
        raise ValueError(f"layer {layer!r} must output feature maps (N, C, h, w), got shape {tuple(out.shape)}")
    return out


def _channel_index(channels: Sequence[int] | int | None, count: int) -> torch.Tensor:
    """Channel indices (C',) int64 from None (all), one int or a sequence; checked against ``count``."""
    if channels is None:
        return torch.arange(count)
    index = torch.as_tensor(channels).reshape(-1)
    if index.numel() == 0 or index.is_floating_point() or index.dtype == torch.bool:
        raise ValueError(f"channels must be a non-empty sequence of integer indices, got {channels!r}")
    index = index.to(torch.int64)
    bad = (index < 0) | (index >= count)
    if bool(bad.any()):
        raise ValueError(f"channels: index {int(index[bad][0])} is out of range for a layer with {count} channels")
    return index


def _read_pictures(paths: Sequence[Path], preprocessing: Preprocessing | None,
                   batch_size: int) -> tuple[Iterator[torch.Tensor], int]:
    if preprocessing is None:
        raise ValueError("reading pictures from files needs a preprocessing (pass a ModelSpec or preprocessing=...)")

    def batches() -> Iterator[torch.Tensor]:
        for start in range(0, len(paths), batch_size):
            yield preprocessing.images_to_batch([read_image(p).rgb for p in paths[start:start + batch_size]])

    return batches(), -(-len(paths) // batch_size)


def image_batches(images: Images, *, batch_size: int = 32,
                  preprocessing: Preprocessing | None = None) -> tuple[Iterator[torch.Tensor], int | None]:
    """Model-space batches (B, C, H, W) from any of the inputs the activation tools accept.

    Args:
        images: an (N, C, H, W) tensor or array (split into ``batch_size`` chunks); a folder of
            pictures or a sequence of picture paths (read, then converted by ``preprocessing``);
            or an iterable of (B, C, H, W) batches used as they come.
        batch_size: pictures per batch for tensors and files.
        preprocessing: picture -> model input conversion, needed for files.

    Returns:
        (iterator over batches, number of batches or None when unknown).

    Raises:
        ValueError: an empty input, a bad batch, files without ``preprocessing``, an empty folder.
        FileNotFoundError: a missing folder or file.
    """
    batch_size = check_int(batch_size, "batch_size")
    if isinstance(images, (torch.Tensor, np.ndarray)):
        x = as_batch(images, "images")
        return (x[i:i + batch_size] for i in range(0, x.shape[0], batch_size)), -(-x.shape[0] // batch_size)
    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        paths = [path] if path.is_file() else list_images(path)
        if not paths:
            raise ValueError(f"images: no pictures found in {path}")
        return _read_pictures(paths, preprocessing, batch_size)
    if isinstance(images, Sequence) and len(images) > 0 and all(isinstance(p, (str, os.PathLike)) for p in images):
        return _read_pictures([Path(p) for p in images], preprocessing, batch_size)
    if not isinstance(images, Iterable):
        raise ValueError(f"images must be a tensor, a folder, picture paths or an iterable of batches, got {type(images).__name__}")

    def checked() -> Iterator[torch.Tensor]:
        for i, batch in enumerate(images):
            yield as_batch(batch, f"images batch {i}")

    return checked(), len(images) if isinstance(images, Sequence) else None


def _progress(iterator, total, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(iterator, total=total, desc=desc, unit="batch", disable=not progress, leave=False)


# --------------------------------------------------------------------------- activation maps

def activation_maps(model: ModelLike, x: ArrayLike, layer: str, *,
                    channels: Sequence[int] | int | None = None) -> np.ndarray:
    """The feature maps a layer produces for a batch.

    Args:
        model: network (or ModelSpec, whose friendly layer names are accepted).
        x: (N, C, H, W) model-space batch.
        layer: module name, as in ``model.named_modules()``.
        channels: channel indices to keep (default all).

    Returns:
        (N, C', h, w) float32.

    Raises:
        ValueError: bad ``x``, unknown layer, a layer without (N, C, h, w) output, channels out of range.
    """
    module, layer, _ = _unwrap(model, layer)
    x = as_batch(x)
    with model_guard(module), torch.no_grad():
        out = _spatial_output(module, layer, x.to(model_device(module)))
    index = _channel_index(channels, out.shape[1])
    return out.detach()[:, index.to(out.device)].float().cpu().numpy()


def activation_grid(maps: np.ndarray, *, image_index: int = 0, channels: Sequence[int] | None = None,
                    ncols: int | None = None, cmap: str = "viridis", shared_scale: bool = False,
                    scale: int = 1, labels: bool = True) -> np.ndarray:
    """Draws the channels of one image's activation maps as a labelled grid.

    Args:
        maps: (N, C, h, w) from :func:`activation_maps`, or (C, h, w).
        image_index: which image of (N, ...) to draw.
        channels: the channel numbers shown as labels (default 0..C-1; pass the ``channels`` given
            to :func:`activation_maps`).
        ncols, scale: as in :func:`pyfast.explain.render.image_grid`.
        cmap: colour map for the values.
        shared_scale: one colour range for all channels (weak channels look dark) instead of one per channel.
        labels: write "ch <number>" under each map.

    Returns:
        (H, W, 3) uint8.

    Raises:
        ValueError: bad shapes, ``image_index`` out of range, a wrong number of channel labels.
    """
    arr = np.asarray(maps)
    if arr.ndim == 4:
        if not 0 <= image_index < arr.shape[0]:
            raise ValueError(f"image_index must lie in [0, {arr.shape[0]}), got {image_index}")
        arr = arr[image_index]
    if arr.ndim != 3 or min(arr.shape) < 1:
        raise ValueError(f"maps must be (N, C, h, w) or (C, h, w), got shape {np.shape(maps)}")
    numbers = list(range(arr.shape[0])) if channels is None else [int(c) for c in channels]
    if len(numbers) != arr.shape[0]:
        raise ValueError(f"channels must name each of the {arr.shape[0]} maps, got {len(numbers)}")
    lo, hi = (float(arr.min()), float(arr.max())) if shared_scale else (None, None)
    pictures = [render.colorize(m, cmap, lo, hi) for m in arr]
    return render.image_grid(pictures, ncols=ncols, scale=scale,
                             labels=[f"ch {c}" for c in numbers] if labels else None)


# --------------------------------------------------------------------------- receptive fields

class ReceptiveField(NamedTuple):
    """The input region seen by a layer's unit (y, x), per axis (height, width).

    Rows ``offset[0] + y * stride[0]`` up to (not including) that plus ``size[0]``, likewise for
    columns. ``offset`` is negative when the layers pad their input.
    """

    size: tuple[int, int]
    stride: tuple[int, int]
    offset: tuple[int, int]

    def box(self, y: int, x: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of unit (y, x)'s field, bottom/right exclusive, not clipped."""
        top = self.offset[0] + y * self.stride[0]
        left = self.offset[1] + x * self.stride[1]
        return top, left, top + self.size[0], left + self.size[1]


def _probe_copy(module: nn.Module, dtype: torch.dtype = torch.float32) -> nn.Module:
    """A CPU copy in which every path from input to output passes a positive signal.

    Convolutions and linear layers get positive constant weights (1 / (input channels * sqrt(taps)),
    so that the forward signal grows and the backward signal shrinks only by sqrt(taps) per layer)
    and no bias, batch norms become the identity, other parameters are made positive and max
    pooling becomes average pooling (whose gradient reaches the whole window). With a positive
    input every ReLU is then active and nothing cancels, so the gradient's support is the unit's
    whole field. Hooks are dropped.
    """
    probe = copy.deepcopy(module).to(device="cpu", dtype=dtype)
    for m in probe.modules():
        for hooks in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            getattr(m, hooks, {}).clear()
    with torch.no_grad():
        for m in probe.modules():
            if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
                channels, taps = m.weight.shape[1], max(1, m.weight[0, 0].numel())
                m.weight.fill_(1.0 / (channels * taps ** 0.5))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                if m.running_mean is not None:
                    m.running_mean.zero_()
                    m.running_var.fill_(1.0)
                if m.affine:
                    m.weight.fill_(1.0)
                    m.bias.zero_()
            else:
                for p in m.parameters(recurse=False):
                    p.abs_().add_(1e-3)
    for parent in list(probe.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.MaxPool2d) and child.dilation in (1, (1, 1)) and not child.return_indices:
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding, child.ceil_mode))
            elif isinstance(child, nn.AdaptiveMaxPool2d) and not child.return_indices:
                setattr(parent, name, nn.AdaptiveAvgPool2d(child.output_size))
    return probe.train(False)


class _ProbeOverflow(Exception):
    """The float32 probe over- or underflowed; the float64 one is used instead."""


def _support_box(grad: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) of the nonzero entries of a (C, H, W) gradient, exclusive ends."""
    mask = grad.abs().sum(0) > 0
    rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
    if rows.numel() == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _probe_field(probe: nn.Module, layer: str, channels: int, height: int, width: int) -> ReceptiveField | None:
    """The field measured at this input size, or None when the input is too small to show it unclipped."""
    dtype = next((p.dtype for p in probe.parameters()), torch.float32)
    x = (0.5 + torch.rand(2, channels, height, width, dtype=dtype)).requires_grad_(True)
    with torch.enable_grad():
        out = _spatial_output(probe, layer, x)
    oh, ow = out.shape[2:]
    if oh < 2 or ow < 2:
        return None
    cy, cx = (oh - 1) // 2, (ow - 1) // 2  # two neighbouring units near the centre
    with torch.enable_grad():
        (out[0, :, cy, cx].sum() + out[1, :, cy + 1, cx + 1].sum()).backward()
    if not (bool(torch.isfinite(out).all()) and bool(torch.isfinite(x.grad).all())):
        raise _ProbeOverflow
    first, second = _support_box(x.grad[0]), _support_box(x.grad[1])
    if first is None or second is None:
        raise ValueError(f"layer {layer!r} does not depend on the input through differentiable operations")
    for top, left, bottom, right in (first, second):
        if top == 0 or left == 0 or bottom == height or right == width:
            return None  # touches the border: possibly clipped
    stride = (second[0] - first[0], second[1] - first[1])
    size = (first[2] - first[0], first[3] - first[1])
    offset = (first[0] - cy * stride[0], first[1] - cx * stride[1])
    return ReceptiveField(size, stride, offset)


GLOBAL_PROBE_SIZE = 512


def _is_global(probe: nn.Module, layer: str, channels: int, height: int, width: int, max_size: int) -> bool:
    """Whether the layer's map is 1x1 both at this input size and at a much larger one (512 px or
    more: beyond the total stride of any common network): a layer after global pooling, which no
    input size can resolve (checked up front instead of growing the input to max_size)."""
    dtype = next((p.dtype for p in probe.parameters()), torch.float32)
    large = (min(max_size, max(2 * height, GLOBAL_PROBE_SIZE)), min(max_size, max(2 * width, GLOBAL_PROBE_SIZE)))
    for h, w in ((height, width), large):
        try:
            with torch.no_grad():
                out = _spatial_output(probe, layer, torch.full((1, channels, h, w), 0.5, dtype=dtype))
        except RuntimeError:
            return False  # too small for the model here: let the probing loop grow the input
        if tuple(out.shape[2:]) != (1, 1):
            return False
    return True


def _input_channels(module: nn.Module) -> int:
    for m in module.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            return m.in_channels
    return 3


def receptive_field(model: ModelLike, layer: str, input_size: int | Sequence[int], *,
                    in_channels: int | None = None, max_size: int = 2048) -> ReceptiveField:
    """Size, stride and offset of the input region that a unit of ``layer`` sees, measured by gradient probing.

    A copy of the model with positive constant weights (see :func:`_probe_copy`) is run on a positive
    input up to ``layer``; the support of the gradient of two neighbouring central units gives the
    field's size and its shift from one unit to the next. When the field does not fit inside
    ``input_size`` the input is enlarged (by half, up to ``max_size``). The caller's model is not
    touched (the probe works on a copy). Max pooling inside ``forward`` as a function call
    (``F.max_pool2d``) rather than an ``nn.MaxPool2d`` module passes the gradient to one element
    only and can make the field look smaller.

    Args:
        model: network or ModelSpec.
        layer: module name.
        input_size: (H, W) or one int: the input size to probe at first.
        in_channels: input channels (default: those of the first convolution, else 3).
        max_size: largest input side tried.

    Returns:
        :class:`ReceptiveField` ``(size, stride, offset)``, each an (height, width) pair.

    Raises:
        ValueError: unknown layer, bad sizes, a layer whose units see the whole input at every size
            tried (e.g. after global pooling), or a model that fails on the enlarged input.
    """
    module, layer, _ = _unwrap(model, layer)
    get_layer(module, layer)
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in size):
        raise ValueError(f"input_size must be an int or (H, W) of positive ints, got {input_size!r}")
    channels = _input_channels(module) if in_channels is None else check_int(in_channels, "in_channels")
    height, width = int(size[0]), int(size[1])
    for dtype in (torch.float32, torch.float64):
        try:
            return _grow_and_probe(_probe_copy(module, dtype), layer, channels, height, width, max_size)
        except _ProbeOverflow:
            continue
    raise ValueError(f"the receptive field of layer {layer!r} cannot be probed: the signal overflows even in float64")


def _grow_and_probe(probe: nn.Module, layer: str, channels: int, height: int, width: int,
                    max_size: int) -> ReceptiveField:
    if _is_global(probe, layer, channels, height, width, max_size):
        raise ValueError(f"the units of layer {layer!r} see the whole input at every size (global pooling "
                         f"before it?); a receptive field needs a spatial layer")
    while True:
        try:
            field = _probe_field(probe, layer, channels, height, width)
        except RuntimeError as exc:
            raise ValueError(f"the model fails on a probe input of {height}x{width}: {exc}") from None
        if field is not None:
            return field
        if max(height, width) >= max_size:
            raise ValueError(f"the units of layer {layer!r} see the whole input at every size up to {height}x{width} "
                             f"(global pooling before it?); a receptive field needs a spatial layer")
        height, width = min(max_size, height * 3 // 2 + 1), min(max_size, width * 3 // 2 + 1)


# --------------------------------------------------------------------------- maximally activating patches

@dataclass
class TopPatches:
    """The strongest units per channel of a layer over a set of images, and the input they saw.

    ``k`` below is the number of results per channel (the ``k`` asked for, or fewer when the
    images hold fewer candidates). Rows are sorted by activation, strongest first.

    Attributes:
        layer: the module name.
        channels: (C',) channel indices, one row each below.
        image_index: (C', k) int64, position of the image in the input order.
        y, x: (C', k) int64, the unit's position in the layer's feature map.
        activation: (C', k) float32, the unit's value.
        boxes: (C', k, 4) int64 (top, left, bottom, right) of the field clipped to the image, exclusive ends.
        patches: (C', k, C_in, S_h, S_w) float32 model-space crops of the full field; the parts
            outside the image hold ``pad_value``.
        field: the layer's :class:`ReceptiveField`.
    """

    layer: str
    channels: np.ndarray
    image_index: np.ndarray
    y: np.ndarray
    x: np.ndarray
    activation: np.ndarray
    boxes: np.ndarray
    patches: np.ndarray
    field: ReceptiveField


def _candidates(acts: torch.Tensor, k: int, distinct_images: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best ``k`` units per channel of one batch: values (C', k'), batch-local image (C', k'), flat position (C', k')."""
    b, c, h, w = acts.shape
    flat = acts.permute(1, 0, 2, 3).reshape(c, b, h * w)
    if distinct_images:
        values, position = flat.max(dim=2)  # (C', B): the best unit of each image
        values, image = values.topk(min(k, b), dim=1)
        return values, image, position.gather(1, image)
    values, index = flat.reshape(c, b * h * w).topk(min(k, b * h * w), dim=1)
    return values, index // (h * w), index % (h * w)


def _crop(batch: torch.Tensor, image: int, box: tuple[int, int, int, int], pad_value: float) -> torch.Tensor:
    """Crop ``box`` (may reach outside) of ``batch[image]``, (C, bottom-top, right-left), padded with ``pad_value``."""
    top, left, bottom, right = box
    _, _, height, width = batch.shape
    crop = batch.new_full((batch.shape[1], bottom - top, right - left), pad_value)
    t, l, b, r = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
    if b > t and r > l:
        crop[:, t - top:b - top, l - left:r - left] = batch[image, :, t:b, l:r]
    return crop


def top_activating_patches(model: ModelLike, images: Images, layer: str, *, k: int = 9,
                           channels: Sequence[int] | int | None = None, batch_size: int = 32,
                           distinct_images: bool = True, preprocessing: Preprocessing | None = None,
                           field: ReceptiveField | None = None, pad_value: float = 0.0,
                           progress: bool = True) -> TopPatches:
    """Per channel of ``layer``, the ``k`` units with the largest activation over all images, with the
    input patches (receptive fields) they respond to (cs231n "maximally activating patches").

    One pass over the images; only the current best units and their crops are kept.

    Args:
        model: network or ModelSpec (its preprocessing is used for pictures read from files).
        images: (N, C, H, W) tensor, iterable of batches, a folder of pictures or picture paths
            (see :func:`image_batches`). Batches may differ in size.
        layer: module name (or a ModelSpec friendly name).
        k: results per channel.
        channels: channel indices to search (default all).
        batch_size: pictures per forward pass (tensors and files).
        distinct_images: at most one unit per image and channel (else neighbouring units of one
            image may fill the list).
        preprocessing: picture conversion for files (default: the ModelSpec's).
        field: the layer's receptive field, if already known (else measured by :func:`receptive_field`).
        pad_value: model-space value of the crops outside the image (0 = the mean colour).
        progress: show a progress bar.

    Returns:
        :class:`TopPatches`.

    Raises:
        ValueError: ``k`` < 1, unknown layer, a non-spatial layer, channels out of range, empty or
            bad images, batches with different channel counts.
    """
    module, layer, preprocessing = _unwrap(model, layer, preprocessing)
    k = check_int(k, "k")
    get_layer(module, layer)
    batches, total = image_batches(images, batch_size=batch_size, preprocessing=preprocessing)
    device = model_device(module)
    best: _Best | None = None
    index = None
    seen = 0
    with model_guard(module), torch.no_grad():
        for batch in _progress(batches, total, f"top patches {layer}", progress):
            batch = batch.detach().to(device=device, dtype=torch.float32)
            acts = _spatial_output(module, layer, batch).float()
            if index is None:
                in_channels = batch.shape[1]
                index = _channel_index(channels, acts.shape[1]).to(acts.device)
                if field is None:
                    field = receptive_field(module, layer, tuple(batch.shape[2:]), in_channels=in_channels)
            elif batch.shape[1] != in_channels:
                raise ValueError(f"images: batches must share a channel count, got {in_channels} and {batch.shape[1]}")
            values, image, position = _candidates(acts[:, index], k, distinct_images)
            candidates = _Best(values.cpu(), (image + seen).cpu(), (position // acts.shape[3]).cpu(),
                               (position % acts.shape[3]).cpu(), boxes=None, patches=None)
            best = _merge(best, candidates, k, batch, seen, field, pad_value)
            seen += batch.shape[0]
    if best is None:
        raise ValueError("images is empty: no batches were given")
    return TopPatches(layer=layer, channels=index.cpu().numpy(), image_index=best.images.numpy(),
                      y=best.ys.numpy(), x=best.xs.numpy(), activation=best.values.numpy(),
                      boxes=best.boxes.numpy(), patches=best.patches.numpy(), field=field)


@dataclass
class _Best:
    """Running top-k per channel (C', k) while scanning batches; CPU tensors."""

    values: torch.Tensor
    images: torch.Tensor
    ys: torch.Tensor
    xs: torch.Tensor
    boxes: torch.Tensor | None  # (C', k, 4) clipped boxes, None for fresh candidates
    patches: torch.Tensor | None  # (C', k, C_in, S_h, S_w), None for fresh candidates


def _merge(best: _Best | None, fresh: _Best, k: int, batch: torch.Tensor, first_image: int,
           field: ReceptiveField, pad_value: float) -> _Best:
    """The k best of ``best`` and this batch's candidates ``fresh``; crops are cut only for the fresh survivors."""
    parts = [fresh] if best is None else [best, fresh]
    values, images, ys, xs = (torch.cat([getattr(p, name) for p in parts], 1) for name in ("values", "images", "ys", "xs"))
    order = values.topk(min(k, values.shape[1]), dim=1).indices
    kept = 0 if best is None else best.values.shape[1]
    channels, count = order.shape
    boxes = torch.empty(channels, count, 4, dtype=torch.int64)
    patches = torch.empty(channels, count, batch.shape[1], *field.size)
    height, width = batch.shape[2:]
    for ch in range(channels):
        for j in range(count):
            src = int(order[ch, j])
            if src < kept:
                boxes[ch, j], patches[ch, j] = best.boxes[ch, src], best.patches[ch, src]
                continue
            top, left, bottom, right = field.box(int(ys[ch, src]), int(xs[ch, src]))
            boxes[ch, j] = torch.tensor([max(top, 0), max(left, 0), min(bottom, height), min(right, width)])
            patches[ch, j] = _crop(batch, int(images[ch, src]) - first_image, (top, left, bottom, right), pad_value).cpu()
    return _Best(values.gather(1, order), images.gather(1, order), ys.gather(1, order), xs.gather(1, order),
                 boxes, patches)


def patches_grid(result: TopPatches, *, preprocessing: Preprocessing | None = None, max_channels: int = 16,
                 scale: int = 1) -> np.ndarray:
    """Draws :func:`top_activating_patches` results: one row per channel, strongest patch first.

    Args:
        result: the patches.
        preprocessing: converts the model-space crops back to pictures (default: each crop is
            normalised on its own, see :func:`pyfast.explain.render.image_grid`).
        max_channels: draw at most this many channels (the first ones).
        scale: integer enlargement of each crop.

    Returns:
        (H, W, 3) uint8.

    Raises:
        ValueError: ``max_channels`` < 1.
    """
    max_channels = check_int(max_channels, "max_channels")
    rows = min(max_channels, len(result.channels))
    k = result.patches.shape[1]
    crops = result.patches[:rows].reshape(rows * k, *result.patches.shape[2:])
    if preprocessing is not None:
        pictures = list(preprocessing.batch_to_images(torch.from_numpy(crops)))
    else:
        pictures = list(np.moveaxis(crops, 1, -1))
    columns = [(f"#{j + 1}", pictures[j::k]) for j in range(k)]
    row_labels = [f"ch {int(c)}" for c in result.channels[:rows]]
    return render.labelled_panel(columns, row_labels=row_labels, scale=scale, pad=2)


# --------------------------------------------------------------------------- features, neighbours, embeddings

def _pool(out: torch.Tensor, pooling: str) -> torch.Tensor:
    if pooling == "flatten" or out.dim() <= 2:
        return out.reshape(out.shape[0], -1)
    spatial = tuple(range(2, out.dim()))
    return out.mean(dim=spatial) if pooling == "avg" else out.amax(dim=spatial)


def extract_features(model: ModelLike, x: Images, layer: str, *, batch_size: int = 64, pooling: str = "flatten",
                     preprocessing: Preprocessing | None = None, progress: bool = True) -> np.ndarray:
    """One feature vector per image: ``layer``'s output flattened or pooled over space.

    Args:
        model: network or ModelSpec.
        x: (N, C, H, W) tensor, iterable of batches, a folder or picture paths (see :func:`image_batches`).
        layer: module name (or a ModelSpec friendly name).
        batch_size: pictures per forward pass.
        pooling: "flatten" (C*h*w values), "avg" or "max" (global pooling over space: C values).
            Outputs that are already (N, D) are used as they are.
        preprocessing: picture conversion for files (default: the ModelSpec's).
        progress: show a progress bar.

    Returns:
        (N, D) float32.

    Raises:
        ValueError: unknown layer or ``pooling``, empty or bad input, batches with different feature sizes.
    """
    module, layer, preprocessing = _unwrap(model, layer, preprocessing)
    check_choice(pooling, "pooling", POOLINGS)
    get_layer(module, layer)
    batches, total = image_batches(x, batch_size=batch_size, preprocessing=preprocessing)
    device = model_device(module)
    features = []
    with model_guard(module), torch.no_grad():
        for batch in _progress(batches, total, f"features {layer}", progress):
            out = _layer_output(module, layer, batch.detach().to(device=device, dtype=torch.float32))
            features.append(_pool(out.float(), pooling).cpu())
            if features[-1].shape[1] != features[0].shape[1]:
                raise ValueError(f"batches give features of different sizes ({features[0].shape[1]} and "
                                 f"{features[-1].shape[1]}); use pooling='avg' for pictures of different sizes")
    if not features:
        raise ValueError("x is empty: no batches were given")
    return torch.cat(features).numpy()


def _features_2d(features: ArrayLike, name: str) -> np.ndarray:
    arr = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ValueError(f"{name} must be (N, D) with N, D >= 1, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or arr.dtype == bool:
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def pairwise_distances(queries: ArrayLike, gallery: ArrayLike, metric: str = "cosine") -> np.ndarray:
    """(Q, G) distances: cosine (1 - cosine similarity, 0..2; a zero vector is at distance 1 from all) or l2.

    Raises:
        ValueError: shapes other than (Q, D) and (G, D), non-finite values, unknown ``metric``.
    """
    check_choice(metric, "metric", METRICS)
    q, g = _features_2d(queries, "queries"), _features_2d(gallery, "gallery")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"queries and gallery must have the same feature size, got {q.shape[1]} and {g.shape[1]}")
    if metric == "cosine":
        qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        gn = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
        return np.clip(1.0 - qn @ gn.T, 0.0, 2.0)
    squared = (q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2.0 * q @ g.T
    return np.sqrt(np.maximum(squared, 0.0))


def nearest_neighbours(queries: ArrayLike, gallery: ArrayLike, *, k: int = 5,
                       metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` gallery rows closest to each query row.

    Args:
        queries: (Q, D) features.
        gallery: (G, D) features.
        k: neighbours per query, 1 <= k <= G.
        metric: "cosine" or "l2" (see :func:`pairwise_distances`).

    Returns:
        (indices (Q, k) int64, distances (Q, k) float64), nearest first; ties keep gallery order.

    Raises:
        ValueError: ``k`` < 1 or > G, bad shapes, unknown ``metric``.
    """
    k = check_int(k, "k")
    distances = pairwise_distances(queries, gallery, metric)
    if k > distances.shape[1]:
        raise ValueError(f"k must be at most the gallery size ({distances.shape[1]}), got {k}")
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return order.astype(np.int64), np.take_along_axis(distances, order, axis=1)


def feature_neighbours(model: ModelLike, queries: Images, gallery: Images, layer: str, *, k: int = 5,
                       metric: str = "cosine", pooling: str = "flatten", batch_size: int = 64,
                       preprocessing: Preprocessing | None = None,
                       progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """For each query image, the ``k`` gallery images nearest in ``layer``'s feature space
    (cs231n: nearest neighbours in the last layer's features).

    Args:
        model: network or ModelSpec.
        queries, gallery: images in any form :func:`image_batches` accepts.
        layer: module name (or a ModelSpec friendly name).
        k: neighbours per query (1 <= k <= gallery size).
        metric: "cosine" or "l2".
        pooling, batch_size, preprocessing, progress: as in :func:`extract_features`.

    Returns:
        (indices (Q, k) int64 into the gallery, distances (Q, k)), nearest first.

    Raises:
        ValueError: ``k`` < 1 or larger than the gallery, unknown layer / metric / pooling, empty or bad images.
    """
    k = check_int(k, "k")
    check_choice(metric, "metric", METRICS)
    options = dict(batch_size=batch_size, pooling=pooling, preprocessing=preprocessing, progress=progress)
    gallery_features = extract_features(model, gallery, layer, **options)
    if k > len(gallery_features):
        raise ValueError(f"k must be at most the gallery size ({len(gallery_features)}), got {k}")
    query_features = extract_features(model, queries, layer, **options)
    return nearest_neighbours(query_features, gallery_features, k=k, metric=metric)


def pca(features: ArrayLike, n_components: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal component analysis by SVD of the centred features.

    Args:
        features: (N, D).
        n_components: number of axes; missing ones (rank below ``n_components``) are zero.

    Returns:
        (projections (N, n), axes (n, D) unit rows, explained variance ratio (n,)). Each axis is
        oriented so that its largest-magnitude entry is positive (a deterministic sign).

    Raises:
        ValueError: bad shape, non-finite values, ``n_components`` < 1.
    """
    n_components = check_int(n_components, "n_components")
    x = _features_2d(features, "features")
    x = x - x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x, full_matrices=False)
    m = min(n_components, len(singular))
    axes = vt[:m]
    signs = np.sign(axes[np.arange(m), np.abs(axes).argmax(axis=1)])
    axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
    variance = singular ** 2
    ratio = variance[:m] / variance.sum() if variance.sum() > 0 else np.zeros(m)
    projections = x @ axes.T
    if m < n_components:  # fewer axes than asked: pad with zeros
        projections = np.pad(projections, ((0, 0), (0, n_components - m)))
        axes = np.pad(axes, ((0, n_components - m), (0, 0)))
        ratio = np.pad(ratio, (0, n_components - m))
    return projections, axes, ratio


def embed_2d(features: ArrayLike, method: str = "pca", *, seed: int = 0, perplexity: float = 30.0,
             max_iter: int = 1000) -> np.ndarray:
    """Places feature vectors in the plane, for a thumbnail scatter plot.

    Args:
        features: (N, D), N >= 2.
        method: "pca" (the two principal axes) or "tsne" (scikit-learn's t-SNE after a PCA to at
            most 50 dimensions; ``perplexity`` is clipped to (N - 1) / 3 for small N; the exact
            gradient up to ``EXACT_TSNE_MAX`` points, Barnes-Hut above).
        seed: random state of t-SNE (PCA is deterministic).
        perplexity: t-SNE perplexity.
        max_iter: t-SNE optimisation steps (at least 250).

    Returns:
        (N, 2) float64.

    Raises:
        ValueError: fewer than 2 rows, non-finite values, unknown ``method``, perplexity <= 0, max_iter < 250.
    """
    check_choice(method, "method", EMBEDDINGS)
    x = _features_2d(features, "features")
    if len(x) < 2:
        raise ValueError(f"features must have at least 2 rows to embed, got {len(x)}")
    if method == "pca":
        return pca(x, 2)[0]
    if not perplexity > 0:
        raise ValueError(f"perplexity must be > 0, got {perplexity}")
    if check_int(max_iter, "max_iter") < 250:
        raise ValueError(f"max_iter must be at least 250 (scikit-learn's minimum), got {max_iter}")
    from sklearn.manifold import TSNE

    if x.shape[1] > 50:
        x = pca(x, 50)[0]
    spread = float(np.ptp(x, axis=0).max()) if x.size else 0.0
    # PCA initialisation divides by the spread of the features: identical rows need a random start
    options = dict(n_components=2, perplexity=min(float(perplexity), (len(x) - 1) / 3), init="pca" if spread > 0 else "random",
                   learning_rate="auto", random_state=seed,
                   method="exact" if len(x) <= EXACT_TSNE_MAX else "barnes_hut")
    try:
        tsne = TSNE(max_iter=max_iter, **options)
    except TypeError:  # scikit-learn < 1.5 calls it n_iter
        tsne = TSNE(n_iter=max_iter, **options)
    return tsne.fit_transform(x).astype(np.float64)


__all__ = ["ReceptiveField", "TopPatches", "activation_grid", "activation_maps", "embed_2d", "extract_features",
           "feature_neighbours", "image_batches", "nearest_neighbours", "pairwise_distances", "patches_grid", "pca",
           "receptive_field", "top_activating_patches"]
