"""``pyfast bench inference``: TransformerNet in PyTorch eager vs ONNX Runtime.

Frames per second at 256x256, 512x512, 640x480 and 1280x720 (batch 1), for the
full model and the half-width student, on every execution provider present
(CPU, as ONNX Runtime's graph and as the fused path the Engine picks there; CUDA
and TensorRT where available, with float16 variants on GPU): each case alternates
its backends. Then the student against the full model, the two models alternating
with each other at each size through each CPU backend (the ratio the student target
is about, measured side by side). Weights are random: speed does not depend on them.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..models import TransformerNet
from ..onnx import export_style
from ..runtime import Engine, available_providers
from .machine import describe_machine
from .report import markdown_table
from .timing import time_alternating

SIZES = {"256x256": (256, 256), "512x512": (512, 512), "640x480": (480, 640), "1280x720": (720, 1280)}
QUICK_SIZES = {"64x64": (64, 64), "96x80": (80, 96)}
WIDTHS = {"full": 1.0, "half": 0.5}
MIN_SECONDS = 3.0  # per backend and case: slow cases (~0.7 s a frame) still get several samples


@dataclass
class StudentResult:
    """The full model and the half-width student, alternating through one backend at one size."""

    size: str
    backend: str
    full_ms: float
    half_ms: float
    speedup: float  # full_ms / half_ms


@dataclass
class InferenceResult:
    model: str
    size: str
    backend: str  # "torch eager (cpu)", "onnxruntime CPUExecutionProvider", ...
    fps: float
    ms: float


FUSED = "onnxruntime CPU + pyfast fused"


def _backends(device: torch.device) -> list[tuple[str, str, bool, bool]]:
    """(label, provider, fp16, fused) of the ONNX Runtime variants to time."""
    available = available_providers()
    out = [("onnxruntime CPU", "CPUExecutionProvider", False, False), (FUSED, "CPUExecutionProvider", False, True)]
    if device.type == "cuda":
        out = []
        if "CUDAExecutionProvider" in available:
            out += [("onnxruntime CUDA", "CUDAExecutionProvider", False, False),
                    ("onnxruntime CUDA fp16", "CUDAExecutionProvider", True, False)]
        if "TensorrtExecutionProvider" in available:
            out += [("onnxruntime TensorRT fp16", "TensorrtExecutionProvider", True, False)]
    return out


def _engines(onnx_paths: dict, backends: list, model_name: str) -> tuple[dict, dict]:
    """({label: Engine} for the backends that can run ``model_name``, {label: why not} for the rest)."""
    engines, unavailable = {}, {}
    for label, provider, fp16, fused in backends:
        try:
            engines[label] = Engine(onnx_paths[model_name, fp16], providers=[provider], fused=fused)
        except ValueError as exc:  # fused=True on a CPU where ONNX Runtime has no blocked convolutions
            if not fused:
                raise
            unavailable[label] = str(exc)
    return engines, unavailable


def run_inference_suite(device: str = "cpu", quick: bool = False, progress: bool = True, min_seconds: float = MIN_SECONDS) -> dict:
    """Times each model/size/backend; returns a JSON-serialisable report with targets."""
    from tqdm.auto import tqdm

    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed sizes: pick each convolution's fastest algorithm once
    sizes = QUICK_SIZES if quick else SIZES
    results: list[InferenceResult] = []
    workdir = Path(tempfile.mkdtemp(prefix="pyfast-bench-"))
    backends = _backends(device)
    models, onnx_paths = {}, {}
    for model_name, width in WIDTHS.items():
        torch.manual_seed(0)
        models[model_name] = TransformerNet(width=width).eval()
        for fp16 in {fp16 for _, _, fp16, _ in backends}:  # CUDA fp16 and TensorRT share one file
            path = workdir / f"{model_name}{'_fp16' if fp16 else ''}.onnx"
            onnx_paths[model_name, fp16] = export_style(models[model_name], path, fp16=fp16, verify=False).path
    jobs = [(m, s) for m in WIDTHS for s in sizes]
    student_sizes = sizes if backends else {}  # a CUDA machine whose onnxruntime has no GPU provider
    cpu_backends = [b for b in backends if b[1] == "CPUExecutionProvider"] or backends[:1]
    bar = tqdm(total=len(jobs) + len(student_sizes) * len(cpu_backends), desc="bench inference", unit="case",
               disable=not progress, leave=False)
    unavailable = {}
    for model_name, size_name in jobs:
        model = models[model_name]
        h, w = sizes[size_name]
        x = torch.rand(1, 3, h, w) * 255
        fns = {}
        dev_model, dev_x = model.to(device), x.to(device)

        def eager(m=dev_model, t=dev_x):
            with torch.inference_mode():
                m(t)

        fns[f"torch eager ({device.type})"] = eager
        if device.type == "cuda":
            # What a user would run for speed on a GPU: fp16, channels_last, cuDNN's autotuner (set above).
            half_model = TransformerNet(width=WIDTHS[model_name]).eval().to(device, torch.half, memory_format=torch.channels_last)
            half_x = dev_x.half().contiguous(memory_format=torch.channels_last)

            def eager_half(m=half_model, t=half_x):
                with torch.inference_mode():
                    m(t)

            fns["torch eager fp16 channels_last (cuda)"] = eager_half
        array = x.numpy()
        engines, missing = _engines(onnx_paths, backends, model_name)
        unavailable.update(missing)
        for label, engine in engines.items():
            fns[label] = lambda e=engine, a=array: e.run(a)
        times = time_alternating(fns, device, warmup=2, repeats=5, min_seconds=min_seconds)
        for label, seconds in times.items():
            results.append(InferenceResult(model_name, size_name, label, 1.0 / seconds, seconds * 1e3))
        model.cpu()
        bar.update()
    students = []
    for backend in cpu_backends:
        for size_name, size in student_sizes.items():
            if backend[0] not in unavailable:
                students.append(_time_student(onnx_paths, backend, size_name, size, min_seconds))
            bar.update()
    bar.close()
    return {
        "suite": "inference",
        "device": str(device),
        "machine": describe_machine(device),
        "results": [asdict(r) for r in results],
        "student": [asdict(r) for r in students],
        "unavailable": unavailable,
        "targets": [] if quick else _targets(results, students, device),
    }


def _time_student(onnx_paths: dict, backend: tuple[str, str, bool, bool], size_name: str,
                  size: tuple[int, int], min_seconds: float) -> StudentResult:
    """The full and half-width ONNX models through one backend, alternating on one (1, 3, H, W) input."""
    label, provider, fp16, fused = backend
    array = (torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0)) * 255).numpy()
    engines = {name: Engine(onnx_paths[name, fp16], providers=[provider], fused=fused) for name in WIDTHS}
    fns = {name: (lambda e=engine: e.run(array)) for name, engine in engines.items()}
    times = time_alternating(fns, torch.device("cpu"), warmup=2, repeats=5, min_seconds=min_seconds)
    return StudentResult(size_name, label, times["full"] * 1e3, times["half"] * 1e3, times["full"] / times["half"])


def _fps(results: list[InferenceResult], model: str, size: str, backend: str) -> float:
    return next(r.fps for r in results if (r.model, r.size, r.backend) == (model, size, backend))


def _targets(results: list[InferenceResult], students: list[StudentResult], device: torch.device) -> list[dict]:
    if device.type == "cpu":
        ort, eager = "onnxruntime CPU", "torch eager (cpu)"
        # The student target is judged on what the Engine runs on this CPU: the fused path where it can.
        at_640 = {s.backend: s for s in students if s.size == "640x480"}
        student = at_640.get(FUSED, at_640[ort])
        return [
            {"name": "ONNX Runtime / PyTorch eager at 512x512 (full model)",
             "measured": _fps(results, "full", "512x512", ort) / _fps(results, "full", "512x512", eager), "target": 1.3},
            {"name": f"half-width / full frames per second at 640x480 ({student.backend}, alternating)",
             "measured": student.speedup, "target": 3.0},
        ]
    best = max((r for r in results if r.model == "full" and r.size == "1280x720"), key=lambda r: r.fps)
    return [{"name": f"1280x720 frames per second, full model ({best.backend})", "measured": best.fps, "target": 100.0}]


def format_inference_report(report: dict) -> str:
    machine = report["machine"]
    where = machine.get("gpu") or f"{machine['cpu']}, {machine['cores']} cores"
    results = report["results"]
    backends = list(dict.fromkeys(r["backend"] for r in results))
    eager = backends[0]
    rows = []
    for model in WIDTHS:
        for size in dict.fromkeys(r["size"] for r in results):
            row = [model, size]
            base = next(r["fps"] for r in results if (r["model"], r["size"], r["backend"]) == (model, size, eager))
            for b in backends:
                fps = next(r["fps"] for r in results if (r["model"], r["size"], r["backend"]) == (model, size, b))
                row.append(f"{fps:.1f}" + ("" if b == eager else f" ({fps / base:.2f}x)"))
            rows.append(row)
    lines = [f"Machine: {where}; torch {machine['torch']}. Frames per second, batch 1 (speedup over {eager}).", "",
             markdown_table(["model", "size", *backends], rows)]
    for backend in dict.fromkeys(s["backend"] for s in report.get("student", [])):
        student = [s for s in report["student"] if s["backend"] == backend]
        lines += ["", f"Half-width student vs full model, {backend}, the two models alternating:", "",
                  markdown_table(["size", "full ms", "half ms", "half / full fps"], [
                      [s["size"], f"{s['full_ms']:.1f}", f"{s['half_ms']:.1f}", f"{s['speedup']:.2f}x"] for s in student])]
    for backend, reason in report.get("unavailable", {}).items():
        lines += ["", f"{backend}: not run ({reason})."]
    if report["targets"]:
        lines += ["", markdown_table(["target", "measured", "goal", "met"], [
            [t["name"], f"{t['measured']:.2f}", f"≥ {t['target']:g}", "yes" if t["measured"] >= t["target"] else "NO"]
            for t in report["targets"]])]
    return "\n".join(lines)
