"""Pieces shared by the command modules of ``pyfast`` (pyfast/cli.py and ``<area>/commands.py``)."""

from __future__ import annotations

import argparse
import math

from ._checks import MAX_SEED


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line."""


def max_size_option(value: int, minimum: int) -> int | None:
    """A ``--max-size`` given as 0 (no limit: None) or at least ``minimum`` pixels.

    Raises:
        UsageError: 1 .. ``minimum`` - 1, named as the option.
    """
    if 0 < value < minimum:
        raise UsageError(f"--max-size must be 0 (no limit) or at least {minimum}, got {value}")
    return value or None


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2; unrecognised arguments are reported
    by the (sub)command that could not use them ("pyfast explain class-vis: error: ...")."""

    _EXTRAS_PROG = "_pyfast_prog_with_extras"

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and not hasattr(namespace, self._EXTRAS_PROG):  # the innermost subcommand comes first
            setattr(namespace, self._EXTRAS_PROG, self.prog)
        return namespace, extras

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            prog = getattr(namespace, self._EXTRAS_PROG, self.prog)
            self.exit(2, f"{prog}: error: unrecognized arguments: {' '.join(extras)}\n")
        return namespace


def finish_report(args: argparse.Namespace, report: dict, text: str) -> int:
    """Prints a suite's report and writes the requested JSON/markdown files."""
    from pathlib import Path

    from .bench.report import write_json

    print(text)
    if args.json:
        print(f"\nwrote {write_json(args.json, report)}")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.markdown}")
    return 0


def int_at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``."""
    return int_between(minimum, None)


def int_between(minimum: int, maximum: int | None):
    """An argparse type: an integer in ``minimum..maximum`` (no upper bound when ``maximum`` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"expected an integer <= {maximum}, got {value}")
        return value

    return parse


def seed() -> object:
    """An argparse type for random seeds: an integer in 0..2**32-1."""
    return int_between(0, MAX_SEED)


def finite_float(text: str) -> float:
    """An argparse type: a finite number (no nan or inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0 (loss weights)."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """--json / --markdown / --no-progress, as every ``pyfast bench`` suite takes them."""
    parser.add_argument("--json", metavar="FILE", help="also write the full results as JSON")
    parser.add_argument("--markdown", metavar="FILE", help="also write the printed report to FILE")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_no_fused_option(parser: argparse.ArgumentParser) -> None:
    """``--no-fused``: the Engine's ``fused`` argument is then False (see :func:`fused_choice`)."""
    parser.add_argument("--no-fused", action="store_true",
                        help="on the CPU, run ONNX Runtime's own graph instead of pyfast's fused kernels (to compare)")


def fused_choice(args: argparse.Namespace) -> bool | None:
    """The Engine's ``fused`` argument for ``--no-fused``: False, or None (the fused path where it runs)."""
    return False if args.no_fused else None


def output_folder(text: str):
    """An argparse type: a folder to write into (it may not exist yet, but must not be a file)."""
    from pathlib import Path

    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} exists and is not a folder")
    return path


def writes_into(attribute: str):
    """Decorator for a command that writes into the folder ``args.<attribute>`` when its work is
    done: the folder is made and checked writable first, so a bad one fails before minutes of
    work, and it is removed again if the command leaves it empty."""
    import functools

    def wrap(run):
        @functools.wraps(run)
        def checked(args: argparse.Namespace) -> int:
            from ._files import output_folders

            with output_folders([getattr(args, attribute)]):
                return run(args)

        return checked

    return wrap
