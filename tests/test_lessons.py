"""The three lesson tabs' functions, called directly on tiny checkpoints trained in a tmp folder."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
import torch

from conftest import quick_train_config, tiny_config
from genlab import metrics
from genlab.checkpoints import atomic_write_json, save_checkpoint
from genlab.models import VAE, VAEConfig
from genlab.training import train
from genlab.ui import lesson_compare, lesson_gan, lesson_vae
from genlab.ui.shell import Shell
from genlab.store import ModelStore

DATASET = "synthetic"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A checkpoints folder like the shipped one, for the synthetic dataset, with tiny models."""
    root = tmp_path_factory.mktemp("checkpoints")
    train("vae", tiny_config("vae"), quick_train_config(root / f"{DATASET}-vae-16"))
    train("vae", tiny_config("vae", latent_dim=2), quick_train_config(root / f"{DATASET}-vae-2"))
    train("gan", tiny_config("gan"), quick_train_config(root / f"{DATASET}-gan-32", epochs=3))
    train("classifier", tiny_config("classifier"), quick_train_config(root / f"{DATASET}-classifier", epochs=1))
    torch.manual_seed(1)
    beta_config = VAEConfig(latent_dim=4, base_width=8, hidden_dim=32, beta=4.0)
    save_checkpoint(VAE(beta_config), root / f"{DATASET}-vae-beta-4", "vae", dataset=DATASET)
    return root


@pytest.fixture
def shell(root):
    return Shell(ModelStore.load(root))


# --------------------------------------------------------------------------- VAE vs GAN


def test_compare_samples_and_curves(shell):
    vae, gan, real, note = lesson_compare.samples_side_by_side(shell, DATASET, 3)
    assert vae is not None and gan is not None and real is not None and note == ""
    assert vae.size == gan.size == real.size
    vae_curve, gan_curve = lesson_compare.loss_curves(shell, DATASET)
    assert set(vae_curve["curve"]) == {"train -ELBO", "test -ELBO"} and len(vae_curve) == 4
    assert set(gan_curve["curve"]) == {"discriminator", "generator"} and len(gan_curve) == 6


def test_compare_table_from_the_stored_file_and_from_recompute(shell, root, monkeypatch):
    table, figure, note = lesson_compare.stored_comparison(shell, DATASET)
    assert table.empty and figure is None and "train/evaluate.py --dataset synthetic" in note

    # Small sizes keep the test fast; the code path is the one the button runs.
    small = {"num_samples": 64, "iwae_images": 16, "encoder_images": 2, "inversion_steps": 5,
             "inversion_restarts": 1, "ppl_pairs": 8}
    real_compare = metrics.compare_models
    monkeypatch.setattr(metrics, "compare_models", lambda *a, **k: real_compare(*a, **{**k, **small}))
    progress_calls = []
    table, figure, note = lesson_compare.recompute(shell, DATASET, lambda f, d: progress_calls.append(d))
    assert list(table.columns) == metrics.TABLE_COLUMNS and len(table) == 8
    assert figure is not None and "Recomputed" in note and progress_calls[-1] == "Done"

    result = metrics.compare_models(*[shell.store.models[f"{DATASET}-{k}"] for k in ("vae-16", "gan-32", "classifier")],
                                    shell.test_images(DATASET), **small)
    atomic_write_json(metrics.comparison_path(root, DATASET), result)
    try:
        stored, figure, note = lesson_compare.stored_comparison(shell, DATASET)
        assert len(stored) == 8 and "synthetic-comparison.json" in note and "out of date" not in note
    finally:
        metrics.comparison_path(root, DATASET).unlink()


def test_missing_models_give_clear_messages(tmp_path):
    torch.manual_seed(0)
    save_checkpoint(VAE(tiny_config("vae")), tmp_path / "synthetic-vae-16", "vae", dataset=DATASET)
    shell = Shell(ModelStore.load(tmp_path))
    vae, gan, real, note = lesson_compare.samples_side_by_side(shell, DATASET, 0)
    assert vae is not None and gan is None and "There is no GAN for synthetic" in note
    with pytest.raises(gr.Error, match="There is no GAN for synthetic"):
        lesson_compare.recompute(shell, DATASET)
    with pytest.raises(gr.Error, match="There is no VAE or GAN trained on 'mnist'"):
        lesson_compare.samples_side_by_side(shell, "mnist", 0)
    picture, scatter, note = lesson_vae.latent_map(shell, DATASET)
    assert picture is None and "--latent-dim 2" in note
    assert lesson_gan.on_gan(shell, None)[2] == "There is no GAN for this dataset yet."


# --------------------------------------------------------------------------- How a VAE works


def test_worked_example_gives_the_exact_z(shell):
    table, text, picture = lesson_vae.worked_example(shell, DATASET, "0.5, -0.2", "0.1, 0.3", "0.5, -1.0")
    assert table["z = μ + σ·ε"].tolist() == [0.55, -0.5]
    assert "z = [0.55, -0.5]" in text
    assert picture is not None  # decoded by the 2-d VAE
    with pytest.raises(gr.Error, match="type 2 numbers"):
        lesson_vae.worked_example(shell, DATASET, "0.5, -0.2", "0.1", "0.5, -1.0")
    with pytest.raises(gr.Error, match="positive"):
        lesson_vae.worked_example(shell, DATASET, "0.5", "-0.1", "0.5")
    with pytest.raises(gr.Error, match="numbers separated by commas"):
        lesson_vae.worked_example(shell, DATASET, "half", "0.1", "0.5")


def test_explain_image_shows_z_equal_mu_plus_sigma_eps(shell):
    image, preview, caption = lesson_vae.pick_test_image(DATASET, 0)
    figure, table, decoded, text = lesson_vae.explain_image(shell, f"{DATASET}-vae-16", image, 5)
    mu, sigma, eps, z = (table[c].to_numpy() for c in ("μ", "σ", "ε", "z = μ + σ·ε"))
    assert len(table) == 4 and np.allclose(z, mu + sigma * eps, atol=2e-3)
    assert "reconstruction" in text and "KL" in text and decoded is not None
    # The same seed gives the same eps; typed eps are used as typed.
    assert lesson_vae.explain_image(shell, f"{DATASET}-vae-16", image, 5)[1].equals(table)
    typed = lesson_vae.explain_image(shell, f"{DATASET}-vae-16", image, 5, "1, 0, 0, -1")[1]
    assert typed["ε"].tolist() == [1.0, 0.0, 0.0, -1.0]
    with pytest.raises(gr.Error, match="4-d latent"):
        lesson_vae.explain_image(shell, f"{DATASET}-vae-16", image, 5, "1, 2")


def test_a_drawing_is_prepared_and_a_missing_one_refused(shell):
    with pytest.raises(gr.Error, match="Draw something"):
        lesson_vae.use_drawing(shell, f"{DATASET}-vae-16", None)
    canvas = np.full((280, 280), 255, np.uint8)
    canvas[60:220, 130:150] = 0  # a dark vertical stroke
    image, preview, caption = lesson_vae.use_drawing(
        shell, f"{DATASET}-vae-16", {"background": None, "layers": [], "composite": canvas})
    assert image.shape == (1, 28, 28) and image.max() > 0.5
    lesson_vae.explain_image(shell, f"{DATASET}-vae-16", image, 0)


def test_a_click_on_the_latent_map_decodes_the_point_under_it(shell):
    picture, scatter, note = lesson_vae.latent_map(shell, DATASET)
    cells, cell = lesson_vae.MAP_CELLS, lesson_vae.MAP_CELL_PIXELS
    assert picture.size == (cells * cell, cells * cell)
    assert set(scatter.columns) == {"z1", "z2", "class"} and len(scatter) == 128
    grid = np.asarray(picture)
    latents = lesson_vae.map_latents()
    for row, col in ((0, 0), (7, 7), (2, 11), (14, 3)):
        x, y = (col + 0.5) * cell, (row + 0.5) * cell
        assert lesson_vae.pixel_to_latent(x, y) == pytest.approx(tuple(latents[row * cells + col].tolist()), abs=1e-6)
        decoded, text, marked = lesson_vae.decode_at_pixel(shell, DATASET, x, y)
        under_click = grid[row * cell:(row + 1) * cell:2, col * cell:(col + 1) * cell:2, 0]  # 28x28 of the map
        shown = np.asarray(decoded)[::168 // 28, ::168 // 28]
        assert np.abs(shown.astype(int) - under_click.astype(int)).max() <= 1
        assert marked["class"].iloc[-1] == "← you clicked" and len(marked) == len(scatter) + 1
    # Top-left is (-3, 3), bottom-right (3, -3): z2 grows upwards.
    assert lesson_vae.pixel_to_latent(cell / 2, cell / 2) == pytest.approx((-3.0, 3.0))
    assert lesson_vae.pixel_to_latent(cells * cell - cell / 2, cells * cell - cell / 2) == pytest.approx((3.0, -3.0))


def test_beta_comparison(shell, tmp_path):
    picture, table, note = lesson_vae.beta_comparison(shell, DATASET)
    assert table["model"].tolist() == [f"{DATASET}-vae-16", f"{DATASET}-vae-beta-4"]  # beta 1 first, then 4
    assert table["β"].tolist() == [1.0, 4.0]
    assert picture.size[1] > picture.size[0] / 8 * 2  # three rows: originals and two reconstructions
    torch.manual_seed(0)
    save_checkpoint(VAE(tiny_config("vae")), tmp_path / "synthetic-vae-16", "vae", dataset=DATASET)
    picture, table, note = lesson_vae.beta_comparison(Shell(ModelStore.load(tmp_path)), DATASET)
    assert picture is None and "--beta 4" in note


# --------------------------------------------------------------------------- How a GAN trains


def test_gan_epochs_and_curves(shell):
    name = f"{DATASET}-gan-32"
    slider, picture, caption, losses, outputs, reading = lesson_gan.on_gan(shell, name)
    assert slider.maximum == 3 and slider.value == 3 and picture is not None and "Epoch 3 of 3" in caption
    assert set(losses["curve"]) == {"discriminator loss", "generator loss"} and len(losses) == 6
    assert set(outputs["curve"]) == {"D(x): real images", "D(G(z)): generated"}
    assert outputs["value"].between(0, 1).all() and "After 3 epochs" in reading
    picture, caption = lesson_gan.show_epoch(shell, name, 1)
    assert "Epoch 1 of 3" in caption
    assert "Epoch 1 of 3" in lesson_gan.show_epoch(shell, name, 0)[1]  # nearest grid that exists


def test_mode_collapse_view(shell, root, tmp_path):
    stable, collapsed, figure, note = lesson_gan.mode_collapse(shell, DATASET)
    assert collapsed is None and "collapsed" in note  # none trained yet: how to get one
    folder = tmp_path / "checkpoints"
    for name in ("synthetic-gan-32", "synthetic-classifier"):
        src = root / name
        (folder / name).mkdir(parents=True)
        for f in ("config.json", "model.safetensors"):
            (folder / name / f).write_bytes((src / f).read_bytes())
    (folder / "synthetic-gan-collapsed").mkdir()
    for f in ("config.json", "model.safetensors"):
        (folder / "synthetic-gan-collapsed" / f).write_bytes((root / "synthetic-gan-32" / f).read_bytes())
    shell2 = Shell(ModelStore.load(folder))
    stable, collapsed, figure, note = lesson_gan.mode_collapse(shell2, DATASET)
    assert stable is not None and collapsed is not None and figure is not None
    assert "synthetic-gan-collapsed" in note and "classes covered" in note


def test_inversion_demo_times_both(shell):
    original, vae_image, gan_image, note = lesson_gan.inversion_demo(shell, DATASET, 1)
    assert original is not None and vae_image is not None and gan_image is not None
    assert "one pass" in note and "200 gradient steps" in note


def test_the_three_tabs_build(shell):
    with gr.Blocks() as demo:
        shell.model_picker = gr.Dropdown([], label="Model")
        shell.seed_box = gr.Number(0)
        with gr.Tabs():
            for module in (lesson_compare, lesson_vae, lesson_gan):
                with gr.Tab(module.__name__):
                    module.build(shell)
    names = {d.get("api_name") for d in demo.config["dependencies"]}
    assert {"compare_dataset", "compare_recompute", "vae_explain", "vae_worked_example", "gan_inversion",
            "gan_epoch"} <= names


def test_the_three_families_measured_side_by_side(tmp_path):
    """VAE, GAN and diffusion asked the same questions (genlab.tradeoffs), each through its service."""
    from app_server import add_tiny_diffusion, make_tiny_checkpoints

    three = Shell(ModelStore.load(add_tiny_diffusion(make_tiny_checkpoints(tmp_path))))
    calls = []
    table, note = lesson_compare.measure_three(three, "mnist", 0, lambda f, desc: calls.append(desc))
    assert list(table.columns) == lesson_compare.THREE_WAY_COLUMNS
    rows = {row[0]: row for row in table.values.tolist()}
    assert set(rows) == {"Blur and sharpness", "Coverage", "Likelihood", "Encoder or inversion", "Training stability",
                         "Sampling cost"}
    vae, gan, diffusion = 2, 3, 4
    assert "nats" in rows["Likelihood"][vae] and rows["Likelihood"][gan].startswith("none")
    assert rows["Likelihood"][diffusion].startswith("not computed")
    assert rows["Encoder or inversion"][vae].startswith("encoder, one pass")
    assert rows["Encoder or inversion"][gan].startswith("inversion (a search)")
    assert rows["Encoder or inversion"][diffusion].startswith("ODE backwards")
    assert rows["Sampling cost"][vae].startswith("1 pass,") and rows["Sampling cost"][diffusion].startswith("5 passes (3 Heun")
    assert all(rows["Coverage"][c].startswith("KL ") for c in (vae, gan, diffusion, 5))
    assert "mnist-diffusion-tiny" in note and calls[-1] == "Done"
