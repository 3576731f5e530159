"""Tab "How a VAE works": the encoder's mu and sigma, the reparameterization, the ELBO, the latent map.

Views, top to bottom: one image through the VAE (mu, sigma, eps, z = mu + sigma * eps, the
decoding, the ELBO split in two); a worked example with typed numbers; the 2-d VAE's latent map
(decoded grid, test set's codes, click to decode); beta-VAEs side by side when there are some.
"""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from genlab.models.vae import reparameterize
from genlab.service import ACTIVE_KL, ModelService
from genlab.ui.images import grid, picture, to_pil
from genlab.ui.inputs import gallery_indices, gallery_items
from genlab.ui.lessons import NO_MODELS, check_dataset, dataset_and_model_row, models_for
from genlab.ui.uploads import Drawing
from genlab.ui.shell import Shell, dataset_argument, user_error

MAP_CELLS = 15  # the latent map is MAP_CELLS x MAP_CELLS decoded images
MAP_LIMIT = 3.0  # ... covering [-MAP_LIMIT, MAP_LIMIT]^2
MAP_CELL_PIXELS = 56  # each 28-pixel image drawn at 2x
SCATTER_POINTS = 2000  # test images encoded for the scatter
BETA_PREFIX = "-vae-beta-"  # checkpoints named <dataset>-vae-beta-<b> are compared
BETA_EVAL_IMAGES = 500
MAX_TYPED = 1000.0  # typed mu, sigma and eps: a VAE's are a few units; far larger ones only overflow

LESSON_ENCODER = """
**Encoder → distribution → sample → decoder.** The encoder does not give one code for an image
but a Gaussian: a mean **μ** and a spread **σ** per latent dimension. To decode, we draw
**z = μ + σ·ε** with ε from N(0, 1). Writing the draw this way (the *reparameterization trick*)
keeps z a smooth function of μ and σ, so training can push gradients through the sampling.
Resample ε and watch the decoded image wobble: σ says how unsure the encoder is.

The loss is the negative **ELBO** = *reconstruction* (how many nats it costs to describe the
image given z) + *KL* (how far the encoder's Gaussian is from the prior N(0, 1): the price of
the information z carries). Dimensions with σ ≈ 1 and μ ≈ 0 carry nothing: the VAE switched them off.
"""

LESSON_MAP = """
**The latent map.** A VAE with a 2-d latent can be drawn whole. Left: the decoder's picture at
each point of a grid over [−3, 3]². Right: where the encoder puts the test images (their μ),
coloured by class. The KL term packs the codes near the origin and the decoder fills the gaps,
so walking across the map morphs one class into the next. Click the map to decode that point.
"""

LESSON_BETA = """
**β-VAE.** Weighting the KL term by β > 1 buys a tidier, more independent latent space at the
price of blurrier reconstructions; β < 1 does the reverse. Fewer *active* dimensions (KL above
{active_kl:g} nats) means the model squeezed the image into fewer numbers.
""".format(active_kl=ACTIVE_KL)


# --------------------------------------------------------------------------- inputs


def vae_names(shell: Shell, dataset: str) -> list[str]:
    """The VAEs trained on `dataset`, the one the comparison uses first."""
    chosen = models_for(shell, dataset)["vae"]
    names = sorted(shell.store.names("vae", dataset))
    return sorted(names, key=lambda n: (chosen is None or n != chosen.name, n))


def _vae(shell: Shell, name: Any) -> ModelService:
    return shell.model(name, ("vae",))


def parse_numbers(text: Any, label: str, count: int | None = None) -> list[float]:
    """'0.5, -0.2' -> [0.5, -0.2]; a clear error for anything else (or the wrong count)."""
    parts = [p for p in str(text or "").replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise user_error(f"{label}: type numbers separated by commas, like 0.5, -0.2 (got {text!r}).") from None
    if not values:
        raise user_error(f"{label}: type at least one number.")
    if not all(math.isfinite(v) for v in values):
        raise user_error(f"{label}: every number must be finite.")
    if any(abs(v) > MAX_TYPED for v in values):  # z = mu + sigma * eps would overflow; and means nothing
        raise user_error(f"{label}: every number must be between -{MAX_TYPED:g} and {MAX_TYPED:g}.")
    if count is not None and len(values) != count:
        raise user_error(f"{label}: this VAE has a {count}-d latent, so type {count} numbers (got {len(values)}).")
    return values


def pick_test_image(dataset: Any, position: Any, shell: Shell | None = None) -> tuple[np.ndarray, Any, str]:
    """The gallery's `position`-th test image -> (image (C, H, W) as an array, preview, caption), from
    the test images of the dataset's model in `shell`'s store (a folder-trained one carries its own)."""
    data = (shell or Shell(store=None)).test_images(str(dataset))
    indices = gallery_indices(data.labels)
    if not isinstance(position, int) or not 0 <= position < len(indices):
        raise user_error("Click one of the test images.")
    i = indices[position]
    label = int(data.labels[i])
    return data.images[i].numpy(), to_pil(data.images[i], 112), f"Test image #{i} ({data.class_names[label]})."


def use_drawing(shell: Shell, vae_name: Any, drawing: Any) -> tuple[np.ndarray, Any, str]:
    """A Sketchpad drawing prepared like the VAE's training images -> (image array, preview, caption)."""
    from genlab.preprocess import PreprocessError, prepare_image, style_for

    service = _vae(shell, vae_name)
    channels, size, _ = service.image_shape
    if drawing is None:
        raise user_error("Draw something on the canvas first.")
    try:
        image = prepare_image(drawing, image_size=size, channels=channels, style=style_for(service.dataset))
    except PreprocessError as e:
        raise user_error(str(e)) from None
    image = image.reshape(channels, size, size)
    return image.numpy(), to_pil(image, 112), "Your drawing, as the VAE sees it."


# --------------------------------------------------------------------------- one image through the VAE


def mu_sigma_figure(mu: list[float], sigma: list[float], kl: list[float]) -> Figure:
    """Bars of mu (top) and sigma (bottom) per latent dimension; dimensions with KL < ACTIVE_KL in grey."""
    fig = Figure(figsize=(7.5, 3.2), layout="constrained")
    ax_mu, ax_sigma = fig.subplots(2, 1, sharex=True)
    dims = list(range(len(mu)))
    ax_mu.bar(dims, mu, color="tab:blue")
    ax_mu.axhline(0, color="gray", linewidth=0.8)
    ax_mu.set_ylabel("μ")
    ax_sigma.bar(dims, sigma, color="tab:orange")
    ax_sigma.axhline(1, color="gray", linestyle="--", linewidth=0.8, label="σ of the prior")
    ax_sigma.set_ylabel("σ")
    ax_sigma.set_xlabel(f"latent dimension (grey ones carry < {ACTIVE_KL:g} nats: switched off)")
    ax_sigma.set_xticks(dims)
    for d in dims:
        if not ModelService.is_active(kl[d]):  # a switched-off dimension: grey in both charts
            ax_sigma.patches[d].set_color("lightgray")
            ax_mu.patches[d].set_color("lightgray")
    ax_sigma.legend(fontsize=8, loc="upper right")
    return fig


def explain_image(shell: Shell, vae_name: Any, image: Any, eps_seed: Any, eps_text: Any = ""):
    """One image through the VAE -> (mu/sigma chart, table of mu, sigma, eps, z, decoded image, ELBO text).

    eps comes from `eps_text` (comma-separated) when given, else from `eps_seed`.
    """
    service = _vae(shell, vae_name)
    if image is None:
        raise user_error("Pick a test image or draw one first.")
    x = torch.as_tensor(np.asarray(image), dtype=torch.float32)
    if tuple(x.shape) != service.image_shape:
        c, h, w = service.image_shape
        raise user_error(f"{service.name} takes {c}x{h}x{w} images; this one is {tuple(x.shape)}. Pick the image again.")
    d = service.latent_dim
    if str(eps_text or "").strip():
        eps = torch.tensor(parse_numbers(eps_text, "ε", d))
        where = "typed in"
    else:
        seed = shell.seed(eps_seed)
        eps = torch.randn((1, d), generator=torch.Generator().manual_seed(seed))[0]
        where = f"drawn with seed {seed}"
    ex = service.explain(x, eps)
    table = pd.DataFrame({
        "dimension": list(range(d)), "μ": ex.mu.numpy().round(3), "σ": ex.sigma.numpy().round(3),
        "ε": ex.eps.numpy().round(3), "z = μ + σ·ε": ex.z.numpy().round(3), "KL (nats)": ex.kl_per_dim.numpy().round(3),
    })
    active = sum(service.is_active(k) for k in ex.kl_per_dim.tolist())
    text = (f"ε {where}. **−ELBO ≈ {ex.reconstruction + ex.kl:.1f} nats** = reconstruction **{ex.reconstruction:.1f}** "
            f"(−log p(x | z) for this z) + KL **{ex.kl:.1f}** (summed over the {d} dimensions; "
            f"{active} of them carry at least {ACTIVE_KL:g} nats). Lower is better.")
    figure = mu_sigma_figure(ex.mu.tolist(), ex.sigma.tolist(), ex.kl_per_dim.tolist())
    return figure, table, to_pil(ex.decoded, 168), text


def worked_example(shell: Shell, dataset: Any, mu_text: Any, sigma_text: Any, eps_text: Any):
    """z = mu + sigma * eps for typed numbers -> (table, text, decoding by the 2-d VAE or None).

    Computed with `reparameterize` (logvar = 2 log sigma) in float64, shown to 4 decimals:
    mu = [0.5, -0.2], sigma = [0.1, 0.3], eps = [0.5, -1.0] give z = [0.55, -0.5].
    """
    mu = parse_numbers(mu_text, "μ")
    sigma = parse_numbers(sigma_text, "σ", len(mu))
    eps = parse_numbers(eps_text, "ε", len(mu))
    if any(s <= 0 for s in sigma):
        raise user_error("σ: every spread must be positive.")
    mu_t, sigma_t, eps_t = (torch.tensor(v, dtype=torch.float64) for v in (mu, sigma, eps))
    z = reparameterize(mu_t, 2 * torch.log(sigma_t), eps_t)
    shown = [round(float(v), 4) + 0.0 for v in z]  # + 0.0 turns -0.0 into 0.0
    table = pd.DataFrame({"μ": mu, "σ": sigma, "ε": eps, "z = μ + σ·ε": shown})
    steps = ", ".join(f"{m:g} + {s:g}·({e:g}) = {v:g}" for m, s, e, v in zip(mu, sigma, eps, shown))
    text = f"z = [{', '.join(f'{v:g}' for v in shown)}]  ({steps})"
    picture = None
    map_vae = latent_map_vae(shell, dataset) if dataset else None
    if map_vae is not None and len(mu) == 2:
        picture = to_pil(map_vae.decode(z.float()[None])[0], 168)
        text += f"  \nDecoded by {map_vae.name}, the 2-d VAE."
    elif len(mu) == 2:
        text += "  \n(With a 2-d VAE for this dataset the z would be decoded here.)"
    return table, text, picture


# --------------------------------------------------------------------------- the latent map


def latent_map_vae(shell: Shell, dataset: str) -> ModelService | None:
    """The 2-d VAE of `dataset` (preferring <dataset>-vae-2), or None."""
    names = [n for n in shell.store.names("vae", dataset) if shell.store.services[n].latent_dim == 2]
    names.sort(key=lambda n: (n != f"{dataset}-vae-2", BETA_PREFIX in n, n))
    return shell.store.services[names[0]] if names else None


def map_latents() -> torch.Tensor:
    """The grid's latents (MAP_CELLS^2, 2), row-major from the top-left: z1 grows right, z2 grows up."""
    xs = torch.linspace(-MAP_LIMIT, MAP_LIMIT, MAP_CELLS)
    ys = torch.linspace(MAP_LIMIT, -MAP_LIMIT, MAP_CELLS)
    zy, zx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([zx.flatten(), zy.flatten()], dim=1)


def pixel_to_latent(x: float, y: float) -> tuple[float, float]:
    """A pixel (x right, y down) of the map picture -> the latent (z1, z2) under it.

    Each cell's centre pixel maps exactly to the latent that cell shows; in between, linearly.
    """
    step = 2 * MAP_LIMIT / (MAP_CELLS - 1)
    z1 = -MAP_LIMIT + (x / MAP_CELL_PIXELS - 0.5) * step
    z2 = MAP_LIMIT - (y / MAP_CELL_PIXELS - 0.5) * step
    return z1, z2


def encoded_test_set(service: ModelService) -> pd.DataFrame:
    """The test images' means under a 2-d VAE: columns z1, z2, class (the service's test codes)."""
    mu, labels = service.test_codes()
    names = service.class_names or []
    classes = [names[int(k)] if int(k) < len(names) else str(int(k)) for k in labels]
    return pd.DataFrame({"z1": mu[:, 0].numpy(), "z2": mu[:, 1].numpy(), "class": classes})


def _scatter(shell: Shell, service: ModelService) -> pd.DataFrame:
    try:
        return shell.serve(encoded_test_set, service)
    except gr.Error:
        return pd.DataFrame(columns=["z1", "z2", "class"])


def latent_map(shell: Shell, dataset: Any) -> tuple[Any, pd.DataFrame, str]:
    """(decoded grid over [-3, 3]^2, scatter of the test set's codes, note) for the 2-d VAE."""
    dataset = check_dataset(shell, dataset)
    vae = latent_map_vae(shell, dataset)
    if vae is None:
        return None, pd.DataFrame(columns=["z1", "z2", "class"]), (
            f"There is no 2-d VAE for {dataset} yet: train one with `python train/vae.py --dataset {dataset_argument(dataset)} "
            f"--latent-dim 2` (it writes checkpoints/{dataset}-vae-2), then press ↻ Refresh models.")
    picture = grid(vae.decode(map_latents()), ncol=MAP_CELLS, cell=MAP_CELL_PIXELS, pad=0)
    return picture, _scatter(shell, vae), f"{vae.name}: click anywhere on the map."


def decode_at_pixel(shell: Shell, dataset: Any, x: Any, y: Any) -> tuple[Any, str, pd.DataFrame]:
    """Decode the latent under pixel (x, y) of the map -> (image, text, scatter with that point marked)."""
    dataset = check_dataset(shell, dataset)
    vae = latent_map_vae(shell, dataset)
    if vae is None:
        raise user_error(f"There is no 2-d VAE for {dataset} to decode with.")
    size = MAP_CELLS * MAP_CELL_PIXELS
    x = shell.number(x, "x", 0, size)
    y = shell.number(y, "y", 0, size)
    z1, z2 = pixel_to_latent(x, y)
    image = vae.decode(torch.tensor([[z1, z2]]))[0]
    marked = pd.concat([_scatter(shell, vae), pd.DataFrame({"z1": [z1], "z2": [z2], "class": ["← you clicked"]})],
                       ignore_index=True)
    return to_pil(image, 168), f"z = ({z1:.2f}, {z2:.2f})", marked


# --------------------------------------------------------------------------- beta-VAEs


def beta_models(shell: Shell, dataset: str) -> list[ModelService]:
    """Checkpoints named <dataset>-vae-beta-<b>, by beta."""
    found = [m for n, m in shell.store.services.items()
             if m.kind == "vae" and n.split("/")[-1].startswith(f"{dataset}{BETA_PREFIX}")]
    return sorted(found, key=lambda m: (m.beta, m.name))


def beta_comparison(shell: Shell, dataset: Any) -> tuple[Any, pd.DataFrame, str]:
    """(originals over reconstructions, one row per beta; numbers per model; note)."""
    dataset = check_dataset(shell, dataset)
    betas = beta_models(shell, dataset)
    columns = ["model", "β", "latent dims", "reconstruction (nats)", "KL (nats)", "active dims"]
    if not betas:
        return None, pd.DataFrame(columns=columns), (
            f"No β-VAEs for {dataset} yet. Train some, e.g. `python train/vae.py --dataset {dataset_argument(dataset)} --beta 4 "
            f"--out checkpoints/{dataset}{BETA_PREFIX}4` (and `--beta 0.5`), then press ↻ Refresh models.")
    reference = models_for(shell, dataset)["vae"]
    if reference is not None and all(m.name != reference.name for m in betas):
        betas = sorted([*betas, reference], key=lambda m: (m.beta, m.name))
    x = shell.test_images(betas[0]).images[:BETA_EVAL_IMAGES]
    rows, pictures = [], [x[:8]]
    for m in betas:
        recon, recon_nats, kl_dims = m.reconstruction_terms(x)
        rows.append([m.name, m.beta, m.latent_dim, round(recon_nats, 1), round(float(kl_dims.sum()), 1),
                     sum(m.is_active(k) for k in kl_dims.tolist())])
        pictures.append(recon[:8])
    picture = grid(torch.cat(pictures), ncol=8, cell=56)
    note = ("Top row: test images. Below, one row per model in the table's order: its reconstruction "
            f"from the mean code. Numbers are averages over {len(x)} test images.")
    return picture, pd.DataFrame(rows, columns=columns), note


# --------------------------------------------------------------------------- layout


def build(shell: Shell) -> None:
    dataset, vae = dataset_and_model_row(shell, "vae")
    gr.Markdown(LESSON_ENCODER)
    image_state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=1):
            gallery = gr.Gallery(label="Click a test image", columns=8, height=190, allow_preview=False,
                                 format="png", interactive=False, object_fit="contain", buttons=[])
            with gr.Accordion("…or draw one", open=False):
                drawing = Drawing(label="Draw (white background, dark strokes)", canvas_size=(280, 280), height=330,
                                  layers=False, format="png",
                                  brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=14))
                use_drawing_button = gr.Button("Use my drawing")
            with gr.Row():
                preview = picture("Input", height=150)
                decoded = picture("Decoded from z", height=150)
            caption = gr.Markdown("")
            with gr.Row():
                eps_seed = gr.Number(0, label="Seed of ε", precision=0, minimum=0)
                resample = gr.Button("Resample ε")
            eps_text = gr.Textbox(label="…or type ε (comma-separated, Enter to apply)", placeholder="0.5, -1.0, …")
        with gr.Column(scale=2):
            mu_sigma = gr.Plot(label="The encoder's Gaussian: μ and σ per dimension", format="png")
            elbo = gr.Markdown("")
            z_table = gr.Dataframe(label="z = μ + σ·ε", interactive=False, max_height=260)

    with gr.Accordion("Worked example: type μ, σ and ε", open=False):
        gr.Markdown("Type the numbers for a few dimensions; z is computed with the same function the VAE uses. "
                    "Two dimensions are decoded by the 2-d VAE.")
        with gr.Row():
            mu_text = gr.Textbox("0.5, -0.2", label="μ")
            sigma_text = gr.Textbox("0.1, 0.3", label="σ")
            worked_eps = gr.Textbox("0.5, -1.0", label="ε")
            compute = gr.Button("Compute z", variant="primary")
        with gr.Row():
            worked_table = gr.Dataframe(interactive=False, scale=2)
            worked_image = picture("Decoded", height=150, scale=1)
        worked_text = gr.Markdown("")

    gr.Markdown("### The latent map of a 2-d VAE")
    gr.Markdown(LESSON_MAP)
    with gr.Row():
        map_image = picture("Decoded grid over [−3, 3]² (click it)", height=420)
        scatter = gr.ScatterPlot(x="z1", y="z2", color="class", label="Test images' codes (μ)", height=420,
                                 x_lim=[-4, 4], y_lim=[-4, 4])
    with gr.Row():
        clicked = picture("Decoded at your click", height=150)
        map_note = gr.Markdown("")

    gr.Markdown("### β: how much the KL term weighs")
    gr.Markdown(LESSON_BETA)
    beta_picture = picture("Reconstructions")
    beta_table = gr.Dataframe(interactive=False)
    beta_note = gr.Markdown("")

    # -- events
    explain_inputs = [vae, image_state, eps_seed, eps_text]
    explain_outputs = [mu_sigma, z_table, decoded, elbo]

    def explain(vae_name, image, seed, typed):
        if not vae_name or image is None:  # nothing to show yet (no VAE for the dataset, no test images)
            return None, pd.DataFrame(), None, ""
        return explain_image(shell, vae_name, image, seed, typed)

    def on_dataset(name):
        if not name:  # no checkpoints at all: say so instead of raising on page load
            empty = pd.DataFrame()
            return (gr.Dropdown(choices=[], value=None), [], None, None, NO_MODELS, None, empty, "", None, empty, "")
        dataset_name = check_dataset(shell, name)
        names = vae_names(shell, dataset_name)
        try:
            data = shell.test_images(dataset_name)
            items = gallery_items(data, gallery_indices(data.labels))
            image, picture, text = pick_test_image(dataset_name, 0, shell)
        except gr.Error as e:
            items, image, picture, text = [], None, None, e.message
        return (gr.Dropdown(choices=names, value=names[0] if names else None), items, image, picture, text,
                *latent_map(shell, dataset_name), *beta_comparison(shell, dataset_name))

    dataset_outputs = [vae, gallery, image_state, preview, caption, map_image, scatter, map_note, beta_picture,
                       beta_table, beta_note]
    dataset.change(on_dataset, dataset, dataset_outputs, api_name="vae_dataset").then(
        explain, explain_inputs, explain_outputs, api_visibility="private")

    def on_load(name, eps_seed_value, typed):
        shown = on_dataset(name)
        names = vae_names(shell, name) if name else []
        return (*shown, *explain(names[0] if names else None, shown[2], eps_seed_value, typed))

    shell.on_load(on_load, [dataset, eps_seed, eps_text], [*dataset_outputs, *explain_outputs])

    def on_gallery(name, evt: gr.SelectData):
        return pick_test_image(name, evt.index, shell)

    gallery.select(on_gallery, dataset, [image_state, preview, caption], api_visibility="private").then(
        explain, explain_inputs, explain_outputs, api_visibility="private")
    def use_drawing_event(vae_name, drawing_value):
        return use_drawing(shell, vae_name, drawing_value)

    def worked_example_event(dataset_name, mu, sigma, eps):
        return worked_example(shell, dataset_name, mu, sigma, eps)

    use_drawing_button.click(use_drawing_event, [vae, drawing], [image_state, preview, caption],
                             api_name="vae_use_drawing").then(explain, explain_inputs, explain_outputs,
                                                              api_visibility="private")
    gr.on([vae.change, eps_seed.change, eps_text.submit], explain, explain_inputs, explain_outputs,
          api_name="vae_explain", trigger_mode="always_last")
    resample.click(lambda s: (int(s or 0) + 1, ""), eps_seed, [eps_seed, eps_text], api_visibility="private")
    compute.click(worked_example_event, [dataset, mu_text, sigma_text, worked_eps],
                  [worked_table, worked_text, worked_image], api_name="vae_worked_example")

    def on_map_click(name, evt: gr.SelectData):
        x, y = evt.index
        return decode_at_pixel(shell, name, x, y)

    map_image.select(on_map_click, dataset, [clicked, map_note, scatter], api_visibility="private")
