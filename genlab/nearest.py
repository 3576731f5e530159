"""Nearest training images: did the generator just copy its training set?

For a generated image, the k training images closest to it in the feature space of the dataset's
classifier (its penultimate layer, `Classifier.features`, the space where the project measures
Fréchet distance, precision and recall), with their Euclidean distances, beside a reference: how
far a real held-out test image is from its nearest training image, measured in the same space by
the same code when the index was built. A generated image much closer to a training image than
real unseen images are to theirs looks like a near copy; one as far as a typical test image does
not.

    index = nearest_index(classifier_checkpoint)      # or index_for(model_service)
    found = index.nearest(images, k=5)                # images (B, C, H, W) in [0, 1]
    found.indices, found.distances                    # (B, 5) training-set rows, nearest first
    index.reference.median, index.reference.p5        # test images to their nearest training image
    found.verdict(0)                                  # one sentence for image 0

The index is precomputed by `python train/precompute.py` beside the classifier's weights, in shards
`nearest-00001-of-0000N.safetensors`, each under 10 MB (what a Space takes as a plain file):

    features        (n_i, L) float16, shard i's rows of the training images' features, in the L
                    dimensions that are non-zero on some training image (the ReLU leaves the others
                    zero on every one of them; a query's values there still count, exactly)
    the first shard also holds
    live_dims       (L,) int64: which of the classifier's feature dimensions those are
    labels          (N,) int64: the training images' classes
    test_distances  (M,) float32, ascending: each test image's distance to its nearest training image
    metadata        format, dataset, the classifier's weights SHA-256, the training images' SHA-256
                    (of their pixels), counts, shards, when and how it was built

A query is one matmul over the (N, L) features (brute force; bench/nearest.py measures it). The
training images themselves (to show the neighbours) are read once, on first use, from the dataset's
IDX files in data/<dataset>/ (or the folders of GENLAB_DATA_PATH), never from system folders; where
they are not (a user's own dataset, a copy without them) the distances and the comparison are still
given, with one sentence saying why the pictures are missing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors import safe_open

from genlab.checkpoints import WEIGHTS_NAME, Checkpoint, atomic_save_tensors, code_version
from genlab.data import (DataError, SYSTEM_DATA_DIRS, _find_idx, _IDX_FILES, data_search_path, load_dataset,
                         read_idx, resolve_data_dir)

NEAREST_FORMAT = "genlab-nearest/1"
SHARD_PATTERN = "nearest-{index:05d}-of-{count:05d}.safetensors"
MAX_SHARD_BYTES = 8 * 2**20  # below a Space's 10 MB limit for plain files, with room for the metadata
DEFAULT_K = 5
MAX_K = 50
NEAR_COPY_SHARE = 0.95  # closer than this share of test images are to theirs: a near copy
CLOSE_SHARE = 0.75  # closer than this share: closer than usual
FAR_SHARE = 0.05  # closer than at most this share (farther than 95%): unlike the training images
QUERY_CHUNK = 1024  # queries per matmul when many images are searched at once

ProgressFn = Callable[[int, int], None]


class NearestUnavailable(ValueError):
    """The nearest training images cannot be found for this model; the message is one sentence."""


# -- the reference: test images to their nearest training image -------------------------------------


@dataclass(frozen=True)
class Reference:
    """How far real held-out test images are from their nearest training image (the same space)."""

    test_distances: torch.Tensor  # (M,) float32, ascending

    @property
    def count(self) -> int:
        return int(self.test_distances.numel())

    def quantile(self, q: float) -> float:
        return float(torch.quantile(self.test_distances.double(), q))

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    @property
    def p5(self) -> float:
        """The 5th percentile: 95% of test images are farther than this from their nearest training image."""
        return self.quantile(0.05)

    def share_farther(self, distance: float) -> float:
        """The share of test images whose nearest training image is farther than `distance` (0 to 1):
        a generated image at `distance` is closer to its nearest training image than they are."""
        below_or_equal = int(torch.searchsorted(self.test_distances, torch.tensor([float(distance)]), right=True))
        return 1.0 - below_or_equal / max(1, self.count)

    def as_dict(self) -> dict[str, float | int]:
        return {"median": round(self.median, 4), "p5": round(self.p5, 4), "test_images": self.count}


def _percent_floor(share: float) -> str:
    return f"{math.floor(share * 100 + 1e-9)}%"


def verdict(distance: float, reference: Reference) -> str:
    """One sentence comparing a generated image's distance to its nearest training image with the
    test images' distances to theirs."""
    share = reference.share_farther(distance)
    start = f"Its nearest training image is at {distance:.2f}"
    median = f"median {reference.median:.2f}"
    if share >= 1.0:
        return (f"{start}: closer than every one of the {reference.count:,} real test images is to its own nearest "
                f"training image ({median}) - looks like a near copy.")
    if share >= NEAR_COPY_SHARE:
        return (f"{start}: closer than {_percent_floor(share)} of real test images are to their nearest training "
                f"image ({median}) - looks like a near copy.")
    if share >= CLOSE_SHARE:
        return (f"{start}: closer than {_percent_floor(share)} of real test images are to theirs ({median}) - "
                f"closer than usual, but not a copy; compare the pictures.")
    if share > FAR_SHARE:
        return (f"{start}, about as far as real unseen images are from theirs ({median}; {_percent_floor(share)} "
                f"of test images are farther) - no sign of copying.")
    if share <= 0.0:
        return (f"{start}: farther than every one of the {reference.count:,} real test images is from its own "
                f"({median}) - not a copy, and unlike the training images.")
    return (f"{start}: farther than {_percent_floor(1 - share)} of real test images are from theirs ({median}) - "
            f"not a copy, and unlike the training images.")


# -- results ------------------------------------------------------------------------------------------


@dataclass
class Neighbours:
    """The k nearest training images of each of B images, nearest first."""

    indices: torch.Tensor  # (B, k) int64: rows of the training split
    distances: torch.Tensor  # (B, k) float32: Euclidean, in the classifier's feature space
    labels: torch.Tensor  # (B, k) int64: their classes
    reference: Reference
    dataset: str
    class_names: list[str]
    images: torch.Tensor | None  # (B, k, C, H, W) float32 in [0, 1]; None when they are not here
    missing_images: str | None  # one sentence when `images` is None

    def verdict(self, i: int = 0) -> str:
        """One sentence for image i: its closest distance against the test images' typical distance."""
        return verdict(float(self.distances[i, 0]), self.reference)

    def share_farther(self, i: int = 0) -> float:
        """The share of real test images farther from their nearest training image than image i is."""
        return self.reference.share_farther(float(self.distances[i, 0]))

    def class_name(self, label: int) -> str:
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)


# -- where the training images are ----------------------------------------------------------------------


def training_images_file(dataset: str) -> Path | None:
    """The IDX file of the training images of `dataset` along the app's data search path
    (data/<dataset>/ or GENLAB_DATA_PATH; system folders such as /usr/share are not searched at run
    time), or None."""
    system = {p.resolve() for p in SYSTEM_DATA_DIRS.get(dataset, [])}
    for folder in data_search_path(dataset):
        if folder.resolve() in system:
            continue
        path = _find_idx(folder, _IDX_FILES["train"][0])
        if path is not None:
            return path
    return None


def pixels_digest(images: np.ndarray) -> str:
    """SHA-256 of a uint8 image array's bytes (the same for gzipped and plain IDX files)."""
    return hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).tobytes()).hexdigest()


def weights_digest(folder: Path) -> str:
    h = hashlib.sha256()
    with open(folder / WEIGHTS_NAME, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- the index ----------------------------------------------------------------------------------------------


@torch.no_grad()
def classifier_features(classifier: torch.nn.Module, images: torch.Tensor, batch_size: int = 500,
                        progress: ProgressFn | None = None) -> torch.Tensor:
    """images (N, C, H, W) in [0, 1] (float, or uint8 in 0..255) -> penultimate features (N, d) float32, CPU."""
    device = next(classifier.parameters()).device
    was_training = classifier.training
    classifier.eval()
    out = []
    try:
        for start in range(0, images.shape[0], batch_size):
            batch = images[start:start + batch_size]
            batch = batch.float().div(255.0) if batch.dtype == torch.uint8 else batch.float()
            out.append(classifier.features(batch.to(device)).float().cpu())
            if progress is not None:
                progress(min(start + batch_size, images.shape[0]), images.shape[0])
    finally:
        classifier.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, classifier.config.feature_dim)


class NearestIndex:
    """The training images' features of one dataset in its classifier's space, and the reference.

    Build with `NearestIndex.read(classifier_checkpoint)` (from the precomputed shards) or
    `nearest_index(...)` (cached). Thread-safe: only read after construction, the pictures loaded
    once under a lock.
    """

    def __init__(self, classifier: Checkpoint, features: torch.Tensor, live_dims: torch.Tensor,
                 labels: torch.Tensor, test_distances: torch.Tensor, meta: dict[str, str]) -> None:
        self.classifier = classifier
        # (L, N) float32, transposed: float16 on disk; a query's matmul reads contiguous rows (3-5x faster
        # than through a transposed view on this project's CPU)
        self.features_by_dim = features.float().T.contiguous()
        self.sq_norms = self.features_by_dim.pow(2).sum(0)  # (N,)
        self.live_dims = live_dims.long()
        feature_dim = int(classifier.model.config.feature_dim)
        dead = torch.ones(feature_dim, dtype=torch.bool)
        dead[self.live_dims] = False
        self.dead_dims = torch.nonzero(dead).flatten()
        self.labels = labels.long()
        self.reference = Reference(test_distances.float().sort().values)
        self.meta = dict(meta)
        self._lock = threading.Lock()
        self._images: np.ndarray | None = None  # (N, H, W) uint8, loaded on first use
        self._missing: str | None = None

    # -- what it is --------------------------------------------------------------------------------
    @property
    def features(self) -> torch.Tensor:
        """The training images' features (N, L) in the live dimensions (a view)."""
        return self.features_by_dim.T

    @property
    def dataset(self) -> str:
        return self.classifier.dataset

    def __len__(self) -> int:
        return int(self.features_by_dim.shape[1])

    @property
    def class_names(self) -> list[str]:
        return list(self.classifier.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c = self.classifier.model.config
        return (int(c.channels), int(c.image_size), int(c.image_size))

    # -- searching -----------------------------------------------------------------------------------
    def query_features(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) in [0, 1] -> their classifier features (B, d)."""
        images = torch.as_tensor(images)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or tuple(images.shape[1:]) != self.image_shape:
            raise NearestUnavailable(
                f"The classifier of {self.dataset} takes images of shape {self.image_shape}; got "
                f"{tuple(images.shape[1:]) if images.ndim == 4 else tuple(images.shape)}.")
        return classifier_features(self.classifier.model, images)

    def search_features(self, feats: torch.Tensor, k: int = DEFAULT_K,
                        within: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (B, d) -> (indices (B, k), distances (B, k)) of the nearest training images, nearest
        first, among the first `within` training images (all when None)."""
        rows = len(self) if within is None else max(1, min(int(within), len(self)))
        features, sq_norms = self.features_by_dim[:, :rows], self.sq_norms[:rows]
        k = max(1, min(int(k), rows))
        feats = feats.float().cpu()
        live, dead = feats[:, self.live_dims], feats[:, self.dead_dims]
        indices, distances = [], []
        for start in range(0, feats.shape[0], QUERY_CHUNK):
            q = live[start:start + QUERY_CHUNK]
            # ||q - t||^2 = ||q_live||^2 + ||q_dead||^2 + ||t||^2 - 2 q_live . t (t is zero in the dead dims)
            d2 = torch.addmm(sq_norms[None], q, features, alpha=-2.0)
            d2 += (q.pow(2).sum(1) + dead[start:start + QUERY_CHUNK].pow(2).sum(1))[:, None]
            best, idx = torch.topk(d2, k, dim=1, largest=False)  # sorted, nearest first
            indices.append(idx)
            distances.append(best.clamp_min(0).sqrt())
        return torch.cat(indices), torch.cat(distances)

    def nearest(self, images: torch.Tensor, k: int = DEFAULT_K, with_images: bool = True,
                within: int | None = None) -> Neighbours:
        """images (B, C, H, W) in [0, 1] -> their k nearest training images (`Neighbours`), with the
        pictures when the training images are here (else `missing_images` says why, in one sentence).
        `within`: search only the first `within` training images (a model trained on them alone,
        `training_rows`); the reference stays the test images against the whole training split."""
        if not 1 <= int(k) <= MAX_K:
            raise NearestUnavailable(f"k must be from 1 to {MAX_K}, got {k!r}.")
        indices, distances = self.search_features(self.query_features(images), k, within)
        pictures, missing = (self.training_images(indices) if with_images else (None, None))
        return Neighbours(indices, distances, self.labels[indices], self.reference, self.dataset,
                          self.class_names, pictures, missing)

    # -- the pictures ----------------------------------------------------------------------------------
    def _load_images(self) -> None:
        path = training_images_file(self.dataset)
        if path is None:
            self._missing = (f"The training images of {self.dataset} are not on this server, so only their "
                             f"distances are shown (data/README.md in the Genlab repository says where they go).")
            return
        try:
            images = read_idx(path)
        except DataError:
            images = None
        if images is None or images.ndim != 3 or images.shape[0] != len(self):
            self._missing = (f"The training images of {self.dataset} on this server are not the "
                             f"{len(self):,} the index was built from, so only their distances are shown.")
            return
        expected = self.meta.get("train_images_sha256")
        if expected and pixels_digest(images) != expected:
            self._missing = (f"The training images of {self.dataset} on this server differ from the ones the "
                             f"index was built from (run train/precompute.py again), so only distances are shown.")
            return
        self._images = images

    def training_images(self, indices: torch.Tensor) -> tuple[torch.Tensor | None, str | None]:
        """indices (...) -> (pictures (..., C, H, W) in [0, 1], None), or (None, one sentence) when the
        training images are not here."""
        with self._lock:
            if self._images is None and self._missing is None:
                self._load_images()
        if self._images is None:
            return None, self._missing
        picked = torch.from_numpy(self._images[indices.flatten().numpy()].copy()).float().div_(255.0)
        c = self.image_shape[0]
        picked = picked[:, None].expand(-1, c, -1, -1) if c > 1 else picked[:, None]
        return picked.reshape(*indices.shape, *picked.shape[1:]), None

    # -- files ----------------------------------------------------------------------------------------
    @staticmethod
    def shard_paths(folder: Path) -> list[Path]:
        """The index's shards in a classifier's folder, in order ([] when there is no index)."""
        first = sorted(folder.glob("nearest-00001-of-*.safetensors"))
        if not first:
            return []
        count = int(first[-1].stem.rsplit("-", 1)[1])
        return [folder / SHARD_PATTERN.format(index=i, count=count) for i in range(1, count + 1)]

    @classmethod
    def read(cls, classifier: Checkpoint) -> "NearestIndex":
        """The precomputed index beside `classifier`'s weights; NearestUnavailable (one sentence) when
        it is missing, damaged, or belongs to other weights."""
        paths = cls.shard_paths(classifier.path)
        rerun = f"run `python train/precompute.py {classifier.name}`"
        if not paths:
            raise NearestUnavailable(f"The nearest-training-image index of {classifier.name} has not been "
                                     f"computed ({rerun}).")
        try:
            parts: list[torch.Tensor] = []
            extra: dict[str, torch.Tensor] = {}
            meta: dict[str, str] = {}
            for i, path in enumerate(paths):
                with safe_open(str(path), "pt") as f:
                    if i == 0:
                        meta = f.metadata() or {}
                        extra = {k: f.get_tensor(k) for k in ("live_dims", "labels", "test_distances")}
                    parts.append(f.get_tensor("features"))
        except Exception as e:  # noqa: BLE001 - a missing or damaged shard: one sentence
            raise NearestUnavailable(f"The nearest-training-image index of {classifier.name} could not be read "
                                     f"({type(e).__name__}; {rerun}).") from None
        if meta.get("format") != NEAREST_FORMAT or meta.get("classifier_sha256") != weights_digest(classifier.path):
            raise NearestUnavailable(f"The nearest-training-image index of {classifier.name} was computed for other "
                                     f"weights ({rerun}).")
        features = torch.cat(parts)
        if features.shape[0] != int(meta.get("train_images", -1)) or features.shape[0] != extra["labels"].shape[0]:
            raise NearestUnavailable(f"The nearest-training-image index of {classifier.name} is incomplete ({rerun}).")
        return cls(classifier, features, extra["live_dims"], extra["labels"], extra["test_distances"], meta)


def training_rows(info: dict, index: NearestIndex) -> int | None:
    """How many of the index's training images a model saw, from its config.json `info`, when it was
    trained on the first ones only (`--limit`, as genlab.training takes them); None: all of them."""
    training = info.get("training") or {}
    seen, limit = info.get("train_images"), training.get("limit")
    if info.get("dataset") != index.dataset or not seen or not limit or int(seen) != int(limit):
        return None
    return int(seen) if int(seen) < len(index) else None


# -- building it (train/precompute.py) ------------------------------------------------------------------------


def build_index(classifier: Checkpoint, train_images: np.ndarray | torch.Tensor, train_labels: torch.Tensor,
                test_images: torch.Tensor, progress: ProgressFn | None = None) -> NearestIndex:
    """The index of `classifier`'s dataset in memory: train_images (N, H, W) or (N, C, H, W) uint8 (or
    float in [0, 1]), their labels (N,), test_images (M, C, H, W) in [0, 1] for the reference."""
    start = time.perf_counter()
    train = train_images if isinstance(train_images, torch.Tensor) else torch.from_numpy(np.array(train_images))
    if train.ndim == 3:
        train = train[:, None]
    total = train.shape[0] + test_images.shape[0]
    train_feats = classifier_features(classifier.model, train,
                                      progress=(lambda i, n: progress(i, total)) if progress else None)
    test_feats = classifier_features(classifier.model, test_images,
                                     progress=(lambda i, n: progress(train.shape[0] + i, total)) if progress else None)
    live_dims = torch.nonzero(train_feats.max(0).values > 0).flatten()
    stored = train_feats[:, live_dims].half()  # what the file keeps, and what every query searches
    digest = pixels_digest(train.squeeze(1).numpy()) if train.dtype == torch.uint8 else ""
    meta = {"format": NEAREST_FORMAT, "dataset": classifier.dataset, "classifier": classifier.name,
            "classifier_sha256": weights_digest(classifier.path), "train_images": str(train.shape[0]),
            "train_images_sha256": digest, "test_images": str(test_images.shape[0]),
            "feature_dim": str(train_feats.shape[1]), "live_dims": str(live_dims.numel()),
            "code_version": code_version(), "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    index = NearestIndex(classifier, stored, live_dims, torch.as_tensor(train_labels).long(), torch.zeros(0), meta)
    _, test_nearest = index.search_features(test_feats, k=1)  # the same search a query gets
    index.reference = Reference(test_nearest[:, 0].sort().values)
    index.meta["seconds"] = f"{time.perf_counter() - start:.1f}"
    return index


def write_index(index: NearestIndex) -> list[Path]:
    """Store `index` beside its classifier's weights in shards of at most MAX_SHARD_BYTES of features
    (older shards removed). Returns the shard paths."""
    folder = index.classifier.path
    features = index.features.half()
    row_bytes = features.shape[1] * 2
    rows = max(1, MAX_SHARD_BYTES // max(1, row_bytes))
    count = max(1, math.ceil(features.shape[0] / rows))
    meta = {**index.meta, "shards": str(count),
            "reference": json.dumps(index.reference.as_dict())}  # readable without torch: the median and p5
    paths = []
    for i in range(count):
        tensors = {"features": features[i * rows:(i + 1) * rows]}
        if i == 0:
            tensors.update({"live_dims": index.live_dims, "labels": index.labels,
                            "test_distances": index.reference.test_distances})
        path = folder / SHARD_PATTERN.format(index=i + 1, count=count)
        atomic_save_tensors(path, tensors, meta)
        paths.append(path)
    for old in folder.glob("nearest-*-of-*.safetensors"):
        if old not in paths:
            old.unlink()
    with _cache_lock:
        _cache.pop(str(folder.resolve()), None)
    return paths


def precompute(classifier: Checkpoint, data_dir: str | Path | None = None,
               progress: ProgressFn | None = None) -> list[Path]:
    """Build and store the index of `classifier`'s dataset (train/precompute.py). Reads the training
    split wherever training reads it (`data_dir`, data/, GENLAB_DATA_PATH, Debian's folder) and the
    test split; DataError when either is not on this machine."""
    dataset = classifier.dataset
    folder = resolve_data_dir(dataset, data_dir, split="train")
    image_path, label_path = _find_idx(folder, _IDX_FILES["train"][0]), _find_idx(folder, _IDX_FILES["train"][1])
    if image_path is None or label_path is None:  # resolve_data_dir found them; kept for the type checker
        raise DataError(f"The training split of {dataset} is not in {folder}.")
    images, labels = read_idx(image_path), read_idx(label_path)
    c, size = int(classifier.model.config.channels), int(classifier.model.config.image_size)
    if images.shape[1:] != (size, size) or c != 1:
        raise DataError(f"{classifier.name} takes {c}x{size}x{size} images; the IDX files hold {images.shape[1:]}.")
    test = load_dataset(dataset, "test", image_size=size, channels=c)
    index = build_index(classifier, images, torch.from_numpy(labels.astype(np.int64)), test.images, progress)
    return write_index(index)


# -- the cache the app and the API use ---------------------------------------------------------------------------

_cache: dict[str, tuple[int, NearestIndex]] = {}
_cache_lock = threading.Lock()


def nearest_index(classifier: Checkpoint) -> NearestIndex:
    """The index of `classifier` read once per process (again when the classifier is reloaded);
    NearestUnavailable (one sentence) when it cannot be had."""
    key = str(Path(classifier.path).resolve())
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == id(classifier.model):
            return cached[1]
    index = NearestIndex.read(classifier)  # raises; failures are not cached, so a later precompute is seen
    with _cache_lock:
        _cache[key] = (id(classifier.model), index)
    return index


def index_for(service: object) -> NearestIndex:
    """The index for a VAE's or GAN's `genlab.service.ModelService` (its dataset's classifier), or
    for a classifier's own service; NearestUnavailable (one sentence) when there is none."""
    kind = getattr(service, "kind", None)
    if kind == "classifier":
        return nearest_index(service.checkpoint)  # type: ignore[attr-defined]
    classifier = getattr(service, "classifier", None)
    if classifier is None:
        raise NearestUnavailable(
            f"There is no classifier of {getattr(service, 'dataset', 'this dataset')} here, and the nearest training "
            f"images are found in a classifier's feature space.")
    return nearest_index(classifier.checkpoint)
