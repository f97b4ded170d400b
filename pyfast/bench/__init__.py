"""Benchmark suites: pyfast against the PyTorch formulation, side by side in one run.

Each suite measures medians over interleaved repeats after warm-up and reports
ratios, next to the machine's own measured peaks (a large GEMM, a large copy).
Run them with ``pyfast bench <suite>``; see ``bench/RESULTS.md`` for recorded runs.
"""

from .kernels import run_kernel_suite

__all__ = ["run_kernel_suite"]
