"""Shared fixtures: tiny model configs, a quick TrainConfig, paths of the real datasets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run from a checkout without installing genlab
    sys.path.insert(0, str(REPO_ROOT))

from genlab.models import ClassifierConfig, GANConfig, VAEConfig  # noqa: E402
from genlab.training import TrainConfig  # noqa: E402

PYTHON = sys.executable
# The data shipped in the repository (data/README.md): the tests need nothing outside it.
MNIST_SUBSET_DIR = REPO_ROOT / "data" / "mnist"  # the MNIST 10k subset, both splits
FASHION_MNIST_DIR = REPO_ROOT / "data" / "fashion-mnist"  # Fashion-MNIST, both splits

# One intra-op thread: tiny models gain nothing from more, and on a 2-core machine shared with
# training jobs a second thread makes each step ~10x slower (threads wait on each other).
# Subprocesses get the same through OMP_NUM_THREADS.
torch.set_num_threads(1)
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def tiny_config(kind: str, image_size: int = 28, channels: int = 1, **overrides):
    """The smallest sensible model config of `kind`, for fast tests; `overrides` replace fields."""
    tiny = {
        "vae": (VAEConfig, dict(latent_dim=4, base_width=8, hidden_dim=32)),
        "gan": (GANConfig, dict(latent_dim=8, generator_width=8, discriminator_width=8)),
        "classifier": (ClassifierConfig, dict(num_classes=4, width=8, feature_dim=16)),
    }
    config_cls, fields = tiny[kind]
    return config_cls(image_size=image_size, channels=channels, **{**fields, **overrides})


def quick_train_config(out: Path, **overrides) -> TrainConfig:
    """Synthetic data, 64 images, 4 steps per epoch, no progress bar."""
    values = dict(dataset="synthetic", epochs=2, batch_size=16, lr=1e-3, limit=64, seed=0,
                  out=str(out), progress=False)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT
