"""Datasets as in-memory tensors: MNIST, Fashion-MNIST, a folder of images, synthetic data.

Every loader returns an `ImageData`: images (N, C, H, W) float32 in [0, 1] and labels (N,)
int64. 28-pixel grayscale datasets fit in memory whole (Fashion-MNIST is 188 MB as floats),
which keeps training on a 2-core CPU free of data-loader overhead.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# Names of the built-in datasets and their class names.
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}

REPO_ROOT = Path(__file__).resolve().parents[1]

# Where the built-in datasets are looked for when no --data-dir is given, in order; the first
# folder holding the wanted split's IDX files wins. The repository ships data/mnist (the MNIST
# 10k subset) and data/fashion-mnist (Fashion-MNIST, both splits), so the app and the tests need
# nothing outside it. GENLAB_DATA_PATH (folders separated by os.pathsep, each holding one
# sub-folder per dataset) replaces these roots, for example to keep a copy from looking elsewhere.
DATA_PATH_ENV = "GENLAB_DATA_PATH"
DEFAULT_DATA_ROOTS = [REPO_ROOT / "data", Path("~/.cache/genlab")]
SYSTEM_DATA_DIRS = {"fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")]}  # Debian's package

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataError(ValueError):
    """A dataset could not be found or read; the message says what to do."""


@dataclass
class ImageData:
    images: torch.Tensor  # (N, C, H, W) float32 in [0, 1]
    labels: torch.Tensor  # (N,) int64
    class_names: list[str] = field(default_factory=list)
    name: str = ""

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    @property
    def channels(self) -> int:
        return self.images.shape[1]


# --------------------------------------------------------------------------- IDX files


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a uint8 array: (N, 28, 28) images or (N,) labels."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"Could not read IDX file {path}: {e}") from e
    if len(data) < 8:
        raise DataError(f"{path} is too short to be an IDX file.")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08 or not 1 <= ndim <= 3:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (bad magic number).")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} holds {body.size} bytes of data, its header says {shape}.")
    return body.reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    for sub in ("raw", "MNIST/raw", "FashionMNIST/raw"):  # torchvision's layout
        for name in (stem, stem + ".gz"):
            if (folder / sub / name).is_file():
                return folder / sub / name
    return None


def has_idx_files(folder: str | os.PathLike, split: str | None = None) -> bool:
    """True if `folder` holds the MNIST-format IDX files of `split` ("train" or "test"; all four
    when None)."""
    folder = Path(folder).expanduser()
    pairs = _IDX_FILES.values() if split is None else [_IDX_FILES[split]]
    return all(_find_idx(folder, s) for pair in pairs for s in pair)


def load_idx_folder(folder: str | os.PathLike, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Read one split from a folder of IDX files -> (images (N, 1, 28, 28) in [0, 1], labels (N,))."""
    folder = Path(folder).expanduser()
    image_stem, label_stem = _IDX_FILES[split]
    image_path, label_path = _find_idx(folder, image_stem), _find_idx(folder, label_stem)
    if image_path is None or label_path is None:
        raise DataError(
            f"{folder} does not hold {image_stem}[.gz] and {label_stem}[.gz] (the MNIST IDX format)."
        )
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{image_path} and {label_path} do not match: {images.shape} vs {labels.shape}.")
    x = torch.from_numpy(images.copy()).float().div_(255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def data_search_path(name: str) -> list[Path]:
    """The folders searched for built-in dataset `name`, in order (see DEFAULT_DATA_ROOTS)."""
    env = os.environ.get(DATA_PATH_ENV)
    if env is not None:
        return [Path(root).expanduser() / name for root in env.split(os.pathsep) if root]
    return [root.expanduser() / name for root in DEFAULT_DATA_ROOTS] + SYSTEM_DATA_DIRS.get(name, [])


def resolve_data_dir(name: str, data_dir: str | os.PathLike | None = None, download: bool = False,
                     split: str | None = None) -> Path:
    """Find the folder of IDX files of `split` (both when None) for a built-in dataset.

    Looks in `data_dir` if given, else along `data_search_path(name)`; with download=True and
    nothing found, torchvision downloads the official files into `data_dir` (or ~/.cache/genlab).
    """
    candidates = [Path(data_dir).expanduser()] if data_dir else data_search_path(name)
    for folder in candidates:
        if has_idx_files(folder, split):
            return folder
    if download:
        target = candidates[0] if data_dir else Path("~/.cache/genlab").expanduser() / name
        _download_with_torchvision(name, target)
        if has_idx_files(target, split):
            return target
    what = f"{split} split of {name}" if split else name
    hint = " or `apt-get install dataset-fashion-mnist` (Debian)," if name == "fashion-mnist" else ""
    raise DataError(
        f"The {what} is not on this machine (IDX files looked for in: "
        f"{', '.join(str(c) for c in candidates) or 'nowhere: ' + DATA_PATH_ENV + ' is empty'}). "
        f"Pass --data-dir to a folder holding the IDX files,{hint} or --download to fetch the full "
        f"dataset with torchvision (needs the internet)."
    )


def _download_with_torchvision(name: str, target: Path) -> None:
    from torchvision import datasets  # imported lazily: only users with internet need it

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    target.mkdir(parents=True, exist_ok=True)
    for train in (True, False):
        cls(root=str(target), train=train, download=True)


# --------------------------------------------------------------------------- image folders


def load_image(path: str | os.PathLike, image_size: int, channels: int) -> torch.Tensor:
    """Open any common image file -> (channels, image_size, image_size) in [0, 1].

    Converted to grayscale or RGB, centre-cropped to a square, resized with antialiasing.
    """
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        im = im.convert("L" if channels == 1 else "RGB")
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        im = im.crop((left, top, left + side, top + side))
        im = im.resize((image_size, image_size), Image.Resampling.LANCZOS)
        arr = np.asarray(im, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))


def load_image_folder(folder: str | os.PathLike, image_size: int = 64, channels: int = 3,
                      test_fraction: float = 0.1, split: str = "train", seed: int = 0) -> ImageData:
    """A folder of images (any format, any size), optionally in one sub-folder per class.

    Images that cannot be read are skipped with a warning. The split is a fixed, seeded
    `test_fraction` of the files.
    """
    import warnings

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder of images.")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise DataError(f"{folder} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}).")
    class_names = sorted({p.parent.relative_to(folder).as_posix() for p in files})
    if class_names == ["."]:
        class_names = [folder.name]
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
    n_test = int(round(len(files) * test_fraction)) if len(files) > 1 else 0
    chosen = order[:n_test] if split == "test" else order[n_test:]
    images, labels = [], []
    for i in sorted(chosen):
        try:
            images.append(load_image(files[i], image_size, channels))
        except Exception as e:  # noqa: BLE001 - any unreadable file is skipped, not fatal
            warnings.warn(f"Skipping {files[i]}: {e}")
            continue
        rel = files[i].parent.relative_to(folder).as_posix()
        labels.append(class_names.index(rel) if rel in class_names else 0)
    if not images:
        raise DataError(f"None of the images in {folder} could be read for the {split} split.")
    return ImageData(torch.stack(images), torch.tensor(labels, dtype=torch.int64), class_names, folder.name)


# --------------------------------------------------------------------------- synthetic


def synthetic_dataset(num_images: int = 256, image_size: int = 28, channels: int = 1,
                      num_classes: int = 4, seed: int = 0) -> ImageData:
    """Tiny learnable data for tests: class k is a bright bar at angle k*pi/num_classes, jittered."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_images) % num_classes
    coords = torch.linspace(-1, 1, image_size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    angles = labels.float() * torch.pi / num_classes + 0.15 * torch.randn(num_images, generator=g)
    offsets = 0.2 * torch.randn(num_images, generator=g)
    dist = (xx[None] * torch.sin(angles)[:, None, None] - yy[None] * torch.cos(angles)[:, None, None]
            - offsets[:, None, None]).abs()
    images = (1.0 - dist / 0.25).clamp(0, 1) * (xx[None].pow(2) + yy[None].pow(2) < 0.8).float()
    images = images.unsqueeze(1).expand(-1, channels, -1, -1).contiguous()
    return ImageData(images, labels, [f"bar {k}" for k in range(num_classes)], "synthetic")


# --------------------------------------------------------------------------- entry point


def load_dataset(dataset: str, split: str = "train", data_dir: str | os.PathLike | None = None,
                 image_size: int | None = None, channels: int | None = None,
                 download: bool = False, seed: int = 0) -> ImageData:
    """Load `dataset` ("mnist", "fashion-mnist", "synthetic" or a path to an image folder).

    The result is resized to `image_size` and converted to `channels` when they are given.
    A path holding IDX files is read as an MNIST-format dataset.
    """
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}.")
    key = dataset.lower()
    if key == "synthetic":
        data = synthetic_dataset(512 if split == "train" else 128, image_size or 28, channels or 1,
                                 seed=seed + (0 if split == "train" else 1))
    elif key in CLASS_NAMES:
        folder = resolve_data_dir(key, data_dir, download, split=split)
        x, y = load_idx_folder(folder, split)
        data = ImageData(x, y, CLASS_NAMES[key], key)
    elif has_idx_files(dataset, split):
        x, y = load_idx_folder(dataset, split)
        data = ImageData(x, y, [str(i) for i in range(int(y.max()) + 1)], Path(dataset).name)
    else:
        return load_image_folder(dataset, image_size or 64, channels or 3, split=split, seed=seed)
    return _conform(data, image_size, channels)


def _conform(data: ImageData, image_size: int | None, channels: int | None) -> ImageData:
    x = data.images
    if image_size and x.shape[-1] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True,
                          align_corners=False).clamp_(0, 1)
    if channels and x.shape[1] != channels:
        x = x.mean(1, keepdim=True) if channels == 1 else x.expand(-1, channels, -1, -1).contiguous()
    data.images = x
    return data
