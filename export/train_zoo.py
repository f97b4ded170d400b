"""Recipe: the style models shipped in pyfast/zoo (weights, ONNX, zoo.json).

Trains one half-width TransformerNet per painted style image on the sample
photos (random crops and flips), with the random-feature loss network, since
no pretrained VGG-16 can be downloaded here; exports each to ONNX and verifies
it. Reproduce with

    python export/train_zoo.py            # both styles, in turn
    python export/train_zoo.py --only mosaic
    python export/train_zoo.py --export-only   # the ONNX files again, from the shipped weights

CPU time on the 2-core reference machine: see the "trained" line in zoo.json.
"""

from __future__ import annotations

import argparse
import os
import json
import time
from pathlib import Path

from pyfast.data import SAMPLES_DIR
from pyfast.onnx import export_style
from pyfast.style import load_checkpoint
from pyfast.style.losses import LossWeights
from pyfast.style.train import TrainConfig, train_style

ZOO = Path("pyfast/zoo")
RECIPES = {
    "mosaic": dict(description="stained-glass mosaic: jewel colours, dark lead lines", style_weight=1.5),
    "starry": dict(description="swirling night-blue and golden brush strokes", style_weight=1.5),
}
COMMON = dict(image_size=128, style_size=256, batch_size=2, width=0.5, loss_width=0.5, augment=True,
              style_warmup=100, style_layers=("rgb", "relu1_2", "relu2_2", "relu3_3"), lr=1e-3, seed=0)


def train_one(name: str, steps: int, out_dir: Path) -> dict:
    recipe = RECIPES[name]
    config = TrainConfig(
        style=str(ZOO / "styles" / f"{name}.jpg"), content_dir=str(SAMPLES_DIR), out_dir=str(out_dir / name),
        name=name, steps=steps, weights=LossWeights(1.0, recipe["style_weight"], 0.0, normalized=True),
        preview_every=max(1, steps // 5), checkpoint_every=max(1, steps // 5), **COMMON,
    )
    start = time.perf_counter()
    trained = train_style(config)
    minutes = (time.perf_counter() - start) / 60
    model = load_checkpoint(trained)
    weights = ZOO / f"{name}.pth"
    weights.write_bytes(trained.read_bytes())
    report = export_style(model, ZOO / f"{name}.onnx", style=name)
    print(report.summary())
    return {
        "name": name, "description": recipe["description"], "style_image": f"styles/{name}.jpg",
        "weights": f"{name}.pth", "onnx": f"{name}.onnx", "width": COMMON["width"],
        "trained": (f"{steps} steps, batch {COMMON['batch_size']} of {COMMON['image_size']}px crops of the sample photos, "
                    f"random-feature VGG-16 (width {COMMON['loss_width']}), content 1 / style {recipe['style_weight']} "
                    f"(normalised), {minutes:.1f} min on {os.cpu_count()} CPU cores (two styles trained side by side, one thread each)"),
    }


def export_one(name: str) -> None:
    """Re-exports a shipped style's ONNX file from its weights (after a change to the export)."""
    print(export_style(load_checkpoint(ZOO / f"{name}.pth"), ZOO / f"{name}.onnx", style=name).summary())


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the shipped style models.")
    parser.add_argument("--only", choices=sorted(RECIPES), help="train one style")
    parser.add_argument("--export-only", action="store_true", help="re-export the shipped weights to ONNX, no training")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--runs", default="runs/zoo", help="training outputs (checkpoints, previews)")
    args = parser.parse_args()
    index_path = ZOO / "zoo.json"
    for name in [args.only] if args.only else list(RECIPES):
        if args.export_only:
            export_one(name)
            continue
        entry = train_one(name, args.steps, Path(args.runs))
        # Re-read the index just before writing: other styles may be training in parallel.
        entries = {e["name"]: e for e in json.loads(index_path.read_text())} if index_path.exists() else {}
        entries[name] = entry
        index_path.write_text(json.dumps([entries[n] for n in RECIPES if n in entries], indent=2) + "\n")


if __name__ == "__main__":
    main()
