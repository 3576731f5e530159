"""A checkpoint's own test images: a small held-out set of the folder it was trained on, shipped beside it.

A model trained on MNIST finds its test images in data/mnist wherever it goes; a model trained on a
user's folder of pictures would not (the folder stays on the machine it was trained on). So training
on a folder writes `heldout.safetensors` beside the weights:

    images   (N, C, H, W) uint8: up to MAX_HELDOUT pictures of the folder's test split, at the
             model's size, the classes taken in turn (never a training picture)
    labels   (N,) int64: the sub-folder of each (0 for a folder without sub-folders)
    metadata format, dataset (the folder's name), class_names (JSON: the sub-folders), source (the
             folder it was trained from: for the record only, never read at run time)

The app's test-image pickers, attribute banks, inpainting examples and lessons read it through
`genlab.service.ModelService.test_images`, so they work on another machine, a Space or the Hub.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from genlab.checkpoints import atomic_save_tensors
from genlab.data import CLASS_NAMES, DataError, ImageData, has_idx_files

HELDOUT_NAME = "heldout.safetensors"
HELDOUT_FORMAT = "genlab-heldout/1"
MAX_HELDOUT = 256  # pictures: 3 MB at 64x64 RGB


def is_image_folder(dataset: str) -> bool:
    """True when `dataset` names a folder of pictures (not a built-in dataset nor a folder of IDX files)."""
    return dataset.lower() not in (*CLASS_NAMES, "synthetic") and not has_idx_files(dataset)


def balanced_indices(labels: torch.Tensor, limit: int) -> list[int]:
    """Up to `limit` indices of `labels` (N,), the classes taken in turn (first of each, then second...), sorted."""
    by_class = [torch.nonzero(labels == k).flatten().tolist() for k in sorted(set(labels.tolist()))]
    picked: list[int] = []
    rank = 0
    while len(picked) < min(limit, len(labels)):
        for members in by_class:
            if rank < len(members) and len(picked) < limit:
                picked.append(members[rank])
        rank += 1
    return sorted(picked)


def write_heldout(folder: str | os.PathLike, data: ImageData, source: str | os.PathLike,
                  limit: int = MAX_HELDOUT) -> Path:
    """Store up to `limit` of `data`'s pictures (a test split, at the model's size) beside a checkpoint."""
    if len(data) == 0:
        raise DataError("There are no held-out pictures to store.")
    keep = torch.tensor(balanced_indices(data.labels, limit), dtype=torch.int64)
    images = (data.images[keep].clamp(0, 1) * 255).round().to(torch.uint8)
    meta = {"format": HELDOUT_FORMAT, "dataset": data.name, "class_names": json.dumps(list(data.class_names)),
            "source": str(Path(source).expanduser().resolve()), "count": str(len(keep))}
    path = Path(folder) / HELDOUT_NAME
    atomic_save_tensors(path, {"images": images, "labels": data.labels[keep].long()}, meta)
    return path


_cache: dict[tuple[str, int], ImageData] = {}
_lock = threading.Lock()


def read_heldout(folder: str | os.PathLike) -> ImageData | None:
    """The held-out pictures beside a checkpoint as float images in [0, 1], or None when there are none.

    Loaded once per file version and only read afterwards. A damaged file raises DataError.
    """
    path = Path(folder) / HELDOUT_NAME
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    key = (str(path), stamp)
    with _lock:
        if key in _cache:
            return _cache[key]
        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
                if meta.get("format") != HELDOUT_FORMAT:
                    raise DataError(f"{path.parent.name}: {HELDOUT_NAME} is not a genlab held-out set.")
                images, labels = f.get_tensor("images"), f.get_tensor("labels")
            class_names = json.loads(meta.get("class_names", "[]"))
        except (SafetensorError, OSError, ValueError, KeyError) as e:
            raise DataError(f"{path.parent.name}: {HELDOUT_NAME} could not be read ({e}).") from None
        if images.ndim != 4 or labels.shape != (images.shape[0],):
            raise DataError(f"{path.parent.name}: {HELDOUT_NAME} holds images {tuple(images.shape)} "
                            f"and labels {tuple(labels.shape)}, which do not match.")
        data = ImageData(images.float().div_(255.0), labels.long(), [str(n) for n in class_names],
                         meta.get("dataset", path.parent.name))
        for old in [k for k in _cache if k[0] == key[0]]:  # an earlier version of this file
            del _cache[old]
        _cache[key] = data
        return data


def distinct_classes(data: ImageData | None) -> int:
    """How many classes the pictures have examples of (0 for none)."""
    return 0 if data is None or len(data) == 0 else len(set(data.labels.tolist()))


def own_test_images(folder: str | os.PathLike, image_shape: tuple[int, int, int]) -> ImageData | None:
    """The held-out pictures beside the checkpoint in `folder`, checked against its model's
    (C, H, W); None when it carries none. DataError when they are damaged or of another size."""
    data = read_heldout(folder)
    if data is not None and tuple(data.images.shape[1:]) != tuple(image_shape):
        raise DataError(f"{Path(folder).name}: {HELDOUT_NAME} holds pictures of {tuple(data.images.shape[1:])}, "
                        f"but the model makes {tuple(image_shape)}.")
    return data


def bank_options(checkpoint: Any, has_classifier: bool) -> dict[str, Any]:
    """`genlab.attributes.build_bank`'s keyword arguments for a checkpoint that carries its own
    pictures: their measured attributes are those of photographs (photo=True), and an unconditional
    GAN with no classifier of its folder is inverted on them for its class directions (labelled=...,
    when they hold two classes or more). {} for a checkpoint without pictures of its own."""
    from genlab.attributes import inverted_examples

    model = checkpoint.model
    own = own_test_images(checkpoint.path, (model.config.channels, model.config.image_size, model.config.image_size))
    if own is None:
        return {}
    options: dict[str, Any] = {"photo": True}
    plain_gan = checkpoint.kind == "gan" and not getattr(model.config, "num_classes", 0)
    if plain_gan and not has_classifier and distinct_classes(own) >= 2:
        options["labelled"] = inverted_examples(model, own)
    return options
