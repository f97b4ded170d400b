"""Content images for training: a folder of images, cropped to squares."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data import list_images, read_image, resize


class ContentImages(Dataset):
    """Images below ``folder`` as (3, size, size) float tensors on the 0-255 scale.

    Args:
        folder: searched recursively for image files.
        size: side of the square crops.
        augment: random crops of 60-100 % of the shorter side and horizontal
            flips (for small folders); otherwise a centre crop of the whole
            shorter side, as in pytorch/examples.
        seed: base seed of the augmentation (item i of epoch e is reproducible).
        exclude: folders below ``folder`` to leave out (the run's own output folder).

    Raises:
        FileNotFoundError: missing folder. ValueError: no image files in it.
    """

    def __init__(self, folder: str | os.PathLike, size: int = 256, augment: bool = False, seed: int = 0,
                 exclude: Sequence[str | os.PathLike] = ()) -> None:
        self.folder = folder
        self.paths = list_images(folder, exclude)
        if not self.paths:
            raise ValueError(f"no images found in {folder}")
        if size < 16:
            raise ValueError(f"image size must be >= 16, got {size}")
        self.size = size
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, index: int) -> np.ndarray:
        for offset in range(len(self.paths)):
            i = (index + offset) % len(self.paths)
            if i in self._bad:
                continue
            try:
                return read_image(self.paths[i]).rgb
            except ValueError as exc:
                self._bad.add(i)
                warnings.warn(f"skipping unreadable training image: {exc}", RuntimeWarning, stacklevel=2)
        raise ValueError(f"no readable images in {self.folder} ({len(self.paths)} image file(s) tried)")

    def __getitem__(self, index: int) -> torch.Tensor:
        rgb = self._load(index)
        h, w = rgb.shape[:2]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        side = min(h, w)
        if self.augment:
            side = max(1, int(side * rng.uniform(0.6, 1.0)))
            top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        else:
            top, left = (h - side) // 2, (w - side) // 2
        crop = resize(np.ascontiguousarray(rgb[top : top + side, left : left + side]), self.size, self.size)
        if self.augment and rng.random() < 0.5:
            crop = crop[:, ::-1]
        return torch.from_numpy(np.array(crop, dtype=np.uint8)).permute(2, 0, 1).float()


def image_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float on the 0-255 scale."""
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1).unsqueeze(0).float()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) 0-255 floats -> (B, H, W, 3) uint8, clipped."""
    return images.detach().clamp(0, 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
