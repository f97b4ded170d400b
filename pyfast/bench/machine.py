"""What machine a benchmark ran on, and its measured peaks."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass

import torch

import pyfast

from .timing import time_alternating


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine(device: torch.device) -> dict[str, object]:
    """CPU, core count, accelerator, library versions and the extension's build."""
    info: dict[str, object] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyfast_build": pyfast.build_info(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
    return info


@dataclass
class Peaks:
    """Measured ceilings: fp32/fp64 GEMM rate and large-copy bandwidth."""

    gemm_gflops: dict[str, float]
    copy_gbps: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def merge_max(self, other: "Peaks") -> "Peaks":
        """The better of two measurements of each ceiling (a ceiling is a maximum)."""
        return Peaks(
            gemm_gflops={k: max(v, other.gemm_gflops[k]) for k, v in self.gemm_gflops.items()},
            copy_gbps=max(self.copy_gbps, other.copy_gbps),
        )


def gemm_gflops(device: torch.device, dtype: torch.dtype, repeats: int = 9) -> float:
    """GFLOP/s of a large square matmul, best of ``repeats`` (TF32 off: true fp32 FMA rate)."""
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        seconds = time_alternating({"mm": lambda: torch.mm(a, b)}, device, repeats=repeats, statistic=min)["mm"]
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return 2 * n**3 / seconds / 1e9


def copy_gbps(device: torch.device, nbytes: int, repeats: int = 9) -> float:
    """GB/s of ``dst.copy_(src)`` for buffers of ``nbytes`` (counting read + write), best of ``repeats``."""
    n = max(1, nbytes // 4)
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    seconds = time_alternating({"copy": lambda: dst.copy_(src)}, device, repeats=repeats, statistic=min)["copy"]
    return 2 * n * 4 / seconds / 1e9


def measure_peaks(device: torch.device) -> Peaks:
    big = (1 << 30) if device.type == "cuda" else (256 << 20)
    return Peaks(
        gemm_gflops={
            "float32": gemm_gflops(device, torch.float32),
            "float64": gemm_gflops(device, torch.float64),
        },
        copy_gbps=copy_gbps(device, big),
    )
