"""``pyfast bench kernels``: each compiled kernel against its PyTorch formulation.

Gram matrix on the VGG-16 feature maps of a batch of four 256x256 images
(relu1_2 ... relu4_3) and total variation on (4, 3, 256, 256) and
(1, 3, 1024, 1024), forward and forward+backward, float32. The baseline is
:mod:`pyfast.ops.reference` (``torch.bmm`` + autograd, the sliced-difference
TV + autograd), timed in the same run, alternating with pyfast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import torch

from .._ext import extension
from ..ops import gram_matrix, reference, total_variation
from ..ops._dispatch import dlpack, stream_of
from .machine import Peaks, copy_gbps, describe_machine, measure_peaks
from .report import markdown_table
from .timing import time_alternating

GRAM_SHAPES: dict[str, tuple[int, int, int, int]] = {
    "relu1_2": (4, 64, 256, 256),
    "relu2_2": (4, 128, 128, 128),
    "relu3_3": (4, 256, 64, 64),
    "relu4_3": (4, 512, 32, 32),
}
TV_SHAPES: list[tuple[int, int, int, int]] = [(4, 3, 256, 256), (1, 3, 1024, 1024)]

# Small shapes for smoke tests of the harness itself.
QUICK_GRAM_SHAPES = {"tiny_a": (2, 16, 32, 32), "tiny_b": (2, 32, 16, 16)}
QUICK_TV_SHAPES = [(1, 3, 64, 64)]

MODES = ("fwd", "fwd+bwd")
# Fast cases repeat until each function has run this long (seconds), for stable medians.
MIN_SECONDS = 0.25


@dataclass
class CaseResult:
    """One op, shape and mode, timed for the reference and for pyfast."""

    op: str
    label: str
    shape: tuple[int, ...]
    mode: str
    torch_ms: float  # the reference through autograd, as a user calls it
    pyfast_ms: float  # pyfast through autograd, as a user calls it
    speedup: float
    kernel_ms: float  # pyfast's kernels alone, writing preallocated outputs
    unit: str  # "GFLOP/s" or "GB/s"
    torch_rate: float
    kernel_rate: float
    peak: float  # measured ceiling in `unit`: fp32 GEMM rate, or same-size copy bandwidth
    floor_ms: float | None = None  # bytes moved / same-size copy bandwidth (memory-bound ops)


@dataclass
class TargetCheck:
    name: str
    measured: float
    target: float
    higher_is_better: bool = True

    @property
    def met(self) -> bool:
        return self.measured >= self.target if self.higher_is_better else self.measured <= self.target


def _step(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, mode: str, grad: torch.Tensor | None):
    """A closure running fn forward (no autograd) or forward+backward."""
    if mode == "fwd":
        def run() -> None:
            with torch.no_grad():
                fn(x)
    else:
        leaf = x.detach().requires_grad_()

        def run() -> None:
            out = fn(leaf)
            out.backward(grad)
            leaf.grad = None
    return run


def _gram_kernel_step(x: torch.Tensor, mode: str) -> Callable[[], None]:
    """pyfast's Gram kernels alone on preallocated outputs (no autograd, no allocation)."""
    b, c, h, w = x.shape
    scale = 1.0 / (c * h * w)
    out = x.new_empty((b, c, c))
    grad = torch.randn_like(out)
    grad_x = torch.empty_like(x)
    stream = stream_of(x)

    def run() -> None:
        extension.gram_forward(dlpack(x), dlpack(out), scale, stream)
        if mode == "fwd+bwd":
            extension.gram_backward(dlpack(x), dlpack(grad), dlpack(grad_x), scale, stream)

    return run


def _tv_kernel_step(x: torch.Tensor, mode: str) -> Callable[[], None]:
    """pyfast's TV kernels alone on preallocated outputs (no autograd, no allocation)."""
    per_image = x.new_empty((x.shape[0],))
    weights = torch.ones_like(per_image)
    grad_x = torch.empty_like(x)
    stream = stream_of(x)

    def run() -> None:
        extension.tv_forward(dlpack(x), dlpack(per_image), 2.0, 0.0, stream)
        if mode == "fwd+bwd":
            extension.tv_backward(dlpack(x), dlpack(weights), dlpack(grad_x), 2.0, 0.0, stream)

    return run


def _gram_cases(shapes: dict[str, tuple[int, int, int, int]], device: torch.device, peaks: Peaks) -> Iterator[Callable[[int, int], CaseResult]]:
    for label, shape in shapes.items():
        b, c, h, w = shape
        n = h * w
        for mode in MODES:
            def case(warmup: int, repeats: int, label=label, shape=shape, mode=mode, b=b, c=c, n=n) -> CaseResult:
                x = torch.randn(shape, device=device)
                grad = torch.randn(b, c, c, device=device) if mode == "fwd+bwd" else None
                t = time_alternating(
                    {
                        "torch": _step(reference.gram_matrix, x, mode, grad),
                        "pyfast": _step(gram_matrix, x, mode, grad),
                        "kernel": _gram_kernel_step(x, mode),
                    },
                    device,
                    warmup,
                    repeats,
                    min_seconds=MIN_SECONDS,
                )
                # FLOPs each implementation performs: bmm forms the full C x C
                # product and backward two GEMMs; pyfast one triangle and one GEMM.
                torch_flops = 2 * b * c * c * n * (1 if mode == "fwd" else 3)
                pyfast_flops = b * c * (c + 1) * n + (2 * b * c * c * n if mode == "fwd+bwd" else 0)
                return CaseResult(
                    "gram_matrix", label, shape, mode, t["torch"] * 1e3, t["pyfast"] * 1e3,
                    t["torch"] / t["pyfast"], t["kernel"] * 1e3, "GFLOP/s", torch_flops / t["torch"] / 1e9,
                    pyfast_flops / t["kernel"] / 1e9, peaks.gemm_gflops["float32"],
                )

            yield case


def _tv_cases(shapes: list[tuple[int, int, int, int]], device: torch.device, peaks: Peaks) -> Iterator[Callable[[int, int], CaseResult]]:
    for shape in shapes:
        for mode in MODES:
            def case(warmup: int, repeats: int, shape=shape, mode=mode) -> CaseResult:
                x = torch.randn(shape, device=device)
                t = time_alternating(
                    {
                        "torch": _step(reference.total_variation, x, mode, None),
                        "pyfast": _step(total_variation, x, mode, None),
                        "kernel": _tv_kernel_step(x, mode),
                    },
                    device,
                    warmup,
                    repeats,
                    min_seconds=MIN_SECONDS,
                )
                # Compulsory traffic: read x (forward); read x, write dx (backward).
                nbytes = x.numel() * x.element_size() * (1 if mode == "fwd" else 3)
                same_size_copy = copy_gbps(device, x.numel() * x.element_size())
                return CaseResult(
                    "total_variation", "x".join(map(str, shape)), shape, mode, t["torch"] * 1e3,
                    t["pyfast"] * 1e3, t["torch"] / t["pyfast"], t["kernel"] * 1e3, "GB/s",
                    nbytes / t["torch"] / 1e9, nbytes / t["kernel"] / 1e9, same_size_copy,
                    floor_ms=nbytes / (same_size_copy * 1e9) * 1e3,
                )

            yield case


def _targets(results: list[CaseResult], device: torch.device, quick: bool) -> list[TargetCheck]:
    def total(op: str, mode: str, key: str) -> float:
        return sum(getattr(r, key) for r in results if r.op == op and r.mode == mode)

    checks = []
    gram_fb = total("gram_matrix", "fwd+bwd", "torch_ms") / total("gram_matrix", "fwd+bwd", "pyfast_ms")
    gram_f = total("gram_matrix", "fwd", "torch_ms") / total("gram_matrix", "fwd", "pyfast_ms")
    tv_fb = [r for r in results if r.op == "total_variation" and r.mode == "fwd+bwd"]
    first_tv = tv_fb[0]
    if device.type == "cpu":
        checks.append(TargetCheck("Gram fwd+bwd speedup, total over shapes", gram_fb, 2.5))
        checks.append(TargetCheck("Gram fwd speedup, total over shapes", gram_f, 1.4))
        checks.append(TargetCheck(f"TV fwd+bwd speedup at {first_tv.label}", first_tv.speedup, 6.0))
        checks.append(
            TargetCheck(
                f"TV fwd+bwd kernel time / copy floor at {first_tv.label}",
                first_tv.kernel_ms / first_tv.floor_ms,
                3.0,
                higher_is_better=False,
            )
        )
    else:
        checks.append(TargetCheck("Gram fwd+bwd speedup, total over shapes", gram_fb, 1.5))
        for r in tv_fb:
            checks.append(TargetCheck(f"TV fwd+bwd kernel fraction of copy bandwidth at {r.label}", r.kernel_rate / r.peak, 0.7))
    if quick:  # the quick shapes are too small for the targets to mean anything
        return []
    return checks


def run_kernel_suite(
    device: str | torch.device = "cpu",
    warmup: int = 2,
    repeats: int = 9,
    quick: bool = False,
    progress: bool = True,
) -> dict:
    """Runs the kernel benchmark.

    Args:
        device: "cpu" or "cuda".
        warmup: untimed runs of each function before measuring.
        repeats: timed runs of each function (alternating); medians are reported.
        quick: tiny shapes, to check the harness (no targets evaluated).
        progress: show a progress bar on stderr.

    Returns:
        A JSON-serialisable dict: ``machine``, ``peaks``, ``cases`` (one per op,
        shape and mode), ``targets`` (each with measured value and whether met).

    Raises:
        ValueError: unknown device, or CUDA requested where there is none.
    """
    from tqdm.auto import tqdm

    device = torch.device(device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {str(device)!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    if warmup < 0 or repeats < 1:
        raise ValueError(f"warmup must be >= 0 and repeats >= 1, got {warmup} and {repeats}")

    torch.manual_seed(0)
    peaks = measure_peaks(device)
    gram_shapes = QUICK_GRAM_SHAPES if quick else GRAM_SHAPES
    tv_shapes = QUICK_TV_SHAPES if quick else TV_SHAPES
    cases = [*_gram_cases(gram_shapes, device, peaks), *_tv_cases(tv_shapes, device, peaks)]
    results = []
    for case in tqdm(cases, desc="bench kernels", unit="case", disable=not progress, leave=False):
        results.append(case(warmup, repeats))
    # Ceilings are measured before and after the cases; the better of the two counts.
    peaks = peaks.merge_max(measure_peaks(device))
    for r in results:
        if r.unit == "GFLOP/s":
            r.peak = peaks.gemm_gflops["float32"]
    return {
        "suite": "kernels",
        "device": str(device),
        "warmup": warmup,
        "repeats": repeats,
        "machine": describe_machine(device),
        "peaks": peaks.as_dict(),
        "cases": [asdict(r) for r in results],
        "targets": [dict(asdict(c), met=c.met) for c in _targets(results, device, quick)],
    }


def format_kernel_report(report: dict) -> str:
    """The report as markdown: machine and peaks, the case table, the targets."""
    machine, peaks = report["machine"], report["peaks"]
    where = machine.get("gpu") or f"{machine['cpu']}, {machine['cores']} cores"
    lines = [
        f"Machine: {where}; torch {machine['torch']}; pyfast {machine['pyfast_build']['version']} "
        f"(cpu_isa={machine['pyfast_build'].get('cpu_isa')}, cuda={machine['pyfast_build']['cuda_compiled']})",
        f"Measured peaks: GEMM fp32 {peaks['gemm_gflops']['float32']:.0f} GFLOP/s, "
        f"fp64 {peaks['gemm_gflops']['float64']:.0f} GFLOP/s; copy {peaks['copy_gbps']:.1f} GB/s. "
        f"Medians of {report['repeats']} alternating repeats after {report['warmup']} warm-up runs.",
        "",
    ]
    rows = []
    for c in report["cases"]:
        shape = "x".join(map(str, c["shape"]))
        name = f"{c['op']} {c['label']}" if c["op"] == "gram_matrix" else c["op"]
        floor = f"{c['kernel_ms'] / c['floor_ms']:.2f}x" if c["floor_ms"] else "-"
        rows.append([
            name, shape, c["mode"], round(c["torch_ms"], 3), round(c["pyfast_ms"], 3),
            f"{c['speedup']:.2f}x", round(c["kernel_ms"], 3), f"{c['kernel_rate']:.1f} {c['unit']}",
            f"{100 * c['kernel_rate'] / c['peak']:.0f}%", floor,
        ])
    lines.append(markdown_table(
        ["op", "shape", "pass", "torch ms", "pyfast ms", "speedup", "kernel ms", "kernel rate", "of peak",
         "kernel / floor"],
        rows,
    ))
    lines += [
        "",
        "torch ms / pyfast ms: the op through autograd as a user calls it (allocations included); "
        "kernel ms: pyfast's kernels alone on preallocated outputs. Rates count the FLOPs each side "
        "performs (pyfast's Gram forward computes one triangle) or the compulsory bytes (TV: read x; "
        "read x and write dx). Floor: those bytes at the bandwidth of a copy of the same size.",
    ]
    if report["targets"]:
        lines += ["", markdown_table(
            ["target", "measured", "goal", "met"],
            [[t["name"], f"{t['measured']:.2f}", ("≥ " if t["higher_is_better"] else "≤ ") + f"{t['target']:g}",
              "yes" if t["met"] else "NO"] for t in report["targets"]],
        )]
    return "\n".join(lines)
