"""Generator networks of cs231n lecture 13: PixelCNN, DCGAN and VAE — models, training, export, sampling."""

from .dcgan import Discriminator, Generator
from .vae import VAE, elbo_terms
from .pixelcnn import PixelCNN, pixelcnn_loss
from .training import GenTrainConfig, load_model, train_dcgan, train_pixelcnn, train_vae
