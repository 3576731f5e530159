"""Tab "Sample": a grid of samples from the chosen model, with a seed."""

from __future__ import annotations

import gradio as gr
import torch

from genlab.latent import sample_latents
from genlab.ui.images import grid
from genlab.ui.shell import Shell


def sample_grid(shell: Shell, model_name: str, seed: float, count: float, temperature: float):
    """Decode `count` latents drawn with `seed`, scaled by `temperature` (VAE) / truncation (GAN)."""
    ckpt = shell.model(model_name)
    count = shell.int_in_range(count, "Number of samples", 1, 64)
    seed = shell.seed(seed)
    temperature = shell.number(temperature, "Temperature", 0.01, 3.0)
    z = sample_latents(count, ckpt.model.latent_dim, seed, scale=temperature)
    with torch.no_grad():
        images = ckpt.model.decode(z)
    return grid(images, ncol=min(8, count))


def build(shell: Shell) -> None:
    with gr.Row():
        count = gr.Slider(1, 64, value=32, step=1, label="Samples")
        temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature (VAE) / truncation (GAN)")
        button = gr.Button("Sample", variant="primary")
    output = gr.Image(label="Samples", format="png", type="pil", interactive=False, buttons=["download"])
    inputs = [shell.model_picker, shell.seed_box, count, temperature]
    fn = lambda *a: sample_grid(shell, *a)  # noqa: E731
    button.click(fn, inputs, output, api_name="sample")
    shell.on_model_change(fn, inputs, output)
