"""Tab "Sample": a grid of samples from the chosen model, with a seed and a temperature / truncation,
and, for a model that samples by an ODE (diffusion), its number of steps.

The grid follows the controls: it is redrawn when a slider is released, the seed changes, or the
model changes (the button draws again with the same settings). A new model starts at its own
default step count (its config's `sample_steps`); the steps slider shows only for such a model.
Clicking a sample shows its nearest training images (genlab.ui.nearest).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from genlab.ui import nearest
from genlab.ui.images import grid
from genlab.ui.shell import Shell

MAX_SAMPLE_STEPS = 50  # ODE steps offered (2 * steps - 1 network passes per sample)
STEPS_LABEL = "Diffusion steps"


def sample_grid(shell: Shell, model_name: str, seed: float, count: float, temperature: float, steps: Any = None):
    """Decode `count` latents drawn with `seed`, scaled by `temperature` (VAE) / truncation (GAN);
    a diffusion model solves its ODE in `steps` steps (None: its default)."""
    service = shell.model(model_name)
    count = shell.int_in_range(count, "Number of samples", 1, 64)
    seed = shell.seed(seed)
    temperature = shell.number(temperature, "Temperature", 0.01, 3.0)
    steps = (shell.int_in_range(steps, STEPS_LABEL, 1, MAX_SAMPLE_STEPS)
             if steps is not None and service.sample_steps is not None else None)
    images = shell.serve(service.sample, count, seed, scale=temperature, steps=steps)
    return grid(images, ncol=min(8, count))


def steps_control(shell: Shell, model_name: Any) -> gr.Slider:
    """The steps slider for a model: shown at its default steps for a diffusion model, hidden otherwise."""
    service = shell.store.services.get(model_name) if model_name else None
    default = service.sample_steps if service is not None else None
    if default is None:
        return gr.Slider(visible=False)
    return gr.Slider(value=min(default, MAX_SAMPLE_STEPS), visible=True,
                     info=f"{service.name} solves its ODE in this many steps: {service.network_passes(default)} "
                          f"network passes a sample at its default {default} (a VAE or a GAN: 1)")


def build(shell: Shell) -> None:
    with gr.Row():
        count = gr.Slider(1, 64, value=32, step=1, label="Samples")
        temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature (VAE) / truncation (GAN)")
        steps = gr.Slider(1, MAX_SAMPLE_STEPS, value=10, step=1, label=STEPS_LABEL, visible=False,
                          elem_id="genlab-sample-steps")
        button = gr.Button("Sample", variant="primary")
    output = gr.Image(label="Samples", format="png", type="pil", interactive=False, buttons=["download"],
                      elem_id="genlab-samples")
    inputs = [shell.model_picker, shell.seed_box, count, temperature, steps]

    def sample(model: str, seed: int = 0, count: int = 32, temperature: float = 1.0, steps: int | None = None):
        """A grid of `count` samples of `model` from `seed`; temperature (VAE) or truncation (GAN) scales the
        latents; `steps`: a diffusion model's ODE steps (None: its default; ignored by a VAE or a GAN)."""
        return sample_grid(shell, model, seed, count, temperature, steps)

    button.click(sample, inputs, output, api_name="sample")
    # No button needed: releasing a slider or changing the seed redraws (the model picker, via the shell).
    gr.on([count.release, temperature.release, steps.release, shell.seed_box.change], sample, inputs, output,
          api_visibility="private", trigger_mode="always_last", show_progress="hidden")

    def on_model(model_name, seed, count_value, temperature_value):
        """A new model: its own default steps, and its grid drawn with them."""
        return steps_control(shell, model_name), sample_grid(shell, model_name, seed, count_value, temperature_value)

    shell.on_model_change(on_model, [shell.model_picker, shell.seed_box, count, temperature], [steps, output])
    nearest.build(shell, output, inputs)  # click a sample: its nearest training images
