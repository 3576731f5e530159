"""The families side by side, measured on the spot: what a VAE, a GAN and a diffusion model each pay.

`measure(services, classifier, test_images)` takes the models that stand for a dataset (any kinds:
each is asked through its `genlab.service.ModelService`, never by its name) and measures, on a
small sample so that it runs in the app in seconds to a minute:

- blur and sharpness: the mean variance of the Laplacian of `samples` samples (real images beside);
- coverage: the classifier's class histogram of those samples, as KL to uniform and classes covered;
- likelihood: a bound on -log p(x) of `likelihood_images` test images where the kind has one here;
- encoder or inversion: how `encoder_images` test images reach the latent (one pass, a search, the
  ODE backwards), the seconds it took and the reconstruction error;
- training stability: how much the late loss curves in history.json wobble (`metrics.oscillation`);
- sampling cost: network passes per sample (1 against 2N - 1 for N Heun steps) and seconds per sample.

The full comparison of a VAE and a GAN (Fréchet distance, precision and recall on 2000 samples)
is `genlab.metrics.compare_models`, stored by train/evaluate.py; this is its quick, any-kind sibling.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import torch

from genlab.checkpoints import read_history
from genlab.data import ImageData
from genlab.metrics import class_histogram, classes_covered, kl_to_uniform, oscillation, sharpness

SAMPLES = 64
ENCODER_IMAGES = 4
LIKELIHOOD_IMAGES = 256
ProgressFn = Callable[[float, str], None]


def _late(series: list[float]) -> list[float]:
    return series[len(series) // 2:] if len(series) >= 6 else series


def stability(service: Any) -> dict[str, float]:
    """{loss key: oscillation of the curve's second half} from the model's history.json."""
    history = read_history(service.path)
    out = {}
    for key in service.loss_curves:
        curve = [float(h[key]) for h in history if isinstance(h.get(key), (int, float))]
        if curve:
            out[key] = oscillation(_late(curve))
    return out


def measure(services: dict[str, Any], classifier: Any | None, test_images: ImageData, seed: int = 0,
            samples: int = SAMPLES, encoder_images: int = ENCODER_IMAGES, likelihood_images: int = LIKELIHOOD_IMAGES,
            progress: ProgressFn | None = None) -> dict[str, Any]:
    """{column: {measure: value}} for each service in `services` ({column name: ModelService}) and
    "real" (the test images), plus "how" (sentences). JSON-ready. `classifier` is a ModelService."""
    report = progress or (lambda fraction, desc: None)
    g = torch.Generator().manual_seed(int(seed))
    real = test_images.images[torch.randperm(len(test_images), generator=g)[:samples]].float()
    num_classes = None
    out: dict[str, Any] = {"real": {"sharpness": float(sharpness(real).mean())}, "models": {}, "samples": samples,
                           "encoder_images": encoder_images, "seed": seed}
    if classifier is not None:
        probs = classifier.classify(real)
        num_classes = probs.shape[1]
        hist = class_histogram(probs, num_classes)
        out["real"].update(kl_to_uniform=kl_to_uniform(hist), classes_covered=classes_covered(hist))
    for j, (column, service) in enumerate(services.items()):
        if service is None:
            continue
        report(j / max(1, len(services)), f"{column}: sampling")
        m: dict[str, Any] = {"name": service.name, "label": service.label}
        start = time.perf_counter()
        images = service.sample(samples, seed)
        m["seconds_per_sample"] = (time.perf_counter() - start) / samples
        m["network_passes"] = service.network_passes()
        m["sample_steps"] = service.sample_steps
        m["sharpness"] = float(sharpness(images).mean())
        if classifier is not None:
            hist = class_histogram(classifier.classify(images), num_classes)
            m["kl_to_uniform"], m["classes_covered"] = kl_to_uniform(hist), classes_covered(hist)
        report((j + 0.5) / max(1, len(services)), f"{column}: likelihood, encoder or inversion")
        nll = service.likelihood(test_images.images[:likelihood_images].float(), seed)
        m["likelihood"] = nll
        m["no_likelihood"] = None if nll is not None else service.no_likelihood()
        if service.invertible:
            x = test_images.images[:encoder_images].float()
            start = time.perf_counter()
            found = service.to_latents(x)
            m["encoder"] = {"seconds": time.perf_counter() - start, "error": float(sum(found.errors) / len(found.errors)),
                            "how": found.how, "one_pass": service.has_encoder}
        else:
            m["encoder"] = None
        m["stability"] = stability(service)
        out["models"][column] = m
    report(1.0, "Done")
    return out


COLUMNS_BEFORE = ["Trade-off", "Measured as"]


def rows(result: dict[str, Any], columns: Sequence[str]) -> list[list[str]]:
    """The table of `measure`'s result: one row per trade-off, one column per model in `columns`, then real data."""
    models = result["models"]

    def cell(column: str, fn: Callable[[dict[str, Any]], str]) -> str:
        m = models.get(column)
        return "—" if m is None else fn(m)

    def coverage(m: dict[str, Any]) -> str:
        return "—" if "kl_to_uniform" not in m else f"KL {m['kl_to_uniform']:.3f}, {m['classes_covered']} classes"

    def likelihood(m: dict[str, Any]) -> str:
        return f"{m['likelihood']:.1f} nats (-ELBO, a bound)" if m["likelihood"] is not None else m["no_likelihood"]

    def encoder(m: dict[str, Any]) -> str:
        e = m["encoder"]
        if e is None:
            return "none"
        way = "encoder, one pass" if e["one_pass"] else ("ODE backwards" if m["sample_steps"] else "inversion (a search)")
        error = f"{e['error']:.4f}" if e['error'] >= 1e-4 else f"{e['error']:.1e}"
        return f"{way}: {e['seconds'] / result.get('encoder_images', 1):.2f} s, MSE {error}"

    def stable(m: dict[str, Any]) -> str:
        s = m["stability"]
        return ", ".join(f"{k} {v:.3f}" for k, v in s.items()) if s else "no history.json"

    def cost(m: dict[str, Any]) -> str:
        steps = f" ({m['sample_steps']} Heun steps)" if m["sample_steps"] else ""
        return f"{m['network_passes']} pass{'es' if m['network_passes'] != 1 else ''}{steps}, {1000 * m['seconds_per_sample']:.1f} ms"

    real = result["real"]
    n = result.get("samples", SAMPLES)
    return [
        ["Blur and sharpness", f"variance of the Laplacian, {n} samples (higher: sharper)",
         *[cell(c, lambda m: f"{m['sharpness']:.3f}") for c in columns], f"{real['sharpness']:.3f}"],
        ["Coverage", f"the classifier's class histogram of {n} samples: KL to uniform, classes covered",
         *[cell(c, coverage) for c in columns],
         f"KL {real['kl_to_uniform']:.3f}, {real['classes_covered']} classes" if "kl_to_uniform" in real else "—"],
        ["Likelihood", "a bound on -log p(x) of test images (lower: more likely)",
         *[cell(c, likelihood) for c in columns], "—"],
        ["Encoder or inversion", "how a test image reaches the latent: seconds per image, reconstruction MSE",
         *[cell(c, encoder) for c in columns], "—"],
        ["Training stability", "wobble of the late loss curves (std of the epoch-to-epoch change / mean)",
         *[cell(c, stable) for c in columns], "—"],
        ["Sampling cost", "network passes per sample, and time per sample here",
         *[cell(c, cost) for c in columns], "—"],
    ]
