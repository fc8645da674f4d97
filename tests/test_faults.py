"""The fault catalogue: every tuner under every fault, through real NNI at trialConcurrency 2.

One table of cases (:data:`CASES`). The trial faults (exit non-zero, NaN, SIGKILL mid-training, hang past
``maxTrialDuration``, another trial's parameters) share one experiment per tuner, one sample each, injected by
``nni_plumbing/faults.py``; the manager stopped and resumed, and the tuner raising at set-up, get their own.
In every case but the last the experiment reaches DONE, every recorded result is the one its trial trained
(same sample, same value, same trial job), nothing is recorded twice, and every fault counts as a failure in
the tuner's state. docs/tuners.md says which cases run by default.
"""
import json
import os
import sys
import time

import pytest

from nni_plumbing.experiments import final_results, load_config, run_experiment
from nni_plumbing.faults import plan
from nni_plumbing.tuner_base import TUNER_ERROR_FILE
from tests.conftest import ROOT, nnictl, read_json, wait_for

TRIAL_FAULTS = {1: "hang", 2: "exit", 3: "nan", 4: "kill", 5: "mixup"}  # sample (or TPE trial) -> fault; the hang first,
# so that its time limit overlaps the other trials
N_TRIALS = 7  # two fault-free samples (0 and 6) around the five faults
MAX_TRIAL_DURATION = "30s"  # ~5x a trial here (warm-up included) on a busy 2-core machine; the hang waits it out


# ----- one small experiment per tuner -----
def mlp_config(tmp_path, **class_args):
    config = load_config(ROOT / "nni_config.yml")
    config.tuner.class_args.update({"dataset": "iris", "sampler": "random", "controller_epochs": 2, "archs_per_epoch": 3,
                                    "max_epochs": 3, "max_layers": 3, "lstm_units": 16, **class_args})
    return config, "mlp_nas_state.json"


def tpe_config(tmp_path, **class_args):
    config = load_config(ROOT / "configs" / "sklearn_tpe.yml")
    config.trial_command = "python3 -m mlp_nas.sklearn_trial --dataset iris --seed 0"
    config.tuner.class_args.update(class_args)
    return config, "tpe_tuner_state.json"


def policy_config(tmp_path, **class_args):
    config = load_config(ROOT / "configs" / "multitrial_ednas_cell.yml")
    config.tuner.class_args.update({"data": "synthetic", "epochs": 1, "space_args": {
        "width": 4, "num_cells": 3, "in_channels": 3, "image_size": 16, "num_classes": 4}, **class_args})
    return config, "policy_tuner_state.json"


def study_config_(tmp_path, **class_args):
    from studies.study import study_config

    tiny = {"data": "synthetic", "space_args": {"width": 4, "num_layers": 3},  # the config's space: enas-macro
            "retrain_space_args": {"width": 4, "num_layers": 3}, "threads": 1, "seeds": [0], "k": 6, "policies": ["ednas"],
            "search": {"epochs": 1, "batch_size": 64, "final_samples": 2, "policy_steps": 8},
            "retrain": {"epochs": 1, "batch_size": 64}}
    config = study_config(ROOT / "configs" / "studies" / "search_vs_random.yml", tiny, concurrency=2)
    config.tuner.class_args.update(class_args)  # after the front end's checks: as `nnictl create` would pass them
    return config, "study_tuner_state.json"


TUNERS = {"MLPNASTuner": mlp_config, "MixupSafeTpe": tpe_config, "PolicyTuner": policy_config, "StudyTuner": study_config_}
BAD_SETUP = {  # data each tuner cannot use, found only once NNI has connected (update_search_space)
    "MLPNASTuner": ({"dataset": "no_such_file.csv"}, "DataError"),
    "MixupSafeTpe": ({}, "ValueError"),  # an empty choice in the search space, below
    "PolicyTuner": ({"space_args": {"width": 0}}, "ValueError"),
    "StudyTuner": ({"space_args": {"width": 0}}, "ValueError"),
}


def prepare(tuner, tmp_path, max_trials=N_TRIALS, **class_args):
    config, state_file = TUNERS[tuner](tmp_path, **class_args)
    config.trial_code_directory = str(ROOT)
    config.tuner.code_directory = str(ROOT)
    config.experiment_working_directory = str(tmp_path / "nni")
    config.trial_concurrency = 2
    if tuner != "StudyTuner":  # a study's trial count is its job count
        config.max_trial_number = max_trials
    config.max_trial_duration = MAX_TRIAL_DURATION
    return config, state_file


def finished_for(tmp_path, state_file):
    """``run_experiment``'s ``finished``: the tuner's saved state says nothing is left (MLP epochs and studies hold
    NNI's requests, so NNI shows TUNER_NO_MORE_TRIAL between them)."""
    def finished(exp_id):
        try:
            return json.loads((tmp_path / "nni" / exp_id / "checkpoint" / state_file).read_text())["finished"]
        except (FileNotFoundError, ValueError):
            return False
    return finished


def reached_done(exp_dir) -> bool:
    return "to: DONE" in (exp_dir / "log" / "nnimanager.log").read_text()


def check_records(exp_dir, state_file, tuner):
    """Every recorded result is the one its trial reported for that sample, recorded once; returns the state."""
    state = json.loads((exp_dir / "checkpoint" / state_file).read_text())
    finals = {r["trial_job_id"]: r for r in final_results(exp_dir)}
    seen = set()
    for sid, record in state["records"].items():
        if record["status"] != "done":
            continue
        trial = finals.get(record["trial_job_id"])
        assert trial is not None, f"{tuner}: sample {sid} recorded a result no trial reported"
        assert record["trial_job_id"] not in seen, f"{tuner}: one trial's result recorded twice"
        seen.add(record["trial_job_id"])
        assert record["value"] == trial["default"], f"{tuner}: sample {sid} recorded another value"
        if "hyperparameters" in trial:
            assert trial["hyperparameters"] == record["params"], f"{tuner}: sample {sid} recorded other parameters"
        else:
            assert str(trial.get("sample_id", trial.get("job"))) == sid, f"{tuner}: sample {sid} recorded another sample"
    return state


def record_of(state, fault_dir, key):
    """The record of the sample a trial received (its parameters, as saved by the fault hook)."""
    params = json.loads((fault_dir / f"params_{key}.json").read_text())
    return next(r for r in state["records"].values() if r["params"] == params)


# ----- the table -----
CASES = ["exit", "nan", "kill", "hang", "mixup"]  # the trial faults, all in one experiment per tuner


@pytest.mark.parametrize("tuner", [
    "MLPNASTuner", pytest.param("MixupSafeTpe", marks=pytest.mark.slow),
    pytest.param("PolicyTuner", marks=pytest.mark.slow), pytest.param("StudyTuner", marks=pytest.mark.slow)])
def test_trial_faults(tuner, tmp_path, free_port, monkeypatch):
    """Cases exit / nan / kill / hang / mixup: one sample each, the rest trains normally."""
    fault_dir = tmp_path / "faults"
    keys = {(f"seq{n}" if tuner == "MixupSafeTpe" else str(n)): fault for n, fault in TRIAL_FAULTS.items()}
    for name, value in plan(fault_dir, keys).items():
        monkeypatch.setenv(name, value)
    config, state_file = prepare(tuner, tmp_path)
    exp_id = run_experiment(config, free_port, label=tuner, stall_s=120, progress=False,
                            finished=finished_for(tmp_path, state_file))
    assert reached_done(tmp_path / "nni" / exp_id), f"{tuner}: the experiment did not reach DONE"
    state = check_records(tmp_path / "nni" / exp_id, state_file, tuner)

    injected = [json.loads(line) for line in (fault_dir / "faults.jsonl").read_text().splitlines()]
    assert sorted(e["fault"] for e in injected) == sorted(CASES), f"{tuner}: not every fault was injected: {injected}"
    for key, fault in keys.items():
        record = record_of(state, fault_dir, key)
        assert record["status"] == "failed", f"{tuner}, case {fault}: sample {record['sample_id']} is {record['status']}"
    assert state["mixups"] >= 1, f"{tuner}, case mixup: the mix-up was not counted"
    assert state["failures"] == len(CASES), f"{tuner}: {state['failures']} failures counted, {len(CASES)} injected"
    for key in {p.stem[len("params_"):] for p in fault_dir.glob("params_*.json")} - set(keys):
        record = record_of(state, fault_dir, key)
        assert record["status"] == "done", f"{tuner}: fault-free sample {record['sample_id']} is {record['status']}"
    if tuner == "MLPNASTuner":
        history = json.loads((tmp_path / "nni" / exp_id / "checkpoint" / "mlp_nas_history.json").read_text())
        assert history["finished"] and len(history["epochs"]) == 2 and history["failures"] == len(CASES)


@pytest.mark.slow
@pytest.mark.parametrize("tuner", list(TUNERS))
def test_manager_stopped_then_resumed(tuner, tmp_path, free_port, monkeypatch):
    """Case resume: NNI's manager is stopped while trials run (a result already in), then ``nnictl resume``d."""
    from nni.experiment import Experiment

    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    extra = {"archs_per_epoch": 2} if tuner == "MLPNASTuner" else {}  # 1 + 2 x 2 samples
    config, state_file = prepare(tuner, tmp_path, max_trials=5, **extra)
    config.max_trial_duration = None
    exp = Experiment(config)
    exp.start(free_port, debug=False)
    exp_dir = tmp_path / "nni" / exp.id
    state_path = exp_dir / "checkpoint" / state_file

    try:
        def stoppable():
            assert exp.get_status() != "ERROR", f"{tuner}: NNI reported an error (see {exp_dir / 'log'})"
            s = read_json(state_path)
            return s and any(r["status"] == "done" for r in s["records"].values()) and any(
                r["status"] == "running" for r in s["records"].values())
        wait_for(stoppable, 300, f"{tuner}: a result with trials running")
        exp.stop()
        resumed = nnictl("resume", exp.id, "--port", str(free_port), "--experiment_dir", str(tmp_path / "nni"))
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        wait_for(lambda: reached_done(exp_dir), 600, f"{tuner}: DONE after resume")
    finally:
        nnictl("stop", exp.id)
    from nni_plumbing.experiments import trial_states

    final = check_records(exp_dir, state_file, tuner)
    made = trial_states(exp_dir)  # samples handed out after NNI had its last trial need not run
    missing = [sid for sid, r in final["records"].items() if r.get("parameter_id") in made and r["status"] != "done"]
    assert len(missing) <= final["mixups"], f"{tuner}: samples {missing} were lost on resume"


# By default the two tuners that start without torch; PolicyTuner's and StudyTuner's error path is the same
# base code (reports_errors) and takes twice as long to reach, so those two run with `make test-slow`.
@pytest.mark.parametrize("tuner", ["MLPNASTuner", "MixupSafeTpe", pytest.param("PolicyTuner", marks=pytest.mark.slow),
                                   pytest.param("StudyTuner", marks=pytest.mark.slow)])
def test_tuner_raises_at_setup(tuner, tmp_path, free_port):
    """Case tuner raises: the tuner writes its one-line error, and the runner stops within seconds with it."""
    from nni_plumbing.experiments import TunerError

    class_args, error = BAD_SETUP[tuner]
    config, _ = prepare(tuner, tmp_path, **class_args)
    if tuner == "MixupSafeTpe":
        config.search_space = {"alpha": {"_type": "choice", "_value": []}}
    with pytest.raises(TunerError) as raised:
        run_experiment(config, free_port, label=tuner, stall_s=120, progress=False)
    exp_dir = next(d for d in (tmp_path / "nni").iterdir() if not d.name.startswith("_"))
    path = exp_dir / "checkpoint" / TUNER_ERROR_FILE
    noticed = time.time() - path.stat().st_mtime
    assert noticed < 30, f"{tuner}: the runner took {noticed:.0f} s to stop after the tuner raised"
    line = path.read_text()
    assert line.endswith("\n") and line.count("\n") == 1, f"{tuner}: the error is not one line: {line!r}"
    assert line.startswith(f"{error}: "), f"{tuner}: {line!r}"
    assert line.strip() in str(raised.value), f"{tuner}: the runner did not show the tuner's line: {raised.value}"
