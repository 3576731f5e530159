"""Tab "Playground": a tiny VAE, a tiny GAN and a tiny diffusion model train live, side by side, on the same 2-D points.

Everything runs in the visitor's browser, built like GAN Lab (Kahng et al. 2018): static/playground/
holds one file per part (manifest.json lists them): the random streams, the networks (backprop and
Adam in plain JavaScript), the data sets, the measures, each model (vae.js, gan.js, diffusion.js), the
run loop (trainer.js, in Web Workers) and the drawing (draw.js); panel.html, panel.css and panel.js
are the page's markup, style and wiring. `core_source()` joins the core files into one script that
the page gets in its head and that its workers evaluate; no build step, nothing fetched, so it works
offline and in a Space from the committed files alone. The server only serves the page, so a class
of thirty costs the Space no CPU; training pauses while the tab is hidden.

The live numbers are measured as Srivastava et al. (2017, VEEGAN) measure them on the ring of 8
Gaussians, with the coverage threshold of the brief: `mode_measures` below is the same rule in
NumPy, for the tests and the benchmark to check the page against.
"""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import numpy as np

from genlab.ui.shell import Shell

STATIC = Path(__file__).resolve().parent / "static" / "playground"
MANIFEST = json.loads((STATIC / "manifest.json").read_text())


def core_source() -> str:
    """The core files joined into one JavaScript expression whose value is the namespace P
    (as static/playground.js joins them under Node)."""
    parts = "".join(f"{{ // ---- {name}\n{(STATIC / name).read_text()}\n}}\n" for name in MANIFEST["core"])
    return ('(function genlabPlayground() {\n"use strict";\nconst P = {};\n' + parts
            + 'P.source = "(" + genlabPlayground.toString() + ")()";\nreturn P;\n})()')


CORE_JS = f"window.GenlabPlayground = window.GenlabPlayground || {core_source()};"
PANEL_HTML = (STATIC / MANIFEST["panel"]["html"]).read_text()
PANEL_CSS = (STATIC / MANIFEST["panel"]["css"]).read_text()
PANEL_JS = (STATIC / MANIFEST["panel"]["js"]).read_text()
MODEL_NAMES = ("vae", "gan", "diffusion")

HQ_SIGMAS = 3.0  # a sample is high quality within 3 sigma of its nearest mode
COVER_SHARE = 0.01  # a mode is covered when at least 1% of the samples are high quality for it
MEASURE_SAMPLES = 2500  # samples per model per measurement, as Srivastava et al. 2017

RING_SIGMA, PAPER_RING_SIGMA = 0.1, 0.02  # as static/playground/datasets.js


def mode_measures(points: np.ndarray, modes: np.ndarray, sigma: float) -> dict:
    """The ring measures of samples `points` (n, 2) against mixture means `modes` (k, 2) of std `sigma`.

    Returns {"modes": covered modes, "total": k, "hq": share of high-quality samples in [0, 1],
    "per_mode": high-quality samples per mode (k,)}.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    modes = np.asarray(modes, dtype=np.float64).reshape(-1, 2)
    n = len(points)
    d2 = ((points[:, None, :] - modes[None, :, :]) ** 2).sum(-1)  # (n, k)
    nearest = d2.argmin(1)
    good = d2[np.arange(n), nearest] <= (HQ_SIGMAS * sigma) ** 2
    per_mode = np.bincount(nearest[good], minlength=len(modes))
    covered = int(((per_mode >= COVER_SHARE * n) & (per_mode > 0)).sum())
    return {"modes": covered, "total": len(modes), "hq": float(good.mean()) if n else 0.0,
            "per_mode": per_mode.tolist()}


def ring_modes(radius: float = 2.0) -> np.ndarray:
    """The 8 means of the ring (8, 2), as static/playground/datasets.js places them."""
    angles = 2 * np.pi * np.arange(8) / 8
    return radius * np.stack([np.cos(angles), np.sin(angles)], 1)


def panel_html() -> str:
    """The Playground's markup: controls, the three models' columns, the counting rule."""
    return PANEL_HTML


# -- layout ------------------------------------------------------------------------------------------------

def build(shell: Shell) -> None:  # noqa: ARG001 (every tab module takes the shell; this one needs no model)
    gr.Markdown(
        "A tiny VAE, a tiny GAN and a tiny diffusion model (small MLPs) learn the same 2-D points, live, "
        "in your browser. Press **Play** and watch: the VAE covers every mode but blurs between them; the "
        "GAN is sharp but may drop modes; the diffusion model covers every mode and is sharp, at the price "
        "of many network passes per sample. The presets make each failure happen on purpose."
    )
    gr.HTML(None, html_template=panel_html(), css_template=PANEL_CSS, js_on_load=PANEL_JS,
            head=f"<script>{CORE_JS}</script>", elem_classes=["genlab-playground"], padding=False)
