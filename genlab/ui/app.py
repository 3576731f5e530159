"""Build the Gradio app: the shell (model picker, seed) above one tab per module."""

from __future__ import annotations

import logging
import signal
from typing import Any

import gradio as gr
from PIL import Image

from genlab.preprocess import MAX_PIXELS
from genlab.ui import (attributes, first_view, inpaint, interpolate, lesson_compare, lesson_diffusion, lesson_gan,
                       lesson_vae, links, playground, programmatic, sample, sliders)
from genlab.ui.gradio_overrides import GuardedBlocks
from genlab.ui.shell import Shell
from genlab.store import ModelStore

log = logging.getLogger(__name__)

TITLE = "Genlab: what did the VAE and the GAN learn?"
INTRO = (
    "Explore the latent spaces of a variational autoencoder (VAE) and a generative adversarial "
    "network (GAN) trained on MNIST digits and Fashion-MNIST clothes. Pick a model, then sample."
)
# (title, module with `build(shell)`) of every tab, in the order the page shows them.
TABS = [
    ("Sample", sample),
    ("Latent sliders", sliders),
    ("Interpolate", interpolate),
    ("Edit attributes", attributes),
    ("Inpainting", inpaint),
    ("VAE vs GAN", lesson_compare),
    ("How a VAE works", lesson_vae),
    ("How a GAN trains", lesson_gan),
    ("How diffusion works", lesson_diffusion),
    ("Playground", playground),
]
CSS = """
.genlab-pixelated img, .genlab-pixelated canvas { image-rendering: pixelated; }
#genlab-tradeoffs td, #genlab-tradeoffs th, #genlab-tradeoffs td * { white-space: normal !important; overflow-wrap: anywhere; }
"""


def build_app(store: ModelStore) -> gr.Blocks:
    """The whole app for the checkpoints in `store`; launch it with `launch_kwargs()` and
    `max_file_size=genlab.ui.uploads.MAX_FILE_SIZE`."""
    # PIL refuses images of over twice this anywhere in the process; our inputs refuse more than it
    # from the header (genlab.preprocess.open_image), before decoding.
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    with GuardedBlocks(title="Genlab") as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        shell = Shell(store, first_views=first_view.FirstViews.read(store.root))
        choices = shell.model_choices()
        names = [n for _, n in choices]
        with gr.Row():
            shell.model_picker = gr.Dropdown(
                choices, value=_default_model(names, shell.first_views.model_name), label="Model",
                scale=3, allow_custom_value=True,  # so an unknown name gets our own clear message
            )
            shell.seed_box = gr.Number(shell.first_views.seed, label="Seed", precision=0, minimum=0, scale=1)
            refresh = gr.Button("↻ Refresh models", scale=0)
            copy_link = gr.Button("🔗 Copy link", scale=0, elem_id="genlab-copy-link")
        status = gr.Markdown(_problems_text(store.problems))
        link_note = gr.Markdown("", elem_id="genlab-link-note")
        with gr.Tabs(elem_id="genlab-tabs"):
            for title, module in TABS:
                with gr.Tab(title):
                    module.build(shell)

        def refresh_models(current):
            problems = store.refresh()
            new_choices = shell.model_choices()
            names = [n for _, n in new_choices]
            value = current if current in names else (names[0] if names else None)
            return gr.Dropdown(choices=new_choices, value=value), _problems_text(problems)

        refresh.click(refresh_models, shell.model_picker, [shell.model_picker, status], api_name="refresh_models")
        programmatic.build(shell)  # the API for programs: /interpolate, /edit_attribute, /inpaint, /compare
        # Links: the view's state in the URL's query. Both run in the browser alone (no queued event):
        # a page open stays free, and a link's model then loads through the picker's own change event.
        copy_link.click(None, [shell.model_picker, shell.seed_box], link_note, js=links.copy_js())
        demo.load(None, [shell.model_picker, shell.seed_box], [shell.model_picker, shell.seed_box, link_note],
                  js=links.restore_js(names, [title for title, _ in TABS]))
        for fn, inputs, outputs in shell._model_change:
            shell.model_picker.change(fn, inputs, outputs, api_visibility="private")
    # What a first visit shows is the same for everyone: computed once here, it reaches each page in
    # the page's config instead of as ~20 queued events per page open. Outside the Blocks' context:
    # an update a handler returns (gr.Dropdown(choices=...)) would otherwise be drawn on the page.
    problems = first_view.bake([*shell._model_change, *shell._load])
    if problems:
        log.warning("first views left empty: %s", "; ".join(problems))
    return demo


def _default_model(names: list[str], curated: str | None = None) -> str | None:
    """The model a first visit opens with: the curated one, else the MNIST VAE when it is there."""
    for preferred in (curated, "mnist-vae-16", "mnist-gan-32"):
        if preferred in names:
            return preferred
    return names[0] if names else None


def _problems_text(problems: list[str]) -> str:
    if not problems:
        return ""
    return "⚠️ " + "  \n⚠️ ".join(problems)


def launch_kwargs() -> dict:
    """Arguments for `demo.launch` that belong to the look (Gradio 6 takes them there)."""
    return {"css": CSS, "theme": gr.themes.Soft()}


def stop_on_sigterm(demo: gr.Blocks) -> None:
    """End the server cleanly on SIGTERM (docker stop, a Space restart), as on Ctrl+C: the server
    closes, then Python exits normally, so its exit hooks remove the files it wrote (Gradio's file
    cache, genlab.ui.file_cache; the interpolation GIFs). Call from the main thread, before launch."""

    def stop(signum: int, frame: Any) -> None:
        log.info("SIGTERM: closing the server")
        demo.close()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
