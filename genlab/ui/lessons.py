"""What the lesson tabs share: the dataset row, the models that stand for a dataset, and charts.

The lessons ("VAE vs GAN", "How a VAE works", "How a GAN trains", ...) pick a dataset rather than a
model: `models_for` gives the models that stand for it (the one rule, `genlab.metrics.choose_models`).
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd
from matplotlib.figure import Figure

from genlab.service import ModelService
from genlab.ui.shell import Shell, dataset_argument, user_error

NO_MODELS = ("There are no VAE or GAN checkpoints yet: train some (see `train/`), "
             "then press ↻ Refresh models and reload the page.")


def default_dataset(datasets: list[str]) -> str | None:
    """The dataset a lesson opens on: MNIST when it is there (it has the beta-VAEs and the collapsed GAN)."""
    return "mnist" if "mnist" in datasets else (datasets[0] if datasets else None)


def dataset_choices(shell: Shell) -> list[str]:
    """Datasets that have a VAE or a GAN in the store."""
    return shell.store.datasets()


def dataset_and_model_row(shell: Shell, kind: str) -> tuple[gr.Dropdown, gr.Dropdown]:
    """The top row of a lesson tab: a Dataset dropdown (MNIST first) and one of the `kind` models."""
    datasets = dataset_choices(shell)
    with gr.Row():
        dataset = gr.Dropdown(datasets, value=default_dataset(datasets), label="Dataset", scale=1)
        # All models of the kind are valid choices for API callers (the page narrows the list to the
        # dataset); a name added by "Refresh models" reaches the handler, whose check names a missing one.
        model = gr.Dropdown(shell.store.names(kind), value=None, label=kind.upper(), scale=2, allow_custom_value=True)
    return dataset, model


def check_dataset(shell: Shell, dataset: Any) -> str:
    if not dataset:
        raise user_error("Pick a dataset first (no VAE or GAN checkpoints were found).")
    if dataset not in shell.store.datasets():
        raise user_error(f"There is no VAE or GAN trained on {dataset!r}; pick one of "
                         f"{', '.join(shell.store.datasets()) or 'none yet'}.")
    return str(dataset)


def models_for(shell: Shell, dataset: str) -> dict[str, ModelService | None]:
    """The VAE, GAN and classifier of `dataset` that the comparison uses (None where missing)."""
    return shell.store.chosen(dataset)


def missing_sentence(kind: str, dataset: str) -> str:
    what = {"vae": "VAE", "gan": "GAN", "classifier": "classifier"}[kind]
    return (f"There is no {what} for {dataset} yet: train one with "
            f"`python train/{kind}.py --dataset {dataset_argument(dataset)}`, then press ↻ Refresh models.")


def class_bars(histograms: dict[str, list[float]], class_names: list[str], title: str) -> Figure:
    """Grouped bars: the share of each class, one colour per source (e.g. VAE, GAN, real data)."""
    fig = Figure(figsize=(7.5, 3.0), layout="constrained")
    ax = fig.subplots()
    k = max((len(h) for h in histograms.values()), default=0)
    names = class_names if len(class_names) == k else [str(i) for i in range(k)]
    width = 0.8 / max(1, len(histograms))
    for j, (label, hist) in enumerate(histograms.items()):
        ax.bar([i + (j - (len(histograms) - 1) / 2) * width for i in range(k)], hist, width, label=label)
    if k:
        ax.axhline(1 / k, color="gray", linestyle="--", linewidth=1, label="uniform")
    ax.set_xticks(range(k), names, rotation=30 if max((len(n) for n in names), default=0) > 3 else 0, ha="right")
    ax.set_ylabel("share of samples")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncols=4)
    return fig


def history_frame(history: list[dict[str, Any]], curves: dict[str, str]) -> pd.DataFrame:
    """Long table (epoch, value, curve) of the history keys in `curves` ({key: label}), for gr.LinePlot."""
    rows = [{"epoch": int(h.get("epoch", i + 1)), "value": float(h[key]), "curve": label}
            for i, h in enumerate(history) for key, label in curves.items()
            if isinstance(h.get(key), (int, float))]
    return pd.DataFrame(rows, columns=["epoch", "value", "curve"])
