"""The resume state: model, optimizers, history and task extras in one atomically written file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from genlab import checkpoints as ckpt
from genlab.training.config import STATE_NAME


def _flatten_optimizer(name: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = opt.state_dict()
    tensors = {}
    for idx, per_param in state["state"].items():
        for key, value in per_param.items():
            tensors[f"optim.{name}.{idx}.{key}"] = torch.as_tensor(value)
    return tensors, {"param_groups": state["param_groups"]}


def _restore_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                       groups: dict[str, Any]) -> None:
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    prefix = f"optim.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            idx, field_name = key[len(prefix):].split(".", 1)
            per_param.setdefault(int(idx), {})[field_name] = value
    opt.load_state_dict({"state": per_param, "param_groups": groups["param_groups"]})


def save_training_state(folder: Path, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                        epoch: int, history: list[dict[str, Any]],
                        extra: dict[str, torch.Tensor] | None = None) -> None:
    """Everything `--resume` needs, in one atomically written safetensors file."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"extra.{k}": v for k, v in (extra or {}).items()})
    groups = {}
    for name, opt in optimizers.items():
        t, g = _flatten_optimizer(name, opt)
        tensors.update(t)
        groups[name] = g
    metadata = {"epoch": str(epoch), "history": json.dumps(history), "optimizers": json.dumps(groups),
                "model_config": json.dumps(dataclasses.asdict(model.config))}
    ckpt.atomic_save_tensors(folder / STATE_NAME, tensors, metadata)


def state_model_config(folder: Path) -> dict[str, Any]:
    """The model config a training_state was written with (older states: from config.json).

    The state is written before config.json, so a run killed in between still resumes.
    """
    from safetensors import safe_open

    with safe_open(str(folder / STATE_NAME), framework="pt") as f:
        metadata = f.metadata() or {}
    if "model_config" in metadata:
        return json.loads(metadata["model_config"])
    return ckpt.read_config(folder)["model_config"]


def load_training_state(folder: Path, model: nn.Module, optimizers: dict[str, torch.optim.Optimizer],
                        device: torch.device) -> tuple[int, list[dict[str, Any]], dict[str, torch.Tensor]]:
    """Restore a run from its training_state file -> (completed epochs, history, extra).

    `extra` holds the tensors a task saved beside the model (the GAN's moving-average generator).
    """
    from safetensors import safe_open

    path = folder / STATE_NAME
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    tensors = load_file(str(path), device="cpu")
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    extra = {k[len("extra."):]: v for k, v in tensors.items() if k.startswith("extra.")}
    ckpt.check_state_dict(model, model_state, folder.name)
    model.load_state_dict(model_state)
    groups = json.loads(metadata.get("optimizers", "{}"))
    for name, opt in optimizers.items():
        _restore_optimizer(name, opt, {k: v.to(device) for k, v in tensors.items()}, groups[name])
    return int(metadata["epoch"]), json.loads(metadata.get("history", "[]")), extra
