"""The "How diffusion works" tab: the forward and reverse strips, the stored quality-against-steps
curve, the sentence when a dataset has no diffusion model, the first view in the page's config, and
its events over the HTTP API. Tiny untrained models on the MNIST subset in data/."""

from __future__ import annotations

import json

import gradio as gr
import pytest
import torch

from genlab import metrics
from genlab.checkpoints import atomic_write_json, load_checkpoint, save_checkpoint
from genlab.models import DiffusionConfig, DiffusionUNet
from genlab.models import diffusion as D
from genlab.ui import lesson_diffusion as L
from genlab.ui.shell import Shell
from genlab.store import ModelStore
from tests.app_server import call, expect_error, fetch_image, make_tiny_checkpoints, running_app

DIFFUSION = "mnist-diffusion"


def tiny_unet() -> DiffusionUNet:
    torch.manual_seed(0)
    model = DiffusionUNet(DiffusionConfig(base_width=8, channel_mults=(1, 2), time_dim=16, sample_steps=3))
    torch.nn.init.normal_(model.out.weight, std=0.05)  # the zero-initialized output would draw flat pictures
    return model.eval()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Tiny MNIST VAE, GAN, classifier and diffusion model; Fashion-MNIST has a VAE but no diffusion model."""
    root = make_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"))
    make_tiny_checkpoints(root, "fashion-mnist")
    save_checkpoint(tiny_unet(), root / DIFFUSION, "diffusion", dataset="mnist", epochs=1)
    return root


@pytest.fixture(scope="module")
def shell(root):
    return Shell(ModelStore.load(root))


def test_the_forward_strip_noises_one_image_step_by_step(shell):
    image = shell.test_images("mnist").images[0]
    frames = L.noised_series(image, seed=3)
    assert frames.shape == (len(L.NOISE_TIMES), 1, 28, 28) and L.NOISE_TIMES[0] == 0 and L.NOISE_TIMES[-1] == 1
    assert torch.allclose(frames[0], image, atol=1e-6)  # t = 0: the image itself
    noise = D.draw_noise((1, 28, 28), torch.Generator().manual_seed(3))
    assert torch.allclose(frames[-1], D.to_image(noise))  # t = 1: the seed's noise alone
    assert torch.equal(frames, L.noised_series(image, seed=3))
    assert not torch.equal(frames[5], L.noised_series(image, seed=4)[5])
    # Farther along, further from the image.
    errors = [float((f - image).abs().mean()) for f in frames]
    assert errors == sorted(errors) and errors[-1] > errors[0] + 0.2

    strip, caption = L.forward_view(shell, "mnist", 2, 3)
    assert strip.size == (len(L.NOISE_TIMES) * (L.CELL + 2) + 2, L.CELL + 4) and "seed 3" in caption


def test_the_reverse_strip_is_the_sampler_step_by_step_and_fixed_by_its_seed(shell):
    model = shell.store.models[DIFFUSION].model
    service = shell.store.service(DIFFUSION)
    trajectory = L.reverse_process(service, seed=7, steps=4)
    assert trajectory.states.shape == trajectory.predictions.shape == (5, 1, 1, 28, 28)
    assert torch.allclose(trajectory.times, torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0]))
    again = L.reverse_process(service, seed=7, steps=4)
    assert torch.equal(trajectory.states, again.states) and torch.equal(trajectory.predictions, again.predictions)
    assert not torch.equal(trajectory.images, L.reverse_process(service, seed=8, steps=4).images)
    # The strip ends where the sampler does, and the samples' first is the strip's.
    samples = D.sample(model, L.SAMPLES_SHOWN, 4, torch.Generator().manual_seed(7))
    assert torch.allclose(trajectory.images[0], samples[0], atol=1e-5)

    strip, caption, grid, grid_caption = L.reverse_view(shell, "mnist", 7, 4)
    assert strip.size == (5 * (L.CELL + 2) + 2, 2 * (L.CELL + 2) + 2)  # 5 times, states over predictions
    assert grid.size == (L.SAMPLES_SHOWN * (L.CELL + 2) + 2, L.CELL + 4)
    assert "4 steps (7 network passes)" in caption and "first is the strip's" in grid_caption
    long_strip, caption, _, _ = L.reverse_view(shell, "mnist", 7, 30)  # 31 states, 11 shown
    assert long_strip.width == L.STRIP_FRAMES * (L.CELL + 2) + 2 and "t = 1, " in caption and caption.count(",") >= 10


def test_strip_frames():
    assert L.strip_frames(3) == [0, 1, 2, 3]
    frames = L.strip_frames(50)
    assert len(frames) == L.STRIP_FRAMES and frames[0] == 0 and frames[-1] == 50 and frames == sorted(set(frames))


@pytest.mark.parametrize("steps", [0, L.MAX_STEPS + 1, 2.5, "many", None])
def test_bad_steps_and_seeds_give_one_sentence(shell, steps):
    with pytest.raises(gr.Error, match="Steps"):
        L.reverse_view(shell, "mnist", 0, steps)
    with pytest.raises(gr.Error, match="Seed"):
        L.reverse_view(shell, "mnist", -1, 4)


def test_a_dataset_without_a_diffusion_model_gets_the_sentence(shell):
    view = L.tab_view(shell, "fashion-mnist", 0, 0, 4)
    note, forward, _, strip, _, samples, _, chart, table, curve_note = view
    assert note == L.missing_sentence("fashion-mnist") == curve_note
    assert "no diffusion model for fashion-mnist" in note and "train/diffusion.py --dataset fashion-mnist" in note
    assert forward is not None  # noising needs no model
    assert strip is None and samples is None and chart is None and table.empty
    with pytest.raises(gr.Error, match="no diffusion model for fashion-mnist"):
        L.reverse_view(shell, "fashion-mnist", 0, 4)


def test_the_stored_curve_is_read_and_shown(shell, root):
    path = metrics.steps_curve_path(root, DIFFUSION)
    chart, table, note = L.curve_view(shell, "mnist")
    assert chart is None and table.empty and f"--steps-curve {DIFFUSION}" in note

    c = load_checkpoint(root / DIFFUSION)
    classifier = shell.store.models["mnist-classifier"].model
    result = metrics.steps_curve(c, classifier, shell.test_images("mnist"), steps=(2, 1), num_samples=40,
                                 timing_images=1, classifier_name="mnist-classifier")
    assert [r["steps"] for r in result["curve"]] == [1, 2] and [r["network_passes"] for r in result["curve"]] == [1, 3]
    atomic_write_json(path, result)
    try:
        chart, table, note = L.curve_view(shell, "mnist")
        assert chart is not None and list(table.columns) == L.CURVE_COLUMNS
        assert table["steps"].tolist() == [1, 2]
        assert table["Fréchet distance ÷ floor"].tolist() == [round(r["fd_over_floor"], 2) for r in result["curve"]]
        assert "40 samples per step count" in note and "earlier training" not in note

        path.write_text(json.dumps({**result, "checkpoint_created": "2000-01-01T00:00:00+00:00"}))
        assert "earlier training" in L.curve_view(shell, "mnist")[2]
        path.write_text("{not json")
        assert L.curve_view(shell, "mnist")[0] is None
    finally:
        path.unlink(missing_ok=True)


def test_the_evaluate_script_stores_the_curve(root, capsys):
    import importlib.util

    from conftest import REPO_ROOT

    spec = importlib.util.spec_from_file_location("evaluate_script", REPO_ROOT / "train" / "evaluate.py")
    evaluate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate)

    out = root / "curve.json"
    assert evaluate.main(["--dataset", "mnist", "--checkpoints", str(root), "--steps-curve", DIFFUSION,
                          "--curve-steps", "1,2", "--num-samples", "40", "--no-progress", "--out", str(out)]) == 0
    assert "2 steps (  3 passes): FD" in capsys.readouterr().out
    stored = json.loads(out.read_text())
    assert stored["model"] == DIFFUSION and [r["steps"] for r in stored["curve"]] == [1, 2]
    assert evaluate.main(["--dataset", "fashion-mnist", "--checkpoints", str(root), "--steps-curve", DIFFUSION,
                          "--num-samples", "40", "--no-progress", "--out", str(out)]) == 1


def test_the_first_view_is_in_the_page_and_a_page_open_queues_nothing(root):
    from genlab.ui.app import build_app

    config = build_app(ModelStore.load(root)).get_config_file()
    by_id = {c["props"].get("elem_id"): c for c in config["components"] if c.get("props", {}).get("elem_id")}
    for elem_id in ("genlab-diffusion-forward", "genlab-diffusion-reverse", "genlab-diffusion-samples"):
        value = by_id[elem_id]["props"].get("value")
        assert value and value.get("url"), f"#{elem_id} has no first view"
    on_load = [d for d in config["dependencies"] if any(t[1] == "load" for t in d["targets"])]
    assert [d for d in on_load if d.get("backend_fn")] == []


def test_the_events_over_http(root):
    with running_app(root) as base:
        event, (strip, caption, samples, samples_caption) = call(base, "diffusion_reverse", ["mnist-vae-16", 5, 3])
        assert event == "complete" and "seed 5, 3 steps" in caption
        assert fetch_image(base, strip).size == (4 * (L.CELL + 2) + 2, 2 * (L.CELL + 2) + 2)
        assert fetch_image(base, samples).width == L.SAMPLES_SHOWN * (L.CELL + 2) + 2
        event, (forward, forward_caption) = call(base, "diffusion_forward", ["mnist-gan-16", 1, 5])
        assert event == "complete" and "seed 5" in forward_caption and fetch_image(base, forward).height == L.CELL + 4
        expect_error(call(base, "diffusion_reverse", ["fashion-mnist-vae-16", 5, 3]), "no diffusion model")
        expect_error(call(base, "diffusion_reverse", ["mnist-vae-16", 5, 1000]), "maximum value 50")
        expect_error(call(base, "diffusion_forward", ["no-such-model", 0, 5]), "no-such-model")
