"""Checkpoint I/O: one folder per model, `config.json` + `model.safetensors`, nothing pickled.

    checkpoints/mnist-vae-16/
        config.json          kind, model config, dataset, epochs, seed, metrics, date, version
        model.safetensors    the weights (float32)
        history.json         per-epoch losses and times, written by the training scripts
        samples/epoch_001.png  a sample grid per epoch from fixed noise

Loading checks the JSON and that every weight matches the config's shapes, and says in one
sentence what is wrong. `list_checkpoints` finds every valid folder under a directory, so a
model a user trains shows up in the app without code changes.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

import genlab
from genlab.models import MODEL_KINDS

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
HISTORY_NAME = "history.json"
ARTEFACTS_NAME = "artefacts.safetensors"  # what the app precomputes from the weights (train/precompute.py)
SAMPLES_DIR = "samples"  # samples/epoch_NNN.png: a grid from fixed noise after every epoch
DEFAULT_CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "checkpoints"


class CheckpointError(ValueError):
    """A checkpoint folder is missing a file, holds bad JSON, or its weights do not fit its config."""


@dataclass
class Checkpoint:
    """A loaded model with what its config.json says about it."""

    name: str
    kind: str  # "vae" | "gan" | "classifier"
    model: nn.Module
    path: Path
    dataset: str = ""
    info: dict[str, Any] = field(default_factory=dict)  # the whole config.json

    @property
    def config(self) -> Any:
        return self.model.config

    @property
    def device(self) -> torch.device:
        """Where the model's weights live (where its inputs must go)."""
        return next(self.model.parameters()).device

    @property
    def metrics(self) -> dict[str, Any]:
        return self.info.get("metrics", {})

    @property
    def class_names(self) -> list[str]:
        return self.info.get("class_names", [])


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename, so readers never see half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)  # safetensors creates the file private to its owner; weights are not secret
    os.replace(tmp, path)


def code_version() -> str:
    """genlab's version plus the git commit when run from a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{genlab.__version__}+{commit}" if commit else genlab.__version__


def save_checkpoint(model: nn.Module, folder: str | os.PathLike, kind: str, *, dataset: str = "",
                    epochs: int = 0, seed: int = 0, metrics: dict[str, Any] | None = None,
                    class_names: list[str] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write `model` to `folder` as config.json + model.safetensors (each atomically)."""
    if kind not in MODEL_KINDS:
        raise CheckpointError(f"Unknown model kind {kind!r}; expected one of {sorted(MODEL_KINDS)}.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save_tensors(folder / WEIGHTS_NAME, model.state_dict(), {"kind": kind, "epochs": str(epochs)})
    info = {
        "kind": kind,
        "model_config": dataclasses.asdict(model.config),
        "dataset": dataset,
        "class_names": class_names or [],
        "epochs": epochs,
        "seed": seed,
        "metrics": metrics or {},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "genlab_version": code_version(),
        **(extra or {}),
    }
    if kind == "latent-diffusion":  # a prior over a VAE's latent: which VAE (a folder beside this one)
        info["vae"] = model.config.vae
    atomic_write_json(folder / CONFIG_NAME, info)
    return folder


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a checkpoint's config.json (no weights)."""
    folder = Path(folder)
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{folder.name}: there is no {CONFIG_NAME} in the folder.")
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{folder.name}: {CONFIG_NAME} is not valid JSON ({e}).") from e
    except OSError as e:
        raise CheckpointError(f"{folder.name}: {CONFIG_NAME} could not be read ({e.strerror or e}).") from e
    if not isinstance(info, dict):
        raise CheckpointError(f"{folder.name}: {CONFIG_NAME} must hold a JSON object.")
    kind = info.get("kind")
    if kind not in MODEL_KINDS:
        raise CheckpointError(
            f"{folder.name}: {CONFIG_NAME} has kind {kind!r}; expected one of {sorted(MODEL_KINDS)}."
        )
    if not isinstance(info.get("model_config"), dict):
        raise CheckpointError(f"{folder.name}: {CONFIG_NAME} has no 'model_config' object.")
    return info


def build_model(kind: str, model_config: dict[str, Any]) -> nn.Module:
    """Instantiate a model of `kind` from its config dict, with a clear error for bad fields."""
    model_cls, config_cls = MODEL_KINDS[kind]
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(model_config) - known)
    if unknown:
        raise CheckpointError(f"model_config has unknown field(s) {unknown} for a {kind}.")
    try:
        config = config_cls(**model_config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"model_config is not a valid {config_cls.__name__}: {e}") from e
    return model_cls(config)


def check_state_dict(model: nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    """Raise CheckpointError naming the first missing, unexpected or mis-shaped weight."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise CheckpointError(f"{name}: the weights are missing key '{missing[0]}' ({len(missing)} missing in all).")
    extra = [k for k in state if k not in expected]
    if extra:
        raise CheckpointError(f"{name}: the weights have unexpected key '{extra[0]}' ({len(extra)} extra in all).")
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"{name}: weight '{k}' has shape {tuple(state[k].shape)} but the config needs {tuple(v.shape)}."
            )
        if state[k].is_floating_point() and not torch.isfinite(state[k]).all():
            raise CheckpointError(f"{name}: weight '{k}' holds NaN or infinite values.")


def load_checkpoint(folder: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint folder; the model is in eval mode on `device` with gradients off."""
    folder = Path(folder)
    info = read_config(folder)
    kind = info["kind"]
    try:
        model = build_model(kind, info["model_config"])
    except CheckpointError as e:
        raise CheckpointError(f"{folder.name}: {e}") from e
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(f"{folder.name}: there is no {WEIGHTS_NAME} in the folder.")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{folder.name}: {WEIGHTS_NAME} is not a readable safetensors file ({e}).") from e
    check_state_dict(model, state, folder.name)
    model.load_state_dict(state)
    model.to(device).eval().requires_grad_(False)
    if kind == "latent-diffusion":
        try:
            model.attach_vae(_load_prior_vae(folder, model.config.vae, device))
        except ValueError as e:
            raise CheckpointError(f"{folder.name}: {e}") from e
    return Checkpoint(folder.name, kind, model, folder, info.get("dataset", ""), info)


def _load_prior_vae(folder: Path, vae_name: str, device: str | torch.device) -> nn.Module:
    """The VAE a latent-diffusion prior in `folder` belongs to: the folder `vae_name` beside it."""
    vae_folder = folder.parent / vae_name
    if not vae_name or not (vae_folder / CONFIG_NAME).is_file():
        raise CheckpointError(f"{folder.name}: this latent diffusion prior needs its VAE checkpoint "
                              f"{vae_name!r} in a folder beside it ({vae_folder}).")
    vae = load_checkpoint(vae_folder, device)
    if vae.kind != "vae":
        raise CheckpointError(f"{folder.name}: {vae_name} is a {vae.kind}, not the VAE this prior needs.")
    return vae.model


def list_checkpoints(root: str | os.PathLike = DEFAULT_CHECKPOINT_DIR, kind: str | None = None,
                     warn: bool = True) -> dict[str, Path]:
    """Every folder under `root` whose config.json is valid (optionally of one kind), by name.

    Folders with a broken config are skipped with a warning; weights are checked on load.
    """
    root = Path(root)
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for config_path in sorted(root.rglob(CONFIG_NAME)):
        folder = config_path.parent
        try:
            info = read_config(folder)
        except CheckpointError as e:
            if warn:
                warnings.warn(f"Skipping checkpoint: {e}")
            continue
        if not (folder / WEIGHTS_NAME).is_file():
            if warn:
                warnings.warn(f"Skipping checkpoint {folder.name}: no {WEIGHTS_NAME}.")
            continue
        if kind is None or info["kind"] == kind:
            found[folder.relative_to(root).as_posix()] = folder
    return found


def read_history(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """The per-epoch training history beside a checkpoint ([] when there is none)."""
    path = Path(folder) / HISTORY_NAME
    if not path.is_file():
        return []
    try:
        history = json.loads(path.read_text())
    except json.JSONDecodeError:
        return []
    return history if isinstance(history, list) else []
