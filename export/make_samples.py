"""Recipe: the sample photos in pyfast/data/samples and the painted style images.

Photos come from scikit-image's bundled data (public domain or CC0, see
pyfast/data/samples/README.md), downscaled to 384 pixels on the long side.
Style images are painted by pyfast.data.procedural (deterministic).

    pip install scikit-image && python export/make_samples.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pyfast.data import fit_within, resize, write_image
from pyfast.data.procedural import STYLES

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default="pyfast/data/samples", help="where the photos go")
    parser.add_argument("--styles", default="pyfast/zoo/styles", help="where the style images go")
    parser.add_argument("--max-size", type=int, default=384)
    args = parser.parse_args()

    import skimage.data

    for name in PHOTOS:
        rgb = getattr(skimage.data, name)()
        h, w = fit_within(*rgb.shape[:2], args.max_size)
        print(write_image(Path(args.samples) / f"{name}.jpg", resize(rgb, h, w), quality=90))
    for name, paint in STYLES.items():
        print(write_image(Path(args.styles) / f"{name}.jpg", paint(), quality=90))


if __name__ == "__main__":
    main()
