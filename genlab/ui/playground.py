"""Tab "Playground": a tiny VAE and a tiny GAN train live, side by side, on the same 2-D points.

Everything runs in the visitor's browser: static/playground.js holds the two models (MLPs with
their backprop and Adam in plain JavaScript, a seeded random generator, the 2-D data sets and the
ring measures); static/playground_panel.js trains them in short slices between animation frames,
draws the views on canvases and writes the live numbers into the page. The server only serves
the page, so a class of thirty costs the Space no CPU; training pauses while the tab is hidden.

The live numbers are measured as Srivastava et al. (2017, VEEGAN) measure them on the ring of 8
Gaussians, with the coverage threshold of the brief: `mode_measures` below is the same rule in
NumPy, for the tests and the benchmark to check the page against.
"""

from __future__ import annotations

import html
from pathlib import Path

import gradio as gr
import numpy as np

from genlab.ui.shell import Shell

STATIC = Path(__file__).resolve().parent / "static"
CORE_JS = (STATIC / "playground.js").read_text()
PANEL_JS = (STATIC / "playground_panel.js").read_text()

HQ_SIGMAS = 3.0  # a sample is high quality within 3 sigma of its nearest mode
COVER_SHARE = 0.01  # a mode is covered when at least 1% of the samples are high quality for it
MEASURE_SAMPLES = 2500  # samples per model per measurement, as Srivastava et al. 2017

DATASETS = [("ring", "Ring of 8 Gaussians (σ = 0.1)"), ("paper-ring", "Ring of 8, σ = 0.02 as in the papers"),
            ("grid", "5×5 grid of Gaussians (σ = 0.1)"), ("moons", "Two moons"), ("spiral", "Spiral"),
            ("drawn", "Your drawing (draw on a plot)")]
RING_SIGMA, PAPER_RING_SIGMA = 0.1, 0.02  # as static/playground.js
PRESETS = [("default", "Balanced (defaults)"), ("collapse", "Mode collapse: a too-fast generator"),
           ("blur", "Blur: a large β for the VAE")]

RULE = (
    "How the numbers are counted (as Srivastava et al. 2017 count them on the ring): 2,500 samples "
    "from each model; a sample is <b>high quality</b> when it lies within 3σ of its nearest mode "
    "(σ is the spread of each Gaussian of the data); a mode is <b>covered</b> when at least 1% of the "
    "samples are high-quality samples of that mode. Only the rings and the grid have modes to count. "
    "The papers' ring has σ = 0.02 (3σ = 0.06 at radius 2); in the seconds your browser trains, "
    "neither tiny model gets that close, so the default ring is wider (σ = 0.1); pick the papers' "
    "ring to see the harder test. VAE samples are the decoder's means for z from the prior; GAN "
    "samples come from a moving average of G's weights."
)
LESSON_VAE = (
    "<b>The VAE</b> minimises the negative ELBO = reconstruction + KL (in nats per point): the encoder "
    "maps each point x to a Gaussian q(z|x) (the ellipses), the decoder maps z back to x. The "
    "reconstruction term wants every point back; the KL term, the price of the information z carries, "
    "pulls every ellipse towards the prior N(0, I) (the dashed circles at 1 and 2). "
    "Because it must reconstruct <i>every</i> training point, the VAE covers every mode — but the "
    "prior's mass between the ellipses decodes to points between the modes: <b>blur</b>. A larger β "
    "weighs the KL more: the ellipses overlap, and the samples smear."
)
LESSON_GAN = (
    "<b>The GAN</b> is a <b>min-max game</b>: the discriminator D learns to tell real points from "
    "the generator's (the background: D's belief that a point is real), and G learns to move its "
    "points where D says \"real\". At the balance point D cannot tell: D(x) → ½ everywhere the data "
    "is. G's samples are <b>sharp</b>, but nothing makes G cover every mode: if a few modes fool D, "
    "G can put all its points there — <b>mode collapse</b>. A too-fast generator chases D's "
    "favourite spot and collapses; the R1 penalty (Mescheder et al. 2018) keeps D smooth on the "
    "data, which steadies the game."
)


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
    """The 8 means of the ring (8, 2), as static/playground.js places them."""
    angles = 2 * np.pi * np.arange(8) / 8
    return radius * np.stack([np.cos(angles), np.sin(angles)], 1)


# -- the page ------------------------------------------------------------------------------------------

def _options(items: list[tuple[str, str]], selected: str) -> str:
    return "".join(f'<option value="{v}"{" selected" if v == selected else ""}>{html.escape(t)}</option>'
                   for v, t in items)


def _number(key: str, label: str, title: str, step: str = "any", cls: str = "") -> str:
    return (f'<label class="pg-field {cls}" title="{html.escape(title)}"><span>{label}</span>'
            f'<input type="number" data-setting="{key}" step="{step}"></label>')


def _model_section(kind: str) -> str:
    """One model's column: its views, its live numbers and its lesson."""
    if kind == "vae":
        title, lesson = "VAE", LESSON_VAE
        views = ('<figure><canvas class="pg-canvas pg-data" id="pg-vae-data" width="600" height="600" '
                 'aria-label="VAE: real points and samples"></canvas><figcaption>Data space: real points '
                 '(grey), VAE samples (blue), the decoded latent grid (lines)</figcaption></figure>'
                 '<figure><canvas class="pg-canvas pg-latent" id="pg-vae-latent" width="600" height="600" '
                 'aria-label="VAE latent space"></canvas><figcaption>Latent space: q(z|x) of a few points '
                 '(ellipses, 2σ), the prior N(0, I) (dashed)</figcaption></figure>')
        numbers = ('<div class="pg-stat">ELBO terms: reconstruction <b id="pg-vae-recon">–</b> nats, '
                   'KL <b id="pg-vae-kl">–</b> nats</div>')
        chart = ('<canvas class="pg-chart" id="pg-vae-chart" width="600" height="200" aria-label="VAE losses">'
                 '</canvas><div class="pg-legend"><i class="k1"></i>−ELBO (β-weighted) <i class="k2"></i>'
                 'reconstruction <i class="k3"></i>KL</div>')
    else:
        title, lesson = "GAN", LESSON_GAN
        views = ('<figure><canvas class="pg-canvas pg-data" id="pg-gan-data" width="600" height="600" '
                 'aria-label="GAN: real points, samples and the discriminator"></canvas><figcaption>Data '
                 'space: real points (grey), GAN samples (orange), D\'s belief "real" (green) or "fake" '
                 '(purple)</figcaption></figure>')
        numbers = ('<div class="pg-stat">D(x) on real points <b id="pg-gan-dreal">–</b>, '
                   'D(G(z)) on G\'s <b id="pg-gan-dfake">–</b> (both → ½ at the balance point)</div>')
        chart = ('<canvas class="pg-chart" id="pg-gan-chart" width="600" height="200" aria-label="GAN losses">'
                 '</canvas><div class="pg-legend"><i class="k1"></i>D\'s loss <i class="k2"></i>G\'s loss '
                 '<i class="k3"></i>D(x) <i class="k4"></i>D(G(z)) (right axis, 0–1)</div>')
    return (
        f'<section class="pg-model pg-{kind}" data-model="{kind}"><h3>{title}</h3>'
        f'<div class="pg-views">{views}</div>'
        f'<div class="pg-numbers" id="pg-{kind}-numbers" data-modes="" data-hq="">'
        f'<div class="pg-big"><span>modes covered</span><b id="pg-{kind}-modes">–</b></div>'
        f'<div class="pg-big"><span>high-quality samples</span><b id="pg-{kind}-hq">–</b></div></div>'
        f'{numbers}{chart}<p class="pg-lesson">{lesson}</p></section>'
    )


def panel_html() -> str:
    """The Playground's markup: controls, the two models' columns, the counting rule."""
    settings = "".join([
        _number("width", "width", "hidden units per layer (both networks of both models)", "1"),
        _number("latent", "latent size", "dimensions of z (VAE latent, GAN noise)", "1"),
        _number("batch", "batch size", "points per training step", "1"),
        _number("vaeLr", "VAE learning rate", "Adam's step size for the VAE"),
        _number("beta", "VAE β", "weight of the KL term in the VAE's loss (1 = the ELBO)"),
        _number("gLr", "G learning rate", "Adam's step size for the generator"),
        _number("dLr", "D learning rate", "Adam's step size for the discriminator"),
        '<label class="pg-field" title="the GAN\'s loss"><span>GAN loss</span><select data-setting="ganLoss">'
        '<option value="ns">non-saturating</option><option value="hinge">hinge</option></select></label>',
        _number("r1", "R1 penalty γ", "gradient penalty on D at real points (0 = a plain GAN)"),
        _number("gSteps", "G steps per D step", "generator updates after each discriminator update", "1"),
    ])
    controls = (
        '<div class="pg-controls">'
        '<div class="pg-row">'
        f'<label class="pg-field"><span>data</span><select data-setting="dataset" id="pg-dataset">'
        f'{_options(DATASETS, "ring")}</select></label>'
        f'<label class="pg-field"><span>preset</span><select id="pg-preset">{_options(PRESETS, "default")}'
        '</select></label>'
        + _number("seed", "seed", "the same seed and settings give the same run", "1") +
        '<label class="pg-field" title="training pauses by itself at this step (0: never)"><span>stop at step'
        '</span><input type="number" id="pg-stop-at" step="100" min="0" value="0"></label>'
        '</div><div class="pg-row pg-buttons">'
        '<button type="button" class="pg-btn pg-primary" id="pg-play">▶ Play</button>'
        '<button type="button" class="pg-btn" id="pg-step">Step</button>'
        '<button type="button" class="pg-btn" id="pg-reset">↺ Reset</button>'
        '<button type="button" class="pg-btn" id="pg-clear" hidden>Clear drawing</button>'
        '<span class="pg-status" id="pg-status" data-state="paused" data-step="0">Press Play.</span>'
        '</div>'
        f'<details class="pg-settings"><summary>Settings</summary><div class="pg-row">{settings}</div>'
        '<p class="pg-note">Changing a setting restarts both models (learning rates, β, the loss and the '
        'penalty apply at once, without a restart).</p></details></div>'
    )
    return (
        f'<div class="pg-root">{controls}'
        f'<div class="pg-models">{_model_section("vae")}{_model_section("gan")}</div>'
        f'<p class="pg-rule" id="pg-rule">{RULE}</p></div>'
    )


PANEL_CSS = """
.pg-root { display: flex; flex-direction: column; gap: 10px; }
.pg-controls { display: flex; flex-direction: column; gap: 6px; }
.pg-row { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: end; }
.pg-field { display: flex; flex-direction: column; font-size: 12px; gap: 2px; }
.pg-field span { opacity: 0.75; }
.pg-field input, .pg-field select { font-size: 14px; padding: 3px 5px; border: 1px solid #9994; border-radius: 5px;
  background: transparent; color: inherit; }
.pg-field input { width: 7.5em; }
.pg-btn { padding: 5px 14px; border-radius: 6px; border: 1px solid #9996; background: transparent; color: inherit;
  cursor: pointer; font-size: 14px; }
.pg-primary { background: #6366f1; color: #fff; border-color: #6366f1; }
.pg-status { font-size: 13px; opacity: 0.8; font-variant-numeric: tabular-nums; }
.pg-settings summary { cursor: pointer; font-size: 13px; }
.pg-note { font-size: 12px; opacity: 0.7; margin: 4px 0 0; }
.pg-models { display: flex; flex-wrap: wrap; gap: 18px; }
.pg-model { flex: 1 1 460px; min-width: 0; }
.pg-model h3 { margin: 0 0 4px; }
.pg-views { display: flex; flex-wrap: wrap; gap: 8px; }
.pg-views figure { margin: 0; flex: 1 1 220px; max-width: 320px; }
.pg-views figcaption { font-size: 11px; opacity: 0.7; }
.pg-canvas { width: 100%; aspect-ratio: 1; background: #fff; border-radius: 6px; border: 1px solid #9994; }
.pg-data.pg-drawing { cursor: crosshair; }
.pg-numbers { display: flex; gap: 18px; margin: 6px 0 2px; }
.pg-big { display: flex; flex-direction: column; }
.pg-big span { font-size: 12px; opacity: 0.75; }
.pg-big b { font-size: 22px; font-variant-numeric: tabular-nums; }
.pg-stat { font-size: 13px; font-variant-numeric: tabular-nums; }
.pg-chart { width: 100%; max-width: 640px; height: 110px; border: 1px solid #9994; border-radius: 6px; background: #fff; }
.pg-legend { font-size: 11px; opacity: 0.8; }
.pg-legend i { display: inline-block; width: 14px; height: 3px; margin: 0 3px 2px 8px; vertical-align: middle; }
.pg-legend .k1 { background: #111827; } .pg-legend .k2 { background: #2563eb; }
.pg-legend .k3 { background: #ea580c; } .pg-legend .k4 { background: #16a34a; }
.pg-lesson { font-size: 13px; line-height: 1.45; }
.pg-rule { font-size: 12px; opacity: 0.8; }
"""


# -- layout ------------------------------------------------------------------------------------------------

def build(shell: Shell) -> None:  # noqa: ARG001 (every tab module takes the shell; this one needs no model)
    gr.Markdown(
        "A tiny VAE and a tiny GAN (two-layer MLPs) learn the same 2-D points, live, in your browser. "
        "Press **Play** and watch: the VAE covers every mode but blurs between them; the GAN is sharp "
        "but may drop modes. The presets make each failure happen on purpose."
    )
    gr.HTML(None, html_template=panel_html(), css_template=PANEL_CSS, js_on_load=PANEL_JS,
            head=f"<script>{CORE_JS}</script>", elem_classes=["genlab-playground"], padding=False)
