"""``pyfast bench gatys``: Gatys style-transfer iterations per second, pyfast vs plain PyTorch.

Both sides optimise a 256x256 image with the same VGG-16-shaped loss network (random
features: the speed is that of pretrained weights), the same content/style layers and
weights, and the same optimiser code (:class:`pyfast.explain.gatys.PixelOptimizer`; one
L-BFGS iteration is one loss evaluation). Two layer sets are timed: the pretrained-weights
default (content relu2_2; style relu1_2, relu2_2, relu3_3, relu4_3) and the random-feature
preset (style rgb, relu1_2, relu2_2, relu3_3).

- **plain PyTorch**: the PyTorch "Neural Transfer" tutorial's formulation: a Sequential of
  the VGG layers up to the last loss, NCHW, with content/style loss modules inserted after
  their layers, Gram matrices by ``torch.mm``, the sliced-difference TV under autograd, targets
  computed once.
- **pyfast**: :class:`pyfast.explain.gatys.GatysLoss`: the loss network run channels-last
  (weights included) up to the deepest layer used, the compiled Gram and TV kernels, targets
  computed once.

The report also gives two floors: the convolutions' FLOPs per iteration (forward plus the
input gradient; the weights are frozen) over the machine's float32 GEMM rate, and the
same for pyfast's Winograd F(2x2, 3x3) convolutions, which need 4/9 of those
multiplications (its transforms not counted), so pyfast can run below the first floor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..explain.gatys import GatysLoss, PixelOptimizer
from ..models.vgg import INPUT_LAYER, LAYERS, VGG16Features
from ..ops import reference
from ..style.losses import (
    CONTENT_LAYER,
    RANDOM_FEATURE_STYLE_LAYERS,
    RANDOM_FEATURE_WEIGHTS,
    STYLE_LAYERS,
    LossWeights,
)
from .machine import describe_machine, gemm_gflops
from .report import markdown_table
from .timing import time_alternating

# name -> (style layers, weights); the content layer is relu2_2 in both.
LAYER_SETS = {
    "pretrained layers": (STYLE_LAYERS, LossWeights(tv=1e-6)),
    "random-feature preset": (RANDOM_FEATURE_STYLE_LAYERS, LossWeights(
        content=RANDOM_FEATURE_WEIGHTS.content, style=RANDOM_FEATURE_WEIGHTS.style, tv=1e-6, normalized=True)),
}
OPTIMIZERS = {"lbfgs": 1.0, "adam": 10.0}  # optimizer -> lr (style_transfer's defaults)
TARGET = 1.3


class _TutorialContentLoss(nn.Module):
    """Records the (normalised) MSE to a fixed target and passes its input on."""

    def __init__(self, target: torch.Tensor, normalized: bool) -> None:
        super().__init__()
        self.target = target.detach()
        self.scale = 1.0 / float(self.target.pow(2).mean().clamp_min(1e-12)) if normalized else 1.0
        self.loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = F.mse_loss(x, self.target) * self.scale
        return x


def _tutorial_gram(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    features = x.view(b * c, h * w)
    return torch.mm(features, features.t()).div(b * c * h * w)


class _TutorialStyleLoss(_TutorialContentLoss):
    def __init__(self, target_features: torch.Tensor, normalized: bool) -> None:
        super().__init__(_tutorial_gram(target_features), normalized)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = F.mse_loss(_tutorial_gram(x), self.target) * self.scale
        return x


class _Normalization(nn.Module):
    def __init__(self, net: VGG16Features) -> None:
        super().__init__()
        self.mean, self.std = net.mean.clone(), net.std.clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class PlainGatysLoss(nn.Module):
    """The tutorial's model: VGG layers (shared, NCHW) with loss modules after the chosen ReLUs,
    trimmed after the last one; returns the weighted terms like :class:`GatysLoss`."""

    def __init__(self, net: VGG16Features, style: torch.Tensor, content: torch.Tensor,
                 content_layers, style_layers, weights: LossWeights) -> None:
        super().__init__()
        self.weights = weights
        at = {LAYERS[name]: name for name in (*content_layers, *style_layers) if name != INPUT_LAYER}
        self.model = nn.Sequential(_Normalization(net))
        self.content_losses: list[_TutorialContentLoss] = []
        self.style_losses: list[_TutorialStyleLoss] = []

        def add_losses(name: str) -> None:
            with torch.no_grad():
                if name in content_layers:
                    self.content_losses.append(_TutorialContentLoss(self.model(content), weights.normalized))
                    self.model.add_module(f"content_{name}", self.content_losses[-1])
                if name in style_layers:
                    self.style_losses.append(_TutorialStyleLoss(self.model(style), weights.normalized))
                    self.model.add_module(f"style_{name}", self.style_losses[-1])

        add_losses(INPUT_LAYER)
        for index, module in enumerate(net.features[: max(at, default=-1) + 1]):
            self.model.add_module(f"features_{index}", module)
            if index in at:
                add_losses(at[index])

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        self.model(image)
        w = self.weights
        terms = {"content": w.content * sum(m.loss for m in self.content_losses),
                 "style": w.style * sum(m.loss for m in self.style_losses),
                 "tv": w.tv * reference.total_variation(image)}
        terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        return terms


WINOGRAD_MULTIPLY_FRACTION = 4 / 9  # F(2x2, 3x3): 16 multiplies per 2x2 output tile instead of 36


def conv_flops(net: VGG16Features, layers, size: tuple[int, int]) -> float:
    """FLOPs of one iteration's convolutions: forward up to the deepest layer plus the input gradient."""
    deepest = max((LAYERS[name] for name in layers if name != INPUT_LAYER), default=-1)
    h, w = size
    flops = 0.0
    for module in net.features[: deepest + 1]:
        if isinstance(module, nn.Conv2d):
            flops += 2.0 * module.in_channels * module.out_channels * module.kernel_size[0] * module.kernel_size[1] * h * w
        elif isinstance(module, nn.MaxPool2d):
            h, w = h // 2, w // 2
    return 2.0 * flops


@dataclass
class GatysBenchResult:
    layers: str
    optimizer: str
    implementation: str
    seconds_per_iteration: float
    iterations_per_second: float


def run_gatys_suite(device: str = "cpu", image_size: int = 256, quick: bool = False, repeats: int = 6,
                    progress: bool = True) -> dict:
    """Times one Gatys iteration of each implementation, layer set and optimiser (alternating blocks).

    Args:
        device: "cpu" or "cuda".
        image_size: side of the square content/style images and result.
        quick: a narrow network, one repeat and no GEMM measurement: checks the harness in seconds.
        repeats: timed iterations per implementation and case (over three rounds).
        progress: tqdm bar over the cases.

    Returns:
        JSON-serialisable report: results, the floor per layer set, and the speedup targets.

    Raises:
        ValueError: CUDA requested without a CUDA device, or ``image_size`` < 16.
    """
    from tqdm.auto import tqdm

    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16, got {image_size}")
    width, repeats = (0.125, 1) if quick else (1.0, repeats)
    torch.manual_seed(0)
    size = (image_size, image_size)
    content = (torch.rand(1, 3, *size) * 255).to(device)
    style = (torch.rand(1, 3, *size) * 255).to(device)
    init = content + 20 * torch.randn_like(content)
    # Separate (identical) networks: pyfast's runs its frozen 3x3 convolutions through the
    # Winograd kernel (as style_transfer's loss network does), the plain one through F.conv2d.
    plain_net = VGG16Features(width=width).to(device)
    fast_net = VGG16Features(width=width, fast_convs=True).to(device)
    results: list[GatysBenchResult] = []
    cases = [(ls, opt) for ls in LAYER_SETS for opt in OPTIMIZERS]
    for layer_set, optimizer in tqdm(cases, desc="bench gatys", unit="case", disable=not progress, leave=False):
        style_layers, weights = LAYER_SETS[layer_set]
        content_layers = (CONTENT_LAYER,)
        losses = {
            "pyfast": GatysLoss(fast_net, style, content, content_layers, style_layers, weights),
            "plain PyTorch": PlainGatysLoss(plain_net, style, content, content_layers, style_layers, weights),
        }
        steppers = {name: PixelOptimizer(loss, init, optimizer, OPTIMIZERS[optimizer]) for name, loss in losses.items()}
        times = time_alternating({name: s.step for name, s in steppers.items()}, device, warmup=1, repeats=repeats)
        results += [GatysBenchResult(layer_set, optimizer, name, t, 1.0 / t) for name, t in times.items()]
    gflops = None if quick else gemm_gflops(device, torch.float32)
    floors = {ls: conv_flops(plain_net, LAYER_SETS[ls][0], size) for ls in LAYER_SETS}
    return {
        "suite": "gatys", "device": str(device), "image_size": image_size, "loss_network_width": width,
        "machine": describe_machine(device), "gemm_gflops": gflops,
        "floor": {ls: {"conv_gflop_per_iteration": f / 1e9, "seconds": (f / 1e9 / gflops) if gflops else None,
                       "winograd_seconds": (f * WINOGRAD_MULTIPLY_FRACTION / 1e9 / gflops) if gflops else None}
                  for ls, f in floors.items()},
        "results": [asdict(r) for r in results],
        "targets": [{"name": f"Gatys iterations/s, pyfast / plain PyTorch ({ls}, {opt}, {image_size}x{image_size})",
                     "measured": _rate(results, ls, opt, "pyfast") / _rate(results, ls, opt, "plain PyTorch"),
                     "target": TARGET} for ls, opt in cases],
    }


def _rate(results: list[GatysBenchResult], layers: str, optimizer: str, implementation: str) -> float:
    return next(r.iterations_per_second for r in results
                if (r.layers, r.optimizer, r.implementation) == (layers, optimizer, implementation))


def format_gatys_report(report: dict) -> str:
    machine = report["machine"]
    where = machine.get("gpu") or f"{machine['cpu']}, {machine['cores']} cores"
    rows = []
    for r in report["results"]:
        if r["implementation"] != "pyfast":
            continue
        plain = next(p for p in report["results"] if (p["layers"], p["optimizer"], p["implementation"])
                     == (r["layers"], r["optimizer"], "plain PyTorch"))
        floor = report["floor"][r["layers"]]
        rows.append([r["layers"], r["optimizer"], f"{plain['seconds_per_iteration'] * 1e3:.0f}",
                     f"{r['seconds_per_iteration'] * 1e3:.0f}",
                     f"{plain['seconds_per_iteration'] / r['seconds_per_iteration']:.2f}x",
                     *("-" if floor[k] is None else f"{floor[k] * 1e3:.0f}" for k in ("seconds", "winograd_seconds"))])
    n = report["image_size"]
    lines = [(f"Machine: {where}; torch {machine['torch']}. Gatys style transfer at {n}x{n}, VGG-16-shaped loss "
             f"network (width {report['loss_network_width']:g}); one iteration = one loss evaluation + optimiser step."),
             "", markdown_table(["layers", "optimizer", "plain ms/it", "pyfast ms/it", "speedup", "direct floor ms",
                                         "Winograd floor ms"], rows)]
    if report["gemm_gflops"]:
        lines += ["", (f"Floors: direct-convolution FLOPs per iteration (forward + input gradient) at the measured "
                      f"float32 GEMM rate of {report['gemm_gflops']:.0f} GFLOP/s; Winograd: the 4/9 of those "
                      f"multiplications that pyfast's F(2x2, 3x3) convolutions perform (transforms not counted).")]
    lines += ["", markdown_table(["target", "measured", "goal", "met"], [
        [t["name"], f"{t['measured']:.2f}", f"≥ {t['target']:g}", "yes" if t["measured"] >= t["target"] else "NO"]
        for t in report["targets"]])]
    return "\n".join(lines)
