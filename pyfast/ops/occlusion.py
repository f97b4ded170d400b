"""Occlusion sweeps: the window grid, the occluded batch and the heatmap, on compiled kernels.

A sweep slides a window over every channel of an image with Captum's placement: window
positions start at 0 and advance by the stride until the image is covered, the last one
cut off at the border when ``H - window`` is not a multiple of the stride. Each window's
output drop is then spread back over the pixels it covers, and every pixel gets the mean
drop of the windows covering it.

- :class:`OcclusionGrid` describes the windows of one image size.
- :func:`occlude` writes the occluded copies of an image for a range of windows.
- :func:`occlusion_heatmap` turns per-window drops into per-pixel means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import reference
from ._dispatch import dlpack, kernel_for, stream_of

IntPair = int | tuple[int, int]


def _pair(value: object, name: str) -> tuple[int, int]:
    """An int or a pair of ints as (h, w). Raises ValueError for anything else."""
    items = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(items) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise ValueError(f"{name} must be an int or a pair of ints (h, w), got {value!r}")
    return items[0], items[1]


@dataclass(frozen=True)
class OcclusionGrid:
    """The windows of an occlusion sweep over an (H, W) image.

    Window ``k`` (``0 <= k < count``) covers rows ``[top, min(top + window_h, H))`` and
    columns ``[left, min(left + window_w, W))`` with ``top = (k // cols) * stride_h`` and
    ``left = (k % cols) * stride_w``; there are ``rows = ceil((H - window_h) / stride_h) + 1``
    positions along H (likewise along W), exactly as Captum's ``Occlusion``.

    Build it with :meth:`create`, which checks the arguments.
    """

    size: tuple[int, int]
    window: tuple[int, int]
    stride: tuple[int, int]

    @classmethod
    def create(cls, size: tuple[int, int], window: IntPair, stride: IntPair) -> OcclusionGrid:
        """The grid for an image of ``size`` (H, W).

        Raises:
            ValueError: ``window`` or ``stride`` not an int or pair of ints, a window below 1
                or larger than the image, a stride below 1, or a stride larger than the window
                along an axis the window does not fill (pixels would be left uncovered; Captum
                refuses this too).
        """
        window, stride = _pair(window, "window"), _pair(stride, "stride")
        h, w = size
        if min(window) < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if window[0] > h or window[1] > w:
            raise ValueError(f"window {window} is larger than the image ({h}, {w})")
        if min(stride) < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        for axis, (extent, win, step) in enumerate(zip(size, window, stride)):
            if win < extent and step > win:
                raise ValueError(
                    f"stride {stride} is larger than window {window} along axis {axis}: "
                    "some pixels would never be occluded"
                )
        return cls((int(h), int(w)), window, stride)

    @property
    def rows(self) -> int:
        return math.ceil((self.size[0] - self.window[0]) / self.stride[0]) + 1

    @property
    def cols(self) -> int:
        return math.ceil((self.size[1] - self.window[1]) / self.stride[1]) + 1

    @property
    def count(self) -> int:
        """Number of windows, ``rows * cols``."""
        return self.rows * self.cols

    def box(self, k: int) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) of window ``k``, clipped to the image (bottom/right exclusive)."""
        top, left = (k // self.cols) * self.stride[0], (k % self.cols) * self.stride[1]
        return top, min(top + self.window[0], self.size[0]), left, min(left + self.window[1], self.size[1])

    def kernel_args(self) -> dict[str, int]:
        """The grid as the keyword arguments of the ``pyfast._C`` occlusion kernels."""
        return {"window_h": self.window[0], "window_w": self.window[1], "stride_h": self.stride[0],
                    "stride_w": self.stride[1], "rows": self.rows, "cols": self.cols}


def _check_image(x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point torch.Tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    if x.dim() != 3 or 0 in x.shape:
        raise ValueError(f"x must be one non-empty image (C, H, W), got shape {tuple(x.shape)}")
    return x


def _check_baseline(baseline: float | torch.Tensor, x: torch.Tensor) -> float | torch.Tensor:
    if isinstance(baseline, torch.Tensor):
        if baseline.dim() == 0:
            return float(baseline)
        if tuple(baseline.shape) != tuple(x.shape):
            raise ValueError(f"baseline must be a number or a tensor of x's shape {tuple(x.shape)}, "
                             f"got shape {tuple(baseline.shape)}")
        return baseline.to(device=x.device, dtype=x.dtype).contiguous()
    try:
        return float(baseline)
    except (TypeError, ValueError):
        raise ValueError(f"baseline must be a number or a tensor, got {baseline!r}") from None


def _check_range(grid: OcclusionGrid, first: int, count: int | None) -> int:
    if count is None:
        count = grid.count - first
    if first < 0 or count < 0 or first + count > grid.count:
        raise ValueError(f"windows [{first}, {first + count}) are outside the grid's {grid.count} windows")
    return count


def occlude(
    x: torch.Tensor,
    grid: OcclusionGrid,
    baseline: float | torch.Tensor = 0.0,
    first: int = 0,
    count: int | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Occluded copies of one image, written in one pass by the compiled kernel.

    Args:
        x: the image, (C, H, W), float32 or float64 (other float dtypes use the reference).
        grid: the sweep's windows; ``grid.size`` must be (H, W).
        baseline: what replaces the occluded pixels: a number or a (C, H, W) tensor.
        first: index of the first window.
        count: number of windows (default: all from ``first`` on).
        out: optional preallocated (count, C, H, W) contiguous tensor of x's dtype and device.

    Returns:
        (count, C, H, W): copy ``p`` is ``x`` with window ``first + p`` set to the baseline
        over all channels.

    Raises:
        ValueError: bad shapes, a grid for another image size, windows outside the grid.
    """
    x = _check_image(x)
    if tuple(x.shape[1:]) != grid.size:
        raise ValueError(f"the grid is for images of size {grid.size}, got x of shape {tuple(x.shape)}")
    baseline = _check_baseline(baseline, x)
    count = _check_range(grid, first, count)
    shape = (count, *x.shape)
    if out is None:
        out = torch.empty(shape, dtype=x.dtype, device=x.device)
    elif tuple(out.shape) != shape or out.dtype != x.dtype or out.device != x.device or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous {x.dtype} tensor of shape {shape} on {x.device}, "
                         f"got {out.dtype} {tuple(out.shape)} on {out.device}")
    kernels = kernel_for(x, "occlude")
    if kernels is None:
        out.copy_(reference.occlude(x, grid, baseline, first, count))
        return out
    x = x.contiguous()
    tensor_baseline = baseline if isinstance(baseline, torch.Tensor) else None
    kernels.occlusion_fill(
        dlpack(x), dlpack(out), first=first,
        baseline=None if tensor_baseline is None else dlpack(tensor_baseline),
        baseline_value=0.0 if tensor_baseline is not None else baseline,
        stream=stream_of(x), **grid.kernel_args(),
    )
    return out


def occlusion_heatmap(drops: torch.Tensor, grid: OcclusionGrid) -> torch.Tensor:
    """Per-pixel mean of the output drops of the windows covering each pixel.

    Args:
        drops: (N, grid.count) output drop of each window for each of N images, float32/float64.
        grid: the sweep's windows.

    Returns:
        (N, H, W) of drops' dtype. Every pixel is covered by at least one window for a grid
        made by :meth:`OcclusionGrid.create`.

    Raises:
        ValueError: ``drops`` is not (N, grid.count) floating point.
    """
    if not isinstance(drops, torch.Tensor) or not drops.is_floating_point():
        raise ValueError(f"drops must be a floating-point tensor, got {getattr(drops, 'dtype', type(drops).__name__)}")
    if drops.dim() != 2 or drops.shape[1] != grid.count or drops.shape[0] < 1:
        raise ValueError(f"drops must have shape (N, {grid.count}), got {tuple(drops.shape)}")
    kernels = kernel_for(drops, "occlusion_heatmap")
    if kernels is None:
        return reference.occlusion_heatmap(drops, grid)
    drops = drops.contiguous()
    out = drops.new_empty((drops.shape[0], *grid.size))
    kernels.occlusion_heatmap(dlpack(drops), dlpack(out), stream=stream_of(drops), **grid.kernel_args())
    return out
