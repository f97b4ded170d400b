"""ONNX Runtime CPU milliseconds per image of a shipped style model at batch 1, 2, 4, 8 and 1 or 2
threads (256x256): whether batching lowers the cost per image (RESULTS.md, serving section).

Run: .venv/bin/python bench/scripts/ort_batch_sweep.py [MODEL]   (default: mosaic)
"""

import sys
import time

import numpy as np
import onnxruntime as ort

from pyfast.zoo import get_style

path = get_style(sys.argv[1] if len(sys.argv) > 1 else "mosaic").onnx
for threads in (1, 2):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for batch in (1, 2, 4, 8):
        x = np.random.default_rng(0).uniform(0, 255, (batch, 3, 256, 256)).astype(np.float32)
        session.run(None, {name: x})
        times = []
        for _ in range(5):
            start = time.perf_counter()
            session.run(None, {name: x})
            times.append(time.perf_counter() - start)
        print(f"threads {threads}, batch {batch}: {np.median(times) / batch * 1e3:.1f} ms/image", flush=True)
