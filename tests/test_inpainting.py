"""genlab.inpainting on tiny untrained models: masks, the pasted fills, the numbers, and bad masks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from genlab.inpainting import (MASK_PRESETS, bottom_half, centre_box, check_mask, classify, hidden_error,
                               inpaint_gan, inpaint_vae, mask_from_paint, masked_sharpness, paste, preset_mask,
                               random_pixels)
from genlab.latent import invert
from genlab.metrics import sharpness
from genlab.models import GAN, VAE, Classifier

REPO = Path(__file__).resolve().parents[1]

STEPS = 15  # enough to move the latents; the tests check bookkeeping, not quality


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {"vae": VAE(tiny_config("vae")).eval(), "gan": GAN(tiny_config("gan")).eval(),
            "classifier": Classifier(tiny_config("classifier")).eval()}


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    """A bright bar on a dark background, (1, 28, 28)."""
    x = torch.zeros(1, 28, 28)
    x[:, 6:22, 12:16] = 0.9
    return x


INPAINT = {"vae": inpaint_vae, "gan": inpaint_gan}


# ----------------------------------------------------------------------------- masks


@pytest.mark.parametrize("name", MASK_PRESETS)
def test_presets_hide_some_but_not_all(name):
    hidden = preset_mask(name, 28, 28)
    assert hidden.shape == (28, 28) and hidden.dtype == torch.bool
    assert 0 < int(hidden.sum()) < 28 * 28
    assert torch.equal(check_mask(hidden, 28, 28), hidden)


def test_presets_hide_what_they_say():
    assert int(bottom_half(28, 28).sum()) == 14 * 28 and bool(bottom_half(28, 28)[14:].all())
    assert bool(preset_mask("top half", 28, 28)[:14].all()) and not preset_mask("top half", 28, 28)[14:].any()
    assert bool(preset_mask("left half", 28, 28)[:, :14].all()) and not preset_mask("left half", 28, 28)[:, 14:].any()
    assert bool(preset_mask("right half", 28, 28)[:, 14:].all())
    box = centre_box(28, 28)
    assert int(box.sum()) == 14 * 14 and bool(box[7:21, 7:21].all())
    assert int(random_pixels(28, 28).sum()) == 392
    assert torch.equal(random_pixels(28, 28, seed=3), random_pixels(28, 28, seed=3))
    assert not torch.equal(random_pixels(28, 28, seed=3), random_pixels(28, 28, seed=4))
    with pytest.raises(ValueError, match="preset must be one of"):
        preset_mask("a circle", 28, 28)


def test_bad_masks_are_one_clear_sentence():
    with pytest.raises(ValueError, match="Nothing is hidden"):
        check_mask(torch.zeros(28, 28, dtype=torch.bool), 28, 28)
    with pytest.raises(ValueError, match="Everything is hidden"):
        check_mask(torch.ones(28, 28, dtype=torch.bool), 28, 28)
    with pytest.raises(ValueError, match=r"The mask is 20×20 pixels but the image is 28×28"):
        check_mask(torch.zeros(20, 20, dtype=torch.bool), 28, 28)
    with pytest.raises(ValueError, match="The mask is 28×1×28 pixels"):
        check_mask(torch.zeros(28, 1, 28, dtype=torch.bool), 28, 28)
    assert not check_mask(torch.zeros(28, 28), 28, 28, allow_nothing_hidden=True).any()
    assert torch.equal(check_mask(bottom_half(28, 28).float(), 28, 28), bottom_half(28, 28))  # 0/1 numbers


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_inpainting_refuses_bad_masks(models, image, kind):
    with pytest.raises(ValueError, match="Everything is hidden"):
        INPAINT[kind](models[kind], image, torch.ones(28, 28, dtype=torch.bool), fills=1, steps=2)
    with pytest.raises(ValueError, match="The mask is 14×14 pixels"):
        INPAINT[kind](models[kind], image, torch.ones(14, 14, dtype=torch.bool), fills=1, steps=2)
    with pytest.raises(ValueError, match="fills"):
        INPAINT[kind](models[kind], image, bottom_half(28, 28), fills=0, steps=2)
    with pytest.raises(ValueError, match="1×28×28 images"):
        INPAINT[kind](models[kind], torch.rand(1, 32, 32), bottom_half(32, 32), fills=1, steps=2)


def test_mask_from_paint_averages_down():
    paint = torch.zeros(224, 224)
    paint[112:] = 1.0
    assert torch.equal(mask_from_paint(paint.numpy(), 28, 28), bottom_half(28, 28))
    paint = torch.zeros(280, 280)
    paint[:, :60] = 1.0  # 6 model pixels fully painted, the 7th ("60 / 10") not at all
    hidden = mask_from_paint(paint.numpy(), 28, 28)
    assert int(hidden.sum()) == 6 * 28 and bool(hidden[:, :6].all())
    assert not mask_from_paint(torch.full((28, 28), 0.4).numpy(), 28, 28).any()  # less than half painted
    with pytest.raises(ValueError, match="The mask is 100×50 pixels but the image is 28×28"):
        mask_from_paint(torch.zeros(50, 100).numpy(), 28, 28)


# ----------------------------------------------------------------------------- fills


@pytest.mark.parametrize("kind", ["vae", "gan"])
@pytest.mark.parametrize("preset", ["bottom half", "random pixels"])
def test_a_fill_keeps_the_visible_pixels_exactly(models, image, kind, preset):
    hidden = preset_mask(preset, 28, 28)
    result = INPAINT[kind](models[kind], image, hidden, fills=3, steps=STEPS, seed=1)
    assert result.completed.shape == (3, 1, 28, 28) and result.latents.shape[0] == 3
    for fill, decoded in zip(result.completed, result.decoded):
        assert torch.equal(fill[:, ~hidden], image[:, ~hidden])  # bit for bit
        assert torch.equal(fill[:, hidden], decoded[:, hidden])  # the model's pixels in the hole
    assert not torch.equal(result.completed[0], image)  # something was filled in


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_the_fill_of_an_image_with_nothing_hidden_is_the_image(models, image, kind):
    nothing = torch.zeros(28, 28, dtype=torch.bool)
    result = INPAINT[kind](models[kind], image, nothing, fills=2, steps=3, original=image)
    assert all(torch.equal(fill, image) for fill in result.completed)
    assert torch.isnan(result.hidden_error).all() and torch.isnan(result.sharpness).all()  # no hidden region


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_a_seeded_fill_is_reproducible(models, image, kind):
    hidden = centre_box(28, 28)
    a = INPAINT[kind](models[kind], image, hidden, fills=3, steps=STEPS, seed=7)
    b = INPAINT[kind](models[kind], image, hidden, fills=3, steps=STEPS, seed=7)
    c = INPAINT[kind](models[kind], image, hidden, fills=3, steps=STEPS, seed=8)
    assert torch.equal(a.completed, b.completed) and torch.equal(a.latents, b.latents)
    assert not torch.equal(a.latents, c.latents)
    # Each fill has its own start, so the guesses differ.
    assert not torch.equal(a.latents[0], a.latents[1])


class LinearDecoder(torch.nn.Module):
    """A model whose pictures are sigmoid(W z): any picture it draws, its latent can be found again.

    Plays a VAE (decode_logits / decode) and a GAN generator (forward) for the search tests: an
    untrained tiny network draws nearly the same grey picture from every latent.
    """

    def __init__(self, latent_dim: int = 4) -> None:
        super().__init__()
        self.config = tiny_config("vae", latent_dim=latent_dim)
        self.latent_dim = latent_dim
        g = torch.Generator().manual_seed(0)
        self.weight = torch.nn.Parameter(3 * torch.randn(28 * 28, latent_dim, generator=g))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.weight.T).view(-1, 1, 28, 28)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    forward = decode


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_the_fill_recovers_a_hidden_part_the_model_can_draw(kind, monkeypatch):
    import genlab.inpainting

    # The search itself, every step run: the plateaus that end it early are tuned on the shipped
    # models (bench/inpainting.py), and this toy's loss still falls slowly when they would stop.
    monkeypatch.setattr(genlab.inpainting, "TOLERANCE", None)
    monkeypatch.setattr(genlab.inpainting, "GAN_TOLERANCE", None)
    model = LinearDecoder()
    truth = model.decode(torch.tensor([[0.8, -0.5, 0.3, 0.6]])).detach()[0]  # (1, 28, 28)
    hidden = bottom_half(28, 28)
    shown = paste(torch.full_like(truth, 0.5)[None], truth[None], hidden)[0]  # the hole greyed out
    barely = INPAINT[kind](model, shown, hidden, fills=2, steps=1, seed=0, original=truth)
    searched = INPAINT[kind](model, shown, hidden, fills=2, steps=300, seed=0, original=truth)
    assert float(searched.visible_error.max()) < 0.2 * float(barely.visible_error.min())
    assert float(searched.hidden_error.max()) < 0.2 * float(barely.hidden_error.min())


def test_progress_is_reported(models, image):
    for kind in ("vae", "gan"):
        calls = []
        INPAINT[kind](models[kind], image, bottom_half(28, 28), fills=2, steps=10,
                      progress=lambda step, steps: calls.append((step, steps)))
        assert calls and calls[-1] == (10, 10), kind


# ----------------------------------------------------------------------------- the numbers


def test_numbers_under_each_fill(models, image):
    hidden = bottom_half(28, 28)
    original = image.clone()
    original[:, 20:, :] = 0.5  # the truth below differs from what the image shows
    result = inpaint_vae(models["vae"], image, hidden, fills=2, steps=STEPS, original=original,
                         classifier=models["classifier"])
    expected = (result.completed - original).pow(2)[:, :, hidden].flatten(1).mean(1)
    assert torch.allclose(result.hidden_error, expected)
    assert result.predicted.shape == (2,) and int(result.predicted.max()) < 4
    assert bool(((result.confidence > 0) & (result.confidence <= 1)).all())
    visible = ~hidden
    assert torch.allclose(result.visible_error, (result.decoded - image).pow(2)[:, :, visible].flatten(1).mean(1))
    assert inpaint_vae(models["vae"], image, hidden, fills=1, steps=2).hidden_error is None


def test_masked_sharpness_is_the_variance_of_the_laplacian_where_hidden():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 1, 28, 28, generator=g)
    everything = torch.ones(28, 28, dtype=torch.bool)
    assert torch.allclose(masked_sharpness(images, everything), sharpness(images))
    flat = torch.full((1, 1, 28, 28), 0.3)
    assert float(masked_sharpness(flat, bottom_half(28, 28))[0]) == pytest.approx(0.0, abs=1e-10)
    sharp_below = flat.clone()
    sharp_below[..., 14:, :] = torch.rand(14, 28, generator=g)
    assert float(masked_sharpness(sharp_below, bottom_half(28, 28))[0]) > 0.1
    assert float(masked_sharpness(sharp_below, preset_mask("top half", 28, 28))[0]) < float(
        masked_sharpness(sharp_below, bottom_half(28, 28))[0])


def test_paste_and_hidden_error():
    a, b = torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)
    hidden = torch.zeros(4, 4, dtype=torch.bool)
    hidden[0, :2] = True
    out = paste(b, a, hidden)
    assert float(out.sum()) == 2 * 2
    assert torch.equal(hidden_error(out, a, hidden), torch.ones(2))
    labels, confidence = classify(Classifier(tiny_config("classifier")), torch.rand(5, 1, 28, 28))
    assert labels.shape == confidence.shape == (5,)


# ----------------------------------------------------------------------------- invert's pixel weights


def test_invert_with_pixel_weights_matches_only_the_weighted_pixels(models):
    gan = models["gan"]
    target = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    visible = (~bottom_half(28, 28)).float()[None, None]
    result = invert(gan, target, steps=5, restarts=2, seed=0, pixel_weights=visible)
    expected = (result.reconstructions - target).pow(2)[:, :, :14].flatten(1).mean(1)
    assert torch.allclose(result.errors, expected, atol=1e-6)
    # Weights of one everywhere are the plain inversion.
    plain = invert(gan, target, steps=5, restarts=2, seed=0)
    ones = invert(gan, target, steps=5, restarts=2, seed=0, pixel_weights=torch.ones(1, 1, 28, 28))
    assert torch.allclose(plain.latents, ones.latents, atol=1e-6)
    with pytest.raises(ValueError, match="do not fit"):
        invert(gan, target, steps=1, pixel_weights=torch.ones(14, 14))
    with pytest.raises(ValueError, match="no pixel to match"):
        invert(gan, target, steps=1, pixel_weights=torch.zeros(1, 1, 28, 28))
    with pytest.raises(ValueError, match="non-negative"):
        invert(gan, target, steps=1, pixel_weights=-torch.ones(1, 1, 28, 28))


# ----------------------------------------------------------------------------- the benchmark and its file


def test_the_benchmark_writes_what_the_tab_reads(models, tmp_path):
    from genlab.checkpoints import Checkpoint, atomic_write_json
    from genlab.data import synthetic_dataset
    from genlab.inpainting import INPAINTING_COLUMNS, inpainting_path, inpainting_rows, read_inpainting
    from bench.inpainting import measure_dataset  # the repository root is on sys.path (conftest)

    data = synthetic_dataset(40, 28, 1, num_classes=4, seed=0)
    ckpts = [Checkpoint(f"synthetic-{kind}", kind, models[kind], tmp_path) for kind in ("vae", "gan", "classifier")]
    result = measure_dataset("synthetic", *ckpts, data, images=12, steps=3, seed=0, log=lambda line: None)
    assert result["images"] == 12 and result["models"]["gan"] == "synthetic-gan"
    real, black = result["results"]["real"], result["results"]["visible_only"]
    assert real["hidden_mse"] == 0.0 and black["hidden_mse"] > 0
    for key in ("vae", "gan"):
        entry = result["results"][key]
        assert entry["hidden_mse"] >= 0 and entry["sharpness"] >= 0 and 0 <= entry["accuracy"] <= 1
    assert isinstance(result["claim"]["holds"], bool) and result["claim"]["verdict"]

    assert read_inpainting(tmp_path, "synthetic") is None
    atomic_write_json(inpainting_path(tmp_path, "synthetic"), result)
    stored = read_inpainting(tmp_path, "synthetic")
    rows = inpainting_rows(stored)
    assert [r[0] for r in rows][:2] == ["VAE (synthetic-vae)", "GAN (synthetic-gan)"]
    assert all(len(r) == len(INPAINTING_COLUMNS) for r in rows) and rows[2][1] == "0.0000"
    inpainting_path(tmp_path, "broken").write_text("{not json")
    assert read_inpainting(tmp_path, "broken") is None


@pytest.mark.shipped
def test_the_shipped_gans_fills_of_one_image_differ():
    """A class-reading GAN's fills once all began from the same best start, so its 4 fills were one."""
    from genlab.checkpoints import load_checkpoint
    from genlab.data import load_dataset

    gan = load_checkpoint(REPO / "checkpoints" / "mnist-gan-32")
    image = load_dataset("mnist", "test").images[0]
    result = inpaint_gan(gan.model, image, bottom_half(28, 28), fills=4, steps=30, seed=0)
    completed = result.completed.flatten(1)
    assert all(not torch.equal(completed[0], completed[i]) for i in range(1, 4))


# ----------------------------------------------------------------------------- several requests searched together


def _requests(kind: str, model) -> list:
    """Fill jobs unlike each other: fills 1-6 (padding included), masks, seeds, step budgets, images."""
    from genlab.inpainting import _job

    g = torch.Generator().manual_seed(0)
    out = []
    for i, (fills, preset, steps) in enumerate([(1, "bottom half", 12), (3, "random pixels", 5), (4, "centre box", 20),
                                                (6, "left half", 9), (2, "top half", 15)]):
        image = torch.rand(1, 28, 28, generator=g)
        out.append(lambda fills=fills, preset=preset, steps=steps, image=image, i=i: _job(
            model, kind, image[None].expand(fills, -1, -1, -1).contiguous(), preset_mask(preset, 28, 28, seed=i),
            steps, 10 + i, None, 0.002))
    return out


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_requests_searched_together_get_what_each_gets_alone(models, kind):
    """A class's fills run as one search (genlab.inpainting.FillBatcher): each student's answer must not
    depend on who else asked at the same time, bit for bit."""
    import threading
    import time

    from genlab.inpainting import batcher, run_fills, wait_for

    makers = _requests(kind, models[kind])
    alone = [run_fills(models[kind], [make()])[0] for make in makers]
    together = run_fills(models[kind], [make() for make in makers])
    answers = [None] * len(makers)

    def ask(i: int) -> None:  # staggered: each joins the running search at some step of the others'
        time.sleep(0.01 * i)
        answers[i] = wait_for(batcher(models[kind]).submit(makers[i]()))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(makers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for a, b, c in zip(alone, together, answers):
        assert a.error is None and a.latents.shape[0] == a.images.shape[0]
        assert torch.equal(a.latents, b.latents) and torch.equal(a.decoded, b.decoded)
        assert torch.equal(a.latents, c.latents) and torch.equal(a.decoded, c.decoded)


def test_one_bad_request_does_not_fail_the_others(models):
    from genlab.inpainting import FillJob, batcher, run_fills, wait_for

    makers = _requests("vae", models["vae"])
    good = [make() for make in makers[:2]]
    bad = FillJob(torch.rand(2, 1, 20, 20), bottom_half(20, 20), steps=5)  # the wrong size, past the checks
    run_fills(models["vae"], [good[0], bad, good[1]])
    assert isinstance(bad.error, Exception) and good[0].error is None and good[1].error is None
    assert torch.equal(good[0].latents, run_fills(models["vae"], [makers[0]()])[0].latents)
    with pytest.raises(Exception):
        wait_for(batcher(models["vae"]).submit(FillJob(torch.rand(2, 1, 20, 20), bottom_half(20, 20), steps=5)))
    assert wait_for(batcher(models["vae"]).submit(makers[1]())).error is None  # the batcher still serves


def test_progress_reaches_the_thread_that_asked(models, image):
    import threading

    for kind in ("vae", "gan"):
        threads = set()
        INPAINT[kind](models[kind], image, bottom_half(28, 28), fills=2, steps=10,
                      progress=lambda step, steps: threads.add(threading.get_ident()))
        assert threads == {threading.get_ident()}, kind


@pytest.mark.shipped
@pytest.mark.parametrize("name", ["mnist-vae-16", "mnist-gan-32"])
def test_the_shipped_models_answer_a_class_as_each_student_alone(name):
    from genlab.checkpoints import load_checkpoint
    from genlab.data import load_dataset
    from genlab.inpainting import _job, run_fills

    model = load_checkpoint(REPO / "checkpoints" / name).model
    images = load_dataset("mnist", "test").images[:6]
    kind = "vae" if "vae" in name else "gan"

    def make(i: int):
        fills = [1, 4, 3, 5, 2, 4][i]
        return _job(model, kind, images[i][None].expand(fills, -1, -1, -1).contiguous(),
                    preset_mask(MASK_PRESETS[i], 28, 28), [20, 40, 30, 25, 40, 35][i], i, None, 0.002)

    together = run_fills(model, [make(i) for i in range(6)])
    for i, job in enumerate(together):
        assert torch.equal(job.decoded, run_fills(model, [make(i)])[0].decoded), i
