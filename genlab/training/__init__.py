"""Training loops for the VAE, the GAN and the classifier, and the command line behind `train/`.

One loop serves all three models. What makes it dependable:
- All randomness of epoch e comes from generators seeded with (seed, e, rank), so a run that is
  killed and resumed from its last complete epoch ends exactly where an uninterrupted one does.
- Each epoch ends by writing `training_state.safetensors` (weights, optimizer state, history)
  atomically, then the public checkpoint (config.json + model.safetensors), history.json and a
  sample grid. `--resume` restarts from the last complete epoch.
- A NaN or inf loss stops the run with `TrainingDiverged`; nothing is written for that epoch,
  so the last good checkpoint stays as it was.
- Under `torchrun --nproc_per_node=N` each process trains on its shard of every epoch
  (gloo on CPU, NCCL on GPU) and rank 0 alone writes.
- On a CUDA GPU the forward passes run under bf16 autocast (losses and weights stay float32);
  on the CPU nothing changes.

Modules, by job:
- config: TrainConfig, TrainingDiverged, seeded randomness, autocast, the learning-rate schedule
- distributed: the torchrun process group and DDP wrapping
- state: the resume state (training_state.safetensors)
- grids: the PNG sample grid
- tasks: VAETask, GANTask, ClassifierTask (one step, evaluation, samples of each model)
- loop: `train`, the loop itself, and what it writes after each epoch
- cli: the command line behind train/*.py

Everything that train/, bench/ and tests/ import is re-exported here.
"""

from __future__ import annotations

from genlab.training.config import (
    SAMPLES_DIR, STATE_NAME, TrainConfig, TrainingDiverged, _lr_factor, autocast, randn, seeded,
)
from genlab.training.distributed import Dist, average_across_ranks, ddp, init_distributed
from genlab.training.grids import save_image_grid
from genlab.training.state import load_training_state, save_training_state, state_model_config
from genlab.training.tasks import TASKS, ClassifierTask, GANTask, Task, VAETask, random_shift
from genlab.training.loop import train
from genlab.training.cli import DEFAULTS, build_parser, check_device, check_hub_repo, configs_from_args, main

__all__ = [
    "SAMPLES_DIR", "STATE_NAME", "TrainConfig", "TrainingDiverged", "_lr_factor", "autocast", "randn", "seeded",
    "Dist", "average_across_ranks", "ddp", "init_distributed", "save_image_grid",
    "load_training_state", "save_training_state", "state_model_config",
    "TASKS", "ClassifierTask", "GANTask", "Task", "VAETask", "random_shift", "train",
    "DEFAULTS", "build_parser", "check_device", "check_hub_repo", "configs_from_args", "main",
]
