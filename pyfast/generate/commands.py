"""The generator commands of ``pyfast``: ``train-gen``, ``sample`` and ``eval-gen``.

:func:`add_commands` adds them to the CLI's sub-command parsers; each handler is a thin
wrapper over :mod:`pyfast.generate` and raises ValueError / FileNotFoundError on bad input
(the CLI prints those as one line and exits with status 2).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import warnings
from pathlib import Path

KINDS = ("pixelcnn", "dcgan", "vae")
MAX_SAMPLES = 4096  # -n of `pyfast sample`: one grid image
EVALUATED = ("pixelcnn", "vae")


def _default_variant(kind: str) -> str:
    return "binary" if kind == "pixelcnn" else "8bit"


def _cmd_train(args: argparse.Namespace) -> int:
    from .training import TRAINERS, GenTrainConfig, load_model

    model_args = {k: v for k, v in (("latent_dim", args.latent_dim), ("width", args.width)) if v is not None}
    config = GenTrainConfig(
        out_dir=args.out_dir or f"runs/{args.kind}", data=args.data, variant=args.variant or _default_variant(args.kind),
        train_size=args.train_size, image_size=args.image_size, channels=args.channels, epochs=args.epochs,
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, model=model_args,
        checkpoint_every=args.checkpoint_every, resume=args.resume, seed=args.seed, device=args.device,
    )
    path = TRAINERS[args.kind](config, progress=not args.no_progress)
    print(f"saved {path}")
    if args.export:
        report = _export(args.kind, load_model(path, args.kind)[0], path.with_suffix(".onnx"), config.image_size,
                         config.channels)
        print(report.summary())
    return 0


def _export(kind: str, model, path: Path, image_size: int, channels: int):
    from .export import export_dcgan_generator, export_pixelcnn, export_vae_decoder

    if kind == "dcgan":
        return export_dcgan_generator(model, path)
    if kind == "vae":
        return export_vae_decoder(model, path)
    return export_pixelcnn(model, path, image_shape=(channels, image_size, image_size))


def _latent_onnx(kind: str, spec: str | None, workdir: Path) -> Path:
    """An ONNX sampling network for a DCGAN/VAE: the shipped one, the given .onnx, or a .pt exported now."""
    from .training import load_model
    from .zoo import resolve_generative

    if spec is not None and Path(spec).suffix.lower() in (".pt", ".pth"):
        model, record = load_model(resolve_generative(kind, spec), kind)
        return _export(kind, model, workdir / f"{kind}.onnx", record["data"]["image_size"],
                       record["data"]["channels"]).path
    return resolve_generative(kind, spec, ".onnx")


def _sample_pixelcnn(spec: str | None, n: int, seed: int, method: str, progress: bool):
    import torch

    from .training import load_model, to_uint8
    from .zoo import resolve_generative

    model, record = load_model(resolve_generative("pixelcnn", spec, ".pt"), "pixelcnn")
    with torch.no_grad():
        drawn = model.sample(n, seed=seed, method=method, progress=progress).float()
    return to_uint8(drawn if record["data"]["variant"] == "binary" else drawn / 255.0)


def _cmd_sample(args: argparse.Namespace) -> int:
    from ..runtime import Engine
    from .export import TASK_DCGAN, TASK_VAE, interpolate_onnx, sample_dcgan_onnx, sample_vae_onnx
    from .training import save_grid

    nrow = args.nrow or math.ceil(math.sqrt(args.n))
    if args.method is not None and args.kind != "pixelcnn":
        raise ValueError(f"--method chooses the PixelCNN sampler; {args.kind} has none")
    if args.kind == "pixelcnn":
        args.method = args.method or "cached"
        if args.interpolate:
            raise ValueError("--interpolate needs a latent space: use it with dcgan or vae, not pixelcnn")
        images = _sample_pixelcnn(args.model, args.n, args.seed, args.method, not args.no_progress)
        where = f"PyTorch, {args.method} sampler"
    else:
        with tempfile.TemporaryDirectory(prefix="pyfast-") as workdir:
            engine = Engine(_latent_onnx(args.kind, args.model, Path(workdir)), providers=args.provider)
            if args.interpolate:
                if not 2 <= nrow <= args.n:
                    raise ValueError(f"--interpolate needs 2..n frames per row (--nrow), got {nrow} for -n {args.n}")
                if args.n % nrow:
                    warnings.warn(f"--interpolate draws whole rows of {nrow}: {args.n // nrow * nrow} frames, "
                                  f"not {args.n}", stacklevel=2)
                images = interpolate_onnx(engine, rows=max(1, args.n // nrow), steps=nrow, seed=args.seed,
                                          task=TASK_DCGAN if args.kind == "dcgan" else TASK_VAE)
            else:
                sample = sample_dcgan_onnx if args.kind == "dcgan" else sample_vae_onnx
                images = sample(engine, args.n, seed=args.seed)
        where = engine.provider
    path = save_grid(args.output, images, nrow=nrow)
    what = "interpolation frames" if args.interpolate else "samples"
    print(f"wrote {path}: {len(images)} {args.kind} {what} ({where})")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from ..data.digits import HELDOUT_SEED, load_dataset
    from .training import evaluate_pixelcnn, evaluate_vae, load_model
    from .zoo import resolve_generative

    if args.kind not in EVALUATED:
        raise ValueError(f"a {args.kind} model has no likelihood to evaluate; eval-gen supports {', '.join(EVALUATED)}")
    model, record = load_model(resolve_generative(args.kind, args.model, ".pt"), args.kind)
    data = record["data"]
    seed = HELDOUT_SEED if args.seed is None else args.seed
    images = load_dataset(args.data, n=args.n, size=data["image_size"], channels=data["channels"],
                          variant=data["variant"], seed=seed)
    source = args.data or f"{len(images)} generated digits, seed {seed}"
    if args.kind == "vae":
        result = evaluate_vae(model, images, data["variant"], batch_size=args.batch_size)
        print(f"vae on {source} ({data['variant']}): ELBO {result['elbo']:.2f} nats/image "
              f"(reconstruction {result['reconstruction']:.2f}, KL {result['kl']:.2f})")
    else:
        result = evaluate_pixelcnn(model, images, batch_size=args.batch_size)
        print(f"pixelcnn on {source} ({data['variant']}): NLL {result['nll_nats']:.2f} nats/image, "
              f"{result['bits_per_dim']:.4f} bits/dim")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds ``train-gen``, ``sample`` and ``eval-gen`` to the ``pyfast`` sub-command parsers ``commands``."""
    from .._cli import int_at_least as _int_at_least
    from .._cli import int_between, seed

    train = commands.add_parser(
        "train-gen", help="train a PixelCNN, DCGAN or VAE",
        description="Trains a generator network on generated MNIST-like digits (default) or a folder of images "
        "(--data). Shows the loss terms and images/s, checkpoints every epoch (resume with --resume) and writes a "
        "sample grid per epoch into --out-dir.",
    )
    train.add_argument("kind", choices=KINDS, metavar="KIND", help="pixelcnn, dcgan or vae")
    train.add_argument("--data", metavar="DIR", help="folder of training images (default: generated digits)")
    train.add_argument("--variant", choices=("8bit", "binary"), help="pixel values (default: binary for pixelcnn, else 8bit)")
    train.add_argument("--train-size", type=int_between(1, 1_000_000), default=20_000, help="generated digits (default 20000)")
    train.add_argument("--image-size", type=int_between(8, 256), default=28, help="image side (default 28)")
    train.add_argument("--channels", type=int, choices=(1, 3), default=1, help="1 grayscale (default) or 3 RGB (with --data)")
    train.add_argument("--epochs", type=_int_at_least(1), default=5)
    train.add_argument("--steps", type=_int_at_least(1), help="train this many steps (overrides --epochs)")
    train.add_argument("--batch-size", type=_int_at_least(1), default=64)
    train.add_argument("--lr", type=float, help="learning rate (default: 2e-4 dcgan, 1e-3 vae and pixelcnn)")
    train.add_argument("--latent-dim", type=_int_at_least(1), help="latent size (dcgan, vae)")
    train.add_argument("--width", type=_int_at_least(1), help="base channel count of the networks")
    train.add_argument("--checkpoint-every", type=_int_at_least(0), default=0, help="steps between checkpoints (0: each epoch)")
    train.add_argument("--resume", help="continue from a checkpoint.pt")
    train.add_argument("--out-dir", help="checkpoints, grids and the model (default: runs/KIND)")
    train.add_argument("--seed", type=seed(), default=0)
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    train.add_argument("--export", action="store_true", help="also export the model to ONNX")
    train.add_argument("--no-progress", action="store_true")
    train.set_defaults(run=_cmd_train)

    sample = commands.add_parser(
        "sample", help="draw a grid of samples from a generator network",
        description="Draws samples (DCGAN and VAE through ONNX Runtime, PixelCNN with the cached sampler by default) and "
        "writes them as one grid image. Without --model the shipped model is used.",
    )
    sample.add_argument("kind", choices=KINDS, metavar="KIND", help="pixelcnn, dcgan or vae")
    sample.add_argument("-n", type=int_between(1, MAX_SAMPLES), default=64, help="number of images (default 64)")
    sample.add_argument("-o", "--output", default="grid.png", help="grid image to write (default grid.png)")
    sample.add_argument("--model", help="a trained model (.pt, or .onnx for dcgan/vae) instead of the shipped one")
    sample.add_argument("--seed", type=seed(), default=0)
    sample.add_argument("--interpolate", action="store_true", help="latent interpolation: each row walks between two random points")
    sample.add_argument("--nrow", type=_int_at_least(1), help="images per row (default: about sqrt(n))")
    sample.add_argument("--provider", default="auto", help="ONNX Runtime provider: auto, cpu, cuda, tensorrt")
    sample.add_argument("--method", choices=("cached", "naive"),
                        help="PixelCNN sampler: cached (compiled, one position per layer per pixel; default) or naive "
                        "(a full forward pass per pixel); the same seed draws the same images")
    sample.add_argument("--no-progress", action="store_true", help="hide the PixelCNN sampler's progress bar")
    sample.set_defaults(run=_cmd_sample)

    evaluate = commands.add_parser(
        "eval-gen", help="held-out likelihood of a PixelCNN (NLL) or VAE (ELBO)",
        description="Evaluates a model on held-out data: generated digits drawn with a seed the training never "
        "uses (default), or a folder (--data). PixelCNN: negative log-likelihood in nats/image and bits/dim; "
        "VAE: the evidence lower bound and its two terms in nats/image.",
    )
    evaluate.add_argument("kind", choices=KINDS, metavar="KIND", help="pixelcnn or vae")
    evaluate.add_argument("--model", help="a trained model (.pt) instead of the shipped one")
    evaluate.add_argument("--data", metavar="DIR", help="folder of held-out images (default: generated digits)")
    evaluate.add_argument("-n", type=int_between(1, 100_000), default=2000, help="generated held-out digits (default 2000)")
    evaluate.add_argument("--seed", type=seed(), help="seed of the generated held-out set (default: pyfast.data.digits.HELDOUT_SEED)")
    evaluate.add_argument("--batch-size", type=_int_at_least(1), default=256)
    evaluate.set_defaults(run=_cmd_eval)
