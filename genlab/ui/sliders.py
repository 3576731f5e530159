"""Tab "Latent sliders": one slider per latent dimension, and the image follows as you drag.

The image is decoded in the browser: the model's decoder is exported once per model
(`genlab.webdecoder`, fetched by the page through `web_decoder`) and run by a small JavaScript
module (static/decoder.js) on every slider move, so the picture changes within a frame without a
round trip. When a slider is released the latent goes back to the server, which keeps it in the
session's gr.State and decodes it too, so the server image and the HTTP API (`decode`) agree.

VAE sliders are ordered by each dimension's average KL to the prior on the test set (active
dimensions first); GAN sliders add GANSpace principal directions next to the raw dimensions. Both
come from the model's service (genlab.service), which ships the directions with the checkpoint.
A latent diffusion prior's sliders are its VAE's (its samples start from the prior's draws). A
model without sliders (`service.sliders` False: a pixel diffusion model, whose latent is 784-d
noise) gets one sentence saying what it offers instead, in the panel and under the buttons.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import gradio as gr
import torch

from genlab.service import INVERSION_STEPS, ModelService
from genlab.ui import inputs
from genlab.ui.images import to_pil
from genlab.ui.uploads import ImageUpload
from genlab.ui.shell import HEAVY, MAX_SEED, Shell, user_error
from genlab.webdecoder import WebDecoderError

STATIC = Path(__file__).resolve().parent / "static"
DECODER_JS = (STATIC / "decoder.js").read_text()
KERNEL_WASM = STATIC / "decoder_kernel.wasm"  # fetched by decoder.js; the one file served from static/
PANEL_JS = (STATIC / "sliders_panel.js").read_text()

MAX_ABS_LATENT = 50.0  # larger entries are refused: far outside anything the models were trained on
SLIDER_RANGE = 4.0  # sliders span [-4, 4] (further when the latent already lies beyond)

PANEL_TEMPLATE = """
<div class="gl-panel">
  <div class="gl-view">
    <canvas class="gl-canvas" width="28" height="28" aria-label="decoded image"></canvas>
    <div class="gl-status">Pick a model.</div>
  </div>
  <div class="gl-lists"><div class="gl-directions" hidden></div><div class="gl-dims"></div></div>
</div>
"""
PANEL_CSS = """
.gl-panel { display: flex; gap: 18px; flex-wrap: wrap; align-items: flex-start; }
.gl-view { flex: 0 0 auto; width: 224px; }
.gl-canvas { width: 224px; height: 224px; image-rendering: pixelated; background: #000; border-radius: 6px; }
.gl-status { font-size: 12px; opacity: 0.7; min-height: 2.6em; }
.gl-lists { flex: 1 1 420px; display: flex; gap: 18px; flex-wrap: wrap; }
.gl-lists > div { flex: 1 1 320px; }
.gl-group-title { font-weight: 600; margin: 2px 0 4px; }
.gl-row { display: grid; grid-template-columns: 4.5em 1fr 3.2em 7.5em; gap: 6px; align-items: center;
          font-size: 13px; padding: 1px 0; }
/* contain: a slider's thumb and its number change on every move; their boxes keep their size */
.gl-row input { width: 100%; margin: 0; height: 18px; contain: strict; }
.gl-value { font-variant-numeric: tabular-nums; text-align: right; height: 1.5em; line-height: 1.5em; contain: strict; }
.gl-note { opacity: 0.65; font-size: 12px; white-space: nowrap; }
.gl-inactive { opacity: 0.55; }
"""

# -- what the page fetches -----------------------------------------------------------------------------

def decoder_head() -> str:
    """The panel's <head> scripts: the URL of the WebAssembly kernel (a static file, served by Gradio
    at gradio_api/file=..., its content hash in the query so that a browser never keeps an old one),
    then decoder.js, which fetches it."""
    from gradio.data_classes import _StaticFiles

    if KERNEL_WASM.resolve() not in _StaticFiles.all_paths:  # once per process, however many apps are built
        gr.set_static_paths([KERNEL_WASM])
    digest = hashlib.sha256(KERNEL_WASM.read_bytes()).hexdigest()[:16]
    url = f"gradio_api/file={quote(KERNEL_WASM.resolve().as_posix())}?v={digest}"
    return f"<script>window.GENLAB_DECODER_KERNEL_URL = {json.dumps(url)};</script><script>{DECODER_JS}</script>"


def web_decoder_json(service: ModelService) -> dict:
    """The export of the model's decoder for static/decoder.js (computed once by the service)."""
    try:
        return service.web_export()
    except WebDecoderError as e:
        raise user_error(f"{service.name} cannot be decoded in the browser: {e}") from None


def direction_rows(service: ModelService, z: torch.Tensor) -> list[dict]:
    """Slider rows for a GAN's GANSpace directions at latent z (1, D) ([] for other models)."""
    vectors, variances = service.ganspace()
    coords = (vectors @ z[0]).tolist()
    r = _range(coords)
    return [{"label": f"PC{j + 1}", "note": f"variance {var:.3g}", "vector": [round(float(x), 7) for x in v],
             "min": -r, "max": r} for j, (v, var) in enumerate(zip(vectors, variances.tolist()))]


# -- checks ------------------------------------------------------------------------------------------

def check_latent(service: ModelService, values: Any) -> torch.Tensor:
    """A latent from the browser or an API caller (list or JSON text) -> (1, D), or a clear error."""
    if isinstance(values, str):
        try:
            values = json.loads(values)
        except json.JSONDecodeError:
            raise user_error("The latent must be a list of numbers, like [0.1, -1.2, ...].") from None
    if isinstance(values, dict):
        values = values.get("latent")
    if not isinstance(values, (list, tuple)):
        raise user_error("The latent must be a list of numbers, like [0.1, -1.2, ...].")
    dim = service.latent_dim
    if len(values) != dim:
        raise user_error(f"{service.name} has a {dim}-d latent; got {len(values)} values.")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise user_error(f"Latent entry {i} must be a number, got {v!r}.")
        if not math.isfinite(v) or abs(v) > MAX_ABS_LATENT:
            raise user_error(f"Latent entry {i} must be a finite number between "
                             f"-{MAX_ABS_LATENT:g} and {MAX_ABS_LATENT:g}, got {v!r}.")
        out.append(float(v))
    return torch.tensor([out], dtype=torch.float32)


def _slider_model(shell: Shell, name: Any) -> ModelService:
    service = shell.model(name)
    if not service.sliders:
        raise user_error(service.no_sliders())
    return service


class _NoSliders(Exception):
    """The picked model has no sliders: the tab shows `message` instead of an error."""

    def __init__(self, service: ModelService) -> None:
        super().__init__(service.no_sliders())
        self.service = service


def _tab_model(shell: Shell, name: Any) -> ModelService:
    """The model for the tab's own buttons: a model without sliders raises _NoSliders (a sentence, not an error)."""
    service = shell.model(name)
    if not service.sliders:
        raise _NoSliders(service)
    return service


def no_sliders_view(service: ModelService):
    """(state, panel, image, note) for a model without sliders: the panel says what it offers instead."""
    message = service.no_sliders()
    return None, {"model": service.name, "message": message}, None, message


def _or_no_sliders(fn):
    """A tab handler that shows `no_sliders_view` for a model without sliders instead of an error."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _NoSliders as e:
            return no_sliders_view(e.service)
    return wrapper


# -- the spec the browser panel draws ------------------------------------------------------------------

def _range(values: list[float]) -> float:
    return max(SLIDER_RANGE, math.ceil(max((abs(v) for v in values), default=0.0)))


def panel_spec(service: ModelService, z: torch.Tensor, origin: str) -> dict:
    """What the panel shows: slider rows (in display order) and the latent z (1, D)."""
    latent = [round(float(v), 6) for v in z[0]]
    kl = service.kl_per_dim()
    if kl is not None:
        dims = []
        for i in service.dimension_order():
            inactive = not service.is_active(kl[i])
            dims.append({"i": i, "label": f"z{i}", "inactive": inactive,
                         "note": f"KL {kl[i]:.2f} nats" + (" · unused" if inactive else "")})
        title = "Latent dimensions, most informative first (average KL on the test set)"
    else:
        dims = [{"i": i, "label": f"z{i}", "note": ""} for i in range(len(latent))]
        title = ("Raw latent dimensions" if not service.has_encoder
                 else "Latent dimensions (no per-dimension KL in this checkpoint)")
        k = service.latent_classes
        if k:  # this GAN's class is whichever of z0..z(k-1) is largest
            names = service.class_names
            for d in dims[:k]:
                d["note"] = f"largest of z0–z{k - 1}: draws {names[d['i']] if d['i'] < len(names) else d['i']}"
            title = f"Raw latent dimensions: the largest of z0–z{k - 1} picks the class, the rest draw it"
    r = _range(latent)
    for d in dims:
        d["min"], d["max"] = -r, r
    return {"model": service.name, "key": service.key, "kind": service.kind, "version": time.time_ns(),
            "latent": latent, "dims": dims, "dims_title": title, "directions": direction_rows(service, z),
            "origin": origin}


def decode_image(service: ModelService, z: torch.Tensor):
    """z (1, D) -> the picture the server shows (224 pixels, nearest-neighbour)."""
    return to_pil(service.decode(z)[0])


def _start(service: ModelService, z: torch.Tensor, origin: str, note: str = ""):
    state = {"model": service.name, "latent": z[0].tolist(), "origin": z[0].tolist(), "origin_text": origin}
    text = f"Started from {origin}." + (f" {note}" if note else "")
    return state, panel_spec(service, z, origin), decode_image(service, z), text


# -- endpoints ------------------------------------------------------------------------------------------

@_or_no_sliders
def start_sample(shell: Shell, model_name: Any, seed: Any):
    """Start from the latent drawn with `seed` -> (state, panel spec, image, note)."""
    service = _tab_model(shell, model_name)
    seed = shell.seed(seed)
    return _start(service, service.sample_latents(1, seed), f"a random sample (seed {seed})")


@_or_no_sliders
def randomize(shell: Shell, model_name: Any):
    """Start from a fresh random latent (a new seed each time)."""
    return start_sample(shell, model_name, random.SystemRandom().randrange(MAX_SEED))


def _from_endpoint(shell: Shell, service: ModelService, endpoint: inputs.Endpoint, steps: int, progress: Any):
    found = inputs.to_latents(shell, service, [endpoint], steps, inputs.gradio_progress(progress, "Inverting the GAN"))
    note = found.how + (f" Reconstruction error (MSE): {found.errors[0]:.4f}." if found.errors[0] is not None else "")
    return _start(service, found.latents[:1].float(), endpoint.description, note)


@_or_no_sliders
def start_dataset(shell: Shell, model_name: Any, index: Any, steps: Any, progress=gr.Progress()):
    """Start from test image `index`: encoded (VAE) or inverted with `steps` steps (GAN)."""
    service = _tab_model(shell, model_name)
    steps = shell.int_in_range(steps, "Inversion steps", 1, inputs.MAX_INVERSION_STEPS)
    endpoint = inputs.resolve(shell, service, inputs.TEST, None, None, index, 0)
    return _from_endpoint(shell, service, endpoint, steps, progress)


@_or_no_sliders
def start_upload(shell: Shell, model_name: Any, upload: Any, steps: Any, progress=gr.Progress()):
    """Start from an uploaded picture, prepared like the training data, then encoded / inverted."""
    service = _tab_model(shell, model_name)
    steps = shell.int_in_range(steps, "Inversion steps", 1, inputs.MAX_INVERSION_STEPS)
    endpoint = inputs.resolve(shell, service, inputs.UPLOAD, upload, None, 0, 0, what="the start image")
    return _from_endpoint(shell, service, endpoint, steps, progress)


@_or_no_sliders
def reset(shell: Shell, model_name: Any, state: Any):
    """Back to where this session started for the model (the zero latent if it has not started)."""
    service = _tab_model(shell, model_name)
    if isinstance(state, dict) and state.get("model") == service.name:
        z = check_latent(service, state.get("origin"))
        return _start(service, z, state.get("origin_text", "the start"))
    return _start(service, torch.zeros(1, service.latent_dim), "the zero latent (the prior's mean)")


def release(shell: Shell, panel_value: Any, state: Any):
    """The browser released a slider: keep its latent in the session and decode it on the server."""
    if not isinstance(panel_value, dict):
        raise user_error("The sliders sent no latent.")
    service = _slider_model(shell, panel_value.get("model"))
    z = check_latent(service, panel_value.get("latent"))
    state = dict(state) if isinstance(state, dict) and state.get("model") == service.name else {
        "model": service.name, "origin": z[0].tolist(), "origin_text": "your sliders"}
    state["latent"] = z[0].tolist()
    return state, decode_image(service, z)


def decode_latent(shell: Shell, model_name: Any, latent: Any):
    """API: model name + latent (list of D numbers) -> the decoded picture."""
    service = _slider_model(shell, model_name)
    return decode_image(service, check_latent(service, latent))


# -- layout ---------------------------------------------------------------------------------------------

def build(shell: Shell) -> None:
    gr.Markdown("Drag a slider and the picture follows: the decoder runs in your browser. "
                "Each slider moves one coordinate of the latent vector z.")
    state = gr.State(None)

    def web_decoder(model_name: str) -> dict:
        return web_decoder_json(_slider_model(shell, model_name))

    panel = gr.HTML(
        None, html_template=PANEL_TEMPLATE, css_template=PANEL_CSS, js_on_load=PANEL_JS,
        head=decoder_head(), server_functions=[web_decoder],
        elem_classes=["genlab-sliders"], padding=False,
    )
    with gr.Row():
        sample_btn = gr.Button("Sample from the seed above")
        randomize_btn = gr.Button("Randomize", variant="primary")
        reset_btn = gr.Button("↺ Reset")
    note = gr.Markdown("")
    with gr.Accordion("Start from a test image or your own picture", open=False):
        gallery = gr.Gallery(label="Click a test image", columns=8, height=190, allow_preview=False,
                             format="png", interactive=False, object_fit="contain", buttons=[])
        with gr.Row():
            index = gr.Number(0, label="Test image number", precision=0, minimum=0)
            steps = gr.Slider(10, inputs.MAX_INVERSION_STEPS, value=INVERSION_STEPS, step=10,
                              label="GAN inversion steps (the GAN has no encoder)")
            dataset_btn = gr.Button("Start from this test image")
        with gr.Row():
            upload = ImageUpload(label="Upload a picture", sources=["upload", "clipboard"], format="png", height=200)
            upload_btn = gr.Button("Start from the upload")
    with gr.Accordion("Server-side image (what the `decode` API returns)", open=False):
        server_image = gr.Image(label="Decoded on the server", format="png", type="pil", interactive=False,
                                height=240, elem_classes=["genlab-pixelated", "genlab-slider-server-image"], buttons=["download"])
        # Not shown: the inputs of the `decode` API endpoint (model name + latent list).
        decode_model = gr.Textbox(visible=False)
        decode_latent_box = gr.JSON(visible=False)
        decode_btn = gr.Button(visible=False)

    outs = [state, panel, server_image, note]
    model = shell.model_picker
    # Named functions: their parameter names are what the API page shows.
    def slider_start_sample(model_name, seed):
        return start_sample(shell, model_name, seed)

    def slider_randomize(model_name):
        return randomize(shell, model_name)

    def slider_reset(model_name, session_state):
        return reset(shell, model_name, session_state)

    def slider_start_dataset(model_name, test_index, inversion_steps, progress=gr.Progress()):
        return start_dataset(shell, model_name, test_index, inversion_steps, progress)

    def slider_start_upload(model_name, image, inversion_steps, progress=gr.Progress()):
        return start_upload(shell, model_name, image, inversion_steps, progress)

    def decode_api(model_name, latent):
        return decode_latent(shell, model_name, latent)

    sample_btn.click(slider_start_sample, [model, shell.seed_box], outs, api_name="slider_start_sample")
    randomize_btn.click(slider_randomize, model, outs, api_name="slider_randomize")
    reset_btn.click(slider_reset, [model, state], outs, api_name="slider_reset")
    dataset_btn.click(slider_start_dataset, [model, index, steps], outs, api_name="slider_start_dataset", **HEAVY)
    upload_btn.click(slider_start_upload, [model, upload, steps], outs, api_name="slider_start_upload", **HEAVY)
    # A slider was released in the browser: the session's latent and the server image follow.
    panel.release(lambda value, st: release(shell, value, st), [panel, state], [state, server_image],
                  api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    decode_btn.click(decode_api, [decode_model, decode_latent_box], server_image, api_name="decode")
    gr.api(web_decoder, api_name="web_decoder")

    def pick(model_name, evt: gr.SelectData):
        return inputs.gallery_indices(shell.test_images(_slider_model(shell, model_name)).labels)[evt.index]

    gallery.select(pick, model, index, api_visibility="private").then(
        slider_start_dataset, [model, index, steps], outs, api_visibility="private")

    def on_model(model_name, seed):
        service = shell.store.services.get(model_name) if model_name else None
        if service is None:
            return None, None, None, "", gr.Gallery(value=[])
        if not service.sliders:
            return (*no_sliders_view(service), gr.Gallery(value=[]))
        try:
            data = shell.test_images(service)
            items = inputs.gallery_items(data, inputs.gallery_indices(data.labels))
        except gr.Error:
            items = []
        return (*start_sample(shell, model_name, seed if seed is not None else 0), gr.Gallery(value=items))

    shell.on_model_change(on_model, [model, shell.seed_box], [*outs, gallery])
