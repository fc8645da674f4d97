"""Offline image data: digits as 8x8 images, the synthetic set, CIFAR from a local torchvision-layout folder."""
import numpy as np
import pytest
import torch

from nas_data.images import load_images, write_cifar
from nas_data.tabular import DataError


def test_digits_as_images_split_stratified_and_scaled_on_train():
    data = load_images("digits", seed=0)
    assert data.shape == (1, 8, 8) and data.num_classes == 10
    n = sum(len(part[1]) for part in (data.train, data.val, data.test))
    assert n == 1797
    assert abs(float(data.train[0].mean())) < 1e-4 and abs(float(data.train[0].std()) - 1) < 1e-2
    assert set(data.val[1].tolist()) == set(range(10))
    again, other = load_images("digits", seed=0), load_images("digits", seed=1)
    assert torch.equal(data.val[1], again.val[1]) and not torch.equal(data.val[0], other.val[0])
    assert torch.equal(data.test[1], other.test[1])  # the test split does not depend on the seed


def test_synthetic_images_are_learnable_shapes():
    data = load_images("synthetic", seed=0)
    assert data.shape == (3, 16, 16) and data.num_classes == 4


def _fake_cifar(root, name="cifar10", n=60, classes=10):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    y = np.arange(n) % classes
    return write_cifar(root, name, x, y, x[:20], y[:20])


@pytest.mark.parametrize("name,classes", [("cifar10", 10), ("cifar100", 100)])
def test_cifar_from_a_local_folder(tmp_path, name, classes):
    _fake_cifar(tmp_path, name, n=classes * 3, classes=classes)
    data = load_images(name, data_dir=tmp_path, seed=0, val_fraction=1 / 3)
    assert data.shape == (3, 32, 32) and data.num_classes == classes
    assert len(data.train[1]) + len(data.val[1]) == classes * 3 and len(data.test[1]) == 20


def test_missing_or_damaged_cifar_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match="needs a local data folder"):
        load_images("cifar10")
    with pytest.raises(DataError, match="no cifar10 data at .*cifar-10-batches-py"):
        load_images("cifar10", data_dir=tmp_path)
    base = _fake_cifar(tmp_path)
    (base / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_3 is not a readable CIFAR batch"):
        load_images("cifar10", data_dir=tmp_path)
    (base / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3 is missing"):
        load_images("cifar10", data_dir=tmp_path)
    with pytest.raises(DataError, match="unknown image data set 'imagenet'"):
        load_images("imagenet")
