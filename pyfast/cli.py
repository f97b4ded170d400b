"""The ``pyfast`` command: thin wrappers over library functions.

Every command has ``--help``; bad input exits with status 2 and a one-line
message on stderr; long work shows a progress bar.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line."""


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
    from .bench.report import write_json

    report = run_kernel_suite(
        device=args.device, warmup=args.warmup, repeats=args.repeats, quick=args.quick, progress=not args.no_progress
    )
    text = format_kernel_report(report)
    print(text)
    if args.json:
        path = write_json(args.json, report)
        print(f"\nwrote {path}")
    if args.markdown:
        from pathlib import Path

        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.markdown}")
    if args.check_targets and not all(t["met"] for t in report["targets"]):
        missed = ", ".join(t["name"] for t in report["targets"] if not t["met"])
        raise UsageError(f"targets missed: {missed}")
    return 0


def _int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
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
    kernels.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    kernels.add_argument("--json", metavar="FILE", help="also write the full results as JSON")
    kernels.add_argument("--markdown", metavar="FILE", help="also write the printed report to FILE")
    kernels.add_argument("--repeats", type=_int_at_least(1), default=9, help="timed repeats per case (default: 9)")
    kernels.add_argument("--warmup", type=_int_at_least(0), default=2, help="untimed runs first (default: 2)")
    kernels.add_argument("--quick", action="store_true", help="tiny shapes: check the harness, not the speed")
    kernels.add_argument("--check-targets", action="store_true", help="exit non-zero if a target is missed")
    kernels.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    kernels.set_defaults(run=_cmd_bench_kernels)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (UsageError, ValueError, TypeError, FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        print(f"pyfast {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyfast: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
