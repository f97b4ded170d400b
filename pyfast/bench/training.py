"""``pyfast bench training``: one style-training step, pyfast's loss vs the plain formulation.

Same TransformerNet (full width), same loss network (VGG-16 shape; random
features, the speed is the same as with pretrained weights), same batch and
Adam optimizer. The plain formulation is pytorch/examples': the content
image's features computed for all four layers, ``torch.bmm`` Gram matrices and
the sliced-difference TV under autograd. pyfast's loss computes the content
image's features only up to relu2_2 (all the content term needs), runs the loss
network's frozen 3x3 convolutions through the Winograd kernel (forward and input
gradient) and uses the compiled Gram and TV kernels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..models import TransformerNet, VGG16Features
from ..ops import reference
from ..style.losses import LossWeights, PerceptualLoss
from .machine import describe_machine
from .report import markdown_table
from .timing import time_alternating


class PlainPerceptualLoss(torch.nn.Module):
    """pytorch/examples' loss: vgg(y), vgg(x) for all layers, bmm Gram, autograd TV."""

    def __init__(self, loss_net: VGG16Features, style: torch.Tensor, weights: LossWeights) -> None:
        super().__init__()
        self.loss_net, self.weights = loss_net, weights
        with torch.no_grad():
            self.style_grams = [reference.gram_matrix(f) for f in loss_net(style).values()]

    def forward(self, output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        features_y = self.loss_net(output)
        features_x = self.loss_net(content)
        content_loss = self.weights.content * F.mse_loss(features_y["relu2_2"], features_x["relu2_2"])
        style_loss = sum(F.mse_loss(reference.gram_matrix(fy), gs.expand(fy.shape[0], -1, -1))
                         for fy, gs in zip(features_y.values(), self.style_grams))
        return content_loss + self.weights.style * style_loss + self.weights.tv * reference.total_variation(output)


@dataclass
class TrainingResult:
    loss: str
    seconds_per_step: float
    steps_per_second: float
    images_per_second: float


def run_training_suite(device: str = "cpu", image_size: int = 256, batch_size: int = 4, repeats: int = 3,
                       progress: bool = True) -> dict:
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    torch.manual_seed(0)
    weights = LossWeights(tv=1e-6)
    # Separate (identical) loss networks: pyfast's with the Winograd convolutions, the plain one as examples does.
    style = (torch.rand(1, 3, image_size, image_size) * 255).to(device)
    content = (torch.rand(batch_size, 3, image_size, image_size) * 255).to(device)
    losses = {
        "pyfast": PerceptualLoss(VGG16Features(width=1.0, fast_convs=True).to(device), style, weights),
        "plain PyTorch": PlainPerceptualLoss(VGG16Features(width=1.0).to(device), style, weights),
    }
    model = TransformerNet().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step_with(name):
        def step():
            out = model(content)
            loss = losses[name](out, content)
            loss = loss["total"] if isinstance(loss, dict) else loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return step

    times = time_alternating({n: step_with(n) for n in losses}, device, warmup=1, repeats=repeats)
    results = [TrainingResult(n, t, 1 / t, batch_size / t) for n, t in times.items()]
    speedup = times["plain PyTorch"] / times["pyfast"]
    return {
        "suite": "training", "device": str(device), "image_size": image_size, "batch_size": batch_size,
        "machine": describe_machine(device), "results": [asdict(r) for r in results],
        "targets": [{"name": "training step speedup, pyfast loss vs plain formulation", "measured": speedup, "target": 1.3}],
    }


def format_training_report(report: dict) -> str:
    machine = report["machine"]
    where = machine.get("gpu") or f"{machine['cpu']}, {machine['cores']} cores"
    rows = [[r["loss"], int(round(r["seconds_per_step"] * 1e3)), round(r["steps_per_second"], 3), round(r["images_per_second"], 2)]
            for r in report["results"]]
    t = report["targets"][0]
    return "\n".join([
        f"Machine: {where}; torch {machine['torch']}. TransformerNet + VGG-16-shaped loss network, "
        f"batch {report['batch_size']} at {report['image_size']}x{report['image_size']}, Adam.", "",
        markdown_table(["loss", "ms / step", "steps/s", "images/s"], rows), "",
        f"speedup: {t['measured']:.2f}x (goal ≥ {t['target']:g}: {'met' if t['measured'] >= t['target'] else 'NOT met'})",
    ])
