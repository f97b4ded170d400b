"""Two exact rewrites of TransformerNet's upsampling layers (deconv1, deconv2: nearest x2,
reflection pad 1, 3x3 convolution), timed in ONNX Runtime against the layers as written
(RESULTS.md, "Upsampling layers with fewer multiplies"; not adopted by the export).

Each output row/column phase of "upsample x2 then 3x3" sees only 2 distinct input pixels, so
the layer equals an edge pad of 1 at low resolution followed by
  - transposed: a 4x4, stride-2 ConvTranspose with padding 3 (taps: sums of the 3x3 taps), or
  - phases: a 2x2 convolution with 4x the outputs + DepthToSpace + a 1-pixel crop.
Both use 4/9 of the multiplies. Prints the max difference to the original model, then the
original and rewritten graphs alternating (medians of 5 rounds, 2 threads) at four sizes,
and with --profile ONNX Runtime's slowest nodes of the rewritten student at 640x480.

Run: .venv/bin/python bench/scripts/upsample_rewrites.py [transposed|phases] [--profile]
"""

import collections
import copy
import json
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

from pyfast.models import TransformerNet
from pyfast.onnx import export_style

# Row taps of "upsample x2, reflect-pad 1, 3 taps" on the edge-padded low-resolution input.
TRANSPOSED_TAPS = torch.tensor([[0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=torch.float64)  # kernel row k
PHASE_TAPS = torch.tensor([[[1, 1, 0], [0, 0, 1]], [[1, 0, 0], [0, 1, 1]]], dtype=torch.float64)  # phase, tap


class TransposedUpsample(nn.Module):
    def __init__(self, layer):
        super().__init__()
        w = layer.conv2d.weight.detach().double()
        self.weight = nn.Parameter(torch.einsum("ai,ocij,bj->coab", TRANSPOSED_TAPS, w, TRANSPOSED_TAPS).float(),
                                   requires_grad=False)
        self.bias = nn.Parameter(layer.conv2d.bias.detach().clone(), requires_grad=False)

    def forward(self, x):
        return F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.weight, self.bias, stride=2, padding=3)


class PhaseUpsample(nn.Module):
    def __init__(self, layer):
        super().__init__()
        w = layer.conv2d.weight.detach().double()
        k = torch.einsum("rai,ocij,sbj->orscab", PHASE_TAPS, w, PHASE_TAPS)
        self.weight = nn.Parameter(k.reshape(w.shape[0] * 4, w.shape[1], 2, 2).float(), requires_grad=False)
        self.bias = nn.Parameter(layer.conv2d.bias.detach().repeat_interleave(4), requires_grad=False)

    def forward(self, x):
        h, w = x.shape[-2:]
        y = F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.weight, self.bias), 2)
        return y[..., 1 : 2 * h + 1, 1 : 2 * w + 1]


def rewritten(model, layer_class):
    model = copy.deepcopy(model)
    model.deconv1, model.deconv2 = layer_class(model.deconv1), layer_class(model.deconv2)
    return model


def session(path, profile=False):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = f"{tempfile.gettempdir()}/pyfast_upsample_profile"
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main():
    variant = next((a for a in sys.argv[1:] if not a.startswith("--")), "transposed")
    layer_class = {"transposed": TransposedUpsample, "phases": PhaseUpsample}[variant]
    workdir = tempfile.mkdtemp()
    torch.manual_seed(0)
    sessions = {}
    for width in (1.0, 0.5):
        model = TransformerNet(width=width).eval()
        new = rewritten(model, layer_class)
        x = torch.rand(1, 3, 100, 76) * 255
        with torch.no_grad():
            print(f"width {width}: max |original - {variant}| = {(model(x) - new(x)).abs().max().item():.2e} (0-255 scale)")
        for tag, m in (("original", model), (variant, new)):
            sessions[width, tag] = session(export_style(m, f"{workdir}/{width}{tag}.onnx", verify=False).path)
    for h, w in ((256, 256), (512, 512), (480, 640), (720, 1280)):
        x = (np.random.default_rng(0).random((1, 3, h, w)) * 255).astype(np.float32)
        times = collections.defaultdict(list)
        for _ in range(5):
            for key, s in sessions.items():
                s.run(None, {"input": x})
                n = 3 if h < 700 else 1
                start = time.perf_counter()
                for _ in range(n):
                    s.run(None, {"input": x})
                times[key].append((time.perf_counter() - start) / n * 1e3)
        ms = {key: float(np.median(v)) for key, v in times.items()}
        print(f"{w}x{h}: " + ", ".join(f"{k[0]} {k[1]} {v:.1f} ms" for k, v in ms.items())
              + f"; {variant} faster by {ms[1.0, 'original'] / ms[1.0, variant]:.2f}x (full), "
              f"{ms[0.5, 'original'] / ms[0.5, variant]:.2f}x (half)", flush=True)
    if "--profile" in sys.argv:
        s = session(f"{workdir}/0.5{variant}.onnx", profile=True)
        x = (np.random.default_rng(0).random((1, 3, 480, 640)) * 255).astype(np.float32)
        for _ in range(8):
            s.run(None, {"input": x})
        durations = collections.defaultdict(list)
        for event in json.load(open(s.end_profiling())):
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                durations[event["name"][:-12], event["args"].get("op_name")].append(event["dur"])
        ranked = sorted(((np.median(v[2:]) / 1e3, k) for k, v in durations.items()), reverse=True)
        print(f"student ({variant}) at 640x480, slowest nodes (median of runs 3-8):")
        for value, (node, op) in ranked[:12]:
            print(f"  {value:7.2f} ms  {op:22s} {node}")


if __name__ == "__main__":
    main()
