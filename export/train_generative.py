"""Recipe: the generative models shipped in pyfast/zoo/generate (checkpoint, ONNX, model card).

Trains each model on digits the project generates (pyfast.data.digits, training seed 0),
exports it to ONNX (verified against PyTorch), evaluates it on a held-out set drawn with
pyfast.data.digits.HELDOUT_SEED and writes ``<kind>.pt``, ``<kind>.onnx`` and ``<kind>.json``:

- dcgan: 28x28 8-bit digits, latent 64, width 32 (Radford et al.'s Adam settings).
- vae: 28x28 8-bit digits, latent 16; the card has the held-out ELBO and its two terms.
- pixelcnn: 28x28 binarised digits, width 32, 10 residual blocks (receptive field about the whole 28x28 image); the card has the held-out NLL (nats/image, bits/dim).

Reproduce with

    python export/train_generative.py               # all three, in turn
    python export/train_generative.py --only vae

Training time on the 2-core reference machine is in each card's "trained" line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from pyfast.data.digits import HELDOUT_SEED, make_digits
from pyfast.generate import zoo
from pyfast.generate.export import export_dcgan_generator, export_pixelcnn, export_vae_decoder
from pyfast.generate.training import (TRAINERS, GenTrainConfig, evaluate_pixelcnn, evaluate_vae, load_model,
                                      sample_grid_path)

HELDOUT_SIZE = 2000
RECIPES = {
    "dcgan": dict(variant="8bit", epochs=4, batch_size=64, model={"latent_dim": 64, "width": 32},
                  description="DCGAN generator, 28x28 grayscale digits, latent 64"),
    "vae": dict(variant="8bit", epochs=7, batch_size=64, model={"latent_dim": 16, "width": 16, "hidden": 128},
                description="convolutional VAE decoder, 28x28 grayscale digits, latent 16"),
    "pixelcnn": dict(variant="binary", epochs=4, batch_size=32, model={"width": 32, "n_blocks": 10},
                     description="PixelCNN, 28x28 binarised digits (Bernoulli pixels)"),
}


def train_one(kind: str, runs: Path, train_size: int, threads: int, resume: bool = False) -> dict:
    recipe = dict(RECIPES[kind])
    description = recipe.pop("description")
    checkpoint = runs / kind / "checkpoint.pt"
    resumed_at = int(torch.load(checkpoint, weights_only=True)["step"]) if resume and checkpoint.is_file() else None
    config = GenTrainConfig(out_dir=str(runs / kind), train_size=train_size, seed=0, device="cpu",
                            resume=str(checkpoint) if resumed_at is not None else None, **recipe)
    torch.set_num_threads(threads)
    start = time.perf_counter()
    trained = TRAINERS[kind](config)
    minutes = (time.perf_counter() - start) / 60
    model, record = load_model(trained, kind)
    target = zoo.ZOO_GENERATE_DIR
    target.mkdir(parents=True, exist_ok=True)
    (target / f"{kind}.pt").write_bytes(trained.read_bytes())
    heldout = make_digits(HELDOUT_SIZE, 28, HELDOUT_SEED, recipe["variant"])[0]
    if kind == "dcgan":
        report = export_dcgan_generator(model, target / f"{kind}.onnx")
        evaluation = {}
    elif kind == "vae":
        report = export_vae_decoder(model, target / f"{kind}.onnx")
        evaluation = {"heldout_elbo_nats": evaluate_vae(model, heldout, recipe["variant"])}
    else:
        report = export_pixelcnn(model, target / f"{kind}.onnx", image_shape=heldout.shape[1:])
        evaluation = {"heldout_nll": evaluate_pixelcnn(model, heldout)}
    print(report.summary())
    card = {
        "kind": kind, "description": description, "weights": f"{kind}.pt", "onnx": f"{kind}.onnx",
        "config": record["config"], "data": record["data"],
        "heldout": {"source": "digits", "seed": HELDOUT_SEED, "images": HELDOUT_SIZE, "variant": recipe["variant"]},
        **evaluation,
        "onnx_max_abs_error": {str(b): e for b, e in report.max_abs_error.items()},
        "trained": (f"{config.epochs} epochs of {train_size} digits, batch {config.batch_size}, "
                    f"{minutes:.1f} min on {threads} of {os.cpu_count()} CPU cores (shared machine)"
                    f"{f', resumed at step {resumed_at}' if resumed_at is not None else ''}; "
                    f"last grid: {sample_grid_path(Path(config.out_dir), config.epochs).name}"),
    }
    (target / f"{kind}.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the shipped generative models.")
    parser.add_argument("--only", choices=sorted(RECIPES), action="append", help="train this model (repeatable)")
    parser.add_argument("--runs", default="runs/generate", help="training outputs (checkpoints, sample grids)")
    parser.add_argument("--train-size", type=int, default=20_000, help="generated training digits")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--resume", action="store_true",
                        help="continue each model from its checkpoint under --runs (resuming is exact: same weights "
                        "as an uninterrupted run)")
    args = parser.parse_args()
    for kind in args.only or list(RECIPES):
        card = train_one(kind, Path(args.runs), args.train_size, args.threads, args.resume)
        print(json.dumps({k: card[k] for k in card if k.startswith("heldout") or k == "trained"}, indent=2))


if __name__ == "__main__":
    main()
