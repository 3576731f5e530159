"""Diffusion (flow matching): the U-Net and the latent prior, their sampling, inversion, inpainting,
checkpoints and training tasks; the shipped diffusion checkpoints sample deterministically."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import quick_train_config, tiny_config
from genlab import checkpoints as ckpt
from genlab import metrics
from genlab.data import synthetic_dataset
from genlab.models import VAE, DiffusionConfig, DiffusionUNet, LatentDiffusion, LatentDiffusionConfig
from genlab.models import diffusion as D
from genlab.training import Dist, train
from genlab.training.tasks import TASKS

TINY = dict(base_width=8, channel_mults=(1, 2), time_dim=16, sample_steps=3)


def tiny_unet(**overrides) -> DiffusionUNet:
    torch.manual_seed(0)
    model = DiffusionUNet(DiffusionConfig(**{**TINY, **overrides}))
    # The zero-initialized output would make every sample the same flat picture: give it weights.
    torch.nn.init.normal_(model.out.weight, std=0.05)
    return model.eval()


def tiny_prior(vae_name: str = "tiny-vae", latent_dim: int = 4) -> LatentDiffusion:
    torch.manual_seed(0)
    prior = LatentDiffusion(LatentDiffusionConfig(vae=vae_name, latent_dim=latent_dim, width=16, depth=2,
                                                  time_dim=16, sample_steps=3))
    torch.nn.init.normal_(prior.out.weight, std=0.05)
    return prior.eval()


# --------------------------------------------------------------------------- the model


def test_config_checks_and_json_round_trip():
    with pytest.raises(ValueError, match="divisible"):
        DiffusionConfig(image_size=28, channel_mults=(1, 2, 2, 2))
    with pytest.raises(ValueError, match="base_width"):
        DiffusionConfig(base_width=12)
    c = DiffusionConfig(**TINY)
    again = DiffusionConfig(**json.loads(json.dumps(dataclasses.asdict(c))))
    assert again == c and again.channel_mults == (1, 2)
    with pytest.raises(ValueError, match="latent_mean"):
        LatentDiffusionConfig(latent_dim=3, latent_mean=[0.0, 1.0])


@pytest.mark.parametrize("size,channels,mults", [(28, 1, (1, 2)), (32, 3, (1, 2, 2))])
def test_unet_shapes(size, channels, mults):
    model = tiny_unet(image_size=size, channels=channels, channel_mults=mults)
    x = torch.randn(3, channels, size, size)
    assert model(x, torch.rand(3)).shape == x.shape
    assert model(x, torch.tensor(0.5)).shape == x.shape  # one time for the batch


def test_sampling_is_deterministic_per_seed_and_in_range():
    model = tiny_unet()
    a = D.sample(model, 4, steps=3, generator=torch.Generator().manual_seed(7))
    b = D.sample(model, 4, steps=3, generator=torch.Generator().manual_seed(7))
    c = D.sample(model, 4, steps=3, generator=torch.Generator().manual_seed(8))
    assert a.shape == (4, 1, 28, 28) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    # batching does not change a picture: the noise is drawn once, on the CPU
    d = D.sample(model, 4, steps=3, generator=torch.Generator().manual_seed(7), batch_size=3)
    assert torch.allclose(a, d, atol=1e-5)
    # Euler works too, and the default step count is the config's
    assert D.sample(model, 2, generator=torch.Generator().manual_seed(0), method="euler").shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="unconditional"):
        D.sample(model, 2, labels=torch.tensor([0, 1]))


def test_conditional_guidance_and_unconditional_default():
    model = tiny_unet(num_classes=3)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    free = D.sample(model, 3, steps=2, generator=g())
    guided = D.sample(model, 3, steps=2, generator=g(), labels=torch.tensor([0, 1, 2]), guidance=2.0)
    assert free.shape == guided.shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match="labels"):
        D.sample(model, 3, steps=2, labels=torch.tensor([0, 1]))


def test_invert_then_generate_is_deterministic_and_shaped():
    model = tiny_unet()
    images = torch.rand(2, 1, 28, 28)
    noise = D.invert(model, images, steps=4)
    assert noise.shape == images.shape and torch.equal(noise, D.invert(model, images, steps=4))
    back = D.generate(model, noise, steps=4)
    assert back.shape == images.shape and torch.isfinite(back).all()
    # an untrained-but-smooth field is nearly reversible with enough steps
    fine = D.generate(model, D.invert(model, images, steps=16), steps=16)
    assert (fine - images).abs().mean() < (torch.rand_like(images) - images).abs().mean()


def test_trajectory_ends_where_sample_ends():
    model = tiny_unet()
    traj = D.denoise_trajectory(model, 2, steps=3, generator=torch.Generator().manual_seed(3))
    final = D.sample(model, 2, steps=3, generator=torch.Generator().manual_seed(3))
    assert traj.states.shape == (4, 2, 1, 28, 28) and traj.predictions.shape == traj.states.shape
    assert traj.times.tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    assert torch.allclose(traj.images, final, atol=1e-6)


def test_add_noise_endpoints():
    x0 = torch.rand(2, 1, 28, 28)
    noise = torch.randn_like(x0)
    assert torch.allclose(D.to_image(D.add_noise(x0, 0.0, noise)), x0, atol=1e-6)
    assert torch.equal(D.add_noise(x0, 1.0, noise), noise)
    per_image = D.add_noise(x0, torch.tensor([0.0, 1.0]), noise)
    assert torch.allclose(per_image[0], D.to_model_space(x0[0])) and torch.equal(per_image[1], noise[1])


@pytest.mark.parametrize("resample", [1, 2])
def test_inpaint_keeps_the_visible_pixels(resample):
    model = tiny_unet()
    image = torch.rand(1, 28, 28)
    hidden = torch.zeros(28, 28, dtype=torch.bool)
    hidden[14:] = True
    a = D.inpaint(model, image, hidden, steps=3, generator=torch.Generator().manual_seed(1), resample=resample)
    b = D.inpaint(model, image, hidden, steps=3, generator=torch.Generator().manual_seed(1), resample=resample)
    assert a.shape == image.shape and torch.equal(a, b)
    assert torch.equal(a[:, :14], image[:, :14])
    assert not torch.equal(a[:, 14:], image[:, 14:])
    batch = D.inpaint(model, image[None].repeat(2, 1, 1, 1), hidden, steps=2, generator=torch.Generator())
    assert batch.shape == (2, 1, 28, 28) and torch.equal(batch[:, :, :14], image[None, :, :14].repeat(2, 1, 1, 1))


# --------------------------------------------------------------------------- the latent prior


def test_latent_prior_needs_its_vae_and_decodes_deterministically():
    prior = tiny_prior()
    with pytest.raises(ValueError, match="No VAE"):
        prior.decode(torch.randn(2, 4))
    vae = VAE(tiny_config("vae")).eval()
    prior.attach_vae(vae)
    with pytest.raises(ValueError, match="latent"):
        tiny_prior(latent_dim=5).attach_vae(vae)
    a = D.sample_latent(prior, 3, generator=torch.Generator().manual_seed(0))
    b = D.sample_latent(prior, 3, generator=torch.Generator().manual_seed(0))
    assert a.shape == (3, 1, 28, 28) and torch.equal(a, b)
    z = torch.randn(3, 4)
    assert torch.allclose(prior.noise_to_latent(prior.latent_to_noise(z, steps=24), steps=24), z, atol=0.05)
    assert prior.encode(torch.rand(2, 1, 28, 28)).shape == (2, 4)
    assert "vae" not in "".join(prior.state_dict())  # the VAE's weights are not the prior's


# --------------------------------------------------------------------------- checkpoints


def test_diffusion_checkpoint_round_trip_and_shape_check(tmp_path):
    model = tiny_unet()
    folder = ckpt.save_checkpoint(model, tmp_path / "tiny-diffusion", "diffusion", dataset="synthetic", epochs=1)
    loaded = ckpt.load_checkpoint(folder)
    assert loaded.kind == "diffusion" and loaded.config == model.config
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    assert torch.equal(D.sample(loaded.model, 2, 2, g()), D.sample(model, 2, 2, g()))
    info = json.loads((folder / ckpt.CONFIG_NAME).read_text())
    info["model_config"]["base_width"] = 16
    (folder / ckpt.CONFIG_NAME).write_text(json.dumps(info))
    with pytest.raises(ckpt.CheckpointError, match="has shape .* but the config needs"):
        ckpt.load_checkpoint(folder)


def test_latent_checkpoint_loads_with_the_vae_beside_it(tmp_path):
    vae = VAE(tiny_config("vae")).eval()
    ckpt.save_checkpoint(vae, tmp_path / "tiny-vae", "vae", dataset="synthetic")
    prior = tiny_prior("tiny-vae")
    folder = ckpt.save_checkpoint(prior, tmp_path / "tiny-vae-latent-diffusion", "latent-diffusion",
                                  dataset="synthetic")
    loaded = ckpt.load_checkpoint(folder)
    assert loaded.kind == "latent-diffusion" and loaded.model.vae is not None
    assert loaded.info["vae"] == "tiny-vae"
    g = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    assert torch.equal(D.sample_latent(loaded.model, 2, generator=g()),
                       D.sample_latent(prior.attach_vae(vae), 2, generator=g()))
    (tmp_path / "tiny-vae" / ckpt.CONFIG_NAME).unlink()
    with pytest.raises(ckpt.CheckpointError, match="tiny-vae"):
        ckpt.load_checkpoint(folder)


# --------------------------------------------------------------------------- training


def test_one_diffusion_step_runs_and_updates_the_average(tmp_path):
    model = tiny_unet().train()
    task = TASKS["diffusion"](model, quick_train_config(tmp_path, lr=3e-3), torch.device("cpu"), Dist())
    task.optimizers()
    task.wrap()
    data = synthetic_dataset(32, seed=0)
    before = {k: v.clone() for k, v in task.ema.state_dict().items()}
    out = task.step(data.images[:16], data.labels[:16], torch.Generator().manual_seed(0))
    assert torch.isfinite(out["loss"]) and float(out["loss"]) > 0
    assert any(not torch.equal(before[k], v) for k, v in task.ema.state_dict().items())
    assert int(task.ema_updates) == 1 and task.public_model() is task.ema
    assert task.samples().shape == (64, 1, 28, 28)
    assert set(task.evaluate(data)) == {"test_loss"}


def test_diffusion_training_resumes_exactly(tmp_path):
    """Killed after epoch 1 of 2 and resumed: the shipped average equals an uninterrupted run's."""
    class Killed(Exception):
        pass

    def kill(epoch: int, record: dict) -> None:
        raise Killed

    config = DiffusionConfig(**TINY)
    whole = train("diffusion", config, quick_train_config(tmp_path / "whole", epochs=2, limit=32))
    with pytest.raises(Killed):
        train("diffusion", config, quick_train_config(tmp_path / "part", epochs=2, limit=32), on_epoch=kill)
    part = train("diffusion", config, quick_train_config(tmp_path / "part", epochs=2, limit=32, resume=True))
    a, b = ckpt.load_checkpoint(whole), ckpt.load_checkpoint(part)
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    assert (part / "samples" / "epoch_002.png").is_file() and a.info["epochs"] == 2


def test_latent_diffusion_trains_beside_its_vae(tmp_path):
    vae = VAE(tiny_config("vae")).eval()
    ckpt.save_checkpoint(vae, tmp_path / "tiny-vae", "vae", dataset="synthetic")
    config = LatentDiffusionConfig(vae="tiny-vae", latent_dim=4, width=16, depth=1, time_dim=16, sample_steps=2)
    out = train("latent-diffusion", config, quick_train_config(tmp_path / "tiny-vae-latent-diffusion", epochs=1,
                                                               limit=32))
    loaded = ckpt.load_checkpoint(out)
    assert loaded.kind == "latent-diffusion" and loaded.model.vae is not None
    assert (out / "samples" / "epoch_001.png").is_file()
    weights = load_file(str(out / ckpt.WEIGHTS_NAME))
    assert weights and not any(k.startswith(("encoder", "decoder", "to_mu")) for k in weights)


def test_metrics_sampler_for_diffusion(tmp_path):
    model = tiny_unet()
    c = ckpt.Checkpoint("tiny", "diffusion", model, tmp_path)
    sampler = metrics.checkpoint_sampler(c, steps=2)
    images = sampler(3, torch.Generator().manual_seed(0))
    assert images.shape == (3, 1, 28, 28)
    assert torch.equal(images, sampler(3, torch.Generator().manual_seed(0)))


# --------------------------------------------------------------------------- shipped


SHIPPED = {name: folder for name, folder in ckpt.list_checkpoints(ckpt.DEFAULT_CHECKPOINT_DIR, warn=False).items()
           if ckpt.read_config(folder)["kind"] in ("diffusion", "latent-diffusion")}


@pytest.mark.shipped
@pytest.mark.parametrize("name", sorted(SHIPPED) or ["none"])
def test_shipped_diffusion_samples_deterministically(name):
    if name not in SHIPPED:
        pytest.skip("no diffusion checkpoint is shipped yet")
    c = ckpt.load_checkpoint(SHIPPED[name])
    assert c.dataset in ("mnist", "fashion-mnist") and len(c.class_names) == 10
    if c.kind == "diffusion":
        draw = lambda: D.sample(c.model, 2, steps=2, generator=torch.Generator().manual_seed(0))  # noqa: E731
        size, channels = c.config.image_size, c.config.channels
    else:
        draw = lambda: D.sample_latent(c.model, 2, generator=torch.Generator().manual_seed(0))  # noqa: E731
        size, channels = c.model.vae.config.image_size, c.model.vae.config.channels
    a, b = draw(), draw()
    assert a.shape == (2, channels, size, size) and torch.equal(a, b)
    assert torch.isfinite(a).all() and 0 <= float(a.min()) and float(a.max()) <= 1


def test_evaluate_script_measures_a_diffusion_model(tmp_path, capsys):
    import importlib.util

    from conftest import REPO_ROOT
    from genlab.models import Classifier

    clf = Classifier(tiny_config("classifier")).eval()
    ckpt.save_checkpoint(clf, tmp_path / "synthetic-classifier", "classifier", dataset="synthetic",
                         class_names=["a", "b", "c", "d"])
    ckpt.save_checkpoint(tiny_unet(sample_steps=2), tmp_path / "synthetic-diffusion", "diffusion", dataset="synthetic")
    spec = importlib.util.spec_from_file_location("evaluate_script", REPO_ROOT / "train" / "evaluate.py")
    evaluate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate)
    assert evaluate.main(["--dataset", "synthetic", "--checkpoints", str(tmp_path), "--only-also",
                          "--also", "synthetic-diffusion", "--num-samples", "40", "--no-progress"]) == 0
    assert "synthetic-diffusion (diffusion, 2 steps): FD" in capsys.readouterr().out
    entry = json.loads((tmp_path / "synthetic-samplers.json").read_text())["also"]["synthetic-diffusion"]
    assert entry["steps"] == 2 and entry["frechet_distance"] >= 0 and 0 <= entry["precision"] <= 1
