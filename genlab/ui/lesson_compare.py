"""Tab "VAE vs GAN": the two models side by side, and a table of what each one trades away.

The numbers come from `<checkpoints>/<dataset>-comparison.json`, written by
`python train/evaluate.py --dataset <dataset>`; "Recompute" reruns the measurements in the app
(for this page only; the file on disk is left as it is). "Measure the three" puts the dataset's
diffusion model beside them, every family asked the same questions on a small sample on the spot
(`genlab.tradeoffs`). What the lesson tabs share (the dataset row, the models of a dataset, charts)
is in `genlab.ui.lessons`.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd
import torch
from matplotlib.figure import Figure

from genlab import metrics, tradeoffs
from genlab.checkpoints import read_history
from genlab.inpainting import INPAINTING_COLUMNS, inpainting_rows, read_inpainting
from genlab.ui.images import grid, picture
from genlab.ui.lessons import (NO_MODELS, check_dataset, class_bars, dataset_choices, default_dataset, history_frame,
                               missing_sentence, models_for)
from genlab.ui.shell import Shell, dataset_argument, user_error

__all__ = ["NO_MODELS", "check_dataset", "class_bars", "dataset_choices", "default_dataset", "history_frame",
           "missing_sentence", "models_for"]  # the lesson helpers, kept importable from here too

NUM_SHOWN = 32  # samples shown per model

LESSON = """
**Two ways to learn to draw.** A **VAE** learns an *encoder* (image → latent) and a *decoder*
(latent → image) by maximizing a bound on the likelihood of the data, the ELBO. Every training
image must be explained, so it covers all classes, but it hedges: its pictures are averages of
what could be there, and look blurry. A **GAN** has only a generator, trained to fool a
discriminator. It is never asked to explain every image, only to make convincing ones: its
pictures are sharp, but it may drop classes (mode collapse), it has no likelihood, and to find
the latent of a given image you must search for it (inversion). The table measures each of
these trade-offs on the same test set.
"""

TABLE_HELP = """
*How to read it.* Sharpness: the variance of the Laplacian, an edge detector. Latent smoothness:
how much the classifier's view of an image changes per small step along a straight line between
two random latents (perceptual path length). Stability: how much the second half of the loss
curve jumps from epoch to epoch. Realism: the Fréchet distance between the classifier's
features of samples and of real images; two halves of the real test set give the floor.
Precision: the share of samples that look like some real image; recall: the share of real
images that some sample looks like.
"""


# --------------------------------------------------------------------------- this tab's views


def samples_side_by_side(shell: Shell, dataset: Any, seed: Any) -> tuple[Any, Any, Any, str]:
    """(VAE samples, GAN samples, real test images, note): NUM_SHOWN of each, from `seed`."""
    dataset = check_dataset(shell, dataset)
    seed = shell.seed(seed)
    models = models_for(shell, dataset)
    notes, pictures = [], []
    for kind in ("vae", "gan"):
        service = models[kind]
        if service is None:
            pictures.append(None)
            notes.append(missing_sentence(kind, dataset))
            continue
        pictures.append(grid(service.sample(NUM_SHOWN, seed), ncol=8, cell=56))
    real = None
    shown = next((m for m in models.values() if m is not None), None)
    try:
        data = shell.test_images(shown if shown is not None else dataset)
        g = torch.Generator().manual_seed(seed)
        real = grid(data.images[torch.randperm(len(data), generator=g)[:NUM_SHOWN]], ncol=8, cell=56)
    except gr.Error as e:
        notes.append(e.message)
    return pictures[0], pictures[1], real, "  \n".join(notes)


def loss_curves(shell: Shell, dataset: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The VAE's -ELBO per epoch (train and test) and the GAN's two losses, from history.json."""
    models = models_for(shell, check_dataset(shell, dataset))
    vae_hist = read_history(models["vae"].path) if models["vae"] else []
    gan_hist = read_history(models["gan"].path) if models["gan"] else []
    return (history_frame(vae_hist, {"loss": "train -ELBO", "test_negative_elbo": "test -ELBO"}),
            history_frame(gan_hist, {"loss_d": "discriminator", "loss_g": "generator"}))


def comparison_views(result: dict[str, Any] | None) -> tuple[pd.DataFrame, Figure | None]:
    """(the trade-off table, the class histograms) of a comparison result."""
    if result is None:
        return pd.DataFrame(columns=metrics.TABLE_COLUMNS), None
    table = pd.DataFrame(metrics.comparison_rows(result), columns=metrics.TABLE_COLUMNS)
    cd = result["metrics"]["class_distribution"]
    if not cd:  # measured without a classifier: no classes to count
        return table, None
    histograms = {"VAE": cd["vae"]["histogram"], "GAN": cd["gan"]["histogram"], "real data": cd["real"]["histogram"]}
    fig = class_bars(histograms, result.get("class_names", []),
                     "What the classifier says the samples are")
    return table, fig


def _about(result: dict[str, Any], source: str) -> str:
    names = result.get("models", {})
    judge = (f"measured by {names['classifier']}" if names.get("classifier") else
             f"measured without a classifier (train one with `python train/classifier.py --dataset "
             f"{dataset_argument(str(result.get('dataset', '')))}` for the rows that need it)")
    return (f"{source}: {names.get('vae')} vs {names.get('gan')}, {judge} on "
            f"{result.get('num_samples')} samples each and {result.get('real_images')} test images "
            f"(seed {result.get('seed')}, {result.get('seconds', 0):.0f} s, {result.get('created', '')}).")


def stored_comparison(shell: Shell, dataset: Any) -> tuple[pd.DataFrame, Figure | None, str]:
    """The comparison that train/evaluate.py stored for `dataset`: (table, histograms, note)."""
    dataset = check_dataset(shell, dataset)
    result = metrics.read_comparison(shell.store.root, dataset)
    if result is None:
        note = f"No stored comparison for {dataset} yet. Press **Recompute** (about a minute)" + (
            f", or run `python train/evaluate.py --dataset {dataset}` to store one for everyone."
            if dataset_argument(dataset) == dataset else ".")
        return *comparison_views(None), note
    models = models_for(shell, dataset)
    stale = [f"{kind} {result['models'].get(kind)} is no longer there" for kind in ("vae", "gan", "classifier")
             if (models[kind] is None or models[kind].name != result["models"].get(kind))
             and (models[kind], result["models"].get(kind)) != (None, None)]
    note = _about(result, f"Stored in {metrics.comparison_path(shell.store.root, dataset).name}")
    if stale:
        note += " ⚠️ It may be out of date (" + "; ".join(stale) + "): press Recompute."
    return *comparison_views(result), note


def recompute(shell: Shell, dataset: Any, progress: Any = None) -> tuple[pd.DataFrame, Figure | None, str]:
    """Rerun `metrics.compare_models` on the dataset's models: (table, histograms, note)."""
    dataset = check_dataset(shell, dataset)
    models = models_for(shell, dataset)
    missing = [missing_sentence(kind, dataset) for kind in ("vae", "gan") if models[kind] is None]
    if missing:
        raise user_error("Cannot compare yet. " + " ".join(missing))
    classifier = models["classifier"]  # without one, the rows that need its features say so
    data = shell.test_images(classifier if classifier is not None else models["vae"])
    try:
        result = metrics.compare_models(models["vae"].checkpoint, models["gan"].checkpoint,
                                        classifier.checkpoint if classifier is not None else None, data,
                                        progress=progress)
    except ValueError as e:
        raise user_error(f"The comparison failed: {e}") from None
    return *comparison_views(result), _about(result, "Recomputed just now (not saved)")


THREE = (("vae", "VAE"), ("gan", "GAN"), ("diffusion", "Diffusion"))
THREE_WAY_COLUMNS = [*tradeoffs.COLUMNS_BEFORE, *[title for _, title in THREE], "Real data"]
THREE_WAY_HELP = (
    "The dataset's VAE, GAN and pixel diffusion model, each asked the same questions on a small sample, on "
    "this server now: how sharp their samples are, which classes they cover, whether they give a likelihood, "
    "how an image reaches their latent (the VAE's encoder in one pass, the GAN's search, the diffusion "
    "model's sampler run backwards), how steady their training was, and what a sample costs: one network "
    "pass for the VAE and the GAN against 2N − 1 for N steps of the diffusion model's sampler.")


def measure_three(shell: Shell, dataset: Any, seed: Any, progress: Any = None) -> tuple[pd.DataFrame, str]:
    """The `compare_three_way` endpoint: (the three-way table, a note), measured now (`genlab.tradeoffs`)."""
    dataset = check_dataset(shell, dataset)
    seed = shell.seed(seed)
    models = models_for(shell, dataset)
    services = {title: models.get(kind) for kind, title in THREE}
    if all(s is None for s in services.values()):
        raise user_error(f"There is no VAE, GAN or diffusion model for {dataset} yet.")
    shown = next(s for s in services.values() if s is not None)
    data = shell.test_images(shown)
    report = (lambda fraction, desc: progress(fraction, desc=desc)) if progress is not None else None
    result = shell.serve(tradeoffs.measure, services, models.get("classifier"), data, seed, progress=report)
    table = pd.DataFrame(tradeoffs.rows(result, [title for _, title in THREE]), columns=THREE_WAY_COLUMNS)
    names = ", ".join(f"{title} {s.name}" for title, s in services.items() if s is not None)
    missing = [f"there is no {title.lower() if title == 'Diffusion' else title} model for {dataset}"
               for title, s in services.items() if s is None]
    note = (f"Measured just now on this server ({names}; seed {seed}, {result['samples']} samples each, "
            f"{result['encoder_images']} test images through the encoder or inversion)."
            + (" " + "; ".join(missing).capitalize() + "." if missing else ""))
    return table, note


def stored_inpainting(shell: Shell, dataset: Any) -> str:
    """The inpainting benchmark bench/inpainting.py stored for `dataset`, as Markdown (a table and its verdict)."""
    if not dataset:
        return ""
    dataset = check_dataset(shell, dataset)
    result = read_inpainting(shell.store.root, dataset)
    if result is None:
        if dataset_argument(dataset) != dataset:  # a folder's models: the benchmark reads built-in datasets
            return (f"No inpainting measurement for {dataset}: the **Inpainting** tab fills its held-out "
                    "pictures and your own images, VAE and GAN side by side.")
        return (f"No inpainting measurement for {dataset} yet: `python bench/inpainting.py --datasets {dataset}` "
                "stores one. The **Inpainting** tab fills your own images.")
    table = ("| " + " | ".join(INPAINTING_COLUMNS) + " |\n|---|--:|--:|--:|\n"
             + "".join("| " + " | ".join(row) + " |\n" for row in inpainting_rows(result)))
    claim = result.get("claim", {}).get("verdict", "")
    return (f"{result.get('images')} test images with the {result.get('mask', 'bottom half')} hidden, one fill each "
            f"({result.get('steps')} steps; {result.get('created', '')}). Mean ± standard error.\n\n{table}\n"
            f"*VAE fills smoother, GAN fills sharper?* {claim}  \nTry it on your own images in the **Inpainting** tab.")


# --------------------------------------------------------------------------- layout


def build(shell: Shell) -> None:
    datasets = dataset_choices(shell)
    with gr.Row():
        dataset = gr.Dropdown(datasets, value=default_dataset(datasets), label="Dataset", scale=2)
        seed = gr.Number(0, label="Seed of the samples", precision=0, minimum=0, scale=1)
    gr.Markdown(LESSON)
    with gr.Row():
        vae_samples = picture("VAE samples")
        gan_samples = picture("GAN samples")
        real_samples = picture("Real test images")
    samples_note = gr.Markdown("")

    gr.Markdown("### The trade-offs, measured")
    # Fixed shares of the page's width, and text that wraps: every column fits at 1400 px and below.
    table = gr.Dataframe(headers=metrics.TABLE_COLUMNS, interactive=False, wrap=True, line_breaks=True,
                         column_widths=["13%", "27%", "21%", "21%", "18%"], label="VAE vs GAN vs real data",
                         elem_id="genlab-tradeoffs")
    with gr.Row():
        recompute_button = gr.Button("Recompute", variant="secondary", scale=0)
        table_note = gr.Markdown("")
    gr.Markdown(TABLE_HELP)
    histograms = gr.Plot(label="Class histograms", format="png")
    gr.Markdown("*Mode collapse* shows as bars far from the dashed line: classes the model makes too "
                "often, or never.")

    gr.Markdown("### Three families, measured here: VAE, GAN and diffusion")
    gr.Markdown(THREE_WAY_HELP)
    with gr.Row():
        three_way_button = gr.Button("Measure the three", variant="secondary", scale=0,
                                     elem_id="genlab-three-way-button")
        three_way_note = gr.Markdown("")
    three_way = gr.Dataframe(headers=THREE_WAY_COLUMNS, interactive=False, wrap=True, line_breaks=True,
                             label="VAE vs GAN vs diffusion vs real data", elem_id="genlab-three-way")

    gr.Markdown("### Inpainting: the bottom half hidden")
    inpainting = gr.Markdown("")

    gr.Markdown("### Training curves")
    with gr.Row():
        vae_curve = gr.LinePlot(x="epoch", y="value", color="curve", label="VAE: -ELBO (nats/image)",
                                x_title="epoch", y_title="nats per image", height=260)
        gan_curve = gr.LinePlot(x="epoch", y="value", color="curve", label="GAN: losses",
                                x_title="epoch", y_title="loss", height=260)
    gr.Markdown("The VAE's loss falls smoothly: it minimizes one fixed objective. The GAN's two losses "
                "pull against each other, so they wobble and need not fall at all while the samples improve.")

    def on_dataset(name, seed_value):
        if not name:  # no checkpoints at all: say so instead of raising on page load
            empty = pd.DataFrame(columns=["epoch", "value", "curve"])
            return (None, None, None, NO_MODELS, pd.DataFrame(columns=metrics.TABLE_COLUMNS), None, "",
                    empty, empty)
        return (*samples_side_by_side(shell, name, seed_value), *stored_comparison(shell, name),
                *loss_curves(shell, name))

    outputs = [vae_samples, gan_samples, real_samples, samples_note, table, histograms, table_note,
               vae_curve, gan_curve]
    dataset.change(on_dataset, [dataset, seed], outputs, api_name="compare_dataset")
    shell.on_load(on_dataset, [dataset, seed], outputs)
    def compare_samples(dataset_name, seed_value):
        return samples_side_by_side(shell, dataset_name, seed_value)

    seed.submit(compare_samples, [dataset, seed],
                [vae_samples, gan_samples, real_samples, samples_note], api_name="compare_samples")

    def inpainting_event(dataset_name):
        return stored_inpainting(shell, dataset_name)

    dataset.change(inpainting_event, dataset, inpainting, api_name="compare_inpainting")
    shell.on_load(inpainting_event, [dataset], inpainting)

    def on_three_way(name, seed_value, progress=gr.Progress()):
        return measure_three(shell, name, seed_value, progress)

    three_way_button.click(on_three_way, [dataset, seed], [three_way, three_way_note], api_name="compare_three_way",
                           concurrency_limit=1)

    def on_recompute(name, progress=gr.Progress()):
        return recompute(shell, name, progress)

    recompute_button.click(on_recompute, dataset, [table, histograms, table_note], api_name="compare_recompute",
                           concurrency_limit=1)
