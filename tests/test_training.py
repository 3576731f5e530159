"""Training: a step learns, resuming is exact, a kill is survivable, NaN stops cleanly, torchrun works."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

from conftest import PYTHON, REPO_ROOT, SUBPROCESS_ENV, quick_train_config, tiny_config
from genlab import training
from genlab.checkpoints import WEIGHTS_NAME, load_checkpoint, read_history
from genlab.data import synthetic_dataset
from genlab.models import MODEL_KINDS
from genlab.training import STATE_NAME, Dist, TrainingDiverged, train

KINDS = ["vae", "gan", "classifier"]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / WEIGHTS_NAME))


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert sorted(wa) == sorted(wb)
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, f"{len(different)} tensors differ, first {different[0]}"


def make_task(kind: str, tmp_path: Path, **config):
    torch.manual_seed(0)
    model = MODEL_KINDS[kind][0](tiny_config(kind, **config))
    task = training.TASKS[kind](model, quick_train_config(tmp_path, lr=3e-3), torch.device("cpu"), Dist())
    task.optimizers()
    task.wrap()
    model.train()
    return model, task


# --------------------------------------------------------------------------- learning


def test_vae_steps_lower_the_loss(tmp_path):
    model, task = make_task("vae", tmp_path)
    data = synthetic_dataset(32, seed=0)

    def loss() -> float:
        with torch.no_grad():
            return float(model.loss(data.images, torch.Generator().manual_seed(0)).total)

    before = loss()
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        values = task.step(data.images, data.labels, g)
    assert set(values) == {"loss", "reconstruction", "kl"}
    after = loss()
    assert after < 0.9 * before, (before, after)  # ~490 -> ~300 nats with lr 3e-3


def test_classifier_steps_lower_the_loss(tmp_path):
    model, task = make_task("classifier", tmp_path)
    data = synthetic_dataset(64, seed=0)

    def loss() -> float:
        model.eval()
        with torch.no_grad():
            value = float(torch.nn.functional.cross_entropy(model(data.images), data.labels))
        model.train()
        return value

    before = loss()
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        values = task.step(data.images, data.labels, g)
    assert set(values) == {"loss", "accuracy"}
    assert loss() < before


def test_gan_step_updates_both_networks(tmp_path):
    model, task = make_task("gan", tmp_path, num_classes=4)
    data = synthetic_dataset(16, seed=0)
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    values = task.step(data.images, data.labels, torch.Generator().manual_seed(1))
    assert set(values) == {"loss_d", "loss_g", "d_real", "d_fake"}
    assert all(torch.isfinite(v) for v in values.values())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))


def test_gan_with_classes_from_the_latent_shows_d_those_classes(tmp_path):
    model, task = make_task("gan", tmp_path, num_classes=4, classes_from_latent=True)
    data = synthetic_dataset(16, seed=0)
    seen = []
    real_forward = model.discriminator.forward
    model.discriminator.forward = lambda x, labels=None, **kw: seen.append(labels) or real_forward(x, labels, **kw)
    values = task.step(data.images, data.labels, torch.Generator().manual_seed(1))
    assert all(torch.isfinite(v) for v in values.values())
    # D's first call sees the real labels, then the classes G drew: argmax of z's first 4 coordinates.
    assert torch.equal(seen[0][:16], data.labels) and seen[0][16:].max() < 4
    z, labels = task._latents(256, torch.Generator().manual_seed(2))
    assert torch.equal(labels, z[:, :4].argmax(1))
    assert torch.bincount(labels, minlength=4).min() > 40  # about uniform: 64 each


def test_auxiliary_class_head_learns_real_labels_and_ignores_them_for_real_or_fake(tmp_path):
    model, task = make_task("gan", tmp_path, num_classes=4, classes_from_latent=True, class_head="auxiliary")
    d = model.discriminator
    assert not hasattr(d, "class_embedding") and d.class_logits.out_features == 4
    data = synthetic_dataset(32, seed=0)
    x = data.images[:8]
    d.eval()  # (in training mode spectral norm takes a power-iteration step at every call)
    with torch.no_grad():  # the real/fake score does not depend on the label
        assert torch.equal(d(x, torch.zeros(8, dtype=torch.long)), d(x, torch.ones(8, dtype=torch.long)))
    d.train()
    g = torch.Generator().manual_seed(1)

    def class_loss() -> float:
        d.eval()
        with torch.no_grad():
            loss = float(F.cross_entropy(d(data.images, with_classes=True)[1], data.labels))
        d.train()
        return loss

    before = class_loss()
    for _ in range(15):
        values = task.step(data.images, data.labels, g)
    assert "class_loss" in values and torch.isfinite(values["class_loss"])
    assert class_loss() < before  # D's class head learned the real labels


def test_mode_seeking_pairs_share_a_class_and_reward_different_images(tmp_path):
    model, task = make_task("gan", tmp_path, num_classes=4, classes_from_latent=True, class_head="auxiliary")
    g = torch.Generator().manual_seed(0)
    z, labels = task._latents(10, g)
    paired, paired_labels = task._pairs(z, labels, g)
    # The second half partners the first: same class coordinates (so the same class), the rest new.
    assert torch.equal(paired[:5], z[:5]) and torch.equal(paired[5:, :4], z[:5, :4])
    assert not torch.equal(paired[5:, 4:], z[:5, 4:])
    assert torch.equal(model.generator.latent_classes(paired[5:]), labels[:5])
    assert torch.equal(paired_labels, torch.cat([labels[:5], labels[:5]]))
    data = synthetic_dataset(16, seed=0)
    plain = task.step(data.images, data.labels, torch.Generator().manual_seed(1))["loss_g"]
    task.tc = dataclasses.replace(task.tc, mode_seeking=1.0)
    seeking = task.step(data.images, data.labels, torch.Generator().manual_seed(1))["loss_g"]
    assert torch.isfinite(seeking) and seeking > plain  # + weight / (pixel distance per latent distance)


def test_minibatch_std_tells_d_how_varied_each_group_is_without_mixing_real_and_fake(tmp_path):
    from genlab.models.gan import minibatch_std

    h = torch.randn(16, 3, 2, 2)
    h[8:] = h[8]  # the second half: one image repeated (a collapsed "fake" batch)
    stat = minibatch_std(h, 4)[:, 3]
    assert minibatch_std(h, 4).shape == (16, 4, 2, 2)
    assert (stat[:8] > 0.5).all() and (stat[8:] < 1e-3).all()  # groups of 4 stay inside each half
    assert torch.equal(stat[:4], stat[:4, :1, :1].expand(4, 2, 2))  # one number per group
    assert minibatch_std(torch.randn(6, 3, 2, 2), 4).shape == (6, 4, 2, 2)  # groups of 3 when 4 does not divide
    with pytest.raises(ValueError, match="minibatch_std"):
        dataclasses.replace(tiny_config("gan"), minibatch_std=1)

    model, task = make_task("gan", tmp_path, num_classes=4, classes_from_latent=True, class_head="auxiliary",
                            minibatch_std=4)
    d = model.discriminator.eval()
    x = synthetic_dataset(8, seed=0).images
    with torch.no_grad():  # D's score of an image depends on the rest of its group
        varied, alike = d(x), d(x[:1].expand(8, -1, -1, -1))
    assert not torch.allclose(varied[:1], alike[:1])
    d.train()
    data = synthetic_dataset(16, seed=0)
    values = task.step(data.images, data.labels, torch.Generator().manual_seed(1))
    assert all(torch.isfinite(v) for v in values.values())
    out = train("gan", model.config, quick_train_config(tmp_path / "mbstd", epochs=1, limit=16, batch_size=8))
    assert load_checkpoint(out).config.minibatch_std == 4  # saved beside the weights and loaded back


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_one_step_at_64x64x3(kind, tmp_path):
    config = tiny_config(kind, image_size=64, channels=3)
    out = train(kind, config, quick_train_config(tmp_path / kind, epochs=1, limit=8, batch_size=8))
    ckpt = load_checkpoint(out)
    assert ckpt.info["epochs"] == 1 and ckpt.info["train_images"] == 8
    assert ckpt.config.image_size == 64 and ckpt.config.channels == 3
    with torch.no_grad():
        images = ckpt.model.decode(torch.randn(2, ckpt.model.latent_dim))
    assert images.shape == (2, 3, 64, 64)
    assert (out / "samples" / "epoch_001.png").is_file()
    history = read_history(out)
    assert len(history) == 1 and history[0]["epoch"] == 1


def test_train_writes_a_complete_checkpoint(tmp_path):
    out = train("classifier", tiny_config("classifier"), quick_train_config(tmp_path / "clf", epochs=2))
    ckpt = load_checkpoint(out)
    assert ckpt.kind == "classifier" and ckpt.info["epochs"] == 2 and ckpt.dataset == "synthetic"
    assert ckpt.class_names == ["bar 0", "bar 1", "bar 2", "bar 3"]
    assert 0 <= ckpt.metrics["test_accuracy"] <= 1
    assert ckpt.info["training"]["epochs"] == 2 and "out" not in ckpt.info["training"]
    assert [r["epoch"] for r in read_history(out)] == [1, 2]
    assert sorted(p.name for p in (out / "samples").iterdir()) == []  # a classifier draws no samples
    assert (out / STATE_NAME).is_file()


# --------------------------------------------------------------------------- resuming


class Killed(Exception):
    """Stands in for SIGKILL right after an epoch was written."""


def kill_after(epochs: int):
    def on_epoch(epoch: int, record: dict) -> None:
        if epoch == epochs:
            raise Killed
    return on_epoch


@pytest.mark.parametrize("kind", KINDS)
def test_killed_and_resumed_run_ends_where_a_straight_run_does(kind, tmp_path):
    """Kill after epoch 1 of 2, resume: the weights equal those of an uninterrupted run, bit for bit."""
    overrides = {"num_classes": 4} if kind == "gan" else {}
    straight = train(kind, tiny_config(kind, **overrides), quick_train_config(tmp_path / "straight"))
    with pytest.raises(Killed):
        train(kind, tiny_config(kind, **overrides), quick_train_config(tmp_path / "resumed"),
              on_epoch=kill_after(1))
    assert load_checkpoint(tmp_path / "resumed").info["epochs"] == 1
    # the model config on resume comes from the checkpoint, whatever is passed
    resumed = train(kind, tiny_config(kind), quick_train_config(tmp_path / "resumed", resume=True))
    assert load_checkpoint(resumed).info["epochs"] == 2
    assert_same_weights(straight, resumed)
    assert [r["epoch"] for r in read_history(resumed)] == [1, 2]
    drop = ("seconds",)
    strip = lambda h: [{k: v for k, v in r.items() if k not in drop} for r in h]  # noqa: E731
    assert strip(read_history(straight)) == strip(read_history(resumed))


def test_extending_a_finished_constant_lr_run_is_exact(tmp_path):
    """1 epoch, then --resume with --epochs 2: exact when the schedule does not depend on the total."""
    straight = train("vae", tiny_config("vae"), quick_train_config(tmp_path / "a", schedule="constant"))
    train("vae", tiny_config("vae"), quick_train_config(tmp_path / "b", schedule="constant", epochs=1))
    resumed = train("vae", tiny_config("vae"),
                    quick_train_config(tmp_path / "b", schedule="constant", epochs=2, resume=True))
    assert_same_weights(straight, resumed)


def test_resume_of_a_finished_run_changes_nothing(tmp_path):
    out = train("vae", tiny_config("vae"), quick_train_config(tmp_path / "done", epochs=1))
    before = (out / WEIGHTS_NAME).read_bytes()
    train("vae", tiny_config("vae"), quick_train_config(tmp_path / "done", epochs=1, resume=True))
    assert (out / WEIGHTS_NAME).read_bytes() == before


def test_resume_when_killed_before_config_json_was_written(tmp_path):
    """The resume state is written first: a kill before config.json must not block --resume."""
    out = train("vae", tiny_config("vae"), quick_train_config(tmp_path / "early", epochs=1))
    (out / "config.json").unlink()
    (out / WEIGHTS_NAME).unlink()
    train("vae", tiny_config("vae", latent_dim=2), quick_train_config(out, epochs=2, resume=True))
    ckpt = load_checkpoint(out)
    assert ckpt.info["epochs"] == 2 and ckpt.config.latent_dim == 4  # the config of the state


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(tmp_path):
    """A real `kill -9` of train/vae.py during its second epoch, then --resume to the end."""
    out = tmp_path / "killed"
    epochs = 5
    cmd = [PYTHON, str(REPO_ROOT / "train" / "vae.py"), "--dataset", "synthetic", "--out", str(out),
           "--epochs", str(epochs), "--batch-size", "4", "--latent-dim", "4", "--base-width", "8",
           "--hidden-dim", "32", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=SUBPROCESS_ENV)
    try:
        deadline = time.monotonic() + 180
        while not (out / "config.json").is_file():  # written last: epoch 1 is complete
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the first epoch took over 3 minutes"
            time.sleep(0.02)
        time.sleep(0.2)  # into the second epoch: 128 steps of 4 images each
        assert proc.poll() is None, "it finished before it could be killed: make the run longer"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with safe_open(str(out / STATE_NAME), framework="pt") as f:
        done_before = int(f.metadata()["epoch"])
    assert 1 <= done_before < epochs
    result = subprocess.run(cmd + ["--resume"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                            env=SUBPROCESS_ENV)
    assert result.returncode == 0, result.stderr
    assert f"from epoch {done_before}" in result.stderr
    ckpt = load_checkpoint(out)
    assert ckpt.info["epochs"] == epochs
    assert [r["epoch"] for r in read_history(out)] == list(range(1, epochs + 1))
    samples = sorted(p.name for p in (out / "samples").iterdir())
    assert samples == [f"epoch_{e:03d}.png" for e in range(1, epochs + 1)]


# --------------------------------------------------------------------------- divergence


def nan_in_epoch_2(monkeypatch, kind: str = "vae") -> None:
    task_cls = training.TASKS[kind]
    original = task_cls.step
    steps_per_epoch = 4  # quick_train_config: 64 images, batches of 16
    calls = {"n": 0}

    def step(self, x, y, g):
        calls["n"] += 1
        values = original(self, x, y, g)
        if calls["n"] > steps_per_epoch + 1:  # the second step of epoch 2
            values["loss"] = torch.tensor(float("nan"))
        return values

    monkeypatch.setattr(task_cls, "step", step)


def test_nan_loss_stops_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "nan"
    nan_in_epoch_2(monkeypatch)
    files = {}

    def snapshot(epoch, record):
        for name in ("model.safetensors", "config.json", "history.json", STATE_NAME):
            files[name] = (out / name).read_bytes()

    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2, step 2.*epoch 1"):
        train("vae", tiny_config("vae"), quick_train_config(out, epochs=3), on_epoch=snapshot)
    for name, data in files.items():
        assert (out / name).read_bytes() == data, f"{name} changed after the NaN"
    assert load_checkpoint(out).info["epochs"] == 1
    assert not (out / "samples" / "epoch_002.png").exists()


def test_cli_reports_divergence(tmp_path, monkeypatch, capsys):
    nan_in_epoch_2(monkeypatch)
    code = training.main("vae", ["--dataset", "synthetic", "--limit", "64", "--batch-size", "16",
                                 "--epochs", "2", "--latent-dim", "4", "--base-width", "8",
                                 "--hidden-dim", "32", "--no-progress", "--out", str(tmp_path / "cli")])
    err = capsys.readouterr().err
    assert code == 1
    assert "error: The loss became nan at epoch 2" in err
    assert "Traceback" not in err
    assert load_checkpoint(tmp_path / "cli").info["epochs"] == 1


def test_cli_reports_bad_data(tmp_path, capsys):
    code = training.main("gan", ["--dataset", str(tmp_path / "no-such-folder"), "--out", str(tmp_path / "x"),
                                 "--no-progress"])
    assert code == 1
    assert "error:" in capsys.readouterr().err


# --------------------------------------------------------------------------- torchrun


@pytest.mark.slow
@pytest.mark.distributed
def test_torchrun_two_processes_on_cpu(tmp_path):
    out = tmp_path / "ddp"
    cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(REPO_ROOT / "train" / "vae.py"), "--dataset", "synthetic", "--limit", "64", "--epochs", "1",
           "--batch-size", "16", "--latent-dim", "4", "--base-width", "8", "--hidden-dim", "32",
           "--no-progress", "--out", str(out)]
    result = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                            env=SUBPROCESS_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    ckpt = load_checkpoint(out)
    assert ckpt.info["epochs"] == 1 and ckpt.info["train_images"] == 64
    assert len(read_history(out)) == 1
    assert result.stdout.count("Saved") == 1  # rank 0 alone writes and reports
