"""Beyond 28x28 grayscale and beyond the CPU: 64x64 RGB training, image folders, mixed precision.

There is no GPU here, so the CUDA path is checked two ways: the bf16 autocast the trainer uses
on CUDA is forced on the CPU for one step of each model (losses must stay float32 and finite),
and the CPU path must never autocast (the resume tests in test_training.py pin its numbers).
"""

from __future__ import annotations

import contextlib
import subprocess

import pytest
import torch
from PIL import Image

from conftest import PYTHON, REPO_ROOT, SUBPROCESS_ENV, quick_train_config, tiny_config
from genlab import training
from genlab.checkpoints import load_checkpoint, read_history
from genlab.data import synthetic_dataset
from genlab.models import MODEL_KINDS
from genlab.training import Dist, train
from genlab.store import ModelStore

KINDS = ["vae", "gan", "classifier"]


@pytest.mark.parametrize("kind", KINDS)
def test_train_at_64x64_rgb(kind, tmp_path):
    out = tmp_path / kind
    tc = quick_train_config(out, epochs=1, limit=8, batch_size=8)  # one step
    train(kind, tiny_config(kind, image_size=64, channels=3), tc)

    ckpt = load_checkpoint(out)
    assert (ckpt.config.image_size, ckpt.config.channels) == (64, 3)
    assert len(read_history(out)) == 1
    if kind == "classifier":
        assert ckpt.model(torch.rand(2, 3, 64, 64)).shape == (2, ckpt.config.num_classes)
    else:
        assert ckpt.model.decode(torch.randn(2, ckpt.config.latent_dim)).shape == (2, 3, 64, 64)
        with Image.open(out / "samples" / "epoch_001.png") as grid:
            assert grid.mode == "RGB"


def write_images(folder, count: int = 12) -> None:
    """`count` colour photos of different sizes and formats, in two class sub-folders."""
    g = torch.Generator().manual_seed(0)
    sizes = [(40, 30), (64, 64), (100, 80), (33, 77), (128, 96), (50, 50)]
    for i in range(count):
        w, h = sizes[i % len(sizes)]
        pixels = (torch.rand(h, w, 3, generator=g) * 255).byte().numpy()
        pixels[..., i % 3] = 200  # some colour, so RGB is not gray
        sub = folder / ("red" if i % 2 else "blue")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, "RGB").save(sub / f"photo_{i}.{'jpg' if i % 3 else 'png'}")


@pytest.mark.slow
def test_train_script_on_a_folder_of_colour_images(tmp_path):
    images, root = tmp_path / "my_photos", tmp_path / "checkpoints"
    write_images(images)
    out = root / "my_photos-vae-4"
    result = subprocess.run(
        [PYTHON, "train/vae.py", "--dataset", str(images), "--image-size", "64", "--channels", "3",
         "--epochs", "1", "--batch-size", "4", "--latent-dim", "4", "--base-width", "8", "--hidden-dim", "32",
         "--out", str(out), "--no-progress"],
        cwd=REPO_ROOT, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr

    ckpt = load_checkpoint(out)
    assert (ckpt.config.image_size, ckpt.config.channels) == (64, 3)
    assert ckpt.dataset == "my_photos" and ckpt.class_names == ["blue", "red"]
    assert ckpt.info["train_images"] == 11  # 12 photos less a 10% test split of 1
    store = ModelStore.load(root)
    assert store.names("vae") == ["my_photos-vae-4"] and store.problems == []


# --------------------------------------------------------------------------- mixed precision


def test_the_cpu_never_autocasts():
    assert isinstance(training.autocast(torch.device("cpu")), contextlib.nullcontext)
    assert isinstance(training.autocast(torch.device("cpu"), enabled=True), contextlib.nullcontext)


@pytest.mark.parametrize("kind", KINDS)
def test_a_step_under_bf16_autocast_keeps_float32_losses(kind, tmp_path, monkeypatch):
    """What runs on CUDA, forced on the CPU: forward passes in bf16, losses and weights in float32."""
    monkeypatch.setattr(training.tasks, "autocast", lambda device, enabled=True: torch.autocast("cpu", dtype=torch.bfloat16))
    torch.manual_seed(0)
    model = MODEL_KINDS[kind][0](tiny_config(kind))
    task = training.TASKS[kind](model, quick_train_config(tmp_path), torch.device("cpu"), Dist())
    task.optimizers()
    task.wrap()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = synthetic_dataset(16, seed=0)

    values = task.step(data.images, data.labels, torch.Generator().manual_seed(0))

    for name, value in values.items():
        assert value.dtype == torch.float32, name
        assert torch.isfinite(value), name
    assert all(v.dtype == torch.float32 for v in model.state_dict().values() if v.is_floating_point())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_cuda_without_a_gpu_is_a_clear_error(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert training.main("vae", ["--dataset", "synthetic", "--device", "cuda", "--out", "unused"]) == 1
    err = capsys.readouterr().err
    assert "error: --device cuda was asked for, but PyTorch sees no CUDA GPU here" in err
    assert "Traceback" not in err


def test_an_unknown_device_is_a_clear_error(capsys):
    assert training.main("vae", ["--dataset", "synthetic", "--device", "gpu", "--out", "unused"]) == 1
    assert "--device 'gpu' is not a device PyTorch knows" in capsys.readouterr().err
