"""Fast neural style transfer (Johnson et al. 2016): losses, training, checkpoints."""

from .checkpoint import load_checkpoint, save_model
from .losses import LossWeights, PerceptualLoss

__all__ = ["LossWeights", "PerceptualLoss", "load_checkpoint", "save_model"]
