"""Loading of the compiled extension ``pyfast._C`` (no torch import here)."""

from __future__ import annotations

from importlib import metadata
from types import ModuleType
from typing import Any

try:
    from . import _C as _compiled

    extension: ModuleType | None = _compiled
    import_error: str | None = None
except ImportError as exc:  # a source checkout that was never built
    extension = None
    import_error = str(exc)


def _package_version() -> str:
    try:
        return metadata.version("pyfast")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_info() -> dict[str, Any]:
    """How the extension was built.

    Returns:
        A dict with at least ``version`` (str), ``cuda_compiled`` (bool),
        ``cuda_archs`` (str, comma-separated CMake architectures, ``""`` without
        CUDA) and ``openmp`` (bool); the compiled extension adds ``cpu_isa``
        (the SIMD level the CPU kernels run with), ``compiled_isas``,
        ``num_threads``, ``cuda_runtime_version`` and ``compiler``. Without
        the extension, ``extension_error`` says why it could not be imported.
    """
    if extension is None:
        return {
            "version": _package_version(),
            "cuda_compiled": False,
            "cuda_archs": "",
            "openmp": False,
            "extension_error": import_error,
        }
    return dict(extension.build_info())
