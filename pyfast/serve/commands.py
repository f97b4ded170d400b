"""``pyfast serve``, ``pyfast webcam`` and ``pyfast export triton`` (added to pyfast.cli's parser)."""

from __future__ import annotations

import argparse
import os
import sys


def _cmd_serve(args: argparse.Namespace) -> int:
    from .config import ServeConfig
    from .server import run_server

    config = ServeConfig(
        models_dir=args.models, host=args.host, port=args.port, max_batch=args.max_batch,
        max_delay_ms=args.max_delay_ms, queue_size=args.queue_size, request_timeout_s=args.timeout,
        body_timeout_s=args.body_timeout,
        max_body_bytes=args.max_body_mb * 1024 * 1024, max_pixels=args.max_pixels, max_size=args.max_size,
        token=args.token or os.environ.get("PYFAST_TOKEN") or None, providers=args.provider, threads=args.threads,
        workers=args.workers,
    )
    # Binds the address (in use: a one-line error), loads every model (a broken one: a one-line
    # error), then says where it answers.
    run_server(config, log_level=args.log_level,
               announce=lambda url: print(f"pyfast serve: {url}/ (webcam page), API under /v1, docs at /docs", flush=True))
    return 0


def _cmd_webcam(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from .._cli import fused_choice, max_size_option
    from ..cli import _model_onnx
    from ..runtime import Engine
    from ..runtime.stylize import MIN_SIDE, StylizeOptions, Stylizer, quiet_video_logs
    from ..runtime.webcam import run_webcam

    if args.no_window and not args.out:
        raise ValueError("--no-window needs --out FILE (nothing would be shown or written)")
    source = args.video if args.video is not None else (args.camera or 0)
    options = StylizeOptions(max_size=max_size_option(args.max_size, MIN_SIDE), strength=args.strength,
                             preserve_color=args.preserve_color)
    with tempfile.TemporaryDirectory(prefix="pyfast-") as workdir:  # a .pth is exported there, as stylize does
        engine = Engine(_model_onnx(args.model, Path(workdir), False), providers=args.provider, threads=args.threads,
                        fused=fused_choice(args))
    quiet_video_logs("ERROR")  # OpenCV's "camera N cannot be opened" says it once; FFmpeg's lines go
    try:
        stats = run_webcam(Stylizer(engine, options), source, out=args.out, window=not args.no_window,
                           realtime=True if args.realtime else None, max_frames=args.max_frames,
                           overlay=not args.no_overlay, progress=not args.no_progress, sound=not args.no_sound)
    except KeyboardInterrupt:
        if args.out:
            print(f"pyfast webcam: interrupted; {args.out} left as it was", file=sys.stderr)
        raise
    where = f" into {stats.output}" if stats.output else ""
    print(f"stylised {stats.stylized} of {stats.captured} frame(s){where} ({stats.dropped} dropped as stale): "
          f"{stats.fps:.1f} frames/s, mean latency {stats.latency_ms:.0f} ms ({engine.backend})")
    return 0


def _cmd_export_triton(args: argparse.Namespace) -> int:
    from ..onnx.triton import TritonOptions, export_triton

    if args.tensorrt_fp32 and not args.tensorrt:
        raise ValueError("--tensorrt-fp32 needs --tensorrt")
    if args.max_batch_size == 0 and args.preferred_batch_size is not None:
        raise ValueError("--preferred-batch-size needs batching (--max-batch-size > 0)")
    options = TritonOptions(max_batch_size=args.max_batch_size, preferred_batch_sizes=tuple(args.preferred_batch_size or _default_preferred(args.max_batch_size)),
                            max_queue_delay_us=args.max_queue_delay_us, instances=args.instances, kind=args.kind,
                            tensorrt=args.tensorrt, tensorrt_precision="FP32" if args.tensorrt_fp32 else "FP16")
    folders = export_triton(args.models, args.output, options, overwrite=args.overwrite)
    print(f"wrote {len(folders)} model(s) to the Triton repository {args.output}: {', '.join(f.name for f in folders)}")
    return 0


def _default_preferred(max_batch_size: int) -> tuple[int, ...]:
    """4 and 8 where the maximum batch allows them, else the maximum itself."""
    return tuple(b for b in (4, 8) if b <= max_batch_size) or (max(max_batch_size, 1),)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds ``serve`` and ``webcam`` to pyfast's subcommands."""
    from .._cli import add_no_fused_option
    from .._cli import int_at_least as _int_at_least

    serve = commands.add_parser(
        "serve", help="HTTP/WebSocket style-transfer service with dynamic batching and a webcam page",
        description="Serves the style models of a folder (default: the shipped ones): POST /v1/stylize/{model}, "
        "GET /v1/models, /healthz, /readyz, /metrics, the webcam page at / and the OpenAPI docs at /docs. "
        "A bearer token (--token or $PYFAST_TOKEN) is required when binding to a non-loopback address.",
    )
    serve.add_argument("--models", help="folder of .onnx style models (default: the shipped models)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_int_at_least(0), default=8000, help="port (default 8000)")
    serve.add_argument("--token", help="bearer token clients must send (default: $PYFAST_TOKEN)")
    serve.add_argument("--max-batch", type=_int_at_least(1), default=8, help="images per model call (default 8; 1: no batching)")
    serve.add_argument("--max-delay-ms", type=float, default=10.0, help="longest wait for a batch to fill (default 10)")
    serve.add_argument("--queue-size", type=_int_at_least(1), default=64, help="waiting images before 503 (default 64)")
    serve.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds (default 30)")
    serve.add_argument("--body-timeout", type=float, default=30.0,
                       help="seconds a client may take to send its whole request body (default 30; 408 past it)")
    serve.add_argument("--max-body-mb", type=_int_at_least(1), default=20, help="largest request body in MiB (default 20)")
    serve.add_argument("--max-pixels", type=_int_at_least(25), default=40_000_000, help="largest image in pixels")
    serve.add_argument("--max-size", type=_int_at_least(5), default=1024, help="longer side the model runs at, at most (default 1024)")
    serve.add_argument("--provider", default="auto", help="ONNX Runtime provider: auto, cpu, cuda, tensorrt")
    serve.add_argument("--threads", type=_int_at_least(1), help="ONNX Runtime CPU threads per model")
    serve.add_argument("--workers", type=_int_at_least(1), default=1, help="batches run at the same time (default 1)")
    serve.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    serve.set_defaults(run=_cmd_serve)

    webcam = commands.add_parser(
        "webcam", help="real-time style transfer of a camera or video: window or video file",
        description="Capture, inference and encoding run in separate threads; from a camera, frames the model "
        "has no time for are dropped rather than lagging. MODEL is a shipped name, an .onnx or a .pth.",
    )
    source = webcam.add_mutually_exclusive_group()
    source.add_argument("--camera", type=_int_at_least(0), help="camera index (default 0)")
    source.add_argument("--video", help="a video file instead of a camera")
    webcam.add_argument("-m", "--model", required=True, help="shipped model name, .onnx or .pth")
    webcam.add_argument("--out", help="also write the stylised video to this file (.mp4, .m4v, .mov, .mkv, .webm, "
                        ".avi), at the processed size (--max-size), encoded as `pyfast stylize` does (with FFmpeg: H.264, "
                        "VP9 for .webm, Motion JPEG for .avi), with the sound of a --video read to its end with every "
                        "frame kept; Ctrl-C on a camera ends and keeps the recording")
    webcam.add_argument("--no-sound", action="store_true", help="write --out without the --video's sound")
    webcam.add_argument("--no-window", action="store_true", help="headless: only write --out")
    webcam.add_argument("--no-overlay", action="store_true", help="no frame rate / latency text in the window")
    webcam.add_argument("--no-progress", action="store_true", help="no progress bar for a --video")
    webcam.add_argument("--max-size", type=_int_at_least(0), default=640, help="longer side the model runs at, at least 5, or 0: full (default 640)")
    webcam.add_argument("--strength", type=float, default=1.0, help="0..1 blend over the camera image (default 1)")
    webcam.add_argument("--preserve-color", action="store_true", help="keep the camera's colours")
    webcam.add_argument("--realtime", action="store_true", help="play a --video at its frame rate, dropping stale frames")
    webcam.add_argument("--max-frames", type=_int_at_least(1), help="stop after this many frames")
    webcam.add_argument("--provider", default="auto", help="auto, cpu, cuda or tensorrt")
    webcam.add_argument("--threads", type=_int_at_least(1), help="ONNX Runtime CPU threads")
    add_no_fused_option(webcam)
    webcam.set_defaults(run=_cmd_webcam)


def add_export_triton(targets: argparse._SubParsersAction) -> None:
    """Adds ``triton`` under ``pyfast export``."""
    from .._cli import int_at_least as _int_at_least

    triton = targets.add_parser(
        "triton", help="write a Triton Inference Server model repository for ONNX models",
        description="One folder per model: config.pbtxt (inputs/outputs from the ONNX graph, dynamic batching, "
        "instance groups, optional TensorRT) and 1/model.onnx. MODEL is a shipped name or an .onnx file.",
    )
    triton.add_argument("models", nargs="+", metavar="MODEL", help="shipped model name or .onnx")
    triton.add_argument("-o", "--output", required=True, help="repository folder")
    triton.add_argument("--max-batch-size", type=_int_at_least(0), default=8, help="0: no batching (default 8)")
    triton.add_argument("--preferred-batch-size", type=_int_at_least(1), nargs="+", help="default: 4 and 8, those up to --max-batch-size")
    triton.add_argument("--max-queue-delay-us", type=_int_at_least(0), default=2000)
    triton.add_argument("--instances", type=_int_at_least(1), default=1, help="instances per device (default 1)")
    triton.add_argument("--kind", choices=("gpu", "cpu", "auto"), default="gpu", help="instance kind (default gpu)")
    triton.add_argument("--tensorrt", action="store_true", help="use the TensorRT execution accelerator")
    triton.add_argument("--tensorrt-fp32", action="store_true", help="TensorRT in FP32 (default FP16)")
    triton.add_argument("--overwrite", action="store_true", help="replace existing model folders")
    triton.set_defaults(run=_cmd_export_triton)
