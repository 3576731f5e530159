"""Known answers for genlab.metrics, and a small end-to-end comparison on tiny models."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import REPO_ROOT, tiny_config
from genlab import metrics
from genlab.checkpoints import Checkpoint, atomic_write_json, load_checkpoint, save_checkpoint
from genlab.data import synthetic_dataset
from genlab.models import GAN, VAE, Classifier


# --------------------------------------------------------------------------- Fréchet distance


def _with_exact_moments(n: int, mean: torch.Tensor, cov: torch.Tensor, seed: int) -> torch.Tensor:
    """n points (n, F) whose sample mean and (n - 1)-normalized covariance are exactly `mean` and `cov`."""
    x = torch.randn(n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = x - x.mean(0)
    white = torch.linalg.cholesky(x.T @ x / (n - 1))
    x = x @ torch.linalg.inv(white).T  # now the sample covariance is the identity
    return x @ torch.linalg.cholesky(cov).T + mean


def test_frechet_distance_of_a_set_with_itself_is_zero():
    feats = torch.randn(500, 32, generator=torch.Generator().manual_seed(0)).relu()
    assert metrics.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-6)
    assert metrics.frechet_distance(feats, feats.flip(0)) == pytest.approx(0.0, abs=1e-6)  # order does not matter


def test_frechet_distance_between_two_gaussians_matches_the_closed_form():
    # 2x2 covariances that do not commute; for 2x2 PSD M, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)).
    mean_a, mean_b = torch.tensor([0.0, 1.0], dtype=torch.float64), torch.tensor([2.0, -1.0], dtype=torch.float64)
    cov_a = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=torch.float64)
    cov_b = torch.tensor([[0.5, -0.3], [-0.3, 1.5]], dtype=torch.float64)
    product = cov_a @ cov_b
    tr_sqrt = math.sqrt(float(torch.trace(product)) + 2 * math.sqrt(float(torch.linalg.det(product))))
    expected = float((mean_a - mean_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b)) - 2 * tr_sqrt
    a = _with_exact_moments(300, mean_a, cov_a, seed=1)
    b = _with_exact_moments(400, mean_b, cov_b, seed=2)
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert metrics.frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_in_one_dimension_is_mean_and_std_gap():
    a = _with_exact_moments(50, torch.tensor([1.0], dtype=torch.float64), torch.tensor([[4.0]], dtype=torch.float64), 3)
    b = _with_exact_moments(80, torch.tensor([-2.0], dtype=torch.float64), torch.tensor([[1.0]], dtype=torch.float64), 4)
    assert metrics.frechet_distance(a, b) == pytest.approx(3.0**2 + (2.0 - 1.0) ** 2, rel=1e-9)


def test_frechet_distance_refuses_mismatched_features():
    with pytest.raises(ValueError):
        metrics.frechet_distance(torch.zeros(10, 3), torch.zeros(10, 4))


# --------------------------------------------------------------------------- mode collapse


def test_kl_to_uniform_known_answers():
    assert metrics.kl_to_uniform(torch.full((10,), 0.1)) == pytest.approx(0.0, abs=1e-12)
    one_class = torch.zeros(10)
    one_class[3] = 1.0
    assert metrics.kl_to_uniform(one_class) == pytest.approx(math.log(10))
    assert metrics.kl_to_uniform([0.5, 0.5, 0.0, 0.0]) == pytest.approx(math.log(2))


def test_class_histogram_from_labels_and_from_probabilities():
    labels = torch.tensor([0, 0, 1, 3])
    assert metrics.class_histogram(labels, 4).tolist() == [0.5, 0.25, 0.0, 0.25]
    logits = F.one_hot(labels, 4).float() * 5
    assert metrics.class_histogram(logits, 4).tolist() == [0.5, 0.25, 0.0, 0.25]
    with pytest.raises(ValueError):
        metrics.class_histogram(torch.tensor([0, 4]), 4)


def test_classes_covered_counts_classes_above_the_threshold():
    hist = torch.tensor([0.5, 0.3, 0.19, 0.01])
    assert metrics.classes_covered(hist) == 3  # default threshold 0.2 / 4 = 0.05
    assert metrics.classes_covered(hist, threshold=0.25) == 2
    assert metrics.classes_covered(torch.full((10,), 0.1)) == 10


# --------------------------------------------------------------------------- sharpness


def test_sharpness_ranks_a_blurred_image_below_the_original():
    images = synthetic_dataset(16).images
    blurred = F.avg_pool2d(images, 3, stride=1, padding=1)
    sharp, blurry = metrics.sharpness(images), metrics.sharpness(blurred)
    assert sharp.shape == (16,)
    assert bool((blurry < sharp).all())
    assert metrics.sharpness(torch.full((2, 1, 28, 28), 0.5)).tolist() == [0.0, 0.0]  # flat: no edges


# --------------------------------------------------------------------------- path length


def test_path_length_of_a_constant_path_is_zero():
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    vae = VAE(tiny_config("vae")).eval()
    clf = Classifier(tiny_config("classifier")).eval()
    assert metrics.path_length(vae.decode, clf.features, z, z.clone(), steps=3) == 0.0
    other = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    assert metrics.path_length(vae.decode, clf.features, z, other, steps=3) > 0.0


def test_path_length_of_a_linear_map_is_the_squared_distance():
    # With g and f both linear, every small step of size eps changes f(g(z)) by eps * (z1 - z0).
    z0 = torch.randn(16, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    z1 = torch.randn(16, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    expected = float((z1 - z0).pow(2).sum(1).mean())
    got = metrics.path_length(lambda z: 2 * z, lambda x: x / 2, z0, z1, steps=4, eps=1e-3)
    assert got == pytest.approx(expected, rel=1e-6)


def test_path_length_is_seeded():
    vae = VAE(tiny_config("vae")).eval()
    clf = Classifier(tiny_config("classifier")).eval()
    z0, z1 = torch.randn(2, 6, 4, generator=torch.Generator().manual_seed(4))
    a = metrics.path_length(vae.decode, clf.features, z0, z1, seed=7)
    assert metrics.path_length(vae.decode, clf.features, z0, z1, seed=7) == a


# --------------------------------------------------------------------------- precision / recall, stability


def test_precision_recall_of_identical_and_disjoint_sets():
    real = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    assert metrics.precision_recall(real, real.clone()) == (1.0, 1.0)
    far = real + 100.0
    assert metrics.precision_recall(real, far) == (0.0, 0.0)
    # Fakes on one side of a 2-d cloud (a third of it): realistic (precision 1) but not diverse (low recall).
    cloud = torch.randn(400, 2, generator=torch.Generator().manual_seed(0))
    side = cloud[cloud[:, 0] > 0.5]
    precision, recall = metrics.precision_recall(cloud, side)
    assert precision == 1.0 and recall < 0.5


def test_oscillation_ranks_a_zigzag_above_a_smooth_curve():
    smooth = [10.0 - 0.5 * i for i in range(12)]
    zigzag = [5.0 + (1.0 if i % 2 else -1.0) for i in range(12)]
    assert metrics.oscillation(smooth) == pytest.approx(0.0, abs=1e-12)
    assert metrics.oscillation(zigzag) > 0.3
    assert math.isnan(metrics.oscillation([1.0, 2.0]))


# --------------------------------------------------------------------------- likelihood


def _trained_vae(steps: int = 200) -> tuple[VAE, torch.Tensor]:
    """A tiny VAE trained for `steps` Adam steps on synthetic bars, and its training images."""
    torch.manual_seed(0)
    data = synthetic_dataset(512, seed=0).images
    vae = VAE(tiny_config("vae"))
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for step in range(steps):
        idx = torch.randint(0, len(data), (64,), generator=g)
        loss = vae.loss(data[idx], generator=g).total
        opt.zero_grad()
        loss.backward()
        opt.step()
    return vae.eval(), data


def _check_iwae_ordering(vae: torch.nn.Module, images: torch.Tensor) -> None:
    elbo_nll = metrics.negative_elbo(vae, images, seed=0)
    nll = {k: metrics.iwae_nll(vae, images, k=k, seed=0) for k in (1, 8, 64)}
    # k = 1 is a Monte-Carlo estimate of the ELBO itself; the two agree up to noise.
    assert nll[1] == pytest.approx(elbo_nll, rel=0.02)
    # The bound tightens with k: -log p(x) estimates fall. Gaps on a trained VAE are far above the noise.
    assert nll[8] < nll[1] - 0.1
    assert nll[64] < nll[8]
    assert nll[64] <= elbo_nll


def test_iwae_bound_is_above_the_elbo_and_grows_with_k():
    vae, data = _trained_vae()
    _check_iwae_ordering(vae, data[:256])  # gaps here: about 1.7 nats (k 1 -> 8) and 0.7 (8 -> 64)


@pytest.mark.shipped
def test_iwae_on_a_shipped_vae():
    folder = REPO_ROOT / "checkpoints" / "mnist-vae-16"
    if not (folder / "model.safetensors").is_file():
        pytest.skip("checkpoints/mnist-vae-16 is not there yet")
    from genlab.data import DataError, load_dataset

    try:
        test = load_dataset("mnist", "test")
    except DataError:
        pytest.skip("MNIST is not available here")
    _check_iwae_ordering(load_checkpoint(folder).model, test.images[:200])


# --------------------------------------------------------------------------- the whole comparison


def _tiny_checkpoints(root: Path) -> dict[str, Checkpoint]:
    torch.manual_seed(0)
    out = {}
    for kind, model in (("vae", VAE(tiny_config("vae"))), ("gan", GAN(tiny_config("gan"))),
                        ("classifier", Classifier(tiny_config("classifier")))):
        folder = save_checkpoint(model, root / f"synthetic-{kind}", kind, dataset="synthetic")
        out[kind] = load_checkpoint(folder)
    atomic_write_json(out["vae"].path / "history.json", [{"epoch": e + 1, "loss": 100.0 - e} for e in range(8)])
    atomic_write_json(out["gan"].path / "history.json",
                      [{"epoch": e + 1, "loss_d": 1.0 + 0.3 * (-1) ** e, "loss_g": 0.8} for e in range(8)])
    return out


def test_compare_models_fills_every_row(tmp_path):
    models = _tiny_checkpoints(tmp_path)
    test = synthetic_dataset(128, seed=1)
    calls = []
    result = metrics.compare_models(models["vae"], models["gan"], models["classifier"], test, num_samples=64,
                                    seed=0, progress=lambda f, d: calls.append(f), iwae_images=16, iwae_k=4,
                                    encoder_images=2, inversion_steps=3, inversion_restarts=1, ppl_pairs=8)
    m = result["metrics"]
    assert result["models"] == {"vae": "synthetic-vae", "gan": "synthetic-gan", "classifier": "synthetic-classifier"}
    assert calls[0] == 0.0 and calls[-1] == 1.0 and calls == sorted(calls)
    for key in ("vae", "gan", "real"):
        assert m["sharpness"][key] >= 0 and math.isfinite(m["frechet_distance"][key])
        assert sum(m["class_distribution"][key]["histogram"]) == pytest.approx(1.0, abs=1e-4)
    assert m["stability"]["vae_loss"] == pytest.approx(0.0, abs=1e-12)  # a straight line does not wobble
    assert m["stability"]["gan_loss_d"] > 0.3
    assert m["likelihood"]["vae_iwae_nll"] <= m["likelihood"]["vae_negative_elbo"] + 1.0
    assert m["encoder"]["images"] == 2 and m["encoder"]["gan_seconds"] > 0
    # The floor is the mean over five shuffles; the first is the split the models are measured on.
    floor = m["floor"]
    assert floor["seeds"] == [0, 1, 2, 3, 4] and len(set(floor["frechet_distance"])) == 5
    assert m["frechet_distance"]["real"] == pytest.approx(sum(floor["frechet_distance"]) / 5)
    assert m["recall"]["real"] == pytest.approx(sum(floor["recall"]) / 5)
    assert all(0.0 <= m["class_distribution"][k]["confident"] <= 1.0 for k in ("vae", "gan", "real"))
    rows = metrics.comparison_rows(result)
    assert "mean of 5 shuffles" in rows[-2][4]
    assert [r[0] for r in rows] == ["Sharpness", "Latent smoothness", "Training stability", "Likelihood", "Encoder",
                                    "Mode collapse", "Realism", "Fidelity / diversity"]
    assert all(len(r) == len(metrics.TABLE_COLUMNS) for r in rows)
    # Seeded: the same call gives the same numbers.
    again = metrics.compare_models(models["vae"], models["gan"], models["classifier"], test, num_samples=64,
                                   seed=0, iwae_images=16, iwae_k=4, encoder_images=2, inversion_steps=3,
                                   inversion_restarts=1, ppl_pairs=8)
    assert again["metrics"]["frechet_distance"] == m["frechet_distance"]
    assert again["metrics"]["path_length"] == m["path_length"]


def test_choose_models_prefers_the_standard_names():
    infos = {
        "mnist-vae-2": {"kind": "vae", "dataset": "mnist", "model_config": {"latent_dim": 2, "beta": 1.0}},
        "mnist-vae-16": {"kind": "vae", "dataset": "mnist", "model_config": {"latent_dim": 16, "beta": 1.0}},
        "mnist-vae-beta-4": {"kind": "vae", "dataset": "mnist", "model_config": {"latent_dim": 16, "beta": 4.0}},
        "mnist-gan-collapsed": {"kind": "gan", "dataset": "mnist", "model_config": {"latent_dim": 32}},
        "mnist-gan-32": {"kind": "gan", "dataset": "mnist", "model_config": {"latent_dim": 32}},
        "fashion-mnist-classifier": {"kind": "classifier", "dataset": "fashion-mnist", "model_config": {}},
    }
    assert metrics.choose_models(infos, "mnist") == {"vae": "mnist-vae-16", "gan": "mnist-gan-32", "classifier": None}
    del infos["mnist-gan-32"]
    assert metrics.choose_models(infos, "mnist")["gan"] is None  # never the collapsed one


def _evaluate_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("evaluate_script", REPO_ROOT / "train" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluate_script_writes_the_comparison(tmp_path, capsys):
    _tiny_checkpoints(tmp_path)
    evaluate = _evaluate_script()
    assert evaluate.main(["--dataset", "synthetic", "--checkpoints", str(tmp_path), "--num-samples", "40",
                          "--no-progress"]) == 0
    assert "Saved" in capsys.readouterr().out
    result = metrics.read_comparison(tmp_path, "synthetic")
    assert result is not None and result["models"]["gan"] == "synthetic-gan"
    assert set(result["gan_class_histograms"]) == {"synthetic-gan"}
    assert evaluate.main(["--dataset", "mnist", "--checkpoints", str(tmp_path), "--no-progress"]) == 1
    assert "There is no vae for 'mnist'" in capsys.readouterr().err
