"""Training a style model: ``pyfast train-style``.

Single process, or data-parallel over several processes/GPUs/nodes with
``torchrun`` (DDP; NCCL on CUDA, gloo on CPU). Checkpoints every N steps and
at the end, resumes from one, shows a progress bar with each loss term and
images/s, writes preview images, and on CUDA uses AMP and channels_last.
Optionally distils a trained teacher into a narrower student.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler

from .._checks import check_int, check_non_negative, check_positive, check_seed
from .._errors import first_line
from .._files import replaced_on_success
from .._torch_files import load_torch_file
from ..data import read_image, resize, write_image
from ..models.transformer import TransformerNet
from ..models.vgg import VGG16Features, resolve_weights
from .checkpoint import load_checkpoint, load_error_reason, save_model
from .data import ContentImages, image_tensor, to_uint8
from .losses import RANDOM_FEATURE_STYLE_LAYERS, RANDOM_FEATURE_WEIGHTS, STYLE_LAYERS, LossWeights, PerceptualLoss


@dataclass
class TrainConfig:
    """Everything ``train_style`` needs; the CLI maps one flag to each field."""

    style: str
    content_dir: str
    out_dir: str = "runs/style"
    name: str | None = None  # style name; default: the style image's file stem
    image_size: int = 256
    style_size: int | None = None  # resize the style image's longer side to this
    batch_size: int = 4
    epochs: int = 2
    steps: int | None = None  # overrides epochs when given
    lr: float = 1e-3
    weights: LossWeights | None = None  # None: examples' weights with VGG-16, the calibrated preset without
    width: float = 1.0  # TransformerNet width multiplier
    vgg_weights: str | None = None  # torchvision VGG-16 state dict; else $PYFAST_VGG16_WEIGHTS; else random
    loss_width: float = 1.0  # width of the random-feature loss network (no weights)
    augment: bool = False
    style_warmup: int = 0  # steps with the content loss only, before the style loss joins
    style_layers: tuple[str, ...] | None = None  # None: all four ReLUs with VGG-16, the preset's without
    teacher: str | None = None  # distil this trained model into the student
    distill_weight: float = 1.0
    checkpoint_every: int = 1000
    preview_every: int = 200
    resume: str | None = None
    seed: int = 42
    device: str = "auto"
    amp: bool = True  # CUDA only
    workers: int = 0

    def check(self) -> None:
        """Raises ValueError naming the first field that is out of range or of the wrong type
        (the checks the CLI's option types make, for callers of :func:`train_style`)."""
        check_int(self.image_size, "image_size", 16)
        if self.style_size is not None:
            check_int(self.style_size, "style_size", 16)
        check_int(self.batch_size, "batch_size")
        if self.steps is None:
            check_int(self.epochs, "epochs")
        else:
            check_int(self.steps, "steps")
        for name in ("style_warmup", "checkpoint_every", "preview_every", "workers"):
            check_int(getattr(self, name), name, 0)
        check_seed(self.seed)
        for name in ("lr", "width", "loss_width"):
            check_positive(getattr(self, name), name)
        check_non_negative(self.distill_weight, "distill_weight")
        if self.weights is not None:
            for term in ("content", "style", "tv"):
                check_non_negative(getattr(self.weights, term), f"weights.{term}")
        if self.name is not None and (not self.name.strip() or Path(self.name).name != self.name
                                      or self.name in (".", "..")):
            raise ValueError(f"name {self.name!r} must be a plain file name (no folders): the model is written "
                             f"into the output folder")


@contextmanager
def _process_group(device: torch.device) -> Iterator[tuple[int, int]]:
    """(rank, world size) of this process; under ``torchrun`` joins the process group for the run.

    A group this function started is destroyed on the way out: a process that exits with a live
    gloo group can abort (SIGABRT) in the interpreter's shutdown. A group the caller started is
    the caller's to end.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        try:
            yield dist.get_rank(), dist.get_world_size()
        finally:
            dist.destroy_process_group()
    elif dist.is_initialized():
        yield dist.get_rank(), dist.get_world_size()
    else:
        yield 0, 1


def _pick_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device {name!r} is not a device name (auto, cpu, cuda, cuda:N; {first_line(exc, 80)})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def _resume(config: TrainConfig, model: TransformerNet, optimizer: torch.optim.Optimizer, device: torch.device,
            total_steps: int) -> int:
    """Loads ``config.resume`` into ``model`` and ``optimizer``; returns its step.

    Raises:
        ValueError: not a pyfast training checkpoint, or one of another width or model.
    """
    state = load_torch_file(config.resume, device, what="checkpoint")
    if not isinstance(state, dict) or not {"model", "optimizer", "step"} <= state.keys():
        raise ValueError(f"{config.resume} is not a pyfast training checkpoint (no model, optimizer and step)")
    width = state.get("width")
    if width is not None and float(width) != config.width:
        raise ValueError(f"{config.resume} was trained with width {width}; resume it with --width {width}")
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ValueError(f"{config.resume} does not fit this model ({load_error_reason(exc)})") from None
    step = int(state["step"])
    if step >= total_steps:
        warnings.warn(f"{config.resume} is already at step {step} of {total_steps}: nothing to train, writing its "
                      "model (give more --steps or --epochs to continue)", stacklevel=3)
    return step


def load_style_image(path: str, size: int | None) -> torch.Tensor:
    """The style image as (1, 3, H, W) on the 0-255 scale, its longer side resized to ``size``.

    Raises:
        ValueError: unreadable, or under 16 pixels on a side (the loss network pools it 3 times).
    """
    rgb = read_image(path).rgb
    if size:
        h, w = rgb.shape[:2]
        scale = size / max(h, w)
        rgb = resize(rgb, max(1, round(h * scale)), max(1, round(w * scale)))
    if min(rgb.shape[:2]) < 16:
        raise ValueError(f"style image {path} is {rgb.shape[1]}x{rgb.shape[0]}{' after --style-size' if size else ''}; "
                         f"it needs at least 16 pixels on each side")
    return image_tensor(rgb)


def build_loss_network(vgg_weights: str | None, loss_width: float) -> VGG16Features:
    """VGG-16 from the given/env weights, else the random-feature network (with one warning).

    Its frozen 3x3 convolutions run through the Winograd kernel on the CPU (``fast_convs``).
    """
    weights = resolve_weights(vgg_weights)
    if weights is None:
        warnings.warn(
            "no VGG-16 weights given (--vgg-weights or PYFAST_VGG16_WEIGHTS): using the deterministic "
            "random-feature loss network",
            RuntimeWarning,
            stacklevel=2,
        )
        return VGG16Features(width=loss_width, fast_convs=True)
    return VGG16Features(weights=weights, fast_convs=True)


def _preview(path: Path, content: torch.Tensor, output: torch.Tensor) -> None:
    """Writes a strip: content images on top, their stylisations below."""
    top, bottom = to_uint8(content[:4]), to_uint8(output[:4])
    write_image(path, np.concatenate([np.concatenate(list(top), 1), np.concatenate(list(bottom), 1)], 0))


def train_style(config: TrainConfig, progress: bool = True) -> Path:
    """Trains a TransformerNet on ``config``; returns the path of the saved model (.pth).

    Raises:
        FileNotFoundError / ValueError: missing or unreadable style image, content
        folder or checkpoint, bad sizes.
    """
    config.check()
    if Path(config.out_dir).exists() and not Path(config.out_dir).is_dir():
        raise ValueError(f"output folder {config.out_dir} exists and is not a folder")
    if config.steps is not None and config.style_warmup >= config.steps:
        warnings.warn(f"style warm-up of {config.style_warmup} steps covers all {config.steps} steps: "
                      f"the style loss is never used", stacklevel=2)
    device = _pick_device(config.device)
    with _process_group(device) as (rank, world):
        return _train(config, device, rank, world, progress)


def _train(config: TrainConfig, device: torch.device, rank: int, world: int, progress: bool) -> Path:
    """The training loop of :func:`train_style` on one rank of ``world``; rank 0 writes the files."""
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed + rank)
    out_dir = Path(config.out_dir)
    name = config.name or Path(config.style).stem

    dataset = ContentImages(config.content_dir, config.image_size, augment=config.augment, seed=config.seed,
                            exclude=[out_dir])  # previews and saved outputs are not training images
    dataset[0]  # a folder with no readable image fails here, with its name, not inside a loader worker
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, seed=config.seed) if world > 1 else None
    loader = DataLoader(
        dataset, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
        num_workers=config.workers, drop_last=len(dataset) >= config.batch_size * world,
        generator=torch.Generator().manual_seed(config.seed),
    )
    steps_per_epoch = max(1, len(loader))
    total_steps = config.steps or config.epochs * steps_per_epoch

    style_image = load_style_image(config.style, config.style_size).to(device)
    cuda = device.type == "cuda"
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    model = TransformerNet(width=config.width).to(device, memory_format=memory_format)
    loss_net = build_loss_network(config.vgg_weights, config.loss_width).to(device, memory_format=memory_format)
    weights = config.weights or (LossWeights() if loss_net.pretrained else RANDOM_FEATURE_WEIGHTS)
    style_layers = config.style_layers or (STYLE_LAYERS if loss_net.pretrained else RANDOM_FEATURE_STYLE_LAYERS)
    criterion = PerceptualLoss(loss_net, style_image, weights, style_layers=style_layers)
    teacher = load_checkpoint(config.teacher, device).requires_grad_(False) if config.teacher else None
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    use_amp = cuda and config.amp
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    step = 0
    if config.resume:
        step = _resume(config, model, optimizer, device, total_steps)
    elif rank == 0 and (out_dir / "checkpoint.pt").exists():
        warnings.warn(f"replacing the checkpoint in {out_dir} with this new run's (--resume "
                      f"{out_dir / 'checkpoint.pt'} continues it instead)", stacklevel=2)
    if rank == 0:  # once every input has loaded: a bad one leaves no empty output folder behind
        out_dir.mkdir(parents=True, exist_ok=True)
    ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None) if world > 1 else model

    def save_checkpoint() -> None:
        if rank == 0:
            with replaced_on_success(out_dir / "checkpoint.pt") as temporary:  # a killed save keeps the last one
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                            "width": config.width, "name": name}, temporary)

    bar = tqdm(total=total_steps, initial=step, desc=f"train {name}", unit="step", disable=not progress or rank != 0)
    started, images_seen = time.perf_counter(), 0
    epoch = step // steps_per_epoch
    model.train()
    while step < total_steps:
        dataset.epoch = epoch
        if sampler is not None:
            sampler.set_epoch(epoch)
        for content in loader:
            if step >= total_steps:
                break
            content = content.to(device, memory_format=memory_format, non_blocking=True)
            criterion.style_enabled = step >= config.style_warmup
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                output = ddp_model(content)
                terms = criterion(output.float(), content)
                if teacher is not None:
                    with torch.no_grad():
                        target = teacher(content)
                    terms["distill"] = config.distill_weight * F.mse_loss(output.float(), target.float())
                    terms["total"] = terms["total"] + terms["distill"]
            total = terms["total"].item()
            if not math.isfinite(total):  # before the update, so the weights stay usable
                raise FloatingPointError(f"loss is {total} at step {step + 1}: lower the learning rate or the loss weights")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(terms["total"]).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            images_seen += content.shape[0] * world
            if rank == 0:
                rate = images_seen / max(time.perf_counter() - started, 1e-9)
                bar.set_postfix({k: f"{v.item():.3g}" for k, v in terms.items()} | {"img/s": f"{rate:.1f}"})
                bar.update(1)
                if config.preview_every and step % config.preview_every == 0:
                    _preview(out_dir / f"preview_{step:06d}.png", content, output.float())
            if config.checkpoint_every and step % config.checkpoint_every == 0:
                save_checkpoint()
        epoch += 1
    bar.close()
    save_checkpoint()
    final = out_dir / f"{name}.pth"
    if rank == 0:
        save_model(model.eval().float(), final)
    if world > 1:
        dist.barrier()
    return final
