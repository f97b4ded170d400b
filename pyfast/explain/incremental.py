"""Incremental occlusion: recompute only what each window changes (Krypton, Nakandala et al., SIGMOD 2019).

An occluded window changes only a rectangle of the image, and in each following layer only
the outputs whose receptive field reaches that rectangle: the changed region grows by the
layer's kernel (and shrinks with its stride) layer by layer. The unoccluded image's
activations are computed once; for a batch of windows the network's leading layers are then
evaluated only over each window's changed region ("tile"), read from the unoccluded
activation with the window's own tile of the previous layer written over it. Where the
changed region covers most of a map (``threshold`` of its area), the tiles are written into
full per-window copies of that activation and the rest of the network runs as usual.
Results equal the plain sweep up to floating-point rounding (not an approximation).

The network is planned from its structure by :func:`plan_incremental`: ``nn.Sequential``
children are walked in order, and these layers are recomputed incrementally:
``nn.Conv2d`` (zero padding), ``nn.MaxPool2d``, ``nn.BatchNorm2d`` (eval), ``nn.ReLU``,
``nn.ReLU6``, ``nn.LeakyReLU``, ``nn.Identity``, ``nn.Dropout`` / ``nn.Dropout2d`` (eval), and
ResNet basic blocks (modules with ``conv1, bn1, relu, conv2, bn2, downsample`` children).
Everything from the first other module on (pooling heads, linear layers, unknown blocks) runs
on the full batch; a ``nn.Linear`` given a 4-D input gets it flattened, as classifiers do.
A model whose forward is not this sequence is detected on the first images and refused.

Tiles keep one fixed size per layer for a given window size (clamped at the borders), so a
batch of windows is one tensor and every layer runs once per batch, with no per-window
Python work. Activations are kept channels-last, so reading a batch of tiles from the
unoccluded map and the previous tiles is one row gather.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..ops.occlusion import IntPair, OcclusionGrid, occlusion_heatmap
from ._common import class_scores, model_device, model_guard, resolve_targets

DEFAULT_THRESHOLD = 0.6
_CHANNELS_LAST = torch.channels_last


class IncrementalPlanError(ValueError):
    """The model is not one incremental occlusion can plan (its layers, or a forward that is not its children)."""


# --------------------------------------------------------------------------- geometry


def _floor_div(a: torch.Tensor, b: int) -> torch.Tensor:
    return torch.div(a, b, rounding_mode="floor")


@dataclass(frozen=True)
class Span:
    """Where each window's changed tile lies in one (H, W) activation map.

    Tile ``k`` covers rows ``[top[k], top[k] + size[0])`` and columns ``[left[k], left[k] + size[1])``;
    every tile lies inside the map.
    """

    top: torch.Tensor  # (windows,) int64
    left: torch.Tensor  # (windows,) int64
    size: tuple[int, int]
    shape: tuple[int, int]

    @property
    def fraction(self) -> float:
        """Tile area over map area."""
        return self.size[0] * self.size[1] / (self.shape[0] * self.shape[1])

    def select(self, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.top[first:first + count], self.left[first:first + count]


def _window_axis(start: torch.Tensor, size: int, kernel: int, stride: int, padding: int, dilation: int,
                 length: int) -> tuple[torch.Tensor, int]:
    """Outputs of a sliding-window op (along one axis) whose receptive field meets [start, start + size)."""
    extent = dilation * (kernel - 1) + 1
    low = (-_floor_div(-(start + padding - extent + 1), stride)).clamp(min=0)
    high = _floor_div(start + size - 1 + padding, stride).clamp(max=length - 1)
    out = min(max(int((high - low + 1).max()), 1), length)
    return low.clamp(max=length - out), out


def _union_axis(a: torch.Tensor, a_size: int, b: torch.Tensor, b_size: int, length: int) -> tuple[torch.Tensor, int]:
    low = torch.minimum(a, b)
    out = min(int((torch.maximum(a + a_size, b + b_size) - low).max()), length)
    return low.clamp(max=length - out), out


# --------------------------------------------------------------------------- tiles


@dataclass
class Tiles:
    """A batch of activations, each the unoccluded map with its window's tile written over it.

    Attributes:
        base: (1, C, H, W) the unoccluded activation (channels-last).
        tile: (B, C, h, w) each window's values over its tile.
        top, left: (B,) int64, where each tile lies in the map.
    """

    base: torch.Tensor
    tile: torch.Tensor
    top: torch.Tensor
    left: torch.Tensor

    def read(self, top: torch.Tensor, left: torch.Tensor, size: tuple[int, int], pad: float) -> torch.Tensor:
        """Each activation over rows ``top[b] + [0, size[0])`` and columns ``left[b] + [0, size[1])``.

        Positions outside the map read ``pad``. Returns (B, C, *size), channels-last.
        """
        _, channels, height, width = self.base.shape
        batch, _, th, tw = self.tile.shape
        device = self.base.device
        rows = top[:, None] + torch.arange(size[0], device=device)  # (B, h)
        cols = left[:, None] + torch.arange(size[1], device=device)  # (B, w)
        tile_rows, tile_cols = rows - self.top[:, None], cols - self.left[:, None]
        in_tile = (((tile_rows >= 0) & (tile_rows < th))[:, :, None] & ((tile_cols >= 0) & (tile_cols < tw))[:, None, :])
        in_map = (((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :])
        base_index = rows.clamp(0, height - 1)[:, :, None] * width + cols.clamp(0, width - 1)[:, None, :]
        tile_index = (height * width + torch.arange(batch, device=device)[:, None, None] * (th * tw)
                      + tile_rows.clamp(0, th - 1)[:, :, None] * tw + tile_cols.clamp(0, tw - 1)[:, None, :])
        index = torch.where(in_tile, tile_index, base_index)
        index = torch.where(in_map, index, height * width + batch * th * tw)
        table = torch.cat([
            self.base.permute(0, 2, 3, 1).reshape(-1, channels),
            self.tile.permute(0, 2, 3, 1).reshape(-1, channels),
            self.base.new_full((1, channels), pad),
        ])
        return table.index_select(0, index.view(-1)).view(batch, size[0], size[1], channels).permute(0, 3, 1, 2)

    def dense(self) -> torch.Tensor:
        """The full activations (B, C, H, W), channels-last."""
        zeros = torch.zeros_like(self.top)
        return self.read(zeros, zeros, tuple(self.base.shape[2:]), 0.0)


# --------------------------------------------------------------------------- nodes


class _Node:
    """One op of the planned network; ``inputs`` are ids of earlier nodes (0 is the image)."""

    inputs: tuple[int, ...]

    def full(self, *xs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def span(self, spans: Sequence[Span], shape: tuple[int, int]) -> Span:
        raise NotImplementedError

    def step(self, base: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: tuple[int, int],
             *tiles: Tiles) -> Tiles:
        raise NotImplementedError

    def macs(self, span: Span) -> tuple[int, int]:
        """(multiply-accumulates of the full map, of one tile)."""
        return 0, 0


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


class _SlidingWindow(_Node):
    """A convolution or max-pooling: recomputed over the tile from its input tile plus the kernel's halo."""

    def __init__(self, module: nn.Conv2d | nn.MaxPool2d, source: int) -> None:
        self.module, self.inputs = module, (source,)
        self.kernel, self.stride = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
        self.padding, self.dilation = _pair(module.padding), _pair(module.dilation)
        self.is_conv = isinstance(module, nn.Conv2d)
        self.pad_value = 0.0 if self.is_conv else float("-inf")

    def full(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    def _local(self, x: torch.Tensor) -> torch.Tensor:
        m = self.module
        if self.is_conv:
            return F.conv2d(x, m.weight, m.bias, self.stride, 0, self.dilation, m.groups)
        return F.max_pool2d(x, self.kernel, self.stride, 0, self.dilation)

    def span(self, spans: Sequence[Span], shape: tuple[int, int]) -> Span:
        (source,) = spans
        top, h = _window_axis(source.top, source.size[0], self.kernel[0], self.stride[0], self.padding[0],
                              self.dilation[0], shape[0])
        left, w = _window_axis(source.left, source.size[1], self.kernel[1], self.stride[1], self.padding[1],
                               self.dilation[1], shape[1])
        return Span(top, left, (h, w), shape)

    def step(self, base, top, left, size, source: Tiles) -> Tiles:
        extent = [d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel)]
        read_size = tuple((n - 1) * s + e for n, s, e in zip(size, self.stride, extent))
        x = source.read(top * self.stride[0] - self.padding[0], left * self.stride[1] - self.padding[1],
                        read_size, self.pad_value)
        return Tiles(base, self._local(x), top, left)

    def macs(self, span: Span) -> tuple[int, int]:
        if not self.is_conv:
            return 0, 0
        m = self.module
        per_output = m.out_channels * (m.in_channels // m.groups) * self.kernel[0] * self.kernel[1]
        return per_output * span.shape[0] * span.shape[1], per_output * span.size[0] * span.size[1]


def _pointwise_fn(module: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The module as an out-of-place per-position function, or None when it is not one (eval mode)."""
    if isinstance(module, nn.BatchNorm2d):
        return module
    if isinstance(module, nn.ReLU):
        return F.relu
    if isinstance(module, nn.ReLU6):
        return F.relu6
    if isinstance(module, nn.LeakyReLU):
        slope = module.negative_slope
        return lambda x: F.leaky_relu(x, slope)
    if isinstance(module, (nn.Identity, nn.Dropout, nn.Dropout2d)):
        return lambda x: x
    return None


class _Pointwise(_Node):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], source: int) -> None:
        self.fn, self.inputs = fn, (source,)

    def full(self, x):
        return self.fn(x)

    def span(self, spans, shape):
        return spans[0]

    def step(self, base, top, left, size, source: Tiles) -> Tiles:
        return Tiles(base, self.fn(source.tile), source.top, source.left)


class _Add(_Node):
    """The residual sum: recomputed over the union of both inputs' tiles."""

    def __init__(self, a: int, b: int) -> None:
        self.inputs = (a, b)

    def full(self, a, b):
        return a + b

    def span(self, spans, shape):
        a, b = spans
        top, h = _union_axis(a.top, a.size[0], b.top, b.size[0], shape[0])
        left, w = _union_axis(a.left, a.size[1], b.left, b.size[1], shape[1])
        return Span(top, left, (h, w), shape)

    def step(self, base, top, left, size, a: Tiles, b: Tiles) -> Tiles:
        return Tiles(base, a.read(top, left, size, 0.0) + b.read(top, left, size, 0.0), top, left)


# --------------------------------------------------------------------------- plan


def _is_conv(module: nn.Module) -> bool:
    return (isinstance(module, nn.Conv2d) and module.padding_mode == "zeros"
            and not isinstance(module.padding, str))


def _layer_node(module: nn.Module, source: int) -> _Node | None:
    if _is_conv(module) or (isinstance(module, nn.MaxPool2d) and not module.return_indices):
        return _SlidingWindow(module, source)
    fn = _pointwise_fn(module)
    return None if fn is None else _Pointwise(fn, source)


def _is_basic_block(module: nn.Module) -> bool:
    names = {name for name, _ in module.named_children()}
    if names - {"downsample"} != {"conv1", "bn1", "relu", "conv2", "bn2"}:
        return False
    downsample = getattr(module, "downsample", None)
    shortcut_ok = downsample is None or (
        isinstance(downsample, nn.Sequential) and len(downsample) == 2
        and _is_conv(downsample[0]) and isinstance(downsample[1], nn.BatchNorm2d))
    return (shortcut_ok and _is_conv(module.conv1) and _is_conv(module.conv2) and isinstance(module.relu, nn.ReLU)
            and isinstance(module.bn1, nn.BatchNorm2d) and isinstance(module.bn2, nn.BatchNorm2d))


def _block_nodes(block: nn.Module, source: int, first: int) -> list[_Node]:
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)) as nodes numbered from ``first``."""
    nodes: list[_Node] = [
        _SlidingWindow(block.conv1, source), _Pointwise(block.bn1, first), _Pointwise(F.relu, first + 1),
        _SlidingWindow(block.conv2, first + 2), _Pointwise(block.bn2, first + 3),
    ]
    shortcut = source
    if block.downsample is not None:
        nodes += [_SlidingWindow(block.downsample[0], source), _Pointwise(block.downsample[1], first + 5)]
        shortcut = first + 6
    nodes.append(_Add(first + 4, shortcut))
    nodes.append(_Pointwise(F.relu, first + len(nodes) - 1))
    return nodes


def _walk(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    """The model as a sequence of named units: Sequential containers opened, basic blocks and layers kept whole."""
    units = []
    for name, child in module.named_children():
        full_name = f"{prefix}{name}"
        if isinstance(child, nn.Sequential):
            units += _walk(child, f"{full_name}.")
        else:
            units.append((full_name, child))
    return units


class IncrementalPlan:
    """A network split into incrementally recomputable stages and a head run on full batches.

    Build it with :func:`plan_incremental`. Node 0 is the image; each stage adds nodes whose
    inputs are the previous stage's output or its own nodes; ``outputs[i]`` is stage ``i``'s
    output node.
    """

    def __init__(self, nodes: list[_Node], outputs: list[int], stage_names: list[str],
                 head: list[tuple[str, nn.Module]]) -> None:
        self.nodes, self.outputs, self.stage_names, self.head = nodes, outputs, stage_names, head

    def __repr__(self) -> str:
        return (f"IncrementalPlan(stages={self.stage_names}, head={[name for name, _ in self.head]})")

    def stage_input(self, stage: int) -> int:
        """The node id entering stage ``stage`` (0: the image)."""
        return 0 if stage == 0 else self.outputs[stage - 1]

    def forward_from(self, stage: int, x: torch.Tensor) -> torch.Tensor:
        """Runs stages ``stage..`` and the head on the full activation ``x`` entering ``stage``."""
        start = self.stage_input(stage)
        values = {start: x}
        for node_id in range(start + 1, len(self.nodes) + 1):
            node = self.nodes[node_id - 1]
            values[node_id] = node.full(*(values[i] for i in node.inputs))
        out = values[len(self.nodes)]
        for _, module in self.head:
            if isinstance(module, nn.Linear) and out.dim() > 2:
                out = torch.flatten(out, 1)
            out = module(out)
        return out

    def activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every node's output for ``x`` (index 0: ``x``)."""
        values = [x]
        for node in self.nodes:
            values.append(node.full(*(values[i] for i in node.inputs)))
        return values


def plan_incremental(model: nn.Module) -> IncrementalPlan:
    """Plans incremental occlusion for ``model`` from its structure (see the module docstring).

    The model's children (``nn.Sequential`` containers opened, in registration order) must be
    what its forward runs; :func:`incremental_occlusion` checks this on the images it explains.

    Raises:
        IncrementalPlanError: (a ValueError) the model's first layer is not one of the recomputable layers.
    """
    units = _walk(model, "")
    nodes: list[_Node] = []
    outputs: list[int] = []
    names: list[str] = []
    for index, (name, unit) in enumerate(units):
        source = outputs[-1] if outputs else 0
        if _is_basic_block(unit):
            new = _block_nodes(unit, source, len(nodes) + 1)
        else:
            node = _layer_node(unit, source)
            if node is None:
                head = units[index:]
                break
            new = [node]
        nodes += new
        outputs.append(len(nodes))
        names.append(name)
    else:
        head = []
    if not outputs:
        first = f"{units[0][0]!r} ({type(units[0][1]).__name__})" if units else "none"
        raise IncrementalPlanError("incremental occlusion needs a model whose children start with Conv2d / MaxPool2d / "
                         f"BatchNorm2d / ReLU layers or ResNet basic blocks; its first layer is {first}")
    return IncrementalPlan(nodes, outputs, names, head)


# --------------------------------------------------------------------------- sweep


@dataclass
class _Bound:
    """A plan bound to one image and grid: unoccluded activations, tile spans, stages done incrementally."""

    bases: list[torch.Tensor]
    spans: list[Span]
    stages: int  # leading stages recomputed incrementally
    last: int  # the node after which the network runs on full activations


def _window_boxes(grid: OcclusionGrid, device) -> tuple[torch.Tensor, torch.Tensor]:
    k = torch.arange(grid.count, device=device)
    return (k // grid.cols) * grid.stride[0], (k % grid.cols) * grid.stride[1]


def _input_span(grid: OcclusionGrid, device) -> Span:
    tops, lefts = _window_boxes(grid, device)
    h, w = min(grid.window[0], grid.size[0]), min(grid.window[1], grid.size[1])
    return Span(tops.clamp(max=grid.size[0] - h), lefts.clamp(max=grid.size[1] - w), (h, w), grid.size)


def _bind(plan: IncrementalPlan, image: torch.Tensor, grid: OcclusionGrid, threshold: float,
          expected: torch.Tensor | None = None) -> _Bound:
    """Binds the plan to one image (1, C, H, W); with ``expected`` (1, K), checks the plan reproduces the model's scores.

    Raises:
        IncrementalPlanError: the plan's layers, run in sequence, do not give ``expected``.
    """
    try:
        activations = plan.activations(image)
        scores = None if expected is None else plan.forward_from(len(plan.outputs), activations[-1])
    except (RuntimeError, ValueError, TypeError):  # the children do not even chain
        activations, scores = None, None
    mismatch = activations is None or (expected is not None and (
        scores is None or scores.shape != expected.shape
        or float((scores - expected).abs().max()) > 1e-4 * (float(expected.abs().max()) + 1e-6)))
    if mismatch:
        raise IncrementalPlanError(f"incremental occlusion planned the model as {plan!r}, but its forward "
                                   "computes something else (a custom forward?); use backend='torch'")
    bases = [b.contiguous(memory_format=_CHANNELS_LAST) for b in activations]
    spans = [_input_span(grid, image.device)]
    stages = 0
    for stage, output in enumerate(plan.outputs):
        for node_id in range(plan.stage_input(stage) + 1, output + 1):
            node = plan.nodes[node_id - 1]
            spans.append(node.span([spans[i] for i in node.inputs], tuple(bases[node_id].shape[2:])))
        if spans[output].fraction > threshold:
            break
        stages = stage + 1
    return _Bound(bases, spans, stages, plan.stage_input(stages))


def _occluded_tiles(image: torch.Tensor, baseline: float | torch.Tensor, grid: OcclusionGrid, span: Span,
                    first: int, count: int) -> Tiles:
    """The occluded images over their input tiles: (count, C, h, w)."""
    top, left = span.select(first, count)
    rows = top[:, None] + torch.arange(span.size[0], device=image.device)
    cols = left[:, None] + torch.arange(span.size[1], device=image.device)
    box_top, box_left = (t[first:first + count] for t in _window_boxes(grid, image.device))
    inside = (((rows >= box_top[:, None]) & (rows < box_top[:, None] + grid.window[0]))[:, :, None]
              & ((cols >= box_left[:, None]) & (cols < box_left[:, None] + grid.window[1]))[:, None, :])
    region = image[0][:, rows[:, :, None], cols[:, None, :]].permute(1, 0, 2, 3)
    if isinstance(baseline, torch.Tensor):
        fill = baseline[:, rows[:, :, None], cols[:, None, :]].permute(1, 0, 2, 3)
    else:
        fill = torch.full((), baseline, dtype=image.dtype, device=image.device)
    tile = torch.where(inside[:, None], fill, region).contiguous(memory_format=_CHANNELS_LAST)
    return Tiles(image, tile, top, left)


def _batch_scores(plan: IncrementalPlan, bound: _Bound, image: torch.Tensor, baseline, grid: OcclusionGrid,
                  first: int, count: int) -> torch.Tensor:
    """Class scores of windows ``first..first+count`` occluded: (count, K)."""
    tiles: dict[int, Tiles] = {0: _occluded_tiles(image, baseline, grid, bound.spans[0], first, count)}
    for node_id in range(1, bound.last + 1):
        node = plan.nodes[node_id - 1]
        span = bound.spans[node_id]
        top, left = span.select(first, count)
        tiles[node_id] = node.step(bound.bases[node_id], top, left, span.size, *(tiles[i] for i in node.inputs))
    return plan.forward_from(bound.stages, tiles[bound.last].dense().contiguous())


def incremental_occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: int | Sequence[int] | torch.Tensor | np.ndarray | None,
    grid: OcclusionGrid,
    baselines: Sequence[float | torch.Tensor],
    batch_size: int,
    progress: bool = True,
    threshold: float = DEFAULT_THRESHOLD,
    plan: IncrementalPlan | None = None,
) -> np.ndarray:
    """The occlusion sweep of :func:`pyfast.explain.occlusion` with incremental recomputation.

    The caller puts ``model`` in eval mode (``model_guard``) and checks the arguments.

    Args:
        model: the classifier, on the device of ``x``.
        x: (N, C, H, W) images.
        target: as for :func:`pyfast.explain.occlusion`.
        grid: the windows, ``grid.size == (H, W)``.
        baselines: one per image: a number or a (C, H, W) tensor.
        batch_size: windows per batch.
        progress: tqdm progress bar over the windows.
        threshold: a stage is recomputed incrementally while its changed region covers at most
            this fraction of its output map, in (0, 1].
        plan: a plan from :func:`plan_incremental` (made from ``model`` when None).

    Returns:
        (N, H, W) float32 maps.

    Raises:
        IncrementalPlanError: (a ValueError) a model the plan does not describe: see
            :func:`plan_incremental`; or whose forward is not the planned sequence of layers
            (checked on each image's unoccluded scores).
        ValueError: ``threshold`` outside (0, 1]; the model does not return (N, num_classes) scores.
    """
    from tqdm.auto import tqdm

    if not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    plan = plan_incremental(model) if plan is None else plan
    n = x.shape[0]
    with torch.inference_mode():
        base = class_scores(model, x)
    targets = resolve_targets(target, n, base.shape[1], predicted=base.argmax(dim=1))
    base_target = base.double().gather(1, targets.to(base.device).view(-1, 1)).view(-1).cpu()
    drops = torch.empty((n, grid.count), dtype=torch.float64)
    with torch.inference_mode(), tqdm(total=n * grid.count, desc="occlusion", unit="window", disable=not progress,
                                      leave=False) as bar:
        for i in range(n):
            image = x[i:i + 1]
            bound = _bind(plan, image, grid, threshold, expected=base[i:i + 1])
            for first in range(0, grid.count, batch_size):
                count = min(batch_size, grid.count - first)
                out = _batch_scores(plan, bound, image, baselines[i], grid, first, count)
                drops[i, first:first + count] = base_target[i] - out[:, int(targets[i])].double().cpu()
                bar.update(count)
    return occlusion_heatmap(drops, grid).float().numpy()


def incremental_cost(model: nn.Module, size: tuple[int, int], window: IntPair, stride: IntPair, channels: int = 3,
                     threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Multiply-accumulates per occluded image: the full forward against the incremental one.

    Counts convolutions and linear layers (pooling, normalisation and the gathers are not counted).

    Returns:
        {"full": MACs of one forward, "incremental": MACs per window, "fraction": their ratio,
        "incremental_stages": names of the stages recomputed incrementally}.

    Raises:
        ValueError: as :func:`plan_incremental`; a bad window or stride.
    """
    plan = plan_incremental(model)
    grid = OcclusionGrid.create(tuple(size), window, stride)
    image = torch.zeros((1, channels, *size), device=model_device(model))
    full = 0

    def count(module, inputs, output):
        nonlocal full
        if isinstance(module, nn.Conv2d):
            full += output[0].numel() * (module.in_channels // module.groups) * module.weight[0, 0].numel()
        elif isinstance(module, nn.Linear):
            full += output[0].numel() * module.in_features

    with model_guard(model, freeze=False), torch.inference_mode():  # eval mode; hooks removed on exit
        handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        model(image)
        for handle in handles:
            handle.remove()
        bound = _bind(plan, image, grid, threshold)
    saved = 0
    for node_id in range(1, bound.last + 1):
        whole, tile = plan.nodes[node_id - 1].macs(bound.spans[node_id])
        saved += whole - tile
    return {"full": full, "incremental": full - saved, "fraction": (full - saved) / full,
            "incremental_stages": plan.stage_names[:bound.stages]}


__all__ = ["DEFAULT_THRESHOLD", "IncrementalPlan", "IncrementalPlanError", "Span", "Tiles", "incremental_cost",
           "incremental_occlusion", "plan_incremental"]
