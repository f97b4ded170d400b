"""ONNX Runtime's per-node profile of the full and half-width TransformerNet at 640x480 (2 threads,
median of runs 3-8), exported as `pyfast export style` does: where the student's time goes
(RESULTS.md, style inference section).

Run: .venv/bin/python bench/scripts/profile_inference.py [--no-rewrite]
"""

import collections
import json
import sys
import tempfile

import numpy as np
import onnxruntime as ort
import torch

from pyfast.models import TransformerNet
from pyfast.onnx import export_style

rewrite = "--no-rewrite" not in sys.argv[1:]
workdir = tempfile.mkdtemp()

for width in (1.0, 0.5):
    model = TransformerNet(width=width).eval()
    x = torch.rand(1, 3, 480, 640) * 255
    path = export_style(model, f"{workdir}/{width}.onnx", verify=False, rewrite=rewrite).path
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.enable_profiling = True
    options.profile_file_prefix = f"{tempfile.gettempdir()}/pyfast_profile_{width}"
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(8):
        session.run(None, {"input": x.numpy()})
    with open(session.end_profiling()) as handle:
        events = json.load(handle)
    durations = collections.defaultdict(list)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            durations[(event["name"][:-12], event["args"].get("op_name"))].append(event["dur"])
    ms = {key: float(np.median(values[2:])) / 1e3 for key, values in durations.items()}
    by_op = collections.Counter()
    for (_, op), value in ms.items():
        by_op[op] += value
    groups = collections.Counter()
    for (node, op), value in ms.items():
        layer = node.split("/")[1] if node.startswith("/") else ""
        if op != "Conv":
            groups["not convolutions"] += value
        elif layer.startswith("res"):
            groups["residual-block convs"] += value
        else:
            groups[f"{layer} conv"] += value
    print(f"width {width}: " + ", ".join(f"{name} {value:.1f}" for name, value in sorted(groups.items())))
    print(f"width {width}{'' if rewrite else ' (no rewrite)'}: all nodes {sum(ms.values()):.1f} ms; by op: "
          + ", ".join(f"{op} {value:.1f}" for op, value in by_op.most_common()))
    for (node, op), value in sorted(ms.items(), key=lambda item: -item[1])[:20]:
        print(f"  {value:7.2f} ms  {op:22s} {node}")
