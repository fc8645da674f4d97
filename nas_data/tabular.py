"""Tabular data sets by name, split once per seed, the same split for every method.

Named sets are scikit-learn's bundled ``digits``, ``wine``, ``breast_cancer`` and ``iris``, and
``mnist1d`` (generated offline by the ``mnist1d`` package with its fixed default seed). Any CSV
file works too, given its label column and the columns to drop.

>>> split = load_split("iris", seed=0)
>>> split.x_train.shape[1], split.n_classes
(4, 3)

Trials run in fresh processes, so :func:`cached_split` stores a split once as ``.npz`` and later
loads need numpy alone (importing scikit-learn costs seconds per trial).
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .files import atomic_write

NAMED_DATASETS = ("digits", "wine", "breast_cancer", "iris", "mnist1d")
VAL_FRACTION = 0.15
TEST_FRACTION = 0.15


class DataError(ValueError):
    """Input data that cannot be used; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class DatasetSpec:
    """Which data: a named set, or a CSV file with its label column and the columns to drop."""

    name: str
    label: str | None = None
    drop: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, name: str, label: str | None = None, drop=()) -> DatasetSpec:
        if not isinstance(name, str) or not name:
            raise DataError("dataset must be a name (one of {}) or a path to a CSV file".format(", ".join(NAMED_DATASETS)))
        return cls(name, label, tuple(drop or ()))

    @property
    def is_csv(self) -> bool:
        return self.name not in NAMED_DATASETS

    def key(self) -> str:
        """A short, stable identifier, used to name caches."""
        if not self.is_csv:
            return self.name
        path = Path(self.name)
        stat = path.stat() if path.exists() else None
        ident = [str(path.resolve()), self.label, self.drop, stat and stat.st_size, stat and stat.st_mtime_ns]
        digest = hashlib.sha1(json.dumps(ident).encode()).hexdigest()
        return f"{Path(self.name).stem}-{digest[:10]}"

    def as_dict(self) -> dict:
        return {"dataset": self.name, "label": self.label, "drop": list(self.drop)}


@dataclass
class Split:
    """A fixed stratified train / validation / test split, features standardised on train only."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    def train_val(self) -> tuple[np.ndarray, np.ndarray]:
        """Train and validation together, for the final fit before the single test score."""
        return np.concatenate([self.x_train, self.x_val]), np.concatenate([self.y_train, self.y_val])


def load_xy(spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features (float32), integer labels 0..K-1 and the class names, validated."""
    if spec.is_csv:
        x, labels = _read_csv(spec)
    elif spec.name == "mnist1d":
        from mnist1d.data import get_dataset_args, make_dataset

        data = make_dataset(get_dataset_args())  # generated offline with the package's fixed seed
        x = np.concatenate([data["x"], data["x_test"]])
        labels = np.concatenate([data["y"], data["y_test"]])
    else:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{spec.name}")()
        x, labels = bunch.data, bunch.target
    return _validate(spec, x, labels)


def _read_csv(spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
    path = Path(spec.name)
    if not path.is_file():
        raise DataError(f"dataset '{spec.name}' is neither a named set ({', '.join(NAMED_DATASETS)}) nor an existing CSV file")
    if not spec.label:
        raise DataError(f"{path}: a CSV dataset needs its label column (--label NAME)")
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file (it is not UTF-8); export it as UTF-8 CSV") from None
    if not rows:
        raise DataError(f"{path}: the file is empty; a CSV dataset needs a header line and data rows")
    if len(rows) < 2:
        raise DataError(f"{path}: the CSV file has no data rows")
    header = rows[0]
    if spec.label not in header and len(header) == 1:
        for delimiter in (";", "\t", "|"):
            if spec.label in header[0].split(delimiter):
                shown = "tab" if delimiter == "\t" else repr(delimiter)
                raise DataError(f"{path}: the columns are separated by {shown}, not commas; save it as "
                                "comma-separated CSV")
    if spec.label not in header:
        raise DataError(f"{path}: label column '{spec.label}' is not in the header (columns: {', '.join(header)})")
    missing = [c for c in spec.drop if c not in header]
    if missing:
        raise DataError(f"{path}: column(s) to drop not in the header: {', '.join(repr(c) for c in missing)}")
    label_at = header.index(spec.label)
    keep = [i for i, c in enumerate(header) if c != spec.label and c not in spec.drop]
    if not keep:
        raise DataError(f"{path}: no feature columns are left after dropping {list(spec.drop)}")
    bad_width = next((n for n, row in enumerate(rows[1:], start=2) if len(row) != len(header)), None)
    if bad_width is not None:
        raise DataError(f"{path}: line {bad_width} has {len(rows[bad_width - 1])} fields, the header has {len(header)}")
    x = np.empty((len(rows) - 1, len(keep)), dtype=np.float64)
    for n, row in enumerate(rows[1:]):
        for j, i in enumerate(keep):
            try:
                x[n, j] = float(row[i]) if row[i].strip() != "" else np.nan
            except ValueError:
                raise DataError(
                    f"{path}: column '{header[i]}' is not numeric (line {n + 2}: {row[i]!r}); drop it with --drop '{header[i]}'"
                ) from None
    labels = np.array([row[label_at] for row in rows[1:]])
    return x, labels


def _validate(spec: DatasetSpec, x, labels) -> tuple[np.ndarray, np.ndarray, list[str]]:
    x = np.asarray(x, dtype=np.float64)
    if np.isnan(x).any():
        rows, cols = np.nonzero(np.isnan(x))
        raise DataError(f"{spec.name}: {len(rows)} missing or NaN feature value(s), first at row {rows[0]}, "
                        f"feature {cols[0]}; fill or drop them first")
    if not np.isfinite(x).all():
        raise DataError(f"{spec.name}: infinite feature values; clip or drop them first")
    classes, y = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{spec.name}: the label has a single class ({classes[0]!r}); classification needs two or more")
    counts = np.bincount(y)
    if counts.min() < 3:
        rare = classes[counts.argmin()]
        raise DataError(f"{spec.name}: class {rare!r} has {counts.min()} example(s); a stratified "
                        "train/validation/test split needs at least 3 per class")
    # Keep the natural order of numeric labels (0, 1, ..., 10 rather than 0, 1, 10, ...).
    try:
        order = np.argsort(classes.astype(float), kind="stable")
        classes, y = classes[order], np.argsort(order)[y]
    except ValueError:
        pass
    return x.astype(np.float32), y.astype(np.int64), [str(c) for c in classes]


def make_split(x: np.ndarray, y: np.ndarray, classes: list[str], seed: int) -> Split:
    """Stratified 70/15/15 split for ``seed``; standardisation fit on the training part only."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=TEST_FRACTION, stratify=y, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=VAL_FRACTION / (1 - TEST_FRACTION), stratify=y_rest, random_state=seed)
    scaler = StandardScaler().fit(x_train)
    f32 = lambda a: scaler.transform(a).astype(np.float32)  # noqa: E731
    return Split(f32(x_train), y_train, f32(x_val), y_val, f32(x_test), y_test, list(classes))


def load_split(spec: DatasetSpec | str, seed: int) -> Split:
    """Load ``spec`` and split it for ``seed`` (no caching)."""
    spec = spec if isinstance(spec, DatasetSpec) else DatasetSpec.parse(spec)
    return make_split(*load_xy(spec), seed=seed)


def cached_split(spec: DatasetSpec, seed: int, cache_dir: str | os.PathLike) -> Path:
    """Write the split for (spec, seed) to ``cache_dir`` once, atomically; return its path."""
    path = Path(cache_dir) / f"{spec.key()}-seed{seed}.npz"
    if not path.exists():
        split = load_split(spec, seed)
        arrays = {k: getattr(split, k) for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")}
        atomic_write(path, lambda f: np.savez(f, classes=np.array(split.classes), **arrays), binary=True)
    return path


def default_cache_dir() -> Path:
    """Where splits are cached: ``$NAS_TOOLKIT_CACHE`` or ``~/.cache/nas_toolkit``."""
    return Path(os.environ.get("NAS_TOOLKIT_CACHE") or Path.home() / ".cache" / "nas_toolkit") / "splits"


def read_split(path: str | os.PathLike) -> Split:
    """Load a split written by :func:`cached_split`; needs numpy alone."""
    try:
        with np.load(path) as z:
            return Split(z["x_train"], z["y_train"], z["x_val"], z["y_val"], z["x_test"], z["y_test"],
                         [str(c) for c in z["classes"]])
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: not a readable split file ({exc}); delete it and run again") from None
