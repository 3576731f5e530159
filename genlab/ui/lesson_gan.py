"""Tab "How a GAN trains": samples over the epochs, the two players' losses, mode collapse, inversion.

Everything about training comes from the checkpoint folder (samples/epoch_NNN.png and
history.json, keys loss_d, loss_g, d_real, d_fake per epoch); nothing is retrained here.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from PIL import Image

from genlab import metrics
from genlab.checkpoints import SAMPLES_DIR, read_history
from genlab.service import INVERSION_RESTARTS, INVERSION_STEPS, ModelService
from genlab.ui.images import grid, picture, to_pil
from genlab.ui.inputs import gallery_indices, gallery_items
from genlab.ui.lessons import (
    NO_MODELS, check_dataset, class_bars, dataset_and_model_row, history_frame, models_for,
)
from genlab.ui.shell import HEAVY, Shell, dataset_argument, user_error

HISTOGRAM_SAMPLES = 1000  # samples classified when no stored histogram exists
_EPOCH_FILE = re.compile(r"epoch_(\d+)\.png$")

LESSON_MINMAX = """
**A game of two networks.** The *generator* G turns noise z into images; the *discriminator* D
looks at an image and says how likely it is real, D(x) ∈ (0, 1). D is trained to say 1 on real
images and 0 on G's; G is trained to make D say 1 on its images. In symbols they play
min over G, max over D of E[log D(x)] + E[log(1 − D(G(z)))]. At the balance point D cannot tell,
D(x) = D(G(z)) = ½. There is no single loss going down: each player's progress is the other's
setback, which is why the curves wobble. Watch the samples instead: blobs, then strokes, then digits.
"""

LESSON_COLLAPSE = """
**Mode collapse.** G only has to fool D, not to cover the data. If a few kinds of images fool D
well, G can make only those: the classifier's histogram of its samples piles up on a few
classes. The VAE cannot do this, because it must reconstruct every training image.
The stable GANs shipped here are helped: each reads its class from z (the largest of z0–z9) and
its discriminator judges each image together with that class (a *projection* discriminator: is
this a real image *of this class*?), so no class can go missing, and a *mode-seeking* term rewards
different images for different z within a class, where collapse would otherwise start.
The collapsed GAN has none of these aids.
"""

LESSON_INVERSION = """
**Why a GAN needs inversion.** A VAE has an encoder: one forward pass gives the code of any image.
A GAN only maps z → image. To find the z of a given image we must *search*: start from random
z's (for a GAN that reads its class from z: the best-matching of a few z's of every class) and follow
the gradient of the pixel error for a few hundred steps (here {steps} steps from {restarts} starts). It is slower by orders of magnitude, and the GAN may simply not be able to draw that image.
""".format(steps=INVERSION_STEPS, restarts=INVERSION_RESTARTS)


def gan_names(shell: Shell, dataset: str) -> list[str]:
    """The GANs trained on `dataset`, the one the comparison uses first."""
    chosen = models_for(shell, dataset)["gan"]
    names = sorted(shell.store.names("gan", dataset))
    return sorted(names, key=lambda n: (chosen is None or n != chosen.name, n))


def sample_epochs(service: ModelService) -> dict[int, Path]:
    """{epoch: path} of the sample grids the training wrote (samples/epoch_NNN.png)."""
    folder = service.path / SAMPLES_DIR
    found = {}
    if folder.is_dir():
        for path in folder.iterdir():
            m = _EPOCH_FILE.search(path.name)
            if m:
                found[int(m.group(1))] = path
    return dict(sorted(found.items()))


def show_epoch(shell: Shell, gan_name: Any, epoch: Any) -> tuple[Any, str]:
    """The sample grid G made at the end of `epoch` (same noise every epoch) and a caption."""
    gan = shell.model(gan_name, ("gan",))
    epochs = sample_epochs(gan)
    if not epochs:
        return None, f"{gan.name} has no sample grids (samples/epoch_NNN.png) in its folder."
    wanted = shell.int_in_range(epoch, "Epoch", 0, 10**6)
    nearest = min(epochs, key=lambda e: (abs(e - wanted), e))
    with Image.open(epochs[nearest]) as im:
        picture = im.convert("RGB")
    return picture, f"Epoch {nearest} of {max(epochs)}: the same 64 noise vectors z every epoch."


def training_curves(shell: Shell, gan_name: Any) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(losses of D and G per epoch, D(x) and D(G(z)) per epoch, a one-line reading)."""
    gan = shell.model(gan_name, ("gan",))
    history = read_history(gan.path)
    losses = history_frame(history, {"loss_d": "discriminator loss", "loss_g": "generator loss"})
    outputs = history_frame(history, {"d_real": "D(x): real images", "d_fake": "D(G(z)): generated"})
    if not history:
        return losses, outputs, f"{gan.name} has no history.json, so there are no curves to show."
    last = history[-1]
    reading = (f"After {len(history)} epochs D gives real images {last.get('d_real', float('nan')):.2f} and "
               f"generated ones {last.get('d_fake', float('nan')):.2f} on average (½ and ½ would be a perfect tie).")
    return losses, outputs, reading


def on_gan(shell: Shell, gan_name: Any):
    """Everything that depends on the picked GAN: (slider, samples, caption, losses, D outputs, reading)."""
    if not gan_name:
        empty = pd.DataFrame(columns=["epoch", "value", "curve"])
        return gr.Slider(minimum=0, maximum=1, value=0), None, "There is no GAN for this dataset yet.", empty, empty, ""
    gan = shell.model(gan_name, ("gan",))
    epochs = list(sample_epochs(gan))
    last = epochs[-1] if epochs else 0
    slider = gr.Slider(minimum=epochs[0] if epochs else 0, maximum=max(last, 1), value=last, step=1)
    return (slider, *show_epoch(shell, gan_name, last), *training_curves(shell, gan_name))


def _collapsed_gan(shell: Shell, dataset: str) -> ModelService | None:
    names = sorted(n for n in shell.store.names("gan", dataset) if "collapsed" in n)
    return shell.store.services[names[0]] if names else None


def _histogram(gan: ModelService, stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The class distribution of a GAN: from the stored comparison if there, else measured now."""
    if stored and gan.name in stored.get("gan_class_histograms", {}):
        return stored["gan_class_histograms"][gan.name]
    return gan.class_distribution(HISTOGRAM_SAMPLES, seed=0)


def mode_collapse(shell: Shell, dataset: Any) -> tuple[Any, Any, Any, str]:
    """(stable GAN's samples, collapsed GAN's samples, their class histograms, note)."""
    dataset = check_dataset(shell, dataset)
    stable = models_for(shell, dataset)["gan"]
    collapsed = _collapsed_gan(shell, dataset)
    if collapsed is None:
        return (None, None, None,
                f"There is no collapsed GAN for {dataset} to show. One appears here when a GAN checkpoint whose "
                f"name contains “collapsed” exists (e.g. checkpoints/{dataset}-gan-collapsed), for instance "
                f"`python train/gan.py --dataset {dataset_argument(dataset)} --latent-dim 32 --epochs 3 --no-spectral-norm --lr 2e-3 "
                f"--generator-steps 10 --ema-decay 0 --limit 4000 --refine-convs 0 "
                f"--out checkpoints/{dataset}-gan-collapsed` (the recipe of the shipped mnist-gan-collapsed).")
    shown = [c for c in (stable, collapsed) if c is not None]
    grids = [None, None]
    for slot, c in ((0, stable), (1, collapsed)):
        if c is not None:
            grids[slot] = grid(c.sample(32, 0), ncol=8, cell=56)
    stored = metrics.read_comparison(shell.store.root, dataset)
    histograms = {c.name: _histogram(c, stored) for c in shown}
    if any(h is None for h in histograms.values()):
        return (*grids, None, f"There is no classifier for {dataset} to read the samples' classes: train one with "
                              f"`python train/classifier.py --dataset {dataset_argument(dataset)}`.")
    class_names = next(iter(shown)).class_names
    figure = class_bars({n: h["histogram"] for n, h in histograms.items()}, class_names,
                        "What the classifier says each GAN draws")
    note = "  \n".join(f"**{n}**: KL to uniform {h['kl_to_uniform']:.2f} nats, "
                       f"{h['classes_covered']} of {len(h['histogram'])} classes covered." for n, h in histograms.items())
    return *grids, figure, note


def inversion_demo(shell: Shell, dataset: Any, position: Any, progress: Any = None) -> tuple[Any, Any, Any, str]:
    """One test image, encoded by the VAE and inverted for the GAN -> (image, VAE's, GAN's, times)."""
    dataset = check_dataset(shell, dataset)
    models = models_for(shell, dataset)
    if models["vae"] is None or models["gan"] is None:
        raise user_error(f"This needs a VAE and a GAN for {dataset}; train them first.")
    vae, gan = models["vae"], models["gan"]
    data = shell.test_images(gan)
    indices = gallery_indices(data.labels)
    position = shell.int_in_range(position, "Test image", 0, len(indices) - 1)
    x = data.images[indices[position]][None]

    start = time.perf_counter()
    encoded = vae.to_latents(x)
    vae_seconds = time.perf_counter() - start

    def report(step: int, steps: int) -> None:
        if progress is not None:
            progress((step, steps), desc="Inverting the GAN", unit="steps")

    start = time.perf_counter()
    inverted = shell.serve(gan.to_latents, x, INVERSION_STEPS, report)
    gan_seconds = inverted.seconds if inverted.seconds is not None else time.perf_counter() - start
    found = "" if inverted.seconds is not None else " (found earlier for this image; the search itself took longer)"
    note = (f"**VAE ({vae.name})**: one pass of the encoder, {1000 * vae_seconds:.1f} ms, "
            f"pixel error {encoded.errors[0]:.4f}.  \n"
            f"**GAN ({gan.name})**: {INVERSION_STEPS} gradient steps from {INVERSION_RESTARTS} random starts, "
            f"{gan_seconds:.2f} s ({gan_seconds / max(vae_seconds, 1e-6):.0f}× longer){found}, "
            f"pixel error {inverted.errors[0]:.4f}.")
    return (to_pil(x[0], 168), to_pil(encoded.reconstructions[0], 168), to_pil(inverted.reconstructions[0], 168),
            note)


# --------------------------------------------------------------------------- layout


def build(shell: Shell) -> None:
    dataset, gan = dataset_and_model_row(shell, "gan")
    gr.Markdown(LESSON_MINMAX)
    with gr.Row():
        with gr.Column(scale=1):
            # The page sets the range per GAN; API callers may ask for any epoch a GAN has.
            most = max([max(sample_epochs(shell.store.service(n)), default=1) for n in shell.store.names("gan")],
                       default=1)
            epoch = gr.Slider(0, most, value=0, step=1, label="Epoch")
            epoch_image = picture("Samples at this epoch")
            epoch_caption = gr.Markdown("")
        with gr.Column(scale=1):
            losses = gr.LinePlot(x="epoch", y="value", color="curve", label="Losses", height=240,
                                 x_title="epoch", y_title="loss")
            outputs = gr.LinePlot(x="epoch", y="value", color="curve", label="Discriminator's verdicts", height=240,
                                  x_title="epoch", y_title="mean D output", y_lim=[0, 1])
            reading = gr.Markdown("")

    gr.Markdown("### Mode collapse")
    gr.Markdown(LESSON_COLLAPSE)
    with gr.Row():
        stable_grid = picture("Stable GAN")
        collapsed_grid = picture("Collapsed GAN")
    collapse_plot = gr.Plot(label="Class histograms", format="png")
    collapse_note = gr.Markdown("")

    gr.Markdown("### Why a GAN needs inversion")
    gr.Markdown(LESSON_INVERSION)
    position = gr.State(0)
    with gr.Row():
        gallery = gr.Gallery(label="Click a test image", columns=8, height=190, allow_preview=False, format="png",
                             interactive=False, object_fit="contain", buttons=[], scale=2)
        run = gr.Button("Encode with the VAE, invert the GAN", variant="primary", scale=1)
    with gr.Row():
        original = picture("Test image", height=150)
        vae_image = picture("VAE: decode(encode(x))", height=150)
        gan_image = picture("GAN: G(z*) after the search", height=150)
    times = gr.Markdown("")

    def on_dataset(name):
        if not name:  # no checkpoints at all: say so instead of raising on page load
            return gr.Dropdown(choices=[], value=None), [], 0, None, None, None, NO_MODELS
        dataset_name = check_dataset(shell, name)
        names = gan_names(shell, dataset_name)
        try:
            data = shell.test_images(dataset_name)
            items = gallery_items(data, gallery_indices(data.labels))
        except gr.Error:
            items = []
        return (gr.Dropdown(choices=names, value=names[0] if names else None), items, 0,
                *mode_collapse(shell, dataset_name))

    curve_outputs = [epoch, epoch_image, epoch_caption, losses, outputs, reading]
    dataset_outputs = [gan, gallery, position, stable_grid, collapsed_grid, collapse_plot, collapse_note]
    dataset.change(on_dataset, dataset, dataset_outputs, api_name="gan_dataset").then(
        lambda g: on_gan(shell, g), gan, curve_outputs, api_visibility="private")

    def on_load(name):
        shown = on_dataset(name)
        names = gan_names(shell, name) if name else []
        return (*shown, *on_gan(shell, names[0] if names else None))

    shell.on_load(on_load, dataset, [*dataset_outputs, *curve_outputs])
    def gan_training(gan_name):
        return on_gan(shell, gan_name)

    def gan_epoch(gan_name, epoch_number):
        return show_epoch(shell, gan_name, epoch_number)

    gan.change(gan_training, gan, curve_outputs, api_name="gan_training")
    epoch.release(gan_epoch, [gan, epoch], [epoch_image, epoch_caption], api_name="gan_epoch")

    def on_gallery(evt: gr.SelectData):
        return evt.index

    gallery.select(on_gallery, None, position, api_visibility="private")

    def on_run(name, pos, progress=gr.Progress()):
        return inversion_demo(shell, name, pos, progress)

    run.click(on_run, [dataset, position], [original, vae_image, gan_image, times], api_name="gan_inversion",
              **HEAVY)
