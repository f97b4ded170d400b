"""When an op runs its compiled kernel, and how tensors reach it.

The kernel is used for float32/float64 tensors on a device the extension was
built for. While tracing, scripting, exporting to ONNX or compiling, ops use
their reference formulation so that models export to standard operators.
A device the build lacks (a CUDA tensor with a CPU-only build) falls back to
the reference with a single warning per op and device type.
"""

from __future__ import annotations

import functools
import warnings
from types import ModuleType

import torch
from torch.utils.dlpack import to_dlpack

from .._ext import build_info, extension

_KERNEL_DTYPES = (torch.float32, torch.float64)
_warned: set[tuple[str, str]] = set()


def _graph_capture() -> bool:
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return True
    if torch.onnx.is_in_onnx_export():
        return True
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and compiler.is_compiling())


@functools.cache
def _cuda_compiled() -> bool:
    return bool(build_info()["cuda_compiled"])  # fixed for the process: asked once, not per op call


def _device_compiled(device: torch.device) -> bool:
    if device.type == "cpu":
        return True
    return device.type == "cuda" and _cuda_compiled()


def kernel_for(x: torch.Tensor, op: str) -> ModuleType | None:
    """The extension module if ``op`` should run its kernel on ``x``, else None."""
    if _graph_capture() or x.dtype not in _KERNEL_DTYPES:
        return None
    if extension is None or not _device_compiled(x.device):
        key = (op, x.device.type)
        if key not in _warned:
            _warned.add(key)
            reason = (
                "pyfast._C could not be imported"
                if extension is None
                else f"pyfast._C was built without {x.device.type.upper()} kernels"
            )
            warnings.warn(
                f"{op}: {reason}; using the PyTorch reference formulation", RuntimeWarning, stacklevel=3
            )
        return None
    return extension


def dlpack(t: torch.Tensor) -> object:
    """A DLPack capsule borrowing ``t`` (which must stay alive during the call)."""
    return to_dlpack(t)


def stream_of(t: torch.Tensor) -> int:
    """The handle of the current CUDA stream of ``t``'s device, 0 on the CPU."""
    if t.device.type == "cuda":
        return int(torch.cuda.current_stream(t.device).cuda_stream)
    return 0
