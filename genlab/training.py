"""Training loops for the VAE, the GAN and the classifier, and the command line behind `train/`.

One loop serves all three models. What makes it dependable:
- All randomness of epoch e comes from generators seeded with (seed, e, rank), so a run that is
  killed and resumed from its last complete epoch ends exactly where an uninterrupted one does.
- Each epoch ends by writing `training_state.safetensors` (weights, optimizer state, history)
  atomically, then the public checkpoint (config.json + model.safetensors), history.json and a
  sample grid. `--resume` restarts from the last complete epoch.
- A NaN or inf loss stops the run with `TrainingDiverged`; nothing is written for that epoch,
  so the last good checkpoint stays as it was.
- Under `torchrun --nproc_per_node=N` each process trains on its shard of every epoch
  (gloo on CPU, NCCL on GPU) and rank 0 alone writes.
- On a CUDA GPU the forward passes run under bf16 autocast (losses and weights stay float32);
  on the CPU nothing changes.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn
from tqdm.auto import tqdm

from genlab import checkpoints as ckpt
from genlab.data import DataError, ImageData, load_dataset
from genlab.models import MODEL_KINDS
from genlab.models.gan import GAN, discriminator_loss, generator_loss, recalibrate_batchnorm
from genlab.models.vae import VAE, negative_elbo_terms

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
    ema_decay: float = 0.999  # GAN: the shipped generator is this moving average of its weights (0: off)
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


# --------------------------------------------------------------------------- distributed


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> Dist:
    """Join the torchrun process group if there is one (gloo on CPU, NCCL on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size())


def average_across_ranks(values: dict[str, float], d: Dist, device: torch.device) -> dict[str, float]:
    if d.world_size == 1:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(v) / d.world_size for k, v in zip(keys, t.tolist())}


# --------------------------------------------------------------------------- state I/O


def _flatten_optimizer(name: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = opt.state_dict()
    tensors = {}
    for idx, per_param in state["state"].items():
        for key, value in per_param.items():
            tensors[f"optim.{name}.{idx}.{key}"] = torch.as_tensor(value)
    return tensors, {"param_groups": state["param_groups"]}


def _restore_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                       groups: dict[str, Any]) -> None:
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    prefix = f"optim.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, field_name = key[len(prefix):].split(".", 1)
            per_param.setdefault(int(idx), {})[field_name] = value
    opt.load_state_dict({"state": per_param, "param_groups": groups["param_groups"]})


def save_training_state(folder: Path, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                        epoch: int, history: list[dict[str, Any]],
                        extra: dict[str, torch.Tensor] | None = None) -> None:
    """Everything `--resume` needs, in one atomically written safetensors file."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"extra.{k}": v for k, v in (extra or {}).items()})
    groups = {}
    for name, opt in optimizers.items():
        t, g = _flatten_optimizer(name, opt)
        tensors.update(t)
        groups[name] = g
    metadata = {"epoch": str(epoch), "history": json.dumps(history), "optimizers": json.dumps(groups),
                "model_config": json.dumps(dataclasses.asdict(model.config))}
    ckpt.atomic_save_tensors(folder / STATE_NAME, tensors, metadata)


def state_model_config(folder: Path) -> dict[str, Any]:
    """The model config a training_state was written with (older states: from config.json).

    The state is written before config.json, so a run killed in between still resumes.
    """
    from safetensors import safe_open

    with safe_open(str(folder / STATE_NAME), framework="pt") as f:
        metadata = f.metadata() or {}
    if "model_config" in metadata:
        return json.loads(metadata["model_config"])
    return ckpt.read_config(folder)["model_config"]


def load_training_state(folder: Path, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                        device: torch.device) -> tuple[int, list[dict[str, Any]], dict[str, torch.Tensor]]:
    """Restore a run from its training_state file -> (completed epochs, history, extra).

    `extra` holds the tensors a task saved beside the model (the GAN's moving-average generator).
    """
    from safetensors import safe_open

    path = folder / STATE_NAME
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    tensors = load_file(str(path), device="cpu")
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    extra = {k[len("extra."):]: v for k, v in tensors.items() if k.startswith("extra.")}
    ckpt.check_state_dict(model, model_state, folder.name)
    model.load_state_dict(model_state)
    groups = json.loads(metadata.get("optimizers", "{}"))
    for name, opt in optimizers.items():
        _restore_optimizer(name, opt, {k: v.to(device) for k, v in tensors.items()}, groups[name])
    return int(metadata["epoch"]), json.loads(metadata.get("history", "[]")), extra


def save_image_grid(images: torch.Tensor, path: Path, nrow: int = 8, scale: int = 2) -> None:
    """images: (B, C, H, W) in [0, 1] -> one PNG grid, upscaled `scale` times (nearest)."""
    from PIL import Image

    b, c, h, w = images.shape
    ncol = min(nrow, b)
    nrows = math.ceil(b / ncol)
    pad = 2
    grid = torch.ones(c, nrows * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(b):
        r, col = divmod(i, ncol)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = images[i]
    arr = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    im = Image.fromarray(arr[..., 0] if c == 1 else arr)
    im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    tmp = path.with_name(f".{path.name}.tmp")
    im.save(tmp, format="PNG")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- per-model steps


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


def _ddp(module: nn.Module, device: torch.device) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def _batches(n: int, batch_size: int) -> range:
    return range(0, n, batch_size)


class VAETask(Task):
    kind = "vae"

    def optimizers(self):
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.tc.lr)
        return {"model": self.opt}

    def wrap(self):
        self.forward = _ddp(self.model, self.device) if self.d.world_size > 1 else self.model

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
            kl_per_dim += (0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)).sum(0).double().cpu()
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


class GANTask(Task):
    kind = "gan"

    def optimizers(self):
        gan: GAN = self.model
        betas = (0.5, 0.999)
        self.opt_g = torch.optim.Adam(gan.generator.parameters(), lr=self.tc.lr, betas=betas)
        lr_d = self.tc.lr_discriminator or self.tc.lr  # a faster D is the two-time-scale rule (TTUR)
        self.opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=lr_d, betas=betas)
        # A moving average of the generator's weights gives smoother, better samples than the
        # last step's weights (Karras et al. 2018); it is what the checkpoint ships.
        self.ema = copy.deepcopy(gan.generator).requires_grad_(False)
        self.ema_updates = torch.zeros((), dtype=torch.int64)
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    @torch.no_grad()
    def _update_ema(self) -> None:
        self.ema_updates += 1
        # Average over a short window at first, growing to 1 / (1 - ema_decay) steps.
        n = float(self.ema_updates)
        decay = min(self.tc.ema_decay, (1.0 + n) / (10.0 + n))
        for p_ema, p in zip(self.ema.parameters(), self.model.generator.parameters()):
            p_ema.lerp_(p, 1.0 - decay)
        for b_ema, b in zip(self.ema.buffers(), self.model.generator.buffers()):
            b_ema.copy_(b)  # replaced by the average's own statistics when shipped

    def extra_state(self):
        state = {f"ema.{k}": v for k, v in self.ema.state_dict().items()}
        state["ema_updates"] = self.ema_updates
        return state

    def load_extra_state(self, tensors):
        if "ema_updates" in tensors:
            self.ema.load_state_dict({k[len("ema."):]: v for k, v in tensors.items() if k.startswith("ema.")})
            self.ema_updates = tensors["ema_updates"].clone()
        else:  # a run saved before the average existed: start it from the resumed generator
            self.ema.load_state_dict(self.model.generator.state_dict())

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
        self.G = _ddp(gan.generator, self.device) if many else gan.generator
        self.D = _ddp(gan.discriminator, self.device) if many else gan.discriminator

    def _labels(self, n: int, g: torch.Generator) -> torch.Tensor | None:
        k = self.model.config.num_classes
        return torch.randint(0, k, (n,), generator=g).to(self.device) if k else None

    def step(self, x, y, g):
        cfg = self.model.config
        b = x.shape[0]
        real_labels = y if cfg.num_classes else None
        fake_labels = self._labels(b, g)
        labels = torch.cat([real_labels, fake_labels]) if cfg.num_classes else None
        with self.amp():
            fake = self.G(randn((b, cfg.latent_dim), g, self.device), fake_labels)
            logits = self.D(torch.cat([x, fake.detach().to(x.dtype)]), labels)  # one pass: real then fake
        logits = logits.float()
        real_logits, fake_logits = logits[:b], logits[b:]
        loss_d = discriminator_loss(real_logits, fake_logits, cfg.loss)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # The generator's loss goes through the bare discriminator: its gradients there are
        # thrown away (zeroed before the next D step), so D's DDP wrapper must not sync them.
        bare_d = self.model.discriminator
        for _ in range(self.tc.generator_steps):
            fake_labels = self._labels(b, g)
            with self.amp():
                fake = self.G(randn((b, cfg.latent_dim), g, self.device), fake_labels)
                fake_logits_g = bare_d(fake, fake_labels)
            loss_g = generator_loss(fake_logits_g.float(), cfg.loss)
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
            self._update_ema()
        return {
            "loss_d": loss_d, "loss_g": loss_g,
            "d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits).mean(),
        }

    @torch.no_grad()
    def samples(self):
        cfg = self.model.config
        z = torch.randn((64, cfg.latent_dim), generator=torch.Generator().manual_seed(0)).to(self.device)
        labels = (torch.arange(64) % cfg.num_classes).to(self.device) if cfg.num_classes else None
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
        self.forward = _ddp(self.model, self.device) if self.d.world_size > 1 else self.model

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


TASKS: dict[str, type[Task]] = {"vae": VAETask, "gan": GANTask, "classifier": ClassifierTask}


# --------------------------------------------------------------------------- the loop


def _lr_factor(tc: TrainConfig, progress: float) -> float:
    """Multiplier of each optimizer's base learning rate at `progress` in [0, 1] of the run."""
    if tc.schedule == "cosine":
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def train(kind: str, model_config: Any, tc: TrainConfig,
          on_epoch: Callable[[int, dict[str, Any]], None] | None = None) -> Path:
    """Train a model of `kind` ("vae", "gan", "classifier") as `tc` says; returns the folder.

    With tc.resume and a training_state in tc.out, continues from its last complete epoch
    (the model config then comes from that checkpoint). Raises TrainingDiverged on NaN/inf.
    """
    if kind not in TASKS:
        raise ValueError(f"Unknown model kind {kind!r}; expected one of {sorted(TASKS)}.")
    d = init_distributed(tc.device)
    device = torch.device(tc.device)
    if device.type == "cuda" and d.world_size > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    out = Path(tc.out)

    start_epoch, history = 0, []
    if tc.resume and (out / STATE_NAME).is_file():
        model_config = ckpt.build_model(kind, state_model_config(out)).config

    train_data = load_dataset(tc.dataset, "train", tc.data_dir, model_config.image_size,
                              model_config.channels, tc.download, tc.seed)
    test_data = load_dataset(tc.dataset, "test", tc.data_dir, model_config.image_size,
                             model_config.channels, tc.download, tc.seed)
    if tc.limit:
        train_data.images, train_data.labels = train_data.images[:tc.limit], train_data.labels[:tc.limit]
    if kind == "classifier" and len(train_data.class_names) != model_config.num_classes:
        model_config = dataclasses.replace(model_config, num_classes=max(2, len(train_data.class_names)))
    if kind == "gan" and model_config.num_classes and model_config.num_classes != len(train_data.class_names):
        model_config = dataclasses.replace(model_config, num_classes=len(train_data.class_names))

    torch.manual_seed(tc.seed)
    model = MODEL_KINDS[kind][0](model_config).to(device)
    task = TASKS[kind](model, tc, device, d)
    optimizers = task.optimizers()
    if tc.resume and (out / STATE_NAME).is_file():
        start_epoch, history, extra = load_training_state(out, model, optimizers, device)
        task.load_extra_state(extra)
        if d.is_main:
            print(f"Resuming {out} from epoch {start_epoch}.", file=sys.stderr)
    task.wrap()
    model.train()
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / SAMPLES_DIR).mkdir(exist_ok=True)

    images, labels = train_data.images.to(device), train_data.labels.to(device)
    n_per_rank = len(train_data) // d.world_size
    steps_per_epoch = max(1, math.ceil(n_per_rank / tc.batch_size))
    total_steps = steps_per_epoch * tc.epochs
    for epoch in range(start_epoch, tc.epochs):
        g = seeded(tc.seed, epoch, d.rank)
        torch.manual_seed(tc.seed * 1000 + epoch * 10 + d.rank)  # dropout and other global draws
        order = torch.randperm(len(train_data), generator=seeded(tc.seed, epoch, stream=1))
        order = order[d.rank::d.world_size][:n_per_rank].to(device)
        sums: dict[str, float] = {}
        t0 = time.perf_counter()
        bar = tqdm(range(steps_per_epoch), desc=f"{kind} epoch {epoch + 1}/{tc.epochs}",
                   disable=not (tc.progress and d.is_main), leave=False, dynamic_ncols=True)
        for s in bar:
            factor = _lr_factor(tc, (epoch * steps_per_epoch + s) / total_steps)
            for group in [gr for opt in optimizers.values() for gr in opt.param_groups]:
                group["lr"] = group.setdefault("base_lr", group["lr"]) * factor
            idx = order[s * tc.batch_size:(s + 1) * tc.batch_size]
            values = task.step(images[idx], labels[idx], g)
            for k, v in values.items():
                v = float(v.detach()) if torch.is_tensor(v) else float(v)
                if not math.isfinite(v):
                    raise TrainingDiverged(
                        f"The {k} became {v} at epoch {epoch + 1}, step {s + 1}. Nothing was written for "
                        f"this epoch: the last good checkpoint (epoch {epoch}) in {out} is untouched. "
                        f"Try a lower --lr (now {tc.lr})."
                    )
                sums[k] = sums.get(k, 0.0) + v
            if s % 20 == 0:
                bar.set_postfix({k: f"{v / (s + 1):.3g}" for k, v in sums.items()})
        bar.close()
        record: dict[str, Any] = {"epoch": epoch + 1}
        record.update({k: v / steps_per_epoch for k, v in average_across_ranks(sums, d, device).items()})
        record["seconds"] = time.perf_counter() - t0
        if d.is_main:
            record.update(task.evaluate(test_data))
            history.append(record)
            _write_epoch(out, kind, model, task, optimizers, tc, epoch + 1, history, train_data)
            summary = ", ".join(f"{k} {v:.4g}" for k, v in record.items()
                                if isinstance(v, float) and k != "seconds")
            print(f"[{out.name}] epoch {epoch + 1}/{tc.epochs} ({record['seconds']:.1f} s): {summary}",
                  file=sys.stderr, flush=True)
            if on_epoch:
                on_epoch(epoch + 1, record)
    if d.world_size > 1:
        dist.barrier()
    return out


def _write_epoch(out: Path, kind: str, model: nn.Module, task: Task, optimizers, tc: TrainConfig,
                 epoch: int, history: list[dict[str, Any]], data: ImageData) -> None:
    # The resume state first: once it is renamed into place the epoch counts as complete.
    save_training_state(out, model, optimizers, epoch, history, task.extra_state())
    grid = task.samples()
    if grid is not None:
        save_image_grid(grid.cpu(), out / SAMPLES_DIR / f"epoch_{epoch:03d}.png")
    last = {k: v for k, v in history[-1].items() if k != "epoch"}
    train_args = {k: v for k, v in dataclasses.asdict(tc).items() if k not in ("out", "progress", "resume")}
    ckpt.atomic_write_json(out / ckpt.HISTORY_NAME, history)
    ckpt.save_checkpoint(
        task.public_model(), out, kind, dataset=tc.dataset if tc.dataset in ("mnist", "fashion-mnist", "synthetic") else data.name,
        epochs=epoch, seed=tc.seed, metrics=last, class_names=data.class_names,
        extra={"training": train_args, "train_images": len(data)},
    )


# --------------------------------------------------------------------------- command line

DEFAULTS = {
    "vae": {"lr": 1e-3, "epochs": 20, "latent_dim": 16},
    "gan": {"lr": 2e-4, "epochs": 20, "latent_dim": 32},
    "classifier": {"lr": 2e-3, "epochs": 12, "latent_dim": None},
}


def build_parser(kind: str) -> argparse.ArgumentParser:
    dflt = DEFAULTS[kind]
    p = argparse.ArgumentParser(
        prog=f"train/{kind}.py",
        description=f"Train a {kind.upper() if kind != 'classifier' else 'classifier'} and write a "
                    f"checkpoint folder (config.json + model.safetensors) that the app lists.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", default="mnist",
                   help="mnist, fashion-mnist, synthetic, or a path to a folder of IDX files or of images")
    p.add_argument("--data-dir", default=None, help="folder holding the four IDX files (gzipped or not)")
    p.add_argument("--download", action="store_true", help="download MNIST/Fashion-MNIST with torchvision if missing")
    p.add_argument("--epochs", type=int, default=dflt["epochs"])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=dflt["lr"])
    p.add_argument("--schedule", choices=["cosine", "constant"], default="constant" if kind == "gan" else "cosine")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--out", default=None, help="checkpoint folder (default: checkpoints/<dataset>-<kind>...)")
    p.add_argument("--resume", action="store_true", help="continue from the last complete epoch in --out")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--image-size", type=int, default=None, choices=[28, 32, 64],
                   help="default: 28 for MNIST-format data, 64 for an image folder")
    p.add_argument("--channels", type=int, default=None, choices=[1, 3],
                   help="default: 1 for MNIST-format data, 3 for an image folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-mixed-precision", action="store_true",
                   help="on CUDA, train in float32 instead of bf16 autocast (the CPU always uses float32)")
    p.add_argument("--push-to-hub", metavar="REPO_ID", default=None,
                   help="after the last epoch, upload the checkpoint to this Hugging Face Hub model repo "
                        "(needs `hf auth login` or HF_TOKEN)")
    if kind in ("vae", "gan"):
        p.add_argument("--latent-dim", type=int, default=dflt["latent_dim"])
    if kind == "vae":
        p.add_argument("--beta", type=float, default=1.0, help="weight of the KL term")
        p.add_argument("--base-width", type=int, default=32)
        p.add_argument("--hidden-dim", type=int, default=256)
    if kind == "gan":
        p.add_argument("--loss", choices=["non-saturating", "hinge"], default="non-saturating")
        p.add_argument("--no-spectral-norm", action="store_true", help="plain DCGAN discriminator")
        p.add_argument("--conditional", action="store_true", help="class-conditional generator")
        p.add_argument("--generator-steps", type=int, default=1, help="generator updates per D update")
        p.add_argument("--lr-discriminator", type=float, default=None,
                       help="the discriminator's learning rate (default: --lr)")
        p.add_argument("--ema-decay", type=float, default=0.999,
                       help="decay of the generator's moving average that is shipped (0: the last weights)")
        p.add_argument("--width", type=int, default=64, help="generator and discriminator width")
        p.add_argument("--refine-convs", type=int, default=1,
                       help="3x3 convolutions per resolution in both networks (0: plain DCGAN layout)")
    if kind == "classifier":
        p.add_argument("--width", type=int, default=32)
    return p


def _is_image_folder(dataset: str) -> bool:
    from genlab.data import has_idx_files

    return dataset.lower() not in ("mnist", "fashion-mnist", "synthetic") and not has_idx_files(dataset)


def configs_from_args(kind: str, args: argparse.Namespace) -> tuple[Any, TrainConfig]:
    """Turn parsed arguments into (model config, TrainConfig)."""
    folder = _is_image_folder(args.dataset)
    image_size = args.image_size or (64 if folder else 28)
    channels = args.channels or (3 if folder else 1)
    config_cls = MODEL_KINDS[kind][1]
    if kind == "vae":
        mc = config_cls(image_size=image_size, channels=channels, latent_dim=args.latent_dim,
                        beta=args.beta, base_width=args.base_width, hidden_dim=args.hidden_dim)
    elif kind == "gan":
        mc = config_cls(image_size=image_size, channels=channels, latent_dim=args.latent_dim,
                        generator_width=args.width, discriminator_width=args.width,
                        spectral_norm=not args.no_spectral_norm, loss=args.loss,
                        num_classes=10 if args.conditional else 0, refine_convs=args.refine_convs)
    else:
        mc = config_cls(image_size=image_size, channels=channels, width=args.width)
    name = Path(args.dataset).name if folder else args.dataset.lower()
    suffix = f"-{args.latent_dim}" if kind in ("vae", "gan") else ""
    out = args.out or str(ckpt.DEFAULT_CHECKPOINT_DIR / f"{name}-{kind}{suffix}")
    tc = TrainConfig(
        dataset=args.dataset, data_dir=args.data_dir, download=args.download, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, schedule=args.schedule, seed=args.seed,
        device=args.device, out=out, resume=args.resume, limit=args.limit,
        generator_steps=getattr(args, "generator_steps", 1),
        lr_discriminator=getattr(args, "lr_discriminator", None), ema_decay=getattr(args, "ema_decay", 0.999), progress=not args.no_progress,
        mixed_precision=not args.no_mixed_precision,
    )
    return mc, tc


def main(kind: str, argv: list[str] | None = None) -> int:
    """Command-line entry point shared by train/vae.py, train/gan.py and train/classifier.py."""
    args = build_parser(kind).parse_args(argv)
    try:
        check_device(args.device)
        if args.push_to_hub:
            check_hub_repo(args.push_to_hub)  # fail now, not after hours of training
        model_config, tc = configs_from_args(kind, args)
        out = train(kind, model_config, tc)
    except (TrainingDiverged, DataError, ckpt.CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted: the last complete epoch is saved; rerun with --resume to continue.", file=sys.stderr)
        return 130
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"Saved {out}")
        if args.push_to_hub:
            from genlab.hub import push_to_hub

            try:
                url = push_to_hub(out, args.push_to_hub)
            except ckpt.CheckpointError as e:
                print(f"error: {e} The checkpoint is kept in {out}; rerun the same command with --resume "
                      f"to push it again.", file=sys.stderr)
                return 1
            print(f"Pushed {out} to {url}")
    return 0


def check_device(device: str) -> None:
    """Raise ValueError with a clear sentence unless `device` exists here."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device {device!r} is not a device PyTorch knows: use cpu, cuda or cuda:N.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for, but PyTorch sees no CUDA GPU here. Use --device cpu.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {device} was asked for, but there are only "
                             f"{torch.cuda.device_count()} CUDA GPU(s) here (cuda:0 ...).")


def check_hub_repo(repo_id: str) -> None:
    """Raise ValueError unless `repo_id` is a valid Hub repo id and a Hub token is available."""
    from huggingface_hub import get_token
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise ValueError(f"--push-to-hub {repo_id!r} is not a valid Hub repo id (expected 'owner/name'): {e}") from None
    if get_token() is None:
        raise ValueError("--push-to-hub needs a Hugging Face token: run `hf auth login` or set HF_TOKEN.")
