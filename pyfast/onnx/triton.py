"""A Triton Inference Server model repository for ONNX models (``pyfast export triton``).

Layout written, one folder per model::

    REPO/<name>/config.pbtxt      model configuration (protobuf text format)
    REPO/<name>/1/model.onnx      version 1

The configuration declares the ONNX Runtime backend, inputs and outputs read from the
ONNX graph (the batch axis left to ``max_batch_size``), dynamic batching, instance groups
and, optionally, the TensorRT execution accelerator.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx

# ONNX element type -> Triton DataType.
TRITON_TYPES = {
    onnx.TensorProto.BOOL: "TYPE_BOOL", onnx.TensorProto.UINT8: "TYPE_UINT8", onnx.TensorProto.UINT16: "TYPE_UINT16",
    onnx.TensorProto.UINT32: "TYPE_UINT32", onnx.TensorProto.UINT64: "TYPE_UINT64", onnx.TensorProto.INT8: "TYPE_INT8",
    onnx.TensorProto.INT16: "TYPE_INT16", onnx.TensorProto.INT32: "TYPE_INT32", onnx.TensorProto.INT64: "TYPE_INT64",
    onnx.TensorProto.FLOAT16: "TYPE_FP16", onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.DOUBLE: "TYPE_FP64",
    onnx.TensorProto.BFLOAT16: "TYPE_BF16", onnx.TensorProto.STRING: "TYPE_STRING",
}
KINDS = {"gpu": "KIND_GPU", "cpu": "KIND_CPU", "auto": "KIND_AUTO"}
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class _Enum(str):
    """A protobuf enum value: written without quotes."""


@dataclass(frozen=True)
class TritonOptions:
    """How each model is served by Triton.

    Attributes:
        max_batch_size: largest batch Triton forms (0: no batching; the model's own shapes).
        preferred_batch_sizes: batch sizes the dynamic batcher aims for (each <= max_batch_size).
        max_queue_delay_us: how long a request may wait for a batch, in microseconds.
        instances: model instances per device.
        kind: "gpu", "cpu" or "auto" (the instance group's kind).
        tensorrt: run through ONNX Runtime's TensorRT execution accelerator (GPU only).
        tensorrt_precision: "FP16" or "FP32" for TensorRT.

    Raises:
        ValueError: an option out of range or inconsistent.
    """

    max_batch_size: int = 8
    preferred_batch_sizes: tuple[int, ...] = (4, 8)
    max_queue_delay_us: int = 2000
    instances: int = 1
    kind: str = "gpu"
    tensorrt: bool = False
    tensorrt_precision: str = "FP16"

    def __post_init__(self) -> None:
        if self.max_batch_size < 0:
            raise ValueError(f"max_batch_size must be >= 0, got {self.max_batch_size}")
        bad = [b for b in self.preferred_batch_sizes if not 1 <= b <= max(self.max_batch_size, 0)]
        if bad and self.max_batch_size > 0:
            raise ValueError(f"preferred_batch_sizes must be in 1..max_batch_size ({self.max_batch_size}), got {bad}")
        if self.max_queue_delay_us < 0:
            raise ValueError(f"max_queue_delay_us must be >= 0, got {self.max_queue_delay_us}")
        if self.instances < 1:
            raise ValueError(f"instances must be >= 1, got {self.instances}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.tensorrt and self.kind == "cpu":
            raise ValueError("tensorrt needs GPU instances (kind 'gpu' or 'auto'), got kind 'cpu'")
        if self.tensorrt_precision not in ("FP16", "FP32"):
            raise ValueError(f"tensorrt_precision must be 'FP16' or 'FP32', got {self.tensorrt_precision!r}")


def _tensor_entries(values: Sequence[onnx.ValueInfoProto], batched: bool, what: str) -> list[dict]:
    """Triton input/output entries of graph ``values``; the first axis dropped when ``batched``."""
    entries = []
    for value in values:
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type") or tensor.elem_type not in TRITON_TYPES:
            raise ValueError(f"{what} {value.name!r} is not a tensor of a type Triton supports")
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        if batched:
            if not dims or dims[0] != -1:
                raise ValueError(f"{what} {value.name!r} has no dynamic batch axis (shape {dims}); "
                                 "use max_batch_size 0 to serve it without batching")
            dims = dims[1:]
        entries.append({"name": value.name, "data_type": _Enum(TRITON_TYPES[tensor.elem_type]), "dims": dims})
    return entries


def triton_config(model: onnx.ModelProto, name: str, options: TritonOptions | None = None) -> dict:
    """The model configuration of ``model`` served as ``name``, as a nested dict in the
    shape of Triton's ``ModelConfig`` message (``format_pbtxt`` writes it).

    Raises:
        ValueError: a bad name, an input/output Triton cannot type, or no batch axis while batching.
    """
    options = options or TritonOptions()
    if not MODEL_NAME.match(name):
        raise ValueError(f"model name must be letters, digits, '_', '.', '-' (up to 64), got {name!r}")
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initializers]
    batched = options.max_batch_size > 0
    config: dict = {
        "name": name,
        "backend": "onnxruntime",
        "max_batch_size": options.max_batch_size,
        "input": _tensor_entries(inputs, batched, "input"),
        "output": _tensor_entries(graph.output, batched, "output"),
    }
    if batched:
        config["dynamic_batching"] = {
            "preferred_batch_size": list(options.preferred_batch_sizes),
            "max_queue_delay_microseconds": options.max_queue_delay_us,
        }
    config["instance_group"] = [{"count": options.instances, "kind": _Enum(KINDS[options.kind])}]
    if options.tensorrt:
        config["optimization"] = {"execution_accelerators": {"gpu_execution_accelerator": [{
            "name": "tensorrt",
            "parameters": {"precision_mode": options.tensorrt_precision, "max_workspace_size_bytes": "1073741824"},
        }]}}
    return config


def _scalar(value: object) -> str:
    if isinstance(value, _Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def format_pbtxt(message: dict, indent: int = 0) -> str:
    """Protobuf text format of a nested dict: dict values are messages, lists of dicts
    repeated messages, lists of scalars repeated scalars; a dict under "parameters" is a
    ``map<string, string>``."""
    pad = "  " * indent
    lines = []
    for key, value in message.items():
        if key == "parameters" and isinstance(value, dict):
            for k, v in value.items():
                lines.append(f"{pad}{key} {{ key: {_scalar(k)} value: {_scalar(v)} }}")
        elif isinstance(value, dict):
            lines += [f"{pad}{key} {{", format_pbtxt(value, indent + 1), f"{pad}}}"]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            blocks = [f"{pad}  {{\n{format_pbtxt(v, indent + 2)}\n{pad}  }}" for v in value]
            lines.append(f"{pad}{key} [\n" + ",\n".join(blocks) + f"\n{pad}]")
        elif isinstance(value, list):
            lines.append(f"{pad}{key}: [ {', '.join(_scalar(v) for v in value)} ]")
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return "\n".join(lines)


def export_triton(models: Sequence[str | os.PathLike], repo: str | os.PathLike, options: TritonOptions | None = None,
                  overwrite: bool = False) -> list[Path]:
    """Writes a Triton model repository with one model folder per entry of ``models``.

    Args:
        models: shipped model names or ``.onnx`` paths (or one of them); each is served under its file stem.
        repo: the repository folder (created).
        options: batching, instances, accelerator (default :class:`TritonOptions`).
        overwrite: replace model folders that exist already.

    Returns:
        The model folders written.

    Raises:
        ValueError: no models, a duplicate name, an existing folder without ``overwrite``, a
            model that is not ONNX or that Triton cannot describe. FileNotFoundError: a missing file.
    """
    from ..zoo import resolve_model

    if isinstance(models, (str, os.PathLike)):  # one model, not a sequence of one-letter names
        models = [models]
    if not models:
        raise ValueError("models must name at least one model")
    options = options or TritonOptions()
    repo = Path(repo)
    sources = [resolve_model(str(m)) for m in models]
    names = [p.stem for p in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be distinct, got {names}")
    planned = []
    for source, name in zip(sources, names):
        try:
            proto = onnx.load(str(source), load_external_data=False)
        except Exception as exc:  # onnx raises protobuf's DecodeError and others
            raise ValueError(f"{source} is not a valid ONNX model ({exc})") from None
        if not proto.graph.input or not proto.graph.output:
            raise ValueError(f"{source} is not a valid ONNX model (its graph has no inputs or no outputs)")
        folder = repo / name
        if folder.exists() and not overwrite:
            raise ValueError(f"{folder} exists; pass overwrite=True (--overwrite) to replace it")
        planned.append((source, folder, format_pbtxt(triton_config(proto, name, options)) + "\n"))
    written = []
    for source, folder, text in planned:
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "1").mkdir(parents=True)
        shutil.copyfile(source, folder / "1" / "model.onnx")
        (folder / "config.pbtxt").write_text(text, encoding="utf-8")
        written.append(folder)
    return written
