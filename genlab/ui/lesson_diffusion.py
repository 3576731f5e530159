"""Tab "How diffusion works": a test image noised step by step, the reverse process as a strip, and
sample quality against the number of steps.

The tab uses the diffusion checkpoint of the picked model's dataset (there is one per dataset:
<dataset>-diffusion). The curve of quality against steps is measured once by
`python train/evaluate.py --dataset <dataset> --steps-curve <dataset>-diffusion` and stored beside the
checkpoints (<checkpoints>/<model>-steps.json); the tab only reads it. The first view (model picker's
model, the page's seed, 10 steps) is computed at start-up through `Shell.on_model_change`.
"""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
import pandas as pd
import torch
from matplotlib.figure import Figure

from genlab import metrics
from genlab.checkpoints import Checkpoint
from genlab.models.diffusion import Trajectory, add_noise, draw_noise, to_image
from genlab.ui.images import grid, picture
from genlab.ui.inputs import gallery_indices
from genlab.service import ModelService
from genlab.ui.shell import Shell, cached_event, user_error

NOISE_TIMES = tuple(round(0.1 * i, 1) for i in range(11))  # the forward strip: t = 0, 0.1, ..., 1
GALLERY_IMAGES = 16  # test images the forward strip can start from, cycling through the classes
MAX_STEPS = 50  # the reverse process's step slider
DEFAULT_STEPS = 10  # ... starts here (the shipped checkpoints' sample_steps)
STRIP_FRAMES = 11  # a longer reverse process is shown at this many evenly spaced times
SAMPLES_SHOWN = 8  # samples from the seed at the chosen steps (the first is the strip's)
CELL = 56  # pixels per 28-pixel image in the strips

LESSON_FORWARD = """
**Forward: from an image to noise.** Diffusion starts by destroying pictures. Take a real image x₀
and Gaussian noise ε (one random number per pixel) and mix them: **xₜ = (1 − t)·x₀ + t·ε**. At
t = 0 it is the image, at t = 1 pure noise, in between a bit of both. Nothing is learned here: it is
one line of arithmetic, and the model never has to store an image.
"""

LESSON_REVERSE = """
**Reverse: from noise to an image, one small step at a time.** The network learned the other
direction. Shown a noisy xₜ and its time t, it predicts which way to move, the *velocity*
ε − x₀ (so also its best guess of the clean image, x̂₀ = xₜ − t·velocity). Training is plain
regression: noise a training image to a random t, and ask the network for the velocity that
was used. To draw a new picture, start from pure noise at t = 1 and take small steps towards
t = 0, asking the network again at every step (here Heun's method: two passes a step, one on the
last). Top row: the state xₜ after each step; bottom row: the network's guess of the final image
at that moment: a blurry average early on, details once the noise is low. The same seed and
steps always give the same picture.
"""

LESSON_STEPS = """
**Why so many network passes?** A VAE's decoder or a GAN's generator draws a picture in **one**
pass: noise in, image out. A diffusion model's network only knows the direction from where it is
now, and the direction changes along the way, so it must be asked again and again: with one step
it can only jump to its first guess, the blurry average of everything that noise could become.
More steps follow the curved path more closely and give sharper, more varied images, at the cost of
one or two network passes each. The chart measures this on the shipped model: the Fréchet distance
of samples to real test images, divided by that of real images to other real images (1 = as close as
real data gets), and the share of samples the dataset's classifier names with confidence ≥ 90%.
"""


# --------------------------------------------------------------------------- which model


def diffusion_for(shell: Shell, dataset: str) -> Checkpoint | None:
    """The pixel diffusion checkpoint of `dataset` (preferring <dataset>-diffusion), or None."""
    names = sorted(shell.store.names("diffusion", dataset), key=lambda n: (n != f"{dataset}-diffusion", n))
    return shell.store.models[names[0]] if names else None


def missing_sentence(dataset: str) -> str:
    return (f"There is no diffusion model for {dataset} yet: train one with `python train/diffusion.py "
            f"--dataset {dataset}` (it writes checkpoints/{dataset}-diffusion), then press ↻ Refresh models.")


def dataset_of(shell: Shell, model_name: Any) -> str:
    """The dataset of the picked model (any kind), or a user error."""
    if not model_name:
        raise user_error("Pick a model first: this tab shows the diffusion model of its dataset.")
    try:
        return shell.store.service(str(model_name)).dataset
    except KeyError as e:
        raise user_error(str(e.args[0])) from None


def _need_model(shell: Shell, dataset: str) -> Checkpoint:
    c = diffusion_for(shell, dataset)
    if c is None:
        raise user_error(missing_sentence(dataset))
    return c


# --------------------------------------------------------------------------- the two processes


def noised_series(image: torch.Tensor, seed: int, times: tuple[float, ...] = NOISE_TIMES) -> torch.Tensor:
    """One image (C, H, W) in [0, 1] noised to each of `times` with the same noise (drawn from `seed`)
    -> (T, C, H, W) in [0, 1]: the forward process x_t = (1 - t) x0 + t eps, shown as pictures."""
    noise = draw_noise(tuple(image.shape), torch.Generator().manual_seed(int(seed)))
    t = torch.tensor(times, dtype=image.dtype)
    frames = image[None].expand(len(times), *image.shape)
    return to_image(add_noise(frames, t, noise[None].expand_as(frames)))


def reverse_process(service: ModelService, seed: int, steps: int, count: int = 1) -> Trajectory:
    """The reverse process of `count` samples from `seed` in `steps` Heun steps (the first is the
    one sample of `count` = 1: the strip's)."""
    return service.reverse_process(int(seed), steps, count)


def strip_frames(steps: int, frames: int = STRIP_FRAMES) -> list[int]:
    """Which of the steps + 1 states a strip shows: all of them, or `frames` evenly spaced ones."""
    if steps + 1 <= frames:
        return list(range(steps + 1))
    return sorted({round(i * steps / (frames - 1)) for i in range(frames)})


def pick_test_image(shell: Shell, dataset: str, position: Any, model: Checkpoint | None) -> tuple[torch.Tensor, str]:
    """The `position`-th gallery test image of `dataset` (cycling through the classes) -> (C, H, W), caption."""
    if model is not None:
        c = model.config
        data = shell.test_images(shell.store.service(model.name))
        if tuple(data.images.shape[1:]) != (c.channels, c.image_size, c.image_size):
            raise user_error(f"{model.name} draws {c.channels}x{c.image_size}x{c.image_size} images; "
                             f"the test images of {dataset} do not fit it.")
    else:
        data = shell.test_images(dataset)
    indices = gallery_indices(data.labels, GALLERY_IMAGES)
    position = shell.int_in_range(position, "Test image", 0, len(indices) - 1)
    i = indices[position]
    label = int(data.labels[i])
    name = data.class_names[label] if label < len(data.class_names) else str(label)
    return data.images[i], f"test image #{i} ({name})"


def forward_view(shell: Shell, dataset: str, position: Any, seed: Any) -> tuple[Any, str]:
    """(the forward strip t = 0 ... 1, its caption) for a test image and the noise of `seed`."""
    seed = shell.seed(seed)
    image, which = pick_test_image(shell, dataset, position, diffusion_for(shell, dataset))
    strip = grid(noised_series(image, seed), ncol=len(NOISE_TIMES), cell=CELL)
    times = ", ".join(f"{t:g}" for t in NOISE_TIMES)
    return strip, f"The {which} mixed with the noise of seed {seed} at t = {times} (left to right)."


def reverse_view(shell: Shell, dataset: str, seed: Any, steps: Any) -> tuple[Any, str, Any, str]:
    """(the reverse strip: states over predictions, its caption, SAMPLES_SHOWN samples, their caption)."""
    c = _need_model(shell, dataset)
    seed = shell.seed(seed)
    steps = shell.int_in_range(steps, "Steps", 1, MAX_STEPS)
    trajectory = reverse_process(shell.store.service(c.name), seed, steps, SAMPLES_SHOWN)
    shown = strip_frames(steps)
    frames = torch.cat([trajectory.states[shown, 0], trajectory.predictions[shown, 0]])
    strip = grid(frames, ncol=len(shown), cell=CELL)
    times = ", ".join(f"{float(trajectory.times[i]):.2g}" for i in shown)
    passes = metrics.network_passes(steps)
    caption = (f"{c.name}, seed {seed}, {steps} step{'s' if steps != 1 else ''} ({passes} network "
               f"pass{'es' if passes != 1 else ''}). Top: xₜ at t = {times}; bottom: the network's guess x̂₀ there.")
    samples = trajectory.images
    samples_caption = (f"{SAMPLES_SHOWN} samples of seed {seed} at {steps} step{'s' if steps != 1 else ''} "
                       f"(the first is the strip's): {SAMPLES_SHOWN * passes} network passes in all.")
    return strip, caption, grid(samples, ncol=SAMPLES_SHOWN, cell=CELL), samples_caption


# --------------------------------------------------------------------------- quality against steps


# The cost of a step count is its network passes; the stored milliseconds depend on the machine's load.
CURVE_COLUMNS = ["steps", "network passes", "Fréchet distance ÷ floor", "confident share", "precision", "recall",
                 "class KL to uniform"]


def curve_table(result: dict[str, Any] | None) -> pd.DataFrame:
    """The stored curve as a table, one row per step count (CURVE_COLUMNS)."""
    if not result:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    rows = [[r["steps"], r.get("network_passes", metrics.network_passes(int(r["steps"]))),
             round(float(r["fd_over_floor"]), 2), f"{float(r['confident']):.1%}",
             round(float(r.get("precision", float("nan"))), 3), round(float(r.get("recall", float("nan"))), 3),
             round(float(r.get("kl_to_uniform", float("nan"))), 4)]
            for r in sorted(result["curve"], key=lambda r: r["steps"])]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def curve_figure(result: dict[str, Any]) -> Figure:
    """Two panels against the number of steps (log scale): FD ÷ floor, and the confident share."""
    curve = sorted(result["curve"], key=lambda r: r["steps"])
    steps = [int(r["steps"]) for r in curve]
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    ax_fd, ax_conf = fig.subplots(1, 2)
    ax_fd.plot(steps, [float(r["fd_over_floor"]) for r in curve], "o-", color="tab:blue", label=result.get("model"))
    ax_fd.axhline(1.0, color="gray", linestyle="--", linewidth=1, label="real vs real")
    ax_fd.set_yscale("log")
    ax_fd.set_ylabel("Fréchet distance ÷ floor (lower is better)", fontsize=8)
    ax_conf.plot(steps, [100 * float(r["confident"]) for r in curve], "o-", color="tab:orange", label="samples")
    real = result.get("floor", {}).get("confident")
    if isinstance(real, (int, float)):
        ax_conf.axhline(100 * real, color="gray", linestyle="--", linewidth=1, label="real test images")
    ax_conf.set_ylim(0, 100)
    ax_conf.set_ylabel("named with confidence ≥ 90% (%)", fontsize=8)
    for ax in (ax_fd, ax_conf):
        ax.set_xscale("log", base=2)
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.set_xlabel("sampling steps (Heun)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def curve_reading(result: dict[str, Any]) -> str:
    """One or two sentences that read the stored curve: the first step count, and where it levels off."""
    curve = sorted(result["curve"], key=lambda r: r["steps"])
    first, best = curve[0], min(float(r["fd_over_floor"]) for r in curve)
    level = next(r for r in curve if float(r["fd_over_floor"]) <= 1.25 * best)
    k = len(result.get("class_names") or []) or 10
    text = (f"**With {first['steps']} step{'s' if first['steps'] != 1 else ''}** the samples are "
            f"{float(first['fd_over_floor']):.1f}× the floor and their class histogram is "
            f"{float(first.get('kl_to_uniform', float('nan'))):.2f} nats from uniform (one single class would be "
            f"ln {k} = {math.log(k):.2f}): every noise ends near the same average picture.")
    if level is not first:
        text += (f" **From {level['steps']} steps** ({level['network_passes']} network passes) the curve levels off at "
                 f"{float(level['fd_over_floor']):.2f}× the floor, {float(level['confident']):.0%} named with confidence.")
    splits = result.get("floor", {}).get("splits") or []
    if len(splits) > 1:
        text += (f" At this sample size the floor itself moves between {min(splits):.1f} and {max(splits):.1f} from one "
                 f"draw of real images to another, so small differences between step counts are noise.")
    return text


def curve_view(shell: Shell, dataset: str) -> tuple[Figure | None, pd.DataFrame, str]:
    """(chart, table, note) of the stored quality-against-steps curve of the dataset's diffusion model."""
    c = diffusion_for(shell, dataset)
    if c is None:
        return None, curve_table(None), missing_sentence(dataset)
    result = metrics.read_steps_curve(shell.store.root, c.name)
    if result is None:
        return None, curve_table(None), (
            f"No stored curve for {c.name} yet: `python train/evaluate.py --dataset {dataset} --steps-curve {c.name}` "
            f"measures it (minutes) and writes {metrics.steps_curve_path(shell.store.root, c.name).name}.")
    floor = result.get("floor", {})
    note = (f"Measured by `train/evaluate.py --steps-curve` on {result.get('num_samples')} samples per step count "
            f"(the same starting noise for every count) against {result.get('real_images')} test images, "
            f"by {result.get('classifier')}; real vs real: Fréchet distance {floor.get('frechet_distance', float('nan')):.2f}, "
            f"{floor.get('confident', float('nan')):.1%} named with confidence ({result.get('created', '')}).")
    note = curve_reading(result) + "  \n" + note
    if result.get("checkpoint_created") != c.info.get("created"):
        note += (f" ⚠️ Measured on an earlier training of {c.name} (saved {result.get('checkpoint_created')}; the "
                 f"one loaded was saved {c.info.get('created')}): run the command again to update it.")
    return curve_figure(result), curve_table(result), note


# --------------------------------------------------------------------------- layout


def tab_view(shell: Shell, dataset: str, position: Any, seed: Any, steps: Any) -> tuple:
    """Everything the tab shows for the picked model's dataset: (note, forward strip, caption, reverse
    strip, caption, samples, caption, chart, table, curve note). A missing diffusion model leaves its
    views empty and says so once."""
    c = diffusion_for(shell, dataset)
    note = (f"**{c.name}**: the diffusion model of {dataset} ({c.info.get('epochs', '?')} epochs of training)."
            if c is not None else missing_sentence(dataset))
    try:
        forward = forward_view(shell, dataset, position, seed)
    except gr.Error as e:  # no test images on this server: the rest still shows
        forward = (None, e.message)
    reverse = reverse_view(shell, dataset, seed, steps) if c is not None else (None, "", None, "")
    return (note, *forward, *reverse, *curve_view(shell, dataset))


def build(shell: Shell) -> None:
    note = gr.Markdown("")
    gr.Markdown(LESSON_FORWARD)
    with gr.Row():
        position = gr.Slider(0, GALLERY_IMAGES - 1, value=0, step=1, label="Test image (cycles through the classes)",
                             scale=2)
        seed = gr.Number(shell.first_views.seed, label="Noise seed", precision=0, minimum=0, scale=1)
    forward_strip = picture("Forward process: t = 0 → 1", elem_id="genlab-diffusion-forward")
    forward_caption = gr.Markdown("")

    gr.Markdown(LESSON_REVERSE)
    with gr.Row():
        steps = gr.Slider(1, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="Steps", scale=2)
        run = gr.Button("Run the reverse process", variant="primary", scale=1)
    reverse_strip = picture("Reverse process: t = 1 → 0", elem_id="genlab-diffusion-reverse")
    reverse_caption = gr.Markdown("")
    samples = picture("Samples at these steps", elem_id="genlab-diffusion-samples")
    samples_caption = gr.Markdown("")

    gr.Markdown("### Quality against the number of steps")
    gr.Markdown(LESSON_STEPS)
    chart = gr.Plot(label="Sample quality against steps", format="png")
    table = gr.Dataframe(headers=CURVE_COLUMNS, label="Measured", interactive=False, wrap=True)
    curve_note = gr.Markdown("")

    # Cached by dataset: every model of a dataset shows the same diffusion model, and a class repeats itself.
    view = cached_event(lambda dataset, position_value, seed_value, steps_value: tab_view(
        shell, dataset, position_value, seed_value, steps_value))
    forward = cached_event(lambda dataset, position_value, seed_value: forward_view(
        shell, dataset, position_value, seed_value))
    reverse = cached_event(lambda dataset, seed_value, steps_value: reverse_view(shell, dataset, seed_value, steps_value))

    def diffusion_view(model_name, position_value, seed_value, steps_value):
        return view(dataset_of(shell, model_name), position_value, seed_value, steps_value)

    def diffusion_forward(model_name, position_value, seed_value):
        """The forward process: a test image of the model's dataset noised to t = 0, 0.1, ..., 1."""
        return forward(dataset_of(shell, model_name), position_value, seed_value)

    def diffusion_reverse(model_name, seed_value, steps_value):
        """The reverse process of the model's dataset's diffusion model: a strip and samples for a seed and steps."""
        return reverse(dataset_of(shell, model_name), seed_value, steps_value)

    view_outputs = [note, forward_strip, forward_caption, reverse_strip, reverse_caption, samples, samples_caption,
                    chart, table, curve_note]
    shell.on_model_change(diffusion_view, [shell.model_picker, position, seed, steps], view_outputs)
    forward_inputs, forward_outputs = [shell.model_picker, position, seed], [forward_strip, forward_caption]
    position.release(diffusion_forward, forward_inputs, forward_outputs, api_name="diffusion_forward")
    reverse_inputs = [shell.model_picker, seed, steps]
    reverse_outputs = [reverse_strip, reverse_caption, samples, samples_caption]
    run.click(diffusion_reverse, reverse_inputs, reverse_outputs, api_name="diffusion_reverse")
    steps.release(diffusion_reverse, reverse_inputs, reverse_outputs, api_visibility="private")
    seed.submit(diffusion_forward, forward_inputs, forward_outputs, api_visibility="private").then(
        diffusion_reverse, reverse_inputs, reverse_outputs, api_visibility="private")
