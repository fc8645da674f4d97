"""A real NNI experiment, tiny budget, trialConcurrency 2.

Runs `python -m mlp_nas run` (MLP NAS with the LSTM controller, the sklearn baseline trial, the
sklearn+TPE experiment and the report) and checks that every (architecture, validation accuracy)
pair the tuner recorded is the one the trial trained and reported to NNI.
"""
import json
import subprocess
import sys

import yaml

from nni_plumbing.experiments import final_results
from tests.conftest import ROOT


def n_params(arch, n_features, n_classes):
    """Parameters of the MLP, counted from the architecture alone."""
    total, width = 0, n_features
    for layer in arch["layers"]:
        if layer != "dropout":
            total += width * layer[0] + layer[0]
            width = layer[0]
    out = 1 if n_classes == 2 else n_classes
    return total + width * out + out


def tiny_configs(tmp_path):
    workdir = str(tmp_path / "nni")
    nas = yaml.safe_load((ROOT / "nni_config.yml").read_text())
    nas.update(trialCodeDirectory=str(ROOT), experimentWorkingDirectory=workdir)
    nas["tuner"]["codeDirectory"] = str(ROOT)
    nas["tuner"]["classArgs"].update(dataset="iris", max_epochs=3, max_layers=3, lstm_units=16)
    tpe = yaml.safe_load((ROOT / "configs" / "sklearn_tpe.yml").read_text())
    tpe.update(trialCodeDirectory=str(ROOT), experimentWorkingDirectory=workdir)
    paths = tmp_path / "nas.yml", tmp_path / "tpe.yml"
    for path, config in zip(paths, (nas, tpe)):
        path.write_text(yaml.safe_dump(config))
    return paths


def test_run_end_to_end_with_concurrency_2(tmp_path, free_port):
    nas_yml, tpe_yml = tiny_configs(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "mlp_nas", "run", "--config", str(nas_yml), "--tpe-config", str(tpe_yml),
         "--controller-epochs", "2", "--archs-per-epoch", "3", "--concurrency", "2", "--port", str(free_port),
         "--out", str(tmp_path / "results")],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "sklearn MLPClassifier + NNI TPE" in proc.stdout and "MLP NAS (controller)" in proc.stdout

    exp_dirs = {d.name: d for d in (tmp_path / "nni").iterdir() if d.is_dir() and not d.name.startswith("_")}
    nas_dir = next(d for d in exp_dirs.values() if (d / "checkpoint" / "mlp_nas_history.json").exists())
    history = json.loads((nas_dir / "checkpoint" / "mlp_nas_history.json").read_text())
    assert history["finished"] and len(history["epochs"]) == 2

    reported = {r["sample_id"]: r for r in final_results(nas_dir)}
    recorded = [s for s in history["samples"] if s["status"] == "done"]
    assert len(recorded) == len(reported) == 7  # the sklearn baseline and 2 x 3 architectures
    for record in recorded:
        trial = reported[record["sample_id"]]
        assert record["accuracy"] == trial["default"]
        if record["method"] == "sklearn_default":
            continue
        assert record["trained_arch"] == trial["arch"] == record["arch"]
        assert trial["n_params"] == n_params(trial["arch"], 4, 3)  # the model built is that architecture
        assert trial["startup_s"] > 0 and trial["train_s"] > 0

    out = tmp_path / "results" / nas_dir.name
    for name in ("report.md", "report.csv", "report.json", "reward_per_epoch.png", "accuracy_per_epoch.png"):
        assert (out / name).stat().st_size > 0, name
    rows = json.loads((out / "report.json").read_text())["rows"]
    # the pick, the top-k ensemble of the same 6 candidates, sklearn's default, sklearn + TPE
    assert [r["trials"] for r in rows] == [6, 6, 1, 6], [r["method"] for r in rows]
    assert "ensemble" in rows[1]["method"]
    assert all(0 <= r["test_acc"] <= 1 for r in rows)
