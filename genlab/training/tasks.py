"""What differs between the VAE, the GAN and the classifier: optimizers, one step, evaluation, samples."""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genlab.augment import diff_augment
from genlab.data import ImageData
from genlab.models.diffusion import (
    DiffusionUNet, LatentDiffusion, flow_matching_loss, generate, draw_noise,
)
from genlab.models.gan import GAN, discriminator_loss, generator_loss, recalibrate_batchnorm
from genlab.models.vae import VAE, kl_to_standard_normal, negative_elbo_terms
from genlab.training.config import TrainConfig, autocast, randn
from genlab.training.distributed import Dist, ddp


class Task:
    """What differs between the three models: optimizers, one step, evaluation, samples."""

    kind = ""
    metric_keys: tuple[str, ...] = ()

    def __init__(self, model: nn.Module, tc: TrainConfig, device: torch.device, d: Dist) -> None:
        self.model, self.tc, self.device, self.d = model, tc, device, d

    def amp(self) -> contextlib.AbstractContextManager:
        """Wrap forward passes only; losses are computed in float32 outside it."""
        return autocast(self.device, self.tc.mixed_precision)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def wrap(self) -> None:
        """Wrap the trained modules for DistributedDataParallel when there are several ranks."""

    def step(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, test: ImageData) -> dict[str, Any]:
        return {}

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Tensors besides the model and optimizers that `--resume` needs."""
        return {}

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Take back what `extra_state` saved."""

    def public_model(self) -> nn.Module:
        """The model written to model.safetensors (the trained one, unless a task says otherwise)."""
        return self.model

    @torch.no_grad()
    def samples(self) -> torch.Tensor | None:
        return None


def _batches(n: int, batch_size: int) -> range:
    return range(0, n, batch_size)


class VAETask(Task):
    kind = "vae"

    def optimizers(self):
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.tc.lr)
        return {"model": self.opt}

    def wrap(self):
        self.forward = ddp(self.model, self.device) if self.d.world_size > 1 else self.model

    def step(self, x, y, g):
        with self.amp():
            logits, mu, logvar = self.forward(x, g)
        loss = negative_elbo_terms(logits.float(), x, mu.float(), logvar.float(), self.model.config.beta)
        self.opt.zero_grad(set_to_none=True)
        loss.total.backward()
        self.opt.step()
        return {"loss": loss.total, "reconstruction": loss.reconstruction, "kl": loss.kl}

    @torch.no_grad()
    def evaluate(self, test):
        model: VAE = self.model
        model.eval()
        g = torch.Generator().manual_seed(1234)
        totals = {"reconstruction": 0.0, "kl": 0.0}
        kl_per_dim = torch.zeros(model.latent_dim, dtype=torch.float64)
        for i in _batches(len(test), 500):
            x = test.images[i:i + 500].to(self.device)
            logits, mu, logvar = model(x, g)
            terms = negative_elbo_terms(logits, x, mu, logvar)
            totals["reconstruction"] += float(terms.reconstruction) * len(x)
            totals["kl"] += float(terms.kl) * len(x)
            kl_per_dim += kl_to_standard_normal(mu, logvar).sum(0).double().cpu()
        model.train()
        n = len(test)
        return {
            "test_negative_elbo": (totals["reconstruction"] + totals["kl"]) / n,
            "test_reconstruction": totals["reconstruction"] / n,
            "test_kl": totals["kl"] / n,
            "kl_per_dim": [round(v, 4) for v in (kl_per_dim / n).tolist()],
        }

    @torch.no_grad()
    def samples(self):
        z = torch.randn((64, self.model.latent_dim), generator=torch.Generator().manual_seed(0))
        self.model.eval()
        out = self.model.decode(z.to(self.device))
        self.model.train()
        return out


class _EMAMixin:
    """A moving average of the trained weights (`_ema_source`: the model, or the GAN's generator),
    which is what the checkpoint ships: samples from the average are smoother and cleaner than the
    last step's (Karras et al. 2018)."""

    def _ema_source(self) -> nn.Module:
        return self.model

    def _init_ema(self, eval_mode: bool = True) -> None:
        self.ema = copy.deepcopy(self._ema_source()).requires_grad_(False)
        if eval_mode:
            self.ema.eval()
        self.ema_updates = torch.zeros((), dtype=torch.int64)

    @torch.no_grad()
    def _update_ema(self) -> None:
        self.ema_updates += 1
        n = float(self.ema_updates)
        decay = min(self.tc.ema_decay, (1.0 + n) / (10.0 + n))  # a short window at first
        for p_ema, p in zip(self.ema.parameters(), self._ema_source().parameters()):
            p_ema.lerp_(p, 1.0 - decay)
        for b_ema, b in zip(self.ema.buffers(), self._ema_source().buffers()):
            b_ema.copy_(b)  # a GAN's are replaced by the average's own statistics when shipped

    def extra_state(self):
        state = {f"ema.{k}": v for k, v in self.ema.state_dict().items()}
        state["ema_updates"] = self.ema_updates
        return state

    def load_extra_state(self, tensors):
        if "ema_updates" in tensors:
            self.ema.load_state_dict({k[len("ema."):]: v for k, v in tensors.items() if k.startswith("ema.")})
            self.ema_updates = tensors["ema_updates"].clone()
        else:  # a run saved before the average existed: start it from the resumed weights
            self.ema.load_state_dict(self._ema_source().state_dict())

    def public_model(self):
        return self.ema if self.tc.ema_decay > 0 else self.model


class GANTask(_EMAMixin, Task):
    kind = "gan"

    def optimizers(self):
        gan: GAN = self.model
        betas = (0.5, 0.999)
        self.opt_g = torch.optim.Adam(gan.generator.parameters(), lr=self.tc.lr, betas=betas)
        lr_d = self.tc.lr_discriminator or self.tc.lr  # a faster D is the two-time-scale rule (TTUR)
        self.opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=lr_d, betas=betas)
        self._init_ema(eval_mode=False)  # the average of the generator (_EMAMixin) is what ships
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def _ema_source(self) -> nn.Module:
        return self.model.generator

    def _shipped_generator(self) -> nn.Module:
        """The moving average with BatchNorm statistics of its own (computed once per step count)."""
        if getattr(self, "_shipped_at", None) != int(self.ema_updates):
            self._shipped = recalibrate_batchnorm(copy.deepcopy(self.ema), seed=self.tc.seed).eval()
            self._shipped_at = int(self.ema_updates)
        return self._shipped

    def public_model(self):
        state = self.model.state_dict()
        state.update({f"generator.{k}": v for k, v in self._shipped_generator().state_dict().items()})
        public = GAN(self.model.config)  # spectral norm's tensors cannot be deep-copied
        public.load_state_dict(state)
        return public

    def wrap(self):
        gan: GAN = self.model
        many = self.d.world_size > 1
        self.G = ddp(gan.generator, self.device) if many else gan.generator
        self.D = ddp(gan.discriminator, self.device) if many else gan.discriminator

    def _latents(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(z (n, latent_dim), the labels (n,) G draws, or None when unconditional)."""
        cfg = self.model.config
        if cfg.needs_labels:  # labels drawn first, then z (the order of earlier runs)
            labels = torch.randint(0, cfg.num_classes, (n,), generator=g).to(self.device)
            return randn((n, cfg.latent_dim), g, self.device), labels
        z = randn((n, cfg.latent_dim), g, self.device)
        return z, (self.model.generator.latent_classes(z) if cfg.num_classes else None)

    def _pairs(self, z: torch.Tensor, labels: torch.Tensor | None,
               g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        """For the mode-seeking term: the second half of the batch (B, D) becomes partners of the
        first, of the same class (same labels; for classes_from_latent, the same first k coordinates)
        with the rest of z drawn afresh, so each z is still N(0, I)."""
        half = z.shape[0] // 2
        partner = randn((half, z.shape[1]), g, self.device)
        cfg = self.model.config
        if cfg.classes_from_latent:
            partner[:, :cfg.num_classes] = z[:half, :cfg.num_classes]
        z = torch.cat([z[:half], partner, z[2 * half:]])
        if labels is not None:
            labels = torch.cat([labels[:half], labels[:half], labels[2 * half:]])
        return z, labels

    def _augment(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """What D sees: x (B, C, H, W), DiffAugmented as tc.diffaugment says (itself when empty)."""
        return diff_augment(x, self.tc.diffaugment, g) if self.tc.diffaugment else x

    def _r1_penalty(self, x: torch.Tensor, labels: torch.Tensor | None, g: torch.Generator) -> torch.Tensor:
        """R1 (Mescheder et al. 2018): mean squared norm of D's gradient at the real images (B, C, H, W)."""
        x = x.detach().requires_grad_(True)
        with self.amp():
            logits = self.D(self._augment(x, g), labels)
        (grad,) = torch.autograd.grad(logits.float().sum(), x, create_graph=True)
        return grad.pow(2).flatten(1).sum(1).mean()

    def step(self, x, y, g):
        cfg = self.model.config
        b = x.shape[0]
        real_labels = y if cfg.num_classes else None
        z, fake_labels = self._latents(b, g)
        labels = torch.cat([real_labels, fake_labels]) if cfg.num_classes else None
        auxiliary = bool(cfg.num_classes) and cfg.class_head == "auxiliary"
        with self.amp():
            fake = self.G(z, fake_labels)
            both = self._augment(torch.cat([x, fake.detach().to(x.dtype)]), g)
            out = self.D(both, labels, with_classes=auxiliary)  # one pass: real then fake
        logits, class_logits = out if auxiliary else (out, None)
        logits = logits.float()
        real_logits, fake_logits = logits[:b], logits[b:]
        loss_d = discriminator_loss(real_logits, fake_logits, cfg.loss)
        extra: dict[str, torch.Tensor] = {}
        if auxiliary:  # D's class head learns the real images' labels only
            class_loss = F.cross_entropy(class_logits[:b].float(), real_labels)
            loss_d = loss_d + self.tc.class_weight * class_loss
            extra["class_loss"] = class_loss.detach()
        if self.tc.r1_gamma:
            # Lazy R1 (Karras et al. 2020): every r1_every steps, weighted r1_every times. The step
            # count comes from the saved moving-average counter, so a resumed run keeps the rhythm.
            d_step = int(self.ema_updates) // max(1, self.tc.generator_steps)
            if d_step % self.tc.r1_every == 0:
                penalty = self._r1_penalty(x, real_labels, g)
                loss_d = loss_d + 0.5 * self.tc.r1_gamma * self.tc.r1_every * penalty
                self.last_r1 = penalty.detach()
            extra["r1"] = getattr(self, "last_r1", torch.zeros(()))  # the latest measured value
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # The generator's loss goes through the bare discriminator: its gradients there are
        # thrown away (zeroed before the next D step), so D's DDP wrapper must not sync them.
        bare_d = self.model.discriminator
        for _ in range(self.tc.generator_steps):
            z, fake_labels = self._latents(b, g)
            if self.tc.mode_seeking:
                z, fake_labels = self._pairs(z, fake_labels, g)
            with self.amp():
                fake = self.G(z, fake_labels)
                out = bare_d(self._augment(fake, g), fake_labels, with_classes=auxiliary)
            fake_logits_g, fake_class_logits = out if auxiliary else (out, None)
            loss_g = generator_loss(fake_logits_g.float(), cfg.loss)
            if auxiliary:  # G must draw what D's class head calls the class it was asked for
                loss_g = loss_g + self.tc.class_weight * F.cross_entropy(fake_class_logits.float(), fake_labels)
            if self.tc.mode_seeking:
                half = b // 2
                pixels = (fake[:half] - fake[half:2 * half]).float().abs().flatten(1).mean(1)
                latents = (z[:half] - z[half:2 * half]).abs().mean(1)
                loss_g = loss_g + self.tc.mode_seeking / ((pixels / latents).mean() + 1e-5)
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
            self._update_ema()
        return {
            "loss_d": loss_d, "loss_g": loss_g,
            "d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits).mean(),
            **extra,
        }

    @torch.no_grad()
    def samples(self):
        cfg = self.model.config
        z = torch.randn((64, cfg.latent_dim), generator=torch.Generator().manual_seed(0)).to(self.device)
        labels = (torch.arange(64) % cfg.num_classes).to(self.device) if cfg.needs_labels else None
        return self._shipped_generator()(z, labels)


def random_shift(x: torch.Tensor, g: torch.Generator, max_shift: float = 2.0, max_degrees: float = 8.0) -> torch.Tensor:
    """Augmentation: each image (B, C, H, W) shifted up to `max_shift` pixels and rotated a little."""
    b, _, h, _ = x.shape
    shift = (torch.rand((b, 2), generator=g) * 2 - 1) * (2 * max_shift / h)
    angle = (torch.rand(b, generator=g) * 2 - 1) * math.radians(max_degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


class ClassifierTask(Task):
    kind = "classifier"

    def optimizers(self):
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.tc.lr, weight_decay=1e-4)
        return {"model": self.opt}

    def wrap(self):
        self.forward = ddp(self.model, self.device) if self.d.world_size > 1 else self.model

    def step(self, x, y, g):
        x = random_shift(x, g)
        with self.amp():
            logits = self.forward(x)
        logits = logits.float()
        loss = F.cross_entropy(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss, "accuracy": (logits.argmax(1) == y).float().mean()}

    @torch.no_grad()
    def evaluate(self, test):
        self.model.eval()
        correct, loss = 0, 0.0
        for i in _batches(len(test), 1000):
            x, y = test.images[i:i + 1000].to(self.device), test.labels[i:i + 1000].to(self.device)
            logits = self.model(x)
            correct += int((logits.argmax(1) == y).sum())
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
        self.model.train()
        return {"test_accuracy": correct / len(test), "test_loss": loss / len(test)}


class DiffusionTask(_EMAMixin, Task):
    """A pixel-space flow-matching U-Net (genlab.models.diffusion): one step is one velocity loss."""

    kind = "diffusion"

    def optimizers(self):
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.tc.lr)
        self._init_ema()
        return {"model": self.opt}

    def wrap(self):
        self.forward = ddp(self.model, self.device) if self.d.world_size > 1 else self.model

    def step(self, x, y, g):
        labels = y if self.model.config.num_classes else None
        with self.amp():
            loss = flow_matching_loss(self.forward_model(), x, g, labels)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self._update_ema()
        return {"loss": loss.detach(), "grad_norm": grad_norm.detach()}

    def forward_model(self) -> nn.Module:
        """The module the loss calls: the DDP wrapper (with the bare model's config) or the model."""
        if self.forward is self.model:
            return self.model
        self.forward.config = self.model.config
        return self.forward

    @torch.no_grad()
    def evaluate(self, test):
        """The flow-matching loss of the moving average on (up to 1,000) test images, fixed noise and times."""
        model = self.public_model()
        model.eval()
        g = torch.Generator().manual_seed(1234)
        n = min(len(test), 1000)
        total = 0.0
        for i in _batches(n, 250):
            x = test.images[i:min(i + 250, n)].to(self.device)
            total += float(flow_matching_loss(model, x, g)) * len(x)
        return {"test_loss": total / n}

    @torch.no_grad()
    def samples(self):
        c = self.model.config
        noise = draw_noise((64, c.channels, c.image_size, c.image_size), torch.Generator().manual_seed(0))
        return generate(self.public_model(), noise.to(self.device), c.sample_steps)


def _resolve_vae_folder(name: str, out: str):
    """The VAE checkpoint a latent prior belongs to: beside the prior's folder, else in checkpoints/."""
    from pathlib import Path

    from genlab.checkpoints import DEFAULT_CHECKPOINT_DIR

    for root in (Path(out).resolve().parent, DEFAULT_CHECKPOINT_DIR):
        if (root / name / "config.json").is_file():
            return root / name
    raise ValueError(f"The VAE checkpoint {name!r} that this latent prior belongs to is not beside "
                     f"{out} nor in {DEFAULT_CHECKPOINT_DIR}.")


class LatentDiffusionTask(_EMAMixin, Task):
    """A flow-matching prior over a VAE's latent codes: the images of a batch are encoded by the
    (frozen) VAE, and one step is one velocity loss on their codes."""

    kind = "latent-diffusion"

    def optimizers(self):
        from genlab.checkpoints import load_checkpoint

        vae = load_checkpoint(_resolve_vae_folder(self.model.config.vae, self.tc.out), self.device)
        if vae.kind != "vae":
            raise ValueError(f"{vae.name} is a {vae.kind}, not a VAE.")
        self.vae = vae.model
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.tc.lr)
        self._init_ema()
        self.ema.attach_vae(self.vae)
        return {"model": self.opt}

    def wrap(self):
        self.forward = self.model

    @torch.no_grad()
    def _codes(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        mu, logvar = self.vae.encode(x)
        noise = self.model.config.latent_noise
        if noise:
            mu = mu + noise * torch.exp(0.5 * logvar) * draw_noise(tuple(mu.shape), g, mu.device)
        return mu

    def step(self, x, y, g):
        loss = self.model.loss(self._codes(x, g), g)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self._update_ema()
        return {"loss": loss.detach()}

    @torch.no_grad()
    def evaluate(self, test):
        g = torch.Generator().manual_seed(1234)
        model = self.public_model().eval()
        total = 0.0
        for i in _batches(len(test), 500):
            x = test.images[i:i + 500].to(self.device)
            total += float(model.loss(self._codes(x, g), g)) * len(x)
        return {"test_loss": total / len(test)}

    @torch.no_grad()
    def samples(self):
        noise = draw_noise((64, self.model.config.latent_dim), torch.Generator().manual_seed(0), self.device)
        model = self.public_model()
        model.attach_vae(self.vae)
        return model.decode(noise)


TASKS: dict[str, type[Task]] = {"vae": VAETask, "gan": GANTask, "classifier": ClassifierTask,
                                "diffusion": DiffusionTask, "latent-diffusion": LatentDiffusionTask}
