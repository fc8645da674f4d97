"""Image classification data for the cell and macro spaces, always offline.

- ``cifar10`` / ``cifar100``: read from a local folder in torchvision's layout (``<root>/cifar-10-batches-py``
  or ``<root>/cifar-100-python``, the pickled batches); never downloaded. A missing or damaged folder is one
  clear :class:`DataError`.
- ``digits``: scikit-learn's bundled 8x8 digits as 1x8x8 images (10 classes), always here.
- ``synthetic``: a small generated set of 3x16x16 images (oriented stripes per class plus noise) for tests.

Every loader returns a :class:`ImageData` with train / validation / test tensors; the validation split is
carved from the training set, stratified, by ``seed``; images are standardised per channel with train
statistics.

>>> data = load_images("digits", seed=0)
>>> data.train[0].shape[1:], data.num_classes
(torch.Size([1, 8, 8]), 10)
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .tabular import DataError

if TYPE_CHECKING:
    import torch
# torch and scikit-learn load inside the loaders: command lines import this module for its names and
# checks (check_image_source) before those slow imports.

IMAGE_DATASETS = ("cifar10", "cifar100", "digits", "digits-hard", "synthetic")
_CIFAR = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels", 10),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels", 100),
}


@dataclass
class ImageData:
    """Train / validation / test as ``(images float32 N x C x H x W, labels int64)`` tensor pairs."""

    name: str
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    num_classes: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train[0].shape[1:])

    def datasets(self):
        """``(train, val, test)`` as ``TensorDataset`` objects."""
        from torch.utils.data import TensorDataset
        return tuple(TensorDataset(*part) for part in (self.train, self.val, self.test))


def _read_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path} is missing: expected torchvision's CIFAR layout under the data folder "
                        "(the extracted python version of the data set); nothing is downloaded")
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except Exception as exc:  # noqa: BLE001 - any unreadable batch is the same user error
        raise DataError(f"{path} is not a readable CIFAR batch ({type(exc).__name__}: {exc}); "
                        "re-extract the data set") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"{path} is damaged: expected N x 3072 pixels and N labels, got data {data.shape} "
                        f"and {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


def check_image_source(name: str, data_dir: str | os.PathLike | None = None) -> None:
    """Raise :class:`DataError` (one line: what is wrong, how to fix it) if ``load_images(name, data_dir=...)``
    cannot find its data: an unknown name, or a CIFAR folder that is missing, empty or in another layout.
    Cheap (no torch, no reading of the batches)."""
    if name not in IMAGE_DATASETS:
        raise DataError(f"unknown image data set {name!r}; choose one of {', '.join(IMAGE_DATASETS)}")
    if name not in _CIFAR:
        if data_dir is not None:
            raise DataError(f"{name} is built in and takes no data folder; drop --data-dir")
        return
    folder, train_files, test_files, _, _ = _CIFAR[name]
    if data_dir is None:
        raise DataError(f"{name} needs a local data folder (--data-dir) in torchvision's layout; nothing is downloaded")
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise DataError(f"data folder {root} does not exist: pass --data-dir with the folder holding {folder}/ "
                        "(torchvision's layout); nothing is downloaded")
    if not root.is_dir():
        raise DataError(f"data folder {root} is a file, not a folder: pass the folder holding {folder}/")
    if root.name == folder:
        raise DataError(f"{root} is the {folder}/ folder itself: pass its parent, {root.parent}, as --data-dir")
    base = root / folder
    if not base.is_dir():
        found = sorted(p.name for p in root.iterdir())[:5]
        what = f"it holds {', '.join(found)}" if found else "it is empty"
        raise DataError(f"no {name} data at {base} ({what}): expected torchvision's layout, {folder}/ with the "
                        "extracted python batches; nothing is downloaded")
    missing = [f for f in (*train_files, *test_files) if not (base / f).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more batch files)" if len(missing) > 1 else ""
        raise DataError(f"{base / missing[0]} is missing{more}: re-extract the python version of {name} there")


def read_cifar(name: str, root: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """``(x_train, y_train, x_test, y_test, classes)`` as uint8 / int64 arrays from a local CIFAR folder."""
    folder, train_files, test_files, key, classes = _CIFAR[name]
    base = Path(root) / folder
    if not base.is_dir():
        raise DataError(f"no {name} data at {base}: pass --data-dir with the folder holding {folder}/ "
                        "(torchvision's layout); nothing is downloaded")
    parts = [[_read_batch(base / f, key) for f in files] for files in (train_files, test_files)]
    (x_tr, y_tr), (x_te, y_te) = [(np.concatenate([p[0] for p in ps]), np.concatenate([p[1] for p in ps]))
                                  for ps in parts]
    for labels in (y_tr, y_te):
        if labels.min() < 0 or labels.max() >= classes:
            raise DataError(f"{base} has labels outside 0..{classes - 1}: is it really {name}?")
    return x_tr, y_tr, x_te, y_te, classes


def write_cifar(root: str | os.PathLike, name: str, x_train, y_train, x_test, y_test) -> Path:
    """Write arrays (uint8 N x 3 x 32 x 32, int labels) as a CIFAR folder in torchvision's layout; for tests."""
    folder, train_files, test_files, key, _ = _CIFAR[name]
    base = Path(root) / folder
    base.mkdir(parents=True, exist_ok=True)
    for files, x, y in ((train_files, x_train, y_train), (test_files, x_test, y_test)):
        for f, xs, ys in zip(files, np.array_split(np.asarray(x), len(files)), np.array_split(np.asarray(y), len(files))):
            with open(base / f, "wb") as out:
                pickle.dump({"data": xs.reshape(len(xs), -1).astype(np.uint8), key: [int(v) for v in ys]}, out)
    return base


def synthetic_images(n: int = 240, classes: int = 4, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class k = stripes at angle k * 180 / classes degrees with a random phase, plus noise (3 x size x size)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    yy, xx = np.mgrid[0:size, 0:size] / size
    angles = np.pi * labels / classes
    phase = rng.uniform(0, 2 * np.pi, n)
    wave = np.sin(2 * np.pi * 3 * (np.cos(angles)[:, None, None] * xx + np.sin(angles)[:, None, None] * yy)
                  + phase[:, None, None])
    images = wave[:, None] * rng.uniform(0.5, 1.0, (n, 3, 1, 1)) + rng.normal(0, 0.5, (n, 3, size, size))
    return images.astype(np.float32), labels.astype(np.int64)


def hard_digits(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The harder offline proxy: scikit-learn's digits at 16x16, each rotated (±35°), scaled (0.8-1.2),
    shifted (±3 px) and buried in Gaussian noise (σ = 0.35 of the ink range), with one 6x6 square blanked;
    fixed by ``seed``. Clean digits saturate near 99 % after retraining; this leaves room to differ."""
    from scipy import ndimage
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rng = np.random.default_rng(seed)
    images = np.empty((len(bunch.images), 1, 16, 16), np.float32)
    for i, image in enumerate(bunch.images / 16.0):
        big = ndimage.zoom(image, 2, order=1)
        angle, scale = np.deg2rad(rng.uniform(-35, 35)), rng.uniform(0.8, 1.2)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / scale
        centre = np.array([7.5, 7.5])
        offset = centre - rot @ centre - rng.uniform(-3, 3, 2)
        warped = ndimage.affine_transform(big, rot, offset=offset, order=1, mode="constant")
        y0, x0 = rng.integers(0, 11, 2)
        warped[y0:y0 + 6, x0:x0 + 6] = 0.0
        images[i, 0] = warped + rng.normal(0, 0.35, (16, 16))
    return images, bunch.target.astype(np.int64)


def load_images(name: str, *, seed: int = 0, data_dir: str | os.PathLike | None = None, val_fraction: float = 0.1,
                limit: int | None = None) -> ImageData:
    """Load ``name`` (one of :data:`IMAGE_DATASETS`) with a stratified validation split drawn by ``seed``.

    ``limit`` keeps a stratified subset of that many training images (quick runs on CIFAR).
    """
    import torch
    from sklearn.model_selection import train_test_split

    if name not in IMAGE_DATASETS:
        raise DataError(f"unknown image data set {name!r}; choose one of {', '.join(IMAGE_DATASETS)}")
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    if name in _CIFAR:
        if data_dir is None:
            raise DataError(f"{name} needs a local data folder (--data-dir) in torchvision's layout; "
                            "nothing is downloaded")
        check_image_source(name, data_dir)
        x, y, x_test, y_test, classes = read_cifar(name, data_dir)
        x, x_test = x.astype(np.float32) / 255.0, x_test.astype(np.float32) / 255.0
    else:
        if name == "digits":
            from sklearn.datasets import load_digits
            bunch = load_digits()
            x, y, classes = (bunch.images[:, None] / 16.0).astype(np.float32), bunch.target.astype(np.int64), 10
        elif name == "digits-hard":
            (x, y), classes = hard_digits(seed=0), 10
        else:
            x, y = synthetic_images(seed=0)
            classes = 4
        x, x_test, y, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    if limit is not None and limit < len(x):
        x, _, y, _ = train_test_split(x, y, train_size=limit, stratify=y, random_state=seed)
    x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=val_fraction, stratify=y, random_state=seed)
    mean = x_tr.mean(axis=(0, 2, 3), keepdims=True)
    std = x_tr.std(axis=(0, 2, 3), keepdims=True) + 1e-6

    def pack(images, labels):
        return torch.from_numpy(((images - mean) / std).astype(np.float32)), torch.from_numpy(labels)

    return ImageData(name, pack(x_tr, y_tr), pack(x_val, y_val), pack(x_test, y_test), classes)
