"""Tab "Sample": a grid of samples from the chosen model, with a seed and a temperature / truncation.

The grid follows the controls: it is redrawn when a slider is released, the seed changes, or the
model changes (the button draws again with the same settings). Clicking a sample shows its nearest
training images (genlab.ui.nearest).
"""

from __future__ import annotations

import gradio as gr

from genlab.ui import nearest
from genlab.ui.images import grid
from genlab.ui.shell import Shell


def sample_grid(shell: Shell, model_name: str, seed: float, count: float, temperature: float):
    """Decode `count` latents drawn with `seed`, scaled by `temperature` (VAE) / truncation (GAN)."""
    service = shell.model(model_name)
    count = shell.int_in_range(count, "Number of samples", 1, 64)
    seed = shell.seed(seed)
    temperature = shell.number(temperature, "Temperature", 0.01, 3.0)
    return grid(service.sample(count, seed, scale=temperature), ncol=min(8, count))


def build(shell: Shell) -> None:
    with gr.Row():
        count = gr.Slider(1, 64, value=32, step=1, label="Samples")
        temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature (VAE) / truncation (GAN)")
        button = gr.Button("Sample", variant="primary")
    output = gr.Image(label="Samples", format="png", type="pil", interactive=False, buttons=["download"],
                      elem_id="genlab-samples")
    inputs = [shell.model_picker, shell.seed_box, count, temperature]

    def sample(model: str, seed: int = 0, count: int = 32, temperature: float = 1.0):
        """A grid of `count` samples of `model` from `seed`; temperature (VAE) or truncation (GAN) scales the latents."""
        return sample_grid(shell, model, seed, count, temperature)

    button.click(sample, inputs, output, api_name="sample")
    # No button needed: releasing a slider or changing the seed redraws (the model picker, via the shell).
    gr.on([count.release, temperature.release, shell.seed_box.change], sample, inputs, output,
          api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    shell.on_model_change(sample, inputs, output)
    nearest.build(shell, output, inputs)  # click a sample: its nearest training images
