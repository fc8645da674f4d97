"""The tuner's bookkeeping under NNI's failure modes, driven by direct calls (pure logic, no NNI)."""
import threading
import time

import pytest

from mlp_nas.tuner import MLPNASTuner, validate_class_args

pytestmark = pytest.mark.usefixtures("restore_nni_dispatcher")


@pytest.fixture
def tuner(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path / "exp" / "checkpoint"))
    return MLPNASTuner(dataset="iris", sampler="random", controller_epochs=2, archs_per_epoch=2, warm_start=False)


def result(params, acc):
    return {"default": acc, "sample_id": params["sample_id"], "arch": params["arch"], "epoch": params["epoch"]}


def test_epoch_waits_then_serves_held_requests(tuner):
    sent = []
    callback = lambda pid, params: sent.append((pid, params))  # noqa: E731
    first = tuner.generate_multiple_parameters([0, 1, 2, 3], st_callback=callback)
    assert [p["method"] for p in first] == ["sklearn_default", "random", "random"]  # id 3 is held back
    for pid, params in zip((0, 1, 2), first):
        tuner.receive_trial_result(pid, params, result(params, 0.5 + pid / 10))
        assert not sent  # strictly on-policy: nothing new before the whole epoch ended
        tuner.trial_end(pid, True)
    assert [pid for pid, _ in sent] == [3] and sent[0][1]["epoch"] == 1
    assert tuner.epoch_stats[0]["n_results"] == 2


def test_mixup_recorded_under_what_was_trained(tuner):
    params = tuner.generate_multiple_parameters([0, 1, 2])
    base, p1, p2 = params
    # NNI's concurrency mix-up: the trial of parameter 1 read parameter 2's file and trained sample 2.
    tuner.receive_trial_result(0, base, result(base, 0.9))
    tuner.receive_trial_result(1, p1, result(p2, 0.7))
    tuner.receive_trial_result(2, p2, result(p2, 0.71))
    for pid in (0, 1, 2):
        tuner.trial_end(pid, True)
    records = tuner.records
    assert tuner.mixups == 1
    assert records[p2["sample_id"]]["accuracy"] == 0.7  # first result of what was really trained
    assert records[p1["sample_id"]]["status"] == "failed"  # never trained: no reward invented
    assert tuner.epoch == 1


def test_crashed_and_nan_trials_do_not_stall(tuner):
    base, p1, p2 = tuner.generate_multiple_parameters([0, 1, 2])
    tuner.receive_trial_result(0, base, result(base, 0.9))
    tuner.receive_trial_result(1, p1, result(p1, float("nan")))
    for pid, ok in ((0, True), (1, True), (2, False)):
        tuner.trial_end(pid, ok)
    assert tuner.epoch == 1
    assert tuner.records[p1["sample_id"]]["status"] == "failed"
    assert tuner.records[p2["sample_id"]]["status"] == "failed"


def test_result_processed_after_trial_end_still_counts(tuner):
    base, p1, p2 = tuner.generate_multiple_parameters([0, 1, 2])
    tuner.receive_trial_result(0, base, result(base, 0.9))
    tuner.receive_trial_result(1, p1, result(p1, 0.6))
    tuner.trial_end(0, True)
    tuner.trial_end(1, True)
    ender = threading.Thread(target=tuner.trial_end, args=(2, True))
    ender.start()  # NNI's trial-end thread runs ahead of its metric thread
    time.sleep(0.5)
    tuner.receive_trial_result(2, p2, result(p2, 0.8))
    ender.join(timeout=10)
    assert tuner.epoch_stats[0]["n_results"] == 2


def test_finishes_and_checkpoint_resumes(tuner, tmp_path, monkeypatch):
    for _ in range(2):
        pids = list(range(tuner.next_sample_id, tuner.next_sample_id + 3))
        params = tuner.generate_multiple_parameters(pids)
        for pid, p in zip(pids, params):
            tuner.receive_trial_result(pid, p, result(p, 0.5))
            tuner.trial_end(pid, True)
    assert tuner.finished and tuner.generate_multiple_parameters([99]) == []
    again = MLPNASTuner(dataset="iris", sampler="random", controller_epochs=2, archs_per_epoch=2, warm_start=False)
    again.load_checkpoint()
    assert again.finished and again.history()["samples"] == tuner.history()["samples"]


@pytest.mark.parametrize("args,message", [
    ({"sampler": "bayes"}, "sampler must be one of"),
    ({"prior": "nni"}, "prior must be one of"),
    ({"archs_per_epoch": 0}, "archs_per_epoch must be a positive integer"),
    ({"colour": "red"}, "unknown tuner classArgs key"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"max_layers": 0}, "max_layers must be"),
    ({"train_tokens": "false"}, "train_tokens must be true or false, got 'false'"),
    ({"predictor": 1}, "predictor must be true or false, got 1"),
])
def test_bad_class_args(args, message):
    with pytest.raises(ValueError, match=message):
        validate_class_args(args)


def test_numpy_bools_are_booleans():
    import numpy as np

    validate_class_args({"train_tokens": np.True_, "predictor": False})


def fake_nni_db(exp_dir, jobs, finals):
    """The two tables of NNI's database the tuner reads on resume: jobs = {pid: last status}, finals = {pid: dict}."""
    import json
    import sqlite3

    (exp_dir / "db").mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(exp_dir / "db" / "nni.sqlite") as conn:
        conn.execute("CREATE TABLE TrialJobEvent (timestamp, trialJobId, event, data)")
        conn.execute("CREATE TABLE MetricData (timestamp, trialJobId, parameterId, type, sequence, data)")
        for t, (pid, status) in enumerate(jobs.items()):
            conn.execute("INSERT INTO TrialJobEvent VALUES (?, ?, 'RUNNING', ?)",
                         (t, f"job{pid}", json.dumps({"parameter_id": pid})))
            if status != "RUNNING":
                conn.execute("INSERT INTO TrialJobEvent VALUES (?, ?, ?, NULL)", (100 + t, f"job{pid}", status))
        for pid, value in finals.items():
            conn.execute("INSERT INTO MetricData VALUES (0, ?, ?, 'FINAL', 0, ?)",
                         (f"job{pid}", pid, json.dumps(json.dumps(value))))


def test_resume_sorts_interrupted_trials_by_what_nni_recorded(tuner, tmp_path):
    """Stopped with four trials out: one NNI re-runs (running at the stop), one ended with a result the
    tuner had not processed, one NNI never started (handed out just before the stop), one crashed."""
    from nni.runtime import msg_dispatcher

    tuner = MLPNASTuner(dataset="iris", sampler="random", controller_epochs=2, archs_per_epoch=4, warm_start=False)
    params = tuner.generate_multiple_parameters([0, 1, 2, 3, 4])  # the sklearn baseline and 4 architectures
    tuner.receive_trial_result(0, params[0], result(params[0], 0.9))
    tuner.trial_end(0, True)
    fake_nni_db(tmp_path / "exp", {0: "SUCCEEDED", 1: "ADD_RESUMED", 2: "SUCCEEDED", 4: "FAILED"},
                {0: result(params[0], 0.9), 2: result(params[2], 0.6)})
    again = MLPNASTuner(dataset="iris", sampler="random", controller_epochs=2, archs_per_epoch=4, warm_start=False)
    again.load_checkpoint()
    status = {s["sample_id"]: (s["status"], s.get("accuracy")) for s in again.history()["samples"]}
    assert status[2] == ("done", 0.6) and status[4][0] == "failed" and status[1][0] == "running"
    assert again._requeue == [3]  # handed out again, under a fresh id
    assert again.generate_multiple_parameters([5])[0]["sample_id"] == 3
    again.receive_trial_result(5, params[3], result(params[3], 0.7))
    again.trial_end(5, True)
    assert again.epoch == 0  # still waiting for the re-run of parameter 1
    again.receive_trial_result(1, params[1], result(params[1], 0.8))  # NNI's re-run, old id
    again.trial_end(1, True)
    assert again.epoch == 1 and again.epoch_stats[0]["n_results"] == 3
    msg_dispatcher._next_parameter_id = 2  # what NNI sets after re-submitting id 1
    assert msg_dispatcher._create_parameter_id() == 5


# ----- the shared base, through the other three tuners (direct calls, no NNI) -----
TPE_SPACE = {"alpha": {"_type": "loguniform", "_value": [1e-6, 1e-1]}, "layers": {"_type": "choice", "_value": ["50", "100"]}}


def tpe_result(params, value):
    return {"default": value, "hyperparameters": params}


def test_tpe_records_what_was_trained_and_resumes_from_json(tmp_path, monkeypatch):
    import json

    from mlp_nas.tpe_tuner import MixupSafeTpe

    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path / "exp" / "checkpoint"))
    tuner = MixupSafeTpe("maximize", seed=0)
    tuner.update_search_space(TPE_SPACE)
    p = [tuner.generate_parameters(pid) for pid in range(4)]
    tuner.receive_trial_result(0, p[0], tpe_result(p[0], 0.5))
    tuner.receive_trial_result(1, p[1], tpe_result(p[2], 0.7))  # NNI's concurrency mix-up: trial 1 trained parameters 2
    tuner.receive_trial_result(2, p[2], tpe_result(p[2], 0.71))  # trained twice: the first result is kept
    tuner.receive_trial_result(3, p[3], tpe_result(p[3], float("nan")))
    for pid in range(4):
        tuner.trial_end(pid, True)
    state = json.loads((tmp_path / "exp" / "checkpoint" / "tpe_tuner_state.json").read_text())
    status = {int(k): (r["status"], r.get("value")) for k, r in state["records"].items()}
    assert status == {0: ("done", 0.5), 1: ("failed", None), 2: ("done", 0.7), 3: ("failed", None)}
    assert state["mixups"] == 1 and state["failures"] == 2
    assert sorted(len(v) for v in tuner._history.values()) == [2, 2]  # NaN and the untrained sample: not learned
    again = MixupSafeTpe("maximize", seed=0)
    again.load_checkpoint()
    again.update_search_space(TPE_SPACE)
    assert dict(again._history) == dict(tuner._history)
    assert again.generate_parameters(4) == tuner.generate_parameters(4)  # same history, same random state


def test_policy_tuner_learns_and_resumes_from_json(tmp_path, monkeypatch):
    import json

    from strategies.tuner import PolicyTuner

    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path / "exp" / "checkpoint"))
    args = dict(space="ednas-cell", space_args={"width": 4, "num_cells": 3}, policy_args={"samples_per_update": 2})
    tuner = PolicyTuner(**args)
    tuner._warm_preload = lambda: None
    tuner.update_search_space({})
    params = [tuner.generate_parameters(pid) for pid in range(3)]
    for pid, p in enumerate(params):
        tuner.receive_trial_result(pid, p, {"default": 0.5 + pid / 10, "sample_id": p["_sample_id"],
                                            "arch": tuner.records[p["_sample_id"]]["arch"]})
        tuner.trial_end(pid, True)
    state = json.loads((tmp_path / "exp" / "checkpoint" / "policy_tuner_state.json").read_text())
    assert state["policy"]["updates"] == 1 and state["pending"] == [2]
    again = PolicyTuner(**args)
    again._warm_preload = lambda: None
    again.load_checkpoint()
    assert again.policy.updates == 1 and again.pending == [2]
    assert again.generate_parameters(3) == tuner.generate_parameters(3)  # same policy, same generator


def test_study_tuner_crashed_search_and_json_resume(tmp_path, monkeypatch):
    from studies.tuner import StudyTuner

    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path / "exp" / "checkpoint"))
    args = dict(study="learning-progress", seeds=[0, 1], warm_start=False, data="synthetic",
                space_args={"width": 4, "num_cells": 3}, search={"epochs": 2, "batch_size": 64, "final_samples": 5})
    tuner = StudyTuner(**args)
    jobs = tuner.generate_multiple_parameters([0, 1])
    tuner.receive_trial_result(0, jobs[0], {"job": 0, "kind": "search", "default": float("nan")})
    tuner.trial_end(0, True)
    tuner.trial_end(1, False)  # crashed: both searches failed, all four retrainings become skips
    assert [j["kind"] for j in tuner.jobs] == ["search", "search", "skip", "skip", "skip", "skip"]
    again = StudyTuner(**args)
    again.load_checkpoint()
    assert again.queue == [2, 3, 4, 5] and not again.finished
    skips = again.generate_multiple_parameters([2, 3, 4, 5])
    for pid in (2, 3, 4, 5):
        again.trial_end(pid, True)  # a skip trial reports nothing: no wait, not a failure
    assert [s["kind"] for s in skips] == ["skip"] * 4 and again.finished and again.failures == 2
