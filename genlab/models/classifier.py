"""A small CNN classifier, used to find attribute directions and to measure samples.

image (B, C, H, W) in [0, 1] -> features (B, feature_dim) -> class logits (B, num_classes).
The features (the penultimate layer) are the space where Frechet distance, precision and
recall and perceptual path length are measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genlab.models.common import check_image_shape


@dataclass
class ClassifierConfig:
    image_size: int = 28
    channels: int = 1
    num_classes: int = 10
    width: int = 32
    feature_dim: int = 128
    dropout: float = 0.3

    def __post_init__(self) -> None:
        check_image_shape(self.image_size, self.channels)
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}.")


def _conv_block(c_in: int, c_out: int, convs: int = 2) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class Classifier(nn.Module):
    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.body = nn.Sequential(
            _conv_block(config.channels, w, convs=1),  # one conv at full size keeps it cheap
            _conv_block(w, 2 * w),
            _conv_block(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * w, config.feature_dim),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.feature_dim, config.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) in [0, 1] -> penultimate features (B, feature_dim)."""
        return self.body(x * 2.0 - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) in [0, 1] -> class logits (B, num_classes)."""
        return self.head(self.dropout(self.features(x)))
