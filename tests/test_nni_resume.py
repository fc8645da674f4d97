"""`nnictl resume` of a stopped MLP NAS search: a real experiment is stopped while trials run,
resumed, and must finish every controller epoch with each recorded result the one its trial reported."""

import yaml

from nni_plumbing.experiments import final_results
from tests.conftest import ROOT, nnictl, read_json, wait_for


def test_stop_then_nnictl_resume_finishes_the_search(tmp_path, free_port):
    workdir = tmp_path / "nni"
    config = yaml.safe_load((ROOT / "nni_config.yml").read_text())
    config.update(trialCodeDirectory=str(ROOT), experimentWorkingDirectory=str(workdir), trialConcurrency=2,
                  maxTrialNumber=7)
    config["tuner"]["codeDirectory"] = str(ROOT)
    config["tuner"]["classArgs"].update(dataset="iris", max_epochs=3, max_layers=3, lstm_units=16,
                                        controller_epochs=3, archs_per_epoch=2, sampler="random")
    path = tmp_path / "nas.yml"
    path.write_text(yaml.safe_dump(config))

    created = nnictl("create", "--config", str(path), "--port", str(free_port))
    assert created.returncode == 0, created.stdout + created.stderr
    exp_id = wait_for(lambda: next((d.name for d in workdir.iterdir() if not d.name.startswith("_")), None)
                      if workdir.exists() else None, 30, "the experiment folder")
    history_file = workdir / exp_id / "checkpoint" / "mlp_nas_history.json"

    try:
        # stop while trials run, after at least one result is in
        wait_for(lambda: (h := read_json(history_file)) and any(s["status"] == "done" for s in h["samples"])
                 and any(s["status"] == "running" for s in h["samples"]), 180, "a result with trials running")
        from nni.experiment import Experiment

        Experiment.connect(free_port).stop()  # in-process: `nnictl stop` spends seconds importing NNI first
        before = read_json(history_file)
        assert not before["finished"]

        resumed = nnictl("resume", exp_id, "--port", str(free_port))
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        after = wait_for(lambda: (h := read_json(history_file)) and h["finished"] and h, 300, "the resumed search to finish")
    finally:
        nnictl("stop", exp_id)

    assert len(after["epochs"]) == 3 and all(e["n_results"] == 2 for e in after["epochs"])
    assert all(s["status"] == "done" for s in after["samples"]) and len(after["samples"]) == 7
    # results recorded before the stop are kept as they were
    for old in before["samples"]:
        if old["status"] == "done":
            assert after["samples"][old["sample_id"]]["accuracy"] == old["accuracy"]
    reported = {}
    for r in final_results(workdir / exp_id):
        reported.setdefault(r["sample_id"], r)
    for sample in after["samples"]:
        assert sample["accuracy"] == reported[sample["sample_id"]]["default"]
        if sample["method"] != "sklearn_default":
            assert sample["trained_arch"] == reported[sample["sample_id"]]["arch"]
