"""``pyfast bench occlusion``: pyfast's occlusion sweep against ``captum.attr.Occlusion``.

Same model, window, stride, baseline, target and batch size (Captum's
``perturbations_per_eval``; one image) on two cases:

- the default classifier (64x64 RGB, 16 classes), window 8, stride 4 (225 windows);
- a ResNet-18 at 224x224 (random weights: speed does not depend on them), window 15,
  stride 8 (784 windows), where the forward pass dominates.

pyfast runs with its "torch" backend (same forward as Captum; the difference is the
sweep machinery), its "onnxruntime" backend (the same module exported once) and its
"incremental" backend (the leading layers recomputed only where each window changes
them; the report gives its convolution/linear multiply-accumulates per window as a
fraction of a full forward). The report gives median seconds per sweep, speedups over
Captum, the largest absolute difference between each map and Captum's, and the targets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..explain.incremental import IncrementalPlanError, incremental_cost
from ..explain.occlusion import occlusion
from ..models import ResNet18
from .machine import describe_machine
from .report import markdown_table
from .timing import time_alternating

TARGETS = {"classifier": 3.0, "resnet18": 1.5}
FAST_BACKEND = "onnxruntime"


@dataclass
class OcclusionCase:
    name: str
    model: str
    size: int  # square images
    window: int
    stride: int
    batch_size: int
    repeats: int


CASES = (
    OcclusionCase("classifier", "default classifier", 64, 8, 4, 64, 5),
    OcclusionCase("resnet18", "ResNet-18 (random weights)", 224, 15, 8, 32, 2),
)
QUICK_CASES = (
    OcclusionCase("classifier", "default classifier", 16, 8, 4, 4, 1),
    OcclusionCase("resnet18", "ResNet-18 (random weights)", 32, 15, 8, 8, 1),
)


@dataclass
class OcclusionResult:
    case: str
    method: str  # "captum", "pyfast torch", "pyfast onnxruntime", "pyfast incremental"
    seconds: float
    speedup: float  # over captum
    max_abs_diff: float  # of the map against captum's


def _stand_in_classifier() -> nn.Module:
    """A CNN of the default classifier's shape (3 -> 16 classes), used when none is shipped."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    channels = 3
    for width in (32, 64, 128):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)]
        channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 16))


def default_classifier() -> tuple[nn.Module, str]:
    """The shipped default classifier and its name, or a stand-in CNN of its shape."""
    try:
        from ..explain.models import load_model_spec
    except ImportError:
        return _stand_in_classifier().eval(), "stand-in CNN (no default classifier shipped)"
    spec = load_model_spec()
    return spec.module.eval(), spec.name


def _case_model(case: OcclusionCase) -> tuple[nn.Module, str]:
    if case.name == "classifier":
        return default_classifier()
    return ResNet18().eval(), case.model


def _incremental_fraction(model: nn.Module, case: OcclusionCase) -> float | None:
    """MACs of an incremental window over those of a full forward, or None for a model it cannot plan."""
    try:
        return incremental_cost(model, (case.size, case.size), case.window, case.stride)["fraction"]
    except IncrementalPlanError:
        return None


def run_occlusion_suite(quick: bool = False, progress: bool = True,
                        methods: tuple[str, ...] = ("torch", FAST_BACKEND, "incremental")) -> dict:
    """Times pyfast's occlusion against Captum's on each case; returns a JSON-serialisable report.

    Args:
        quick: tiny images and one repeat (a harness check, not a measurement).
        progress: a progress bar over the cases.
        methods: pyfast backends to time ("torch", "onnxruntime", "incremental").
    """
    from captum.attr import Occlusion
    from tqdm.auto import tqdm

    results: list[OcclusionResult] = []
    models: dict[str, str] = {}
    mac_fractions: dict[str, float | None] = {}
    for case in tqdm(QUICK_CASES if quick else CASES, desc="bench occlusion", unit="case", disable=not progress, leave=False):
        model, model_name = _case_model(case)
        models[case.name] = model_name
        if "incremental" in methods:
            mac_fractions[case.name] = _incremental_fraction(model, case)
        torch.manual_seed(1)
        x = torch.randn(1, 3, case.size, case.size)
        with torch.inference_mode():
            target = int(model(x).argmax(1))
        maps: dict[str, np.ndarray] = {}

        def captum(m=model, x=x, c=case, t=target, maps=maps):
            out = Occlusion(m).attribute(x, sliding_window_shapes=(3, c.window, c.window), strides=(3, c.stride, c.stride),
                                         baselines=0.0, target=t, perturbations_per_eval=c.batch_size)
            maps["captum"] = out[:, 0].detach().numpy()

        fns = {"captum": captum}
        for backend in methods:
            def ours(m=model, x=x, c=case, t=target, b=backend, maps=maps):
                maps[f"pyfast {b}"] = occlusion(m, x, target=t, window=c.window, stride=c.stride, baseline=0.0,
                                                batch_size=c.batch_size, progress=False, backend=b)

            fns[f"pyfast {backend}"] = ours
        times = time_alternating(fns, torch.device("cpu"), warmup=1, repeats=case.repeats, rounds=1)
        for method, seconds in times.items():
            diff = float(np.abs(maps[method] - maps["captum"]).max())
            results.append(OcclusionResult(case.name, method, seconds, times["captum"] / seconds, diff))
    return {
        "suite": "occlusion",
        "device": "cpu",
        "machine": describe_machine(torch.device("cpu")),
        "models": models,
        "incremental_mac_fraction": mac_fractions,
        "cases": [asdict(c) for c in (QUICK_CASES if quick else CASES)],
        "results": [asdict(r) for r in results],
        "targets": [] if quick else _targets(results),
    }


def _targets(results: list[OcclusionResult]) -> list[dict]:
    targets = []
    for case, goal in TARGETS.items():
        best = max((r for r in results if r.case == case and r.method != "captum"), key=lambda r: r.speedup)
        targets.append({"name": f"{case}: {best.method} / captum.attr.Occlusion speed, equal batch size",
                        "measured": best.speedup, "target": goal})
        targets.append({"name": f"{case}: max |map - captum map| ({best.method})",
                        "measured": best.max_abs_diff, "target": 1e-4, "lower_is_better": True})
    return targets


def format_occlusion_report(report: dict) -> str:
    """The report as markdown: one table of timings, one of targets."""
    machine = report["machine"]
    cases = {c["name"]: c for c in report["cases"]}
    rows = []
    for r in report["results"]:
        c = cases[r["case"]]
        rows.append([f"{report['models'][r['case']]} {c['size']}x{c['size']}", f"{c['window']}/{c['stride']}/{c['batch_size']}",
                     r["method"], f"{r['seconds']:.3f}", f"{r['speedup']:.2f}x", f"{r['max_abs_diff']:.1e}"])
    lines = [(f"Machine: {machine['cpu']}, {machine['cores']} cores; torch {machine['torch']}. "
             "Median seconds per sweep of one image."), "",
             markdown_table(["model", "window/stride/batch", "method", "seconds", "vs captum", "max abs diff"], rows)]
    fractions = {case: f for case, f in report.get("incremental_mac_fraction", {}).items() if f is not None}
    if fractions:
        lines += ["", "Incremental backend, conv/linear multiply-accumulates per window over a full forward: "
                  + ", ".join(f"{case} {f:.1%}" for case, f in fractions.items()) + "."]
    if report["targets"]:
        def met(t):
            return t["measured"] <= t["target"] if t.get("lower_is_better") else t["measured"] >= t["target"]

        lines += ["", markdown_table(["target", "measured", "goal", "met"], [
            [t["name"], f"{t['measured']:.3g}", ("≤ " if t.get("lower_is_better") else "≥ ") + f"{t['target']:g}",
             "yes" if met(t) else "NO"] for t in report["targets"]])]
    return "\n".join(lines)
