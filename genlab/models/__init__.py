"""The three models; each file holds one model and its typed config."""

from genlab.models.classifier import Classifier, ClassifierConfig
from genlab.models.gan import GAN, Discriminator, GANConfig, Generator
from genlab.models.vae import VAE, VAEConfig, VAELoss

MODEL_KINDS = {
    "vae": (VAE, VAEConfig),
    "gan": (GAN, GANConfig),
    "classifier": (Classifier, ClassifierConfig),
}

__all__ = [
    "VAE", "VAEConfig", "VAELoss", "GAN", "GANConfig", "Generator", "Discriminator",
    "Classifier", "ClassifierConfig", "MODEL_KINDS",
]
