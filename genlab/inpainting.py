"""Inpainting: hide part of an image and let the VAE, the GAN and a diffusion model fill it in, apart from any UI.

A mask is an (H, W) bool tensor, True where a pixel is *hidden*. Both models fill the hole the same
way in spirit: find a latent z whose picture agrees with the visible pixels, decode it, and paste
the visible pixels back, so a fill never changes what was shown.

- VAE: fit q(z) = N(mu, sigma^2) to the visible pixels by the ELBO (Bernoulli NLL of the visible
  pixels, the VAE's own likelihood, + KL to the N(0, I) prior), from a random start per fill, and
  decode one draw from it.
- GAN: inversion (`genlab.latent.invert`) on the visible pixels only (`pixel_weights`), one random
  start per fill.
- Diffusion: no latent is searched: the sampler runs from noise and the visible pixels, noised to
  each step's time, are put back after every step (RePaint-style, `genlab.models.diffusion.inpaint`).

A fill is a guess: each fill starts from its own random latent (a seeded CPU torch.Generator), and
the spread of the guesses is part of the answer. Requests that arrive together (a class) are searched
together, one search per model (`FillBatcher`), and each gets exactly the answer it gets alone. Images are (C, H, W) or (B, C, H, W) in [0, 1].
The numbers under a fill: the error on the hidden region against the original (when known), the
sharpness of the hidden region (variance of the Laplacian there), and a classifier's verdict.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genlab.latent import Plateau, _Adam, _as_model, _eval_mode, _generator_of, _module_device, bank_starts, decode
from genlab.metrics import laplacian
from genlab.models.vae import kl_to_standard_normal

MASK_PRESETS = ("bottom half", "top half", "left half", "right half", "centre box", "random pixels")
MAX_FILLS = 16
MAX_STEPS = 5000
# Adam on (mu, log sigma^2). At 0.3, 100 steps give the fills that 200 steps at 0.1 gave (bench/inpainting.py,
# 200 test images, bottom half: error, sharpness and accuracy within one standard error on both datasets).
VAE_LR = 0.3
DEFAULT_STEPS = 100  # GAN inversion on the visible pixels: 50 steps reach what 200 did on MNIST
# A fill stops before its steps once its loss has stopped falling (genlab.latent.Plateau): by less than
# this share over 10 steps. None: every step runs. Per image with 4 fills, 200 steps asked: the same
# error, sharpness and accuracy within a standard error, in half the time or less.
TOLERANCE: float | None = 0.002
# The GAN's search (the plateau of its best errors' mean) stops at 0.02: on requests as the tab sends
# them (4 fills, 100 steps at most), 16% (MNIST) and 37% (Fashion-MNIST) fewer steps than at 0.002,
# with the same error, sharpness and accuracy within a standard error (bench/inpainting.py
# --class-requests; the 200-image table within noise too; BENCHMARKS.md).
GAN_TOLERANCE: float | None = 0.02
GAN_LR = 0.05  # invert's default
MASK_COVERAGE = 0.5  # a model pixel is hidden when at least this share of it is painted

ProgressFn = Callable[[int, int], Any]  # progress(step, steps), as genlab.latent.invert calls it


# --------------------------------------------------------------------------- masks


def bottom_half(height: int, width: int) -> torch.Tensor:
    """(H, W) bool, the lower half hidden (the middle row of an odd height stays visible)."""
    hidden = torch.zeros(height, width, dtype=torch.bool)
    hidden[(height + 1) // 2:] = True
    return hidden


def top_half(height: int, width: int) -> torch.Tensor:
    return bottom_half(height, width).flip(0)


def right_half(height: int, width: int) -> torch.Tensor:
    return bottom_half(width, height).T.contiguous()


def left_half(height: int, width: int) -> torch.Tensor:
    return right_half(height, width).flip(1)


def centre_box(height: int, width: int, fraction: float = 0.5) -> torch.Tensor:
    """(H, W) bool, a centred box of `fraction` of the height and of the width hidden."""
    hidden = torch.zeros(height, width, dtype=torch.bool)
    bh, bw = max(1, round(height * fraction)), max(1, round(width * fraction))
    top, left = (height - bh) // 2, (width - bw) // 2
    hidden[top:top + bh, left:left + bw] = True
    return hidden


def random_pixels(height: int, width: int, fraction: float = 0.5, seed: int = 0) -> torch.Tensor:
    """(H, W) bool, `fraction` of the pixels hidden, chosen by a seeded generator (exactly that many)."""
    count = round(height * width * fraction)
    order = torch.randperm(height * width, generator=torch.Generator().manual_seed(int(seed)))
    hidden = torch.zeros(height * width, dtype=torch.bool)
    hidden[order[:count]] = True
    return hidden.view(height, width)


def preset_mask(name: str, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """The (H, W) bool mask of preset `name` (one of MASK_PRESETS); `seed` picks the random pixels."""
    makers = {"bottom half": bottom_half, "top half": top_half, "left half": left_half,
              "right half": right_half, "centre box": centre_box}
    if name == "random pixels":
        return random_pixels(height, width, seed=seed)
    if name not in makers:
        raise ValueError(f"The mask preset must be one of {', '.join(MASK_PRESETS)}; got {name!r}.")
    return makers[name](height, width)


def mask_from_paint(coverage: Any, height: int, width: int, threshold: float = MASK_COVERAGE) -> torch.Tensor:
    """A painted picture's coverage (h, w) in [0, 1] (e.g. a brush layer's alpha / 255) -> (H, W) bool.

    The painting may be larger than the image (it is drawn over an enlarged copy) but must have the
    image's shape: it is averaged down to H x W, and a pixel is hidden when at least `threshold` of
    it is painted.
    """
    paint = torch.as_tensor(np.asarray(coverage, dtype=np.float32))
    if paint.ndim != 2 or paint.shape[0] < 1 or paint.shape[1] < 1:
        raise ValueError(f"The mask must be one 2-d picture; got shape {tuple(paint.shape)}.")
    h, w = paint.shape
    if h * width != w * height:
        raise ValueError(f"The mask is {w}×{h} pixels but the image is {width}×{height}: "
                         "draw the mask over the image, or send one of the image's shape.")
    if (h, w) != (height, width):
        paint = F.adaptive_avg_pool2d(paint[None, None], (height, width))[0, 0]
    return paint >= threshold


def check_mask(hidden: Any, height: int, width: int, allow_nothing_hidden: bool = False) -> torch.Tensor:
    """`hidden` as an (H, W) bool tensor on the CPU; raises ValueError with one clear sentence.

    Refused: a mask of another size, a mask that hides every pixel (there is nothing left to go
    on), and, unless `allow_nothing_hidden`, one that hides nothing (there is nothing to fill).
    """
    mask = torch.as_tensor(hidden).detach().cpu()
    if mask.ndim != 2 or tuple(mask.shape) != (height, width):
        size = "×".join(str(n) for n in reversed(mask.shape)) if mask.ndim else "a single number"
        raise ValueError(f"The mask is {size} pixels but the image is {width}×{height}: "
                         "it must have the image's size.")
    mask = mask.bool() if mask.dtype == torch.bool else mask > 0.5
    if bool(mask.all()):
        raise ValueError("Everything is hidden: leave part of the image visible, so the models have "
                         "something to go on.")
    if not allow_nothing_hidden and not bool(mask.any()):
        raise ValueError("Nothing is hidden: hide part of the image (paint over it or pick a preset) "
                         "for the models to fill.")
    return mask


# --------------------------------------------------------------------------- the numbers


def paste(decoded: torch.Tensor, images: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """The model's pixels where hidden, the image's elsewhere: (B, C, H, W) each, hidden (H, W) bool."""
    return torch.where(hidden.to(images.device), decoded.to(images), images)


def hidden_error(completed: torch.Tensor, original: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the hidden pixels (and channels): (B, C, H, W) x2 -> (B,); NaN if none is hidden."""
    h = hidden.to(completed.device)
    if not bool(h.any()):
        return torch.full((completed.shape[0],), float("nan"), device=completed.device)
    return (completed - original.to(completed)).pow(2)[..., h].flatten(1).mean(1)


def masked_sharpness(images: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Variance of the Laplacian over the hidden region: (B, C, H, W) -> (B,).

    The same measure as `genlab.metrics.sharpness`, taken only where the 3x3 Laplacian is centred on
    a hidden pixel (edges the fill makes with the visible border count: a seam is part of the fill).
    NaN when fewer than two such pixels exist (nothing hidden away from the image's border).
    """
    lap = laplacian(images.float())  # (B, C, H-2, W-2), centred on the interior pixels
    inside = hidden.to(images.device)[1:-1, 1:-1]
    if int(inside.sum()) * images.shape[1] < 2:
        return torch.full((images.shape[0],), float("nan"), device=images.device)
    return lap[..., inside].flatten(1).var(dim=1)


@torch.no_grad()
def classify(classifier: Any, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> (predicted class (B,) long, its probability (B,)) by a genlab Classifier."""
    model = _as_model(classifier)
    with _eval_mode(model):
        probs = model(images.to(_module_device(model), torch.float32)).softmax(1)
    confidence, predicted = probs.max(1)
    return predicted.to(images.device), confidence.to(images.device)


# --------------------------------------------------------------------------- the fills


def _check_images(model: nn.Module, images: torch.Tensor) -> None:
    cfg = model.config
    if images.ndim != 4 or tuple(images.shape[1:]) != (cfg.channels, cfg.image_size, cfg.image_size):
        raise ValueError(f"This model makes {cfg.channels}×{cfg.image_size}×{cfg.image_size} images; "
                         f"got shape {tuple(images.shape[1:] if images.ndim == 4 else images.shape)}.")


def _check_steps(steps: int) -> int:
    if isinstance(steps, bool) or int(steps) != steps or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be a whole number from 1 to {MAX_STEPS}, got {steps}.")
    return int(steps)


# --------------------------------------------------------------------------- the searches, several requests at once
#
# A class asks for many fills at once, and one batched search costs less per row than many small ones
# (a forward and backward pass of mnist-vae-16's decoder: 0.49 ms a row in a batch of 4, 0.21 ms in
# 64; mnist-gan-32's generator 0.80 and 0.72 ms; and the search's per-step work is shared; measured
# per request: bench/inpainting.py --class-requests). So the fills of every request on one model
# run as one search: a request (a `FillJob`: its images, mask,
# seed, step budget and plateau) joins the running search at its next step and leaves it when its
# own search ends, and its answer is the one it gets alone, bit for bit. For that, each request's
# rows are padded to a multiple of BATCH_ALIGN (copies of its last row, dropped from every number):
# PyTorch's CPU kernels give a row the same bits in any batch whose rows and offsets are multiples
# of 4, and not always otherwise (a matrix product over fewer than 4 rows, a sigmoid's vector tail).

BATCH_ALIGN = 4
MAX_BATCH_ROWS = 128  # rows searched at once (past ~64 a row costs no less); more requests wait for rows to free up
GAN_PRIOR_WEIGHT = 1e-3  # genlab.latent.invert's: keeps z near the shell where N(0, I) latents live


@dataclass(eq=False)
class FillJob:
    """One request's fills: its rows, mask, seed, step budget and plateau; its answer as if alone.

    images (B, C, H, W) in [0, 1]; hidden (H, W) bool. Written by the search: `reached` (the last
    (step, steps) done), then `latents` (B, D) and `decoded` (B, C, H, W) or `error`, then `done` is set.
    """

    images: torch.Tensor
    hidden: torch.Tensor
    steps: int = DEFAULT_STEPS
    seed: int = 0
    lr: float | None = None  # None: the model's default (VAE_LR, GAN_LR)
    tolerance: float | None = TOLERANCE
    progress: ProgressFn | None = None  # called by the thread that runs the search
    reached: tuple[int, int] | None = None
    steps_run: int | None = None  # the optimizer's steps when the search ended (its plateau, or `steps`)
    latents: torch.Tensor | None = None
    decoded: torch.Tensor | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def rows(self) -> int:
        """Rows the job takes in a search, padding included."""
        return -(-self.images.shape[0] // BATCH_ALIGN) * BATCH_ALIGN

    def _report(self, step: int) -> None:
        self.reached = (step, self.steps)
        if self.progress is not None:
            self.progress(step, self.steps)

    def _finish(self, steps_run: int, latents: torch.Tensor, decoded: torch.Tensor) -> None:
        self.steps_run, self.latents, self.decoded = steps_run, latents.detach(), decoded.detach()
        self.done.set()

    def _fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


def _padded(rows: torch.Tensor, count: int) -> torch.Tensor:
    """(B, ...) -> (count, ...): the last row repeated to fill."""
    return rows if rows.shape[0] == count else torch.cat([rows, rows[-1:].expand(count - rows.shape[0], *rows.shape[1:])])


class _Group:
    """One job inside a search: where its rows are, its plateau and its step count (the tensors
    live side by side in `_Search.state`)."""

    def __init__(self, job: FillJob) -> None:
        self.job, self.size, self.rows = job, job.images.shape[0], job.rows
        self.plateau = Plateau(job.tolerance)
        self.step = 0
        self.report_every = max(1, job.steps // 50)
        self.noise: torch.Tensor | None = None  # the VAE's draws, (steps + 1, rows, D)


class _Search:
    """The rows of the jobs being searched together on one model; `step` moves them all once.

    Every per-row tensor (parameters, Adam's moments, targets, weights...) holds all the jobs' rows
    side by side, so a step is the same few dozen tensor operations however many jobs take part:
    each operation hands Python's lock to the server's other threads and waits to get it back, and
    on a busy server that wait, not the arithmetic, is what a per-job loop of small operations costs.
    """

    BETAS, EPS = (0.9, 0.999), 1e-8  # Adam's (genlab.latent._Adam's)

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.device = _module_device(model)
        self.groups: list[_Group] = []
        self.state: dict[str, torch.Tensor] = {}
        self._index: tuple[torch.Tensor, torch.Tensor] | None = None  # (group of each row, 1 for a real row, 0 for a pad)

    @property
    def rows(self) -> int:
        return sum(g.rows for g in self.groups)

    def admit(self, job: FillJob) -> None:
        group = _Group(job)
        target = _padded(job.images.to(self.device, torch.float32), group.rows)
        visible = (~job.hidden.to(self.device)).to(torch.float32).expand_as(target).contiguous()
        lr = (self.default_lr if job.lr is None else job.lr)
        rows = {"target": target, "visible": visible, **self._start(group, target, visible),
                "lr": torch.full((group.rows, 1), float(lr), device=self.device)}
        rows["m"] = torch.zeros_like(rows["params"])
        rows["v"] = torch.zeros_like(rows["params"])
        self.state = rows if not self.groups else {k: torch.cat([self.state[k], rows[k]]) for k in self.state}
        self.groups.append(group)
        self._index = None

    def _leave(self, finished: list[_Group]) -> None:
        if not finished:
            return
        keep = torch.tensor([i for g, start in zip(self.groups, self._starts()) if g not in finished
                             for i in range(start, start + g.rows)], dtype=torch.long, device=self.device)
        self.state = {k: v.index_select(0, keep) for k, v in self.state.items()}
        self.groups = [g for g in self.groups if g not in finished]
        self._index = None

    def _starts(self) -> list[int]:
        starts, at = [], 0
        for g in self.groups:
            starts.append(at)
            at += g.rows
        return starts

    def _group_sums(self, per_row: torch.Tensor) -> list[float]:
        """Per group, the sum of `per_row` (N,) over its real rows (in row order, as alone)."""
        if self._index is None:
            which = [i for i, g in enumerate(self.groups) for _ in range(g.rows)]
            real = [float(r < g.size) for g in self.groups for r in range(g.rows)]
            self._index = (torch.tensor(which, device=self.device), torch.tensor(real, device=self.device))
        which, real = self._index
        return torch.zeros(len(self.groups), device=self.device).index_add_(0, which, per_row * real).tolist()

    def _adam(self, grad: torch.Tensor) -> None:
        """One Adam step on every row of the parameters; each row with its own group's step count and lr."""
        b1, b2 = self.BETAS
        s = self.state
        steps = [g.step + 1 for g in self.groups for _ in range(g.rows)]
        c1 = torch.tensor([1 - b1**t for t in steps], device=self.device)[:, None]
        c2 = torch.tensor([1 - b2**t for t in steps], device=self.device)[:, None]
        with torch.no_grad():
            s["m"].mul_(b1).add_(grad, alpha=1 - b1)
            s["v"].mul_(b2).addcmul_(grad, grad, value=1 - b2)
            s["params"].sub_(s["lr"] * (s["m"] / c1) / ((s["v"] / c2).sqrt() + self.EPS))

    def _start(self, group: _Group, target: torch.Tensor, visible: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def step(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while self.groups:
            self.step()


class _VaeSearch(_Search):
    """fill_vae's search (its docstring has the maths), one group per job."""

    default_lr = VAE_LR

    def _start(self, group: _Group, target: torch.Tensor, visible: torch.Tensor) -> dict[str, torch.Tensor]:
        dim, job = self.model.latent_dim, group.job
        g = torch.Generator().manual_seed(int(job.seed))
        start = torch.randn((group.size, dim), generator=g)
        # Every draw the search will make, at once: step s draws noise[s], the final guess noise[steps run].
        noise = torch.randn((job.steps + 1, group.size, dim), generator=g)
        group.noise = torch.cat([noise, torch.zeros(job.steps + 1, group.rows - group.size, dim)], 1).to(self.device)
        params = torch.cat([start, torch.zeros_like(start)], dim=1).to(self.device)  # [mu | logvar]
        return {"params": _padded(params, group.rows).clone()}

    def _draw(self, params: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        dim = self.model.latent_dim
        return params[:, :dim] + (0.5 * params[:, dim:].clamp(-30.0, 20.0)).exp() * eps

    def step(self) -> None:
        dim, model, s = self.model.latent_dim, self.model, self.state
        params = s["params"].requires_grad_(True)
        eps = torch.cat([g.noise[g.step] for g in self.groups])
        mu, logvar = params[:, :dim], params[:, dim:].clamp(-30.0, 20.0)
        with _eval_mode(model):
            nll = F.binary_cross_entropy_with_logits(model.decode_logits(self._draw(params, eps)), s["target"],
                                                     reduction="none")
        # Per row, its -ELBO on the visible pixels; summed, each row's parameters get their own gradient.
        row_loss = (nll * s["visible"]).flatten(1).sum(1) + kl_to_standard_normal(mu, logvar).sum(1)
        (grad,) = torch.autograd.grad(row_loss.sum(), [params])
        params.requires_grad_(False)
        self._adam(grad)
        finished = []
        for g, start, loss in zip(self.groups, self._starts(), self._group_sums(row_loss.detach())):
            g.step += 1
            done = g.plateau.reached(loss)
            if g.step % g.report_every == 0 or g.step == g.job.steps or done:
                g.job._report(g.job.steps if done else g.step)
            if done or g.step == g.job.steps:
                with torch.no_grad():
                    latents = self._draw(s["params"][start:start + g.rows], g.noise[g.step])
                g.job._finish(g.step, latents[:g.size], decode(model, latents, device=self.device)[:g.size])
                finished.append(g)
        self._leave(finished)


class _GanSearch(_Search):
    """fill_gan's search: genlab.latent.invert's (one restart, pixel weights, best step kept), one group per job."""

    default_lr = GAN_LR

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        self.gan, self.generator = model, _generator_of(model)
        self.device = _module_device(self.generator)

    def _start(self, group: _Group, target: torch.Tensor, visible: torch.Tensor) -> dict[str, torch.Tensor]:
        job = group.job
        # Each row starts from one of the few bank pictures closest to its visible pixels, a different
        # one per fill of the same image (seeded): good starts reach the plateau in fewer steps.
        starts = bank_starts(self.gan, job.images, (~job.hidden).to(torch.float32)[None, None], seed=job.seed)
        params = _padded(starts.to(self.device, torch.float32), group.rows).clone()
        return {"params": params, "best_z": params.clone(), "weight_sum": visible.flatten(1).sum(1),
                "best_err": torch.full((group.rows,), float("inf"), device=self.device)}

    def step(self) -> None:
        s = self.state
        z = s["params"].requires_grad_(True)
        with _eval_mode(self.generator):
            x = self.generator(z)
        err = ((x - s["target"]).pow(2) * s["visible"]).flatten(1).sum(1) / s["weight_sum"]  # (N,) visible pixels
        with torch.no_grad():
            better = err < s["best_err"]
            s["best_err"] = torch.where(better, err, s["best_err"])
            s["best_z"] = torch.where(better[:, None], z, s["best_z"])
        finished = []
        for g, start, total in zip(self.groups, self._starts(), self._group_sums(s["best_err"])):
            if g.step == g.job.steps or g.plateau.reached(total / g.size):
                if g.step < g.job.steps:
                    g.job._report(g.job.steps)  # stopped early: the search is done
                best = s["best_z"][start:start + g.rows]
                with torch.no_grad(), _eval_mode(self.generator):
                    pictures = self.generator(best)
                g.job._finish(g.step, best[:g.size].clone(), pictures[:g.size])
                finished.append(g)
        if len(finished) < len(self.groups):
            loss = (err + GAN_PRIOR_WEIGHT * z.pow(2).mean(1)).sum()
            (grad,) = torch.autograd.grad(loss, [z])
            z.requires_grad_(False)
            self._adam(grad)  # the finished groups' rows move too, and are dropped below
            for g in self.groups:
                if g in finished:
                    continue
                g.step += 1
                if g.step % g.report_every == 0 or g.step == g.job.steps:
                    g.job._report(g.step)
        else:
            z.requires_grad_(False)
        self._leave(finished)


def _search_for(model: nn.Module) -> _Search:
    if hasattr(model, "decode_logits"):
        return _VaeSearch(model)
    generator = _generator_of(model)
    if getattr(generator.config, "needs_labels", False):
        raise ValueError("Inpainting works with unconditional GANs only; this one is class-conditional.")
    return _GanSearch(model)


def run_fills(model: Any, jobs: list[FillJob]) -> list[FillJob]:
    """Search `jobs` on `model` together, in this thread; each job gets its answer or its own error.

    The batched search is the point; should it fail as a whole, each job is searched alone, so one
    bad request gets its own error and the others their answers.
    """
    search = _search_for(_as_model(model))
    try:
        for job in jobs:
            search.admit(job)
        search.run()
    except Exception:  # noqa: BLE001 - each job is rerun alone and gets its own error
        for job in jobs:
            if not job.done.is_set():
                _run_alone(model, job)
    return jobs


def _run_alone(model: Any, job: FillJob) -> None:
    try:
        search = _search_for(_as_model(model))
        search.admit(job)
        search.run()
    except Exception as e:  # noqa: BLE001 - handed to the job's caller
        job._fail(e)


class FillBatcher:
    """One model's fill requests, searched together by one worker thread as they come.

    A request joins the running search at its next step (`_Search`), so a class's requests share
    the passes through the network without waiting for each other's searches to end; each answer is
    the one the request gets alone. The thread ends when no work is left and starts with the next.
    """

    def __init__(self, model: nn.Module, max_rows: int = MAX_BATCH_ROWS) -> None:
        self._model, self.max_rows = weakref.ref(model), max_rows  # weak: the registry must not keep it alive
        self._pending: list[FillJob] = []
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def submit(self, job: FillJob) -> FillJob:
        with self._lock:
            self._pending.append(job)
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="genlab-fills")
                self._worker.start()
        return job

    def _work(self) -> None:
        model = self._model()
        search = _search_for(model)
        while True:
            with self._lock:
                admit = []
                rows = search.rows
                while self._pending and (not search.groups and not admit or rows + self._pending[0].rows <= self.max_rows):
                    job = self._pending.pop(0)
                    admit.append(job)
                    rows += job.rows
                if not admit and not search.groups:
                    self._worker = None
                    return
            try:
                for job in admit:
                    try:
                        search.admit(job)
                    except Exception as e:  # noqa: BLE001 - this request's own error
                        job._fail(e)
                if search.groups:
                    search.step()
            except Exception:  # noqa: BLE001 - each job still running is searched again alone
                for g in search.groups:
                    if not g.job.done.is_set():
                        _run_alone(model, g.job)
                search = _search_for(model)


_batchers: "weakref.WeakKeyDictionary[nn.Module, FillBatcher]" = weakref.WeakKeyDictionary()
_batchers_lock = threading.Lock()


def batcher(model: Any) -> FillBatcher:
    """The one FillBatcher of `model` (a VAE or an unconditional GAN) in this process."""
    module = _as_model(model)
    with _batchers_lock:
        if module not in _batchers:
            _batchers[module] = FillBatcher(module)
        return _batchers[module]


def wait_for(job: FillJob, progress: ProgressFn | None = None, poll_s: float = 0.1) -> FillJob:
    """Wait for a submitted job in this thread, passing its progress on from here (a UI's progress
    tracker belongs to the thread of the request); raises the job's own error."""
    last = None
    while True:
        finished = job.done.wait(poll_s if progress is not None else None)
        if progress is not None and job.reached is not None and job.reached != last:
            last = job.reached
            progress(*last)
        if finished:
            break
    if job.error is not None:
        raise job.error
    return job


def fill_vae(vae: Any, images: torch.Tensor, hidden: torch.Tensor, steps: int = DEFAULT_STEPS, seed: int = 0,
             lr: float = VAE_LR, progress: ProgressFn | None = None,
             tolerance: float | None = TOLERANCE) -> tuple[torch.Tensor, torch.Tensor]:
    """One VAE guess per image from the visible pixels: (latents (B, D), decodings (B, C, H, W)).

    images (B, C, H, W) in [0, 1]; hidden (H, W) bool. Per image, fits a Gaussian q(z) =
    N(mu, sigma^2) to the visible pixels by maximizing their ELBO with Adam (one reparameterized
    draw per step): Bernoulli NLL of the visible pixels (the VAE's own likelihood) + KL(q || N(0, I)).
    The guess decodes one draw from the fitted q, so repeated fills differ as much as the VAE is
    unsure. Row b starts from mu = the b-th draw of N(0, I), sigma = 1; all noise comes from a
    generator seeded with `seed`. Returns on the images' device; the VAE's weights are only read.
    At most `steps` steps: fewer once the summed loss stops falling by `tolerance` (`genlab.latent.Plateau`).
    Runs in this thread (`FillBatcher` runs several requests' fills as one search).
    """
    job = _job(_as_model(vae), "vae", images, hidden, steps, seed, lr, tolerance, progress)
    return _run(vae, job, images.device)


def fill_gan(gan: Any, images: torch.Tensor, hidden: torch.Tensor, steps: int = DEFAULT_STEPS, seed: int = 0,
             lr: float = GAN_LR, progress: ProgressFn | None = None,
             tolerance: float | None = GAN_TOLERANCE) -> tuple[torch.Tensor, torch.Tensor]:
    """GAN inversion on the visible pixels: (latents (B, D), G(z) (B, C, H, W)), one start per image (`bank_starts`).

    images (B, C, H, W) in [0, 1]; hidden (H, W) bool. `genlab.latent.invert`'s search with the
    visible pixels as its pixel weights (its prior term, best-step bookkeeping and plateau on the
    mean best error) and one restart. Runs in this thread.
    """
    job = _job(_as_model(gan), "gan", images, hidden, steps, seed, lr, tolerance, progress)
    return _run(gan, job, images.device)


def _job(model: nn.Module, kind: str, images: torch.Tensor, hidden: Any, steps: int, seed: int, lr: float | None,
         tolerance: float | None, progress: ProgressFn | None = None) -> FillJob:
    """A checked FillJob of `kind` ("vae" or "gan") for `model`; ValueError with one sentence otherwise."""
    if kind == "vae":
        if not hasattr(model, "decode_logits"):
            raise ValueError("A VAE fill needs a VAE (a model with an encoder and Bernoulli outputs).")
        _check_images(model, images)
    else:
        generator = _generator_of(model)
        if getattr(getattr(generator, "config", None), "needs_labels", False):
            raise ValueError("Inpainting works with unconditional GANs only; this one is class-conditional.")
        _check_images(generator, images)
    mask = check_mask(hidden, images.shape[2], images.shape[3], allow_nothing_hidden=True)
    return FillJob(images.detach(), mask, _check_steps(steps), int(seed), lr, tolerance, progress)


def _run(model: Any, job: FillJob, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    run_fills(model, [job])
    if job.error is not None:
        raise job.error
    return job.latents.to(device), job.decoded.to(device)


@dataclass
class Inpainting:
    """Fills of one image by one model, with the numbers shown under each."""

    completed: torch.Tensor  # (F, C, H, W): the fills, visible pixels pasted back exactly
    decoded: torch.Tensor  # (F, C, H, W): the model's whole picture for each fill, before pasting
    latents: torch.Tensor  # (F, D)
    hidden: torch.Tensor  # (H, W) bool, True where hidden
    visible_error: torch.Tensor  # (F,) MSE of `decoded` on the visible pixels: how well it explains them
    hidden_error: torch.Tensor | None  # (F,) MSE on the hidden pixels against the original, when known
    sharpness: torch.Tensor  # (F,) variance of the Laplacian over the hidden region of `completed`
    predicted: torch.Tensor | None  # (F,) the classifier's class for each completed image
    confidence: torch.Tensor | None  # (F,) its probability
    seconds: float  # wall time of the search


def _checked_request(image: torch.Tensor, hidden: Any, fills: int, original: torch.Tensor | None,
                     device: str | torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One fill request checked (ValueError with one sentence) -> (mask (H, W) bool, the image
    repeated once per fill (F, C, H, W) on `device`)."""
    if image.ndim != 3:
        raise ValueError(f"image must be (C, H, W), got shape {tuple(image.shape)}.")
    if isinstance(fills, bool) or int(fills) != fills or not 1 <= fills <= MAX_FILLS:
        raise ValueError(f"fills must be a whole number from 1 to {MAX_FILLS}, got {fills}.")
    mask = check_mask(hidden, image.shape[1], image.shape[2], allow_nothing_hidden=True)
    if original is not None and tuple(original.shape) != tuple(image.shape):
        raise ValueError(f"The original is {tuple(original.shape)} but the image is {tuple(image.shape)}.")
    return mask, image.to(device, torch.float32).expand(int(fills), -1, -1, -1).contiguous()


def _inpaint(kind: str, model: Any, image: torch.Tensor, hidden: Any, fills: int, steps: int, seed: int,
             progress: ProgressFn | None, device: str | torch.device, original: torch.Tensor | None,
             classifier: Any, batched: bool) -> Inpainting:
    mask, images = _checked_request(image, hidden, fills, original, device)
    start = time.perf_counter()
    module = _as_model(model)
    tolerance = TOLERANCE if kind == "vae" else GAN_TOLERANCE
    job = _job(module, kind, images, mask, steps, seed, None, tolerance)
    if batched:
        wait_for(batcher(module).submit(job), progress)
    else:
        job.progress = progress
        _run(module, job, images.device)
    return _scored(images, mask, job.latents.to(images.device), job.decoded.to(images.device), start, original,
                   classifier)


def _scored(images: torch.Tensor, mask: torch.Tensor, latents: torch.Tensor, decoded: torch.Tensor, start: float,
            original: torch.Tensor | None, classifier: Any) -> Inpainting:
    """The fills `decoded` (F, C, H, W) of `images` pasted and measured (since `start`, perf_counter)."""
    seconds = time.perf_counter() - start
    mask = mask.to(images.device)
    completed = paste(decoded, images, mask)
    visible = ~mask
    visible_error = (decoded - images).pow(2)[..., visible].flatten(1).mean(1)
    error = None if original is None else hidden_error(completed, original.to(images).expand_as(images), mask)
    predicted = confidence = None
    if classifier is not None:
        predicted, confidence = classify(classifier, completed)
    return Inpainting(completed, decoded, latents, mask, visible_error, error, masked_sharpness(completed, mask),
                      predicted, confidence, seconds)


def inpaint_vae(model: Any, image: torch.Tensor, hidden: Any, fills: int = 4, steps: int = DEFAULT_STEPS, seed: int = 0,
                progress: ProgressFn | None = None, device: str | torch.device = "cpu",
                original: torch.Tensor | None = None, classifier: Any = None, batched: bool = True) -> Inpainting:
    """`fills` VAE fills of `image` (C, H, W) where `hidden` (H, W) is True, each from its own start.

    Results on `device`. `original` (C, H, W), when known, gives the hidden-region error; a
    `classifier` gives its verdict on each completed image. A mask that hides nothing gives the
    image back; a mask of the wrong size or one that hides everything raises ValueError.
    `batched`: searched together with other threads' requests on the same model (`FillBatcher`),
    with the answer it gets alone; else in this thread.
    """
    return _inpaint("vae", model, image, hidden, fills, steps, seed, progress, device, original, classifier, batched)


def inpaint_gan(model: Any, image: torch.Tensor, hidden: Any, fills: int = 4, steps: int = DEFAULT_STEPS, seed: int = 0,
                progress: ProgressFn | None = None, device: str | torch.device = "cpu",
                original: torch.Tensor | None = None, classifier: Any = None, batched: bool = True) -> Inpainting:
    """`fills` GAN fills of `image` (C, H, W) by inversion on the visible pixels; as `inpaint_vae`."""
    return _inpaint("gan", model, image, hidden, fills, steps, seed, progress, device, original, classifier, batched)


# The diffusion fill's ODE steps (search steps do not apply: nothing is searched), each redone once after
# stepping back up (RePaint's resampling, which blends the fill in). On 64 MNIST test images, bottom half
# hidden, mnist-diffusion: hidden-region MSE 0.132 and the classifier right on 47% with 10 steps and no
# resampling; 0.125 and 53% with 10 x 2 (4 x the cost of a 10-step sample); 0.110 and 59% with 10 x 4.
DIFFUSION_STEPS = 10
DIFFUSION_RESAMPLE = 2


def fill_diffusion(model: Any, images: torch.Tensor, hidden: torch.Tensor, steps: int = DIFFUSION_STEPS, seed: int = 0,
                   progress: ProgressFn | None = None,
                   resample: int = DIFFUSION_RESAMPLE) -> tuple[torch.Tensor, torch.Tensor]:
    """A pixel diffusion model's guesses: (starting noises (B, C*H*W), fills (B, C, H, W)).

    `genlab.models.diffusion.inpaint` (RePaint-style, after Lugmayr et al. 2022): sample from noise
    and, after every ODE step, put the visible pixels back noised to that time with the run's own
    noise; each row starts from its own noise (a generator seeded with `seed`). `steps` are ODE
    steps (2 network passes each, `resample` times). The visible pixels come back unchanged.
    """
    from genlab.models import diffusion as D

    model = _as_model(model)
    c = model.config
    if images.ndim != 4 or tuple(images.shape[1:]) != (c.channels, c.image_size, c.image_size):
        raise ValueError(f"This diffusion model makes {c.channels}x{c.image_size}x{c.image_size} images; "
                         f"got {tuple(images.shape[1:])}.")
    steps = _check_steps(steps)
    if progress is not None:
        progress(0, steps)
    noise = D.draw_noise(tuple(images.shape), torch.Generator().manual_seed(int(seed)))  # the one inpaint draws first
    filled = D.inpaint(model, images, hidden, steps=steps, generator=torch.Generator().manual_seed(int(seed)),
                       resample=resample)
    if progress is not None:
        progress(steps, steps)
    return noise.flatten(1).to(images.device), filled.to(images.device)


def inpaint_diffusion(model: Any, image: torch.Tensor, hidden: Any, fills: int = 4, steps: int = DIFFUSION_STEPS,
                      seed: int = 0, progress: ProgressFn | None = None, device: str | torch.device = "cpu",
                      original: torch.Tensor | None = None, classifier: Any = None) -> Inpainting:
    """`fills` diffusion fills of `image` (C, H, W) where `hidden` (H, W) is True; as `inpaint_vae`
    (one sampler run for all the fills, each from its own noise; nothing is searched, so no batcher)."""
    mask, images = _checked_request(image, hidden, fills, original, device)
    start = time.perf_counter()
    latents, decoded = fill_diffusion(model, images, mask, steps=steps, seed=seed, progress=progress)
    return _scored(images, mask, latents, decoded, start, original, classifier)


# --------------------------------------------------------------------------- the stored benchmark

INPAINTING_SUFFIX = "-inpainting.json"  # <checkpoints>/<dataset>-inpainting.json, by bench/inpainting.py
INPAINTING_COLUMNS = ["Filled by", "Hidden-region error (MSE, lower: closer to the truth)",
                      "Sharpness of the hidden region (variance of the Laplacian)",
                      "Classifier accuracy on the completed images"]
INPAINTING_ROWS = {"vae": "VAE", "gan": "GAN", "real": "Real images (the truth)",
                   "visible_only": "Nothing (the hole left black)"}


def inpainting_path(root: str | Path, dataset: str) -> Path:
    return Path(root) / f"{dataset}{INPAINTING_SUFFIX}"


def read_inpainting(root: str | Path, dataset: str) -> dict[str, Any] | None:
    """The stored inpainting benchmark of `dataset` (schema in bench/inpainting.py), or None."""
    try:
        result = json.loads(inpainting_path(root, dataset).read_text())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and isinstance(result.get("results"), dict) else None


def _mean_se(entry: dict[str, Any], key: str, digits: int) -> str:
    value, se = entry.get(key), entry.get(f"{key}_se")
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value:.{digits}f}" + (f" ± {se:.{digits}f}" if isinstance(se, (int, float)) and se > 0 else "")


def inpainting_rows(result: dict[str, Any]) -> list[list[str]]:
    """The benchmark as table rows (INPAINTING_COLUMNS): VAE, GAN, real images, the hole left black."""
    rows = []
    for key, label in INPAINTING_ROWS.items():
        entry = result["results"].get(key)
        if not isinstance(entry, dict):
            continue
        name = result.get("models", {}).get(key)
        accuracy = entry.get("accuracy")
        rows.append([f"{label} ({name})" if name else label, _mean_se(entry, "hidden_mse", 4),
                     _mean_se(entry, "sharpness", 3),
                     f"{100 * accuracy:.1f}%" if isinstance(accuracy, (int, float)) else "–"])
    return rows
