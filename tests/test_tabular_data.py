import numpy as np
import pytest

from nas_data.tabular import NAMED_DATASETS, DataError, DatasetSpec, cached_split, load_split, load_xy, read_split

WINE_QUALITY = "data/wine_quality_white.csv"


@pytest.mark.parametrize("name", NAMED_DATASETS)
def test_named_datasets_split_stratified_and_scaled_on_train(name):
    split = load_split(name, seed=3)
    n = len(split.y_train) + len(split.y_val) + len(split.y_test)
    assert abs(len(split.y_test) / n - 0.15) < 0.01 and abs(len(split.y_val) / n - 0.15) < 0.01
    # stratified: every class in every part, in about the same proportion
    for part in (split.y_train, split.y_val, split.y_test):
        assert set(np.unique(part)) == set(range(split.n_classes))
    np.testing.assert_allclose(split.x_train.mean(axis=0), 0, atol=1e-4)
    assert split.x_train.dtype == np.float32


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = load_split("wine", 0), load_split("wine", 0), load_split("wine", 1)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.y_train, c.y_train) or not np.array_equal(a.x_train, c.x_train)


def test_wine_quality_csv_drops_leaking_columns():
    from tests.conftest import ROOT

    spec = DatasetSpec.parse(str(ROOT / WINE_QUALITY), "quality_label", ["", "quality"])
    x, y, classes = load_xy(spec)
    assert x.shape == (4898, 11) and classes == ["high", "low", "medium"]


def test_cache_round_trip(tmp_path):
    path = cached_split(DatasetSpec.parse("iris"), 0, tmp_path)
    again = read_split(path)
    np.testing.assert_array_equal(again.x_val, load_split("iris", 0).x_val)


def _csv(tmp_path, text):
    path = tmp_path / "data.csv"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text,label,drop,message", [
    (None, "y", (), "neither a named set"),
    ("a,b,y\n1,2,x\n", "z", (), "label column 'z' is not in the header"),
    ("a,b,y\n1,oops,x\n2,3,y\n", "y", (), "column 'b' is not numeric"),
    ("a,b,y\n" + "1,,x\n2,3,y\n" * 5, "y", (), "NaN"),
    ("a,b,y\n" + "1,2,x\n" * 9, "y", (), "single class"),
    ("a,b,y\n1,2,x\n", None, (), "needs its label column"),
    ("a,b,y\n1,2,x\n", "y", ("c",), "to drop not in the header"),
])
def test_bad_input_one_clear_line(tmp_path, text, label, drop, message):
    name = "no-such-dataset" if text is None else _csv(tmp_path, text)
    with pytest.raises(DataError, match=message) as info:
        load_xy(DatasetSpec.parse(name, label, drop))
    assert "\n" not in str(info.value)
