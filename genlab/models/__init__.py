"""The three models; each file holds one model and its typed config."""

from genlab.models.classifier import Classifier, ClassifierConfig
from genlab.models.diffusion import DiffusionConfig, DiffusionUNet, LatentDiffusion, LatentDiffusionConfig
from genlab.models.gan import GAN, Discriminator, GANConfig, Generator
from genlab.models.vae import VAE, VAEConfig, VAELoss

MODEL_KINDS = {
    "vae": (VAE, VAEConfig),
    "gan": (GAN, GANConfig),
    "classifier": (Classifier, ClassifierConfig),
    "diffusion": (DiffusionUNet, DiffusionConfig),
    "latent-diffusion": (LatentDiffusion, LatentDiffusionConfig),
}

__all__ = [
    "VAE", "VAEConfig", "VAELoss", "GAN", "GANConfig", "Generator", "Discriminator",
    "Classifier", "ClassifierConfig", "DiffusionConfig", "DiffusionUNet", "LatentDiffusion",
    "LatentDiffusionConfig", "MODEL_KINDS",
]
