"""The Hugging Face Hub: push a checkpoint folder, load it back, fail with one clear sentence.

No test touches the network. Pushing goes through `HfApi.create_repo` / `HfApi.upload_folder`
replaced by fakes that record what would be uploaded. Loading runs the real
`huggingface_hub.snapshot_download` in offline mode (HF_HUB_OFFLINE=1) against a cache built
in tmp_path with the Hub's own layout: models--owner--name/{refs/main, snapshots/<commit>/...}.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import huggingface_hub
import pytest
import torch
import yaml
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.hf_api import RepoUrl
from safetensors.torch import load_file

from conftest import tiny_config
from genlab import training
from genlab.checkpoints import CheckpointError, save_checkpoint
from genlab.hub import HUB_FILES, load_from_hub, model_card, push_to_hub
from genlab.models import MODEL_KINDS
from genlab.training import STATE_NAME
from genlab.store import ModelStore

COMMIT = "0123456789abcdef0123456789abcdef01234567"
UPLOADED = {"README.md", "config.json", "model.safetensors", "history.json", "samples/epoch_001.png"}


def make_checkpoint(folder: Path, kind: str = "vae", dataset: str = "mnist") -> Path:
    """A complete local checkpoint folder, training_state included, as the training scripts leave it."""
    torch.manual_seed(0)
    model = MODEL_KINDS[kind][0](tiny_config(kind))
    save_checkpoint(model, folder, kind, dataset=dataset, epochs=3, seed=7,
                    metrics={"test_negative_elbo": 123.456, "seconds": 2.0, "kl_per_dim": [0.5, 0.1]},
                    class_names=[str(i) for i in range(10)], extra={"train_images": 64})
    (folder / "history.json").write_text('[{"epoch": 1, "loss": 1.0}]\n')
    (folder / "samples").mkdir()
    training.save_image_grid(torch.rand(4, 1, 28, 28), folder / "samples" / "epoch_001.png")
    training.save_training_state(folder, model, {"model": torch.optim.Adam(model.parameters())}, 3, [])
    return folder


def cache_snapshot(cache_dir: Path, repo_id: str, files_from: Path | None = None,
                   commit: str = COMMIT) -> Path:
    """Put `files_from` into the Hub cache as `repo_id`'s main branch -> the snapshot folder."""
    storage = cache_dir / repo_folder_name(repo_id=repo_id, repo_type="model")
    snapshot = storage / "snapshots" / commit
    if files_from is not None:
        shutil.copytree(files_from, snapshot)
    else:
        snapshot.mkdir(parents=True)
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    (storage / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """HF_HUB_OFFLINE=1 (read by huggingface_hub at import, so set in its constants too), a private cache."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))  # the default cache_dir, for ModelStore
    return cache


class FakeHub:
    """Stands in for HfApi's two network calls and records what they were asked to do."""

    def __init__(self, monkeypatch, cache_dir: Path | None = None, fail_upload: Exception | None = None):
        self.created: list[dict] = []
        self.uploads: list[dict] = []
        self.cache_dir, self.fail_upload = cache_dir, fail_upload
        hub = self

        def create_repo(api, repo_id, **kwargs):
            hub.created.append({"repo_id": repo_id, **kwargs})
            return RepoUrl(f"https://huggingface.co/{repo_id}")

        def upload_folder(api, *, repo_id, folder_path, **kwargs):
            if hub.fail_upload is not None:
                raise hub.fail_upload
            folder = Path(folder_path)
            files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
            hub.uploads.append({"repo_id": repo_id, "files": files, "card": (folder / "README.md").read_text(),
                                **kwargs})
            if hub.cache_dir is not None:  # what a later download would find
                cache_snapshot(hub.cache_dir, repo_id, folder)

        monkeypatch.setattr(HfApi, "create_repo", create_repo)
        monkeypatch.setattr(HfApi, "upload_folder", upload_folder)


def http_error(cls, status: int, url: str):
    import httpx2

    return cls(f"{status} Client Error", response=httpx2.Response(status, request=httpx2.Request("GET", url)))


# --------------------------------------------------------------------------- push


def test_push_uploads_the_checkpoint_and_a_model_card_but_not_the_training_state(tmp_path, monkeypatch):
    folder = make_checkpoint(tmp_path / "mnist-vae-4")
    hub = FakeHub(monkeypatch)

    url = push_to_hub(folder, "someone/mnist-vae-4", private=True)

    assert url == "https://huggingface.co/someone/mnist-vae-4"
    assert hub.created == [{"repo_id": "someone/mnist-vae-4", "private": True, "exist_ok": True, "repo_type": "model"}]
    (upload,) = hub.uploads
    assert upload["repo_id"] == "someone/mnist-vae-4"
    assert upload["files"] == UPLOADED  # no training_state.safetensors
    assert (folder / STATE_NAME).is_file() and not (folder / "README.md").exists()  # the folder is untouched

    card = upload["card"]
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["library_name"] == "genlab"
    assert meta["datasets"] == ["ylecun/mnist"]
    assert {"genlab", "vae", "mnist"} <= set(meta["tags"])
    assert "**mnist**" in card and "3 epochs" in card and "64 training images" in card
    assert "| test_negative_elbo | 123.5 |" in card
    assert "kl_per_dim" not in card and "| seconds" not in card
    assert 'load_from_hub("someone/mnist-vae-4")' in card
    assert "python app.py --hub someone/mnist-vae-4" in card


def test_model_card_of_a_classifier_on_a_folder_of_images():
    info = {"kind": "classifier", "dataset": "my_photos", "epochs": 2, "metrics": {"test_accuracy": 0.75},
            "model_config": {"image_size": 64, "channels": 3, "num_classes": 3, "width": 8}}
    card = model_card(info, "me/photos-classifier")
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["pipeline_tag"] == "image-classification"
    assert "datasets" not in meta  # not a Hub dataset
    assert "**my_photos**" in card and "64x64 pixels, 3 channel(s)" in card
    assert "torch.rand(8, 3, 64, 64)" in card


def test_a_folder_with_its_own_readme_keeps_it(tmp_path, monkeypatch):
    folder = make_checkpoint(tmp_path / "ckpt")
    (folder / "README.md").write_text("# My own card\n")
    hub = FakeHub(monkeypatch)
    push_to_hub(folder, "me/ckpt")
    assert hub.uploads[0]["card"] == "# My own card\n"


def test_a_broken_folder_is_refused_before_anything_is_uploaded(tmp_path, monkeypatch):
    folder = make_checkpoint(tmp_path / "ckpt")
    (folder / "model.safetensors").unlink()
    hub = FakeHub(monkeypatch)
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        push_to_hub(folder, "me/ckpt")
    assert hub.created == [] and hub.uploads == []


def test_push_refused_by_the_hub_says_to_log_in(tmp_path, monkeypatch):
    folder = make_checkpoint(tmp_path / "ckpt")
    FakeHub(monkeypatch, fail_upload=http_error(HfHubHTTPError, 403, "https://huggingface.co/api/models/me/ckpt"))
    with pytest.raises(CheckpointError) as info:
        push_to_hub(folder, "me/ckpt")
    message = str(info.value)
    assert "HTTP 403" in message and "hf auth login" in message and "\n" not in message


def test_push_while_offline_is_one_clear_sentence(tmp_path, monkeypatch, offline):
    """The real HfApi.create_repo, blocked by offline mode before any request leaves."""
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    folder = make_checkpoint(tmp_path / "ckpt")
    with pytest.raises(CheckpointError) as info:
        push_to_hub(folder, "me/ckpt")
    message = str(info.value)
    assert message.startswith(f"Could not push {folder} to me/ckpt") and "offline" in message
    assert "\n" not in message


# --------------------------------------------------------------------------- load


def test_push_then_load_gives_back_the_same_model(tmp_path, monkeypatch, offline):
    folder = make_checkpoint(tmp_path / "mnist-vae-4")
    FakeHub(monkeypatch, cache_dir=offline)
    push_to_hub(folder, "someone/mnist-vae-4")

    ckpt = load_from_hub("someone/mnist-vae-4", cache_dir=offline)

    assert ckpt.name == "someone/mnist-vae-4" and ckpt.kind == "vae" and ckpt.dataset == "mnist"
    assert ckpt.info["hub_repo"] == "someone/mnist-vae-4" and ckpt.info["hub_revision"] == COMMIT
    original = load_file(str(folder / "model.safetensors"))
    loaded = ckpt.model.state_dict()
    assert sorted(original) == sorted(loaded)
    assert all(torch.equal(original[k], loaded[k]) for k in original)
    assert not ckpt.model.training and not any(p.requires_grad for p in ckpt.model.parameters())
    assert (ckpt.path / "history.json").is_file() and (ckpt.path / "samples" / "epoch_001.png").is_file()
    assert not (ckpt.path / STATE_NAME).exists()


def test_load_downloads_only_the_checkpoint_files(monkeypatch, tmp_path):
    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append(kwargs)
        return str(cache_snapshot(tmp_path / "cache", repo_id, make_checkpoint(tmp_path / "src")))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    load_from_hub("me/vae", revision="v1", cache_dir=tmp_path / "cache")
    assert calls[0]["allow_patterns"] == HUB_FILES == ["config.json", "model.safetensors", "history.json",
                                                       "artefacts.safetensors", "heldout.safetensors", "samples/*"]
    assert calls[0]["revision"] == "v1"


def test_offline_and_not_cached_is_one_clear_sentence(offline):
    with pytest.raises(CheckpointError) as info:
        load_from_hub("someone/never-downloaded", cache_dir=offline)
    message = str(info.value)
    assert "someone/never-downloaded" in message and "not in the local cache" in message
    assert "\n" not in message


def test_a_repo_that_does_not_exist(tmp_path, monkeypatch):
    """Online path: the Hub answers 404 to the repo lookup (faked), nothing is cached."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    def repo_info(api, repo_id, **kwargs):
        raise http_error(RepositoryNotFoundError, 404, f"https://huggingface.co/api/models/{repo_id}")

    monkeypatch.setattr(HfApi, "repo_info", repo_info)
    with pytest.raises(CheckpointError, match="There is no model repo someone/nope on the Hugging Face Hub"):
        load_from_hub("someone/nope", cache_dir=tmp_path / "cache")


def test_an_invalid_repo_id(offline):
    with pytest.raises(CheckpointError, match="is not a valid Hub repo id"):
        load_from_hub("not a//repo id", cache_dir=offline)


def test_a_repo_that_is_not_a_genlab_checkpoint(offline):
    snapshot = cache_snapshot(offline, "someone/a-text-model")
    (snapshot / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="someone/a-text-model is not a genlab checkpoint: it has no config.json"):
        load_from_hub("someone/a-text-model", cache_dir=offline)


def test_a_broken_hub_checkpoint_is_named_by_its_repo(tmp_path, offline):
    folder = make_checkpoint(tmp_path / "src")
    other = MODEL_KINDS["vae"][0](tiny_config("vae", latent_dim=5))
    save_checkpoint(other, tmp_path / "other", "vae")
    shutil.copy(tmp_path / "other" / "model.safetensors", folder / "model.safetensors")  # wrong shapes
    cache_snapshot(offline, "someone/broken", folder)
    with pytest.raises(CheckpointError) as info:
        load_from_hub("someone/broken", cache_dir=offline)
    message = str(info.value)
    assert message.startswith("someone/broken: weight") and COMMIT not in message


# --------------------------------------------------------------------------- the app's model store


def test_model_store_loads_hub_checkpoints_next_to_the_folder_and_skips_unreachable_ones(tmp_path, offline):
    local = tmp_path / "checkpoints"
    make_checkpoint(local / "local-vae")
    cache_snapshot(offline, "someone/hub-gan", make_checkpoint(tmp_path / "src", kind="gan", dataset="fashion-mnist"))

    store = ModelStore.load(local, hub=["someone/hub-gan", "someone/unreachable"])

    assert sorted(store.names()) == ["local-vae", "someone/hub-gan"]
    assert store.get("someone/hub-gan").kind == "gan"
    assert store.datasets() == ["fashion-mnist", "mnist"]
    (problem,) = store.problems
    assert problem.startswith("Skipping checkpoint: Cannot load someone/unreachable")
    # A refresh keeps the Hub checkpoint (no new download) and retries the one that failed.
    loaded = store.get("someone/hub-gan")
    store.refresh()
    assert store.get("someone/hub-gan") is loaded and len(store.problems) == 1


# --------------------------------------------------------------------------- train/*.py --push-to-hub


def train_args(out: Path, *extra: str) -> list[str]:
    return ["--dataset", "synthetic", "--limit", "32", "--batch-size", "16", "--epochs", "1", "--width", "8",
            "--out", str(out), "--no-progress", *extra]


def test_training_pushes_after_the_last_epoch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    hub = FakeHub(monkeypatch)
    out = tmp_path / "clf"
    assert training.main("classifier", train_args(out, "--push-to-hub", "me/clf")) == 0
    (upload,) = hub.uploads
    assert upload["repo_id"] == "me/clf" and upload["files"] == UPLOADED - {"samples/epoch_001.png"}
    assert "Pushed" in capsys.readouterr().out


def test_a_failed_push_keeps_the_checkpoint_and_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    FakeHub(monkeypatch, fail_upload=http_error(HfHubHTTPError, 500, "https://huggingface.co/api/models/me/clf"))
    out = tmp_path / "clf"
    assert training.main("classifier", train_args(out, "--push-to-hub", "me/clf")) == 1
    err = capsys.readouterr().err
    assert "error: Could not push" in err and "500" in err and f"kept in {out}" in err and "--resume" in err
    assert "Traceback" not in err
    assert (out / "model.safetensors").is_file() and (out / STATE_NAME).is_file()


def test_push_to_hub_without_a_token_fails_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    out = tmp_path / "clf"
    assert training.main("classifier", train_args(out, "--push-to-hub", "me/clf")) == 1
    assert "needs a Hugging Face token" in capsys.readouterr().err
    assert not out.exists()


def test_push_includes_the_artefacts_the_app_needs(tmp_path, monkeypatch):
    """The app reads artefacts.safetensors (train/precompute.py) beside the weights: a pushed model
    must carry it, or a Space cold-starts without it."""
    from genlab.checkpoints import load_checkpoint
    from genlab.service import ModelService

    folder = make_checkpoint(tmp_path / "ckpt")
    ModelService(load_checkpoint(folder)).write_artefacts()
    hub = FakeHub(monkeypatch)
    push_to_hub(folder, "me/ckpt")
    assert "artefacts.safetensors" in hub.uploads[0]["files"]
