"""Successive halving inside a controller epoch (mlp_nas.halving and the tuner's rungs), driven by NNI's
tuner calls without NNI (pure logic); the real experiment is in test_mlp_training.py."""
import doctest

import pytest

from mlp_nas import halving
from mlp_nas.tuner import MLPNASTuner, validate_class_args

pytestmark = pytest.mark.usefixtures("restore_nni_dispatcher")


def test_doctest_and_budgets():
    assert doctest.testmod(halving).failed == 0
    assert halving.rung_budgets(10, 1, 3) == [10]
    assert halving.rung_budgets(8, 2, 2) == [4, 8]
    assert halving.survivors(4, 3, 3) == [4, 1, 1]
    assert halving.trials_per_epoch(9, 3, 3) == 13


def rec(sid, acc, max_epochs, arch, rung=0, promoted_from=None):
    return {"sample_id": sid, "accuracy": acc, "max_epochs": max_epochs, "trained_arch": {"layers": arch},
            "rung": rung, "promoted_from": promoted_from}


def test_ranking_puts_higher_fidelity_first_and_rewards_the_tournament_order():
    first = [rec(0, 0.90, 4, [[8, "relu"]]), rec(1, 0.70, 4, [[16, "relu"]]), rec(2, 0.80, 4, [[32, "relu"]]),
             rec(3, 0.60, 4, [[64, "relu"]])]
    # 0 and 2 were promoted; at the full budget 2 beat 0, though 0 was ahead after the short training
    later = [rec(4, 0.91, 8, [[8, "relu"]], 1, 0), rec(5, 0.95, 8, [[32, "relu"]], 1, 2)]
    assert [r["sample_id"] for r in halving.best_evidence(first + later)] == [5, 4, 1, 3]
    assert halving.tournament_rewards(first, later) == pytest.approx([2 / 3, 1 / 3, 1.0, 0.0])
    assert halving.tournament_rewards(first[:1], []) == [0.5]
    assert [r["sample_id"] for r in halving.promote(first + [rec(9, 0.99, 4, [[8, "relu"]])], 2)] == [9, 2]


def test_an_architecture_sampled_twice_holds_one_place_in_the_tournament():
    # the first two samples are the same net; only one copy is promoted, and it wins the full-budget rung
    first = [rec(0, 0.90, 4, [[8, "relu"]]), rec(1, 0.89, 4, [[8, "relu"]]), rec(2, 0.80, 4, [[32, "relu"]]),
             rec(3, 0.50, 4, [[64, "relu"]])]
    later = [rec(4, 0.95, 8, [[8, "relu"]], 1, 0), rec(5, 0.93, 8, [[32, "relu"]], 1, 2)]
    assert halving.tournament_rewards(first, later) == pytest.approx([1.0, 1.0, 0.5, 0.0])
    assert halving.tournament_rewards(first[:2], []) == [0.5, 0.5]


@pytest.fixture
def tuner(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path / "exp" / "checkpoint"))
    return MLPNASTuner(dataset="iris", sampler="controller", controller_epochs=2, archs_per_epoch=4, max_epochs=8,
                       halving_rungs=2, halving_eta=2, sklearn_baseline=False, lstm_units=8, warm_start=False)


def answer(tuner, pids, params, accs):
    for pid, p, acc in zip(pids, params, accs):
        tuner.receive_trial_result(pid, p, {"default": acc, "sample_id": p["sample_id"], "arch": p["arch"],
                                            "max_epochs": p["train"]["max_epochs"]})
        tuner.trial_end(pid, True)


def test_rungs_promote_the_best_and_the_policy_updates_once_per_epoch(tuner, monkeypatch):
    updates = []
    first = tuner.generate_multiple_parameters([0, 1, 2, 3, 4])  # the 5th request is held: nothing ready
    assert len(first) == 4 and {p["train"]["max_epochs"] for p in first} == {4} and {p["rung"] for p in first} == {0}
    real_update = tuner.policy.update
    monkeypatch.setattr(tuner.policy, "update", lambda t, r, a: updates.append((r, a)) or real_update(t, r, a))
    answer(tuner, range(4), first, [0.6, 0.9, 0.7, 0.8])
    assert tuner.epoch == 0 and tuner.rung == 1 and not updates  # promoted, not yet learned from
    second = tuner.generate_multiple_parameters([5, 6, 7])
    assert len(second) == 2 and {p["train"]["max_epochs"] for p in second} == {8}
    assert [p["promoted_from"] for p in second] == [first[1]["sample_id"], first[3]["sample_id"]]
    assert [p["arch"] for p in second] == [first[1]["arch"], first[3]["arch"]]
    answer(tuner, (5, 6), second, [0.85, 0.95])
    assert tuner.epoch == 1 and tuner.rung == 0 and len(updates) == 1
    rewards, accs = updates[0]
    assert accs == [0.6, 0.9, 0.7, 0.8]  # the first rung's accuracies, all at the same budget
    assert rewards == pytest.approx([0.0, 2 / 3, 1 / 3, 1.0])  # sample 3 won the full-budget rung
    stats = tuner.epoch_stats[0]
    assert stats["rungs_trained"] == 2 and stats["top_rung_best"] == 0.95 and stats["mean_reward"] == 0.75


def test_a_stop_between_rungs_resumes_the_rung(tuner):
    first = tuner.generate_multiple_parameters([0, 1, 2, 3])
    answer(tuner, range(4), first, [0.6, 0.9, 0.7, 0.8])
    second = tuner.generate_multiple_parameters([4])  # one of rung 1's two handed out, then the stop
    again = MLPNASTuner(dataset="iris", sampler="controller", controller_epochs=2, archs_per_epoch=4, max_epochs=8,
                        halving_rungs=2, halving_eta=2, sklearn_baseline=False, lstm_units=8, warm_start=False)
    again.load_checkpoint()
    assert (again.epoch, again.rung) == (0, 1)
    rest = again.generate_multiple_parameters([5, 6])
    rung1 = sorted(r["sample_id"] for r in again.records.values() if r.get("rung") == 1)
    # the one handed out never became an NNI trial, so it is handed out again, with its partner
    assert second[0]["sample_id"] in rung1 and sorted(p["sample_id"] for p in rest) == rung1
    assert all(p["train"]["max_epochs"] == 8 for p in rest)
    answer(again, (5, 6), rest, [0.85, 0.95])
    assert again.epoch == 1 and again.epoch_stats[0]["top_rung_best"] == 0.95


def test_a_failed_trial_is_not_promoted_and_the_search_fits_its_trial_budget(tuner):
    """A trial that crashes in rung 0 is not promoted; the rest of the epoch goes on, and the whole search
    never asks NNI for more trials than ``launch`` sets as ``maxTrialNumber`` (without the baseline)."""
    issued = []
    pid = iter(range(100))
    first = tuner.generate_multiple_parameters([next(pid) for _ in range(4)])
    issued += first
    answer(tuner, range(3), first[:3], [0.6, 0.9, 0.7])
    tuner.trial_end(3, False)  # the fourth trial crashed before reporting
    second = tuner.generate_multiple_parameters([next(pid) for _ in range(3)])
    issued += second
    assert [p["promoted_from"] for p in second] == [first[1]["sample_id"], first[2]["sample_id"]]
    answer(tuner, (4, 5), second, [0.85, 0.95])
    assert tuner.epoch == 1 and tuner.epoch_stats[0]["n_results"] == 3
    # epoch 1: three of four crash in rung 0, so rung 1 trains the one left, not two
    third = tuner.generate_multiple_parameters([next(pid) for _ in range(4)])
    issued += third
    answer(tuner, (7,), third[:1], [0.7])
    for crashed in (8, 9, 10):
        tuner.trial_end(crashed, False)
    fourth = tuner.generate_multiple_parameters([next(pid) for _ in range(2)])
    issued += fourth
    assert len(fourth) == 1 and fourth[0]["promoted_from"] == third[0]["sample_id"]
    answer(tuner, (11,), fourth, [0.8])
    assert tuner.finished and tuner.generate_multiple_parameters([next(pid)]) == []
    c = tuner.config
    assert len(issued) == 11 <= c["controller_epochs"] * halving.trials_per_epoch(c["archs_per_epoch"], 2, 2) == 12


@pytest.mark.parametrize("args,message", [
    ({"halving_rungs": 0}, "halving_rungs must be a positive integer"),
    ({"halving_eta": 1}, "halving_eta must be an integer of at least 2"),
    ({"halving_rungs": 2, "archs_per_epoch": 1}, "needs archs_per_epoch >= 2"),
    ({"halving_rungs": 3, "max_epochs": 2}, r"rung budgets \[1, 1, 2\]\); use halving_rungs <= 2 or max_epochs >= 5$"),
    # far too many rungs: answered at once (the least max_epochs is not searched for), never a hang
    ({"halving_rungs": 10 ** 9, "max_epochs": 10}, r"the one before; use halving_rungs <= 3$"),
])
def test_bad_halving_args(args, message):
    with pytest.raises(ValueError, match=message):
        validate_class_args(args)
