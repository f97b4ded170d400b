"""``pyfast bench masked_conv``: PixelCNN's masked convolution and cached sampling.

Masked convolution, forward+backward, against the dense masked formulation
``F.conv2d(x, weight * mask) + autograd`` (:func:`pyfast.ops.reference.masked_conv2d`)
over a PixelCNN's layer shapes: batch 16 at 28x28 and 32x32, 1->64 7x7 mask A
(the image input, which needs no gradient), 64->64 and 128->128 3x3 mask B.
Both sides are timed in the same run, alternating. The floor of each layer is
the FLOPs of its kept taps (pyfast computes only those) at the machine's
measured fp32 GEMM rate.

Sampling: the default PixelCNN at batch 16, 28x28, cached (compiled, one pass
in all) against naive (one full forward pass per pixel). The naive sampler's
cost is H*W forward passes of identical cost; when that would take more than
``naive_budget_s`` the report extrapolates it from timed forward passes and
says so, otherwise the full naive sampler runs and its images are compared with
the cached sampler's.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from ..generate.pixelcnn import PixelCNN
from ..ops import masked_conv2d, reference
from .machine import describe_machine, gemm_gflops
from .report import markdown_table
from .timing import time_alternating

# (label, in channels, out channels, kernel, mask)
LAYERS = [("1->64 7x7 A", 1, 64, 7, "A"), ("64->64 3x3 B", 64, 64, 3, "B"), ("128->128 3x3 B", 128, 128, 3, "B")]
SIZES = (28, 32)
BATCH = 16
SAMPLE_BATCH, SAMPLE_SIZE = 16, 28
# Small cases for smoke tests of the harness itself.
QUICK_LAYERS = [("1->8 7x7 A", 1, 8, 7, "A"), ("8->8 3x3 B", 8, 8, 3, "B")]
QUICK_SIZES = (8,)
QUICK_BATCH = 2
# Held-out generated digits for the shipped PixelCNN's likelihood.
HELDOUT_IMAGES, QUICK_HELDOUT = 2000, 16
QUICK_SAMPLE = (2, 6)
QUICK_MODEL = {"channels": 8, "n_blocks": 1}  # the default PixelCNN otherwise
MIN_SECONDS = 1.0  # per function and layer: fast layers repeat for stable medians
NAIVE_BUDGET_S = 120.0


@dataclass
class LayerResult:
    label: str
    size: int
    batch: int
    torch_ms: float  # dense masked conv + autograd, forward+backward
    pyfast_ms: float
    speedup: float
    kept_gflop: float  # FLOPs of the kept taps, all passes
    pyfast_gflops: float
    floor_ms: float  # kept FLOPs at the measured fp32 GEMM rate


def _kept_taps(k: int, mask: str) -> int:
    return (k // 2) * k + k // 2 + (1 if mask == "B" else 0)


def _fwd_bwd(fn, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, mask: str, grad: torch.Tensor):
    def run() -> None:
        out = fn(x, w, b, mask)
        out.backward(grad)
        for t in (x, w, b):
            t.grad = None

    return run


def _layer_case(label, cin, cout, k, mask, size, batch, device, peak_gflops, warmup, repeats, min_seconds) -> LayerResult:
    x = torch.randn(batch, cin, size, size, device=device, requires_grad=cin > 1)
    w = (torch.randn(cout, cin, k, k, device=device) / (cin * k * k) ** 0.5).requires_grad_()
    b = torch.zeros(cout, device=device, requires_grad=True)
    grad = torch.randn(batch, cout, size, size, device=device)
    t = time_alternating(
        {"torch": _fwd_bwd(reference.masked_conv2d, x, w, b, mask, grad), "pyfast": _fwd_bwd(masked_conv2d, x, w, b, mask, grad)},
        device, warmup, repeats, min_seconds=min_seconds,
    )
    passes = 3 if x.requires_grad else 2  # forward, grad weight (+ grad input)
    flops = passes * 2 * batch * size * size * cout * cin * _kept_taps(k, mask)
    return LayerResult(label, size, batch, t["torch"] * 1e3, t["pyfast"] * 1e3, t["torch"] / t["pyfast"], flops / 1e9,
                       flops / t["pyfast"] / 1e9, flops / (peak_gflops * 1e9) * 1e3)


def _time_sampling(device: torch.device, batch: int, size: int, naive_budget_s: float, progress: bool,
                   model_kwargs: dict) -> dict:
    torch.manual_seed(0)
    model = PixelCNN(image_size=size, **model_kwargs).to(device)
    model.sample(batch, seed=0, progress=False, image_size=2)  # warm-up (threads, allocator)
    start = time.perf_counter()
    cached = model.sample(batch, seed=1, method="cached", progress=progress)
    cached_s = time.perf_counter() - start
    probe = torch.zeros(batch, 1, size, size, device=device)
    with torch.no_grad():
        per_pass = time_alternating({"forward": lambda: model(probe)}, device, warmup=1, repeats=5)["forward"]
    pixels = size * size
    estimate = per_pass * pixels
    result = {"model": {"channels": model.channels, "n_blocks": model.n_blocks, "levels": model.levels},
              "batch": batch, "size": size, "cached_s": cached_s, "forward_pass_s": per_pass,
              "cached_over_forward_pass": cached_s / per_pass}
    if estimate > naive_budget_s:
        result.update(naive_s=estimate, naive_extrapolated=True, samples_equal=None)
    else:
        start = time.perf_counter()
        naive = model.sample(batch, seed=1, method="naive", progress=progress)
        result.update(naive_s=time.perf_counter() - start, naive_extrapolated=False, samples_equal=bool(torch.equal(naive, cached)))
    result["speedup"] = result["naive_s"] / cached_s
    return result


def run_masked_conv_suite(
    device: str | torch.device = "cpu",
    warmup: int = 2,
    repeats: int = 9,
    quick: bool = False,
    progress: bool = True,
    naive_budget_s: float = NAIVE_BUDGET_S,
) -> dict:
    """Runs the masked convolution and sampling benchmark.

    Args:
        device: "cpu" or "cuda".
        warmup: untimed runs of each function before measuring.
        repeats: timed runs of each function (alternating); medians are reported.
        quick: tiny shapes and a tiny sample, to check the harness (no targets).
        progress: show progress bars on stderr.
        naive_budget_s: run the naive sampler in full only if its estimated time
            is at most this; otherwise extrapolate it from timed forward passes.

    Returns:
        A JSON-serialisable dict: ``machine``, ``gemm_gflops`` (measured fp32 rate),
        ``layers`` (one per layer and size), ``total`` (sums over layers),
        ``sampling``, ``targets``.

    Raises:
        ValueError: unknown device, CUDA requested where there is none, bad counts.
    """
    from tqdm.auto import tqdm

    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {str(device)!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    if warmup < 0 or repeats < 1:
        raise ValueError(f"warmup must be >= 0 and repeats >= 1, got {warmup} and {repeats}")
    torch.manual_seed(0)
    peak = gemm_gflops(device, torch.float32, repeats=3 if quick else 9)
    layers, sizes, batch = (QUICK_LAYERS, QUICK_SIZES, QUICK_BATCH) if quick else (LAYERS, SIZES, BATCH)
    jobs = [(size, layer) for size in sizes for layer in layers]
    results = [
        _layer_case(*layer, size, batch, device, peak, warmup, repeats, 0.0 if quick else MIN_SECONDS)
        for size, layer in tqdm(jobs, desc="bench masked_conv", unit="layer", disable=not progress, leave=False)
    ]
    total = {key: sum(getattr(r, key) for r in results) for key in ("torch_ms", "pyfast_ms", "floor_ms", "kept_gflop")}
    total["speedup"] = total["torch_ms"] / total["pyfast_ms"]
    sample_batch, sample_size = QUICK_SAMPLE if quick else (SAMPLE_BATCH, SAMPLE_SIZE)
    sampling = _time_sampling(device, sample_batch, sample_size, naive_budget_s, progress, QUICK_MODEL if quick else {})
    heldout = heldout_nll(images=QUICK_HELDOUT if quick else HELDOUT_IMAGES)
    targets = [] if quick else [
        {"name": "masked conv fwd+bwd speedup over F.conv2d(x, weight*mask), total over the layer set",
         "measured": total["speedup"], "target": 1.5},
        {"name": f"cached / naive sampling speedup, batch {sample_batch}, {sample_size}x{sample_size}",
         "measured": sampling["speedup"], "target": 100.0},
    ]
    for t in targets:
        t["met"] = t["measured"] >= t["target"]
    return {
        "suite": "masked_conv",
        "device": str(device),
        "warmup": warmup,
        "repeats": repeats,
        "machine": describe_machine(device),
        "gemm_gflops": peak,
        "layers": [asdict(r) for r in results],
        "total": total,
        "sampling": sampling,
        "heldout_nll": heldout,
        "targets": targets,
    }



def heldout_nll(images: int = HELDOUT_IMAGES) -> dict:
    """NLL of the shipped PixelCNN on ``images`` held-out generated digits (seed HELDOUT_SEED).

    Returns ``{"images", "variant", "nll_nats", "bits_per_dim", "seconds"}``.
    """
    from ..data.digits import HELDOUT_SEED, make_digits
    from ..generate.training import evaluate_pixelcnn, load_model
    from ..generate.zoo import resolve_generative

    model, record = load_model(resolve_generative("pixelcnn", suffix=".pt"), kind="pixelcnn")
    data = record["data"]
    digits, _ = make_digits(images, size=data["image_size"], seed=HELDOUT_SEED, variant=data["variant"])
    start = time.perf_counter()
    result = evaluate_pixelcnn(model, digits)
    return {"images": images, "variant": data["variant"], "nll_nats": result["nll_nats"],
            "bits_per_dim": result["bits_per_dim"], "seconds": time.perf_counter() - start}

def format_masked_conv_report(report: dict) -> str:
    """The report as markdown: machine, the per-layer table with the total, sampling, targets."""
    machine = report["machine"]
    where = machine.get("gpu") or f"{machine['cpu']}, {machine['cores']} cores"
    lines = [
        f"Machine: {where}; torch {machine['torch']}; measured fp32 GEMM {report['gemm_gflops']:.0f} GFLOP/s. "
        f"Medians of {report['repeats']} alternating repeats "
        f"after {report['warmup']} warm-up runs.",
        "",
    ]
    rows = [[r["label"], f"{r['batch']}x{r['size']}x{r['size']}", round(r["torch_ms"], 2), round(r["pyfast_ms"], 2),
             f"{r['speedup']:.2f}x", f"{r['pyfast_gflops']:.0f}", round(r["floor_ms"], 2),
             f"{r['pyfast_ms'] / r['floor_ms']:.1f}x"] for r in report["layers"]]
    tot = report["total"]
    rows.append(["total", "", round(tot["torch_ms"], 2), round(tot["pyfast_ms"], 2), f"{tot['speedup']:.2f}x", "",
                 round(tot["floor_ms"], 2), f"{tot['pyfast_ms'] / tot['floor_ms']:.1f}x"])
    lines.append(markdown_table(
        ["layer", "input", "torch ms", "pyfast ms", "speedup", "pyfast GFLOP/s", "floor ms", "pyfast / floor"], rows))
    lines += [
        "",
        "Forward+backward through autograd (grad input, weight and bias; the 1-channel image input "
        "needs no gradient). torch: F.conv2d(x, weight * mask) + autograd. Floor: FLOPs of the kept "
        "taps (about half a dense convolution's) at the measured fp32 GEMM rate.",
        "",
    ]
    s = report["sampling"]
    how = ("extrapolated: H*W forward passes at the timed cost of one (the full run would exceed the budget)"
           if s["naive_extrapolated"] else f"measured in full; same images as cached: {s['samples_equal']}")
    lines.append(markdown_table(
        ["sampler", "seconds", "note"],
        [["cached (compiled)", round(s["cached_s"], 3), f"{s['cached_over_forward_pass']:.2f} forward passes"],
         ["naive", round(s["naive_s"], 2), how],
         ["speedup", f"{s['speedup']:.0f}x", f"PixelCNN {s['model']}, batch {s['batch']}, {s['size']}x{s['size']}"]]))
    nll = report["heldout_nll"]
    lines += ["", f"Shipped PixelCNN on {nll['images']} held-out generated digits ({nll['variant']}): NLL "
              f"{nll['nll_nats']:.2f} nats/image = {nll['bits_per_dim']:.4f} bits/dim ({nll['seconds']:.1f} s)."]
    if report["targets"]:
        lines += ["", markdown_table(
            ["target", "measured", "goal", "met"],
            [[t["name"], f"{t['measured']:.2f}", f"≥ {t['target']:g}", "yes" if t["met"] else "NO"] for t in report["targets"]])]
    return "\n".join(lines)
