"""The training loop shared by the three models, and what it writes after each epoch."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from genlab import checkpoints as ckpt
from genlab.data import ImageData, load_dataset
from genlab.heldout import HELDOUT_NAME, is_image_folder, write_heldout
from genlab.models import MODEL_KINDS
from genlab.training.config import SAMPLES_DIR, STATE_NAME, TrainConfig, TrainingDiverged, _lr_factor, seeded
from genlab.training.distributed import average_across_ranks, init_distributed
from genlab.training.grids import save_image_grid
from genlab.training.state import load_training_state, save_training_state, state_model_config
from genlab.training.tasks import TASKS, Task


def train(kind: str, model_config: Any, tc: TrainConfig,
          on_epoch: Callable[[int, dict[str, Any]], None] | None = None) -> Path:
    """Train a model of `kind` ("vae", "gan", "classifier") as `tc` says; returns the folder.

    With tc.resume and a training_state in tc.out, continues from its last complete epoch
    (the model config then comes from that checkpoint). Raises TrainingDiverged on NaN/inf.
    """
    if kind not in TASKS:
        raise ValueError(f"Unknown model kind {kind!r}; expected one of {sorted(TASKS)}.")
    d = init_distributed(tc.device)
    device = torch.device(tc.device)
    if device.type == "cuda" and d.world_size > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    out = Path(tc.out)

    start_epoch, history = 0, []
    if tc.resume and (out / STATE_NAME).is_file():
        model_config = ckpt.build_model(kind, state_model_config(out)).config

    train_data = load_dataset(tc.dataset, "train", tc.data_dir, model_config.image_size,
                              model_config.channels, tc.download, tc.seed)
    test_data = load_dataset(tc.dataset, "test", tc.data_dir, model_config.image_size,
                             model_config.channels, tc.download, tc.seed)
    if tc.limit:
        train_data.images, train_data.labels = train_data.images[:tc.limit], train_data.labels[:tc.limit]
    if kind == "classifier" and len(train_data.class_names) != model_config.num_classes:
        model_config = dataclasses.replace(model_config, num_classes=max(2, len(train_data.class_names)))
    if kind == "gan" and model_config.num_classes and model_config.num_classes != len(train_data.class_names):
        model_config = dataclasses.replace(model_config, num_classes=len(train_data.class_names))

    torch.manual_seed(tc.seed)
    model = MODEL_KINDS[kind][0](model_config).to(device)
    task = TASKS[kind](model, tc, device, d)
    optimizers = task.optimizers()
    if tc.resume and (out / STATE_NAME).is_file():
        start_epoch, history, extra = load_training_state(out, model, optimizers, device)
        task.load_extra_state(extra)
        if d.is_main:
            print(f"Resuming {out} from epoch {start_epoch}.", file=sys.stderr)
    task.wrap()
    model.train()
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / SAMPLES_DIR).mkdir(exist_ok=True)

    images, labels = train_data.images.to(device), train_data.labels.to(device)
    n_per_rank = len(train_data) // d.world_size
    steps_per_epoch = max(1, math.ceil(n_per_rank / tc.batch_size))
    total_steps = steps_per_epoch * tc.epochs
    for epoch in range(start_epoch, tc.epochs):
        g = seeded(tc.seed, epoch, d.rank)
        torch.manual_seed(tc.seed * 1000 + epoch * 10 + d.rank)  # dropout and other global draws
        order = torch.randperm(len(train_data), generator=seeded(tc.seed, epoch, stream=1))
        order = order[d.rank::d.world_size][:n_per_rank].to(device)
        sums: dict[str, float] = {}
        t0 = time.perf_counter()
        bar = tqdm(range(steps_per_epoch), desc=f"{kind} epoch {epoch + 1}/{tc.epochs}",
                   disable=not (tc.progress and d.is_main), leave=False, dynamic_ncols=True)
        for s in bar:
            factor = _lr_factor(tc, (epoch * steps_per_epoch + s) / total_steps)
            for group in [gr for opt in optimizers.values() for gr in opt.param_groups]:
                group["lr"] = group.setdefault("base_lr", group["lr"]) * factor
            idx = order[s * tc.batch_size:(s + 1) * tc.batch_size]
            values = task.step(images[idx], labels[idx], g)
            for k, v in values.items():
                v = float(v.detach()) if torch.is_tensor(v) else float(v)
                if not math.isfinite(v):
                    raise TrainingDiverged(
                        f"The {k} became {v} at epoch {epoch + 1}, step {s + 1}. Nothing was written for "
                        f"this epoch: the last good checkpoint (epoch {epoch}) in {out} is untouched. "
                        f"Try a lower --lr (now {tc.lr})."
                    )
                sums[k] = sums.get(k, 0.0) + v
            if s % 20 == 0:
                bar.set_postfix({k: f"{v / (s + 1):.3g}" for k, v in sums.items()})
        bar.close()
        record: dict[str, Any] = {"epoch": epoch + 1}
        record.update({k: v / steps_per_epoch for k, v in average_across_ranks(sums, d, device).items()})
        record["seconds"] = time.perf_counter() - t0
        if d.is_main:
            record.update(task.evaluate(test_data))
            history.append(record)
            _write_epoch(out, kind, model, task, optimizers, tc, epoch + 1, history, train_data)
            if is_image_folder(tc.dataset) and (epoch == start_epoch or not (out / HELDOUT_NAME).is_file()):
                write_heldout(out, test_data, tc.dataset)  # the test pictures travel with the checkpoint
            summary = ", ".join(f"{k} {v:.4g}" for k, v in record.items()
                                if isinstance(v, float) and k != "seconds")
            print(f"[{out.name}] epoch {epoch + 1}/{tc.epochs} ({record['seconds']:.1f} s): {summary}",
                  file=sys.stderr, flush=True)
            if on_epoch:
                on_epoch(epoch + 1, record)
    if d.world_size > 1:
        dist.barrier()
    return out


def _write_epoch(out: Path, kind: str, model: nn.Module, task: Task, optimizers, tc: TrainConfig,
                 epoch: int, history: list[dict[str, Any]], data: ImageData) -> None:
    # The resume state first: once it is renamed into place the epoch counts as complete.
    save_training_state(out, model, optimizers, epoch, history, task.extra_state())
    grid = task.samples()
    if grid is not None:
        save_image_grid(grid.cpu(), out / SAMPLES_DIR / f"epoch_{epoch:03d}.png")
    last = {k: v for k, v in history[-1].items() if k != "epoch"}
    train_args = {k: v for k, v in dataclasses.asdict(tc).items() if k not in ("out", "progress", "resume")}
    ckpt.atomic_write_json(out / ckpt.HISTORY_NAME, history)
    ckpt.save_checkpoint(
        task.public_model(), out, kind, dataset=tc.dataset if tc.dataset in ("mnist", "fashion-mnist", "synthetic") else data.name,
        epochs=epoch, seed=tc.seed, metrics=last, class_names=data.class_names,
        extra={"training": train_args, "train_images": len(data),
               # where a folder's pictures were (for the record: the app reads heldout.safetensors instead)
               **({"trained_from": str(Path(tc.dataset).expanduser().resolve())} if is_image_folder(tc.dataset) else {})},
    )
