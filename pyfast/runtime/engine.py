"""Engine: the ONNX Runtime session wrapper every consumer uses (numpy in, numpy out, no torch)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .._errors import first_line
from .._files import existing_file

PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
}
# "auto" takes those available in this order.
AUTO_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
MAX_THREADS = 1024  # ONNX Runtime's intra-op pool is a C int; more threads than this is a typo

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(bool)": np.bool_,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
}


def _usable_cores() -> int:
    """The cores this process may run on (ONNX Runtime's default pool size, roughly)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def resolve_providers(providers: str | Sequence[str]) -> list[str]:
    """Provider names for ``providers``: "auto", an alias ("cpu", "cuda", "tensorrt"), a full
    name, or a list of those. Raises ValueError for an unknown or unavailable provider."""
    available = available_providers()
    if isinstance(providers, str):
        if providers == "auto":
            return [p for p in AUTO_ORDER if p in available] or available
        providers = [providers]
    import onnxruntime as ort

    resolved = []
    for p in providers:
        name = PROVIDER_ALIASES.get(p.lower(), p)
        if name not in ort.get_all_providers():
            raise ValueError(f"unknown execution provider {p!r}; use auto, {', '.join(PROVIDER_ALIASES)} or an "
                             f"ONNX Runtime provider name (this build has: {', '.join(available)})")
        if name not in available:
            raise ValueError(
                f"execution provider {p!r} is not available in this onnxruntime build "
                f"(available: {', '.join(available)})"
            )
        resolved.append(name)
    if not resolved:
        raise ValueError("providers must name at least one execution provider")
    return resolved


class Engine:
    """An ONNX model ready to run.

    Args:
        path: the ``.onnx`` file.
        providers: "auto" (TensorRT, CUDA, CPU: those this onnxruntime has), one
            provider or a list in priority order. An explicit request is never
            silently downgraded: if ONNX Runtime does not put the first requested
            provider first, construction fails.
        threads: intra-op threads of the CPU provider (default: ONNX Runtime's).
        fused: run a style model exported by pyfast with :class:`~pyfast.runtime.fused.FusedStyleNetwork`
            (ONNX Runtime's blocked convolutions, pyfast's fused instance-norm/pad kernels)
            on the CPU provider. None (default): when it can, after checking it against the
            plain graph, and with at most ``MAX_AUTO_THREADS`` threads (it keeps one ONNX Runtime
            pool per convolution); ``fused_unavailable`` then says why not. True: required,
            whatever the thread count. False: never.

    ``run`` is thread-safe (ONNX Runtime sessions are; the fused path keeps buffers per
    calling thread), so one Engine can serve many threads. Inputs are checked against the model's
    declared inputs. ``backend`` names what runs the model.

    Raises:
        FileNotFoundError / IsADirectoryError: no such file; a folder.
        ValueError: not an ONNX model, or unknown/unavailable providers; ``fused=True`` for a
            model or provider the fused path cannot run.
        RuntimeError: ONNX Runtime did not use the requested provider.
    """

    def __init__(self, path: str | os.PathLike, providers: str | Sequence[str] = "auto", threads: int | None = None,
                 fused: bool | None = None) -> None:
        import onnxruntime as ort

        self.path = existing_file(path, "ONNX model")
        requested = resolve_providers(providers)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
                raise TypeError(f"threads must be an integer, got {threads!r}")
            if not 1 <= threads <= MAX_THREADS:
                raise ValueError(f"threads must be in 1..{MAX_THREADS}, got {threads}")
            options.intra_op_num_threads = int(threads)
        options.log_severity_level = 3
        self._run_options = ort.RunOptions()
        self._run_options.log_severity_level = 4  # a failing run raises (see run); no duplicate log line
        # "auto" may list GPU providers that cannot start here (onnxruntime-gpu on a
        # machine without a GPU); ONNX Runtime then logs errors and uses the next one,
        # which is the intended behaviour of "auto", so those logs are muted.
        ort.set_default_logger_severity(4 if providers == "auto" else 3)
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=requested)
        except Exception as exc:  # onnxruntime raises its own exception types
            message = first_line(exc, 300)
            if any(sign in message for sign in ("INVALID_PROTOBUF", "Protobuf parsing failed", "INVALID_GRAPH",
                                                "No graph was found")):  # the last: an empty file
                raise ValueError(f"{self.path} is not a valid ONNX model ({message[:200]})") from None
            raise RuntimeError(f"onnxruntime could not load {self.path}: {message[:300]}") from None
        finally:
            ort.set_default_logger_severity(3)
        self.providers = list(self.session.get_providers())
        self.provider = self.providers[0]
        if providers != "auto" and self.provider != requested[0]:
            raise RuntimeError(f"requested {requested[0]} but onnxruntime is using {self.provider}")
        self.inputs = self.session.get_inputs()
        self.outputs = self.session.get_outputs()
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self._use_binding = self.provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
        self._fused, self.fused_unavailable = self._fused_network(fused, threads)
        self.backend = self.provider + (" + pyfast fused kernels" if self._fused else "")

    def _fused_network(self, wanted: bool | None, threads: int | None):
        """(FusedStyleNetwork or None, why not or None), as ``fused`` asks."""
        if wanted is not None and not isinstance(wanted, bool):
            raise TypeError(f"fused must be True, False or None, got {wanted!r}")
        if wanted is False:
            return None, "not requested"
        from .fused import MAX_AUTO_THREADS, FusedStyleNetwork, Unsupported

        try:
            if self.provider != "CPUExecutionProvider":
                raise Unsupported(f"it runs on the CPU provider only, this engine uses {self.provider}")
            if self.metadata.get("pyfast.task") != "style-transfer":
                raise Unsupported("it runs pyfast's style models only")
            if self.metadata.get("pyfast.precision", "float32") != "float32":
                raise Unsupported("it runs float32 models only")
            pool = threads or _usable_cores()
            if wanted is None and pool > MAX_AUTO_THREADS:
                raise Unsupported(f"{pool} threads: each of its 16 convolution sessions would keep {pool - 1} "
                                  f"pool threads (fused=True runs it anyway)")
            network = FusedStyleNetwork(self.path, threads=threads, self_check=False)
            network.verify(lambda x: self.session.run([self.outputs[0].name], {self.input_name: x}, self._run_options)[0])
            return network, None
        except Exception as exc:  # noqa: BLE001 - any failure to build it leaves the plain graph, which works
            reason = str(exc) if isinstance(exc, Unsupported) else f"{type(exc).__name__}: {first_line(exc, 200)}"
            if wanted:
                raise ValueError(f"{self.path.name}: the fused CPU path cannot run this model: {reason}") from None
            return None, reason

    def __repr__(self) -> str:
        return f"Engine({str(self.path)!r}, provider={self.provider!r}, fused={self._fused is not None})"

    @property
    def input_name(self) -> str:
        """The name of the model's first input.

        Raises:
            ValueError: the model has no inputs.
        """
        if not self.inputs:
            raise ValueError(f"{self.path.name} declares no inputs")
        return self.inputs[0].name

    def check_input(self, x: object, index: int = 0) -> np.ndarray:
        """Checks ``x`` against the model's declared input number ``index`` (rank, dtype, fixed dimensions).

        Raises:
            TypeError: not a numpy array or wrong dtype. ValueError: wrong rank or size, or no
            input number ``index``.
        """
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.inputs):
            raise ValueError(f"{self.path.name} has {len(self.inputs)} input(s); there is no input {index!r}")
        spec = self.inputs[index]
        if not isinstance(x, np.ndarray):
            raise TypeError(f"input {spec.name!r} must be a numpy array, got {type(x).__name__}")
        want = _ORT_TYPES.get(spec.type)
        if want is not None and x.dtype != want:
            raise TypeError(f"input {spec.name!r} must be {np.dtype(want).name}, got {x.dtype}")
        if len(spec.shape) != x.ndim:
            raise ValueError(f"input {spec.name!r} must be {len(spec.shape)}-D {tuple(spec.shape)}, got shape {x.shape}")
        for axis, (declared, actual) in enumerate(zip(spec.shape, x.shape)):
            if isinstance(declared, int) and declared != actual:
                raise ValueError(f"input {spec.name!r} needs size {declared} on axis {axis}, got shape {x.shape}")
        return np.ascontiguousarray(x)

    def run(self, *inputs: np.ndarray) -> np.ndarray:
        """Runs the model on a batch and returns its first output.

        Args:
            inputs: one array per model input, e.g. (N, 3, H, W) float32 for a style model.

        Raises:
            TypeError, ValueError: an input that does not match the model (see :meth:`check_input`).
            RuntimeError: ONNX Runtime failed while running the model, or its output is not a tensor.
        """
        if len(inputs) != len(self.inputs):
            raise ValueError(f"model takes {len(self.inputs)} input(s), got {len(inputs)}")
        feeds = {spec.name: self.check_input(x, i) for i, (spec, x) in enumerate(zip(self.inputs, inputs))}
        x = feeds[self.input_name]
        # Shapes the fused path does not compute (empty, too small) go to the graph, which reports them as always.
        if self._fused is not None and self._fused.accepts(x.shape):
            try:
                return self._fused.run(x)
            except (MemoryError, RuntimeError) as exc:  # as ONNX Runtime's own failures are reported
                raise RuntimeError(f"{self.path.name}: the fused CPU path failed on input shape {x.shape}: "
                                   f"{type(exc).__name__} {first_line(exc, 200)}".rstrip()) from None
        try:
            if self._use_binding:
                binding = self.session.io_binding()
                for name, value in feeds.items():
                    binding.bind_cpu_input(name, value)
                binding.bind_output(self.outputs[0].name, "cuda")
                self.session.run_with_iobinding(binding, self._run_options)
                output = binding.copy_outputs_to_cpu()[0]
            else:
                output = self.session.run([self.outputs[0].name], feeds, self._run_options)[0]
        except Exception as exc:  # onnxruntime's own exception types derive from Exception only
            message = " ".join(str(exc).split())[:300]
            raise RuntimeError(f"{self.path.name}: ONNX Runtime failed on input shape(s) "
                               f"{[tuple(x.shape) for x in feeds.values()]}: {message}") from None
        if not isinstance(output, np.ndarray):
            raise RuntimeError(f"{self.path.name}: output {self.outputs[0].name!r} is a {type(output).__name__}, "
                               "not a tensor")
        return output

    def warmup(self, *shapes: Sequence[int], runs: int = 2) -> None:
        """Runs the model ``runs`` times on zeros of each given input shape (first-call costs)."""
        for _ in range(runs):
            arrays = [np.zeros(shape, dtype=_ORT_TYPES.get(spec.type, np.float32)) for shape, spec in zip(shapes, self.inputs)]
            self.run(*arrays)
