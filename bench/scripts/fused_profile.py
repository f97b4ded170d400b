"""Where the fused CPU path's time goes (pyfast.runtime.fused), full model and half-width student
at 640x480, batch 1: each blocked convolution and each fused norm/pad kernel timed on its own
(median of runs 3-8), with the bytes each kernel must move and the multiply-adds of each
convolution, against a copy of the same size for the memory floor. Also how far the fused path
is from ONNX Runtime's graph at 640x480 (random weights, instance norms away from the
identity), and each path's peak memory over 3 runs at 1280x720, each in a fresh process
(RESULTS.md, fused path).

Run: .venv/bin/python bench/scripts/fused_profile.py
"""

import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from pyfast.models import TransformerNet
from pyfast.onnx import export_style
from pyfast.runtime.fused import FusedStyleNetwork

H, W = 480, 640
workdir = tempfile.mkdtemp()
x = np.random.default_rng(0).uniform(0, 255, (1, 3, H, W)).astype(np.float32)


def median_ms(fn, runs=8):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times[2:])) * 1e3


# The memory floor: one thread-parallel pass of pyfast's kernel with nothing to compute
# (an unpadded copy in the blocked layout) over 64 MiB, in GB/s of bytes read + written.
C = __import__("pyfast._ext", fromlist=["extension"]).extension
block = np.random.rand(1, 1, 1024, 1024, 16).astype(np.float32)
copy = np.empty_like(block)
copy_ms = median_ms(lambda: C.norm_pad(block, copy))
bandwidth = 2 * block.nbytes / copy_ms / 1e6
print(f"copy of {block.nbytes >> 20} MiB in the blocked layout: {copy_ms:.2f} ms = {bandwidth:.1f} GB/s read + written")

PEAK_MEMORY = """
import sys, numpy as np
from pyfast.runtime import Engine
engine = Engine(sys.argv[1], providers="cpu", fused=sys.argv[2] == "fused")
x = np.random.default_rng(0).uniform(0, 255, (1, 3, 720, 1280)).astype(np.float32)
for _ in range(3):
    engine.run(x)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent (this script, with torch).
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024)
"""


def peak_mb(path, backend):
    run = subprocess.run([sys.executable, "-c", PEAK_MEMORY, str(path), backend], capture_output=True, text=True,
                         check=True)
    return float(run.stdout.split()[-1])


for width in (1.0, 0.5):
    torch.manual_seed(0)
    model = TransformerNet(width=width).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-1, 1)
    path = export_style(model, f"{workdir}/{width}.onnx", verify=False).path
    net = FusedStyleNetwork(path)
    import onnxruntime as ort

    graph = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    difference = float(np.abs(net.run(x) - graph.run(None, {"input": x})[0]).max())
    whole = median_ms(lambda: net.run(x))
    plan = net._plan(x.shape)
    conv_ms, kernel_ms, kernel_bytes, macs = 0.0, 0.0, 0, 0
    for kind, call, k in plan.steps:
        ms = median_ms(call)
        if kind == "norm_pad":  # reads y twice (statistics, then values), writes out, reads the residual
            kernel_bytes += 2 * k["y"].nbytes + k["out"].nbytes + (k["residual"].nbytes if k["residual"] is not None else 0)
            kernel_ms += ms
        else:
            conv_ms += ms
    layers = [(3, 32, 9, H, W), (32, 64, 3, H // 2, W // 2), (64, 128, 3, H // 4, W // 4)] + [(128, 128, 3, H // 4, W // 4)] * 10 \
        + [(128, 64, 3, H // 2, W // 2), (64, 32, 3, H, W), (32, 12, 10, H // 2, W // 2)]
    for c_in, c_out, k, h, w in layers:
        scale_in = 1 if c_in == 3 else width
        scale_out = 1 if c_out == 12 else width
        macs += int(c_in * scale_in) * int(c_out * scale_out) * k * k * h * w
    print(f"width {width}: whole {whole:.1f} ms; convolutions {conv_ms:.1f} ms ({2 * macs / conv_ms / 1e6:.0f} GFLOP/s "
          f"on {2 * macs / 1e9:.1f} GFLOP); fused kernels {kernel_ms:.1f} ms for {kernel_bytes / 1e6:.0f} MB "
          f"(floor at the copy's {bandwidth:.1f} GB/s: {kernel_bytes / bandwidth / 1e6:.1f} ms)")
    print(f"width {width}: largest |fused - ONNX Runtime's graph| at 640x480 {difference:.2g} (0-255 scale); "
          f"peak memory at 1280x720: graph {peak_mb(path, 'graph'):.0f} MB, fused {peak_mb(path, 'fused'):.0f} MB")
