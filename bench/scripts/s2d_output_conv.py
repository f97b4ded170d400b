"""The 9x9 output convolution (16->3 or 32->3 channels at 488x648) in ONNX Runtime, as exported
and rewritten exactly as space-to-depth -> denser convolution -> depth-to-space (RESULTS.md,
style inference section: the rewrite that was measured and not adopted).

Run: .venv/bin/python bench/scripts/s2d_output_conv.py CIN COUT BLOCK   (e.g. 16 3 4)
"""

import io
import sys
import time
import warnings

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

cin, cout, block = (int(a) for a in sys.argv[1:4]) if len(sys.argv) > 3 else (16, 3, 4)
k, height, width = 9, 480 + 8, 640 + 8


def s2d_weight(w: torch.Tensor) -> torch.Tensor:
    """The weight of the convolution on pixel_unshuffle(x, block) whose pixel_shuffle is conv2d(x, w)."""
    taps = (k - 1 + block - 1) // block + 1
    out = torch.zeros(cout, block, block, cin, block, block, taps, taps)
    for p in range(block):
        for q in range(block):
            for r in range(block):
                for s in range(block):
                    for a in range(taps):
                        for b in range(taps):
                            u, v = block * a + r - p, block * b + s - q
                            if 0 <= u < k and 0 <= v < k:
                                out[:, p, q, :, r, s, a, b] = w[:, :, u, v]
    return out.reshape(cout * block * block, cin * block * block, taps, taps)


class Plain(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x):
        return F.conv2d(x, self.w)


class SpaceToDepth(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(s2d_weight(w))

    def forward(self, x):
        h, w = x.shape[-2:]
        x = F.pad(x, (0, (-w) % block, 0, (-h) % block))
        y = F.pixel_shuffle(F.conv2d(F.pixel_unshuffle(x, block), self.w), block)
        return y[..., : h - k + 1, : w - k + 1]


torch.manual_seed(0)
weight = torch.randn(cout, cin, k, k) * 0.05
x = torch.randn(1, cin, height, width)
reference = F.conv2d(x, weight).numpy()
for name, module in (("as exported", Plain(weight)), ("space-to-depth", SpaceToDepth(weight))):
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), buffer, input_names=["x"], dynamo=False, opset_version=19)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    error = float(np.abs(session.run(None, {"x": x.numpy()})[0] - reference).max())
    times = []
    for _ in range(15):
        start = time.perf_counter()
        session.run(None, {"x": x.numpy()})
        times.append(time.perf_counter() - start)
    print(f"{name}: {np.median(times) * 1e3:.1f} ms (max abs error {error:.1e})")
