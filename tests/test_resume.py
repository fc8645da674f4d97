"""Stop an MLP NAS experiment in the middle of a controller epoch and resume it (`nnictl resume`):
earlier results are kept, interrupted trials are retrained, the search ends with its full budget."""
import json
import time

import yaml
from nni.experiment import Experiment

from tests.conftest import ROOT
from trials.experiments import experiment_dir, load_config


def history(config, exp_id):
    path = experiment_dir(config, exp_id) / "checkpoint" / "mlp_nas_history.json"
    return json.loads(path.read_text()) if path.exists() else None


def wait_for(predicate, timeout):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(1)


def test_stop_and_resume(tmp_path, free_port):
    raw = yaml.safe_load((ROOT / "nni_config.yml").read_text())
    raw.update(trialCodeDirectory=str(ROOT), experimentWorkingDirectory=str(tmp_path / "nni"), maxTrialNumber=7)
    raw["tuner"]["codeDirectory"] = str(ROOT)
    raw["tuner"]["classArgs"].update(dataset="iris", controller_epochs=3, archs_per_epoch=2, max_epochs=2,
                                     max_layers=2, lstm_units=16)
    (tmp_path / "nas.yml").write_text(yaml.safe_dump(raw))
    config = load_config(tmp_path / "nas.yml")
    exp = Experiment(config)
    exp.start(free_port)
    try:
        wait_for(lambda: (history(config, exp.id) or {}).get("epoch", 0) >= 1, 240)
    finally:
        exp.stop()
    before = history(config, exp.id)
    assert not before["finished"]

    resumed = Experiment(None, id=exp.id)
    resumed.config = config
    resumed.resume(free_port, wait_completion=False)
    try:
        wait_for(lambda: history(config, exp.id)["finished"], 300)
    finally:
        resumed.stop()
    after = history(config, exp.id)
    assert after["epochs"][0] == before["epochs"][0]  # the first controller epoch is not redone
    assert len(after["epochs"]) == 3
    done = [s for s in after["samples"] if s["status"] == "done"]
    assert len(done) == 7 and len({s["sample_id"] for s in done}) == 7
    assert [s["arch"] for s in after["samples"][:len(before["samples"])]] == [s["arch"] for s in before["samples"]]
