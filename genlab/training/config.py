"""What a training run is told (TrainConfig), its seeded randomness, precision and schedule."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch

STATE_NAME = "training_state.safetensors"
SAMPLES_DIR = "samples"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint was left untouched."""


@dataclass
class TrainConfig:
    """How to train (not what to train: that is the model config)."""

    dataset: str = "mnist"  # "mnist", "fashion-mnist", "synthetic", a folder of IDX files or of images
    data_dir: str | None = None
    download: bool = False
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    schedule: str = "cosine"  # or "constant"
    seed: int = 0
    device: str = "cpu"
    out: str = ""
    resume: bool = False
    limit: int | None = None  # train on the first `limit` images only (quick runs, tests)
    generator_steps: int = 1  # GAN: generator updates per discriminator update
    lr_discriminator: float | None = None  # GAN: the discriminator's learning rate (default: lr)
    ema_decay: float = 0.999  # GAN: the shipped generator is this moving average of its weights (0: off)
    diffaugment: str = ""  # GAN: DiffAugment policy for what D sees, e.g. "color,translation,cutout"
    r1_gamma: float = 0.0  # GAN: weight of the R1 penalty on D's gradient at real images (0: off)
    r1_every: int = 4  # GAN: apply R1 every this many D steps, scaled up to match (lazy regularization)
    class_weight: float = 1.0  # GAN with class_head="auxiliary": weight of the class losses
    mode_seeking: float = 0.0  # GAN: weight of the mode-seeking term (Mao et al. 2019) in G's loss (0: off)
    progress: bool = True
    mixed_precision: bool = True  # bf16 autocast for the forward passes, on CUDA only


def seeded(seed: int, epoch: int, rank: int = 0, stream: int = 0) -> torch.Generator:
    """A CPU generator for one (seed, epoch, rank, stream): the only source of randomness."""
    return torch.Generator().manual_seed(((seed * 100_003 + epoch) * 1_009 + rank) * 17 + stream)


def randn(shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """Normal noise drawn on the CPU (the same on every device), then moved."""
    return torch.randn(shape, generator=generator).to(device)


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on a CUDA GPU that supports it; a no-op elsewhere (the CPU stays float32).

    bf16 keeps float32's exponent range, so no loss scaling is needed.
    """
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _lr_factor(tc: TrainConfig, progress: float) -> float:
    """Multiplier of each optimizer's base learning rate at `progress` in [0, 1] of the run."""
    if tc.schedule == "cosine":
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0
