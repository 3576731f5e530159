"""Latent-space operations, apart from any UI: sampling, interpolation, directions, inversion.

Every function takes and returns plain tensors; latents are (B, latent_dim) float32.
Randomness comes from a seeded CPU `torch.Generator`, so a seed gives the same latent, and the
same picture, on any device. Models are only read: functions that run a model put it in eval
mode for the call and restore its mode afterwards, and never change its weights.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

MAX_INTERPOLATION_STEPS = 64
# `decode` clamps latents to +-this: decoders saturate long before, and float32 layers overflow to NaN
# near 1e38. (The app refuses latents beyond +-50 anyway.)
DECODE_LIMIT = 1e4
INTERPOLATION_MODES = ("linear", "spherical")
DIRECTION_METHODS = ("mean-difference", "linear-boundary")


def sample_latents(count: int, latent_dim: int, seed: int, scale: float = 1.0,
                   device: str | torch.device = "cpu") -> torch.Tensor:
    """`count` draws from N(0, scale^2 I) -> (count, latent_dim), the same for a seed on any device."""
    g = torch.Generator().manual_seed(int(seed))
    return (torch.randn((count, latent_dim), generator=g) * scale).to(device)


# --------------------------------------------------------------------------- helpers


def _module_device(module: nn.Module) -> torch.device:
    """Where a module's weights live (CPU for a module without any)."""
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def _as_model(model: object) -> nn.Module:
    """A genlab Checkpoint (anything with a `.model`) or a bare module -> the module."""
    if not isinstance(model, nn.Module) and isinstance(getattr(model, "model", None), nn.Module):
        return model.model  # type: ignore[attr-defined]
    return model  # type: ignore[return-value]


def _generator_of(gan: object) -> nn.Module:
    model = _as_model(gan)
    return model.generator if hasattr(model, "generator") else model


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run `module` in eval mode (BatchNorm uses its running statistics), then restore its mode."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def _unit(v: torch.Tensor, what: str = "direction") -> torch.Tensor:
    norm = v.norm()
    if not torch.isfinite(norm) or norm <= 1e-12:
        raise ValueError(f"The {what} is zero: there is nothing to point along.")
    return v / norm


# --------------------------------------------------------------------------- interpolation


def _as_weight(t: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """t as a tensor that broadcasts against latents: a vector of T weights becomes (T, 1)."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim >= 1 and t.shape[-1] != 1:
        t = t.unsqueeze(-1)
    return t


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear interpolation z0 + t (z1 - z0).

    z0, z1: (..., D). t: a float, or a tensor of weights; a vector (T,) of weights is treated as
    (T, 1), so lerp(z0 (D,), z1 (D,), linspace(0, 1, T)) -> (T, D).
    """
    w = _as_weight(t, z0)
    return z0 + w * (z1 - z0)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float, eps: float = 1e-4) -> torch.Tensor:
    """Spherical interpolation: the angle moves uniformly on the great circle from z0 to z1.

    The norm is interpolated linearly, so both endpoints are hit exactly and, for endpoints of equal
    norm, every point stays on that sphere (a Gaussian latent of dimension D lives near the sphere of
    radius sqrt(D); the straight line cuts inside it, where a generator has seen few latents).
    Nearly parallel (or zero) endpoints fall back to `lerp`. Shapes as in `lerp`.
    """
    w = _as_weight(t, z0)
    n0 = z0.norm(dim=-1, keepdim=True)
    n1 = z1.norm(dim=-1, keepdim=True)
    u0 = z0 / n0.clamp_min(1e-12)
    u1 = z1 / n1.clamp_min(1e-12)
    cos = (u0 * u1).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    sin_omega = torch.sin(omega)
    safe = (sin_omega > eps) & (n0 > 1e-12) & (n1 > 1e-12)
    sin_safe = torch.where(safe, sin_omega, torch.ones_like(sin_omega))
    direction = (torch.sin((1 - w) * omega) * u0 + torch.sin(w * omega) * u1) / sin_safe
    spherical = direction * ((1 - w) * n0 + w * n1)
    out = torch.where(safe, spherical, lerp(z0, z1, t))
    # Exact endpoints (the trigonometry above is only exact to rounding).
    out = torch.where(w == 0, z0.expand_as(out), out)
    return torch.where(w == 1, z1.expand_as(out), out)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str = "linear") -> torch.Tensor:
    """z0, z1: (D,) -> (steps, D) evenly spaced from z0 to z1, both endpoints included.

    mode: "linear" (also "lerp") or "spherical" (also "slerp").
    """
    if isinstance(steps, bool) or int(steps) != steps or not 2 <= steps <= MAX_INTERPOLATION_STEPS:
        raise ValueError(f"steps must be a whole number from 2 to {MAX_INTERPOLATION_STEPS}, got {steps}.")
    if z0.shape != z1.shape or z0.ndim != 1:
        raise ValueError(f"Both latents must have the same shape (D,), got {tuple(z0.shape)} and {tuple(z1.shape)}.")
    t = torch.linspace(0.0, 1.0, int(steps), dtype=z0.dtype, device=z0.device)
    key = {"lerp": "linear", "slerp": "spherical"}.get(mode, mode)
    if key == "linear":
        return lerp(z0, z1, t)
    if key == "spherical":
        return slerp(z0, z1, t)
    raise ValueError(f"mode must be one of {INTERPOLATION_MODES}, got {mode!r}.")


def edit_strip(z: torch.Tensor, direction: torch.Tensor, strength: float, steps: int) -> torch.Tensor:
    """z, direction: (D,) -> (steps, D) evenly spaced from z - strength*d to z + strength*d.

    The direction is used as given (the directions in this module are unit vectors, so `strength`
    is a distance in latent space). An odd `steps` puts z itself in the middle.
    """
    if isinstance(steps, bool) or int(steps) != steps or not 2 <= steps <= MAX_INTERPOLATION_STEPS:
        raise ValueError(f"steps must be a whole number from 2 to {MAX_INTERPOLATION_STEPS}, got {steps}.")
    if z.shape != direction.shape or z.ndim != 1:
        raise ValueError(f"z and direction must both be (D,), got {tuple(z.shape)} and {tuple(direction.shape)}.")
    amounts = torch.linspace(-float(strength), float(strength), int(steps), dtype=z.dtype, device=z.device)
    return z + amounts[:, None] * direction.to(z)


# --------------------------------------------------------------------------- encoding and inversion


@torch.no_grad()
def encode(vae: nn.Module, images: torch.Tensor, device: str | torch.device = "cpu",
           batch_size: int = 1024) -> torch.Tensor:
    """images (B, C, H, W) in [0, 1] -> the posterior means mu (B, D), on `device`.

    The work runs where the VAE's weights are, in batches of `batch_size`.
    """
    vae = _as_model(vae)
    model_device = _module_device(vae)
    out = []
    with _eval_mode(vae):
        for start in range(0, images.shape[0], batch_size):
            mu, _ = vae.encode(images[start:start + batch_size].to(model_device, torch.float32))
            out.append(mu)
    if not out:
        return torch.zeros((0, vae.latent_dim), device=device)
    return torch.cat(out).to(device)


@torch.no_grad()
def decode(model: nn.Module, z: torch.Tensor, device: str | torch.device = "cpu",
           batch_size: int = 1024, labels: torch.Tensor | None = None) -> torch.Tensor:
    """z (B, D) -> images (B, C, H, W) in [0, 1] for a VAE or an unconditional/conditional GAN, on `device`.

    Entries beyond +-DECODE_LIMIT are clamped to it, so any finite latent gives a valid image.
    """
    model = _as_model(model)
    model_device = _module_device(model)
    out = []
    with _eval_mode(model):
        for start in range(0, z.shape[0], batch_size):
            zb = z[start:start + batch_size].to(model_device, torch.float32).clamp(-DECODE_LIMIT, DECODE_LIMIT)
            if labels is not None:
                out.append(model.decode(zb, labels[start:start + batch_size].to(model_device)))
            else:
                out.append(model.decode(zb))
    return torch.cat(out).to(device) if out else torch.zeros((0,), device=device)


@dataclass
class InversionResult:
    latents: torch.Tensor  # (B, D) the best z found for each image
    reconstructions: torch.Tensor  # (B, C, H, W) G(z) for those latents
    errors: torch.Tensor  # (B,) per-image mean squared error of the reconstructions
    seconds: float  # wall-clock time of the optimization


class _Adam:
    """Adam (Kingma & Ba 2015) on one tensor, in place.

    Written out rather than torch.optim.Adam, whose first use imports torch._dynamo (seconds of
    start-up on a small CPU); Adam is elementwise, so each latent follows its own path in a batch.
    """

    def __init__(self, param: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.param, self.lr, self.betas, self.eps, self.t = param, lr, betas, eps, 0
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        m_hat = self.m / (1 - b1**self.t)
        v_hat = self.v / (1 - b2**self.t)
        self.param.sub_(self.lr * m_hat / (v_hat.sqrt() + self.eps))


class Plateau:
    """Says when a search has stopped improving: the mean of the last `window` losses is within
    `tolerance` (relative) of the mean of the `window` before. `tolerance=None` never stops."""

    def __init__(self, tolerance: float | None, window: int = 10) -> None:
        self.tolerance, self.window, self.history = tolerance, window, []

    def reached(self, loss: float) -> bool:
        if self.tolerance is None:
            return False
        self.history.append(float(loss))
        w = self.window
        if len(self.history) < 2 * w:
            return False
        recent, before = sum(self.history[-w:]) / w, sum(self.history[-2 * w:-w]) / w
        return before - recent <= self.tolerance * abs(before)


def invert(gan: nn.Module, images: torch.Tensor, steps: int = 200, restarts: int = 4, lr: float = 0.05,
           seed: int = 0, device: str | torch.device = "cpu",
           progress: Callable[[int, int], None] | None = None,
           prior_weight: float = 1e-3, pixel_weights: torch.Tensor | None = None,
           tolerance: float | None = None, starts: torch.Tensor | None = None) -> InversionResult:
    """Find z with G(z) close to each image: GAN inversion by optimization (Zhu et al. 2016).

    images: (B, C, H, W) in [0, 1] -> InversionResult with latents (B, D).
    Minimizes  mean((G(z) - x)^2) + prior_weight * ||z||^2 / D  with Adam over z alone, from
    `restarts` random starts per image, all optimized together as one batch of B * restarts; the
    prior term keeps z near the shell where N(0, I) latents live, so the result stays in-distribution.
    Keeps, per image, the z with the lowest reconstruction error seen at any step. The generator runs
    in eval mode, on its own device; its weights are never changed (gradients are taken for z only).
    `progress(step, steps)` is called about 50 times, and once at the end. Results are on `device`.
    pixel_weights: None (every pixel counts the same) or non-negative weights that broadcast to
    `images`, e.g. a (1, 1, H, W) 0/1 mask of the known pixels for inpainting; the error is then the
    weighted mean  sum(w (G(z) - x)^2) / sum(w)  per image, in the search and in `errors`.
    tolerance: stop before `steps` once the best errors' mean has fallen by less than this share
    over the last 10 steps (`Plateau`); None runs every step.
    starts: (restarts * B, D) starting latents, restart-major (e.g. from `bank_starts`); None: drawn here.
    """
    generator = _generator_of(gan)
    if getattr(generator.config, "needs_labels", False):
        raise ValueError("Inversion works with unconditional GANs only; this one is class-conditional.")
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}.")
    cfg = generator.config
    if tuple(images.shape[1:]) != (cfg.channels, cfg.image_size, cfg.image_size):
        raise ValueError(
            f"This GAN makes {cfg.channels}x{cfg.image_size}x{cfg.image_size} images; "
            f"got {tuple(images.shape[1:])}."
        )
    if int(steps) < 1 or int(restarts) < 1:
        raise ValueError(f"steps and restarts must be at least 1, got {steps} and {restarts}.")
    steps, restarts = int(steps), int(restarts)
    model_device = _module_device(generator)
    b, dim = images.shape[0], generator.latent_dim
    start_time = time.perf_counter()

    target = images.to(model_device, torch.float32).repeat(restarts, 1, 1, 1)  # restart-major: (R*B, C, H, W)
    weights = None if pixel_weights is None else _pixel_weights(pixel_weights, images.shape, model_device)

    def error_of(x: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) pictures and targets -> (N,) (weighted) mean squared error."""
        squared = (x - goal).pow(2)
        if weights is None:
            return squared.flatten(1).mean(1)
        w = weights.repeat(x.shape[0] // b, 1, 1, 1)
        return (squared * w).flatten(1).sum(1) / w.flatten(1).sum(1)

    g = torch.Generator().manual_seed(int(seed))
    if starts is not None:
        if tuple(starts.shape) != (restarts * b, dim):
            raise ValueError(f"starts must be ({restarts * b}, {dim}), got {tuple(starts.shape)}.")
        z = starts.detach().clone().float()
    elif getattr(generator.config, "classes_from_latent", False):
        # The class is argmax(z[:k]) and no gradient crosses from one class's region to another's:
        # start from the best-matching of a few latents of every class instead of blind draws.
        z = _class_starts(generator, target[:b], weights, restarts, g)
    else:
        # One draw per restart, so restart r starts from the same z whatever the number of restarts.
        z = torch.cat([torch.randn((b, dim), generator=g) for _ in range(restarts)])
    z = z.to(model_device).requires_grad_(True)
    adam = _Adam(z, lr)
    best_z = z.detach().clone()
    best_err = torch.full((restarts * b,), float("inf"), device=model_device)
    report_every = max(1, steps // 50)
    plateau = Plateau(tolerance)

    with _eval_mode(generator):
        for step in range(steps + 1):
            x = generator(z)
            err = error_of(x, target)  # (R*B,) reconstruction error of the current z
            with torch.no_grad():
                better = err < best_err
                best_err = torch.where(better, err.detach(), best_err)
                best_z = torch.where(better[:, None], z.detach(), best_z)
            if step == steps or plateau.reached(best_err.mean()):
                if progress is not None and step < steps:
                    progress(steps, steps)  # stopped early: the search is done
                break  # the last step only measures
            # Summed over the batch, so each latent's gradient is its own loss's gradient.
            loss = (err + prior_weight * z.pow(2).mean(1)).sum()
            (grad,) = torch.autograd.grad(loss, [z])
            adam.step(grad)
            if progress is not None and ((step + 1) % report_every == 0 or step + 1 == steps):
                progress(step + 1, steps)

        # Best restart per image.
        errors, which = best_err.view(restarts, b).min(0)
        latents = best_z.view(restarts, b, dim)[which, torch.arange(b, device=model_device)]
        with torch.no_grad():
            reconstructions = generator(latents)
            errors = error_of(reconstructions, target[:b])
    return InversionResult(latents.detach().to(device), reconstructions.to(device), errors.to(device),
                           time.perf_counter() - start_time)


CLASS_START_CANDIDATES = 16  # latents per class tried as starts when a GAN reads its class from z (one batch)
def _class_balanced(pool: torch.Tensor, k: int) -> torch.Tensor:
    """Latents (N, D) of a generator that reads its class as argmax(z[:k]), with row r made of class
    r % k by swapping the largest of its first k coordinates into place (in place; returned)."""
    rows = torch.arange(len(pool))
    classes, top = rows % k, pool[:, :k].argmax(1)
    wanted, largest = pool[rows, classes].clone(), pool[rows, top].clone()
    pool[rows, classes], pool[rows, top] = largest, wanted
    return pool


BANK_SIZE = 2048  # latents and their pictures kept per generator for `bank_starts`
_banks: "weakref.WeakKeyDictionary[nn.Module, tuple[torch.Tensor, torch.Tensor]]" = weakref.WeakKeyDictionary()
_banks_lock = threading.Lock()


@torch.no_grad()
def start_bank(gan: nn.Module, size: int = BANK_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """(latents (N, D), pictures (N, C, H, W)) of `size` seeded draws, made once per generator and
    kept: the candidates `bank_starts` picks from. A class-reading generator gets as many of each class."""
    generator = _generator_of(gan)
    with _banks_lock:
        if generator in _banks:
            return _banks[generator]
        g = torch.Generator().manual_seed(12345)
        dim = generator.latent_dim
        pool = torch.randn((size, dim), generator=g)
        if getattr(generator.config, "classes_from_latent", False):
            pool = _class_balanced(pool, generator.config.num_classes)
        pool = pool.to(_module_device(generator))
        with _eval_mode(generator):
            pictures = torch.cat([generator(part) for part in pool.split(256)])
        _banks[generator] = (pool, pictures)
        return pool, pictures


@torch.no_grad()
def bank_starts(gan: nn.Module, images: torch.Tensor, pixel_weights: torch.Tensor | None = None, seed: int = 0,
                choose_from: int = 4, jitter: float = 0.1) -> torch.Tensor:
    """Starting latents (B, D) for inverting `images` (B, C, H, W): for each row, one of the
    `choose_from` bank pictures (`start_bank`) closest to it (weighted mean squared error, weights as
    `invert`'s pixel_weights), picked by a generator seeded with `seed`, and never one an earlier row
    took: copies of one image (inpainting's fills) start from different, good guesses. Each start is
    moved by `jitter` times seeded Gaussian noise, so that every seed gives its own starts."""
    generator = _generator_of(gan)
    pool, pictures = start_bank(generator)
    device = pictures.device
    x = images.to(device, torch.float32)
    w = torch.ones_like(x) if pixel_weights is None else _pixel_weights(pixel_weights, x.shape, device)
    flat, wf = pictures.flatten(1), w.flatten(1)
    # sum over pixels of w * (p - x)^2 for every (row, candidate), as one matrix product
    errors = ((wf * x.flatten(1) ** 2).sum(1, keepdim=True) - 2 * (wf * x.flatten(1)) @ flat.T
              + wf @ (flat ** 2).T) / wf.sum(1, keepdim=True)
    g = torch.Generator().manual_seed(int(seed))
    taken: set[int] = set()
    chosen = []
    for row in errors:
        order = [int(i) for i in row.argsort() if int(i) not in taken][:choose_from]
        pick = order[int(torch.randint(len(order), (1,), generator=g))]
        taken.add(pick)
        chosen.append(pick)
    noise = torch.randn((len(chosen), pool.shape[1]), generator=g).to(device)
    return (pool[chosen] + jitter * noise).to(images.device)


@torch.no_grad()
def _class_starts(generator: nn.Module, images: torch.Tensor, weights: torch.Tensor | None, restarts: int,
                  g: torch.Generator) -> torch.Tensor:
    """Starting latents (restarts * B, D), restart-major, for a classes_from_latent generator: of
    CLASS_START_CANDIDATES seeded latents per class (the class set by swapping the largest of the
    first k coordinates into place), each image (B, C, H, W) keeps the `restarts` that match it best
    (mean squared error, weighted by `weights` (B, C, H, W) as `invert`'s pixel_weights)."""
    k, dim, b = generator.config.num_classes, generator.latent_dim, images.shape[0]
    pool = _class_balanced(torch.randn((k * CLASS_START_CANDIDATES, dim), generator=g), k).to(images.device)
    pictures = torch.cat([generator(part) for part in pool.split(256)])  # (P, C, H, W)
    errors = []
    for i in range(b):
        squared = (pictures - images[i]).pow(2).flatten(1)
        w = None if weights is None else weights[i].flatten()
        errors.append(squared.mean(1) if w is None else (squared * w).sum(1) / w.sum())
    errors = torch.stack(errors)  # (B, P)
    best = errors.topk(min(restarts, len(pool)), dim=1, largest=False).indices  # (B, R')
    starts = pool[best]  # (B, R', D)
    if starts.shape[1] < restarts:  # more restarts than candidates: fill with plain draws
        extra = torch.randn((b, restarts - starts.shape[1], dim), generator=g).to(images.device)
        starts = torch.cat([starts, extra], dim=1)
    return starts.transpose(0, 1).reshape(restarts * b, dim)


def _pixel_weights(pixel_weights: torch.Tensor, shape: torch.Size, device: torch.device) -> torch.Tensor:
    """`invert`'s pixel_weights checked and broadcast to `shape` (B, C, H, W), as float32 on `device`."""
    w = torch.as_tensor(pixel_weights).to(device, torch.float32)
    try:
        w = torch.broadcast_to(w, shape)
    except RuntimeError:
        raise ValueError(f"pixel_weights of shape {tuple(w.shape)} do not fit images of shape {tuple(shape)}.") from None
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError("pixel_weights must be finite and non-negative.")
    if bool((w.flatten(1).sum(1) <= 0).any()):
        raise ValueError("pixel_weights leave an image with no pixel to match: give some pixel a positive weight.")
    return w


# --------------------------------------------------------------------------- directions


def _orient(components: torch.Tensor) -> torch.Tensor:
    """Flip each row so its largest-magnitude entry is positive: SVD signs are otherwise arbitrary."""
    idx = components.abs().argmax(dim=1, keepdim=True)
    signs = torch.sign(components.gather(1, idx))
    return components * torch.where(signs == 0, torch.ones_like(signs), signs)


def principal_directions(latents: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PCA: latents (N, D) -> (components (k, D) orthonormal rows, variances (k,) descending).

    Computed with an SVD of the centred data; each component's sign is fixed so that its
    largest entry is positive (the same answer on every run).
    """
    if latents.ndim != 2:
        raise ValueError(f"latents must be (N, D), got shape {tuple(latents.shape)}.")
    n, d = latents.shape
    if not 1 <= k <= min(n, d):
        raise ValueError(f"k must be from 1 to min(N, D) = {min(n, d)}, got {k}.")
    x = latents.double()
    x = x - x.mean(0, keepdim=True)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    variances = s[:k].pow(2) / max(n - 1, 1)
    return _orient(vh[:k]).to(latents.dtype), variances.to(latents.dtype)


def _top_principal_axes(x: torch.Tensor, k: int, seed: int, oversample: int = 10,
                        iterations: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k principal axes of centred data x (N, F) -> (axes (F, k) orthonormal, variances (k,)).

    Randomized subspace iteration (Halko et al. 2011) with a seeded sketch: the cost is a few
    (N, F) x (F, k + oversample) products instead of a full SVD of a 4000 x 6272 matrix.
    """
    n, f = x.shape
    width = min(k + oversample, n, f)
    g = torch.Generator().manual_seed(int(seed))
    q = torch.linalg.qr(x @ torch.randn((f, width), generator=g, dtype=x.dtype).to(x.device)).Q  # (N, width)
    for _ in range(iterations):
        q = torch.linalg.qr(x.T @ q).Q  # (F, width)
        q = torch.linalg.qr(x @ q).Q  # (N, width)
    _, s, vh = torch.linalg.svd(q.T @ x, full_matrices=False)  # small: (width, F)
    return vh[:k].T, s[:k].pow(2) / max(n - 1, 1)


@torch.no_grad()
def gan_space_directions(gan: nn.Module, k: int = 8, num_samples: int = 4000,
                         seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """GANSpace (Härkönen et al. 2020) for a generator without a mapping network.

    Returns (directions (k, D) unit vectors in z, variances (k,) descending): PCA of the first
    layer's activations y = generator.project(z) over `num_samples` sampled z finds the main axes
    of variation V; each sample's PCA coordinates x = V^T (y - mean) are then transferred to z by
    least squares, U = argmin sum ||U x_j - z_j||^2, as the paper does for BigGAN. Column i of U
    is the z direction that moves the i-th principal coordinate; the variances are those of the
    activation PCA. Results are on CPU.
    """
    generator = _generator_of(gan)
    if getattr(generator.config, "needs_labels", False):
        raise ValueError("GANSpace directions here need an unconditional GAN; this one is class-conditional.")
    dim = generator.latent_dim
    if not 1 <= k <= dim:
        raise ValueError(f"k must be from 1 to the latent size {dim}, got {k}.")
    if num_samples < 2 * dim or num_samples < k + 1:
        raise ValueError(f"num_samples must be at least {max(2 * dim, k + 1)}, got {num_samples}.")
    model_device = _module_device(generator)
    z = sample_latents(num_samples, dim, seed)
    with _eval_mode(generator):
        feats = torch.cat([generator.project(generator.input_of(z[i:i + 1024].to(model_device))).cpu()
                           for i in range(0, num_samples, 1024)])
    feats = feats.flatten(1).float()  # float32: (4000, 6272) is 100 MB, and the sketch needs no more precision
    feats = feats - feats.mean(0, keepdim=True)
    components, variances = _top_principal_axes(feats, k, seed)  # (F, k), (k,)
    components = _orient(components.T).T
    coords = (feats @ components).double()  # (N, k)
    u = torch.linalg.lstsq(coords, z.double()).solution  # (k, D): coords @ u ~ z
    directions = u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return directions.float(), variances.float()


def kl_order(kl_per_dim: Sequence[float] | torch.Tensor) -> list[int]:
    """Dimension indices, most active first (largest average KL to the prior); ties keep index order."""
    values = torch.as_tensor(kl_per_dim, dtype=torch.float64).flatten()
    return torch.sort(-values, stable=True).indices.tolist()


def _two_groups(latents: torch.Tensor, scores: torch.Tensor,
                quantile: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(positives, negatives) latents: explicit groups for boolean/0-1 scores, else top and bottom quantiles."""
    scores = torch.as_tensor(scores, device=latents.device).flatten()
    if scores.shape[0] != latents.shape[0]:
        raise ValueError(f"Got {latents.shape[0]} latents but {scores.shape[0]} scores.")
    if scores.dtype == torch.bool or bool(((scores == 0) | (scores == 1)).all()):
        positive = scores.bool()
        negative = ~positive
    else:
        if not 0.0 < quantile <= 0.5:
            raise ValueError(f"quantile must be in (0, 0.5], got {quantile}.")
        s = scores.double()
        if not torch.isfinite(s).all():
            raise ValueError("The scores must be finite numbers.")
        low, high = torch.quantile(s, quantile), torch.quantile(s, 1.0 - quantile)
        if high <= low:
            raise ValueError("The scores hardly vary, so there is no direction to find.")
        positive, negative = s >= high, s <= low
    if not positive.any() or not negative.any():
        raise ValueError("Both groups need at least one example (some with the attribute, some without).")
    return latents[positive], latents[negative]


def _logistic_normal(pos: torch.Tensor, neg: torch.Tensor, l2: float = 1e-3, iterations: int = 100) -> torch.Tensor:
    """Normal (D,) of a logistic-regression boundary between two groups of latents, pointing to `pos`.

    Fitted by Newton's method (IRLS) with a backtracking line search, on standardized latents, with
    balanced class weights and a small L2 penalty on w (which keeps it finite when the groups are
    separable): the loss is convex and D is small, so this converges in a few dozen exact steps.
    The normal is mapped back to the original coordinates (w_i / sigma_i), since the boundary is
    w . (z - mu) / sigma + b = 0.
    """
    x = torch.cat([pos, neg]).double()
    y = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).double().to(x.device)
    weights = torch.where(y == 1, 0.5 / len(pos), 0.5 / len(neg))
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
    xs = torch.cat([(x - mean) / std, torch.ones_like(y)[:, None]], dim=1)  # last column: the bias
    penalty = torch.full((xs.shape[1],), l2, dtype=x.dtype, device=x.device)
    penalty[-1] = 0.0  # the bias is not penalized

    def loss_of(theta: torch.Tensor) -> torch.Tensor:
        logits = xs @ theta
        bce = nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        return (weights * bce).sum() + (penalty * theta.pow(2)).sum()

    theta = torch.zeros(xs.shape[1], dtype=x.dtype, device=x.device)
    loss = loss_of(theta)
    for _ in range(iterations):
        p = torch.sigmoid(xs @ theta)
        grad = xs.T @ (weights * (p - y)) + 2 * penalty * theta
        hessian = (xs.T * (weights * p * (1 - p))) @ xs + torch.diag(2 * penalty + 1e-12)
        step = torch.linalg.solve(hessian, grad)
        scale = 1.0
        while scale > 1e-6:  # backtrack until the loss decreases
            candidate = theta - scale * step
            new_loss = loss_of(candidate)
            if new_loss <= loss:
                break
            scale *= 0.5
        else:
            break
        theta, previous, loss = candidate, loss, new_loss
        if float(previous - loss) < 1e-12 * max(1.0, float(loss.abs())):
            break
    return (theta[:-1] / std).to(pos.dtype)


def attribute_direction(latents: torch.Tensor, scores: torch.Tensor, method: str = "mean-difference",
                        quantile: float = 0.2) -> torch.Tensor:
    """A unit direction (D,) in latent space along which `scores` grow.

    latents: (N, D). scores: (N,) numbers (the top and bottom `quantile` of latents by score form
    the two groups), or booleans / 0-1 values giving two explicit groups (positives vs negatives,
    e.g. examples a user picked).
    method: "mean-difference" (mean of the positives minus mean of the negatives) or
    "linear-boundary" (InterFaceGAN, Shen et al. 2020: the normal of a logistic-regression boundary
    between the groups, pointing to the positives).
    """
    if latents.ndim != 2:
        raise ValueError(f"latents must be (N, D), got shape {tuple(latents.shape)}.")
    pos, neg = _two_groups(latents, scores, quantile)
    if method == "mean-difference":
        return _unit(pos.mean(0) - neg.mean(0))
    if method == "linear-boundary":
        return _unit(_logistic_normal(pos, neg))
    raise ValueError(f"method must be one of {DIRECTION_METHODS}, got {method!r}.")


def class_direction(latents: torch.Tensor, labels: torch.Tensor, target: int, source: int | None = None,
                    method: str = "mean-difference") -> torch.Tensor:
    """Unit direction (D,) towards "more like class `target`".

    Contrasted with every other class, or with class `source` alone when given (source -> target,
    e.g. sneaker -> ankle boot). latents (N, D), labels (N,) int.
    """
    labels = torch.as_tensor(labels, device=latents.device).flatten()
    if labels.shape[0] != latents.shape[0]:
        raise ValueError(f"Got {latents.shape[0]} latents but {labels.shape[0]} labels.")
    is_target = labels == int(target)
    if not is_target.any():
        raise ValueError(f"There are no examples of class {target}.")
    if source is None:
        keep = torch.ones_like(is_target)
    else:
        if int(source) == int(target):
            raise ValueError("The source and target classes must differ.")
        keep = is_target | (labels == int(source))
        if not (labels == int(source)).any():
            raise ValueError(f"There are no examples of class {source}.")
    if not (keep & ~is_target).any():
        raise ValueError(f"All examples are of class {target}; there is nothing to contrast it with.")
    return attribute_direction(latents[keep], is_target[keep], method=method)


def project_out(direction: torch.Tensor, others: torch.Tensor | Sequence[torch.Tensor],
                tolerance: float = 1e-3) -> torch.Tensor:
    """The unit direction (D,) of `direction` with its components along all `others` removed.

    others: (k, D) or a list of (D,) vectors, not necessarily orthogonal (they are orthonormalized
    by Gram-Schmidt first). Used for conditional editing: "bolder" with the class directions projected
    out does not change the digit. Raises ValueError when less than `tolerance` of the direction's
    length is left (it lies in the span of the others).
    """
    d = direction.double().flatten()
    if isinstance(others, torch.Tensor):
        rows = list(others.reshape(-1, d.shape[0])) if others.numel() else []
    else:
        rows = [torch.as_tensor(o).flatten() for o in others]
    basis: list[torch.Tensor] = []
    for row in rows:
        v = row.to(d)
        if v.shape != d.shape:
            raise ValueError(f"Each direction to project out must have {d.shape[0]} entries, got {v.shape[0]}.")
        for _ in range(2):  # twice: classical Gram-Schmidt loses orthogonality in floating point
            for q in basis:
                v = v - (v @ q) * q
        norm = v.norm()
        if norm > 1e-9 * max(1.0, float(row.double().norm())):
            basis.append(v / norm)
    length = d.norm()
    if length <= 1e-12:
        raise ValueError("The direction is zero: there is nothing to project.")
    residual = d
    for _ in range(2):
        for q in basis:
            residual = residual - (residual @ q) * q
    if residual.norm() < tolerance * length:
        raise ValueError(
            "Nothing is left of this direction once the others are projected out: it lies in the "
            "space they span (the latent space may be too small for this conditional edit)."
        )
    return (residual / residual.norm()).to(direction.dtype)
