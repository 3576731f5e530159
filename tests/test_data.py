"""Data loaders: IDX files (gzipped or not), the real MNIST subset and Fashion-MNIST, image folders."""

from __future__ import annotations

import gzip
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FASHION_MNIST_DIR, MNIST_SUBSET_DIR
from genlab.data import (
    DataError, has_idx_files, load_dataset, load_idx_folder, load_image_folder, read_idx,
    synthetic_dataset,
)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format (magic: 0, 0, 0x08, ndim)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.fixture
def small_idx():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.array([3, 1, 4, 1, 5], dtype=np.uint8)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx(tmp_path, small_idx, suffix):
    images, labels = small_idx
    assert np.array_equal(read_idx(write_idx(tmp_path / f"images{suffix}", images)), images)
    assert np.array_equal(read_idx(write_idx(tmp_path / f"labels{suffix}", labels)), labels)


def test_read_idx_rejects_bad_files(tmp_path, small_idx):
    images, _ = small_idx
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x12\x34" + idx_bytes(images)[2:])
    with pytest.raises(DataError, match="bad magic number"):
        read_idx(bad_magic)
    floats = tmp_path / "floats"  # dtype code 0x0D (float32) is not what MNIST uses
    floats.write_bytes(struct.pack(">HBB", 0, 0x0D, 1) + struct.pack(">I", 1) + b"\0\0\0\0")
    with pytest.raises(DataError, match="bad magic number"):
        read_idx(floats)
    short = tmp_path / "short"
    short.write_bytes(idx_bytes(images)[:-10])
    with pytest.raises(DataError, match="its header says"):
        read_idx(short)
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\0\0")
    with pytest.raises(DataError, match="too short"):
        read_idx(tiny)
    not_gzip = tmp_path / "fake.gz"
    not_gzip.write_bytes(idx_bytes(images))
    with pytest.raises(DataError, match="Could not read IDX file"):
        read_idx(not_gzip)
    with pytest.raises(DataError, match="Could not read IDX file"):
        read_idx(tmp_path / "missing")


def test_idx_folder_and_load_dataset(tmp_path, small_idx):
    images, labels = small_idx
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[:2])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:2])
    assert has_idx_files(tmp_path)
    x, y = load_idx_folder(tmp_path, "train")
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], torch.from_numpy(images).float() / 255)
    assert y.tolist() == [3, 1, 4, 1, 5] and y.dtype == torch.int64
    data = load_dataset(str(tmp_path), "test", image_size=32, channels=3)
    assert data.images.shape == (2, 3, 32, 32) and data.images.min() >= 0 and data.images.max() <= 1
    mnist = load_dataset("mnist", "train", data_dir=tmp_path)
    assert len(mnist) == 5 and mnist.class_names == [str(d) for d in range(10)]
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:3])  # 2 images, 3 labels
    with pytest.raises(DataError, match="do not match"):
        load_idx_folder(tmp_path, "test")


def test_missing_dataset_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match="Pass --data-dir"):
        load_dataset("mnist", "train", data_dir=tmp_path / "nowhere")
    with pytest.raises(DataError, match="split must be"):
        load_dataset("synthetic", "validation")


def test_mnist_subset():
    train = load_dataset("mnist", "train", data_dir=MNIST_SUBSET_DIR)
    test = load_dataset("mnist", "test", data_dir=MNIST_SUBSET_DIR)
    assert train.images.shape == (8000, 1, 28, 28) and test.images.shape == (2000, 1, 28, 28)
    assert train.images.dtype == torch.float32
    assert 0 <= float(train.images.min()) and float(train.images.max()) == 1.0
    # per-class counts from data/mnist/SOURCE.md
    assert [Counter(train.labels.tolist())[k] for k in range(10)] == [801, 902, 793, 826, 784, 690, 811, 856, 755, 782]
    assert [Counter(test.labels.tolist())[k] for k in range(10)] == [200, 225, 198, 206, 196, 173, 203, 214, 189, 196]
    assert train.class_names == [str(d) for d in range(10)]


def test_shipped_fashion_mnist_both_splits():
    test = load_dataset("fashion-mnist", "test", data_dir=FASHION_MNIST_DIR)
    assert test.images.shape == (10000, 1, 28, 28)
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert test.class_names[0] == "T-shirt/top" and test.class_names[9] == "Ankle boot"
    assert has_idx_files(FASHION_MNIST_DIR)  # the training split too: the nearest training images show it
    train = load_dataset("fashion-mnist", "train", data_dir=FASHION_MNIST_DIR)
    assert train.images.shape == (60000, 1, 28, 28) and torch.bincount(train.labels).tolist() == [6000] * 10


def test_the_default_search_finds_the_shipped_data_and_nothing_outside_the_repo(monkeypatch, tmp_path):
    from genlab.data import DATA_PATH_ENV, REPO_ROOT, data_search_path, resolve_data_dir

    monkeypatch.delenv(DATA_PATH_ENV, raising=False)
    assert resolve_data_dir("mnist", split="test") == REPO_ROOT / "data" / "mnist"
    assert resolve_data_dir("fashion-mnist", split="test") == REPO_ROOT / "data" / "fashion-mnist"
    assert not any("shared" in p.parts for name in ("mnist", "fashion-mnist") for p in data_search_path(name))
    # the variable replaces the roots: an empty folder finds nothing, and the message says what to do
    monkeypatch.setenv(DATA_PATH_ENV, str(tmp_path))
    assert data_search_path("mnist") == [tmp_path / "mnist"]
    with pytest.raises(DataError, match="--download"):
        load_dataset("fashion-mnist", "train")
    monkeypatch.setenv(DATA_PATH_ENV, str(tmp_path))
    with pytest.raises(DataError, match="dataset-fashion-mnist"):  # the message names Debian's package
        load_dataset("fashion-mnist", "train")
    monkeypatch.setenv(DATA_PATH_ENV, str(REPO_ROOT / "data"))  # both splits are shipped
    assert resolve_data_dir("fashion-mnist", split="train") == REPO_ROOT / "data" / "fashion-mnist"


def test_synthetic_dataset():
    data = synthetic_dataset(64, image_size=32, channels=3, num_classes=4, seed=1)
    assert data.images.shape == (64, 3, 32, 32) and data.labels.tolist()[:5] == [0, 1, 2, 3, 0]
    assert 0 <= float(data.images.min()) and float(data.images.max()) <= 1
    assert torch.equal(data.images, synthetic_dataset(64, 32, 3, 4, seed=1).images)
    assert not torch.equal(data.images, synthetic_dataset(64, 32, 3, 4, seed=2).images)
    train, test = load_dataset("synthetic", "train"), load_dataset("synthetic", "test")
    assert train.images.shape == (512, 1, 28, 28) and test.images.shape == (128, 1, 28, 28)


# --------------------------------------------------------------------------- image folders


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """cats/: 3 images (RGBA PNG, L JPEG, P PNG); dogs/: 2 RGB JPEGs; sizes vary; one broken file."""
    root = tmp_path / "pets"
    (root / "cats").mkdir(parents=True)
    (root / "dogs").mkdir()
    rgba = Image.new("RGBA", (40, 30), (255, 0, 0, 128))
    rgba.save(root / "cats" / "a.png")
    Image.new("L", (100, 120), 200).save(root / "cats" / "b.jpg", quality=95)
    Image.new("RGB", (17, 17), (0, 255, 0)).convert("P", palette=Image.Palette.ADAPTIVE).save(root / "cats" / "c.PNG")
    Image.new("RGB", (64, 64), (0, 0, 255)).save(root / "dogs" / "d.jpeg", quality=95)
    Image.new("RGB", (300, 200), (250, 250, 250)).save(root / "dogs" / "e.jpg", quality=95)
    (root / "dogs" / "broken.png").write_bytes(b"this is not a png")
    (root / "dogs" / "notes.txt").write_text("not an image, not even tried")
    return root


@pytest.mark.parametrize("image_size,channels", [(64, 3), (28, 1)])
def test_image_folder(image_folder, image_size, channels):
    with pytest.warns(UserWarning, match=r"Skipping .*broken\.png"):
        data = load_image_folder(image_folder, image_size, channels, test_fraction=0.0)
    assert data.images.shape == (5, channels, image_size, image_size)
    assert data.images.dtype == torch.float32
    assert 0 <= float(data.images.min()) and float(data.images.max()) <= 1
    assert data.class_names == ["cats", "dogs"] and data.name == "pets"
    assert data.labels.tolist() == [0, 0, 0, 1, 1]  # files in sorted order: cats a b c, dogs d e
    if channels == 3:
        red = data.images[0, :, image_size // 2, image_size // 2]
        assert red[0] > 0.9 and red[1] < 0.1 and red[2] < 0.1
        blue = data.images[3, :, image_size // 2, image_size // 2]
        assert blue[2] > 0.9 and blue[0] < 0.1
    else:
        assert abs(float(data.images[1].mean()) - 200 / 255) < 0.02


def test_image_folder_split_is_a_partition(image_folder):
    (image_folder / "dogs" / "broken.png").unlink()
    train = load_image_folder(image_folder, 28, 1, test_fraction=0.4, split="train")
    test = load_image_folder(image_folder, 28, 1, test_fraction=0.4, split="test")
    assert len(train) == 3 and len(test) == 2
    means = {round(float(im.mean()), 2) for im in torch.cat([train.images, test.images])}
    assert len(means) == 5  # five different grays: no image in both splits, none left out
    via_load_dataset = load_dataset(str(image_folder), "train", image_size=28, channels=1)
    assert via_load_dataset.images.shape[1:] == (1, 28, 28)


def test_flat_image_folder_is_one_class(tmp_path):
    for i in range(3):
        Image.new("RGB", (10 + i, 12), (i * 50, 0, 0)).save(tmp_path / f"{i}.png")
    data = load_image_folder(tmp_path, 32, 3, test_fraction=0.0)
    assert data.images.shape == (3, 3, 32, 32) and data.labels.tolist() == [0, 0, 0]
    assert data.class_names == [tmp_path.name]


def test_empty_or_unreadable_image_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        load_image_folder(tmp_path / "empty")
    with pytest.raises(DataError, match="is not a folder"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.png").write_bytes(b"junk")
    with pytest.warns(UserWarning, match="Skipping"), pytest.raises(DataError, match="could be read"):
        load_image_folder(tmp_path / "junk", test_fraction=0.0)
