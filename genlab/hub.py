"""Share checkpoints on the Hugging Face Hub and load them back.

A genlab checkpoint folder already has the Hub's layout, so a model repo is the folder itself:

    user/mnist-vae-16  (a Hub model repo)
        README.md            a model card written by `push_to_hub` (kind, dataset, metrics, usage)
        config.json          as on disk
        model.safetensors    as on disk
        history.json         per-epoch losses
        artefacts.safetensors  what the app precomputes from the weights (train/precompute.py)
        heldout.safetensors    a folder-trained model's own test pictures (genlab.heldout)
        samples/epoch_NNN.png

`training_state.safetensors` (optimizer state for `--resume`) stays local. Loading downloads
only the files above through the Hub's cache (so a second load, or HF_HUB_OFFLINE=1 after a
first one, needs no network) and then goes through `genlab.checkpoints.load_checkpoint`.
Everything that can go wrong is raised as a `CheckpointError` whose message is one sentence.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from genlab.checkpoints import (
    ARTEFACTS_NAME,
    CONFIG_NAME,
    HISTORY_NAME,
    WEIGHTS_NAME,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
)
from genlab.heldout import HELDOUT_NAME

SAMPLES_GLOB = "samples/*"
# What a Hub repo of a genlab model holds (and all that `load_from_hub` downloads).
HUB_FILES = [CONFIG_NAME, WEIGHTS_NAME, HISTORY_NAME, ARTEFACTS_NAME, HELDOUT_NAME, SAMPLES_GLOB]
CARD_NAME = "README.md"

# Hub dataset ids for the model card's `datasets:` field (links the card to the dataset page).
HUB_DATASETS = {"mnist": "ylecun/mnist", "fashion-mnist": "zalando-datasets/fashion_mnist"}


# --------------------------------------------------------------------------- the model card


def _metric_rows(metrics: dict[str, Any]) -> list[str]:
    rows = []
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or key == "seconds":
            continue  # lists (kl_per_dim) and timings are in history.json
        rows.append(f"| {key} | {value:.4g} |")
    return rows


def model_card(info: dict[str, Any], repo_id: str) -> str:
    """The README.md of a pushed checkpoint: Hub metadata, what it is, its metrics, how to load it."""
    from genlab.kinds import KINDS, ModelKind

    kind, dataset = info["kind"], info.get("dataset", "") or "unknown"
    family = KINDS.get(kind, ModelKind)  # what the card says comes from the kind's own module
    mc = info["model_config"]
    tags = ["genlab", kind, "pytorch", "safetensors"] + ([dataset] if dataset in HUB_DATASETS else [])
    front = ["---", "library_name: genlab", "license: mit", f"pipeline_tag: {family.pipeline_tag}", "tags:"]
    front += [f"  - {t}" for t in tags]
    if dataset in HUB_DATASETS:
        front += ["datasets:", f"  - {HUB_DATASETS[dataset]}"]
    front.append("---")

    facts = [f"{mc.get('image_size')}x{mc.get('image_size')} pixels, {mc.get('channels')} channel(s)"]
    if "latent_dim" in mc:
        facts.append(f"a {mc['latent_dim']}-d latent space")
    for key, label in (("epochs", "epochs"), ("train_images", "training images")):
        if info.get(key):
            facts.append(f"{info[key]} {label}")
    if "seed" in info:
        facts.append(f"seed {info['seed']}")
    lines = [
        *front, "",
        f"# {repo_id.split('/')[-1]}", "",
        f"A {family.description or kind + ' model'} trained with Genlab on **{dataset}**: {', '.join(facts)}."
        + (f" Genlab version {info['genlab_version']}." if info.get("genlab_version") else ""),
        "",
    ]
    rows = _metric_rows(info.get("metrics", {}))
    if rows:
        lines += ["## Metrics (last epoch)", "", "| metric | value |", "| --- | --- |", *rows, ""]
    lines += [
        "## Use it", "",
        "```python",
        "import torch",
        "from genlab.hub import load_from_hub",
        "",
        f'ckpt = load_from_hub("{repo_id}")  # a genlab Checkpoint: ckpt.model, ckpt.kind, ckpt.info',
    ]
    lines += family.usage(mc)
    lines += [
        "```", "",
        "Or explore it in the Genlab app, next to the shipped models:", "",
        "```bash",
        f"python app.py --hub {repo_id}",
        "```", "",
        "Files: `config.json` (kind, model config, dataset, metrics), `model.safetensors` (float32 "
        "weights), `history.json` (per-epoch losses), `samples/` (a sample grid per epoch).", "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- push


def _files_to_upload(folder: Path) -> list[Path]:
    """The checkpoint's shareable files, relative to `folder` (never training_state.safetensors)."""
    files = [Path(n) for n in (CONFIG_NAME, WEIGHTS_NAME, HISTORY_NAME, ARTEFACTS_NAME, HELDOUT_NAME) if (folder / n).is_file()]
    samples = folder / "samples"
    if samples.is_dir():
        files += sorted(p.relative_to(folder) for p in samples.iterdir()
                        if p.is_file() and not p.name.startswith("."))
    return files


def push_to_hub(folder: str | os.PathLike, repo_id: str, token: str | None = None,
                private: bool = False) -> str:
    """Upload a checkpoint folder to the Hub model repo `repo_id` (created if needed); returns its URL.

    The folder is checked first (it must load). Uploaded: config.json, model.safetensors,
    history.json, artefacts.safetensors and heldout.safetensors (when there), samples/ and a generated README.md model card (unless the folder has its own
    README.md); the optimizer state stays local. `token` defaults to the login (`hf auth login`)
    or HF_TOKEN.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    folder = Path(folder)
    ckpt = load_checkpoint(folder)  # a clear CheckpointError for a broken folder, before any upload
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        full_id = getattr(url, "repo_id", None) or repo_id  # "name" alone lands in your namespace
        with tempfile.TemporaryDirectory(prefix="genlab-push-") as tmp:
            staging = Path(tmp)
            for rel in _files_to_upload(folder):
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(folder / rel, staging / rel)
            own_card = folder / CARD_NAME
            card = own_card.read_text() if own_card.is_file() else model_card(ckpt.info, full_id)
            (staging / CARD_NAME).write_text(card)
            api.upload_folder(repo_id=full_id, folder_path=staging, repo_type="model",
                              commit_message=f"Upload a {ckpt.kind} trained on {ckpt.dataset or 'custom data'} "
                                             f"({ckpt.info.get('epochs', '?')} epochs) with genlab")
    except HFValidationError as e:
        raise CheckpointError(f"{repo_id!r} is not a valid Hub repo id (expected 'owner/name'): {e}") from None
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        if status in (401, 403):
            raise CheckpointError(
                f"The Hub refused to let you write to {repo_id} (HTTP {status}): log in with "
                f"`hf auth login` or set HF_TOKEN to a token with write access."
            ) from None
        raise CheckpointError(f"Could not push {folder} to {repo_id}: the Hub answered {_first_line(e)}.") from None
    except OSError as e:  # offline mode, connection errors, a missing token
        raise CheckpointError(f"Could not push {folder} to {repo_id}: {_first_line(e)}.") from None
    return str(url)


# --------------------------------------------------------------------------- load


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0].rstrip(".") if text else e.__class__.__name__


def download_checkpoint(repo_id: str, revision: str | None = None,
                        cache_dir: str | os.PathLike | None = None, token: str | None = None) -> Path:
    """Fetch a checkpoint's files into the Hub cache (or find them there) -> the local snapshot folder."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        path = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, token=token,
                                 allow_patterns=HUB_FILES, repo_type="model")
    except HFValidationError:
        raise CheckpointError(f"{repo_id!r} is not a valid Hub repo id (expected 'owner/name').") from None
    except GatedRepoError:
        raise CheckpointError(
            f"{repo_id} is a gated repo: accept its terms on huggingface.co and log in (`hf auth login`)."
        ) from None
    except RepositoryNotFoundError:
        raise CheckpointError(
            f"There is no model repo {repo_id} on the Hugging Face Hub (or it is private: log in with "
            f"`hf auth login` or set HF_TOKEN)."
        ) from None
    except RevisionNotFoundError:
        raise CheckpointError(f"The repo {repo_id} has no revision {revision!r}.") from None
    except IncompleteSnapshotError:
        raise CheckpointError(
            f"The cached copy of {where} is incomplete and the Hub cannot be reached; connect once to finish it."
        ) from None
    except LocalEntryNotFoundError:
        raise CheckpointError(
            f"Cannot load {where}: the Hugging Face Hub cannot be reached (offline, or HF_HUB_OFFLINE=1) "
            f"and it is not in the local cache yet."
        ) from None
    except HfHubHTTPError as e:
        raise CheckpointError(f"Could not download {where}: the Hub answered {_first_line(e)}.") from None
    except OSError as e:
        raise CheckpointError(f"Could not download {where}: {_first_line(e)}.") from None
    return Path(path)


def load_from_hub(repo_id: str, revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                  device: str | torch.device = "cpu", token: str | None = None) -> Checkpoint:
    """Load the genlab checkpoint in Hub model repo `repo_id`; the model is in eval mode on `device`.

    The checkpoint's name is the repo id (with `@revision` when one is given) and its `path`
    the snapshot folder in the cache (history.json and samples/ are there too).
    """
    folder = download_checkpoint(repo_id, revision, cache_dir, token)
    name = f"{repo_id}@{revision}" if revision else repo_id
    if not (folder / CONFIG_NAME).is_file():
        raise CheckpointError(f"{name} is not a genlab checkpoint: it has no {CONFIG_NAME}.")
    try:
        ckpt = load_checkpoint(folder, device)
    except CheckpointError as e:
        # The folder is named after the commit hash: say which repo is broken instead.
        raise CheckpointError(str(e).replace(folder.name, name, 1)) from None
    ckpt.name = name
    ckpt.info = {**ckpt.info, "hub_repo": repo_id, "hub_revision": folder.name}
    return ckpt


__all__ = ["HUB_FILES", "download_checkpoint", "load_from_hub", "model_card", "push_to_hub"]
