"""The style models shipped with pyfast (the "zoo"), listed in zoo.json.

Each entry has weights (``<name>.pth``, pytorch/examples format), an ONNX
export (``<name>.onnx``) and the style image it was trained on; the recipe that
rebuilds them is ``export/train_zoo.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ZOO_DIR = Path(__file__).parent


@dataclass(frozen=True)
class StyleEntry:
    name: str
    description: str
    style_image: Path
    weights: Path
    onnx: Path
    width: float
    trained: str  # how it was trained, one line


def list_styles() -> list[StyleEntry]:
    """The shipped style models, in zoo.json's order."""
    index = ZOO_DIR / "zoo.json"
    if not index.is_file():
        return []
    entries = json.loads(index.read_text(encoding="utf-8"))
    return [
        StyleEntry(e["name"], e["description"], ZOO_DIR / e["style_image"], ZOO_DIR / e["weights"],
                   ZOO_DIR / e["onnx"], float(e["width"]), e["trained"])
        for e in entries
    ]


def get_style(name: str) -> StyleEntry:
    """The shipped model ``name``. Raises ValueError listing the valid names."""
    styles = {s.name: s for s in list_styles()}
    if name not in styles:
        raise ValueError(f"unknown style model {name!r}; shipped models: {', '.join(styles) or 'none'}")
    return styles[name]


def names_a_file(spec: str, suffixes: tuple[str, ...]) -> bool:
    """Whether a model argument means a file rather than a shipped model's name: it is a file,
    ends in one of ``suffixes`` or has a folder in it. A bare name means the shipped model even
    when a folder of that name is in the working directory."""
    path = Path(spec)
    return path.is_file() or path.suffix.lower() in suffixes or len(path.parts) > 1


def resolve_model(spec: str) -> Path:
    """An ONNX file for ``spec``: a shipped model's name or a path to an .onnx file.

    Raises:
        FileNotFoundError: a path that does not exist. ValueError: neither a name nor a path.
    """
    if not names_a_file(spec, (".onnx",)):
        return get_style(spec).onnx
    if Path(spec).is_dir():
        raise ValueError(f"{spec} is a folder; give an .onnx file or a shipped model's name")
    if not Path(spec).is_file():
        raise FileNotFoundError(f"no such model file: {spec}")
    return Path(spec)
