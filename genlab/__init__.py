"""Genlab: explore what a VAE and a GAN learned about an image dataset."""

__version__ = "0.1.0"
