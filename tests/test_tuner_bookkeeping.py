"""The tuner's bookkeeping under NNI's failure modes, driven by direct calls (pure logic, no NNI)."""
import threading
import time

import pytest

from mlp_nas.tuner import MLPNASTuner, validate_class_args


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
    # NNI issue #5726: the trial of parameter 1 read parameter 2's file and trained sample 2.
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
    ({"archs_per_epoch": 0}, "archs_per_epoch must be a positive integer"),
    ({"colour": "red"}, "unknown tuner classArgs key"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"max_layers": 0}, "max_layers must be"),
])
def test_bad_class_args(args, message):
    with pytest.raises(ValueError, match=message):
        validate_class_args(args)
