"""Checkpoints: exact round trips, one clear CheckpointError per kind of damage, listing."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import tiny_config
from genlab.checkpoints import (
    CONFIG_NAME, WEIGHTS_NAME, CheckpointError, list_checkpoints, load_checkpoint, read_history,
    save_checkpoint,
)
from genlab.models import MODEL_KINDS

KINDS = ["vae", "gan", "classifier"]


def make_model(kind: str, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    model = MODEL_KINDS[kind][0](tiny_config(kind, **overrides))
    # perturb BatchNorm statistics and spectral-norm vectors so buffers are not at their defaults
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if buf.is_floating_point():
                buf.add_(0.01 * torch.randn_like(buf))
    return model.eval()


def outputs(kind: str, model) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if kind == "vae":
        return model.decode(torch.randn(4, model.latent_dim, generator=g))
    if kind == "gan":
        images = model.decode(torch.randn(4, model.latent_dim, generator=g))
        return torch.cat([images.flatten(), model.discriminator(images)])
    return model(torch.rand(4, 1, 28, 28, generator=g))


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_gives_identical_outputs(kind, tmp_path):
    model = make_model(kind)
    folder = save_checkpoint(model, tmp_path / f"tiny-{kind}", kind, dataset="synthetic", epochs=3,
                             seed=5, metrics={"loss": 1.5}, class_names=["a", "b", "c", "d"])
    loaded = load_checkpoint(folder)
    assert loaded.kind == kind and loaded.name == f"tiny-{kind}" and loaded.dataset == "synthetic"
    assert loaded.metrics == {"loss": 1.5} and loaded.class_names == ["a", "b", "c", "d"]
    assert loaded.info["epochs"] == 3 and loaded.info["seed"] == 5
    assert loaded.config == model.config
    assert not loaded.model.training
    assert all(not p.requires_grad for p in loaded.model.parameters())
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    with torch.no_grad():
        assert torch.equal(outputs(kind, model), outputs(kind, loaded.model))


def test_conditional_gan_round_trip(tmp_path):
    model = make_model("gan", num_classes=10)
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "cgan", "gan"))
    labels = torch.arange(4)
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model.decode(z, labels), loaded.model.decode(z, labels))


@pytest.fixture
def good(tmp_path) -> Path:
    return save_checkpoint(make_model("vae"), tmp_path / "ckpt", "vae", dataset="synthetic")


def rewrite_weights(folder: Path, change) -> None:
    state = load_file(str(folder / WEIGHTS_NAME))
    change(state)
    save_file(state, str(folder / WEIGHTS_NAME))


def test_wrong_shape(good):
    def widen(state):
        state["to_mu.weight"] = torch.zeros(5, 32)
    rewrite_weights(good, widen)
    with pytest.raises(CheckpointError, match=r"ckpt: weight 'to_mu.weight' has shape \(5, 32\) but the config needs \(4, 32\)"):
        load_checkpoint(good)


def test_missing_key(good):
    rewrite_weights(good, lambda state: state.pop("to_logvar.bias"))
    with pytest.raises(CheckpointError, match=r"missing key 'to_logvar.bias' \(1 missing in all\)"):
        load_checkpoint(good)


def test_extra_key(good):
    rewrite_weights(good, lambda state: state.update({"surprise": torch.zeros(1)}))
    with pytest.raises(CheckpointError, match="unexpected key 'surprise'"):
        load_checkpoint(good)


def test_bad_json(good):
    (good / CONFIG_NAME).write_text('{"kind": "vae", ')
    with pytest.raises(CheckpointError, match="config.json is not valid JSON"):
        load_checkpoint(good)


def test_missing_config(good):
    (good / CONFIG_NAME).unlink()
    with pytest.raises(CheckpointError, match="there is no config.json"):
        load_checkpoint(good)


def test_unknown_kind(good):
    info = json.loads((good / CONFIG_NAME).read_text())
    (good / CONFIG_NAME).write_text(json.dumps({**info, "kind": "autoregressive"}))
    with pytest.raises(CheckpointError, match="kind 'autoregressive'; expected one of"):
        load_checkpoint(good)


def test_bad_model_config(good):
    info = json.loads((good / CONFIG_NAME).read_text())
    info["model_config"]["colour"] = "blue"
    (good / CONFIG_NAME).write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match=r"unknown field\(s\) \['colour'\]"):
        load_checkpoint(good)
    info["model_config"].pop("colour")
    info["model_config"]["image_size"] = 30
    (good / CONFIG_NAME).write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="not a valid VAEConfig: image_size must be one of"):
        load_checkpoint(good)


def test_missing_weights_file(good):
    (good / WEIGHTS_NAME).unlink()
    with pytest.raises(CheckpointError, match="there is no model.safetensors"):
        load_checkpoint(good)


@pytest.mark.parametrize("keep", [0.5, 0.02])
def test_truncated_safetensors(good, keep):
    data = (good / WEIGHTS_NAME).read_bytes()
    (good / WEIGHTS_NAME).write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="model.safetensors is not a readable safetensors file"):
        load_checkpoint(good)


def test_garbage_weights(good):
    (good / WEIGHTS_NAME).write_bytes(b"\x80\x04not a safetensors file at all")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(good)


def test_save_refuses_unknown_kind(tmp_path):
    with pytest.raises(CheckpointError, match="Unknown model kind"):
        save_checkpoint(make_model("vae"), tmp_path / "x", "autoencoder")


def test_list_checkpoints_skips_broken_folders(tmp_path):
    root = tmp_path / "checkpoints"
    save_checkpoint(make_model("vae"), root / "good-vae", "vae")
    save_checkpoint(make_model("gan"), root / "good-gan", "gan")
    save_checkpoint(make_model("classifier"), root / "nested" / "good-classifier", "classifier")
    bad_json = save_checkpoint(make_model("vae"), root / "bad-json", "vae")
    (bad_json / CONFIG_NAME).write_text("not json")
    no_weights = save_checkpoint(make_model("vae"), root / "no-weights", "vae")
    (no_weights / WEIGHTS_NAME).unlink()
    (root / "empty").mkdir()
    with pytest.warns(UserWarning) as record:
        found = list_checkpoints(root)
    assert sorted(found) == ["good-gan", "good-vae", "nested/good-classifier"]
    messages = " | ".join(str(w.message) for w in record)
    assert "bad-json" in messages and "not valid JSON" in messages
    assert "no-weights" in messages and "no model.safetensors" in messages
    assert sorted(list_checkpoints(root, kind="vae", warn=False)) == ["good-vae"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list_checkpoints(root, warn=False)
    assert list_checkpoints(tmp_path / "does-not-exist") == {}
    for name, folder in found.items():
        assert load_checkpoint(folder).name == Path(name).name


def test_read_history(tmp_path):
    assert read_history(tmp_path) == []
    (tmp_path / "history.json").write_text('[{"epoch": 1, "loss": 2.0}]')
    assert read_history(tmp_path) == [{"epoch": 1, "loss": 2.0}]
    (tmp_path / "history.json").write_text("{broken")
    assert read_history(tmp_path) == []
