"""A DCGAN-style generator and a spectrally normalized discriminator.

Generator: z (B, latent_dim) [+ class labels] -> image (B, C, H, W) in [0, 1].
Discriminator: image (B, C, H, W) [+ labels] -> real/fake logit (B,).
With `classes_from_latent` the generator reads its class from z itself (the largest of the first
num_classes coordinates), so it is a function of z ~ N(0, I) alone, like an unconditional one, yet
each class gets its own region of the latent space: the generator no longer has to bend one
connected latent space across the gaps between the classes, where malformed digits come from.
Spectral normalization caps each discriminator layer's Lipschitz constant, the
stabilizer this lesson contrasts with a plain DCGAN; `spectral_norm=False` turns it off.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.common import base_resolution, check_image_shape, num_stages

LOSSES = ("non-saturating", "hinge")
CLASS_HEADS = ("projection", "auxiliary")


@dataclass
class GANConfig:
    image_size: int = 28
    channels: int = 1
    latent_dim: int = 32
    generator_width: int = 64  # channels of the last generator stage; doubled going back up
    discriminator_width: int = 64  # channels of the first discriminator stage
    spectral_norm: bool = True
    loss: str = "non-saturating"  # or "hinge"
    num_classes: int = 0  # > 0 makes both networks class-conditional
    # With num_classes: the class is argmax(z[:num_classes]) rather than a label passed in, so the
    # generator needs z only (uniform classes under N(0, I)); the discriminator still sees labels.
    classes_from_latent: bool = False
    # How D uses the classes: "projection" (its real/fake score depends on the label; Miyato & Koyama
    # 2018) or "auxiliary" (an unconditional real/fake score plus a class head trained on real images,
    # whose verdict the generator must match, as in AC-GAN (Odena et al. 2017) without the fake-image
    # class loss for D). On 800 digits a class, the projection collapses each class to one image.
    class_head: str = "projection"
    # 3x3 convolutions added at each resolution (0 = the plain DCGAN layout). They give the
    # generator room to draw strokes after each upsampling (less checkerboard) and the spectrally
    # normalized discriminator enough capacity to keep telling real from fake.
    refine_convs: int = 1
    # Minibatch standard deviation (Karras et al. 2018): D's last feature map gets one more channel,
    # the features' standard deviation across groups of this many images. D can then tell a batch
    # that is too alike from a real one, and G is pushed to draw the data's variety. 0: off.
    minibatch_std: int = 0

    def __post_init__(self) -> None:
        check_image_shape(self.image_size, self.channels)
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be at least 1, got {self.latent_dim}.")
        if self.refine_convs < 0:
            raise ValueError(f"refine_convs must be 0 or more, got {self.refine_convs}.")
        if self.minibatch_std < 0 or self.minibatch_std == 1:
            raise ValueError(f"minibatch_std is a group size of 2 or more (0: off), got {self.minibatch_std}.")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}.")
        if self.class_head not in CLASS_HEADS:
            raise ValueError(f"class_head must be one of {CLASS_HEADS}, got {self.class_head!r}.")
        if self.classes_from_latent and not 2 <= self.num_classes <= self.latent_dim:
            raise ValueError(f"classes_from_latent needs 2 to latent_dim ({self.latent_dim}) classes, "
                             f"got num_classes={self.num_classes}.")

    @property
    def needs_labels(self) -> bool:
        """True when the generator must be given class labels (conditional, class not read from z)."""
        return bool(self.num_classes) and not self.classes_from_latent


class Generator(nn.Module):
    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        stages = num_stages(config.image_size)
        self._res = base_resolution(config.image_size)
        widths = [config.generator_width * 2**i for i in range(stages)][::-1]  # e.g. [128, 64]
        self._top_width = widths[0]
        in_dim = config.latent_dim
        if config.num_classes:
            self.class_embedding = nn.Embedding(config.num_classes, config.latent_dim)
            in_dim += config.latent_dim
        self.project = nn.Sequential(
            nn.Linear(in_dim, widths[0] * self._res**2, bias=False),
            nn.BatchNorm1d(widths[0] * self._res**2),
            nn.ReLU(),
        )
        blocks: list[nn.Module] = []
        refine = config.refine_convs
        # With refinement the last upsampling keeps half the channels and a 3x3 conv draws the
        # pixels; without it the last transposed convolution outputs the image (plain DCGAN).
        outs = widths[1:] + ([max(widths[-1] // 2, 8)] if refine else [])
        for i, (w_in, w_out) in enumerate(zip(widths, outs)):
            blocks += [
                nn.ConvTranspose2d(w_in, w_out, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.ReLU(),
            ]
            if i < len(outs) - 1:  # refine every intermediate resolution
                for _ in range(refine):
                    blocks += [nn.Conv2d(w_out, w_out, 3, padding=1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU()]
        if refine:
            blocks += [nn.Conv2d(outs[-1], config.channels, 3, padding=1)]
        else:
            blocks += [nn.ConvTranspose2d(widths[-1], config.channels, 4, stride=2, padding=1)]
        self.blocks = nn.Sequential(*blocks)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def top_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the feature map that `project` is reshaped to before `blocks`."""
        return (self._top_width, self._res, self._res)

    def latent_classes(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, latent_dim) -> the class (B,) long that a classes_from_latent generator draws."""
        return z[:, :self.config.num_classes].argmax(1)

    def input_of(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """What `project` reads: z (B, latent_dim), with the class embedding appended when conditional.

        A classes_from_latent generator takes its labels from z when none are given."""
        if not self.config.num_classes:
            return z
        if labels is None:
            if not self.config.classes_from_latent:
                raise ValueError("This generator is class-conditional: pass labels.")
            labels = self.latent_classes(z)
        return torch.cat([z, self.class_embedding(labels)], dim=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z: (B, latent_dim), labels: (B,) long or None -> images (B, C, H, W) in [0, 1]."""
        h = self.project(self.input_of(z, labels)).view(-1, self._top_width, self._res, self._res)
        return torch.sigmoid(self.blocks(h))


class Discriminator(nn.Module):
    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        sn = nn.utils.spectral_norm if config.spectral_norm else (lambda m: m)
        stages = num_stages(config.image_size)
        res = base_resolution(config.image_size)
        widths = [config.discriminator_width * 2**i for i in range(stages)]
        layers: list[nn.Module] = []
        in_ch = config.channels
        if config.refine_convs:  # look at full resolution first
            layers += [sn(nn.Conv2d(in_ch, widths[0] // 2, 3, padding=1)), nn.LeakyReLU(0.2)]
            in_ch = widths[0] // 2
        for i, w in enumerate(widths):
            layers += [sn(nn.Conv2d(in_ch, w, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            in_ch = w
            if i < len(widths) - 1:  # the smallest map goes straight to the linear layer
                for _ in range(config.refine_convs):
                    layers += [sn(nn.Conv2d(w, w, 3, padding=1)), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self._channels = widths[-1] + (1 if config.minibatch_std else 0)
        self.to_logit = sn(nn.Linear(self._channels * res * res, 1))
        self._projection = bool(config.num_classes) and config.class_head == "projection"
        if self._projection:
            # Projection discriminator: the class term is the inner product of a class embedding with
            # the features summed over positions, as in the paper.
            self.class_embedding = sn(nn.Embedding(config.num_classes, self._channels))
        elif config.num_classes:
            self.class_logits = sn(nn.Linear(self._channels * res * res, config.num_classes))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                with_classes: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x: (B, C, H, W) in [0, 1] -> logits (B,); higher means 'real'. A projection D needs the
        labels (B,); an auxiliary one ignores them and, with_classes, also returns its class logits (B, k)."""
        h = self.features(x * 2.0 - 1.0)
        if self.config.minibatch_std:
            h = minibatch_std(h, self.config.minibatch_std)
        h = h.flatten(1)
        out = self.to_logit(h).squeeze(1)
        if self._projection:
            if labels is None:
                raise ValueError("This discriminator is class-conditional: pass labels.")
            pooled = h.view(h.shape[0], self._channels, -1).sum(2)  # (B, channels)
            out = out + (self.class_embedding(labels) * pooled).sum(1)
        if with_classes:
            if not hasattr(self, "class_logits"):
                raise ValueError("This discriminator has no class head (class_head='auxiliary').")
            return out, self.class_logits(h)
        return out


def minibatch_std(h: torch.Tensor, group_size: int) -> torch.Tensor:
    """h (B, C, H, W) -> (B, C + 1, H, W): each image gets the mean standard deviation of the
    features over its group of consecutive images (`group_size`, or the largest size below it that
    divides B). The training step puts its real images, then as many fakes, through D in one batch,
    so with a batch size that is a multiple of the group size no group mixes real and fake."""
    b, _, height, width = h.shape
    group = next(n for n in range(min(group_size, b), 0, -1) if b % n == 0)
    grouped = h.float().view(b // group, group, *h.shape[1:])  # (B / G, G, C, H, W)
    std = (grouped.var(1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B / G,)
    stat = std.repeat_interleave(group).view(b, 1, 1, 1).expand(b, 1, height, width).to(h.dtype)
    return torch.cat([h, stat], dim=1)


@torch.no_grad()
def recalibrate_batchnorm(generator: Generator, batches: int = 16, batch_size: int = 128, seed: int = 0) -> Generator:
    """Recompute the BatchNorm running statistics of `generator` from its own samples, in place.

    A moving average of a generator's weights produces activations with other statistics than the
    live generator whose running statistics it would otherwise carry; in eval mode those stale
    statistics distort its samples. Averages exactly (momentum None) over batches x batch_size
    samples drawn with a seeded generator, so the result is reproducible. Returns `generator`.
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return generator
    device = next(generator.parameters()).device
    was_training = generator.training
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
    generator.train()
    g = torch.Generator().manual_seed(seed)
    k = generator.config.num_classes if generator.config.needs_labels else 0
    for _ in range(batches):
        z = torch.randn((batch_size, generator.config.latent_dim), generator=g).to(device)
        labels = torch.randint(0, k, (batch_size,), generator=g).to(device) if k else None
        generator(z, labels)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    generator.train(was_training)
    return generator


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Loss the discriminator minimizes, given logits (B,) on real and generated images."""
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Loss the generator minimizes (non-saturating: -log D(G(z)); hinge: -D(G(z)))."""
    if kind == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()


class GAN(nn.Module):
    """Generator and discriminator kept together so one checkpoint holds both."""

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z: (B, latent_dim) -> images (B, C, H, W) in [0, 1]; same name as VAE.decode."""
        return self.generator(z, labels)
