"""Weight-sharing search end to end: every policy on every space runs on
the synthetic image set (offline); kill -9 mid-search then resume gives the uninterrupted run's result."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

TINY = ["--data", "synthetic", "--width", "4", "--batch-size", "64", "--final-samples", "10", "--policy-steps", "3"]


def search(out, *args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "strategies.search", "--out", str(out), *TINY, *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


POLICIES = ["uniform", "ednas", "lstm", "enas"]
SPACES = [("enas-macro", "4"), ("enas-micro", "3"), ("darts", "3"), ("ednas-cell", "3")]
# By default each policy once and each space once (a Latin diagonal); the other 12 pairs with `make test-slow`.
GRID = [pytest.param(space, cells, policy, marks=() if i == j else pytest.mark.slow)
        for i, (space, cells) in enumerate(SPACES) for j, policy in enumerate(POLICIES)]


@pytest.mark.parametrize("space,cells,policy", GRID)
def test_every_policy_on_every_space(space, cells, policy, tmp_path):
    from strategies.search import main

    assert main(["--space", space, "--policy", policy, "--cells", cells, "--epochs", "1", "--out", str(tmp_path),
                 *TINY]) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert len(result["candidates"]) == 10 and result["score"] == max(c["score"] for c in result["candidates"])
    assert len(result["epochs"]) == 1 and 0 <= result["epochs"][0]["mean_reward"] <= 1
    assert result["policy"] == policy and result["space"] == space
    assert (tmp_path / "search_checkpoint.pt").exists()
    drift = result["epochs"][0]["drift"]  # KL from uniform and top probability per decision, every epoch
    assert set(drift["kl"]) == set(drift["top"]) == set(result["probabilities"])
    assert result["budget"]["reward_evaluations"] == 12  # 1 epoch x 3 policy steps x 4 samples, whatever the policy
    assert 0 <= result["holdout_score"] <= 1 and result["verdict"]["learned"] in (True, False)
    if policy == "uniform":
        assert drift["mean_kl"] == pytest.approx(0, abs=1e-12) and not result["verdict"]["learned"]
    for png in ("policy_epoch000.png", "sampled_epoch000.png"):  # EDNAS Fig. 4 / 5 style heatmaps
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


def test_kill_9_then_resume_gives_the_uninterrupted_result(tmp_path, capsys):
    """Only the killed search is a process of its own; the whole run and the resume run in this one (same code,
    and no second start-up to pay)."""
    from strategies.search import main

    args = ["--space", "ednas-cell", "--policy", "ednas", "--cells", "3", "--epochs", "2", "--seed", "5"]
    assert main(["--out", str(tmp_path / "whole"), *args, *TINY]) == 0

    killed = search(tmp_path / "killed", *args)  # search() adds TINY
    deadline = time.time() + 200
    while "epoch 0:" not in (line := killed.stdout.readline()):  # killed once the first epoch is checkpointed
        assert line and time.time() < deadline, killed.stderr.read()
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    capsys.readouterr()
    assert main(["--out", str(tmp_path / "killed"), *args, *TINY]) == 0
    out_r = capsys.readouterr().out
    assert "resumed from" in out_r and "epoch 0:" not in out_r

    a = json.loads((tmp_path / "whole" / "result.json").read_text())
    b = json.loads((tmp_path / "killed" / "result.json").read_text())
    assert b["arch"] == a["arch"] and b["probabilities"] == a["probabilities"]
    assert [c["score"] for c in b["candidates"]] == [c["score"] for c in a["candidates"]]
    assert [e["mean_reward"] for e in b["epochs"]] == [e["mean_reward"] for e in a["epochs"]]


def test_bad_input_is_one_line(tmp_path, capsys):
    from strategies.search import main

    assert main(["--data", "cifar10", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a local data folder" in err[0]
    assert not os.listdir(tmp_path)


def test_resuming_with_another_epoch_count_is_refused(tmp_path, capsys):
    from strategies.search import main

    args = ["--space", "enas-macro", "--policy", "uniform", "--cells", "3", "--out", str(tmp_path), *TINY]
    assert main([*args, "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main([*args, "--epochs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "belongs to a search of 1 epochs" in err[0] and "--epochs 1" in err[0]


def test_search_as_an_nnictl_trial(tmp_path, free_port):
    """configs/search/darts-ednas.yml, shrunk to one seed and two epochs, through NNI's manager: the trial
    reports each epoch and the derived architecture, readable from NNI's database."""
    import sqlite3

    from nni_plumbing.experiments import final_results, load_config, run_experiment
    from nni_spaces import make_space

    config = load_config(ROOT / "configs" / "search" / "darts-ednas.yml")
    config.search_space = {"seed": {"_type": "choice", "_value": [3]}}
    config.max_trial_number = 1
    config.trial_command = ("python3 -m strategies.search --nni --space darts --policy ednas --data synthetic "
                            "--width 4 --cells 3 --epochs 2 --final-samples 10 --policy-steps 8")
    config.trial_code_directory = str(ROOT)
    config.experiment_working_directory = str(tmp_path)
    exp_id = run_experiment(config, free_port, label="search")
    (final,) = final_results(tmp_path / exp_id)
    make_space("darts", width=4, num_cells=3, image_size=16, num_classes=4).check(final["arch"])
    with sqlite3.connect(tmp_path / exp_id / "db" / "nni.sqlite") as conn:
        epochs = conn.execute("SELECT data FROM MetricData WHERE type = 'PERIODICAL'").fetchall()
    assert len(epochs) == 2
    reported = json.loads(json.loads(epochs[0][0]))
    assert {"default", "entropy", "shared_weight_accuracy"} <= set(reported)

    # the folder `nnictl tensorboard start` reads: <trial output>/tensorboard, one point per epoch
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (board,) = (tmp_path / exp_id).glob("environments/*/trials/*/tensorboard")  # NNI 3.0's trial folders
    events = EventAccumulator(str(board)).Reload()
    assert {"policy/probabilities", "policy/sampled_shares"} <= set(events.Tags()["images"])
    assert [e.step for e in events.Images("policy/probabilities")] == [0, 1]
    rewards = [e.value for e in events.Scalars("search/mean_reward")]
    assert rewards == pytest.approx([json.loads(json.loads(row[0]))["default"] for row in epochs])


def test_multi_trial_policy_tuner_under_concurrency_2(tmp_path, free_port):
    """configs/multitrial_ednas_cell.yml shrunk: a real NNI experiment, trialConcurrency 2; every recorded
    (architecture, accuracy) is what its trial trained and reported, and the policy learned from them."""
    from nni_plumbing.experiments import final_results, load_config, run_experiment
    from nni_spaces import make_space

    config = load_config(ROOT / "configs" / "multitrial_ednas_cell.yml")
    config.max_trial_number, config.trial_concurrency = 4, 2
    config.trial_code_directory = str(ROOT)
    config.experiment_working_directory = str(tmp_path)
    config.tuner.code_directory = str(ROOT)
    config.tuner.class_args.update(data="synthetic", epochs=1, space_args={
        "width": 4, "num_cells": 3, "in_channels": 3, "image_size": 16, "num_classes": 4})
    exp_id = run_experiment(config, free_port, label="multi-trial")
    reported = {r["sample_id"]: r for r in final_results(tmp_path / exp_id)}
    state = json.loads((tmp_path / exp_id / "checkpoint" / "policy_tuner_state.json").read_text())
    done = [r for r in state["records"].values() if r["status"] == "done"]
    assert len(done) == len(reported) == 4
    space = make_space("ednas-cell", width=4, num_cells=3, image_size=16, num_classes=4)
    for record in done:
        trial = reported[record["sample_id"]]
        assert record["accuracy"] == trial["default"]
        assert space.canonical(record["trained_arch"]) == space.canonical(trial["arch"])
    assert state["policy"]["updates"] == 2


def test_one_search_config_per_space_and_policy():
    """configs/search/ holds a valid nnictl config for each space x policy, equal to what the template writes."""
    import shlex

    from nni_plumbing.experiments import load_config
    from nni_spaces import SPACES
    from strategies import POLICIES
    from strategies.configs import FOLDER, main
    from strategies.search import build_parser

    assert main(["--check"]) == 0
    for space in SPACES:
        for policy in POLICIES:
            config = load_config(FOLDER / f"{space}-{policy}.yml")
            words = shlex.split(config.trial_command)
            assert words[:3] == ["python3", "-m", "strategies.search"]
            args = build_parser().parse_args(words[3:])
            assert (args.space, args.policy, args.nni) == (space, policy, True)
            assert config.search_space == {"seed": {"_type": "choice", "_value": [0, 1, 2]}}


def test_tensorboard_folder_is_linked_where_the_nni_web_ui_looks(tmp_path, monkeypatch):
    """NNI 3.0's web UI starts TensorBoard on <experiment>/trials/<id>/output/tensorboard, not on the trial's
    output folder; nni_plumbing/tensorboard.py links the first to the second (and does nothing outside NNI)."""
    from nni_plumbing.tensorboard import tensorboard_dir

    assert tensorboard_dir(tmp_path / "plain") == tmp_path / "plain" / "tensorboard"
    out = tmp_path / "exp" / "environments" / "local-env" / "trials" / "Ab1cD"
    monkeypatch.setenv("NNI_OUTPUT_DIR", str(out))
    monkeypatch.setenv("NNI_TRIAL_JOB_ID", "Ab1cD")
    board = tensorboard_dir(out)
    (board / "events.x").write_text("e")
    assert (tmp_path / "exp" / "trials" / "Ab1cD" / "output" / "tensorboard" / "events.x").read_text() == "e"
    assert tensorboard_dir(out) == board  # a second call (a resumed search) keeps the link


def test_drift_is_recorded_every_epoch_and_judged_against_shuffled_rewards(tmp_path, capsys):
    """result.json and TensorBoard hold the drift of every epoch; the shuffled-reward switch makes a null run
    that is never called learned; the derivation scores every candidate on the whole validation split and
    re-scores the winner on held-out data. ``--init-policy`` starts a search from the policy another ended with
    (its parameters: the starting KL is the other's final one; another data set in the controller-transfer
    study); another policy's checkpoint or a missing one is one line, exit 2, nothing written."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from strategies.search import main

    args = ["--space", "ednas-cell", "--policy", "ednas", "--cells", "3", "--epochs", "2", "--figures-every", "0",
            *TINY, "--policy-steps", "4", "--samples-per-update", "2", "--baseline", "leave-one-out"]
    assert main([*args, "--out", str(tmp_path / "real")]) == 0
    assert main([*args, "--out", str(tmp_path / "shuffled"), "--shuffle-rewards"]) == 0
    real = json.loads((tmp_path / "real" / "result.json").read_text())
    null = json.loads((tmp_path / "shuffled" / "result.json").read_text())
    assert [len(e["null_mean_kl"]) for e in real["epochs"]] == [2, 2]
    assert all(e["drift"]["mean_kl"] > 0 for e in real["epochs"])
    assert real["budget"] == null["budget"] and real["budget"]["reward_evaluations"] == 2 * 4 * 2
    assert real["budget"]["baseline"] == "leave-one-out"
    assert null["shuffle_rewards"] and not null["verdict"]["learned"] and "shuffled" in null["verdict"]["text"]
    # the reward stream is the same, its link to the architectures is cut: the policies end apart
    assert real["probabilities"] != null["probabilities"]
    # derivation: scores over the whole validation split (20 synthetic images: multiples of 1/20)
    assert all(abs(c["score"] * 20 - round(c["score"] * 20)) < 1e-9 for c in real["candidates"])
    best = max(real["candidates"], key=lambda c: (c["score"], -c["loss"]))
    assert real["score"] == best["score"] and real["loss"] == best["loss"]
    assert real["tied_at_top"] == sum(c["score"] == real["score"] for c in real["candidates"])
    assert 0 <= real["holdout_score"] <= 1
    events = EventAccumulator(str(tmp_path / "real" / "tensorboard")).Reload()
    assert [e.step for e in events.Scalars("drift/mean_kl")] == [0, 1]
    assert [e.value for e in events.Scalars("drift/mean_kl")] == pytest.approx([e["drift"]["mean_kl"]
                                                                               for e in real["epochs"]])
    assert any(tag.startswith("drift_top/") for tag in events.Tags()["scalars"])

    moved = [*args, "--epochs", "1", "--seed", "1", "--init-policy", str(tmp_path / "real")]
    assert main([*moved, "--out", str(tmp_path / "moved")]) == 0
    moved_result = json.loads((tmp_path / "moved" / "result.json").read_text())
    assert moved_result["init_policy"] == str(tmp_path / "real")
    assert moved_result["initial_kl"] == pytest.approx(real["epochs"][-1]["drift"]["mean_kl"], rel=1e-9)
    assert real["initial_kl"] != pytest.approx(moved_result["initial_kl"], rel=1e-3)
    capsys.readouterr()
    for policy, init, message in (("lstm", "real", "this state is the ednas policy's; the lstm policy cannot load it"),
                                  ("ednas", "nowhere", "is neither a search checkpoint nor a folder")):
        out = tmp_path / f"refused_{init}"
        assert main([*args, "--policy", policy, "--init-policy", str(tmp_path / init), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not out.exists()


def test_drift_and_verdict():
    """KL from uniform is 0 for a uniform table and grows as one option takes over; the verdict needs the
    drift to clear the shuffled-reward twins by the margin."""
    from strategies.decisions import Decision
    from strategies.drift import LEARNED_MARGIN, RewardShuffler, drift, verdict

    ops = Decision("op", "choice", ("sep_conv_3x3", "max_pool_3x3", "skip_connect", "dil_conv_5x5"))
    skips = Decision("skip", "bernoulli", (0, 1))
    flat = drift({"op": dict.fromkeys(ops.keys, 0.25), "skip": {"0": 0.5, "1": 0.5}}, [ops, skips])
    assert flat["mean_kl"] == pytest.approx(0) and flat["conv_share"] == pytest.approx(0.5)
    peaked = drift({"op": {"sep_conv_3x3": 0.7, "max_pool_3x3": 0.1, "skip_connect": 0.1, "dil_conv_5x5": 0.1},
                    "skip": {"0": 0.9, "1": 0.5}}, [ops, skips])
    assert peaked["kl"]["op"] > 0.2 and peaked["top"]["op"] == pytest.approx(0.7) and peaked["top"]["skip"] == 0.9
    assert peaked["conv_share"] == pytest.approx(0.8) and peaked["conv_share_uniform"] == pytest.approx(0.5)
    assert verdict(0.1, [0.1 / LEARNED_MARGIN * 0.9], False)["learned"]
    assert not verdict(0.1, [0.1 / LEARNED_MARGIN * 1.1], False)["learned"]
    assert not verdict(0.1, [0.0], True)["learned"]
    shuffler = RewardShuffler(seed=0)
    shuffler.observe([0.1, 0.2, 0.3, 0.4])
    assert sorted(shuffler.draw(4)) == [0.1, 0.2, 0.3, 0.4]
