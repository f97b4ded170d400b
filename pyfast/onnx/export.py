"""Export of style models to ONNX, with metadata and a parity check through ONNX Runtime."""

from __future__ import annotations

import copy
import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch

from .. import __version__
from .._checks import check_int
from .._errors import first_line
from .._files import replaced_on_success
from ..models.transformer import MIN_SIZE, TransformerNet
from .fp16 import convert_to_float16
from .rewrites import optimize_for_export

DEFAULT_OPSET = 19  # the half-width model ran 7 % faster than at opset 17 in ONNX Runtime 1.32 CPU (bench/RESULTS.md)
MIN_OPSET = 13
MAX_OPSET = getattr(torch.onnx._constants, "ONNX_MAX_OPSET", 20)  # the newest torch.onnx.export can write
# Sizes the export is verified at: none equal to the export size, odd ones included.
VERIFY_SIZES = ((97, 131), (200, 160), (64, 64))
FP32_TOLERANCE = 0.05  # max abs error on the 0-255 scale
FP16_TOLERANCE = 4.0


@dataclass
class ExportReport:
    """What an export wrote and how closely ONNX Runtime reproduced PyTorch."""

    path: Path
    opset: int
    fp16: bool
    metadata: dict[str, str]
    max_abs_error: dict[str, float] = field(default_factory=dict)  # "HxW" -> error on the 0-255 scale
    verified_with: str | None = None  # provider used for the check, None if skipped
    note: str = ""

    def summary(self) -> str:
        if not self.max_abs_error:
            return f"wrote {self.path} (opset {self.opset}{', fp16' if self.fp16 else ''}); not verified" + (
                f": {self.note}" if self.note else "")
        worst = max(self.max_abs_error.values())
        sizes = ", ".join(f"{k}: {v:.4f}" for k, v in self.max_abs_error.items())
        return (
            f"wrote {self.path} (opset {self.opset}{', fp16' if self.fp16 else ''}); ONNX Runtime "
            f"({self.verified_with}) vs PyTorch max abs error on the 0-255 scale: {worst:.4f} ({sizes})"
        )


def style_metadata(model: TransformerNet, style: str) -> dict[str, str]:
    return {
        "pyfast.task": "style-transfer",
        "pyfast.style": style,
        "pyfast.width": f"{model.width:g}",
        "pyfast.input": "input: (N, 3, H, W) float32, RGB, 0-255; any H, W >= 5",
        "pyfast.output": "output: (N, 3, H, W) float32, RGB, 0-255 scale, unbounded (clip to 0-255)",
        "pyfast.layout": "NCHW",
        "pyfast.input_range": "0-255",
    }


def check_opset(opset: int) -> None:
    """Raises ValueError for an opset that is not an integer in MIN_OPSET..MAX_OPSET, before any export work."""
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset must be an integer in {MIN_OPSET}..{MAX_OPSET} (what this torch.onnx can export), got {opset!r}")


def write_onnx(proto: onnx.ModelProto, path: Path, metadata: dict[str, str], doc: str | None = None) -> Path:
    """Stamps pyfast as the producer and ``metadata`` as metadata_props, runs the full ONNX
    checker (raises on an invalid graph) and saves to ``path`` (parent folders created)."""
    proto.producer_name, proto.producer_version = "pyfast", __version__
    if doc is not None:
        proto.doc_string = doc
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto, full_check=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, path)
    return path


def export_style(
    model: TransformerNet,
    path: str | os.PathLike,
    style: str = "custom",
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    export_size: tuple[int, int] = (256, 256),
    verify: bool = True,
    rewrite: bool = True,
) -> ExportReport:
    """Exports ``model`` to ONNX with dynamic batch, height and width, then verifies it.

    The graph takes ``input`` (N, 3, H, W) float32 RGB 0-255 and returns ``output``
    of the same shape; ``fp16`` computes in float16 inside (I/O stay float32).
    Verification runs ONNX Runtime at sizes other than ``export_size`` and
    compares with PyTorch. ``rewrite`` exports the exact, faster form of the
    layers (:func:`pyfast.onnx.rewrites.optimize_for_export`: the 3-channel output
    convolution as a stride-2 convolution + depth-to-space); verification compares
    with the original model either way.

    ``path`` is replaced only once the export is written and verified: a failed
    export leaves an earlier file there as it was.

    Raises:
        ValueError: opset not an integer in 13..``MAX_OPSET``, an ``export_size`` under
            5x5 pixels, or the exported model disagrees with PyTorch beyond tolerance
            (0.05 float32, 4.0 float16, on the 0-255 scale).

    ``model`` itself is left as it was (mode, dtype, device): the export works on a copy.
    """
    check_opset(opset)
    try:
        if len(export_size) != 2:
            raise ValueError
        for side in export_size:
            check_int(side, "export_size", MIN_SIZE)
    except (TypeError, ValueError):
        raise ValueError(f"export_size must be (height, width) integers >= {MIN_SIZE}, got {export_size!r}") from None
    path = Path(path)
    model = copy.deepcopy(model).eval().float().cpu()
    dummy = torch.rand(1, 3, *export_size) * 255
    exported, rewrites = optimize_for_export(model) if rewrite else (model, [])
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            exported, (dummy,), buffer, input_names=["input"], output_names=["output"], opset_version=opset,
            dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "output": {0: "batch", 2: "height", 3: "width"}},
            dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    if fp16:
        proto = convert_to_float16(proto)
    metadata = style_metadata(model, style) | {
        "pyfast.precision": "float16" if fp16 else "float32",
        "pyfast.graph": "; ".join(rewrites) or "as written",
    }
    with replaced_on_success(path) as temporary:
        write_onnx(proto, temporary, metadata, doc=f"pyfast style transfer model '{style}' (Johnson et al. TransformerNet)")
        report = ExportReport(temporary, opset, fp16, metadata)
        if verify:
            verify_style_export(model, report)
    report.path = path
    return report


def verify_style_export(model: TransformerNet, report: ExportReport, sizes=VERIFY_SIZES) -> None:
    """Fills ``report.max_abs_error`` by running ONNX Runtime and PyTorch on random images."""
    from ..runtime import Engine

    tolerance = FP16_TOLERANCE if report.fp16 else FP32_TOLERANCE
    try:
        engine = Engine(report.path, providers="auto", fused=False)  # the graph itself
    except RuntimeError as exc:  # a float16 model on a CPU-only onnxruntime may lack kernels
        if not report.fp16:
            raise
        report.note = f"ONNX Runtime could not load it here ({first_line(exc, 160)})"
        return
    report.verified_with = engine.provider
    g = torch.Generator().manual_seed(0)
    for h, w in sizes:
        x = torch.rand(2, 3, h, w, generator=g) * 255
        with torch.no_grad():
            expected = model(x).numpy()
        got = engine.run(x.numpy())  # a run-time failure is a broken export: raise it
        report.max_abs_error[f"{h}x{w}"] = float(np.max(np.abs(got - expected)))
    worst = max(report.max_abs_error.values())
    if not worst <= tolerance:  # NaN counts as a failure
        raise ValueError(f"exported model disagrees with PyTorch: max abs error {worst:.4f} > {tolerance} (0-255 scale)")
