"""Diffusion models by flow matching (rectified flow): a small pixel U-Net, and a latent prior for a VAE.

Flow matching (Lipman et al. 2023; Liu et al. 2023, "rectified flow") joins a data image x0 and
Gaussian noise e by a straight line,

    x_t = (1 - t) * x0 + t * e,    t in [0, 1]  (t = 0: data, t = 1: pure noise),

and trains a network v(x_t, t) to predict the velocity dx_t/dt = e - x0 (a mean-squared error).
Sampling solves the ODE dx/dt = v(x, t) from noise at t = 1 back to t = 0 with a few Euler or
Heun steps, so one seed always gives the same picture. Run forwards (t = 0 -> 1) the same ODE
turns an image into the noise that makes it (`invert`), which is what interpolation needs.

Images outside this file are (B, C, H, W) in [0, 1]; inside, the model works on x = 2 * image - 1
(the "model space", where the noise is N(0, I)). Noise is always drawn on the CPU from a seeded
torch.Generator and then moved to the device, so a seed gives the same picture on any device.

Two models share the solver:
- `DiffusionUNet` (kind "diffusion"): a U-Net over pixels, with `DiffusionConfig`.
- `LatentDiffusion` (kind "latent-diffusion"): a residual MLP over the 16-d codes of a VAE, a
  learned prior that replaces the VAE's N(0, I). Its checkpoint holds only the prior's weights;
  `genlab.checkpoints.load_checkpoint` attaches the VAE named in its config (a folder beside it).
  `LatentDiffusion.decode(e)` maps noise e (B, latent_dim) to images through the prior's ODE and
  the VAE's decoder, so it samples like a VAE or a GAN decoder does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t (B,)) -> v


# --------------------------------------------------------------------------- configs


@dataclass
class DiffusionConfig:
    image_size: int = 28
    channels: int = 1
    base_width: int = 32  # channels at full resolution
    channel_mults: tuple[int, ...] = (1, 2, 2)  # one level per entry; each level after the first halves H, W
    blocks_per_level: int = 1  # residual blocks per level on the way down (and up)
    time_dim: int = 128  # width of the time (and class) embedding
    attention: bool = True  # self-attention in the middle, at the lowest resolution
    num_classes: int = 0  # > 0: class-conditional with a "no class" token (classifier-free guidance)
    dropout: float = 0.0
    sample_steps: int = 10  # the default number of Heun steps of `sample` (2 * steps - 1 evaluations)

    def __post_init__(self) -> None:
        self.channel_mults = tuple(int(m) for m in self.channel_mults)
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}.")
        if not self.channel_mults or min(self.channel_mults) < 1:
            raise ValueError(f"channel_mults must be positive integers, got {self.channel_mults}.")
        factor = 2 ** (len(self.channel_mults) - 1)
        if self.image_size < 4 or self.image_size % factor:
            raise ValueError(f"image_size {self.image_size} must be divisible by {factor} "
                             f"for {len(self.channel_mults)} levels.")
        if self.base_width < 8 or self.base_width % 8:
            raise ValueError(f"base_width must be a multiple of 8 (for GroupNorm), got {self.base_width}.")
        if self.blocks_per_level < 1 or self.time_dim < 8 or self.time_dim % 2:
            raise ValueError("blocks_per_level must be >= 1 and time_dim an even number >= 8.")
        if self.num_classes < 0 or not 0.0 <= self.dropout < 1.0 or self.sample_steps < 1:
            raise ValueError("num_classes must be >= 0, dropout in [0, 1) and sample_steps >= 1.")


@dataclass
class LatentDiffusionConfig:
    vae: str = ""  # the name of the VAE checkpoint folder this prior belongs to (beside this one)
    latent_dim: int = 16
    image_size: int = 28  # the VAE's, so the training loop loads the data the VAE was trained on
    channels: int = 1
    width: int = 256
    depth: int = 4  # residual MLP blocks
    time_dim: int = 64
    sample_steps: int = 20  # the default number of Heun steps of `LatentDiffusion.decode`
    latent_mean: list[float] = field(default_factory=list)  # per-dimension statistics of the VAE's codes,
    latent_std: list[float] = field(default_factory=list)   # the prior works on standardized codes
    latent_noise: float = 0.0  # training codes: mu + latent_noise * sigma * eps (0: the posterior means)

    def __post_init__(self) -> None:
        if self.latent_dim < 1 or self.width < 8 or self.depth < 1 or self.time_dim < 8 or self.time_dim % 2:
            raise ValueError("latent_dim >= 1, width >= 8, depth >= 1 and an even time_dim >= 8 are needed.")
        if self.sample_steps < 1:
            raise ValueError(f"sample_steps must be >= 1, got {self.sample_steps}.")
        for name in ("latent_mean", "latent_std"):
            values = [float(v) for v in getattr(self, name)]
            if values and len(values) != self.latent_dim:
                raise ValueError(f"{name} has {len(values)} values; latent_dim is {self.latent_dim}.")
            setattr(self, name, values)
        if any(s <= 0 for s in self.latent_std):
            raise ValueError("latent_std must be positive.")


# --------------------------------------------------------------------------- building blocks


def timestep_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0) -> torch.Tensor:
    """Sinusoidal embedding of times t (B,) in [0, 1] -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = scale * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, ch // 4) if ch >= 8 else 1, ch)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice; the time embedding scales and shifts the second norm."""

    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2, self.conv2 = _norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head self-attention over the H * W positions of a (B, C, H, W) map."""

    def __init__(self, ch: int, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.norm, self.qkv, self.proj = _norm(ch), nn.Conv2d(ch, 3 * ch, 1), nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, HW, C / heads)
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class _Level(nn.Module):
    def __init__(self, blocks: list[nn.Module], resample: nn.Module | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.resample = resample


class DiffusionUNet(nn.Module):
    """v(x_t, t, labels): x_t (B, C, H, W) in model space, t (B,) in [0, 1], labels (B,) or None
    -> the predicted velocity e - x0, (B, C, H, W)."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        widths = [c.base_width * m for m in c.channel_mults]
        self.time_mlp = nn.Sequential(nn.Linear(c.time_dim, c.time_dim), nn.SiLU(), nn.Linear(c.time_dim, c.time_dim))
        # index num_classes is "no class": what unconditional sampling and guidance use
        self.class_emb = nn.Embedding(c.num_classes + 1, c.time_dim) if c.num_classes else None
        self.stem = nn.Conv2d(c.channels, widths[0], 3, padding=1)
        down, ch = [], widths[0]
        for i, w in enumerate(widths):
            blocks = []
            for _ in range(c.blocks_per_level):
                blocks.append(ResBlock(ch, w, c.time_dim, c.dropout))
                ch = w
            last = i == len(widths) - 1
            down.append(_Level(blocks, None if last else nn.Conv2d(w, w, 3, stride=2, padding=1)))
        self.down = nn.ModuleList(down)
        self.mid1 = ResBlock(ch, ch, c.time_dim, c.dropout)
        self.mid_attn = Attention(ch) if c.attention else nn.Identity()
        self.mid2 = ResBlock(ch, ch, c.time_dim, c.dropout)
        up = []
        for i in reversed(range(len(widths))):
            w = widths[i]
            resample = None if i == len(widths) - 1 else nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch, ch, 3, padding=1))
            blocks = []
            for j in range(c.blocks_per_level):
                blocks.append(ResBlock(ch + w if j == 0 else w, w, c.time_dim, c.dropout))  # first takes the skip
                ch = w
            up.append(_Level(blocks, resample))
        self.up = nn.ModuleList(up)
        self.out_norm, self.out = _norm(ch), nn.Conv2d(ch, c.channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def embed(self, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """(B,) times and labels (None or num_classes: no class) -> (B, time_dim)."""
        emb = self.time_mlp(timestep_embedding(t, self.config.time_dim))
        if self.class_emb is not None:
            if labels is None:
                labels = torch.full((t.shape[0],), self.config.num_classes, dtype=torch.long, device=t.device)
            emb = emb + self.class_emb(labels)
        return emb

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.embed(t.expand(x.shape[0]) if t.dim() == 0 else t, labels)
        h, skips = self.stem(x), []
        for level in self.down:
            for block in level.blocks:
                h = block(h, emb)
            skips.append(h)
            if level.resample is not None:
                h = level.resample(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for level in self.up:
            if level.resample is not None:
                h = level.resample(h)
            h = torch.cat([h, skips.pop()], dim=1)
            for block in level.blocks:
                h = block(h, emb)
        return self.out(F.silu(self.out_norm(h)))


# --------------------------------------------------------------------------- space, noise, loss


def to_model_space(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> x in [-1, 1]."""
    return images * 2.0 - 1.0


def to_image(x: torch.Tensor) -> torch.Tensor:
    """A model-space state x (any shape) -> a picture in [0, 1] (clamped)."""
    return ((x + 1.0) / 2.0).clamp(0.0, 1.0)


def draw_noise(shape: tuple[int, ...], generator: torch.Generator | None = None,
               device: str | torch.device = "cpu") -> torch.Tensor:
    """N(0, I) noise drawn on the CPU (the same for a seed on every device), then moved."""
    return torch.randn(shape, generator=generator).to(device)


def add_noise(x0: torch.Tensor, t: float | torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The forward process: images x0 (B, C, H, W) in [0, 1], t a float or (B,) in [0, 1], noise
    like x0 -> x_t = (1 - t) (2 x0 - 1) + t noise, in model space (`to_image` shows it)."""
    t = torch.as_tensor(t, dtype=x0.dtype, device=x0.device)
    if t.dim() == 1:
        t = t.view(-1, *([1] * (x0.dim() - 1)))
    return (1.0 - t) * to_model_space(x0) + t * noise.to(x0.device)


def flow_matching_loss(model: nn.Module, x0: torch.Tensor, generator: torch.Generator | None = None,
                       labels: torch.Tensor | None = None, class_dropout: float = 0.1) -> torch.Tensor:
    """Mean squared error of the velocity predicted at a random time of each image.

    x0: (B, C, H, W) images in [0, 1]; labels (B,) for a class-conditional model, dropped to "no
    class" with probability `class_dropout` (so the same model samples unconditionally). Times are
    logit-normal (Esser et al. 2024), which favours the middle times where the task is hardest.
    """
    b = x0.shape[0]
    x = to_model_space(x0)
    noise = draw_noise(tuple(x.shape), generator, x.device)
    t = torch.sigmoid(torch.randn(b, generator=generator)).to(x.device)
    if labels is not None and getattr(model.config, "num_classes", 0):
        drop = (torch.rand(b, generator=generator) < class_dropout).to(x.device)
        labels = torch.where(drop, torch.full_like(labels, model.config.num_classes), labels)
    else:
        labels = None
    tb = t.view(-1, *([1] * (x.dim() - 1)))
    xt = (1.0 - tb) * x + tb * noise
    pred = model(xt, t, labels) if labels is not None else model(xt, t)
    return F.mse_loss(pred.float(), (noise - x).float())


# --------------------------------------------------------------------------- the ODE solver


def time_grid(steps: int, start: float = 1.0, end: float = 0.0) -> torch.Tensor:
    """steps + 1 evenly spaced times from `start` to `end`."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    return torch.linspace(start, end, steps + 1)


@torch.no_grad()
def integrate(velocity: VelocityFn, x: torch.Tensor, times: torch.Tensor, method: str = "heun",
              callback: Callable[[int, float, torch.Tensor, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Solve dx/dt = velocity(x, t) along `times` (decreasing: towards data; increasing: towards
    noise) with Euler or Heun (Heun: 2 evaluations a step, 1 on the last step towards t = 0).
    callback(i, t, x, x0_hat) after step i sees the state and the predicted clean x0."""
    if method not in ("euler", "heun"):
        raise ValueError(f"method must be 'euler' or 'heun', got {method!r}.")
    for i in range(len(times) - 1):
        t, t_next = float(times[i]), float(times[i + 1])
        dt = t_next - t
        tb = torch.full((x.shape[0],), t, device=x.device)
        v = velocity(x, tb)
        x_next = x + dt * v
        if method == "heun" and t_next > 0.0:  # the last step onto the data side stays Euler
            v_next = velocity(x_next, torch.full_like(tb, t_next))
            x_next = x + dt * 0.5 * (v + v_next)
        if callback is not None:
            callback(i, t_next, x_next, x - t * v)
        x = x_next
    return x


def _velocity(model: nn.Module, labels: torch.Tensor | None = None, guidance: float = 1.0) -> VelocityFn:
    """The model as a velocity field, with classifier-free guidance when labels are given."""
    def v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if labels is None:
            return model(x, t)
        lab = labels.to(x.device)
        if guidance == 1.0:
            return model(x, t, lab)
        uncond = torch.full_like(lab, model.config.num_classes)
        both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([lab, uncond]))
        cond, free = both.chunk(2)
        return free + guidance * (cond - free)
    return v


def _check_labels(model: nn.Module, labels: torch.Tensor | None, n: int) -> torch.Tensor | None:
    if labels is None:
        return None
    if not getattr(model.config, "num_classes", 0):
        raise ValueError("This diffusion model is unconditional; it takes no labels.")
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if len(labels) != n:
        raise ValueError(f"Got {len(labels)} labels for {n} images.")
    return labels


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _eval(model: nn.Module) -> Callable[[], None]:
    was = model.training
    model.eval()
    return lambda: model.train(was)


# --------------------------------------------------------------------------- pixel model: sampling


@torch.no_grad()
def generate(model: DiffusionUNet, noise: torch.Tensor, steps: int | None = None, labels: torch.Tensor | None = None,
             guidance: float = 1.0, method: str = "heun", batch_size: int = 256) -> torch.Tensor:
    """Noise (B, C, H, W) in model space -> images (B, C, H, W) in [0, 1] by the ODE (t = 1 -> 0)."""
    steps = steps or model.config.sample_steps
    labels = _check_labels(model, labels, noise.shape[0])
    restore, device, out = _eval(model), _device(model), []
    try:
        for i in range(0, noise.shape[0], batch_size):
            lab = labels[i:i + batch_size] if labels is not None else None
            x = integrate(_velocity(model, lab, guidance), noise[i:i + batch_size].to(device), time_grid(steps), method)
            out.append(to_image(x))
    finally:
        restore()
    return torch.cat(out)


@torch.no_grad()
def sample(model: DiffusionUNet, n: int, steps: int | None = None, generator: torch.Generator | None = None,
           device: str | torch.device = "cpu", labels: torch.Tensor | None = None, guidance: float = 1.0,
           method: str = "heun", batch_size: int = 256, temperature: float = 1.0) -> torch.Tensor:
    """n samples (n, C, H, W) in [0, 1]. Unconditional unless `labels` (n,) are given (then
    classifier-free guidance with weight `guidance`). Deterministic for a seeded generator: the
    noise is drawn on the CPU, then moved to `device` (the model's device should match).
    `temperature` < 1 scales the starting noise down: fewer odd samples, less variety (as a
    GAN's truncation); 1 is the model's own distribution."""
    c = model.config
    noise = draw_noise((n, c.channels, c.image_size, c.image_size), generator) * temperature
    return generate(model, noise.to(device), steps, labels, guidance, method, batch_size)


@torch.no_grad()
def invert(model: DiffusionUNet, images: torch.Tensor, steps: int | None = None, labels: torch.Tensor | None = None,
           method: str = "heun") -> torch.Tensor:
    """Images (B, C, H, W) in [0, 1] -> the noise (B, C, H, W) in model space that the ODE turns
    back into them (deterministic; `generate(model, invert(model, x))` is close to x)."""
    steps = steps or model.config.sample_steps
    labels = _check_labels(model, labels, images.shape[0])
    restore = _eval(model)
    try:
        x = to_model_space(images.to(_device(model)))
        return integrate(_velocity(model, labels), x, time_grid(steps, 0.0, 1.0), method)
    finally:
        restore()


@dataclass
class Trajectory:
    """The reverse process of `denoise_trajectory`: times (S + 1,) from 1 to 0; states and the
    predicted clean images at each time, (S + 1, B, C, H, W) in [0, 1] (states[0] is the noise)."""

    times: torch.Tensor
    states: torch.Tensor
    predictions: torch.Tensor

    @property
    def images(self) -> torch.Tensor:
        """The final samples (B, C, H, W)."""
        return self.states[-1]


@torch.no_grad()
def denoise_trajectory(model: DiffusionUNet, n: int = 1, steps: int | None = None,
                       generator: torch.Generator | None = None, device: str | torch.device = "cpu",
                       noise: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                       guidance: float = 1.0, method: str = "heun") -> Trajectory:
    """Sample n images (or from `noise` (B, C, H, W)) and keep every intermediate x_t (a
    "reverse process" strip). The same seed and steps give the same final images as `sample`."""
    c = model.config
    steps = steps or c.sample_steps
    if noise is None:
        noise = draw_noise((n, c.channels, c.image_size, c.image_size), generator)
    labels = _check_labels(model, labels, noise.shape[0])
    x = noise.to(device)
    states, preds = [to_image(x)], [to_image(x)]

    def keep(i: int, t: float, state: torch.Tensor, x0_hat: torch.Tensor) -> None:
        states.append(to_image(state))
        preds.append(to_image(x0_hat))

    restore = _eval(model)
    try:
        x = integrate(_velocity(model, labels, guidance), x, time_grid(steps), method, keep)
    finally:
        restore()
    preds[0] = preds[1]  # at t = 1 the first prediction is the best guess there is
    return Trajectory(time_grid(steps), torch.stack(states), torch.stack(preds))


@torch.no_grad()
def inpaint(model: DiffusionUNet, image: torch.Tensor, hidden: torch.Tensor, steps: int | None = None,
            generator: torch.Generator | None = None, resample: int = 1, labels: torch.Tensor | None = None,
            guidance: float = 1.0) -> torch.Tensor:
    """Fill the hidden pixels of `image` ((C, H, W) or (B, C, H, W) in [0, 1]); `hidden` (H, W) or
    broadcastable to the images, True where a pixel is hidden (genlab.inpainting's convention).

    ODE-guided replacement (after RePaint, Lugmayr et al. 2022, with the deterministic sampler):
    after every step the visible pixels are replaced by the known image noised to that time with
    the run's own starting noise; with resample > 1 each step is redone after stepping back up
    with fresh noise, which blends the fill with the visible part. Visible pixels come back
    unchanged. Returns the filled images, shaped like `image`, in [0, 1]."""
    single = image.dim() == 3
    x0 = image[None] if single else image
    device = _device(model)
    x0 = x0.to(device)
    hide = torch.as_tensor(hidden, dtype=torch.bool).to(device).expand_as(x0)
    steps = steps or model.config.sample_steps
    labels = _check_labels(model, labels, x0.shape[0])
    noise = draw_noise(tuple(x0.shape), generator, device)
    known = to_model_space(x0)
    velocity = _velocity(model, labels, guidance)
    times = time_grid(steps)
    x = noise.clone()  # t = 1: all noise
    restore = _eval(model)
    try:
        for i in range(steps):
            t, t_next = float(times[i]), float(times[i + 1])
            for r in range(max(1, resample)):
                x_next = integrate(velocity, x, torch.tensor([t, t_next]), "heun")
                x_next = torch.where(hide, x_next, (1 - t_next) * known + t_next * noise)
                if r < resample - 1 and t_next < t:  # step back up: x_t from x_{t_next} with fresh noise
                    a = (1 - t) / (1 - t_next) if t_next < 1 else 1.0
                    s = math.sqrt(max(t ** 2 - (a * t_next) ** 2, 0.0))
                    fresh = draw_noise(tuple(x.shape), generator, device)
                    x = torch.where(hide, a * x_next + s * fresh, (1 - t) * known + t * noise)
                else:
                    x = x_next
    finally:
        restore()
    out = torch.where(hide, to_image(x), x0)
    return out[0] if single else out


# --------------------------------------------------------------------------- latent prior


class _MLPBlock(nn.Module):
    def __init__(self, width: int, emb_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.emb = nn.Linear(emb_dim, 2 * width)
        self.fc1, self.fc2 = nn.Linear(width, 2 * width), nn.Linear(2 * width, width)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.emb(F.silu(emb)).chunk(2, dim=1)
        return h + self.fc2(F.silu(self.fc1(self.norm(h) * (1 + scale) + shift)))


class LatentDiffusion(nn.Module):
    """A flow-matching prior over a VAE's latent codes: v(z_t, t), z_t (B, latent_dim) standardized
    codes, t (B,) -> velocity (B, latent_dim). The VAE itself is attached with `attach_vae` (it is
    not part of this module's weights); `decode(e)` then maps noise e (B, latent_dim) to images."""

    def __init__(self, config: LatentDiffusionConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.time_mlp = nn.Sequential(nn.Linear(c.time_dim, c.time_dim), nn.SiLU(), nn.Linear(c.time_dim, c.time_dim))
        self.inp = nn.Linear(c.latent_dim, c.width)
        self.blocks = nn.ModuleList(_MLPBlock(c.width, c.time_dim) for _ in range(c.depth))
        self.out_norm, self.out = nn.LayerNorm(c.width), nn.Linear(c.width, c.latent_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        mean = torch.tensor(c.latent_mean) if c.latent_mean else torch.zeros(c.latent_dim)
        std = torch.tensor(c.latent_std) if c.latent_std else torch.ones(c.latent_dim)
        self.register_buffer("latent_mean", mean.float(), persistent=False)  # from the config, not the weights
        self.register_buffer("latent_std", std.float(), persistent=False)
        self.__dict__["vae"] = None  # kept out of the module tree: not in state_dict, not moved by .to()

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def attach_vae(self, vae: nn.Module) -> "LatentDiffusion":
        """Use `vae` (a genlab VAE whose latent_dim matches) to encode and decode."""
        if vae.latent_dim != self.config.latent_dim:
            raise ValueError(f"The VAE has a {vae.latent_dim}-d latent; this prior is {self.config.latent_dim}-d.")
        self.__dict__["vae"] = vae
        return self

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t.expand(z.shape[0]) if t.dim() == 0 else t, self.config.time_dim))
        h = self.inp(z)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(F.silu(self.out_norm(h)))

    def standardize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.latent_mean) / self.latent_std

    def unstandardize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.latent_std + self.latent_mean

    @torch.no_grad()
    def noise_to_latent(self, noise: torch.Tensor, steps: int | None = None, method: str = "heun") -> torch.Tensor:
        """Noise (B, latent_dim) -> VAE codes (B, latent_dim) by the prior's ODE (t = 1 -> 0)."""
        restore = _eval(self)
        try:
            z = integrate(self, noise.to(self.latent_mean.device), time_grid(steps or self.config.sample_steps), method)
        finally:
            restore()
        return self.unstandardize(z)

    @torch.no_grad()
    def latent_to_noise(self, z: torch.Tensor, steps: int | None = None, method: str = "heun") -> torch.Tensor:
        """VAE codes (B, latent_dim) -> the noise the ODE maps to them (for interpolation)."""
        restore = _eval(self)
        try:
            return integrate(self, self.standardize(z.to(self.latent_mean.device)),
                             time_grid(steps or self.config.sample_steps, 0.0, 1.0), method)
        finally:
            restore()

    def _need_vae(self) -> nn.Module:
        if self.vae is None:
            raise ValueError(f"No VAE is attached to this latent prior (it belongs to {self.config.vae!r}); "
                             f"load it with genlab.checkpoints.load_checkpoint or call attach_vae.")
        return self.vae

    @torch.no_grad()
    def decode(self, noise: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Noise (B, latent_dim) ~ N(0, I) -> images (B, C, H, W) in [0, 1] (prior ODE, then the VAE)."""
        vae = self._need_vae()
        z = self.noise_to_latent(noise, steps)
        return vae.decode(z.to(next(vae.parameters()).device))

    @torch.no_grad()
    def encode(self, images: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] -> noise (B, latent_dim): the VAE's mean code run up the ODE."""
        vae = self._need_vae()
        mu, _ = vae.encode(images.to(next(vae.parameters()).device))
        return self.latent_to_noise(mu, steps)

    def loss(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Flow-matching loss on VAE codes z (B, latent_dim) (not yet standardized)."""
        x = self.standardize(z)
        noise = draw_noise(tuple(x.shape), generator, x.device)
        t = torch.sigmoid(torch.randn(x.shape[0], generator=generator)).to(x.device)
        xt = (1 - t[:, None]) * x + t[:, None] * noise
        return F.mse_loss(self(xt, t), noise - x)


@torch.no_grad()
def sample_latent(prior: LatentDiffusion, n: int, steps: int | None = None, generator: torch.Generator | None = None,
                  device: str | torch.device = "cpu", temperature: float = 1.0) -> torch.Tensor:
    """n images (n, C, H, W) in [0, 1] from the VAE through its latent prior; deterministic per seed."""
    noise = draw_noise((n, prior.config.latent_dim), generator) * temperature
    return prior.decode(noise.to(device), steps)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
