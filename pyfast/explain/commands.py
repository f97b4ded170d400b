"""``pyfast explain <method>``: every method of :mod:`pyfast.explain` from the command line.

Each method reads pictures (files or folders; without any, the shipped classifier's
demo pictures), runs on the chosen model (the shipped GlyphNet by default, or
``--model STATE_DICT --arch ARCH`` with the user's preprocessing), and writes PNGs
(plus ``.npy`` arrays with ``--npy``) under ``--out``. Thin wrappers: all work is in
the library functions.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._cli import (Parser, UsageError, finite_float, int_at_least, int_between, output_folder, positive_float, seed,
                    writes_into)

DEFAULT_OUT = Path("out/explain")
MAX_INPUT_SIZE = 4096  # --size: the model's input side
MAX_GENERATED = 20_000  # --count: generated pictures for patches, neighbours and embed
MAX_SCALE = 16  # output pictures are enlarged at most this much (a 224-px input becomes 3584 px)


# ----------------------------------------------------------------- shared input handling
def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _model_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", metavar="PATH", help="state dict of your classifier (default: the shipped GlyphNet)")
    group.add_argument("--arch", help="architecture of --model: a pyfast model name, a torchvision name or module:callable")
    group.add_argument("--mean", type=_floats, help="input mean per channel, e.g. 0.485,0.456,0.406")
    group.add_argument("--std", type=_floats, help="input std per channel")
    group.add_argument("--size", type=int_between(8, MAX_INPUT_SIZE), help="input size in pixels (square)")
    group.add_argument("--classes", help="class names: comma-separated, or a text file with one per line")


def _output_args(parser: argparse.ArgumentParser, method: str) -> None:
    parser.add_argument("-o", "--out", type=output_folder, default=DEFAULT_OUT / method, help=f"output folder (default {DEFAULT_OUT / method})")
    parser.add_argument("--npy", action="store_true", help="also write the raw arrays as .npy")
    parser.add_argument("--seed", type=seed(), default=0, help="random seed (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _image_args(parser: argparse.ArgumentParser, what: str = "pictures to explain") -> None:
    parser.add_argument("images", nargs="*", metavar="IMAGE",
                        help=f"{what}: files or folders (default: the shipped classifier's demo pictures)")


def _load_spec(args: argparse.Namespace):
    from .models import load_model_spec

    return load_model_spec(args.model, arch=args.arch, mean=args.mean, std=args.std, size=args.size, classes=args.classes)


def _picture_paths(items: Sequence[str]) -> list[Path]:
    from ..data.images import list_images

    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = list_images(path)
            if not found:
                raise UsageError(f"no images in folder {path}")
            paths.extend(found)
        elif path.exists():
            paths.append(path)
        else:
            raise FileNotFoundError(f"no such image or folder: {path}")
    return paths


def _pictures(args: argparse.Namespace, spec, default_count: int = 8) -> tuple[list[np.ndarray], list[str]]:
    """uint8 RGB pictures and a short name for each: the user's files, or GlyphNet's demo pictures."""
    from ..data.images import read_image

    if args.images:
        paths = _picture_paths(args.images)
        return [read_image(p).rgb for p in paths], [p.stem for p in paths]
    if args.model is not None:
        raise UsageError("give the pictures to explain (files or folders) when using your own --model")
    from ..data.glyphs import sample_glyphs

    size = spec.preprocessing.size[0] if spec.preprocessing.size else 64
    images, labels = sample_glyphs(default_count, size=size)
    return list(images), [f"demo{i}_{spec.class_name(int(label))}" for i, label in enumerate(labels)]


def _batches(spec, pictures: list[np.ndarray]):
    """Model-space batch; pictures of different sizes are resized when the model has a fixed size."""
    import torch

    if spec.preprocessing.size is None and len({p.shape[:2] for p in pictures}) > 1:
        raise UsageError("this model takes any size, so all pictures must have the same size to form one batch; "
                         "give --size to resize them")
    return spec.preprocessing.images_to_batch(pictures).to(torch.float32)


def _target(args: argparse.Namespace, spec, required: bool = False):
    """--target as a class index (a number or a class name), or None."""
    text = getattr(args, "target", None)
    if text is None:
        if required:
            raise UsageError("this method needs --target (a class index or name)")
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    names = list(spec.class_names)
    if text in names:
        return names.index(text)
    raise UsageError(f"unknown class {text!r}; give an index or one of: {', '.join(names) or '(no class names known)'}")


def _write(args: argparse.Namespace, name: str, image: np.ndarray) -> Path:
    from .render import save

    path = save(Path(args.out) / f"{name}.png", image)
    print(f"wrote {path}")
    return path


def _write_npy(args: argparse.Namespace, name: str, array: np.ndarray) -> None:
    if args.npy:
        path = Path(args.out) / f"{name}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, array)
        print(f"wrote {path}")


def _predictions(spec, x) -> np.ndarray:
    import torch

    from ._common import class_scores, model_guard

    with model_guard(spec.module), torch.inference_mode():
        return class_scores(spec.module, x).argmax(1).numpy()


def _bounds(spec):
    low, high = spec.preprocessing.bounds()
    return low.flatten().tolist(), high.flatten().tolist()


# ----------------------------------------------------------------- attribution maps
def _cmd_attribution(args: argparse.Namespace) -> int:
    """saliency / smoothgrad / guided / occlusion: one overlay panel per picture."""
    from . import render

    spec = _load_spec(args)
    pictures, names = _pictures(args, spec)
    x = _batches(spec, pictures)
    target = _target(args, spec)
    progress = not args.no_progress
    predicted = _predictions(spec, x)
    if args.method == "saliency":
        if args.smooth:
            from .saliency import smoothgrad

            maps = smoothgrad(spec.module, x, target, samples=args.smooth, noise_level=args.noise,
                              bounds=_bounds(spec), seed=args.seed, progress=progress)
        else:
            from .saliency import saliency

            maps = saliency(spec.module, x, target)
        signed = False
    elif args.method == "guided":
        from .guided import guided_backprop

        grads = guided_backprop(spec.module, x, target)
        maps, signed = grads, True
    else:
        from .occlusion import occlusion

        maps = occlusion(spec.module, x, target, window=args.window, stride=args.stride, baseline=args.baseline,
                         batch_size=args.batch_size, progress=progress, backend=args.backend)
        signed = True
    _write_npy(args, args.method, maps)
    shown = spec.preprocessing.batch_to_images(x)
    targets = predicted if target is None else np.full(len(x), target)
    for i, name in enumerate(names):
        label = f"{args.method} for {spec.class_name(int(targets[i]))}, predicted {spec.class_name(int(predicted[i]))}"
        if args.method == "guided":
            # Guided backprop is an image-like gradient: show it normalised next to the picture.
            g = maps[i].transpose(1, 2, 0)
            g = (g - g.mean()) / (g.std() + 1e-12) * 0.15 + 0.5
            image = render.labelled_panel([("input", shown[i:i + 1]), (label, np.clip(g, 0, 1)[None])], scale=args.scale)
        else:
            image = render.heatmap_overlay(shown[i], maps[i], symmetric=signed, title=label, scale=args.scale)
        _write(args, f"{name}_{args.method}", image)
    return 0


# ----------------------------------------------------------------- synthesis methods
def _cmd_class_visualization(args: argparse.Namespace) -> int:
    import torch

    from . import render
    from .class_visualization import class_visualization

    spec = _load_spec(args)
    target = _target(args, spec, required=True)
    h, w = spec.preprocessing.size or (args.canvas, args.canvas)
    generator = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.count, spec.preprocessing.channels, h, w, generator=generator) * 0.5
    result = class_visualization(spec.module, x, target, num_iterations=args.iterations, learning_rate=args.lr,
                                 l2_reg=args.l2, blur_every=args.blur_every, max_jitter=args.jitter,
                                 parameterisation=args.param, bounds=_bounds(spec), seed=args.seed,
                                 progress=not args.no_progress)
    _write_npy(args, "class_visualization", result.images)
    pictures = spec.preprocessing.batch_to_images(result.images)
    labels = [f"{spec.class_name(target)} score {s:.1f}" for s in np.asarray(result.scores)[-1].reshape(-1)]
    _write(args, f"class_{spec.class_name(target)}", render.image_grid(pictures, labels=labels, scale=args.scale))
    return 0


def _cmd_fooling(args: argparse.Namespace) -> int:
    from . import render
    from .fooling import fooling_images

    spec = _load_spec(args)
    pictures, names = _pictures(args, spec)
    x = _batches(spec, pictures)
    target = _target(args, spec, required=True)
    predicted = _predictions(spec, x)
    result = fooling_images(spec.module, x, target, learning_rate=args.lr, max_steps=args.max_steps,
                            bounds=_bounds(spec), progress=not args.no_progress)
    _write_npy(args, "fooling", result.images)
    fooled = spec.preprocessing.batch_to_images(result.images)
    difference = np.abs(fooled.astype(np.float32) - np.stack(pictures_as(spec, x))).mean(-1)
    for i, name in enumerate(names):
        if int(predicted[i]) == int(result.targets[i]):
            ok = "already predicted as the target"
        else:
            ok = "fooled" if result.success[i] else "NOT fooled"
        print(f"{name}: {spec.class_name(int(predicted[i]))} -> {spec.class_name(int(result.predicted[i]))} "
              f"({ok} in {int(result.steps[i])} steps; perturbation L2 {result.l2[i]:.3f}, Linf {result.linf[i]:.3f})")
        panel = render.labelled_panel([
            (f"original: {spec.class_name(int(predicted[i]))}", pictures_as(spec, x[i:i + 1])),
            (f"fooling: {spec.class_name(int(result.predicted[i]))}", fooled[i:i + 1]),
            ("|difference| x10", np.clip(difference[i:i + 1] * 10 / 255, 0, 1)),
        ], scale=args.scale)
        _write(args, f"{name}_fooling", panel)
    return 0


def pictures_as(spec, x) -> list[np.ndarray]:
    """The model-space batch ``x`` back as uint8 pictures (what the model actually saw)."""
    return list(spec.preprocessing.batch_to_images(x))


def _cmd_deepdream(args: argparse.Namespace) -> int:
    from . import render
    from .deepdream import deepdream

    spec = _load_spec(args)
    pictures, names = _pictures(args, spec, default_count=2)
    x = _batches(spec, pictures)
    layers = [spec.layer(name) for name in args.layer]
    dreams = deepdream(spec.module, x, layers, octaves=args.octaves, octave_scale=args.octave_scale,
                       steps_per_octave=args.steps, step_size=args.step_size, max_jitter=args.jitter,
                       bounds=_bounds(spec), seed=args.seed, progress=not args.no_progress)
    _write_npy(args, "deepdream", dreams)
    shown = spec.preprocessing.batch_to_images(dreams)
    for i, name in enumerate(names):
        panel = render.labelled_panel([("input", pictures_as(spec, x[i:i + 1])),
                                       (f"deepdream {','.join(args.layer)}", shown[i:i + 1])], scale=args.scale)
        _write(args, f"{name}_deepdream", panel)
    return 0


def _cmd_invert(args: argparse.Namespace) -> int:
    from . import render
    from .inversion import feature_inversion

    spec = _load_spec(args)
    pictures, names = _pictures(args, spec, default_count=2)
    x = _batches(spec, pictures)
    layer = spec.layer(args.layer)
    result = feature_inversion(spec.module, x, layer, num_iterations=args.iterations, learning_rate=args.lr,
                               tv_weight=args.tv_weight, tv_beta=args.tv_beta, bounds=_bounds(spec),
                               seed=args.seed, progress=not args.no_progress)
    _write_npy(args, "inversion", result.images)
    shown = spec.preprocessing.batch_to_images(result.images)
    for i, name in enumerate(names):
        panel = render.labelled_panel([("input", pictures_as(spec, x[i:i + 1])),
                                       (f"inverted from {args.layer}", shown[i:i + 1])], scale=args.scale)
        _write(args, f"{name}_inversion_{args.layer}", panel)
    return 0


def _loss_net(args: argparse.Namespace):
    from ..models import VGG16Features

    return VGG16Features(weights=args.vgg_weights, fast_convs=True) if args.vgg_weights else None


def _read_rgb(path: str, max_size: int) -> np.ndarray:
    from ..data.images import fit_within, read_image, resize

    rgb = read_image(path).rgb
    h, w = fit_within(*rgb.shape[:2], max_size)
    return resize(rgb, h, w) if (h, w) != rgb.shape[:2] else rgb


def _gatys_report(result) -> None:
    terms = ", ".join(f"{k} {v[0]:.3g} -> {v[-1]:.3g}" for k, v in result.losses.items() if v and any(v))
    print(f"{result.steps} steps; loss {terms}")


def _cmd_texture(args: argparse.Namespace) -> int:
    from .gatys import texture_synthesis

    texture = _read_rgb(args.texture, args.max_size)
    size = (args.height or texture.shape[0], args.width or texture.shape[1])
    result = texture_synthesis(texture, size=size, loss_net=_loss_net(args), style_weight=args.style_weight,
                               tv_weight=args.tv_weight, optimizer=args.optimizer, steps=args.steps, lr=args.lr,
                               scales=args.scales, seed=args.seed, progress=not args.no_progress)
    _gatys_report(result)
    _write_npy(args, "texture", result.image)
    _write(args, f"{Path(args.texture).stem}_texture", result.image)
    return 0


def _cmd_style(args: argparse.Namespace) -> int:
    from .gatys import style_transfer

    content, style = _read_rgb(args.content, args.max_size), _read_rgb(args.style, args.max_size)
    result = style_transfer(content, style, loss_net=_loss_net(args), content_weight=args.content_weight,
                            style_weight=args.style_weight, tv_weight=args.tv_weight, optimizer=args.optimizer,
                            steps=args.steps, lr=args.lr, scales=args.scales, preserve_color=args.preserve_color,
                            init=args.init, seed=args.seed, progress=not args.no_progress)
    _gatys_report(result)
    _write_npy(args, "style", result.image)
    _write(args, f"{Path(args.content).stem}_in_{Path(args.style).stem}", result.image)
    return 0


# ----------------------------------------------------------------- activation tools
def _gallery(args: argparse.Namespace, spec, items: Sequence[str], count: int) -> tuple[object, np.ndarray | None]:
    """A model-space gallery batch and its labels when known (generated pictures)."""
    if items:
        from ..data.images import read_image

        paths = _picture_paths(items)
        return _batches(spec, [read_image(p).rgb for p in paths]), None
    if args.model is not None:
        raise UsageError("give a folder of pictures when using your own --model")
    from ..data.glyphs import make_glyphs

    size = spec.preprocessing.size[0] if spec.preprocessing.size else 64
    images, labels = make_glyphs(count, size=size, seed=args.seed + 1000)
    return spec.preprocessing.images_to_batch(list(images)), labels


def _cmd_activations(args: argparse.Namespace) -> int:
    from .activations import activation_grid, activation_maps

    spec = _load_spec(args)
    pictures, names = _pictures(args, spec, default_count=2)
    x = _batches(spec, pictures)
    maps = activation_maps(spec.module, x, spec.layer(args.layer), channels=args.channels)
    _write_npy(args, f"activations_{args.layer}", maps)
    for i, name in enumerate(names):
        _write(args, f"{name}_activations_{args.layer}", activation_grid(maps, image_index=i, scale=args.scale))
    return 0


def _cmd_patches(args: argparse.Namespace) -> int:
    from .activations import patches_grid, top_activating_patches

    spec = _load_spec(args)
    x, _ = _gallery(args, spec, args.images, args.count)
    result = top_activating_patches(spec.module, x, spec.layer(args.layer), k=args.k, channels=args.channels,
                                    preprocessing=spec.preprocessing, progress=not args.no_progress)
    print(f"receptive field of {args.layer}: {result.field}")
    _write_npy(args, f"patches_{args.layer}", result.patches)
    _write(args, f"patches_{args.layer}", patches_grid(result, preprocessing=spec.preprocessing, scale=args.scale))
    return 0


def _cmd_neighbours(args: argparse.Namespace) -> int:
    from . import render
    from .activations import feature_neighbours

    spec = _load_spec(args)
    pictures, names = _pictures(args, spec, default_count=4)
    queries = _batches(spec, pictures)
    gallery, _ = _gallery(args, spec, args.gallery or [], args.count)
    gallery_pictures = pictures_as(spec, gallery)  # what the model saw: one size even when the files differ
    index, distance = feature_neighbours(spec.module, queries, gallery, spec.layer(args.layer), k=args.k,
                                         metric=args.metric, progress=not args.no_progress)
    _write_npy(args, "neighbours", index)
    columns = [("query", pictures_as(spec, queries))]
    for j in range(index.shape[1]):
        columns.append((f"#{j + 1}", np.stack([gallery_pictures[int(index[i, j])] for i in range(len(names))])))
    _write(args, f"neighbours_{args.layer}", render.labelled_panel(columns, row_labels=names, scale=args.scale))
    return 0


def _cmd_embed(args: argparse.Namespace) -> int:
    from . import render
    from .activations import embed_2d, extract_features

    spec = _load_spec(args)
    x, labels = _gallery(args, spec, args.images, args.count)
    features = extract_features(spec.module, x, spec.layer(args.layer), pooling=args.pooling,
                                progress=not args.no_progress)
    points = embed_2d(features, args.algorithm, seed=args.seed)
    _write_npy(args, f"embedding_{args.algorithm}", points)
    names = None if labels is None else [spec.class_name(int(label)) for label in labels]
    thumbnails = np.stack(pictures_as(spec, x))  # what the model saw: one size even when the files differ
    _write(args, f"embedding_{args.layer}_{args.algorithm}", render.thumbnail_scatter(points, thumbnails, labels=names))
    return 0


# ----------------------------------------------------------------- parser
def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds ``explain`` and its methods to the top-level ``pyfast`` subcommands."""
    explain = commands.add_parser(
        "explain", help="understand a CNN: saliency, occlusion, class visualisation, DeepDream, style ...",
        description="cs231n lecture 12's methods on the shipped classifier or your own. Each method writes PNGs "
        "(and .npy with --npy) under --out.",
    )
    methods = explain.add_subparsers(dest="method", metavar="METHOD", parser_class=Parser)
    methods.required = True

    def method(name: str, help_text: str, run, images: bool = True, model: bool = True):
        parser = methods.add_parser(name, help=help_text, description=help_text)
        if images:
            _image_args(parser)
        if model:
            _model_args(parser)
        _output_args(parser, name)
        parser.add_argument("--scale", type=int_between(1, MAX_SCALE), default=3 if model else 1,
                            help=f"enlarge small pictures in the output by this factor (1..{MAX_SCALE})")
        parser.set_defaults(run=writes_into("out")(run))
        return parser

    saliency = method("saliency", "|d score / d pixel|, max over channels (SmoothGrad with --smooth N)", _cmd_attribution)
    saliency.add_argument("--target", help="class index or name (default: the predicted class)")
    saliency.add_argument("--smooth", type=int_at_least(1), help="SmoothGrad: average over N noisy copies")
    saliency.add_argument("--noise", type=positive_float, default=0.15, help="SmoothGrad noise, fraction of the input range")

    guided = method("guided", "guided backpropagation: only positive gradients through ReLUs", _cmd_attribution)
    guided.add_argument("--target", help="class index or name (default: the predicted class)")

    occlusion = method("occlusion", "output drop when a window of the picture is covered (Captum semantics)",
                       _cmd_attribution)
    occlusion.add_argument("--target", help="class index or name (default: the predicted class)")
    occlusion.add_argument("--window", type=int_at_least(1), default=8, help="window size in pixels (default 8)")
    occlusion.add_argument("--stride", type=int_at_least(1), default=4, help="window stride in pixels (default 4)")
    occlusion.add_argument("--baseline", type=finite_float, default=0.0, help="value the window is filled with (model space)")
    occlusion.add_argument("--batch-size", type=int_at_least(1), default=64, help="occluded pictures per forward pass")
    occlusion.add_argument("--backend", choices=("incremental", "torch", "onnxruntime"), default="incremental",
                           help="incremental (default): recompute only the changed regions of the early layers, "
                           "falling back to torch with a warning for networks it cannot plan; torch: every occluded "
                           "picture in full; onnxruntime: the same through ONNX Runtime")

    vis = method("class-vis", "synthesise a picture the model scores as --target (gradient ascent)",
                 _cmd_class_visualization, images=False)
    vis.add_argument("--target", required=True, help="class index or name")
    vis.add_argument("--count", type=int_between(1, 256), default=4, help="pictures to synthesise (default 4)")
    vis.add_argument("--iterations", type=int_at_least(1), default=200)
    vis.add_argument("--lr", type=positive_float, help="step size (default: cs231n's for pixels, 0.05 for fft)")
    vis.add_argument("--l2", type=float, default=1e-3, help="L2 regularisation weight (default 1e-3)")
    vis.add_argument("--blur-every", type=int_at_least(0), default=10)
    vis.add_argument("--jitter", type=int_at_least(0), default=4, help="random shift in pixels (default 4)")
    vis.add_argument("--param", choices=("pixel", "fft"), default="pixel", help="image parameterisation")
    vis.add_argument("--canvas", type=int_at_least(8), default=224, help="size for models that take any size")

    fooling = method("fooling", "smallest-step changes that make the model predict --target", _cmd_fooling)
    fooling.add_argument("--target", required=True, help="class index or name to fool the model into")
    fooling.add_argument("--max-steps", type=int_at_least(1), default=100)
    fooling.add_argument("--lr", type=positive_float, default=1.0, help="normalised step size (default 1)")

    dream = method("deepdream", "amplify what a layer sees, over octaves", _cmd_deepdream)
    dream.add_argument("--layer", nargs="+", default=["conv3"], help="layer name(s) (default conv3)")
    dream.add_argument("--octaves", type=int_at_least(1), default=3)
    dream.add_argument("--octave-scale", type=positive_float, default=1.4)
    dream.add_argument("--steps", type=int_at_least(1), default=10, help="steps per octave")
    dream.add_argument("--step-size", type=positive_float, default=1.5)
    dream.add_argument("--jitter", type=int_at_least(0), default=4)

    invert = method("invert", "reconstruct a picture from a layer's features (TV-regularised)", _cmd_invert)
    invert.add_argument("--layer", default="conv2", help="layer to invert (default conv2)")
    invert.add_argument("--iterations", type=int_at_least(1), default=200)
    invert.add_argument("--lr", type=positive_float)
    invert.add_argument("--tv-weight", type=finite_float, default=0.5)
    invert.add_argument("--tv-beta", type=positive_float, default=2.0)

    for name, help_text, run in (
        ("texture", "texture synthesis: match VGG Gram matrices of a texture picture", _cmd_texture),
        ("style", "Gatys et al. neural style transfer (L-BFGS or Adam on the picture)", _cmd_style),
    ):
        parser = method(name, help_text, run, images=False, model=False)
        if name == "style":
            parser.add_argument("content", help="content picture")
            parser.add_argument("style", help="style picture")
            parser.add_argument("--content-weight", type=finite_float)
            parser.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
            parser.add_argument("--init", choices=("content", "noise"), default="content")
        else:
            parser.add_argument("texture", help="texture picture")
            parser.add_argument("--height", type=int_at_least(16), help="output height (default: the texture's)")
            parser.add_argument("--width", type=int_at_least(16), help="output width (default: the texture's)")
        parser.add_argument("--style-weight", type=finite_float)
        parser.add_argument("--tv-weight", type=finite_float)
        parser.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
        parser.add_argument("--steps", type=int_at_least(1), default=300)
        parser.add_argument("--lr", type=positive_float)
        parser.add_argument("--scales", type=_floats, default=(1.0,), help="multi-scale, coarse to fine, e.g. 0.5,1")
        parser.add_argument("--max-size", type=int_at_least(16), default=512, help="longer side of the inputs (default 512)")
        parser.add_argument("--vgg-weights", metavar="PATH", help="torchvision VGG-16 weights (default: "
                            "$PYFAST_VGG16_WEIGHTS, else random features with a warning)")

    acts = method("activations", "a layer's activation maps as a grid", _cmd_activations)
    acts.add_argument("--layer", default="conv1", help="layer (default conv1)")
    acts.add_argument("--channels", type=int, nargs="+", help="channel indices (default all)")

    patches = method("patches", "top-K maximally activating patches per channel over a set of pictures", _cmd_patches)
    patches.add_argument("--layer", default="conv3", help="layer (default conv3)")
    patches.add_argument("--channels", type=int, nargs="+", help="channel indices (default the first 16)")
    patches.add_argument("--k", type=int_at_least(1), default=9, help="patches per channel (default 9)")
    patches.add_argument("--count", type=int_between(1, MAX_GENERATED), default=512, help="generated pictures when no folder is given")
    patches.set_defaults(channels=None)

    neighbours = method("neighbours", "nearest neighbours in a layer's feature space", _cmd_neighbours)
    neighbours.add_argument("--gallery", nargs="+", help="gallery pictures or folders (default: generated)")
    neighbours.add_argument("--layer", default="pool", help="layer (default pool)")
    neighbours.add_argument("--k", type=int_at_least(1), default=5)
    neighbours.add_argument("--metric", choices=("cosine", "l2"), default="cosine")
    neighbours.add_argument("--count", type=int_between(1, MAX_GENERATED), default=256, help="generated gallery size")

    embed = method("embed", "2-D embedding (PCA or t-SNE) of a layer's features as a thumbnail scatter plot", _cmd_embed)
    embed.add_argument("--layer", default="pool", help="layer (default pool)")
    embed.add_argument("--method", dest="algorithm", choices=("pca", "tsne"), default="tsne", help="default tsne")
    embed.add_argument("--pooling", choices=("flatten", "avg"), default="avg")
    embed.add_argument("--count", type=int_between(2, MAX_GENERATED), default=300, help="generated pictures when no folder is given")
