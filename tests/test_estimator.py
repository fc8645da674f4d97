"""MLPNASClassifier: a scikit-learn estimator around the MLP NAS search (NNI by default, in-process for the checks)."""
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlp_nas import MLPNASClassifier
from mlp_nas.space import describe

# Keras on NumPy 2 warns on every array conversion; nothing to act on here. keras_torch: once another test has
# loaded Keras on TensorFlow (the controller needs it), every in-process fit here pays TensorFlow's tracing.
pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"), pytest.mark.keras_torch]

# The smallest search: one architecture, one epoch, no baseline trial; Keras on torch (no graph tracing to pay for).
TINY = dict(max_trials=1, sampler="random", max_epochs=1, sklearn_baseline=False, keras_backend="torch",
            mode="in_process", verbose=0, random_state=0)

# scikit-learn checks this estimator does not pass, with the reason (docs/estimator.md lists the same).
EXPECTED_FAILED_CHECKS = {
}


def iris_strings():
    x, y = load_iris(return_X_y=True)
    return x, np.array(["setosa", "versicolor", "virginica"])[y]


# Up to 2 layers, 20 epochs of a few large steps: check_classifiers_train asks for 0.83 training accuracy from the one
# trial, and large batches keep the ~40 checks, each with several fits, quick.
CHECKED = MLPNASClassifier(**{**TINY, "max_epochs": 20, "max_layers": 2, "batch_size": 256, "learning_rate": 0.01})


@parametrize_with_checks([CHECKED], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_package_import_loads_no_heavy_library():
    code = ("import sys, mlp_nas; heavy = {'tensorflow', 'keras', 'torch', 'nni', 'sklearn'} & set(sys.modules); "
            "assert not heavy, heavy; assert mlp_nas.MLPNASClassifier.__name__ == 'MLPNASClassifier'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)


def test_clone_and_params_round_trip():
    clf = MLPNASClassifier(max_trials=16, concurrency=3, sampler="random", random_state=7, port=8123, archs_per_epoch=4,
                           max_epochs=5, mode="in_process")
    params = clf.get_params()
    assert params["max_trials"] == 16 and params["concurrency"] == 3 and params["port"] == 8123
    twin = clone(clf)
    assert twin is not clf and twin.get_params() == params
    twin.set_params(max_trials=8, sampler="controller")
    assert twin.max_trials == 8 and twin.sampler == "controller" and clf.max_trials == 16
    assert MLPNASClassifier().set_params(**params).get_params() == params


@pytest.mark.parametrize("params, message", [
    (dict(max_trials=0), "'max_trials' parameter of MLPNASClassifier must be an int in the range [1, inf) or None. Got 0"),
    (dict(sampler="grid"), "'sampler' parameter of MLPNASClassifier must be a str among"),
    (dict(prior="nni"), "'prior' parameter of MLPNASClassifier must be a str among"),
    (dict(concurrency=1.5), "'concurrency' parameter of MLPNASClassifier must be an int"),
    (dict(port=80), "'port' parameter of MLPNASClassifier must be an int in the range [1024, 65535]"),
    (dict(mode="cloud"), "'mode' parameter of MLPNASClassifier must be a str among"),
    (dict(keras_backend="jax"), "'keras_backend' parameter of MLPNASClassifier must be a str among"),
    (dict(learning_rate=-1.0), "'learning_rate' parameter of MLPNASClassifier must be a float in the range (0.0, inf)"),
    (dict(cv_folds=1), "'cv_folds' parameter of MLPNASClassifier must be an int in the range [2, inf)"),
    (dict(max_trials=6, archs_per_epoch=4), "max_trials=6 is not a multiple of archs_per_epoch=4"),
])
def test_bad_parameters_are_rejected_in_fit_with_one_line(params, message):
    x, y = iris_strings()
    clf = MLPNASClassifier(**{**TINY, **params})  # __init__ stores anything; fit checks
    with pytest.raises(ValueError) as info:
        clf.fit(x, y)
    text = str(info.value)
    assert message in text, text
    assert "\n" not in text
    assert not hasattr(clf, "classes_")  # rejected before any search


def test_bad_data_is_rejected_with_one_line():
    x, y = iris_strings()
    with pytest.raises(ValueError, match="class 'setosa' has 2 example"):
        MLPNASClassifier(**TINY).fit(x[48:], y[48:])
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPNASClassifier(**TINY).fit(x, np.linspace(0, 1, len(x)))
    ten_classes = np.repeat(np.arange(10), 3)  # 3 per class, but 15 % of 30 cannot hold all 10 classes
    with pytest.raises(ValueError, match="too small for the search's stratified split") as info:
        MLPNASClassifier(**TINY).fit(np.random.default_rng(0).normal(size=(30, 4)), ten_classes)
    assert "\n" not in str(info.value)


def test_in_process_fit_is_seeded_and_pickles():
    x, y = iris_strings()
    params = {**TINY, "max_trials": 2, "archs_per_epoch": 1, "max_epochs": 2}
    a = MLPNASClassifier(**params).fit(x, y)
    b = MLPNASClassifier(**params).fit(x, y)
    assert a.best_architecture_ == b.best_architecture_ and a.best_score_ == b.best_score_
    assert [r["architecture"] for r in a.search_results_] == [r["architecture"] for r in b.search_results_]
    assert len(a.search_results_) == 2 and {r["status"] for r in a.search_results_} == {"done"}
    assert a.best_score_ == max(r["val_accuracy"] for r in a.search_results_)
    assert set(a.predict(x)) <= set(a.classes_) and list(a.classes_) == ["setosa", "versicolor", "virginica"]
    proba = a.predict_proba(x)
    assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    again = pickle.loads(pickle.dumps(a))
    assert np.array_equal(again.predict_proba(x), proba)


def test_refit_replays_the_picks_epochs_and_learning_rate_schedule(monkeypatch):
    """The refit is the report's final retrain: the pick's best epoch count and the schedule it was measured under."""
    from mlp_nas import training

    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        return fit_fixed(*args, **kwargs)

    fit_fixed = training.fit_fixed
    monkeypatch.setattr(training, "fit_fixed", spy)
    x, y = iris_strings()
    clf = MLPNASClassifier(**{**TINY, "max_epochs": 4}).fit(x, y)
    (arch, _, _, n_classes, epochs, _, _, lr_curve), = calls
    best = next(r for r in clf.search_results_ if r["architecture"] == describe(clf.best_architecture_))
    assert arch == clf.best_architecture_ and n_classes == 3 and epochs == clf.best_epochs_ == best["best_epoch"]
    assert lr_curve and len(lr_curve) >= epochs


def test_top_k_rescoring_picks_the_best_cross_validated_architecture():
    x, y = iris_strings()
    params = {**TINY, "max_trials": 3, "archs_per_epoch": 3, "max_epochs": 3, "top_k": 2, "cv_folds": 2}
    clf = MLPNASClassifier(**params).fit(x, y)
    assert len(clf.rescored_) == 2 and all(len(r["cv_scores"]) == 2 for r in clf.rescored_)
    pick = max(clf.rescored_, key=lambda r: (r["cv_mean"], -r["search_rank"]))
    assert clf.best_architecture_ == pick["architecture"] and clf.best_epochs_ == pick["retrain_epochs"]
    assert [r["search_rank"] for r in clf.rescored_] == [0, 1]
    searched = sorted((r for r in clf.search_results_ if r["status"] == "done"), key=lambda r: -r["val_accuracy"])
    assert clf.rescored_[0]["val_accuracy"] == searched[0]["val_accuracy"]
    again = MLPNASClassifier(**params).fit(x, y)
    assert again.rescored_ == clf.rescored_ and np.array_equal(again.predict_proba(x), clf.predict_proba(x))


def test_successive_halving_in_process_picks_from_the_full_budget_rung():
    """``halving_rungs=2``: four architectures for 2 epochs, the best two again for 4; the pick and the re-scoring
    rank the full-budget results first (scores of different budgets are not comparable)."""
    x, y = iris_strings()
    params = {**TINY, "max_trials": 4, "archs_per_epoch": 4, "max_epochs": 4, "halving_rungs": 2, "halving_eta": 2}
    clf = MLPNASClassifier(**params).fit(x, y)
    rows = clf.search_results_
    assert [(r["rung"], r["max_epochs"]) for r in rows] == [(0, 2)] * 4 + [(1, 4)] * 2
    first = sorted(rows[:4], key=lambda r: (-r["val_accuracy"], r["sample_id"]))
    assert {r["architecture"] for r in rows[4:]} == {r["architecture"] for r in first[:2]}  # the best two promoted
    assert clf.best_score_ == max(r["val_accuracy"] for r in rows[4:])
    assert describe(clf.best_architecture_) in {r["architecture"] for r in rows[4:]}
    rescored = MLPNASClassifier(**params, top_k=2, cv_folds=2).fit(x, y).rescored_
    assert {describe(r["architecture"]) for r in rescored} == {r["architecture"] for r in rows[4:]}


def test_layerwise_prior_changes_what_the_same_seed_samples():
    """``prior`` reaches the tuner: the same seed samples other architectures from NNI's export distribution."""
    x, y = iris_strings()
    params = {**TINY, "max_trials": 4, "archs_per_epoch": 4}
    plain = MLPNASClassifier(**params).fit(x, y)
    layerwise = MLPNASClassifier(**params, prior="layerwise").fit(x, y)
    archs = lambda clf: [r["architecture"] for r in clf.search_results_]  # noqa: E731
    assert len(archs(layerwise)) == 4 and archs(layerwise) != archs(plain)
    assert archs(layerwise) == archs(MLPNASClassifier(**params, prior="layerwise").fit(x, y))


def test_grid_search_over_one_parameter_in_process():
    x, y = iris_strings()
    grid = GridSearchCV(MLPNASClassifier(**TINY), {"max_epochs": [1, 3]}, cv=2).fit(x, y)
    assert grid.best_params_["max_epochs"] in (1, 3)
    assert len(grid.cv_results_["mean_test_score"]) == 2
    assert grid.best_estimator_.best_architecture_["layers"]


def test_pandas_input_keeps_feature_names():
    pd = pytest.importorskip("pandas")
    x, y = iris_strings()
    frame = pd.DataFrame(x, columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])
    clf = MLPNASClassifier(**TINY).fit(frame, pd.Series(y))
    assert list(clf.feature_names_in_) == ["sepal_l", "sepal_w", "petal_l", "petal_w"] and clf.n_features_in_ == 4
    assert clf.predict(frame).dtype == clf.classes_.dtype


def test_pipeline_fit_through_nni_with_string_labels(tmp_path, free_port):
    """The default mode end to end: a real NNI experiment (concurrency 2) inside a Pipeline; the same seed
    samples the same architectures in process."""
    x, y = iris_strings()
    small = dict(max_trials=2, sampler="random", max_layers=2, max_epochs=10, batch_size=8, random_state=0)
    nas = MLPNASClassifier(**small, concurrency=2, port=free_port, working_dir=str(tmp_path / "nni"))
    model = make_pipeline(StandardScaler(), nas).fit(x, y)
    fitted = model[-1]
    assert fitted.experiment_dir_.startswith(str(tmp_path / "nni"))
    assert [r["method"] for r in fitted.search_results_] == ["sklearn_default", "random", "random"]
    assert all(r["trial_job_id"] and r["status"] == "done" for r in fitted.search_results_)
    nas_rows = [r for r in fitted.search_results_ if r["method"] == "random"]
    assert fitted.best_score_ == max(r["val_accuracy"] for r in nas_rows)
    assert set(model.predict(x)) <= {"setosa", "versicolor", "virginica"}
    assert model.score(x, y) > 0.8
    here = MLPNASClassifier(**small, mode="in_process", verbose=0, keras_backend="torch")
    here.fit(StandardScaler().fit_transform(x), y)
    assert [r["architecture"] for r in here.search_results_] == [r["architecture"] for r in fitted.search_results_]


def test_controller_with_training_tokens_through_nni(tmp_path, free_port):
    """``train_tokens=True``: the LSTM controller picks the learning rate, L2 and batch size with the layers, in a
    real NNI experiment (concurrency 2); each trial trains with the values it was given."""
    from mlp_nas.space import TRAIN_CHOICES

    x, y = iris_strings()
    nas = MLPNASClassifier(max_trials=2, concurrency=2, sampler="controller", train_tokens=np.True_, max_layers=2,
                           max_epochs=5, lstm_units=16, sklearn_baseline=False, random_state=0, port=free_port,
                           working_dir=str(tmp_path / "nni")).fit(x, y)
    rows = nas.search_results_
    assert len(rows) == 2 and all(r["status"] == "done" and r["method"] == "controller" for r in rows)
    for row in rows:
        assert set(row["train"]) == set(TRAIN_CHOICES)
        assert {name: row["settings"][name] for name in TRAIN_CHOICES} == row["train"]  # what the trial used
    picked = nas.best_architecture_["train"]
    assert float(nas.model_.optimizer.learning_rate) == pytest.approx(picked["learning_rate"])  # the refit's
    assert set(nas.predict(x)) <= set(nas.classes_)


@pytest.mark.slow
def test_cross_val_score_through_nni_on_iris_with_string_labels(tmp_path, free_port):
    """Three real NNI experiments, one per fold, in a Pipeline with StandardScaler."""
    x, y = iris_strings()
    nas = MLPNASClassifier(max_trials=4, concurrency=2, archs_per_epoch=2, max_layers=2, max_epochs=10, batch_size=8,
                           random_state=0, port=free_port, working_dir=str(tmp_path / "nni"))
    scores = cross_val_score(make_pipeline(StandardScaler(), nas), x, y, cv=3, error_score="raise")
    assert scores.shape == (3,) and np.all(scores > 0.7)
    finished = [p for p in (tmp_path / "nni").iterdir() if (p / "checkpoint" / "mlp_nas_history.json").is_file()]
    assert len(finished) >= 3  # one experiment per fold (more if NNI had to start one again)
