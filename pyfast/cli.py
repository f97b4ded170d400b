"""The ``pyfast`` command: thin wrappers over library functions.

Every command has ``--help``; bad input exits with status 2 and a one-line
message on stderr; long work shows a progress bar.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from ._cli import Parser as _Parser
from ._cli import (UsageError, add_no_fused_option, add_report_options, fused_choice, max_size_option,
                   non_negative_float, output_folder, positive_float, seed, writes_into)
from ._cli import finish_report as _finish_report
from ._cli import int_at_least as _int_at_least
from ._errors import error_text


def _cmd_info(args: argparse.Namespace) -> int:
    from . import build_info

    info = build_info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key.ljust(width)}  {value}")
    return 0


def _cmd_bench_kernels(args: argparse.Namespace) -> int:
    from .bench.kernels import format_kernel_report, run_kernel_suite

    report = run_kernel_suite(
        device=args.device, warmup=args.warmup, repeats=args.repeats, quick=args.quick, progress=not args.no_progress
    )
    _finish_report(args, report, format_kernel_report(report))
    if args.check_targets and not all(t["met"] for t in report["targets"]):
        missed = ", ".join(t["name"] for t in report["targets"] if not t["met"])
        raise UsageError(f"targets missed: {missed}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .zoo import list_styles

    styles = list_styles()
    if not styles:
        raise UsageError("no style models are shipped with this installation")
    from .bench.report import markdown_table

    print(markdown_table(
        ["name", "width", "description", "onnx"],
        [[s.name, s.width, s.description, str(s.onnx)] for s in styles],
    ))
    return 0


def _cmd_train_style(args: argparse.Namespace) -> int:
    from .style.train import TrainConfig, train_style

    if args.distill_weight is not None and not args.teacher:
        raise UsageError("--distill-weight needs --teacher (the model to distil)")
    config = TrainConfig(
        style=args.style, content_dir=args.content_dir, out_dir=args.out_dir, name=args.name,
        image_size=args.image_size, style_size=args.style_size, batch_size=args.batch_size,
        epochs=args.epochs, steps=args.steps, lr=args.lr,
        weights=_loss_weights(args),
        width=args.width, vgg_weights=args.vgg_weights, loss_width=args.loss_width, augment=args.augment,
        style_warmup=args.style_warmup,
        teacher=str(_style_weights(args.teacher)[0]) if args.teacher else None,
        distill_weight=1.0 if args.distill_weight is None else args.distill_weight,
        checkpoint_every=args.checkpoint_every,
        preview_every=args.preview_every, resume=args.resume, seed=args.seed, device=args.device,
        amp=not args.no_amp, workers=args.workers,
    )
    path = train_style(config, progress=not args.no_progress)
    print(f"saved {path}")
    if args.export:
        from .onnx import export_style
        from .style import load_checkpoint

        report = export_style(load_checkpoint(path), path.with_suffix(".onnx"), style=config.name or path.stem)
        print(report.summary())
    return 0


def _loss_weights(args: argparse.Namespace):
    """Explicit weights if any was given, else None (train_style picks the preset for its loss network)."""
    from .style.losses import LossWeights

    if args.content_weight is None and args.style_weight is None and args.tv_weight is None and not args.normalized:
        return None
    default = LossWeights()
    return LossWeights(
        default.content if args.content_weight is None else args.content_weight,
        default.style if args.style_weight is None else args.style_weight,
        default.tv if args.tv_weight is None else args.tv_weight,
        normalized=args.normalized,
    )


def _style_weights(spec: str):
    """(weights file, style name) for a .pth path or a shipped model's name."""
    from pathlib import Path

    from .zoo import get_style, names_a_file

    if names_a_file(spec, (".pth", ".pt")):
        return Path(spec), Path(spec).stem
    entry = get_style(spec)
    return Path(entry.weights), entry.name


def _load_style_model(spec: str):
    """A TransformerNet from a .pth path or a shipped model's name."""
    from .style import load_checkpoint

    path, name = _style_weights(spec)
    return load_checkpoint(path), name


def _cmd_export_style(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ._files import same_file
    from .onnx import export_style
    from .zoo import list_styles

    weights, _ = _style_weights(args.model)
    if same_file(Path(args.output), weights):
        raise ValueError(f"-o {args.output} is the model being exported ({weights}); choose another output file")
    if Path(args.output).suffix.lower() != ".onnx":
        raise ValueError(f"-o {args.output}: name an .onnx file")
    if any(same_file(Path(args.output), style.onnx) for style in list_styles()):
        raise ValueError(f"-o {args.output} is a model shipped with pyfast; choose another output file")
    model, name = _load_style_model(args.model)
    report = export_style(model, args.output, style=args.name or name, opset=args.opset, fp16=args.fp16,
                          verify=not args.no_verify, rewrite=not args.no_rewrite)
    print(report.summary())
    return 0


def _cmd_stylize(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from ._files import output_folders
    from .data.images import IMAGE_SUFFIXES
    from .runtime import Engine
    from .runtime.stylize import (MIN_SIDE, VIDEO_SUFFIXES, StylizeOptions, Stylizer, collect_inputs, plan_outputs,
                                  quiet_video_logs, stylize_images, stylize_video)

    options = StylizeOptions(max_size=max_size_option(args.max_size, MIN_SIDE), oversize=args.oversize, strength=args.strength,
                             preserve_color=args.preserve_color, batch_size=args.batch_size)
    out = Path(args.output)
    files = collect_inputs(args.inputs, exclude=[out])  # earlier outputs in an input folder are not inputs
    single_output = None
    if out.suffix and not (out.is_dir() or args.output.endswith(("/", os.sep))):  # -o names one file
        if out.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
            raise ValueError(f"-o {out}: pyfast does not write {out.suffix} files (images: {', '.join(IMAGE_SUFFIXES)}; "
                             f"videos: {', '.join(VIDEO_SUFFIXES)}; end a folder's name with /)")
        if len(files) > 1:
            raise ValueError(f"-o {out} names one file but there are {len(files)} inputs; give an output folder")
        single_output, out = out, out.parent
    targets = dict(zip((source for source, _ in files), plan_outputs(files, out, single_output)))  # checked first
    images = [(p, root) for p, root in files if p.suffix.lower() in IMAGE_SUFFIXES]
    videos = [p for p, _ in files if p.suffix.lower() in VIDEO_SUFFIXES]
    with tempfile.TemporaryDirectory(prefix="pyfast-") as workdir:
        engine = Engine(_model_onnx(args.model, Path(workdir), args.fp16), providers=args.provider, threads=args.threads,
                        fused=fused_choice(args))
    if videos:
        from .runtime.ffmpeg import find_ffmpeg

        find_ffmpeg()  # a bad PYFAST_FFMPEG fails here, before any frame is stylised
        quiet_video_logs()
    stylizer = Stylizer(engine, options)
    # An unwritable output fails here, too; a link named by -o is written through, as write_image does.
    with output_folders(Path(os.path.realpath(target)).parent for target in targets.values()):
        if images:
            stylize_images(stylizer, images, out, single_output, progress=not args.no_progress)
        for source in videos:
            try:
                stylize_video(stylizer, source, targets[source], progress=not args.no_progress, sound=not args.no_sound)
            except ValueError as exc:
                stylizer.stats.failed.append((source, error_text(exc)))
    stats = stylizer.stats
    if stats.outputs:
        print(f"stylised {stats.frames} frame(s) into {len(stats.outputs)} file(s) under {out}: "
              f"{stats.fps:.1f} frames/s in the model ({engine.backend})")
    if len(stats.failed) == 1 and not stats.outputs:
        raise ValueError(stats.failed[0][1])
    if stats.failed:
        for source, reason in stats.failed:
            print(f"pyfast stylize: skipped: {reason if str(source) in reason else f'{source}: {reason}'}",
                  file=sys.stderr)
        raise ValueError(f"{len(stats.failed)} of {len(files)} input(s) not stylised (listed above)")
    return 0


def _model_onnx(spec: str, workdir, fp16: bool):
    """The ONNX file to run for ``spec`` (a shipped name, .onnx or .pth), float16 if asked."""
    from pathlib import Path

    path = Path(spec)
    if path.suffix.lower() in (".pth", ".pt"):
        from .onnx import export_style

        model, name = _load_style_model(spec)
        return export_style(model, workdir / f"{name}.onnx", style=name, fp16=fp16, verify=False).path
    from .zoo import resolve_model

    onnx_path = resolve_model(spec)
    if not fp16:
        return onnx_path
    import onnx

    from .onnx import convert_to_float16

    try:
        proto = onnx.load(str(onnx_path))
    except Exception as exc:
        raise ValueError(f"{onnx_path} is not a valid ONNX model ({exc})") from None
    if {p.key: p.value for p in proto.metadata_props}.get("pyfast.precision") == "float16":
        return onnx_path  # exported with --fp16 already
    target = workdir / f"{onnx_path.stem}.fp16.onnx"
    onnx.save(convert_to_float16(proto), str(target))
    return target


@writes_into("out")
def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    report = run_demo(args.out, provider=args.provider, progress=not args.no_progress)
    print(report)
    return 0


def _cmd_bench_inference(args: argparse.Namespace) -> int:
    from .bench.inference import format_inference_report, run_inference_suite

    report = run_inference_suite(device=args.device, quick=args.quick, progress=not args.no_progress)
    return _finish_report(args, report, format_inference_report(report))


def _cmd_bench_training(args: argparse.Namespace) -> int:
    from .bench.training import format_training_report, run_training_suite

    report = run_training_suite(device=args.device, image_size=args.image_size, batch_size=args.batch_size,
                                repeats=args.repeats, progress=not args.no_progress)
    return _finish_report(args, report, format_training_report(report))


def build_parser() -> argparse.ArgumentParser:
    from .explain.commands import add_commands as add_explain_commands
    from .generate.commands import add_commands as add_generate_commands
    from .serve.commands import add_commands as add_serve_commands
    from .serve.commands import add_export_triton

    parser = _Parser(
        prog="pyfast",
        description="Fast neural style transfer, generator networks and CNN visualisation.",
    )
    parser.add_argument("--version", action="version", version=f"pyfast {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    info = commands.add_parser("info", help="show how the compiled extension was built")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(run=_cmd_info)

    models = commands.add_parser("models", help="list the style models shipped with pyfast",
                                 description="Lists the shipped style models: name, width, what they look like and their ONNX file. Give a name to "
                                 "stylize -m or webcam -m.")
    models.set_defaults(run=_cmd_models)

    demo = commands.add_parser(
        "demo", help="stylise the sample photos with every shipped style: contact sheet + timings",
        description="Stylises the bundled sample photos with every shipped style model through ONNX "
        "Runtime and writes a contact sheet (PNG) and a timing table (markdown).",
    )
    demo.add_argument("--out", type=output_folder, default="out/demo", help="output folder (default: out/demo)")
    demo.add_argument("--provider", default="auto", help="ONNX Runtime provider: auto, cpu, cuda, tensorrt")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    demo.set_defaults(run=_cmd_demo)

    train = commands.add_parser(
        "train-style", help="train a fast style transfer model (Johnson et al.)",
        description="Trains a TransformerNet with the perceptual loss (pyfast's Gram and TV kernels). "
        "Launch with torchrun for multi-GPU / multi-node data parallelism.",
    )
    train.add_argument("--style", required=True, help="style image")
    train.add_argument("--content-dir", required=True, help="folder of content images (searched recursively)")
    train.add_argument("--out-dir", type=output_folder, default="runs/style", help="checkpoints, previews and the model (default: runs/style)")
    train.add_argument("--name", help="style name (default: the style image's file name)")
    train.add_argument("--image-size", type=_int_at_least(16), default=256, help="training crop size (default 256)")
    train.add_argument("--style-size", type=_int_at_least(16), help="resize the style image's longer side")
    train.add_argument("--batch-size", type=_int_at_least(1), default=4, help="images per step, per process (default 4)")
    train.add_argument("--epochs", type=_int_at_least(1), default=2, help="passes over the content images (default 2)")
    train.add_argument("--steps", type=_int_at_least(1), help="train this many steps (overrides --epochs)")
    train.add_argument("--lr", type=positive_float, default=1e-3, help="Adam's learning rate (default 1e-3)")
    train.add_argument("--content-weight", type=non_negative_float, help="default 1e5 with VGG-16 weights, 1 without")
    train.add_argument("--style-weight", type=non_negative_float, help="default 1e10 with VGG-16 weights, 1.5 (normalised) without")
    train.add_argument("--tv-weight", type=non_negative_float, help="default 0")
    train.add_argument("--normalized", action="store_true", help="divide each layer's error by its target's mean square")
    train.add_argument("--width", type=positive_float, default=1.0, help="TransformerNet width (0.5: real-time student)")
    train.add_argument("--vgg-weights", help="torchvision VGG-16 state dict (else $PYFAST_VGG16_WEIGHTS, else a random-feature network)")
    train.add_argument("--loss-width", type=positive_float, default=1.0, help="width of the random-feature loss network")
    train.add_argument("--augment", action="store_true", help="random crops and flips (small content folders)")
    train.add_argument("--style-warmup", type=_int_at_least(0), default=0, help="steps of content loss only, first")
    train.add_argument("--teacher", help="distil this trained model (.pth or a shipped style's name) into the student")
    train.add_argument("--distill-weight", type=non_negative_float, help="weight of the distillation loss (default 1)")
    train.add_argument("--checkpoint-every", type=_int_at_least(0), default=1000, help="steps between checkpoints, 0: only at the end (default 1000)")
    train.add_argument("--preview-every", type=_int_at_least(0), default=200, help="steps between preview images, 0: none (default 200)")
    train.add_argument("--resume", help="continue from a checkpoint.pt")
    train.add_argument("--seed", type=seed(), default=42, help="random seed (default 42)")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    train.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    train.add_argument("--workers", type=_int_at_least(0), default=0, help="data loader processes")
    train.add_argument("--export", action="store_true", help="also export the model to ONNX")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.set_defaults(run=_cmd_train_style)

    export = commands.add_parser("export", help="export a model to ONNX")
    targets = export.add_subparsers(dest="target", metavar="KIND", parser_class=_Parser)
    targets.required = True
    export_style_parser = targets.add_parser(
        "style", help="export a style model (.pth or shipped name) to ONNX",
        description="Exports with dynamic batch, height and width, adds metadata, runs the ONNX checker, "
        "then verifies ONNX Runtime against PyTorch at sizes other than the export size.",
    )
    export_style_parser.add_argument("model", help="a .pth checkpoint or a shipped model's name")
    export_style_parser.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    export_style_parser.add_argument("--opset", type=_int_at_least(13), default=19, help="ONNX opset (default 19)")
    export_style_parser.add_argument("--fp16", action="store_true", help="compute in float16 (inputs/outputs stay float32)")
    export_style_parser.add_argument("--name", help="style name stored in the metadata")
    export_style_parser.add_argument("--no-verify", action="store_true", help="skip the ONNX Runtime check")
    export_style_parser.add_argument(
        "--no-rewrite", action="store_true",
        help="export the layers as written (default: the 9x9 output convolution as an exact stride-2 "
             "convolution + depth-to-space: 2.6-2.8x faster for that layer in ONNX Runtime on CPU)")
    export_style_parser.set_defaults(run=_cmd_export_style)
    add_export_triton(targets)

    stylize = commands.add_parser(
        "stylize", help="stylise images, folders and videos with a style model",
        description="Runs a style model through ONNX Runtime on images (batched), folders and video "
        "files (frame rate and size kept; with FFmpeg, the sound and the exact size, and MP4/M4V/MOV/MKV as H.264, "
        "WebM as VP9, AVI as Motion JPEG). "
        "MODEL is a shipped name (see `pyfast models`), an .onnx or a .pth.",
    )
    stylize.add_argument("inputs", nargs="+", metavar="INPUT", help="image, video or folder")
    stylize.add_argument("-m", "--model", required=True, help="shipped model name, .onnx or .pth")
    stylize.add_argument("-o", "--output", default="stylized", help="output folder, or a file for one input (default: stylized/)")
    stylize.add_argument("--max-size", type=_int_at_least(0), default=1024, help="longer side limit in pixels, at least 5, or 0 for none (default 1024)")
    stylize.add_argument("--oversize", choices=("resize", "error"), default="resize", help="inputs over --max-size: resize (default) or error")
    stylize.add_argument("--preserve-color", action="store_true", help="keep the content's colours (transfer luminance)")
    stylize.add_argument("--strength", type=float, default=1.0, help="0..1 blend over the content (default 1)")
    stylize.add_argument("--provider", default="auto", help="auto, cpu, cuda or tensorrt")
    stylize.add_argument("--fp16", action="store_true", help="run the model in float16")
    stylize.add_argument("--batch-size", type=_int_at_least(1), default=4, help="images per model run (default 4)")
    stylize.add_argument("--threads", type=_int_at_least(1), help="ONNX Runtime CPU threads")
    add_no_fused_option(stylize)
    stylize.add_argument("--no-sound", action="store_true",
                         help="write videos without their audio (kept by default, with FFmpeg: PYFAST_FFMPEG, "
                         "imageio-ffmpeg or ffmpeg on PATH)")
    stylize.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    stylize.set_defaults(run=_cmd_stylize)

    add_serve_commands(commands)

    add_explain_commands(commands)
    add_generate_commands(commands)

    bench = commands.add_parser("bench", help="run a benchmark suite")
    suites = bench.add_subparsers(dest="suite", metavar="SUITE", parser_class=_Parser)
    suites.required = True
    kernels = suites.add_parser(
        "kernels",
        help="Gram matrix and total variation kernels vs the PyTorch formulation",
        description="Times each compiled kernel against its PyTorch reference (forward, and "
        "forward+backward) side by side, and prints a markdown table with speedups, achieved "
        "GFLOP/s or GB/s and the machine's measured peaks.",
    )
    kernels.add_argument("--repeats", type=_int_at_least(1), default=9, help="timed repeats per case (default: 9)")
    kernels.add_argument("--warmup", type=_int_at_least(0), default=2, help="untimed runs first (default: 2)")
    kernels.add_argument("--quick", action="store_true", help="tiny shapes: check the harness, not the speed")
    kernels.add_argument("--check-targets", action="store_true", help="exit non-zero if a target is missed")

    inference = suites.add_parser(
        "inference", help="TransformerNet: PyTorch eager vs ONNX Runtime, full vs half width",
        description="Frames per second at 256x256, 512x512, 640x480 and 1280x720 for PyTorch eager and "
        "ONNX Runtime (CPU: its graph and pyfast's fused path; CUDA and TensorRT where present), full model "
        "and half-width student, then the two models alternating through each CPU backend.",
    )
    training = suites.add_parser(
        "training", help="one style-training step: pyfast's loss vs the plain PyTorch formulation",
        description="Steps per second of TransformerNet training with pyfast's perceptual loss (compiled "
        "Gram/TV) against pytorch/examples' formulation, same model, batch and optimizer.",
    )
    training.add_argument("--image-size", type=_int_at_least(16), default=256)
    training.add_argument("--batch-size", type=_int_at_least(1), default=4)
    training.add_argument("--repeats", type=_int_at_least(1), default=3)
    occlusion = suites.add_parser(
        "occlusion", help="occlusion sweeps: pyfast vs captum.attr.Occlusion (needs captum)",
        description="Occlusion maps of the shipped classifier (64x64, window 8, stride 4) and a ResNet-18-shaped "
        "network (224x224, window 15, stride 8), pyfast's backends against Captum at the same batch size.",
    )
    gatys = suites.add_parser(
        "gatys", help="Gatys style transfer iterations/s: compiled Gram/TV vs the plain PyTorch formulation",
        description="L-BFGS and Adam iterations per second at 256x256, pyfast's loss against the PyTorch "
        "tutorial's formulation, same VGG-16, layers and optimizer.",
    )
    gatys.add_argument("--image-size", type=_int_at_least(32), default=256)
    gatys.add_argument("--repeats", type=_int_at_least(1), default=6)
    masked = suites.add_parser(
        "masked-conv", help="masked convolution fwd+bwd vs the dense masked formulation; PixelCNN cached vs naive sampling",
        description="PixelCNN layer shapes at batch 16 (28x28, 32x32), and sampling 16 28x28 images cached vs naive.",
    )
    masked.add_argument("--repeats", type=_int_at_least(1), default=9)
    serve = suites.add_parser(
        "serve", help="the HTTP service: dynamic batching vs batch size 1 under concurrent clients",
        description="Runs the service on loopback and 16 concurrent clients against a 256x256 model, with dynamic "
        "batching and with batch size 1; throughput, p50 and p99 latency.",
    )
    serve.add_argument("--clients", type=_int_at_least(1), default=16)
    serve.add_argument("--seconds", type=positive_float, default=8.0, help="length of each measured round")
    serve.add_argument("--provider", dest="providers", default="cpu",
                       help="ONNX Runtime provider of the service: cpu (default), cuda, tensorrt or auto")
    for suite in (occlusion, gatys, masked, serve):
        suite.add_argument("--quick", action="store_true",
                           help="tiny sizes: check the harness, not the speed" + (
                               " (at most 4 clients, one 1 s round of 32x32 images, whatever --clients/--seconds say)"
                               if suite is serve else ""))
        add_report_options(suite)
        suite.set_defaults(run=_cmd_bench_suite)
    for suite in (gatys, masked):
        suite.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    for suite, run in ((kernels, _cmd_bench_kernels), (inference, _cmd_bench_inference), (training, _cmd_bench_training)):
        suite.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
        add_report_options(suite)
        suite.set_defaults(run=run)
    inference.add_argument("--quick", action="store_true", help="tiny sizes: check the harness, not the speed")
    return parser


def _cmd_bench_suite(args: argparse.Namespace) -> int:
    """The suites that follow the run_<suite>_suite / format_<suite>_report pattern."""
    import importlib

    name = args.suite.replace("-", "_")
    module = importlib.import_module(f".bench.{name}", __package__)
    options = {"quick": args.quick, "progress": not args.no_progress}
    if getattr(args, "device", None):
        options["device"] = args.device
    for key in ("image_size", "clients", "seconds", "repeats", "providers"):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    report = getattr(module, f"run_{name}_suite")(**options)
    return _finish_report(args, report, getattr(module, f"format_{name}_report")(report))


def _version() -> str:
    from . import __version__

    return __version__


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> str:
    return f"pyfast: warning: {message}\n"


_SUBCOMMAND_DEST = {"export": "target", "bench": "suite", "explain": "method"}  # where each group keeps its subcommand


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    warnings.formatwarning = _one_line_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    sub = getattr(args, _SUBCOMMAND_DEST.get(args.command, ""), None)  # "pyfast export style", "pyfast explain saliency"
    name = f"pyfast {args.command} {sub}" if sub else f"pyfast {args.command}"
    try:
        return int(args.run(args))
    except BrokenPipeError as exc:
        try:
            sys.stdout.flush()
        except BrokenPipeError:  # stdout's reader went away (`pyfast models | head -1`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{name}: error: out of memory (an image or option too large for this machine?)",
              file=sys.stderr)
        return 2
    except (UsageError, ValueError, TypeError, OSError, RuntimeError, ArithmeticError) as exc:
        message = " ".join(error_text(exc).split()) or type(exc).__name__
        print(f"{name}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyfast: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
