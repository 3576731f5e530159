"""Tab "Interpolate": walk through latent space from one image to another, VAE and GAN side by side.

Each endpoint is a random sample, a drawing, an upload or a test image (genlab.ui.inputs). The VAE
encodes images (posterior mean); the GAN has no encoder, so its latent is found by optimization
(inversion), and its reconstruction error says how well it can draw that image at all. A pixel
diffusion model runs its sampler's ODE backwards to the noise that makes each image (no search)
and walks between the two noises; a latent diffusion prior encodes with its VAE and walks between
the noises of the two codes. The walk itself is the model's (`ModelService.interpolate_latents`).
"""

from __future__ import annotations

import atexit
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
import torch
from PIL import Image

from genlab.latent import INTERPOLATION_MODES
from genlab.service import INVERSION_STEPS, MAX_INVERSION_STEPS, ModelService
from genlab.ui.images import grid, picture, to_pil
from genlab.ui.inputs import build_picker, gradio_progress, resolve, to_latents
from genlab.ui.shell import Shell, cached_event, user_error

MIN_STEPS, MAX_STEPS = 2, 16
GIF_FRAME_MS = 150
GIF_DIR = Path(tempfile.gettempdir()) / "genlab-gifs"
GIF_MAX_AGE_S = 3600


# ----------------------------------------------------------------------------- pictures


_made_here: set[Path] = set()  # GIFs this process wrote, removed when it exits


@atexit.register
def _remove_gifs() -> None:
    for path in list(_made_here):
        path.unlink(missing_ok=True)


def save_gif(frames: torch.Tensor, size: int = 112) -> str:
    """frames: (T, C, H, W) in [0, 1] -> path of a looping GIF that plays forward then back."""
    GIF_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in GIF_DIR.glob("*.gif"):  # the GIFs are copied into Gradio's cache; drop stale ones
        try:
            if now - old.stat().st_mtime > GIF_MAX_AGE_S:
                old.unlink()
        except OSError:
            pass
    pictures = [to_pil(f, size).convert("P") for f in frames]
    sequence = pictures + pictures[-2:0:-1]  # ping-pong, without repeating the ends
    path = GIF_DIR / f"interpolation-{uuid.uuid4().hex[:12]}.gif"
    sequence[0].save(path, save_all=True, append_images=sequence[1:], duration=GIF_FRAME_MS, loop=0,
                     optimize=False, disposal=2)
    _made_here.add(path)
    return str(path)


def _strip(frames: torch.Tensor) -> Image.Image:
    return grid(frames, ncol=frames.shape[0], cell=84)


# ----------------------------------------------------------------------------- checks


def _settings(shell: Shell, steps: Any, mode: Any, inversion_steps: Any) -> tuple[int, str, int]:
    steps = shell.int_in_range(steps, "Steps", MIN_STEPS, MAX_STEPS)
    if mode not in INTERPOLATION_MODES:
        raise user_error(f"Interpolation must be one of {', '.join(INTERPOLATION_MODES)}, got {mode!r}.")
    inversion_steps = shell.int_in_range(inversion_steps, "GAN inversion steps", 10, MAX_INVERSION_STEPS)
    return steps, mode, inversion_steps


def _error_text(errors: list[float | None]) -> str:
    return ", ".join("exact (own sample)" if e is None else f"MSE {e:.4f}" for e in errors)


# ----------------------------------------------------------------------------- one model


def interpolate_model(shell: Shell, service: ModelService, a: list, b: list, steps: int, mode: str,
                      inversion_steps: int, progress: Any = None):
    """Endpoints a and b (picker values) through one model: (endpoints, LatentResult, frames (steps, C, H, W))."""
    endpoints = [resolve(shell, service, *a, what="the start image"), resolve(shell, service, *b, what="the end image")]
    report = gradio_progress(progress, f"Inverting {service.name}") if progress is not None else None
    found = to_latents(shell, service, endpoints, inversion_steps, report)
    path = service.interpolate_latents(found.latents[0], found.latents[1], steps, mode)
    return endpoints, found, service.decode(path)


def run_interpolate(shell: Shell, model_name: Any,
                    source_a: Any, upload_a: Any, drawing_a: Any, index_a: Any, seed_a: Any,
                    source_b: Any, upload_b: Any, drawing_b: Any, index_b: Any, seed_b: Any,
                    steps: Any, mode: Any, inversion_steps: Any, progress: Any = None):
    """The `interpolate` endpoint: start and end pickers (source, upload, drawing, test index, seed each),
    then the number of frames, the interpolation and the GAN's inversion steps."""
    service = shell.model(model_name)
    steps, mode, inversion_steps = _settings(shell, steps, mode, inversion_steps)
    a, b = [source_a, upload_a, drawing_a, index_a, seed_a], [source_b, upload_b, drawing_b, index_b, seed_b]
    endpoints, found, frames = interpolate_model(shell, service, a, b, steps, mode, inversion_steps, progress)
    gif = save_gif(frames)
    info = (f"**{service.name}** · {steps} steps, {mode} · {found.how}  \n"
            f"Reconstruction error of start and end: {_error_text(found.errors)}.")
    return (to_pil(endpoints[0].image, 112), to_pil(endpoints[1].image, 112),
            to_pil(found.reconstructions[0], 112), to_pil(found.reconstructions[1], 112),
            _strip(frames), gif, gif, info)


# ----------------------------------------------------------------------------- VAE vs GAN


def run_compare(shell: Shell, model_name: Any,
                source_a: Any, upload_a: Any, drawing_a: Any, index_a: Any, seed_a: Any,
                source_b: Any, upload_b: Any, drawing_b: Any, index_b: Any, seed_b: Any,
                steps: Any, mode: Any, inversion_steps: Any, progress: Any = None):
    """The `interpolate_compare` endpoint: the same two inputs through the dataset's VAE and its GAN
    (the pair that stands for the dataset: `ModelStore.chosen`)."""
    picked = shell.model(model_name)
    steps, mode, inversion_steps = _settings(shell, steps, mode, inversion_steps)
    a, b = [source_a, upload_a, drawing_a, index_a, seed_a], [source_b, upload_b, drawing_b, index_b, seed_b]
    chosen = shell.store.chosen(picked.dataset)
    outputs: list[Any] = []
    lines = [f"**{picked.dataset}**, {steps} steps, {mode}."]
    for kind, service in (("VAE", chosen["vae"]), ("GAN", chosen["gan"])):
        if service is None:
            outputs += [None, None]
            lines.append(f"- {kind}: there is no {kind} for {picked.dataset} yet.")
            continue
        _, found, frames = interpolate_model(shell, service, a, b, steps, mode, inversion_steps, progress)
        outputs += [_strip(frames), save_gif(frames)]
        lines.append(f"- {kind} **{service.name}** ({service.latent_dim}-d): {found.how} "
                     f"Start and end: {_error_text(found.errors)}.")
    if chosen["vae"] is None and chosen["gan"] is None:
        raise user_error(f"There is neither a VAE nor a GAN for {picked.dataset}.")
    lines.append("A random sample is drawn by each model from its own latent space with the seed; "
                 "drawings, uploads and test images go through both.")
    return (*outputs, "\n".join(lines))


# ----------------------------------------------------------------------------- layout


def build(shell: Shell) -> None:
    gr.Markdown(
        "Pick a start and an end image, then walk through the model's latent space between them. "
        "The VAE encodes an image in one pass; the GAN has no encoder, so Genlab searches for the "
        "latent whose picture is closest (GAN inversion), which takes a few seconds. A diffusion model "
        "runs its sampler backwards to the noise that makes each image, and walks between the two noises."
    )
    with gr.Row():
        with gr.Column():
            seed_a, seed_b = shell.first_views.interpolate_seeds
            picker_a = build_picker(shell, "Start", default_seed=seed_a, api_name="prepare_input",
                                    elem_id="genlab-interpolate-start")
        with gr.Column():
            picker_b = build_picker(shell, "End", default_seed=seed_b, elem_id="genlab-interpolate-end")
    with gr.Row():
        steps = gr.Slider(MIN_STEPS, MAX_STEPS, value=8, step=1, label="Steps")
        mode = gr.Radio(list(INTERPOLATION_MODES), value="spherical", label="Interpolation",
                        info="spherical stays where Gaussian latents live")
        inversion_steps = gr.Slider(10, MAX_INVERSION_STEPS, value=INVERSION_STEPS, step=10, label="GAN inversion steps",
                                    info="more: closer reconstruction, slower")
    with gr.Row():
        run_button = gr.Button("Interpolate", variant="primary", elem_id="genlab-interpolate-button")
        compare_button = gr.Button("Compare VAE and GAN")

    with gr.Tab("This model"):
        with gr.Row():
            prepared_a = picture("Start: what the model sees", height=140)
            recon_a = picture("Start: the model's version", height=140)
            recon_b = picture("End: the model's version", height=140)
            prepared_b = picture("End: what the model sees", height=140)
        strip = picture("Interpolation", buttons=["download"], elem_id="genlab-interpolation-strip")
        with gr.Row():
            gif = gr.Image(label="Animated", type="filepath", interactive=False, height=160,
                           elem_classes=["genlab-pixelated"])
            gif_file = gr.File(label="Download the GIF", interactive=False)
        info = gr.Markdown("")
    with gr.Tab("VAE vs GAN"):
        vae_strip = picture("VAE", buttons=["download"])
        gan_strip = picture("GAN", buttons=["download"])
        with gr.Row():
            vae_gif = gr.Image(label="VAE, animated", type="filepath", interactive=False, height=160)
            gan_gif = gr.Image(label="GAN, animated", type="filepath", interactive=False, height=160)
        compare_info = gr.Markdown("")

    inputs = [shell.model_picker, *picker_a.inputs, *picker_b.inputs, steps, mode, inversion_steps]

    # Written out: Gradio finds gr.Progress only among positional parameters.
    @cached_event
    def interpolate_event(model, source_a, upload_a, drawing_a, index_a, seed_a, source_b, upload_b, drawing_b,
                          index_b, seed_b, steps, mode, inversion_steps, progress=gr.Progress()):
        return run_interpolate(shell, model, source_a, upload_a, drawing_a, index_a, seed_a, source_b, upload_b,
                               drawing_b, index_b, seed_b, steps, mode, inversion_steps, progress=progress)

    @cached_event
    def compare_event(model, source_a, upload_a, drawing_a, index_a, seed_a, source_b, upload_b, drawing_b,
                      index_b, seed_b, steps, mode, inversion_steps, progress=gr.Progress()):
        return run_compare(shell, model, source_a, upload_a, drawing_a, index_a, seed_a, source_b, upload_b,
                           drawing_b, index_b, seed_b, steps, mode, inversion_steps, progress=progress)

    run_button.click(interpolate_event, inputs,
                     [prepared_a, prepared_b, recon_a, recon_b, strip, gif, gif_file, info],
                     api_name="interpolate_ui", api_visibility="undocumented")
    compare_button.click(compare_event, inputs, [vae_strip, vae_gif, gan_strip, gan_gif, compare_info],
                         api_name="interpolate_compare")
    # A first visit sees the idea at once: the default pickers are two random samples (cheap to decode).
    shell.on_load(interpolate_event, inputs, [prepared_a, prepared_b, recon_a, recon_b, strip, gif, gif_file, info])
