"""Candidates train to convergence: early stopping restores the best epoch's weights, the trial reports
what the tuner needs, a fixed-epoch retrain replays the recorded learning-rate schedule."""
import os
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the controller tests share this process


SEED = 3


@pytest.fixture(scope="module")
def iris():
    from nas_data.tabular import load_split

    return load_split("iris", 0)


def test_early_stopping_restores_the_best_epoch(iris):
    from mlp_nas.training import accuracy, train_candidate

    # A learning rate this large makes validation loss and accuracy swing: the run ends past its best epoch.
    arch = {"layers": [[64, "relu"], [64, "relu"]]}
    settings = {"max_epochs": 60, "patience": 8, "learning_rate": 0.05, "lr_schedule": "none", "batch_size": 16}
    model, info = train_candidate(arch, iris.x_train, iris.y_train, iris.x_val, iris.y_val, iris.n_classes, settings,
                                  seed=SEED)
    curve, best = info["curve"], info["best_epoch"] - 1
    assert curve[-1] != curve[best], "precondition: the last epoch must score differently from the best one"
    assert info["epochs_trained"] == len(curve) == best + 1 + 8  # stopped after `patience` epochs without a better loss
    restored = accuracy(model, iris.x_val, iris.y_val, iris.n_classes)
    assert restored == pytest.approx(curve[best], abs=1e-6) == info["val_acc"]


def test_trial_reports_what_the_tuner_needs(iris):
    from mlp_nas.trial import train_keras

    seen = []
    params = {"arch": {"layers": [[16, "tanh"], "dropout"]}, "seed": 5,
              "train": {"max_epochs": 7, "patience": 3, "batch_size": 32, "learning_rate": 0.01, "threads": 1}}
    split = SimpleNamespace(x_train=iris.x_train, y_train=iris.y_train, x_val=iris.x_val, y_val=iris.y_val,
                            n_classes=iris.n_classes)
    out = train_keras(params, split, seen.append)
    assert out["max_epochs"] == 7 and 1 <= out["best_epoch"] <= out["epochs_trained"] <= 7
    assert len(seen) == out["epochs_trained"] and out["default"] == max(seen)
    assert out["settings"]["learning_rate"] == 0.01 and out["n_params"] > 0


def test_architecture_training_tokens_override_the_settings(iris):
    from mlp_nas.training import settings_for

    arch = {"layers": [[8, "relu"]], "train": {"learning_rate": 0.003, "l2": 1e-4, "batch_size": 128}}
    s = settings_for(arch, {"learning_rate": 0.1, "patience": 4})
    assert (s["learning_rate"], s["l2"], s["batch_size"], s["patience"], s["max_epochs"]) == (0.003, 1e-4, 128, 4, 200)
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        settings_for({"layers": [[8, "relu"]]}, {"lr_schedule": "cosine"})


def test_fixed_retrain_replays_the_schedule_and_is_seeded(iris):
    from mlp_nas.training import fit_fixed, predict_proba

    arch = {"layers": [[16, "relu"]]}
    x, y = iris.train_val()
    a = predict_proba(fit_fixed(arch, x, y, iris.n_classes, 4, seed=1, lr_curve=[1e-2, 1e-2, 5e-3]), iris.x_test, 3)
    b = predict_proba(fit_fixed(arch, x, y, iris.n_classes, 4, seed=1, lr_curve=[1e-2, 1e-2, 5e-3]), iris.x_test, 3)
    c = predict_proba(fit_fixed(arch, x, y, iris.n_classes, 4, seed=1, lr_curve=[1e-5]), iris.x_test, 3)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert np.abs(a - c).max() > 1e-3  # the replayed rates were used
    assert a.shape == (len(iris.y_test), 3)


def test_real_nni_search_with_successive_halving_records_what_each_trial_trained(tmp_path, free_port):
    """A real NNI experiment (concurrency 2) with the convergence protocol and two halving rungs per controller
    epoch, then the CV selection report: every recorded result is the one its trial trained, fidelity included."""
    import json
    import subprocess
    import sys

    import yaml

    from nni_plumbing.experiments import final_results
    from tests.conftest import ROOT

    nas = yaml.safe_load((ROOT / "nni_config.yml").read_text())
    nas.update(trialCodeDirectory=str(ROOT), experimentWorkingDirectory=str(tmp_path / "nni"))
    nas["tuner"]["codeDirectory"] = str(ROOT)
    nas["tuner"]["classArgs"].update(dataset="iris", max_epochs=6, patience=2, max_layers=2, lstm_units=16)
    (tmp_path / "nas.yml").write_text(yaml.safe_dump(nas))
    proc = subprocess.run([sys.executable, "-m", "mlp_nas", "run", "--config", str(tmp_path / "nas.yml"), "--no-tpe",
                           "--controller-epochs", "2", "--archs-per-epoch", "3", "--halving-rungs", "2",
                           "--concurrency", "2", "--port", str(free_port), "--out", str(tmp_path / "results")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "top-" in proc.stdout and "ensemble" in proc.stdout  # the CV selection's rows
    nas_dir = next(d for d in (tmp_path / "nni").iterdir() if (d / "checkpoint" / "mlp_nas_history.json").exists())
    history = json.loads((nas_dir / "checkpoint" / "mlp_nas_history.json").read_text())
    reported = {r["sample_id"]: r for r in final_results(nas_dir)}
    recorded = {s["sample_id"]: s for s in history["samples"] if s["status"] == "done" and s["method"] != "sklearn_default"}
    assert len(recorded) == 2 * (3 + 1)  # per controller epoch: 3 candidates for 2 epochs, the best for 6
    for record in recorded.values():
        trial = reported[record["sample_id"]]
        assert record["trained_arch"] == trial["arch"] and record["accuracy"] == trial["default"]
        assert record["max_epochs"] == trial["max_epochs"] == [2, 6][record["rung"]]  # the fidelity it was given
        assert (record["best_epoch"], record["epochs_trained"]) == (trial["best_epoch"], trial["epochs_trained"])
        assert 1 <= record["best_epoch"] <= record["epochs_trained"] <= record["max_epochs"]
        assert record["curve"][record["best_epoch"] - 1] == record["accuracy"]
    for record in (r for r in recorded.values() if r["rung"] == 1):  # the promoted one: its rung's best
        origin = recorded[record["promoted_from"]]
        assert origin["rung"] == 0 and origin["epoch"] == record["epoch"] and origin["trained_arch"] == record["arch"]
        rivals = [r["accuracy"] for r in recorded.values() if r["rung"] == 0 and r["epoch"] == record["epoch"]]
        assert origin["accuracy"] == max(rivals)
    assert [e["rungs_trained"] for e in history["epochs"]] == [2, 2]
    report = json.loads(next((tmp_path / "results").glob("*/report.json")).read_text())
    assert report["top"][0]["max_epochs"] == 6  # a full-budget result ranks first
    assert all(set(c["arch"]) == {"layers"} for c in report["rescored"]) and 1 <= len(report["rescored"]) <= 3
