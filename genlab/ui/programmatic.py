"""The HTTP API for programs: each core action callable with only what matters.

The tabs' own events take what the page holds (a source name, an upload and a drawing per image)
and return what the page shows; these endpoints take a model, seeds or an image file, and numbers
with defaults, and return the pictures and one small dict of numbers:

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    strip, numbers = client.predict(model="mnist-vae-16", seed_a=1, seed_b=2, api_name="/interpolate")
    strip, numbers = client.predict(model="mnist-gan-32", api_name="/edit_attribute")
    fills, numbers = client.predict(model="mnist-vae-16", image=handle_file("digit.png"), api_name="/inpaint")

They run the code the tabs run, through `genlab.api.Model` over the app's own services (the same
caches), and bad input gets one sentence, as everywhere in the app. `sample` and `decode` are the
tabs' events themselves: they already take only what matters.
"""

# No `from __future__ import annotations` here: gr.api reads these functions' type hints at run time
# (a tuple return is several outputs), and postponed annotations would be plain strings.
import atexit
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from genlab import metrics
from genlab.api import Model
from genlab.inpainting import DEFAULT_STEPS, MASK_PRESETS, MAX_FILLS
from genlab.latent import INTERPOLATION_MODES
from genlab.ui.images import grid
from genlab.ui.shell import FILLS, Shell, user_error
from genlab.ui.uploads import read_image

OUT_DIR = Path(tempfile.gettempdir()) / "genlab-api"  # pictures handed to Gradio, which copies them into its cache


_made_here: set[Path] = set()  # files written by this process: Gradio has copied them once a minute has passed


@atexit.register
def _remove_files() -> None:
    for path in list(_made_here):
        path.unlink(missing_ok=True)


def _png(picture: Any) -> gr.FileData:
    """A PIL picture as a file the API returns (Gradio copies it into its own cache)."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in list(_made_here):
        try:
            if now - old.stat().st_mtime > 60:
                old.unlink()
                _made_here.discard(old)
        except OSError:
            _made_here.discard(old)
    path = OUT_DIR / f"{uuid.uuid4().hex[:16]}.png"
    picture.save(path)
    _made_here.add(path)
    return gr.FileData(path=str(path))


def _model(shell: Shell, name: Any) -> Model:
    service = shell.model(name)
    if service.conditional:
        raise user_error(f"{name} is class-conditional: use an unconditional VAE or GAN here.")
    return Model(service, shell.store)


def _image(model: Model, file: Any, seed: Any, shell: Shell) -> tuple[torch.Tensor, str]:
    """(C, H, W) in [0, 1]: the uploaded file prepared as the model sees it, else its sample of `seed`."""
    if file is None:
        seed = shell.seed(seed)
        return model.sample(1, seed)[0], f"the model's sample of seed {seed}"
    path = file.get("path") if isinstance(file, dict) else getattr(file, "path", None)
    if not path:
        raise user_error("The image must be an uploaded file (gradio_client's handle_file).")
    picture = read_image(gr.FileData(path=str(path)))
    return _call(model.prepare, picture), "the uploaded image"


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """fn(...) with the Python API's one-sentence errors shown as such."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, KeyError) as e:
        raise user_error(str(e.args[0]) if e.args else str(e)) from None


def _verdicts(model: Model, images: torch.Tensor) -> list[dict[str, Any]] | None:
    verdicts = model.verdicts(images)
    return None if verdicts is None else [{"class": c, "confidence": round(float(p), 4)} for c, p in verdicts]


def _class_pair_of(attribute: Any, names: list[str]) -> bool:
    """Whether `attribute` is "class:<a>-><b>" for two different classes among `names` ("class:<k>")."""
    match = re.fullmatch(r"class:(\d+)->(\d+)", str(attribute))
    return bool(match) and match[1] != match[2] and all(f"class:{k}" in names for k in match.groups())


def build(shell: Shell) -> None:
    """Register the endpoints (inside the app's gr.Blocks)."""

    def interpolate(model: str, seed_a: int = 0, seed_b: int = 1, image_a: gr.FileData | None = None,
                    image_b: gr.FileData | None = None, steps: int = 8,
                    mode: str = "spherical") -> tuple[gr.FileData, dict]:
        """Walk the latent space from one image to another and decode each step.

        Parameters:
            model: a VAE or unconditional GAN, e.g. "mnist-vae-16" (see /refresh_models or the page)
            seed_a: the start is the model's sample of this seed (when image_a is not given)
            seed_b: the end is the model's sample of this seed (when image_b is not given)
            image_a: an uploaded picture to start from (encoded by a VAE, inverted for a GAN)
            image_b: an uploaded picture to end at
            steps: pictures in the walk, ends included (2 to 32)
            mode: "spherical" (stays where Gaussian latents live) or "linear"
        Returns:
            the strip of pictures, and {"model", "steps", "mode", "start", "end", "verdicts"}
        """
        m = _model(shell, model)
        steps = shell.int_in_range(steps, "Steps", 2, 32)
        if mode not in INTERPOLATION_MODES:
            raise user_error(f"The mode must be one of {', '.join(INTERPOLATION_MODES)}; got {mode!r}.")
        start, start_from = _image(m, image_a, seed_a, shell)
        end, end_from = _image(m, image_b, seed_b, shell)
        frames = _call(m.interpolate, start, end, steps=steps, mode=mode)
        numbers = {"model": m.name, "steps": steps, "mode": mode, "start": start_from, "end": end_from,
                   "verdicts": _verdicts(m, frames)}
        return _png(grid(frames, ncol=steps)), numbers

    def edit_attribute(model: str, attribute: str = "", seed: int = 0, image: gr.FileData | None = None,
                       strength: float = 2.5, frames: int = 7, method: str = "mean-difference",
                       conditional: bool = False) -> tuple[gr.FileData, dict]:
        """Move an image along an attribute vector, from -strength to +strength.

        Parameters:
            model: a VAE or unconditional GAN, e.g. "mnist-vae-16"
            attribute: one of the model's attributes (empty: the first; /attribute_choices lists them)
            seed: edit the model's sample of this seed (when image is not given)
            image: an uploaded picture to edit
            strength: how far to move, in units of the attribute's spread (0 to 6)
            frames: pictures in the strip (3 to 15)
            method: "mean-difference" or "linear-boundary"
            conditional: keep the class while editing
        Returns:
            the strip, and {"model", "attribute", "strengths", "verdicts"}
        """
        m = _model(shell, model)
        names = _call(m.attributes)
        attribute = attribute or (names[0] if names else "")
        if attribute not in names and not _class_pair_of(attribute, names):
            raise user_error(f"{m.name} has no attribute {attribute!r}; it has: {', '.join(names)}.")
        strength = shell.number(strength, "Strength", 0, 6)
        frames = shell.int_in_range(frames, "Frames", 3, 15)
        picture, source = _image(m, image, seed, shell)
        strengths = torch.linspace(-strength, strength, frames).tolist()
        edited = _call(m.edit, picture, attribute, strengths=strengths, method=method, conditional=bool(conditional))
        numbers = {"model": m.name, "attribute": attribute, "image": source,
                   "strengths": [round(s, 4) for s in strengths], "verdicts": _verdicts(m, edited)}
        return _png(grid(edited, ncol=frames)), numbers

    def inpaint(model: str, seed: int = 0, image: gr.FileData | None = None, mask: str = "bottom half",
                fills: int = 4, steps: int = DEFAULT_STEPS, fill_seed: int = 0) -> tuple[gr.FileData, dict]:
        """Hide part of an image and let the model fill it in, several times from different starts.

        Parameters:
            model: a VAE or unconditional GAN, e.g. "mnist-gan-32"
            seed: fill the model's sample of this seed (when image is not given)
            image: an uploaded picture to fill
            mask: what to hide: "bottom half", "top half", "left half", "right half", "centre box", "random pixels"
            fills: guesses, each from its own start (1 to 16)
            steps: at most this many search steps per fill (10 to 1000)
            fill_seed: the seed of the starts
        Returns:
            the fills side by side, and {"model", "mask", "hidden_pixels", "hidden_error", "sharpness", "verdicts"}
        """
        m = _model(shell, model)
        if mask not in MASK_PRESETS:
            raise user_error(f"The mask must be one of {', '.join(MASK_PRESETS)}; got {mask!r}.")
        fills = shell.int_in_range(fills, "Fills", 1, MAX_FILLS)
        steps = shell.int_in_range(steps, "Steps", 10, 1000)
        fill_seed = shell.seed(fill_seed)
        picture, source = _image(m, image, seed, shell)
        result = _call(m.inpaint, picture, mask=mask, fills=fills, steps=steps, seed=fill_seed)
        numbers = {"model": m.name, "image": source, "mask": mask, "hidden_pixels": int(result.hidden.sum()),
                   "hidden_error": [round(float(e), 5) for e in result.hidden_error]
                   if result.hidden_error is not None else None,
                   "sharpness": [round(float(s), 5) for s in result.sharpness],
                   "verdicts": _verdicts(m, result.completed), "seconds": round(result.seconds, 3)}
        return _png(grid(result.completed, ncol=fills)), numbers

    def compare(dataset: str = "mnist", seed: int = 0, count: int = 16) -> tuple[gr.FileData, gr.FileData, dict]:
        """Samples of the dataset's VAE and GAN side by side, with the lesson's stored measurements.

        Parameters:
            dataset: "mnist", "fashion-mnist", or another dataset with a VAE and a GAN here
            seed: the seed of both sample grids
            count: samples per model (1 to 64)
        Returns:
            the VAE's grid, the GAN's grid, and {"models", "metrics"} (Fréchet distance, precision, recall,
            sharpness, classes; from train/evaluate.py's stored comparison, when there is one)
        """
        if dataset not in shell.store.datasets():
            raise user_error(f"There is no dataset {dataset!r} here; pick one of {', '.join(shell.store.datasets())}.")
        seed = shell.seed(seed)
        count = shell.int_in_range(count, "Count", 1, 64)
        chosen = shell.store.chosen(dataset)
        pictures = []
        for kind in ("vae", "gan"):
            service = chosen[kind]
            if service is None:
                raise user_error(f"There is no {kind.upper()} for {dataset} yet.")
            pictures.append(_png(grid(service.sample(count, seed), ncol=min(8, count))))
        stored = metrics.read_comparison(shell.store.root, dataset)
        summary = None
        if stored is not None:
            measured = stored["metrics"]
            summary = {key: measured[key] for key in ("frechet_distance", "precision", "recall", "sharpness")
                       if key in measured}
            summary["classes"] = {k: {"kl_to_uniform": v.get("kl_to_uniform"), "confident": v.get("confident")}
                                  for k, v in (measured.get("class_distribution") or {}).items()}
        numbers = {"dataset": dataset, "models": {k: (s.name if s else None) for k, s in chosen.items()},
                   "metrics": summary}
        return pictures[0], pictures[1], numbers

    gr.api(interpolate, api_name="interpolate")
    gr.api(edit_attribute, api_name="edit_attribute")
    gr.api(inpaint, api_name="inpaint", **FILLS)
    gr.api(compare, api_name="compare")
    from genlab.ui.nearest import register_api  # noqa: PLC0415 - it uses this module's helpers

    register_api(shell)  # /nearest: a generated image's nearest training images
