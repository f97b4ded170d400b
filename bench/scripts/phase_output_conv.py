"""The 9x9 output convolution of TransformerNet (16->3 or 32->3 channels, 640x480 output) in
ONNX Runtime, as written and as pyfast's export rewrites it (`pyfast.onnx.rewrites.PhaseConvLayer`:
a stride-s convolution with s*s*3 outputs + depth-to-space) for s = 2, 3, 4 (RESULTS.md, style
inference section). Medians of 15 runs, 2 threads; error against the layer in float64.

Run: .venv/bin/python bench/scripts/phase_output_conv.py [CIN]   (16 by default; 32 for the full model)
"""

import io
import sys
import time
import warnings

import numpy as np
import onnxruntime as ort
import torch

from pyfast.models.transformer import ConvLayer
from pyfast.onnx.rewrites import PhaseConvLayer

cin = int(sys.argv[1]) if len(sys.argv) > 1 else 16
torch.manual_seed(0)
layer = ConvLayer(cin, 3, kernel_size=9, stride=1).eval()
x = torch.randn(1, cin, 480, 640)
with torch.no_grad():
    reference = layer.double()(x.double()).numpy()
layer.float()
variants = [("as written", layer)] + [(f"phase conv, s={s}", PhaseConvLayer(layer, stride=s)) for s in (2, 3, 4)]
for name, module in variants:
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
    print(f"{cin}->3 {name}: {np.median(times) * 1e3:.1f} ms (max abs error vs float64 {error:.1e})")
