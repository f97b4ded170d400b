"""ONNX export of the generator networks, and sampling through ONNX Runtime.

Exports (dynamic batch, checked with the ONNX checker, verified with ONNX Runtime against
PyTorch at batch 1 and 3):

- :func:`export_dcgan_generator`: ``z`` (N, latent_dim) -> ``image`` (N, C, H, W) in [0, 1].
- :func:`export_vae_decoder`: ``z`` (N, latent_dim) -> ``image`` (N, C, H, W) in [0, 1]
  (the Bernoulli means).
- :func:`export_pixelcnn`: one PixelCNN forward pass, ``image`` -> ``logits``.

Sampling (numpy only, :class:`pyfast.runtime.Engine`): :func:`sample_dcgan_onnx`,
:func:`sample_vae_onnx` draw z ~ N(0, I) from a seed; :func:`interpolate_onnx` draws latent
interpolation grids (spherical interpolation between random endpoints, one row per pair).
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._checks import check_int
from .._files import replaced_on_success
from ..onnx.export import DEFAULT_OPSET, check_opset, write_onnx
from ..runtime import Engine
from .dcgan import to_unit_range
from .training import to_uint8

VERIFY_BATCHES = (1, 3)
TOLERANCE = 1e-4  # max abs error of ONNX Runtime vs PyTorch on [0, 1] images / logits
TASK_DCGAN, TASK_VAE, TASK_PIXELCNN = "dcgan-generator", "vae-decoder", "pixelcnn"


@dataclass
class GenExportReport:
    """What an export wrote and how closely ONNX Runtime reproduced PyTorch."""

    path: Path
    task: str
    opset: int
    metadata: dict[str, str]
    max_abs_error: dict[int, float] = field(default_factory=dict)  # batch size -> error
    verified_with: str | None = None  # ONNX Runtime provider of the check; None if skipped

    def summary(self) -> str:
        if not self.max_abs_error:
            return f"wrote {self.path} ({self.task}, opset {self.opset}); not verified"
        errors = ", ".join(f"batch {b}: {e:.2e}" for b, e in self.max_abs_error.items())
        return f"wrote {self.path} ({self.task}, opset {self.opset}); ONNX Runtime ({self.verified_with}) vs PyTorch max abs error {errors}"


def _export(module, example, path: str | os.PathLike, task: str, input_name: str, output_name: str,
            metadata: dict[str, str], opset: int, verify: bool, make_input) -> GenExportReport:
    """Exports ``module`` (batch axis dynamic), adds metadata, checks, optionally verifies at VERIFY_BATCHES."""
    import onnx

    check_opset(opset)
    path = Path(path)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buffer, input_names=[input_name], output_names=[output_name],
                          opset_version=opset, dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                          dynamo=False)
    proto = onnx.load_from_string(buffer.getvalue())
    metadata = {"pyfast.task": task, "pyfast.layout": "NCHW"} | metadata
    with replaced_on_success(path) as temporary:  # an earlier file survives a failed verification
        write_onnx(proto, temporary, metadata)
        report = GenExportReport(temporary, task, opset, metadata)
        if verify:
            _verify(module, report, make_input)
    report.path = path
    return report


def _verify(module, report: GenExportReport, make_input) -> None:
    """ONNX Runtime against ``module`` at VERIFY_BATCHES; raises ValueError beyond TOLERANCE."""
    engine = Engine(report.path, providers="cpu", fused=False)
    report.verified_with = engine.provider
    generator = torch.Generator().manual_seed(0)
    for batch in VERIFY_BATCHES:
        x = make_input(batch, generator)
        with torch.no_grad():
            expected = module(x).numpy()
        report.max_abs_error[batch] = float(np.max(np.abs(engine.run(x.numpy()) - expected)))
    worst = max(report.max_abs_error.values())
    if worst > TOLERANCE:
        raise ValueError(f"exported {report.task} disagrees with PyTorch: max abs error {worst:.2e} > {TOLERANCE}")


class _GeneratorImages(nn.Module):
    """A DCGAN generator whose output is mapped to [0, 1]."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return to_unit_range(self.generator(z))


class _DecoderImages(nn.Module):
    """A VAE's decoder means, z -> images in [0, 1]."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)


def export_dcgan_generator(generator, path: str | os.PathLike, opset: int = DEFAULT_OPSET, verify: bool = True
                           ) -> GenExportReport:
    """Exports a DCGAN :class:`~pyfast.generate.dcgan.Generator`: ``z`` (N, latent_dim) -> ``image`` (N, C, H, W) in [0, 1].

    The generator is exported in eval mode (batch norm with its running statistics) from a
    CPU float32 copy; the caller's model is not changed.

    Raises:
        ValueError: opset outside 13..MAX_OPSET, or ONNX Runtime disagrees with PyTorch beyond 1e-4.
    """
    model = copy.deepcopy(generator).float().cpu().eval()
    wrapped = _GeneratorImages(model).eval()
    dim = model.latent_dim
    meta = {"pyfast.latent_dim": str(dim), "pyfast.input": f"z: (N, {dim}) float32, N(0, I)",
            "pyfast.output": f"image: (N, {model.channels}, {model.image_size}, {model.image_size}) float32 in [0, 1]"}
    return _export(wrapped, torch.zeros(2, dim), path, TASK_DCGAN, "z", "image", meta, opset, verify,
                   lambda n, g: torch.randn(n, dim, generator=g))


def export_vae_decoder(vae, path: str | os.PathLike, opset: int = DEFAULT_OPSET, verify: bool = True) -> GenExportReport:
    """Exports a :class:`~pyfast.generate.vae.VAE`'s decoder: ``z`` (N, latent_dim) -> ``image`` (N, C, H, W) in [0, 1].

    Raises:
        ValueError: opset outside 13..MAX_OPSET, or ONNX Runtime disagrees with PyTorch beyond 1e-4.
    """
    model = copy.deepcopy(vae).float().cpu().eval()
    dim = model.latent_dim
    meta = {"pyfast.latent_dim": str(dim), "pyfast.input": f"z: (N, {dim}) float32, N(0, I)",
            "pyfast.output": f"image: (N, {model.channels}, {model.image_size}, {model.image_size}) float32 in [0, 1]"}
    return _export(_DecoderImages(model).eval(), torch.zeros(2, dim), path, TASK_VAE, "z", "image", meta, opset, verify,
                   lambda n, g: torch.randn(n, dim, generator=g))


def export_pixelcnn(model, path: str | os.PathLike, image_shape: tuple[int, int, int] = (1, 28, 28),
                    opset: int = DEFAULT_OPSET, verify: bool = True) -> GenExportReport:
    """Exports one PixelCNN forward pass: ``image`` (N, C, H, W) -> ``logits`` as the model returns them.

    Masked convolutions export as standard Conv nodes with masked weights. ``image_shape`` is
    (C, H, W); the verification feeds random images of the model's value range.

    Raises:
        ValueError: opset outside 13..MAX_OPSET, or ONNX Runtime disagrees with PyTorch beyond 1e-4.
    """
    net = copy.deepcopy(model).float().cpu().eval()
    levels = int(getattr(net, "levels", 2))

    def make_input(n: int, g) -> torch.Tensor:
        return torch.randint(0, levels, (n, *image_shape), generator=g).float()

    meta = {"pyfast.levels": str(levels),
            "pyfast.input": f"image: (N, {', '.join(map(str, image_shape))}) float32, pixel values 0..{levels - 1}"}
    return _export(net, make_input(2, torch.Generator().manual_seed(1)), path, TASK_PIXELCNN, "image", "logits", meta,
                   opset, verify, make_input)


# ----------------------------------------------------------------------------- sampling


def _latent_engine(model: str | os.PathLike | Engine, tasks: tuple[str, ...], providers: str) -> Engine:
    """An Engine for ``model``, whose pyfast.task must be one of ``tasks``. Raises ValueError otherwise."""
    engine = model if isinstance(model, Engine) else Engine(model, providers=providers)
    found = engine.metadata.get("pyfast.task")
    if found not in tasks:
        raise ValueError(f"{engine.path} is not a {' or '.join(tasks)} model (its pyfast.task is {found!r})")
    return engine


def _decode(engine: Engine, z: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([engine.run(z[i:i + batch_size]) for i in range(0, len(z), batch_size)])


def _sample(model, task: str, n: int, seed: int, providers: str, batch_size: int) -> np.ndarray:
    check_int(n, "n")
    check_int(batch_size, "batch_size")
    engine = _latent_engine(model, (task,), providers)
    dim = int(engine.metadata["pyfast.latent_dim"])
    z = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    return to_uint8(_decode(engine, z, batch_size))


def sample_dcgan_onnx(model: str | os.PathLike | Engine, n: int = 64, seed: int = 0, providers: str = "auto",
                      batch_size: int = 256) -> np.ndarray:
    """``n`` DCGAN samples through ONNX Runtime: uint8 (n, C, H, W); z ~ N(0, I) from ``seed``.

    Args:
        model: an exported generator (.onnx path or Engine).

    Raises:
        ValueError: n < 1, or the file is not a DCGAN generator export.
    """
    return _sample(model, TASK_DCGAN, n, seed, providers, batch_size)


def sample_vae_onnx(model: str | os.PathLike | Engine, n: int = 64, seed: int = 0, providers: str = "auto",
                    batch_size: int = 256) -> np.ndarray:
    """``n`` VAE samples (decoder means at z ~ N(0, I)) through ONNX Runtime: uint8 (n, C, H, W).

    Raises:
        ValueError: n < 1, or the file is not a VAE decoder export.
    """
    return _sample(model, TASK_VAE, n, seed, providers, batch_size)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between rows of ``a`` and ``b`` (R, D) at fractions ``t`` (S,) -> (R, S, D).

    Follows the great circle between the two vectors (White 2016): intermediate points keep the
    norm typical of Gaussian latents, unlike a straight line through the origin's neighbourhood.
    Falls back to linear interpolation for (nearly) parallel vectors.
    """
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    cos = np.sum(a64 * b64, 1) / np.maximum(np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))[:, None, None]
    t = np.asarray(t, np.float64)[None, :, None]
    sin = np.sin(omega)
    linear = np.abs(sin) < 1e-6
    wa = np.where(linear, 1 - t, np.sin((1 - t) * omega) / np.where(linear, 1, sin))
    wb = np.where(linear, t, np.sin(t * omega) / np.where(linear, 1, sin))
    return (wa * a64[:, None] + wb * b64[:, None]).astype(np.float32)


def interpolate_onnx(model: str | os.PathLike | Engine, rows: int = 8, steps: int = 8, seed: int = 0,
                     providers: str = "auto", task: str | None = None) -> np.ndarray:
    """Latent interpolation grid of a DCGAN generator or VAE decoder export: uint8 (rows * steps, C, H, W).

    Row r walks from one random latent vector to another in ``steps`` frames (spherical
    interpolation, both ends included); images are in row-major order, ready for a grid with
    ``steps`` per row.

    ``task`` (TASK_DCGAN or TASK_VAE) requires that kind of export; None accepts either.

    Raises:
        ValueError: rows < 1, steps < 2, or the model is neither export (or not ``task``).
    """
    check_int(rows, "rows")
    if not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    engine = _latent_engine(model, (task,) if task else (TASK_DCGAN, TASK_VAE), providers)
    dim = int(engine.metadata["pyfast.latent_dim"])
    ends = np.random.default_rng(seed).standard_normal((2, rows, dim), dtype=np.float32)
    z = slerp(ends[0], ends[1], np.linspace(0.0, 1.0, steps)).reshape(rows * steps, dim)
    return to_uint8(_decode(engine, z, 256))
