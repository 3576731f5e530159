"""Measurements behind the "VAE vs GAN" lesson: one pure function per trade-off.

Images are (B, C, H, W) float in [0, 1]; features are (N, F) rows from the classifier's
penultimate layer (`Classifier.features`). Everything is computed with torch on the device
the inputs live on; statistics that need precision (covariances, square roots) use float64.
Randomness comes from seeded CPU generators, so a seed gives the same numbers every time.

`compare_models` runs them all on one VAE, one GAN and one classifier and returns a
JSON-ready dict; `comparison_rows` turns that dict into the lesson's table.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from genlab.checkpoints import Checkpoint, load_checkpoint, read_history
from genlab.data import ImageData

ProgressFn = Callable[[float, str], Any]  # progress(fraction in [0, 1], description); gr.Progress fits

COMPARISON_SUFFIX = "-comparison.json"


# --------------------------------------------------------------------------- sharpness


_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian(images: torch.Tensor) -> torch.Tensor:
    """images (B, C, H, W) -> their discrete Laplacian (B, C, H-2, W-2), each channel on its own."""
    c = images.shape[1]
    kernel = _LAPLACIAN.to(images.device, images.dtype).expand(c, 1, 3, 3)
    return F.conv2d(images, kernel, groups=c)


def sharpness(images: torch.Tensor) -> torch.Tensor:
    """Variance of the Laplacian per image: (B, C, H, W) in [0, 1] -> (B,). Blurry images score low.

    The Laplacian responds to edges; a blurred image has weak, smooth edges, so its Laplacian
    varies little.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}.")
    return laplacian(images.float()).flatten(1).var(dim=1)


# --------------------------------------------------------------------------- realism


def _mean_cov(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = feats.detach().to(torch.float64)
    mu = x.mean(0)
    xc = x - mu
    return mu, xc.T @ xc / max(1, x.shape[0] - 1)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues -> 0)."""
    vals, vecs = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def trace_sqrt_product(cov_a: torch.Tensor, cov_b: torch.Tensor) -> torch.Tensor:
    """tr sqrt(A B) for PSD A, B, computed as the sum of sqrt(eigvals(sqrt(A) B sqrt(A))).

    sqrt(A) B sqrt(A) is symmetric PSD and similar to A B, so it has the same eigenvalues,
    and a symmetric eigensolver is stable where a general matrix square root is not.
    """
    root_a = _psd_sqrt(cov_a)
    middle = root_a @ cov_b @ root_a
    return torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, F) and (M, F).

    d^2 = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 sqrt(S_a S_b)) (Heusel et al. 2017, "FID" when the
    features come from Inception; here they come from our classifier). 0 for identical sets.
    """
    if feats_a.ndim != 2 or feats_b.ndim != 2 or feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"Need (N, F) and (M, F) features, got {tuple(feats_a.shape)} and {tuple(feats_b.shape)}.")
    mu_a, cov_a = _mean_cov(feats_a)
    mu_b, cov_b = _mean_cov(feats_b)
    d2 = (mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * trace_sqrt_product(cov_a, cov_b)
    return max(0.0, float(d2))


def precision_recall(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = 3,
                     chunk: int = 1024) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of fake (M, F) against real (N, F).

    Each set's manifold is the union of balls around its points, of radius the distance to the
    k-th nearest neighbour in the same set. Precision: the share of fakes inside the real
    manifold (are samples realistic?). Recall: the share of reals inside the fake manifold
    (does the model cover the data?).
    """
    real, fake = real_feats.detach().float(), fake_feats.detach().float()
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision_recall needs more than k={k} points in each set.")
    real_radii, fake_radii = _knn_radii(real, k, chunk), _knn_radii(fake, k, chunk)
    precision = _inside_share(fake, real, real_radii, chunk)
    recall = _inside_share(real, fake, fake_radii, chunk)
    return precision, recall


def _knn_radii(points: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """(N, F) -> (N,) distance of each point to its k-th nearest other point."""
    radii = []
    for i in range(0, len(points), chunk):
        d = torch.cdist(points[i:i + chunk], points)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # the 1st smallest is the point itself
    return torch.cat(radii)


def _inside_share(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int) -> float:
    inside = []
    for i in range(0, len(queries), chunk):
        d = torch.cdist(queries[i:i + chunk], centres)
        inside.append((d <= radii[None]).any(dim=1))
    return float(torch.cat(inside).float().mean())


# --------------------------------------------------------------------------- mode collapse


def class_histogram(probs_or_labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Share of samples per class, (K,) summing to 1.

    Takes predicted labels (N,) (integers) or class probabilities / logits (N, K), which are
    counted by their most likely class.
    """
    x = probs_or_labels.detach()
    labels = x.argmax(dim=1) if x.ndim == 2 else x.long()
    if labels.numel() == 0:
        raise ValueError("class_histogram needs at least one sample.")
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f"Labels must lie in [0, {num_classes}).")
    counts = torch.bincount(labels.cpu(), minlength=num_classes).double()
    return counts / counts.sum()


def kl_to_uniform(hist: torch.Tensor | Sequence[float]) -> float:
    """KL(hist || uniform) in nats: 0 when every class is equally common, ln K when one class takes all."""
    p = torch.as_tensor(hist, dtype=torch.float64)
    p = p / p.sum()
    k = p.numel()
    nonzero = p[p > 0]
    return float((nonzero * (nonzero * k).log()).sum())


def classes_covered(hist: torch.Tensor | Sequence[float], threshold: float | None = None) -> int:
    """How many classes get at least `threshold` of the samples (default: a fifth of a fair share, 0.2/K)."""
    p = torch.as_tensor(hist, dtype=torch.float64)
    p = p / p.sum()
    if threshold is None:
        threshold = 0.2 / p.numel()
    return int((p >= threshold).sum())


# --------------------------------------------------------------------------- latent smoothness


@torch.no_grad()
def path_length(decode_fn: Callable[[torch.Tensor], torch.Tensor],
                features_fn: Callable[[torch.Tensor], torch.Tensor],
                z0: torch.Tensor, z1: torch.Tensor, steps: int = 1, eps: float = 1e-2,
                seed: int = 0) -> float:
    """Perceptual path length (Karras et al. 2019) in classifier-feature space, linear interpolation.

    z0, z1: (N, D) pairs of latents. For each pair, `steps` positions t ~ U[0, 1 - eps] are drawn
    (seeded); the score is the mean of |f(g(lerp(t))) - f(g(lerp(t + eps)))|^2 / eps^2, where g
    decodes and f maps images to features. A smooth latent space changes the picture a little
    for a small step, everywhere; jumps between modes make it large. 0 for a constant path.
    """
    if z0.shape != z1.shape or z0.ndim != 2:
        raise ValueError(f"z0 and z1 must both be (N, D), got {tuple(z0.shape)} and {tuple(z1.shape)}.")
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps}.")
    g = torch.Generator().manual_seed(int(seed))
    n = z0.shape[0]
    t = (torch.rand((steps, n, 1), generator=g) * (1 - eps)).to(z0.device, z0.dtype)
    za = torch.lerp(z0[None], z1[None], t).reshape(-1, z0.shape[1])
    zb = torch.lerp(z0[None], z1[None], t + eps).reshape(-1, z0.shape[1])
    fa, fb = features_fn(decode_fn(za)), features_fn(decode_fn(zb))
    return float(((fa - fb).double().pow(2).sum(dim=1) / eps**2).mean())


# --------------------------------------------------------------------------- likelihood


@torch.no_grad()
def negative_elbo(vae: torch.nn.Module, images: torch.Tensor, seed: int = 0, batch_size: int = 500) -> float:
    """-ELBO of `images` (B, C, H, W) under `vae` (beta = 1, one sample of z), nats per image."""
    g = torch.Generator().manual_seed(int(seed))
    total = 0.0
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size]
        total += float(vae.loss(x, generator=g, beta=1.0).negative_elbo) * len(x)
    return total / len(images)


@torch.no_grad()
def iwae_nll(vae: torch.nn.Module, images: torch.Tensor, k: int = 64, seed: int = 0, batch_size: int = 128) -> float:
    """-(importance-weighted bound with k samples), nats per image: an upper bound on -log p(x)
    that is at most the -ELBO (k = 1) and tightens as k grows (Burda et al. 2016)."""
    g = torch.Generator().manual_seed(int(seed))
    total = 0.0
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size]
        total += float(vae.iwae_bound(x, num_samples=k, generator=g).sum())
    return -total / len(images)


# --------------------------------------------------------------------------- training stability


def oscillation(series: Sequence[float]) -> float:
    """How much a per-epoch loss curve wobbles: std of its first difference / mean |value|.

    Scale-free, so a VAE's loss in hundreds of nats and a GAN's around 1 compare. A steadily
    falling curve scores near 0; a curve that jumps up and down scores high. NaN if < 3 points.
    """
    x = torch.as_tensor([float(v) for v in series], dtype=torch.float64)
    x = x[torch.isfinite(x)]
    if x.numel() < 3:
        return float("nan")
    return float(x.diff().std() / x.abs().mean().clamp(min=1e-12))


def _late(series: list[float]) -> list[float]:
    """The second half of a curve: past the first fast drop, where stability shows."""
    return series[len(series) // 2:] if len(series) >= 6 else series


# --------------------------------------------------------------------------- the whole table


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _features(classifier: torch.nn.Module, images: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """images (N, C, H, W) -> (features (N, F), logits (N, K)) from the classifier, in batches."""
    feats, logits = [], []
    for i in range(0, len(images), batch_size):
        f = classifier.features(images[i:i + batch_size])
        feats.append(f)
        logits.append(classifier.head(f))
    return torch.cat(feats), torch.cat(logits)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values))


@torch.no_grad()
def real_floor(classifier: torch.nn.Module, test_data: ImageData, n: int, seeds: Sequence[int],
               first: tuple[torch.Tensor, torch.Tensor]) -> dict[str, list]:
    """Real vs real for each seed: the first n // 2 vs the next n // 2 of a seeded shuffle of the
    test set -> {"seeds", "frechet_distance", "precision", "recall"}, one value per seed. `first`
    holds the (half, half) features of seeds[0]'s shuffle, already computed by the caller."""
    half = n // 2
    out: dict[str, list] = {"seeds": list(seeds), "frechet_distance": [], "precision": [], "recall": []}
    for i, s in enumerate(seeds):
        if i == 0:
            a, b = first
        else:
            perm = torch.randperm(len(test_data), generator=torch.Generator().manual_seed(s))[:n]
            feats, _ = _features(classifier, test_data.images[perm].to(_device_of(classifier)))
            a, b = feats[:half], feats[half:2 * half]
        p, r = precision_recall(b, a)
        out["frechet_distance"].append(frechet_distance(a, b))
        out["precision"].append(p)
        out["recall"].append(r)
    return out


@torch.no_grad()
def _decode_batched(model: torch.nn.Module, z: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    return torch.cat([model.decode(z[i:i + batch_size]) for i in range(0, len(z), batch_size)])


def _as_checkpoint(c: Checkpoint | str | Path) -> Checkpoint:
    return c if isinstance(c, Checkpoint) else load_checkpoint(c)


def _curve(history: list[dict[str, Any]], key: str) -> list[float]:
    return [float(h[key]) for h in history if isinstance(h.get(key), (int, float))]


CONFIDENT = 0.9  # "named with confidence": the classifier's top probability is at least this


def confident_share(logits: torch.Tensor) -> float:
    """logits (N, K) -> the share of the N images whose top class probability is >= CONFIDENT."""
    return float((logits.float().softmax(1).amax(1) >= CONFIDENT).float().mean())


def _distribution(logits: torch.Tensor, num_classes: int) -> dict[str, Any]:
    hist = class_histogram(logits, num_classes)
    return {
        "histogram": [round(v, 5) for v in hist.tolist()],
        "kl_to_uniform": kl_to_uniform(hist),
        "classes_covered": classes_covered(hist),
        "confident": confident_share(logits),
    }


@torch.no_grad()
def class_distribution(model: torch.nn.Module, classifier: torch.nn.Module, num_samples: int = 2000,
                       seed: int = 0) -> dict[str, Any]:
    """Classify `num_samples` samples of a VAE or GAN -> {"histogram" (K,), "kl_to_uniform", "classes_covered"}."""
    device = _device_of(model)
    z = torch.randn((num_samples, model.latent_dim), generator=torch.Generator().manual_seed(int(seed))).to(device)
    images = _decode_batched(model, z).to(_device_of(classifier))
    _, logits = _features(classifier, images)
    return _distribution(logits, classifier.config.num_classes)


def compare_models(vae_ckpt: Checkpoint | str | Path, gan_ckpt: Checkpoint | str | Path,
                   classifier_ckpt: Checkpoint | str | Path | None, test_data: ImageData,
                   num_samples: int = 2000, seed: int = 0, progress: ProgressFn | None = None,
                   iwae_images: int = 256, iwae_k: int = 64, encoder_images: int = 8,
                   inversion_steps: int = 200, inversion_restarts: int = 4,
                   ppl_pairs: int = 256, floor_seeds: int = 5) -> dict[str, Any]:
    """Every number of the "VAE vs GAN" table, as a JSON-ready dict.

    Samples `num_samples` images from each model and takes as many real test images, then
    measures sharpness, latent smoothness (path length), training stability (from each
    history.json), likelihood (VAE only), the encoder (VAE one pass vs GAN inversion on
    `encoder_images` test images), mode collapse (class histograms) and realism (Fréchet
    distance and precision/recall in classifier-feature space against the second half of the
    real set). The floor (real vs real: the two halves of a shuffled test set) varies a lot from
    one shuffle to the next with a few thousand images, so it is the mean over `floor_seeds`
    shuffles (seed, seed + 1, ...; the first is the one the models are measured against).
    `progress(fraction, description)` is called between stages.
    With no classifier (a VAE and a GAN of a user's folder before a classifier is trained on it), what
    needs its features or its classes (path length, mode collapse, Fréchet distance, precision and
    recall) is None, and the rest is measured as with one.
    """
    from genlab import latent  # imported here: the inversion code lives with the latent operations

    started = time.perf_counter()
    report = progress or (lambda fraction, desc: None)
    vae_c, gan_c = _as_checkpoint(vae_ckpt), _as_checkpoint(gan_ckpt)
    clf_c = _as_checkpoint(classifier_ckpt) if classifier_ckpt is not None else None
    vae, gan, clf = vae_c.model, gan_c.model, (clf_c.model if clf_c is not None else None)
    if vae_c.kind != "vae" or gan_c.kind != "gan" or (clf_c is not None and clf_c.kind != "classifier"):
        raise ValueError(f"compare_models needs a vae, a gan and a classifier; got {vae_c.kind}, {gan_c.kind}, "
                         f"{clf_c.kind if clf_c is not None else None}.")
    if gan.config.needs_labels:
        raise ValueError(f"{gan_c.name} is class-conditional; the comparison needs an unconditional GAN.")
    if clf is None:
        return _compare_without_classifier(vae_c, gan_c, test_data, num_samples, seed, report, iwae_images,
                                           iwae_k, encoder_images, inversion_steps, inversion_restarts, started)
    device = _device_of(clf)
    num_classes = clf.config.num_classes
    real, (z_vae, z_gan), samples = _real_and_samples(vae, gan, test_data, num_samples, seed, device, minimum=20,
                                                      report=report)
    n = len(real)

    report(0.1, "Classifier features")
    feats, logits = {}, {}
    for key, images in (("real", real), *samples.items()):
        feats[key], logits[key] = _features(clf, images)

    report(0.3, "Sharpness, realism, mode collapse")
    half = n // 2
    real_a, real_b = feats["real"][:half], feats["real"][half:2 * half]
    m: dict[str, Any] = {"sharpness": {}, "frechet_distance": {}, "precision": {}, "recall": {},
                         "class_distribution": {}}
    for key in ("vae", "gan", "real"):
        imgs = samples.get(key, real)
        m["sharpness"][key] = float(sharpness(imgs).mean())
        m["class_distribution"][key] = _distribution(logits[key], num_classes)
        if key == "real":
            m["floor"] = real_floor(clf, test_data, n, [int(seed) + i for i in range(max(1, floor_seeds))],
                                     first=(real_a, real_b))
            m["frechet_distance"]["real"] = _mean(m["floor"]["frechet_distance"])
            p, r = _mean(m["floor"]["precision"]), _mean(m["floor"]["recall"])
        else:
            m["frechet_distance"][key] = frechet_distance(feats[key][:half], real_b)
            p, r = precision_recall(real_b, feats[key][:half])
        m["precision"][key], m["recall"][key] = p, r

    report(0.4, "Latent smoothness (path length)")
    pairs = min(ppl_pairs, num_samples // 2)
    m["path_length"] = {}
    for key, model, z in (("vae", vae, z_vae), ("gan", gan, z_gan)):
        z = z.to(_device_of(model))
        m["path_length"][key] = path_length(
            model.decode, lambda x: clf.features(x.to(device)), z[:pairs], z[pairs:2 * pairs], seed=seed)

    report(0.5, "Training stability (history.json)")
    m.update(_featureless_metrics(vae_c, gan_c, real, seed, report, iwae_images, iwae_k, encoder_images,
                                  inversion_steps, inversion_restarts, device))
    report(1.0, "Done")
    return {
        "dataset": test_data.name or vae_c.dataset,
        "models": {"vae": vae_c.name, "gan": gan_c.name, "classifier": clf_c.name},
        "class_names": list(test_data.class_names) or clf_c.class_names,
        "num_samples": num_samples, "real_images": n, "seed": seed,
        "metrics": m,
        "seconds": time.perf_counter() - started,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _featureless_metrics(vae_c: Checkpoint, gan_c: Checkpoint, real: torch.Tensor, seed: int,
                         report: ProgressFn, iwae_images: int, iwae_k: int, encoder_images: int,
                         inversion_steps: int, inversion_restarts: int, device: torch.device) -> dict[str, Any]:
    """What `compare_models` measures without a classifier: training stability, likelihood, encoder
    (on `real` (N, C, H, W), shuffled test images on `device`)."""
    from genlab import latent

    vae, gan = vae_c.model, gan_c.model
    n = len(real)
    m: dict[str, Any] = {}
    vae_hist, gan_hist = read_history(vae_c.path), read_history(gan_c.path)
    m["stability"] = {
        "vae_loss": oscillation(_late(_curve(vae_hist, "loss"))),
        "gan_loss_g": oscillation(_late(_curve(gan_hist, "loss_g"))),
        "gan_loss_d": oscillation(_late(_curve(gan_hist, "loss_d"))),
        "vae_epochs": len(vae_hist), "gan_epochs": len(gan_hist),
    }

    report(0.55, f"Likelihood (ELBO and IWAE, k={iwae_k})")
    x_nll = real[:min(iwae_images, n)].to(_device_of(vae))
    m["likelihood"] = {
        "images": len(x_nll), "k": iwae_k,
        "vae_negative_elbo": negative_elbo(vae, x_nll, seed=seed),
        "vae_iwae_nll": iwae_nll(vae, x_nll, k=iwae_k, seed=seed),
    }

    report(0.7, "Encoder: VAE one pass vs GAN inversion")
    x_enc = real[:min(encoder_images, n)]
    t0 = time.perf_counter()
    with torch.no_grad():
        z_enc = latent.encode(vae, x_enc, device=_device_of(vae))
        vae_recon = vae.decode(z_enc).to(device)
    vae_seconds = time.perf_counter() - t0
    inversion = latent.invert(gan, x_enc, steps=inversion_steps, restarts=inversion_restarts, seed=seed,
                              device=device, progress=lambda step, total: report(
                                  0.7 + 0.3 * step / total, f"GAN inversion, step {step}/{total}"))
    gan_recon = inversion.reconstructions.to(device)
    m["encoder"] = {
        "images": len(x_enc),
        "vae_seconds": vae_seconds, "vae_mse": float((vae_recon - x_enc).pow(2).mean()),
        "gan_seconds": float(inversion.seconds), "gan_mse": float((gan_recon - x_enc).pow(2).mean()),
        "gan_steps": inversion_steps, "gan_restarts": inversion_restarts,
    }
    return m


def _real_and_samples(vae: Any, gan: Any, test_data: ImageData, num_samples: int, seed: int,
                      device: torch.device, minimum: int, report: ProgressFn
                      ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]:
    """The comparison's draws from `seed`: up to `num_samples` real test images (n, C, H, W) on
    `device`, the models' latents (z_vae, z_gan), and their samples ({"vae", "gan"}) on `device`."""
    n = min(num_samples, len(test_data))
    if n < minimum:
        raise ValueError(f"The test set has {len(test_data)} images; the comparison needs at least {minimum}.")
    g = torch.Generator().manual_seed(int(seed))
    real = test_data.images[torch.randperm(len(test_data), generator=g)[:n]].to(device)
    z_vae = torch.randn((num_samples, vae.latent_dim), generator=g)
    z_gan = torch.randn((num_samples, gan.latent_dim), generator=g)
    report(0.0, "Sampling both models")
    samples = {"vae": _decode_batched(vae, z_vae.to(_device_of(vae))).to(device),
               "gan": _decode_batched(gan, z_gan.to(_device_of(gan))).to(device)}
    return real, (z_vae, z_gan), samples


def _compare_without_classifier(vae_c: Checkpoint, gan_c: Checkpoint, test_data: ImageData, num_samples: int,
                                seed: int, report: ProgressFn, iwae_images: int, iwae_k: int, encoder_images: int,
                                inversion_steps: int, inversion_restarts: int, started: float) -> dict[str, Any]:
    """`compare_models` with no classifier: sharpness and `_featureless_metrics`; the rest None."""
    vae, gan = vae_c.model, gan_c.model
    device = _device_of(vae)
    real, _, samples = _real_and_samples(vae, gan, test_data, num_samples, seed, device, minimum=2, report=report)
    samples["real"] = real
    m: dict[str, Any] = {"sharpness": {k: float(sharpness(v).mean()) for k, v in samples.items()},
                         "class_distribution": None, "frechet_distance": None, "precision": None, "recall": None,
                         "path_length": None}
    report(0.5, "Training stability (history.json)")
    m.update(_featureless_metrics(vae_c, gan_c, real, seed, report, iwae_images, iwae_k, encoder_images,
                                  inversion_steps, inversion_restarts, device))
    report(1.0, "Done")
    return {
        "dataset": test_data.name or vae_c.dataset,
        "models": {"vae": vae_c.name, "gan": gan_c.name, "classifier": None},
        "class_names": list(test_data.class_names),
        "num_samples": num_samples, "real_images": len(real), "seed": seed,
        "metrics": m,
        "seconds": time.perf_counter() - started,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------- presenting it


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{digits}g}"


TABLE_COLUMNS = ["Trade-off", "Measured as", "VAE", "GAN", "Real data"]


def floor_splits(m: Mapping[str, Any]) -> str:
    """How a comparison's floor was taken, in words (results written before the mean: one split)."""
    seeds = m.get("floor", {}).get("seeds", [])
    return f"half vs half, mean of {len(seeds)} shuffles" if len(seeds) > 1 else "half vs half"


def comparison_rows(result: Mapping[str, Any]) -> list[list[str]]:
    """The lesson's table from a `compare_models` result: one row per trade-off, TABLE_COLUMNS.
    A result measured without a classifier says, in each row that needs one, that it does."""
    m = result["metrics"]
    cd, enc, lik, st = m["class_distribution"], m["encoder"], m["likelihood"], m["stability"]
    k = len(cd["real"]["histogram"]) if cd else 0
    none = [NEEDS_CLASSIFIER] * 3

    def coverage(key: str) -> str:
        return f"KL {cd[key]['kl_to_uniform']:.3f} nats, {cd[key]['classes_covered']}/{k} classes"

    def pr(key: str) -> str:
        return f"{m['precision'][key]:.2f} / {m['recall'][key]:.2f}"

    per_image = lambda s: f"{1000 * s / max(1, enc['images']):.3g} ms/image"  # noqa: E731
    return [
        ["Sharpness", "variance of the Laplacian (higher = crisper edges)",
         _fmt(m["sharpness"]["vae"]), _fmt(m["sharpness"]["gan"]), _fmt(m["sharpness"]["real"])],
        ["Latent smoothness", "path length in classifier features (lower = smoother)",
         *([_fmt(m["path_length"]["vae"]), _fmt(m["path_length"]["gan"]), "—"] if m["path_length"] else none)],
        ["Training stability", "wobble of the late loss curve (lower = steadier)",
         f"{_fmt(st['vae_loss'])} (-ELBO)", f"{_fmt(st['gan_loss_g'])} (G), {_fmt(st['gan_loss_d'])} (D)", "—"],
        ["Likelihood", f"nats/image on {lik['images']} test images (lower = better)",
         f"-ELBO {lik['vae_negative_elbo']:.1f}, IWAE(k={lik['k']}) {lik['vae_iwae_nll']:.1f}",
         "none: a GAN has no density to evaluate", "—"],
        ["Encoder", f"image -> latent -> image on {enc['images']} test images (time, pixel MSE)",
         f"one pass: {per_image(enc['vae_seconds'])}, MSE {enc['vae_mse']:.4f}",
         f"optimization: {per_image(enc['gan_seconds'])}, MSE {enc['gan_mse']:.4f}", "—"],
        ["Mode collapse", "classifier's class histogram: KL to uniform, classes covered",
         *([coverage("vae"), coverage("gan"), coverage("real")] if cd else none)],
        ["Realism", "Fréchet distance in classifier features (lower = closer to real)",
         *([_fmt(m["frechet_distance"]["vae"]), _fmt(m["frechet_distance"]["gan"]),
            f"{_fmt(m['frechet_distance']['real'])} (floor: {floor_splits(m)})"] if m["frechet_distance"] else none)],
        ["Fidelity / diversity", "precision / recall, k=3 (higher = better)",
         *([pr("vae"), pr("gan"), pr("real")] if m["precision"] else none)],
    ]


NEEDS_CLASSIFIER = "— (needs a classifier of this dataset)"


# --------------------------------------------------------------------------- which models, where


def comparison_path(root: str | Path, dataset: str) -> Path:
    """Where train/evaluate.py writes the comparison for `dataset`: <root>/<dataset>-comparison.json."""
    return Path(root) / f"{dataset}{COMPARISON_SUFFIX}"


def read_comparison(root: str | Path, dataset: str) -> dict[str, Any] | None:
    """The stored comparison for `dataset`, or None if there is none or it cannot be read."""
    path = comparison_path(root, dataset)
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return result if isinstance(result, dict) and "metrics" in result else None


def choose_models(infos: Mapping[str, Mapping[str, Any]], dataset: str) -> dict[str, str | None]:
    """Pick the VAE, GAN and classifier of `dataset` the comparison uses, from {name: config.json}.

    VAE: 16-d latent with beta = 1, preferring the name <dataset>-vae-16 (else the largest
    latent). GAN: unconditional and not "collapsed", preferring <dataset>-gan-32.
    Classifier: the first of that dataset. A missing one is None.
    """
    def of(kind: str) -> list[str]:
        return sorted(n for n, i in infos.items() if i.get("kind") == kind and i.get("dataset") == dataset)

    def cfg(name: str) -> Mapping[str, Any]:
        return infos[name].get("model_config", {})

    vaes = [n for n in of("vae") if float(cfg(n).get("beta", 1.0)) == 1.0] or of("vae")
    vaes.sort(key=lambda n: (n != f"{dataset}-vae-16", cfg(n).get("latent_dim") != 16, -cfg(n).get("latent_dim", 0), n))
    gans = [n for n in of("gan") if "collapsed" not in n
            and (not cfg(n).get("num_classes") or cfg(n).get("classes_from_latent"))]
    gans.sort(key=lambda n: (n != f"{dataset}-gan-32", n))
    classifiers = of("classifier")
    return {"vae": vaes[0] if vaes else None, "gan": gans[0] if gans else None,
            "classifier": classifiers[0] if classifiers else None}


# --------------------------------------------------------------------------- any sampler


SamplerFn = Callable[[int, torch.Generator], torch.Tensor]  # (n, generator) -> images (n, C, H, W) in [0, 1]


def checkpoint_sampler(c: Checkpoint, steps: int | None = None, batch_size: int = 250,
                       temperature: float = 1.0) -> SamplerFn:
    """A checkpoint as a sampler: (n, generator) -> n images in [0, 1], on the CPU's noise.

    VAE and unconditional GAN: decode z ~ N(0, I); latent diffusion: its prior's ODE then the VAE
    (`steps` Heun steps, default the config's); diffusion: `genlab.models.diffusion.sample`.
    `temperature` scales the diffusion models' starting noise (1: their own distribution).
    """
    model = c.model
    device = _device_of(model)
    if c.kind == "diffusion":
        from genlab.models.diffusion import sample

        return lambda n, g: torch.cat([sample(model, min(batch_size, n - i), steps, g, device,
                                              temperature=temperature) for i in range(0, n, batch_size)])
    if c.kind == "latent-diffusion":
        return lambda n, g: torch.cat([model.decode(temperature * torch.randn((min(batch_size, n - i), model.latent_dim),
                                                                              generator=g).to(device), steps)
                                       for i in range(0, n, batch_size)])
    if c.kind in ("vae", "gan") and not getattr(c.config, "needs_labels", False):
        return lambda n, g: _decode_batched(model, torch.randn((n, model.latent_dim), generator=g).to(device))
    raise ValueError(f"{c.name} ({c.kind}) cannot be sampled unconditionally.")


@torch.no_grad()
def sampler_quality(sampler: SamplerFn, classifier: torch.nn.Module, test_data: ImageData,
                    num_samples: int = 2000, seed: int = 0, floor_seeds: int = 5,
                    floor: Mapping[str, Any] | None = None, timing_images: int = 8) -> dict[str, Any]:
    """The realism numbers of `compare_models` for any sampler, against the same real images.

    The real set is the seeded shuffle of the test set that compare_models uses (same seed: same
    images), the samples' first half is measured against the real second half. Returns
    {"frechet_distance", "precision", "recall", "sharpness", "class_distribution", "floor"
    (real vs real, as compare_models; pass `floor` to reuse one), "fd_over_floor",
    "ms_per_sample" (one image at a time, `timing_images` of them, on the current threads)}.
    """
    device = _device_of(classifier)
    n = min(num_samples, len(test_data))
    g = torch.Generator().manual_seed(int(seed))
    real = test_data.images[torch.randperm(len(test_data), generator=g)[:n]].to(device)
    half = n // 2
    real_feats, real_logits = _features(classifier, real)
    real_a, real_b = real_feats[:half], real_feats[half:2 * half]
    if floor is None:
        fl = real_floor(classifier, test_data, n, [int(seed) + i for i in range(max(1, floor_seeds))],
                        first=(real_a, real_b))
        floor = {"frechet_distance": _mean(fl["frechet_distance"]), "precision": _mean(fl["precision"]),
                 "recall": _mean(fl["recall"]), "splits": fl["frechet_distance"],
                 "confident": confident_share(real_logits)}
    t0 = time.perf_counter()
    images = sampler(num_samples, torch.Generator().manual_seed(int(seed) + 1)).to(device)
    batch_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    tg = torch.Generator().manual_seed(int(seed) + 2)
    for _ in range(timing_images):
        sampler(1, tg)
    ms = 1000 * (time.perf_counter() - t0) / max(1, timing_images)
    feats, logits = _features(classifier, images)
    fd = frechet_distance(feats[:half], real_b)
    p, r = precision_recall(real_b, feats[:half])
    return {
        "frechet_distance": fd, "fd_over_floor": fd / max(float(floor["frechet_distance"]), 1e-12),
        "precision": p, "recall": r, "sharpness": float(sharpness(images).mean()),
        "class_distribution": _distribution(logits, classifier.config.num_classes),
        "floor": dict(floor), "ms_per_sample": ms, "batch_ms_per_sample": 1000 * batch_seconds / num_samples,
        "num_samples": num_samples, "real_images": n, "seed": seed,
    }


@torch.no_grad()
def reconstruction_quality(vae: torch.nn.Module, classifier: torch.nn.Module, test_data: ImageData,
                           num_samples: int = 2000, seed: int = 0, floor: Mapping[str, Any] | None = None,
                           floor_seeds: int = 5) -> dict[str, Any]:
    """A VAE's reconstruction limit: `sampler_quality` numbers of decode(mu(x)) for the real test
    images of the first half (the ones samples replace), measured against the second half."""
    device = _device_of(classifier)
    n = min(num_samples, len(test_data))
    g = torch.Generator().manual_seed(int(seed))
    real = test_data.images[torch.randperm(len(test_data), generator=g)[:n]]
    first = real[:n // 2].to(_device_of(vae))
    recon = torch.cat([vae.decode(vae.encode(first[i:i + 500])[0]) for i in range(0, len(first), 500)]).to(device)
    recon = torch.cat([recon, recon])[:num_samples]  # the first half is what is measured
    return sampler_quality(lambda k, gen: recon[:k], classifier, test_data, num_samples, seed,
                           floor_seeds, floor, timing_images=0)


# --------------------------------------------------------------------------- diffusion: quality against steps


STEPS_CURVE_SUFFIX = "-steps.json"
CURVE_STEPS = (1, 2, 4, 8, 16, 32)  # Heun steps measured by `steps_curve`


def network_passes(steps: int, method: str = "heun") -> int:
    """Network evaluations per sample of `steps` solver steps (Heun: 2 a step, 1 on the last)."""
    return 2 * steps - 1 if method == "heun" else steps


def steps_curve(c: Checkpoint, classifier: torch.nn.Module, test_data: ImageData,
                steps: Sequence[int] = CURVE_STEPS, num_samples: int = 1000, seed: int = 0,
                progress: ProgressFn | None = None, timing_images: int = 4,
                classifier_name: str | None = None) -> dict[str, Any]:
    """Sample quality of a diffusion checkpoint against its number of Heun steps, as a JSON-ready dict.

    For each count in `steps`, `sampler_quality` of `num_samples` samples from the same starting
    noise (seed), against the same real images and one real-vs-real floor: {"curve": [{"steps",
    "network_passes", "frechet_distance", "fd_over_floor", "precision", "recall", "confident",
    "kl_to_uniform", "ms_per_sample"}, ...], "floor", "model", "checkpoint_created", ...}.
    """
    if c.kind not in ("diffusion", "latent-diffusion"):
        raise ValueError(f"{c.name} is a {c.kind}; the steps curve is for diffusion models.")
    steps = sorted({int(s) for s in steps})
    if not steps or steps[0] < 1:
        raise ValueError(f"steps must be positive integers, got {steps}.")
    started = time.perf_counter()
    floor, rows = None, []
    for i, s in enumerate(steps):
        if progress is not None:
            progress(i / len(steps), f"{s} steps")
        e = sampler_quality(checkpoint_sampler(c, steps=s), classifier, test_data, num_samples, seed,
                            floor=floor, timing_images=timing_images)
        floor = e["floor"]
        rows.append({"steps": s, "network_passes": network_passes(s), "frechet_distance": e["frechet_distance"],
                     "fd_over_floor": e["fd_over_floor"], "precision": e["precision"], "recall": e["recall"],
                     "confident": e["class_distribution"]["confident"],
                     "kl_to_uniform": e["class_distribution"]["kl_to_uniform"], "ms_per_sample": e["ms_per_sample"]})
    if progress is not None:
        progress(1.0, "Done")
    return {
        "model": c.name, "kind": c.kind, "dataset": c.dataset, "checkpoint_created": c.info.get("created"),
        "classifier": classifier_name, "method": "heun", "num_samples": num_samples,
        "real_images": min(num_samples, len(test_data)), "seed": seed, "floor": dict(floor or {}), "curve": rows,
        "seconds": time.perf_counter() - started, "torch_threads": torch.get_num_threads(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def steps_curve_path(root: str | Path, model_name: str) -> Path:
    """Where the steps curve of a diffusion checkpoint is stored: <root>/<model>-steps.json."""
    return Path(root) / f"{model_name}{STEPS_CURVE_SUFFIX}"


def read_steps_curve(root: str | Path, model_name: str) -> dict[str, Any] | None:
    """The stored steps curve of `model_name`, or None if there is none or it cannot be read."""
    try:
        result = json.loads(steps_curve_path(root, model_name).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    ok = isinstance(result, dict) and isinstance(result.get("curve"), list) and all(
        isinstance(r, dict) and {"steps", "fd_over_floor", "confident"} <= set(r) for r in result["curve"])
    return result if ok else None
