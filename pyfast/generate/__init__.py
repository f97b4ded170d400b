"""Generator networks of cs231n lecture 13: PixelCNN, DCGAN and VAE — models, training, export, sampling."""

from .dcgan import Discriminator, Generator
from .pixelcnn import PixelCNN, pixelcnn_loss
from .training import GenTrainConfig, load_model, train_dcgan, train_pixelcnn, train_vae
from .vae import VAE, elbo_terms

__all__ = ["Discriminator", "GenTrainConfig", "Generator", "PixelCNN", "VAE", "elbo_terms", "load_model",
           "pixelcnn_loss", "train_dcgan", "train_pixelcnn", "train_vae"]
