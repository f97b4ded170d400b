"""``pyfast demo``: every shipped style on every sample photo, as a contact sheet plus timings.

Runs on ONNX Runtime only (no torch needed).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from .bench.report import markdown_table
from .data import read_image, resize, sample_images, write_image
from .runtime import Engine
from .runtime.stylize import Stylizer
from .zoo import list_styles

CELL = 224  # contact-sheet cell height in pixels


def _cell(rgb: np.ndarray, height: int = CELL) -> np.ndarray:
    h, w = rgb.shape[:2]
    return resize(rgb, height, max(1, round(w * height / h)))


def _label(rgb: np.ndarray, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    im = Image.fromarray(rgb)
    draw = ImageDraw.Draw(im)
    box = draw.textbbox((0, 0), text)
    draw.rectangle((0, 0, box[2] + 8, box[3] + 6), fill=(0, 0, 0))
    draw.text((4, 2), text, fill=(255, 255, 255))
    return np.asarray(im)


def _pad_to(rgb: np.ndarray, width: int) -> np.ndarray:
    out = np.full((rgb.shape[0], width, 3), 255, np.uint8)
    out[:, : rgb.shape[1]] = rgb
    return out


def contact_sheet(rows: list[list[np.ndarray]], gap: int = 4) -> np.ndarray:
    """Grid of image cells (same height per row); columns padded to their widest cell."""
    n_cols = max(len(r) for r in rows)
    widths = [max(r[c].shape[1] for r in rows if c < len(r)) for c in range(n_cols)]
    lines = []
    for r in rows:
        cells = [_pad_to(cell, widths[c]) for c, cell in enumerate(r)]
        spacer = np.full((cells[0].shape[0], gap, 3), 255, np.uint8)
        line = np.concatenate([x for c in cells for x in (c, spacer)][:-1], 1)
        lines.append(line)
        lines.append(np.full((gap, line.shape[1], 3), 255, np.uint8))
    width = max(line.shape[1] for line in lines)
    return np.concatenate([_pad_to(line, width) for line in lines[:-1]], 0)


def run_demo(out: str | os.PathLike = "out/demo", provider: str = "auto", progress: bool = True) -> str:
    """Stylises the sample photos with each shipped style; returns a markdown report.

    Writes ``out/<style>/<photo>.jpg``, ``out/contact_sheet.png`` and ``out/timings.md``.

    Raises:
        ValueError: no shipped styles or samples.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    styles, photos = list_styles(), sample_images()
    if not styles or not photos:
        raise ValueError("this installation ships no style models or no sample photos")
    contents = [read_image(p).rgb for p in photos]
    header = [_label(np.full((CELL, CELL, 3), 255, np.uint8), "content \\ style")]
    columns: list[list[np.ndarray]] = []
    timing_rows = []
    for style in tqdm(styles, desc="demo", unit="style", disable=not progress):
        header.append(_label(_cell(read_image(style.style_image).rgb), style.name))
        engine = Engine(style.onnx, providers=provider)
        stylizer = Stylizer(engine)
        column, per_image = [], []
        for path, rgb in zip(photos, contents):
            stylizer(rgb[None])  # warm-up at this size
            start = time.perf_counter()
            styled = stylizer(rgb[None])[0]
            per_image.append((time.perf_counter() - start) * 1e3)
            write_image(out / style.name / f"{path.stem}.jpg", styled)
            column.append(_cell(styled))
        frame = np.random.default_rng(0).integers(0, 256, (1, 480, 640, 3), dtype=np.uint8)
        stylizer(frame)
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            stylizer(frame)
            runs.append(time.perf_counter() - start)
        columns.append(column)
        timing_rows.append([style.name, style.width, engine.backend, round(statistics.mean(per_image), 1),
                            round(1.0 / statistics.median(runs), 1)])
    rows = [header] + [[_label(_cell(rgb), path.stem)] + [col[i] for col in columns] for i, (path, rgb) in enumerate(zip(photos, contents))]
    sheet = write_image(out / "contact_sheet.png", contact_sheet(rows))
    table = markdown_table(["style", "width", "backend", "ms / sample photo (≤384 px)", "frames/s at 640x480"], timing_rows)
    (out / "timings.md").write_text(table + "\n", encoding="utf-8")
    return f"{table}\n\nwrote {sheet} and {len(styles) * len(photos)} stylised photos under {out}"
