"""TransformerNet on the CPU with ONNX Runtime's blocked convolutions and pyfast's fused norm/pad kernels.

ONNX Runtime runs a style model's convolutions in a blocked layout (NCHWc: ``(N, C/B, H, W, B)``,
B = 16 with AVX-512, 8 with AVX2) but its InstanceNormalization and Pad only read NCHW, so
between two convolutions each activation is reordered out, normalised (three passes, one
thread), passed through ReLU, padded and reordered back: six passes over a full-resolution
tensor. :class:`FusedStyleNetwork` keeps the activations blocked and replaces all of that by
``pyfast._C.norm_pad`` (statistics, scale, ReLU, residual add, nearest upsampling and reflection
padding in two passes, on every thread). Each convolution is ONNX Runtime's own blocked kernel,
taken from the graph ONNX Runtime optimises for that layer on this CPU and run as a one-node
session writing into buffers kept between calls.

It runs pyfast's TransformerNet exports with the phase-form output layer (what ``pyfast export
style`` writes) and checks itself against ONNX Runtime's plain graph when built; anything else
raises :class:`Unsupported`, and :class:`~pyfast.runtime.Engine` then runs the plain graph. The
blocked convolution is an internal ONNX Runtime operator (domain ``com.microsoft.nchwc``) that a
later ONNX Runtime may change: that check, made by every Engine, is what keeps such a change from
reaching users (the Engine falls back to the graph).
Numpy in, numpy out; importing it does not import torch.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .stylize import MIN_SIDE

NCHWC_DOMAIN = "com.microsoft.nchwc"
# The check run when a network is built: largest |fused - plain graph| allowed on the 0-255 scale.
SELF_CHECK_TOLERANCE = 0.05
SELF_CHECK_SIZES = ((1, 3, 21, 30), (2, 3, 16, 13))
# Engine(fused=None) leaves larger thread counts to ONNX Runtime's graph: the fused path keeps one
# session, so one intra-op pool, per convolution (16), where the graph keeps one in all.
MAX_AUTO_THREADS = 16
PLANS_KEPT = 8  # input shapes whose bindings each thread keeps (they share the thread's three arenas)

# TransformerNet's operators in graph order, as torch exports it (Pad, Resize and shape arithmetic aside).
_RESIDUAL_BLOCK = ["Conv", "InstanceNormalization", "Relu", "Conv", "InstanceNormalization", "Add"]
_SIGNATURE = (["Conv", "InstanceNormalization", "Relu"] * 3 + _RESIDUAL_BLOCK * 5
              + ["Resize", "Conv", "InstanceNormalization", "Relu"] * 2 + ["Conv"])


class Unsupported(ValueError):
    """The model or this CPU is not one :class:`FusedStyleNetwork` runs; the message says why."""


@dataclass(frozen=True)
class _Conv:
    weight: np.ndarray  # (C_out, C_in, k, k)
    bias: np.ndarray  # (C_out,)
    stride: int


@dataclass(frozen=True)
class _Norm:
    gamma: np.ndarray  # (C,); FusedStyleNetwork zero-pads it to whole blocks
    beta: np.ndarray
    eps: float


def _parse(model) -> tuple[list[_Conv], list[_Norm]]:
    """The convolutions and instance norms of a pyfast TransformerNet export, in order."""
    from onnx import helper, numpy_helper

    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    # torch's exporter names shared values (equal initialised weights) through Identity nodes.
    aliases = {node.output[0]: node.input[0] for node in model.graph.node if node.op_type == "Identity"}
    nodes = [node for node in model.graph.node if node.op_type in ("Conv", "InstanceNormalization", "Relu", "Add", "Resize")]
    ops = [node.op_type for node in nodes]
    if ops != _SIGNATURE:
        raise Unsupported("not a TransformerNet graph (its operators differ from pyfast's export)")

    def constant(name: str) -> np.ndarray:
        while name in aliases and name not in initializers:
            name = aliases[name]
        if name not in initializers:
            raise Unsupported(f"weight {name!r} is not an initializer")
        return numpy_helper.to_array(initializers[name]).astype(np.float32)

    convs, norms = [], []
    for node in nodes:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            weight = constant(node.input[1])
            bias = constant(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros(weight.shape[0], np.float32)
            strides = attributes.get("strides", [1, 1])
            if (any(attributes.get("pads", [0] * 4)) or attributes.get("group", 1) != 1
                    or any(d != 1 for d in attributes.get("dilations", [1, 1])) or strides[0] != strides[1]):
                raise Unsupported(f"convolution {node.name!r} is not an unpadded, ungrouped, square-strided one")
            convs.append(_Conv(weight, bias, int(strides[0])))
        elif node.op_type == "InstanceNormalization":
            norms.append(_Norm(constant(node.input[1]), constant(node.input[2]), float(attributes.get("epsilon", 1e-5))))
    kernels = [(c.weight.shape[2], c.stride) for c in convs]
    if kernels != [(9, 1), (3, 2), (3, 2)] + [(3, 1)] * 12 + [(10, 2)] or convs[-1].weight.shape[0] != 12:
        raise Unsupported("the output layer is not in phase form (export with pyfast's rewrite) "
                          "or the kernels differ from TransformerNet's")
    return convs, norms


def _nchwc_conv_model(conv: _Conv, workdir: str):
    """ONNX Runtime's blocked form of one convolution: a one-node model whose input and
    output are NCHWc buffers (the input NCHW where ONNX Runtime reads it so, C_in < B)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    c_out, c_in, k, _ = conv.weight.shape
    plain = helper.make_model(
        helper.make_graph(
            [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[k, k], strides=[conv.stride] * 2, pads=[0] * 4)],
            "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", c_in, "H", "W"])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            [numpy_helper.from_array(conv.weight, "w"), numpy_helper.from_array(conv.bias, "b")]),
        opset_imports=[helper.make_opsetid("", 19)])
    source, optimized = os.path.join(workdir, "conv.onnx"), os.path.join(workdir, "conv.nchwc.onnx")
    onnx.save(plain, source)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = optimized
    options.log_severity_level = 3
    ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    graph = onnx.load(optimized).graph
    blocked = [node for node in graph.node if node.domain == NCHWC_DOMAIN and node.op_type == "Conv"]
    if len(blocked) != 1:
        raise Unsupported("ONNX Runtime runs no blocked (NCHWc) convolutions on this CPU")
    node = blocked[0]
    reads_blocked = any(n.op_type == "ReorderInput" for n in graph.node)
    used = {name for name in node.input[1:] if name}
    model = helper.make_model(
        helper.make_graph(
            [node], "nchwc_conv", [helper.make_tensor_value_info(node.input[0], TensorProto.FLOAT, None)],
            [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, None)],
            [tensor for tensor in graph.initializer if tensor.name in used]),
        opset_imports=[helper.make_opsetid("", 19), helper.make_opsetid(NCHWC_DOMAIN, 1)])
    return model, reads_blocked


class _ConvSession:
    """One blocked convolution as an ONNX Runtime session, run with IO binding on given buffers."""

    def __init__(self, conv: _Conv, threads: int | None, workdir: str) -> None:
        import onnxruntime as ort

        model, self.reads_blocked = _nchwc_conv_model(conv, workdir)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # already in final form
        options.log_severity_level = 3
        if threads is not None:
            options.intra_op_num_threads = threads
        # The fused kernels run between the convolutions: idle pool threads must not spin through them.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def bind(self, x: np.ndarray, y: np.ndarray):
        """An IO binding that reads ``x`` and writes ``y`` (both kept alive by the caller)."""
        binding = self.session.io_binding()
        binding.bind_input(self.input_name, "cpu", 0, np.float32, list(x.shape), x.ctypes.data)
        binding.bind_output(self.output_name, "cpu", 0, np.float32, list(y.shape), y.ctypes.data)
        return binding


def _round_up(n: int, block: int) -> int:
    return -(-n // block) * block


class FusedStyleNetwork:
    """A pyfast TransformerNet export run as blocked convolutions + fused norm/pad kernels (CPU).

    Args:
        path: a ``.onnx`` file written by ``pyfast export style`` (phase-form output layer).
        threads: threads for the convolutions and the fused kernels (None: ONNX Runtime's
            default for the former, pyfast's thread count for the latter).
        self_check: :meth:`verify` against ONNX Runtime's plain graph of ``path`` when built
            (:class:`~pyfast.runtime.Engine` verifies against its own session instead).

    :meth:`run` is thread-safe: each calling thread has its own three buffers, grown to the
    largest activation it has run (three times that activation's size), and IO bindings
    for its last ``PLANS_KEPT`` input shapes. ONNX Runtime's sessions are shared.

    Shape:
        ``run``: (N, 3, H, W) float32 on the 0-255 scale -> (N, 3, H, W) float32, H, W >= 5.

    Raises:
        Unsupported: the model is not such an export, ONNX Runtime has no blocked convolutions
            on this CPU, pyfast's extension is missing, or the self-check failed.
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None, self_check: bool = True) -> None:
        import onnx

        from .._ext import extension, import_error

        if extension is None:
            raise Unsupported(f"pyfast's compiled extension is not available ({import_error})")
        self._C = extension
        self.path = Path(path)
        self.threads = threads or 0  # 0: the kernels' default
        convs, norms = _parse(onnx.load(str(self.path)))
        with tempfile.TemporaryDirectory(prefix="pyfast-nchwc-") as workdir:
            self._convs = [_ConvSession(conv, threads, workdir) for conv in convs]
            probe = _ConvSession(_Conv(np.zeros((1, 8, 1, 1), np.float32), np.zeros(1, np.float32), 1), threads, workdir)
        # A 1-output convolution's blocked output has one block of channels.
        self.block = int(probe.session.run(None, {probe.input_name: np.zeros((1, 8, 1, 1), np.float32)})[0].shape[1])
        self.channels = tuple(conv.weight.shape[0] for conv in convs[:3])  # c1, c2, c3: the rest follow
        if self._convs[0].reads_blocked:
            raise Unsupported("ONNX Runtime reads the 3-channel input convolution blocked on this CPU")
        for conv, session in zip(convs[1:], self._convs[1:]):
            if conv.weight.shape[1] % self.block or not session.reads_blocked:
                raise Unsupported(f"{conv.weight.shape[1]} channels do not fill ONNX Runtime's blocks of {self.block}")
        self._norms = [self._pad_norm(norm) for norm in norms]
        self._state = _ThreadState()
        if self_check:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            plain = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
            self.verify(lambda x: plain.run(None, {plain.get_inputs()[0].name: x})[0])

    def _pad_norm(self, norm: _Norm) -> _Norm:
        padded = _round_up(norm.gamma.size, self.block)
        return _Norm(np.pad(norm.gamma, (0, padded - norm.gamma.size)), np.pad(norm.beta, (0, padded - norm.beta.size)),
                     norm.eps)

    def verify(self, reference: Callable[[np.ndarray], np.ndarray]) -> float:
        """Compares with ``reference`` (the model's plain graph: (N, 3, H, W) -> (N, 3, H, W)) on
        random images of the sizes in ``SELF_CHECK_SIZES``; returns the largest difference (0-255 scale).

        Raises:
            Unsupported: a difference over ``SELF_CHECK_TOLERANCE``.
        """
        rng = np.random.default_rng(0)
        worst = 0.0
        for shape in SELF_CHECK_SIZES:
            x = rng.uniform(0, 255, shape).astype(np.float32)
            error = float(np.abs(self.run(x) - reference(x)).max())
            if not error <= SELF_CHECK_TOLERANCE:
                raise Unsupported(f"the fused network differs from ONNX Runtime's graph by {error:.3g} at {shape}")
            worst = max(worst, error)
        self._state = _ThreadState()  # the checked sizes' buffers are not kept
        return worst

    def run(self, x: np.ndarray) -> np.ndarray:
        """Stylises a batch: (N, 3, H, W) float32, 0-255 -> (N, 3, H, W) float32 (a new array)."""
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"input must be a (N, 3, H, W) float32 array, got "
                             f"{getattr(x, 'shape', type(x).__name__)} {getattr(x, 'dtype', '')}".rstrip())
        if min(x.shape[2:]) < MIN_SIDE:
            raise ValueError(f"input must be at least {MIN_SIDE}x{MIN_SIDE} pixels, got shape {x.shape}")
        if x.shape[0] == 0:
            return np.empty(x.shape, np.float32)
        # A read-only array (np.load(mmap_mode="r"), np.frombuffer) cannot cross into the kernels.
        return self._plan(x.shape).run(np.require(x, np.float32, ["C_CONTIGUOUS", "WRITEABLE"]))

    @staticmethod
    def accepts(shape: tuple[int, ...]) -> bool:
        """Whether :meth:`run` computes a batch of this (N, 3, H, W) shape (N >= 1, H, W >= ``MIN_SIDE``)."""
        return shape[0] > 0 and min(shape[2:]) >= MIN_SIDE

    def _plan(self, shape: tuple[int, ...]) -> _Plan:
        state = self._state
        plan = state.plans.pop(shape, None)
        if plan is None:
            layout = _Layout(self, shape)
            if any(size > arena.size for size, arena in zip(layout.sizes, state.arenas)):
                # Larger buffers: the plans bound to the old ones go with them.
                state.arenas = [np.empty(max(size, arena.size), np.float32) for size, arena in zip(layout.sizes, state.arenas)]
                state.plans.clear()
            plan = _Plan(self, layout, state.arenas)
        state.plans[shape] = plan
        while len(state.plans) > PLANS_KEPT:
            state.plans.popitem(last=False)
        return plan


class _ThreadState(threading.local):
    """One calling thread's buffers (three arenas) and the plans bound to them, newest last."""

    def __init__(self) -> None:
        self.arenas = [np.empty(0, np.float32)] * 3
        self.plans: OrderedDict[tuple[int, ...], _Plan] = OrderedDict()


@dataclass(frozen=True)
class _Tensor:
    """A blocked activation of the plan: (N, channels rounded up to blocks, height, width)."""

    channels: int
    height: int
    width: int


def _layers(channels: tuple[int, int, int], h: int, w: int) -> tuple[list[tuple], dict[str, _Tensor]]:
    """TransformerNet as steps over named tensors: ("conv", i, source, target) and
    ("norm", i, source, target, residual, relu, upsample, pads) for instance norm i."""
    c1, c2, c3 = channels
    h2, w2 = -(-h // 2), -(-w // 2)
    h3, w3 = -(-h2 // 2), -(-w2 // 2)
    shapes = {"image": _Tensor(3, h + 8, w + 8)}
    steps = []

    def conv(index: int, source: str, target: str, shape: _Tensor) -> None:
        shapes[target] = shape
        steps.append(("conv", index, source, target))

    def norm(index: int, source: str, target: str, shape: _Tensor, residual: str | None = None, relu: bool = True,
             upsample: int = 1, pads: tuple[int, int, int, int] = (1, 1, 1, 1)) -> None:
        shapes[target] = shape
        steps.append(("norm", index, source, target, residual, relu, upsample, pads))

    conv(0, "image", "conv1", _Tensor(c1, h, w))
    norm(0, "conv1", "in1", _Tensor(c1, h + 2, w + 2))
    conv(1, "in1", "conv2", _Tensor(c2, h2, w2))
    norm(1, "conv2", "in2", _Tensor(c2, h2 + 2, w2 + 2))
    conv(2, "in2", "conv3", _Tensor(c3, h3, w3))
    norm(2, "conv3", "res0", _Tensor(c3, h3 + 2, w3 + 2))
    for block in range(5):
        conv(3 + 2 * block, f"res{block}", f"res{block}.conv1", _Tensor(c3, h3, w3))
        norm(3 + 2 * block, f"res{block}.conv1", f"res{block}.in1", _Tensor(c3, h3 + 2, w3 + 2))
        conv(4 + 2 * block, f"res{block}.in1", f"res{block}.conv2", _Tensor(c3, h3, w3))
        if block < 4:
            norm(4 + 2 * block, f"res{block}.conv2", f"res{block + 1}", _Tensor(c3, h3 + 2, w3 + 2),
                 residual=f"res{block}", relu=False)
        else:  # upsampled for deconv1
            norm(12, "res4.conv2", "up1", _Tensor(c3, 2 * h3 + 2, 2 * w3 + 2), residual="res4", relu=False, upsample=2)
    conv(13, "up1", "deconv1", _Tensor(c2, 2 * h3, 2 * w3))
    norm(13, "deconv1", "up2", _Tensor(c2, 4 * h3 + 2, 4 * w3 + 2), upsample=2)
    conv(14, "up2", "deconv2", _Tensor(c1, 4 * h3, 4 * w3))
    norm(14, "deconv2", "in5", _Tensor(c1, 4 * h3 + 9, 4 * w3 + 9), pads=(4, 5, 4, 5))
    conv(15, "in5", "phases", _Tensor(12, 2 * h3, 2 * w3))
    return steps, shapes


class _Layout:
    """Where each tensor of one input shape lives. Tensors share three arenas: a tensor takes
    one whose previous tensor is no longer read (a residual block's input stays live through
    the block), so memory is three times the largest activation."""

    def __init__(self, net: FusedStyleNetwork, shape: tuple[int, ...]) -> None:
        n, _, h, w = shape
        self.steps, self.shapes = _layers(net.channels, h, w)
        self.n, self.block = n, net.block
        last_read = {}
        for position, step in enumerate(self.steps):
            for name in (step[2], step[4] if step[0] == "norm" else None):
                if name:
                    last_read[name] = position
        self.arena_of, holder, self.sizes = {"image": 0}, ["image", None, None], [self.floats("image"), 0, 0]
        for position, step in enumerate(self.steps):
            target = step[3]
            arena = next(a for a in range(3) if holder[a] is None or last_read.get(holder[a], -1) < position)
            self.arena_of[target], holder[arena] = arena, target
            self.sizes[arena] = max(self.sizes[arena], self.floats(target))

    def channels(self, name: str) -> int:
        t = self.shapes[name]
        return t.channels if name == "image" else _round_up(t.channels, self.block)  # the image is NCHW

    def floats(self, name: str) -> int:
        t = self.shapes[name]
        return self.n * self.channels(name) * t.height * t.width


class _Plan:
    """IO bindings and kernel arguments for one input shape, over arenas at least ``layout.sizes``."""

    def __init__(self, net: FusedStyleNetwork, layout: _Layout, arenas: list[np.ndarray]) -> None:
        n, b = layout.n, net.block

        def tensor(name: str) -> np.ndarray:
            t = layout.shapes[name]
            flat = arenas[layout.arena_of[name]][: layout.floats(name)]
            return flat.reshape(n, layout.channels(name), t.height, t.width)

        def blocked(name: str) -> np.ndarray:
            a = tensor(name)
            return a.reshape(n, a.shape[1] // b, a.shape[2], a.shape[3], b)

        steps = layout.steps
        self.image = tensor("image")
        self.phases = blocked("phases")
        # (kind, a zero-argument call, norm_pad's arguments or None), in order
        self.steps: list[tuple[str, Callable[[], None], dict | None]] = []
        for step in steps:
            if step[0] == "conv":
                session = net._convs[step[1]]
                binding = session.bind(tensor(step[2]), tensor(step[3]))
                self.steps.append(("conv", lambda s=session.session, bd=binding: s.run_with_iobinding(bd), None))
            else:
                _, index, source, target, residual, relu, upsample, pads = step
                norm = net._norms[index]
                kwargs = dict(y=blocked(source), out=blocked(target), gamma=norm.gamma, beta=norm.beta, eps=norm.eps,
                              residual=blocked(residual) if residual else None, relu=relu, upsample=upsample, pads=pads,
                              threads=net.threads)
                self.steps.append(("norm_pad", lambda k=kwargs: net._C.norm_pad(**k), kwargs))
        self._C, self.threads = net._C, net.threads

    def run(self, x: np.ndarray) -> np.ndarray:
        n, _, h, w = x.shape
        self._C.norm_pad(x.reshape(*x.shape, 1), self.image.reshape(*self.image.shape, 1), pads=(4, 4, 4, 4),
                         threads=self.threads)
        for _, call, _ in self.steps:
            call()
        out = np.empty((n, 3, h, w), np.float32)
        self._C.depth_to_space_crop(self.phases, out.reshape(n, 3, h, w, 1), 2, threads=self.threads)
        return out
