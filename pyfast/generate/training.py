"""Training DCGAN, VAE and PixelCNN: one loop shared by the three (``pyfast train-gen``).

The loop shows a progress bar with each loss term and images/s, checkpoints (weights,
optimizer states, step and random-number state) every N steps and at the end of every epoch,
resumes exactly from a checkpoint (same batches, same noise), and writes a grid of samples per
epoch. Batches come from an in-memory uint8 set (:func:`pyfast.data.digits.load_dataset`), in a
permutation drawn from ``(seed, epoch)``.

Saved models (``<kind>.pt``) hold the network's kind, constructor arguments, weights and what
data it was trained on; :func:`load_model` rebuilds them. ``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._checks import check_int
from .._errors import first_line
from .._files import replaced_on_success
from .._torch_files import load_torch_file
from ..data import write_image
from ..data.digits import load_dataset
from .dcgan import Discriminator, Generator, discriminator_loss, generator_loss, to_unit_range
from .vae import VAE, elbo_terms

KINDS = ("pixelcnn", "dcgan", "vae")
DEFAULT_LR = {"dcgan": 2e-4, "vae": 1e-3, "pixelcnn": 1e-3}


@dataclass
class GenTrainConfig:
    """Everything the ``train_*`` functions need; ``pyfast train-gen`` maps one flag to each field."""

    out_dir: str = "runs/generate"
    data: str | None = None  # a folder of images; None: generated digits (pyfast.data.digits)
    variant: str = "8bit"  # "8bit" or "binary"
    train_size: int = 20_000  # generated digits (ignored with data)
    image_size: int = 28
    channels: int = 1
    epochs: int = 5
    steps: int | None = None  # overrides epochs when given
    batch_size: int = 64
    lr: float | None = None  # None: DEFAULT_LR of the model
    model: dict[str, Any] = field(default_factory=dict)  # extra constructor arguments (latent_dim, width, ...)
    checkpoint_every: int = 0  # steps between checkpoints; 0: at the end of each epoch only
    grid_size: int = 64  # samples in each epoch's grid
    resume: str | None = None  # a checkpoint.pt to continue from (its model arguments win)
    seed: int = 0
    device: str = "auto"


# ----------------------------------------------------------------------------- image grids


def image_grid(images: np.ndarray, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Tiles uint8 images (N, C, H, W), C in {1, 3}, into one RGB picture, ``nrow`` per row.

    Returns:
        (rows * (H + padding) + padding, nrow * (W + padding) + padding, 3) uint8, black gaps.

    Raises:
        ValueError: wrong rank, dtype or channel count, N < 1, ``nrow`` < 1, ``padding`` < 0.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8 or images.shape[1] not in (1, 3) or images.shape[0] < 1:
        raise ValueError(f"images must be uint8 (N, C, H, W) with C 1 or 3 and N >= 1, got {images.shape} {images.dtype}")
    if nrow < 1 or padding < 0:
        raise ValueError(f"nrow must be >= 1 and padding >= 0, got nrow={nrow}, padding={padding}")
    n, c, h, w = images.shape
    ncol = min(nrow, n)
    rows = math.ceil(n / ncol)
    grid = np.zeros((rows * (h + padding) + padding, ncol * (w + padding) + padding, 3), np.uint8)
    for i, picture in enumerate(images.transpose(0, 2, 3, 1)):
        top, left = padding + (i // ncol) * (h + padding), padding + (i % ncol) * (w + padding)
        grid[top:top + h, left:left + w] = picture if c == 3 else picture.repeat(3, axis=2)
    return grid


def save_grid(path: str | os.PathLike, images: np.ndarray, nrow: int = 8) -> Path:
    """Writes :func:`image_grid` of ``images`` to ``path`` (PNG, JPEG, ...)."""
    return write_image(path, image_grid(images, nrow))


def to_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float images in [0, 1] (a tensor or an array, any layout) -> uint8 numpy (rounded, clipped)."""
    if isinstance(images, torch.Tensor):
        images = images.detach().float().cpu().numpy()
    return (np.clip(images, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


# ----------------------------------------------------------------------------- saved models


def _pixelcnn_class() -> type[nn.Module]:
    from .pixelcnn import PixelCNN

    return PixelCNN


def _model_class(kind: str) -> type[nn.Module]:
    if kind not in KINDS:
        raise ValueError(f"unknown generative model {kind!r}; valid: {', '.join(KINDS)}")
    return {"dcgan": lambda: Generator, "vae": lambda: VAE, "pixelcnn": _pixelcnn_class}[kind]()


def _model_config(model: nn.Module) -> dict[str, Any]:
    """The constructor arguments of a network: its ``config()``, or PixelCNN's attributes."""
    config = getattr(model, "config", None)
    if callable(config):
        return dict(config())
    if all(hasattr(model, k) for k in ("channels", "n_blocks", "levels", "image_size")):  # PixelCNN
        return {"channels": model.channels, "n_blocks": model.n_blocks, "levels": model.levels,
                "image_size": list(model.image_size)}
    raise ValueError(f"{type(model).__name__} has no config() giving its constructor arguments")


def save_model(path: str | os.PathLike, kind: str, model: nn.Module, data: dict[str, Any]) -> Path:
    """Writes a network for :func:`load_model`: kind, constructor arguments, weights and data description."""
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with replaced_on_success(path) as temporary:  # a failed save keeps an earlier file
        torch.save({"kind": kind, "config": _model_config(model), "state": state, "data": dict(data)}, temporary)
    return path


def load_model(path: str | os.PathLike, kind: str | None = None, map_location: str | torch.device = "cpu"
               ) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuilds a network saved by :func:`save_model`, or the sampling network of a training checkpoint.

    Args:
        path: a ``<kind>.pt`` model or a ``checkpoint.pt`` written by the training loop.
        kind: the expected kind ("dcgan", "vae", "pixelcnn"); None accepts any.
        map_location: device of the weights.

    Returns:
        (model in eval mode, record) where record has "kind" and "data" (variant, image_size, channels, ...).
        A DCGAN's model is its :class:`Generator`.

    Raises:
        FileNotFoundError: no such file. ValueError: not such a file, or another kind than ``kind``.
    """
    path = Path(path)
    record = load_torch_file(path, map_location, what="model file")
    if not isinstance(record, dict) or record.get("kind") not in KINDS:
        raise ValueError(f"{path} is not a pyfast generative model (no 'kind' among {', '.join(KINDS)})")
    if kind is not None and record["kind"] != kind:
        raise ValueError(f"{path} holds a {record['kind']} model, not a {kind} model")
    if "models" in record:  # a training checkpoint
        record = {"kind": record["kind"], "config": record["config"], "state": record["models"]["model"],
                  "data": record["data"]}
    model = _model_class(record["kind"])(**record["config"])
    try:
        model.load_state_dict(record["state"])
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit the model ({first_line(exc)})") from None
    return model.eval().to(map_location), {"kind": record["kind"], "config": record["config"], "data": record["data"]}


# ----------------------------------------------------------------------------- data scaling


def unit_images(batch: torch.Tensor, variant: str) -> torch.Tensor:
    """uint8 batch (0..255, or 0/1 for ``"binary"``) -> float in [0, 1]."""
    return batch.float() if variant == "binary" else batch.float() / 255.0


# ----------------------------------------------------------------------------- the loop


@dataclass
class _Task:
    """What differs between the models: networks, optimizers, one step, one grid."""

    kind: str
    modules: dict[str, nn.Module]  # "model" is the sampling network saved as <kind>.pt
    optimizers: dict[str, torch.optim.Optimizer]
    step: Callable[[torch.Tensor], dict[str, float]]  # uint8 batch on device -> loss terms
    samples: Callable[[], torch.Tensor]  # -> (N, C, H, W) in [0, 1]


def _check_config(cfg: GenTrainConfig) -> None:
    from ..data.digits import VARIANTS

    if cfg.variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {cfg.variant!r}")
    for name in ("batch_size", "epochs", "train_size", "grid_size"):
        check_int(getattr(cfg, name), name)
    if cfg.steps is not None and cfg.steps < 1:
        raise ValueError(f"steps must be >= 1, got {cfg.steps}")
    if cfg.lr is not None and not 0 < cfg.lr < math.inf:
        raise ValueError(f"lr must be a finite number > 0, got {cfg.lr}")
    if cfg.checkpoint_every < 0:
        raise ValueError(f"checkpoint_every must be >= 0, got {cfg.checkpoint_every}")


def _read_checkpoint(path: str, kind: str, device: torch.device) -> dict[str, Any]:
    state = load_torch_file(path, device, what="checkpoint")
    if not isinstance(state, dict) or "models" not in state or "optimizers" not in state:
        raise ValueError(f"{path} is not a pyfast generative training checkpoint")
    if state.get("kind") != kind:
        raise ValueError(f"{path} is a {state.get('kind')} checkpoint, not a {kind} one")
    return state


def _device(name: str) -> torch.device:
    from ..style.train import _pick_device

    return _pick_device(name)


def _run(cfg: GenTrainConfig, kind: str, build: Callable[[dict[str, Any], torch.device], _Task], progress: bool) -> Path:
    """The shared loop; ``build(model_kwargs, device)`` makes the task. Returns the saved model's path."""
    from tqdm.auto import tqdm

    _check_config(cfg)
    device = _device(cfg.device)
    out_dir = Path(cfg.out_dir)
    resume = _read_checkpoint(cfg.resume, kind, device) if cfg.resume else None
    if resume:
        saved = resume.get("data", {})
        clashes = [f"{key} {saved[key]!r} (checkpoint) vs {value!r}" for key, value in
                   (("variant", cfg.variant), ("image_size", cfg.image_size), ("channels", cfg.channels))
                   if key in saved and saved[key] != value]
        if clashes:
            raise ValueError(f"--resume {cfg.resume} was trained on other data: {'; '.join(clashes)}; "
                             "resume with the checkpoint's settings")
    images = torch.from_numpy(load_dataset(cfg.data, n=cfg.train_size, size=cfg.image_size, channels=cfg.channels,
                                           variant=cfg.variant, seed=cfg.seed))
    data = {"source": str(cfg.data) if cfg.data else "digits", "variant": cfg.variant, "image_size": cfg.image_size,
            "channels": cfg.channels, "train_size": len(images), "seed": cfg.seed}
    model_kwargs = dict(resume["model_kwargs"]) if resume else {
        "channels": cfg.channels, "image_size": cfg.image_size, **cfg.model}
    torch.manual_seed(cfg.seed)
    task = build(model_kwargs, device)
    step = 0
    if resume:
        for name, module in task.modules.items():
            module.load_state_dict(resume["models"][name])
        for name, optimizer in task.optimizers.items():
            optimizer.load_state_dict(resume["optimizers"][name])
        step = int(resume["step"])
        torch.set_rng_state(resume["rng"].cpu())
        if device.type == "cuda" and "rng_cuda" in resume:
            torch.cuda.set_rng_state(resume["rng_cuda"].cpu(), device)
    out_dir.mkdir(parents=True, exist_ok=True)

    batch_size = min(cfg.batch_size, len(images))
    steps_per_epoch = len(images) // batch_size
    total = cfg.steps or cfg.epochs * steps_per_epoch
    model = task.modules["model"]

    def save_checkpoint() -> None:
        state = {"kind": kind, "config": _model_config(model), "model_kwargs": model_kwargs, "data": data,
                 "models": {k: m.state_dict() for k, m in task.modules.items()},
                 "optimizers": {k: o.state_dict() for k, o in task.optimizers.items()},
                 "step": step, "rng": torch.get_rng_state(), "train_config": asdict(cfg)}
        if device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(device)
        with replaced_on_success(out_dir / "checkpoint.pt") as temporary:  # a killed save keeps the last one
            torch.save(state, temporary)

    def save_samples(epoch: int) -> None:
        modes = {name: m.training for name, m in task.modules.items()}
        for m in task.modules.values():
            m.eval()
        with torch.no_grad():
            pictures = to_uint8(task.samples())
        for name, m in task.modules.items():
            m.train(modes[name])
        save_grid(sample_grid_path(out_dir, epoch), pictures, nrow=math.ceil(math.sqrt(len(pictures))))

    bar = tqdm(total=total, initial=step, desc=f"train {kind}", unit="step", disable=not progress)
    started, seen = time.perf_counter(), 0
    for m in task.modules.values():
        m.train()
    while step < total:
        epoch, offset = divmod(step, steps_per_epoch)
        order = torch.from_numpy(np.random.default_rng((cfg.seed, epoch)).permutation(len(images)))
        for b in range(offset, steps_per_epoch):
            if step >= total:
                break
            batch = images[order[b * batch_size:(b + 1) * batch_size]].to(device, non_blocking=True)
            try:
                terms = task.step(batch)
            except FloatingPointError as exc:
                raise FloatingPointError(f"{kind}, step {step + 1}: {exc}") from None
            step += 1
            seen += len(batch)
            bar.set_postfix({k: f"{v:.4g}" for k, v in terms.items()} | {"img/s": f"{seen / max(time.perf_counter() - started, 1e-9):.0f}"})
            bar.update(1)
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
                save_checkpoint()
        if step % steps_per_epoch == 0 or step >= total:
            save_samples(math.ceil(step / steps_per_epoch))
            save_checkpoint()
    bar.close()
    return save_model(out_dir / f"{kind}.pt", kind, model.eval(), data)


def sample_grid_path(out_dir: str | os.PathLike, epoch: int) -> Path:
    """Where the training loop writes the sample grid of ``epoch`` (1-based)."""
    return Path(out_dir) / f"samples_epoch{epoch:03d}.png"


def _require_finite(loss: torch.Tensor, name: str) -> torch.Tensor:
    """``loss`` if it is finite; else FloatingPointError, raised before any weight is updated."""
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(f"{name} is {value}: lower the learning rate")
    return loss


def _latents(n: int, dim: int, seed: int, device: torch.device) -> torch.Tensor:
    """Fixed latent vectors for the per-epoch grids (the same every epoch)."""
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)).to(device)


def train_dcgan(cfg: GenTrainConfig, progress: bool = True) -> Path:
    """Trains a DCGAN (Adam, betas (0.5, 0.999), one discriminator step then one generator step).

    ``cfg.model`` may set ``latent_dim`` and ``width`` (used by both networks). Images are scaled
    to [-1, 1]. Returns the path of ``dcgan.pt`` (the generator) in ``cfg.out_dir``.

    Raises:
        FileNotFoundError / ValueError: bad data folder, checkpoint or configuration.
        FloatingPointError: a non-finite loss.
    """
    def build(kwargs: dict[str, Any], device: torch.device) -> _Task:
        generator = Generator(**kwargs).to(device)
        discriminator = Discriminator(kwargs["channels"], kwargs["image_size"], kwargs.get("width", 32)).to(device)
        lr = cfg.lr or DEFAULT_LR["dcgan"]
        opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
        fixed = _latents(cfg.grid_size, generator.latent_dim, cfg.seed, device)

        def step(batch: torch.Tensor) -> dict[str, float]:
            real = unit_images(batch, cfg.variant) * 2 - 1
            fake = generator(torch.randn(len(real), generator.latent_dim, device=device))
            d_terms = discriminator_loss(discriminator, real, fake)
            _require_finite(d_terms["d_loss"], "discriminator loss")
            opt_d.zero_grad(set_to_none=True)
            d_terms["d_loss"].backward()
            opt_d.step()
            g_loss = _require_finite(generator_loss(discriminator, fake), "generator loss")
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            return {"d_loss": d_terms["d_loss"].item(), "g_loss": g_loss.item(),
                    "D(x)": d_terms["d_real"].item(), "D(G(z))": d_terms["d_fake"].item()}

        return _Task("dcgan", {"model": generator, "discriminator": discriminator}, {"generator": opt_g, "discriminator": opt_d},
                     step, lambda: to_unit_range(generator(fixed)))

    return _run(cfg, "dcgan", build, progress)


def train_vae(cfg: GenTrainConfig, progress: bool = True) -> Path:
    """Trains a VAE by minimising -ELBO (Adam); the bar shows reconstruction, KL and ELBO in nats/image.

    ``cfg.model`` may set ``latent_dim``, ``width`` and ``hidden``. Returns the path of ``vae.pt``.

    Raises:
        FileNotFoundError / ValueError: bad data folder, checkpoint or configuration.
        FloatingPointError: a non-finite loss.
    """
    def build(kwargs: dict[str, Any], device: torch.device) -> _Task:
        model = VAE(**kwargs).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr or DEFAULT_LR["vae"])
        fixed = _latents(cfg.grid_size, model.latent_dim, cfg.seed, device)

        def step(batch: torch.Tensor) -> dict[str, float]:
            terms = elbo_terms(model, unit_images(batch, cfg.variant))
            _require_finite(terms["loss"], "-ELBO")
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            return {"elbo": terms["elbo"].item(), "recon": terms["reconstruction"].item(), "kl": terms["kl"].item()}

        return _Task("vae", {"model": model}, {"model": optimizer}, step, lambda: model.decode(fixed))

    return _run(cfg, "vae", build, progress)


def train_pixelcnn(cfg: GenTrainConfig, progress: bool = True) -> Path:
    """Trains a PixelCNN (:mod:`pyfast.generate.pixelcnn`) by maximum likelihood (Adam).

    The bar shows the negative log-likelihood in nats/image and bits/dim; the grids are
    samples drawn with the cached sampler. ``cfg.model`` holds extra PixelCNN arguments.
    Returns the path of ``pixelcnn.pt``.

    Raises:
        FileNotFoundError / ValueError: bad data folder, checkpoint or configuration (``channels`` must be 1).
        FloatingPointError: a non-finite loss.
    """
    from .pixelcnn import PixelCNN, pixelcnn_loss

    if cfg.channels != 1:
        raise ValueError(f"PixelCNN models single-channel images: use channels=1 (grayscale), got {cfg.channels}")

    def build(kwargs: dict[str, Any], device: torch.device) -> _Task:
        model = PixelCNN(**_pixelcnn_kwargs(kwargs, cfg.variant)).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr or DEFAULT_LR["pixelcnn"])
        dims = kwargs["image_size"] ** 2

        def step(batch: torch.Tensor) -> dict[str, float]:
            nll = _require_finite(pixelcnn_loss(model, batch), "NLL")
            optimizer.zero_grad(set_to_none=True)
            nll.backward()
            optimizer.step()
            return {"nll": nll.item(), "bits/dim": nll.item() / (dims * math.log(2))}

        def samples() -> torch.Tensor:
            drawn = model.sample(cfg.grid_size, seed=cfg.seed, method="cached", progress=False).float()
            return drawn if cfg.variant == "binary" else drawn / 255.0

        return _Task("pixelcnn", {"model": model}, {"model": optimizer}, step, samples)

    return _run(cfg, "pixelcnn", build, progress)


def _pixelcnn_kwargs(kwargs: dict[str, Any], variant: str) -> dict[str, Any]:
    """The loop's generic arguments mapped onto PixelCNN's constructor.

    PixelCNN models one channel; its ``channels`` is the width of the network, which the
    generic arguments call ``width``; ``levels`` follows the data variant.
    """
    kwargs = dict(kwargs)
    kwargs.pop("channels", None)  # image channels: always 1 here
    if "width" in kwargs:
        kwargs["channels"] = kwargs.pop("width")
    kwargs.pop("latent_dim", None)
    kwargs.setdefault("levels", 2 if variant == "binary" else 256)
    return kwargs


TRAINERS: dict[str, Callable[[GenTrainConfig, bool], Path]] = {
    "dcgan": train_dcgan, "vae": train_vae, "pixelcnn": train_pixelcnn,
}


# ----------------------------------------------------------------------------- evaluation


def _mean_over_batches(model: nn.Module, images: np.ndarray, batch_size: int,
                       per_image_means: Callable[[torch.Tensor], dict[str, torch.Tensor]]) -> dict[str, float]:
    """Mean over ``images`` (uint8 (N, C, H, W)) of the per-batch means ``per_image_means(batch)``
    returns, weighted by batch size, with ``model`` in eval mode (its mode restored after).

    Raises:
        ValueError: no images.
    """
    if len(images) < 1:
        raise ValueError("images must hold at least one image")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    totals: dict[str, float] = {}
    try:
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])).to(device)
            for key, value in per_image_means(batch).items():
                totals[key] = totals.get(key, 0.0) + value.item() * len(batch)
    finally:
        model.train(was_training)
    return {key: value / len(images) for key, value in totals.items()}


@torch.no_grad()
def evaluate_vae(model: VAE, images: np.ndarray, variant: str = "8bit", batch_size: int = 256, seed: int = 0
                 ) -> dict[str, float]:
    """Mean ELBO and its terms over ``images`` (uint8 (N, C, H, W)), in nats per image.

    One reparameterisation sample per image, drawn from a generator seeded with ``seed``.
    Returns ``{"elbo", "reconstruction", "kl", "images"}``. The caller's model is not changed
    (its train/eval mode is restored).

    Raises:
        ValueError: empty set, or images that do not fit the model.
    """
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)

    def terms(batch: torch.Tensor) -> dict[str, torch.Tensor]:
        found = elbo_terms(model, unit_images(batch, variant), generator)
        return {key: found[key] for key in ("elbo", "reconstruction", "kl")}

    totals = _mean_over_batches(model, images, batch_size, terms)
    return totals | {"images": len(images)}


@torch.no_grad()
def evaluate_pixelcnn(model: nn.Module, images: np.ndarray, batch_size: int = 256) -> dict[str, float]:
    """Mean negative log-likelihood over ``images`` (uint8 (N, C, H, W)): nats/image and bits/dim.

    Raises:
        ValueError: empty set, or images that do not fit the model.
    """
    from .pixelcnn import pixelcnn_loss

    nll = _mean_over_batches(model, images, batch_size, lambda batch: {"nll": pixelcnn_loss(model, batch)})["nll"]
    dims = int(np.prod(images.shape[1:]))
    return {"nll_nats": nll, "bits_per_dim": nll / (dims * math.log(2)), "images": len(images)}
