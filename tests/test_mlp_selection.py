"""The selection re-scores the top-k by cross-validation on train+validation only, picks by CV, retrains
for the folds' median best epoch, and keeps the ensemble apart; the test split never goes in."""
import os

import numpy as np
import pytest

from mlp_nas.selection import select, select_from_split, top_distinct
from nas_data.tabular import Split

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the controller tests share this process


def make_split(poison: bool = False) -> Split:
    """Rows carry their id in feature 0 (train 0-59, validation 100-129, test 200-229)."""
    rng = np.random.default_rng(0)

    def part(start, n):
        x = np.column_stack([np.arange(start, start + n), rng.normal(size=(n, 3))]).astype(np.float32)
        return x, np.arange(n) % 3

    x_tr, y_tr = part(0, 60)
    x_va, y_va = part(100, 30)
    x_te, y_te = part(200, 30)
    if poison:
        x_te, y_te = np.full_like(x_te, np.nan), np.full_like(y_te, 99)
    return Split(x_tr, y_tr, x_va, y_va, x_te, y_te, ["a", "b", "c"])


class RecordingFitter:
    """Scores a candidate by its preset quality (plus a fold-dependent wobble) and records every row it sees."""

    def __init__(self):
        self.rows: set[int] = set()
        self.final_calls = []

    def _see(self, *xs):
        for x in xs:
            assert not np.isnan(x).any()
            self.rows |= set(int(i) for i in x[:, 0])

    def fold(self, cand, x_tr, y_tr, x_es, y_es, x_ev, y_ev, seed):
        self._see(x_tr, x_es, x_ev)
        assert not set(x_ev[:, 0]) & set(x_tr[:, 0]) and not set(x_ev[:, 0]) & set(x_es[:, 0])
        return {"score": cand["cv_quality"] + 0.001 * (x_ev[0, 0] % 7), "best_epoch": cand["epochs"] + len(y_ev) % 3,
                "lr_curve": [1e-3]}

    def final(self, cand, x, y, epochs, lr_curve, seed):
        self._see(x)
        self.final_calls.append((cand["name"], epochs, len(x)))
        return cand["name"]

    def proba(self, model, x):
        return np.tile([1.0, 0.0, 0.0], (len(x), 1))


CANDIDATES = [  # the search's favourite is not the best under cross-validation
    {"name": "lucky", "arch": {"layers": [[8, "relu"]]}, "val_acc": 0.99, "cv_quality": 0.70, "epochs": 5},
    {"name": "solid", "arch": {"layers": [[64, "relu"]]}, "val_acc": 0.95, "cv_quality": 0.90, "epochs": 30},
    {"name": "dup", "arch": {"layers": [[8, "relu"]]}, "val_acc": 0.94, "cv_quality": 0.99, "epochs": 9},
    {"name": "fair", "arch": {"layers": [[32, "tanh"]]}, "val_acc": 0.93, "cv_quality": 0.80, "epochs": 12},
    {"name": "out", "arch": {"layers": [[16, "elu"]]}, "val_acc": 0.50, "cv_quality": 1.00, "epochs": 3},
]


def test_rescoring_sees_only_train_and_validation_rows():
    fitter = RecordingFitter()
    sel = select_from_split(CANDIDATES, make_split(), fitter, k=3, folds=3, seed=0)
    assert fitter.rows == set(range(60)) | set(range(100, 130))  # every train+val row, no test row
    clean = [(c["name"], c["cv_scores"], c["retrain_epochs"]) for c in sel.rescored]
    poisoned = select_from_split(CANDIDATES, make_split(poison=True), RecordingFitter(), k=3, folds=3, seed=0)
    assert [(c["name"], c["cv_scores"], c["retrain_epochs"]) for c in poisoned.rescored] == clean
    assert poisoned.pick["name"] == sel.pick["name"]


def test_pick_by_cross_validation_retrained_for_the_median_best_epoch():
    fitter = RecordingFitter()
    sel = select(CANDIDATES, *make_split().train_val(), fitter, k=3, folds=3, seed=0)
    assert [c["name"] for c in sel.rescored] == ["lucky", "solid", "fair"]  # top-3 distinct by val_acc; "dup" repeats lucky
    assert sel.pick["name"] == "solid" and sel.model == "solid"
    assert sel.pick["retrain_epochs"] == int(np.median(sel.pick["cv_best_epochs"])) and len(sel.pick["cv_best_epochs"]) == 3
    assert ("solid", sel.pick["retrain_epochs"], 90) in fitter.final_calls  # all of train+validation
    assert sorted(sel.ensemble) == ["fair", "lucky", "solid"]
    assert sel.test_accuracy(np.zeros((4, 4)), np.array([0, 0, 1, 2])) == 0.5


def test_top_distinct_and_empty_input():
    assert [c["name"] for c in top_distinct(CANDIDATES, 10)] == ["lucky", "solid", "fair", "out"]
    with pytest.raises(ValueError, match="no candidates"):
        select([], np.zeros((6, 2)), np.array([0, 1] * 3), RecordingFitter())


@pytest.mark.slow
def test_keras_selection_end_to_end_ignores_a_poisoned_test_split():
    """Real Keras training on iris: the same CV scores and retrained epochs with a NaN test split."""
    from mlp_nas.selection import KerasFitter
    from nas_data.tabular import load_split

    split = load_split("iris", 0)
    cands = [{"arch": {"layers": [[16, "relu"]]}, "val_acc": 0.9}, {"arch": {"layers": [[8, "tanh"]]}, "val_acc": 0.8}]
    settings = {"max_epochs": 8, "patience": 3}
    sel = select_from_split(cands, split, KerasFitter(3, settings), k=2, folds=2, seed=1)
    bad = Split(split.x_train, split.y_train, split.x_val, split.y_val, np.full_like(split.x_test, np.nan),
                np.full_like(split.y_test, 7), split.classes)
    again = select_from_split(cands, bad, KerasFitter(3, settings), k=2, folds=2, seed=1)
    assert [c["cv_scores"] for c in again.rescored] == [c["cv_scores"] for c in sel.rescored]
    assert [c["retrain_epochs"] for c in again.rescored] == [c["retrain_epochs"] for c in sel.rescored]
    assert 0.0 <= sel.test_accuracy(split.x_test, split.y_test) <= 1.0
    assert sel.ensemble_accuracy(split.x_test, split.y_test) is not None
