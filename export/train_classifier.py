"""Recipe: GlyphNet, the default classifier shipped in pyfast/zoo/classifier (weights, card, ONNX).

Draws a training set and a disjoint held-out set with pyfast.data.glyphs (different seeds), trains
GlyphNet with AdamW and a one-cycle learning-rate schedule, measures the held-out accuracy, and
writes

    pyfast/zoo/classifier/glyphnet.pt     state dict (torch.load(..., weights_only=True))
    pyfast/zoo/classifier/glyphnet.json   classes, mean, std, size, held-out accuracy, recipe
    pyfast/zoo/classifier/glyphnet.onnx   dynamic batch, checked against PyTorch with ONNX Runtime

Reproduce with (CPU; the card records the time it took):

    nice -n 5 python export/train_classifier.py > out/train_classifier.log 2>&1
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from pyfast.data.glyphs import CLASS_NAMES, make_glyphs
from pyfast.models.classifier import CARD_PATH, CHANNELS, INPUT_SIZE, MEAN, ONNX_PATH, STD, WEIGHTS_PATH, GlyphNet

TRAIN_SEED, HELD_OUT_SEED = 1, 2  # make_glyphs seeds; the tests draw with yet another one
ONNX_TOLERANCE = 1e-4  # max abs logit difference ONNX Runtime vs PyTorch


def to_batch(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> normalised float32 (N, 3, H, W)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    model.eval()
    return np.concatenate([model(to_batch(images[i:i + batch_size])).argmax(1).numpy()
                           for i in range(0, len(images), batch_size)])


def train(args: argparse.Namespace) -> tuple[GlyphNet, float]:
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    images, labels = make_glyphs(args.train, seed=TRAIN_SEED)
    print(f"drew {args.train} training pictures in {time.perf_counter() - start:.1f} s", flush=True)
    held_images, held_labels = make_glyphs(args.held_out, seed=HELD_OUT_SEED)
    model = GlyphNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = args.train // args.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch,
                                                   pct_start=0.2)
    generator = torch.Generator().manual_seed(args.seed)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    train_start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(args.train, generator=generator).numpy()
        running, seen = 0.0, 0
        for step in range(steps_per_epoch):
            index = np.sort(order[step * args.batch_size:(step + 1) * args.batch_size])
            x, y = to_batch(images[index]), torch.from_numpy(labels[index])
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running += loss.item() * len(index)
            seen += len(index)
            if (step + 1) % 50 == 0:
                print(f"epoch {epoch + 1} step {step + 1}/{steps_per_epoch} loss {running / seen:.4f} "
                      f"lr {schedule.get_last_lr()[0]:.2e} {time.perf_counter() - train_start:.0f} s", flush=True)
                running, seen = 0.0, 0
        accuracy = float((predict(model, held_images) == held_labels).mean())
        print(f"epoch {epoch + 1}: held-out accuracy {accuracy:.4f} ({args.held_out} pictures)", flush=True)
    minutes = (time.perf_counter() - train_start) / 60
    return model, minutes


def export_onnx(model: GlyphNet, path: Path, opset: int = 17) -> float:
    """Writes ``path`` (input (N, 3, 64, 64) normalised RGB -> logits (N, 16)); returns max abs error vs PyTorch."""
    import onnxruntime as ort

    model = model.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, *INPUT_SIZE),), buffer, input_names=["input"],
                          output_names=["logits"], opset_version=opset, dynamo=False,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    proto = onnx.load_from_string(buffer.getvalue())
    proto.producer_name = "pyfast"
    proto.doc_string = "pyfast GlyphNet glyph classifier (export/train_classifier.py)"
    for key, value in {"pyfast.task": "classification", "pyfast.classes": ",".join(CLASS_NAMES),
                       "pyfast.mean": ",".join(map(str, MEAN)), "pyfast.std": ",".join(map(str, STD)),
                       "pyfast.input": "input: (N, 3, 64, 64) float32 RGB, (x / 255 - mean) / std"}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = to_batch(make_glyphs(7, seed=HELD_OUT_SEED + 100)[0])
    with torch.no_grad():
        expected = model(x).numpy()
    error = float(np.abs(session.run(None, {"input": x.numpy()})[0] - expected).max())
    if error > ONNX_TOLERANCE:
        raise SystemExit(f"ONNX export disagrees with PyTorch: max abs logit error {error:.2e} > {ONNX_TOLERANCE}")
    return error


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=24000, help="training pictures")
    parser.add_argument("--held-out", type=int, default=2000, help="held-out pictures (accuracy on the card)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0, help="initialisation and batch order")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH.parent)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)

    model, minutes = train(args)
    held_images, held_labels = make_glyphs(args.held_out, seed=HELD_OUT_SEED)
    predicted = predict(model, held_images)
    accuracy = float((predicted == held_labels).mean())
    per_class = {name: round(float((predicted[held_labels == k] == k).mean()), 4) for k, name in enumerate(CLASS_NAMES)}
    print(f"held-out accuracy {accuracy:.4f} on {args.held_out} pictures; per class {per_class}", flush=True)

    weights = args.out / WEIGHTS_PATH.name
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, weights)
    onnx_error = export_onnx(model, args.out / ONNX_PATH.name)
    command = "python export/train_classifier.py " + " ".join(argv if argv is not None else sys.argv[1:])
    card = {
        "name": "glyphnet",
        "architecture": f"GlyphNet: 4 x (conv3x3-BN-ReLU-maxpool) with {list(CHANNELS)} channels, global average pool, linear",
        "classes": list(CLASS_NAMES),
        "mean": list(MEAN),
        "std": list(STD),
        "size": list(INPUT_SIZE),
        "input": "RGB scaled to 0..1, then (x - mean) / std, (N, 3, 64, 64)",
        "held_out_accuracy": round(accuracy, 4),
        "held_out_n": args.held_out,
        "held_out_seed": HELD_OUT_SEED,
        "held_out_per_class": per_class,
        "train_n": args.train,
        "train_seed": TRAIN_SEED,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": f"AdamW lr {args.lr:g} (one-cycle), weight decay {args.weight_decay:g}, label smoothing 0.05",
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_minutes": round(minutes, 1),
        "machine": f"{platform.machine()}, {args.threads} CPU threads of {os.cpu_count()} cores (shared)",
        "torch": torch.__version__,
        "onnx_max_abs_error": onnx_error,
        "recipe": command.strip(),
        "files": {"weights": weights.name, "onnx": ONNX_PATH.name},
    }
    (args.out / CARD_PATH.name).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {weights}, {args.out / ONNX_PATH.name} (ONNX max abs error {onnx_error:.1e}), "
          f"{args.out / CARD_PATH.name}; trained in {minutes:.1f} min", flush=True)


if __name__ == "__main__":
    main()
