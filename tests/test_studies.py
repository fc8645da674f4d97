"""The seeds' studies as NNI experiments: each study end to end at a tiny budget through NNI's
manager with trialConcurrency 2, producing its table, CSV and plot; results keyed on what trials trained."""
import csv
import json

import pytest
import yaml

from tests.conftest import ROOT

TINY = {"data": "synthetic", "space_args": {"width": 4, "num_cells": 3},
        "retrain_space_args": {"width": 4, "num_cells": 3}, "threads": 1,
        "search": {"epochs": 2, "batch_size": 64, "final_samples": 5, "policy_steps": 8},
        "retrain": {"epochs": 1, "batch_size": 64}}
MACRO_TINY = {"width": 4, "num_layers": 3, "num_cells": None}


def run_study(name, tmp_path, free_port, **overrides):
    from nni_plumbing.experiments import experiment_dir, run_experiment
    from studies.report import build_report
    from studies.study import finished_for, study_config

    path = ROOT / "configs" / "studies" / f"{name}.yml"
    tiny = dict(TINY)
    if overrides.get("space", yaml.safe_load(path.read_text())["tuner"]["classArgs"]["space"]) == "enas-macro":
        tiny.update(space_args=MACRO_TINY, retrain_space_args=MACRO_TINY)  # layers, not cells
    config = study_config(path, {**tiny, **overrides}, concurrency=2)
    config.trial_code_directory = str(ROOT)
    config.tuner.code_directory = str(ROOT)
    config.experiment_working_directory = str(tmp_path)
    exp_id = run_experiment(config, free_port, label=name, finished=finished_for(config))
    summary = build_report(experiment_dir(config, exp_id), tmp_path / "report")
    for name_ in ("report.md", "results.csv", "summary.json"):
        assert (tmp_path / "report" / name_).stat().st_size > 0
    assert (tmp_path / "report" / "plot.png").read_bytes()[:4] == b"\x89PNG"
    return exp_id, summary


def check_trained_what_was_recorded(tmp_path, exp_id):
    """Every result's architecture is the one its job asked for (NNI can mix parameters up under concurrency)."""
    from nni_plumbing.experiments import final_results

    state = json.loads((tmp_path / exp_id / "checkpoint" / "study_tuner_state.json").read_text())
    results = final_results(tmp_path / exp_id)
    assert len(results) == len(state["jobs"])
    for result in results:
        job = state["jobs"][result["job"]]
        assert result["kind"] == job["kind"]
        if job["kind"] == "retrain":
            assert result["arch"] == job["arch"] and result["tag"] == job["tag"]
    return state, results


# search_vs_random runs by default (the headline question, and the widest job mix); the other two studies
# share its machinery and run with `make test-slow`.
@pytest.mark.slow
def test_learning_progress_study(tmp_path, free_port):
    exp_id, summary = run_study("learning_progress", tmp_path, free_port, seeds=[0, 1])
    state, results = check_trained_what_was_recorded(tmp_path, exp_id)
    assert len(state["jobs"]) == 6
    assert [(r["policy"], r["seed"]) for r in summary["rows"]] == [("enas", 0), ("enas", 1)]
    assert summary["summary"]["enas"]["n"] == 2
    rows = list(csv.DictReader((tmp_path / "report" / "results.csv").open()))
    assert {float(r["initial_test_acc"]) for r in rows} <= {r["test_acc"] for r in results if r["kind"] == "retrain"}


@pytest.mark.slow
def test_reward_vs_accuracy_study(tmp_path, free_port):
    exp_id, summary = run_study("reward_vs_accuracy", tmp_path, free_port, seeds=[0], k=4, probe_epoch=1)
    state, results = check_trained_what_was_recorded(tmp_path, exp_id)
    assert len(state["jobs"]) == 5
    (search,) = [r for r in results if r["kind"] == "search"]
    rewards = sorted(p["reward"] for p in search["probe"])
    assert sorted(r["reward"] for r in summary["rows"]) == rewards  # the probe's own rewards, retrained
    assert {"enas/0", "enas/all"} <= set(summary["summary"])
    assert "Kendall" in "\n".join(summary["table"])


def test_search_vs_random_study(tmp_path, free_port):
    exp_id, summary = run_study("search_vs_random", tmp_path, free_port, seeds=[0], k=3,
                                policies=["uniform", "ednas"])
    state, results = check_trained_what_was_recorded(tmp_path, exp_id)
    assert len(state["jobs"]) == 3 + 2 * 2
    random = [r["test_acc"] for r in summary["rows"] if r["policy"] == "random"]
    assert len(random) == 3 and summary["summary"]["random"]["mean"] == pytest.approx(sum(random) / 3)
    finals = [r for r in summary["rows"] if r["policy"] != "random"]
    assert {r["policy"] for r in finals} == {"uniform", "ednas"}
    for r in finals:
        assert 0 <= r["percentile"] <= 100
        assert r["relative_improvement"] == pytest.approx(100 * (r["test_acc"] - sum(random) / 3) / (sum(random) / 3))


@pytest.mark.slow
def test_tricks_ablation_study(tmp_path, free_port):
    """Two random architectures and one pick, each retrained without tricks, with cutout alone, drop-path alone
    and both: every result is the job's, and the report's gains are the differences of those results."""
    exp_id, summary = run_study("tricks_ablation", tmp_path, free_port, seeds=[0], k=2, tricks=["cutout", "drop_path"])
    state, results = check_trained_what_was_recorded(tmp_path, exp_id)
    assert len(state["jobs"]) == 1 + 4 + 2 * 4
    retrained = [r for r in results if r["kind"] == "retrain"]
    for r in retrained:  # the protocol the trial recorded is the variant it was asked for
        variant = r["tag"]["tricks"]
        assert (r["protocol"]["cutout"] > 0) == (variant in ("cutout", "all"))
        assert (r["protocol"]["drop_path"] > 0) == (variant in ("drop_path", "all"))
    acc = {(r["tag"]["source"], r["tag"].get("index"), r["tag"]["tricks"]): r["test_acc"] for r in retrained}
    gains = [acc[s, i, "cutout"] - acc[s, i, "none"] for s, i, t in acc if t == "none"]
    cutout = summary["summary"]["trick cutout vs none (paired, all architectures)"]
    assert cutout["n"] == 3 and cutout["gain"] == pytest.approx(100 * sum(gains) / 3)
    assert "search (ednas) vs random, tricks none" in summary["summary"]


def test_tricks_ablation_jobs_and_report_arithmetic():
    """The tuner's jobs (no NNI): every architecture once per variant; the report's paired gains and Welch
    interval on made-up results."""
    from studies.report import tricks_ablation
    from studies.tuner import TRICKS, StudyTuner
    from trials import train_arch

    assert TRICKS == tuple(train_arch.TRICKS)  # the tuner's light list is the trainer's
    tuner = StudyTuner(study="tricks-ablation", space="darts", space_args={"width": 4, "num_cells": 3}, k=2,
                       seeds=[0, 1], tricks=["cutout", "drop_path", "auxiliary"])
    assert list(tuner.variants) == ["none", "cutout", "drop_path", "auxiliary", "all"]
    assert tuner.total_jobs() == 2 * (1 + 5) + 2 * 5
    tuner._setup()
    random = [tuner.jobs[i] for i in tuner.queue if tuner.jobs[i]["kind"] == "retrain"]
    assert len(random) == 10 and {j["tag"]["tricks"] for j in random} == set(tuner.variants)
    assert all(j["train"]["auxiliary"] == (j["tag"]["tricks"] in ("auxiliary", "all")) for j in random)
    with pytest.raises(ValueError, match="only the cutout trick applies"):
        StudyTuner(study="tricks-ablation", space="enas-macro", tricks=["cutout", "drop_path"])

    def result(source, index, tricks, acc, policy=None):
        tag = {"source": source, "tricks": tricks, **({"index": index} if source == "random" else
                                                      {"policy": policy, "search_seed": index})}
        return {"kind": "retrain", "job": 0, "tag": tag, "test_acc": acc}
    made_up = [result("random", i, t, base + (0.03 if t == "cutout" else 0.0))
               for i, base in enumerate([0.50, 0.60, 0.70]) for t in ("none", "cutout")]
    made_up += [result("final", s, t, 0.65 + 0.01 * s, "ednas") for s in (0, 1) for t in ("none", "cutout")]
    summary = tricks_ablation(made_up)["summary"]
    trick = summary["trick cutout vs none (paired, all architectures)"]
    assert trick["n"] == 5 and trick["gain"] == pytest.approx(100 * 0.03 * 3 / 5)
    search = summary["search (ednas) vs random, tricks none"]
    assert search["gain"] == pytest.approx(100 * (0.655 - 0.60)) and search["ci95"][0] < search["gain"] < search["ci95"][1]


def test_search_vs_random_gains_arithmetic():
    """Each policy's picks against the random samples (Welch, in points) and a learning policy against the uniform
    one paired by seed, on made-up results; a seed the uniform policy lacks is left out of the pairs."""
    from studies.report import search_vs_random

    def result(source, index, acc, policy=None):
        tag = {"source": source, **({"index": index} if source == "random" else {"policy": policy, "search_seed": index})}
        return {"kind": "retrain", "job": index, "tag": tag, "test_acc": acc}
    made_up = [result("random", i, a) for i, a in enumerate([0.30, 0.34, 0.38])]
    made_up += [result("final", s, a, "uniform") for s, a in ((0, 0.33), (1, 0.35))]
    made_up += [result("final", s, a, "enas") for s, a in ((0, 0.36), (1, 0.40), (2, 0.50))]
    analysis = search_vs_random(made_up)
    gains = analysis["summary"]["gains"]
    enas = gains["search (enas) vs random"]
    assert enas["n"] == 3 and enas["gain"] == pytest.approx(100 * (0.42 - 0.34))
    assert enas["ci95"][0] < enas["gain"] < enas["ci95"][1] and 0 < enas["p"] < 1
    paired = gains["enas vs uniform (paired by seed)"]
    assert paired["n"] == 2 and paired["gain"] == pytest.approx(100 * ((0.36 - 0.33) + (0.40 - 0.35)) / 2)
    assert "uniform vs uniform (paired by seed)" not in gains
    assert any(line.startswith("| enas vs uniform (paired by seed) | 2 | +4.00 |") for line in analysis["table"])


@pytest.mark.slow
def test_controller_transfer_study(tmp_path, free_port):
    """Per seed a search on A (synthetic), the transfer search on B (digits) from A's checkpoint, the search on B
    from scratch, both B picks retrained on B: every result is its job's, the transfer started exactly where A's
    policy ended, and the report pairs the two picks."""
    exp_id, summary = run_study("controller_transfer", tmp_path, free_port, space="darts", policies=["ednas"],
                                seeds=[0, 1], transfer_data="digits",
                                space_args={"width": 4, "num_cells": 3, "num_layers": None},
                                retrain_space_args={"width": 4, "num_cells": 3, "num_layers": None})
    state, results = check_trained_what_was_recorded(tmp_path, exp_id)
    assert len(state["jobs"]) == 10
    searches = {(r["tag"]["role"], r["seed"]): r for r in results if r["kind"] == "search"}
    assert sorted(searches) == [(role, s) for role in ("scratch", "source", "transfer") for s in (0, 1)]
    for seed in (0, 1):
        source, transfer, scratch = (searches[role, seed] for role in ("source", "transfer", "scratch"))
        assert source["data"] == "synthetic" and transfer["data"] == scratch["data"] == "digits"
        job = state["jobs"][transfer["job"]]
        assert job["search"]["init_policy"] == source["checkpoint"] and job["tag"]["source_job"] == source["job"]
        assert transfer["initial_kl"] == pytest.approx(source["final_kl"], rel=1e-9)  # A's trained policy, loaded
        assert scratch["initial_kl"] != pytest.approx(source["final_kl"], rel=1e-3)
        assert transfer["budget"] == scratch["budget"]
    retrained = {(r["tag"]["source"], r["tag"]["search_seed"]): r for r in results if r["kind"] == "retrain"}
    assert all(state["jobs"][r["job"]]["data"]["name"] == "digits" for r in retrained.values())
    rows = {r["seed"]: r for r in summary["rows"]}
    for seed in (0, 1):
        assert rows[seed]["transfer_test_acc"] == retrained["transfer", seed]["test_acc"]
        assert rows[seed]["scratch_test_acc"] == retrained["scratch", seed]["test_acc"]
        assert rows[seed]["transfer_reward_curve"] == searches["transfer", seed]["reward_curve"]
    change = [rows[s]["transfer_test_acc"] - rows[s]["scratch_test_acc"] for s in (0, 1)]
    assert summary["summary"]["ednas"]["gain"] == pytest.approx(100 * sum(change) / 2)


def test_controller_transfer_jobs_and_report_arithmetic(tmp_path, monkeypatch):
    """The tuner's jobs (no NNI): searches on A and on B from scratch first; A's result asks for the transfer search
    on B from its checkpoint with B's budget, a B search's result for its retraining on B; a failed A search
    is replaced by skips for both. The report's paired gain on made-up results."""
    from nni_spaces import make_space
    from studies.report import controller_transfer
    from studies.tuner import StudyTuner

    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    with pytest.raises(ValueError, match="uniform policy has no parameters"):
        StudyTuner(study="controller-transfer", policies=["uniform", "enas"])
    tuner = StudyTuner(study="controller-transfer", seeds=[0, 1], warm_start=False, transfer_search={"epochs": 1},
                       **TINY)
    assert tuner.total_jobs() == 10
    tuner._setup()
    jobs = tuner.jobs
    assert [(j["tag"]["role"], j["data"]["name"], j["seed"]) for j in jobs] == [
        ("source", "synthetic", 0), ("source", "synthetic", 1), ("scratch", "digits-hard", 0),
        ("scratch", "digits-hard", 1)]
    assert jobs[0]["search"]["epochs"] == 2 and jobs[2]["search"]["epochs"] == 1
    arch = make_space("darts", width=4, num_cells=3).sample(seed=0)
    tuner._on_result(0, {}, {"job": 0, "kind": "search", "arch": arch, "checkpoint": "/runs/a/search_checkpoint.pt"},
                     True)
    transfer = tuner.jobs[4]
    assert transfer["kind"] == "search" and transfer["tag"] == {"role": "transfer", "source_job": 0}
    assert transfer["search"] == {**jobs[2]["search"], "init_policy": "/runs/a/search_checkpoint.pt"}
    assert transfer["data"]["name"] == "digits-hard"
    tuner._on_result(4, {}, {"job": 4, "kind": "search", "arch": arch}, True)
    assert tuner.jobs[5]["kind"] == "retrain" and tuner.jobs[5]["data"]["name"] == "digits-hard"
    assert tuner.jobs[5]["tag"]["source"] == "transfer"
    tuner._on_failure(1, {})  # seed 1's search on A failed: no transfer search, no retraining of it
    assert [j["kind"] for j in tuner.jobs[6:]] == ["skip", "skip"]

    def result(role, seed, acc, curve):
        return [{"kind": "retrain", "job": 0, "test_acc": acc, "tag": {"source": role, "policy": "enas",
                                                                      "search_seed": seed}},
                {"kind": "search", "job": 1, "policy": "enas", "seed": seed, "tag": {"role": role},
                 "reward_curve": curve}]
    made_up = [*result("scratch", 0, 0.50, [0.1, 0.3]), *result("transfer", 0, 0.53, [0.2, 0.3]),
               *result("scratch", 1, 0.60, [0.1, 0.4]), *result("transfer", 1, 0.61, [0.3, 0.4])]
    analysis = controller_transfer(made_up)
    gain = analysis["summary"]["enas"]
    assert gain["n"] == 2 and gain["gain"] == pytest.approx(2.0) and gain["ci95"][0] < 2.0 < gain["ci95"][1]
    assert gain["first_reward"] == {"scratch": pytest.approx(0.1), "transfer": pytest.approx(0.25)}


def test_bad_study_config_is_one_line(tmp_path, capsys):
    from studies.study import main

    assert main(["run", str(ROOT / "configs" / "studies" / "learning_progress.yml"), "--set", "policies=[greedy]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "policies must be a list from uniform, ednas, lstm, enas" in err[0]


@pytest.mark.parametrize("bad", [
    {"policies": ["greedy"]}, {"seeds": [-1]}, {"tricks": ["mixup"]}, {"space": "nasnet"},
    {"study": "controller-transfer", "policies": ["uniform"]}, {"study": "reward-vs-accuracy", "probe_epoch": 10},
    {"space_args": {"depth": 3}}, {"search": {"epochs": 0}}, {"retrain": {"cutout": "yes"}}, {"k": 0},
])
def test_the_tuner_and_the_front_end_refuse_bad_class_args_with_the_same_line(bad):
    """``nnictl create`` builds the tuner without ``python -m studies run``'s checks: the tuner runs the same ones."""
    from studies.class_args import check_study_args
    from studies.tuner import StudyTuner

    with pytest.raises(ValueError) as front:
        check_study_args(bad)
    with pytest.raises(ValueError) as tuner:
        StudyTuner(**bad)
    assert str(tuner.value) == str(front.value) and str(front.value).startswith("classArgs: ")


def test_study_configs_job_counts_and_names():
    """Each config's maxTrialNumber is its study's job count (plain nnictl create needs it right), and the
    tuners' light name lists equal the registries they avoid importing."""
    from nni_plumbing.experiments import load_config
    from nni_spaces import SPACES
    from strategies import POLICIES
    from studies.class_args import POLICY_NAMES, SPACE_NAMES
    from studies.tuner import StudyTuner

    assert SPACE_NAMES == tuple(SPACES) and POLICY_NAMES == tuple(POLICIES)
    for path in sorted((ROOT / "configs" / "studies").glob("*.yml")):
        config = load_config(path)
        assert config.max_trial_number == StudyTuner(**config.tuner.class_args).total_jobs(), path.name


def test_retraining_tricks_are_recorded_and_change_training():
    """Cutout, drop-path and the auxiliary head: switched on, recorded in the protocol, and they change the
    trained model (same seed); cutout zeroes one square of half the side."""
    import torch

    from nas_data.images import load_images
    from nni_spaces import make_space
    from trials.train_arch import apply_cutout, train_architecture

    x = apply_cutout(torch.ones(4, 1, 8, 8), 0.5, torch.Generator().manual_seed(0))
    assert all(0 < (img == 0).sum() <= 16 for img in x)
    data = load_images("synthetic", seed=0)
    args = dict(width=4, num_cells=3, in_channels=3, num_classes=4, image_size=16)
    arch = make_space("darts", **args).sample(seed=0)
    plain = train_architecture(make_space("darts", **args), arch, data, epochs=1)
    tricks = train_architecture(make_space("darts", auxiliary=True, **args), arch, data, epochs=1, cutout=True,
                                drop_path=True, auxiliary=True)
    assert plain["protocol"]["cutout"] == 0 and tricks["protocol"] == {**plain["protocol"], "cutout": 0.5,
                                                                        "drop_path": 0.2, "auxiliary": 0.4}
    assert tricks["train_loss"] != plain["train_loss"]
    with pytest.raises(ValueError, match="auxiliary=True"):
        train_architecture(make_space("darts", **args), arch, data, epochs=1, auxiliary=True)


def test_compare_runs_job_by_job():
    """Jobs are matched by what they are (numbers follow the order searches finish in), values compared."""
    from studies.remote_loopback import compare

    a = [{"job": 0, "kind": "retrain", "arch": {"x": 1}, "default": 0.5, "test_acc": 0.4, "tag": {"source": "final"}},
         {"job": 1, "kind": "search", "policy": "ednas", "seed": 0, "arch": {"x": 1}, "default": 0.3}]
    assert compare(a, [{**a[0], "job": 1}, {**a[1], "job": 0}]) == []
    problems = compare(a, [{**a[0], "test_acc": 0.41}, a[1]])
    assert len(problems) == 1 and "test_acc differs" in problems[0]
    assert compare(a, []) == ["2 local results, 0 remote"]
    # a controller transfer: searches told apart by role, retrainings not by the (finish-order) search job number
    b = [{"job": 2, "kind": "search", "policy": "enas", "seed": 0, "tag": {"role": role}, "default": d}
         for role, d in (("source", 0.2), ("transfer", 0.3))]
    b.append({"job": 4, "kind": "retrain", "tag": {"source": "transfer", "search_job": 3}, "test_acc": 0.5})
    swapped = [{**b[1], "job": 2}, {**b[0], "job": 3}, {**b[2], "tag": {"source": "transfer", "search_job": 2}}]
    assert compare(b, swapped) == []


@pytest.mark.slow
def test_remote_training_service_on_loopback_matches_local():
    """Acceptance: the study on NNI's remote training service (sshd on 127.0.0.1, started and stopped by the
    script) gives the same results as on the local one. Needs Debian's openssh-server; ~4 minutes."""
    import os
    import subprocess
    import sys

    if not os.path.exists("/usr/sbin/sshd"):
        pytest.fail("install openssh-server (apt-get install openssh-server) to run this test")
    run = subprocess.run([sys.executable, "-m", "studies.remote_loopback", "--set", "data=synthetic",
                          "space_args={width: 4, num_cells: 3}", "retrain_space_args={width: 4, num_cells: 3}",
                          "seeds=[0,1]", "search={epochs: 2, batch_size: 64, final_samples: 5, policy_steps: 8}",
                          "retrain={epochs: 1, batch_size: 64}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0 and "same results" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]


def test_study_tuner_holds_requests_and_replaces_a_failed_search_with_skips(tmp_path, monkeypatch):
    """Pure logic: requests NNI makes while no job is ready are held and served by callback; a failed search's
    retrainings become skip jobs, so the job count stays the config's maxTrialNumber."""
    from studies.tuner import StudyTuner

    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    tuner = StudyTuner(study="learning-progress", seeds=[0, 1], warm_start=False, **TINY)
    served = []
    first = tuner.generate_multiple_parameters([0, 1, 2], st_callback=lambda pid, p: served.append((pid, p)))
    assert [p["kind"] for p in first] == ["search", "search"] and served == []
    tuner.trial_end(0, success=False)  # search of seed 0 failed: its two retrainings become skips
    assert served == [(2, tuner.jobs[2])] and tuner.jobs[2]["kind"] == "skip"
    from nni_spaces import make_space

    space = make_space(tuner.retrain_space["name"], width=4, num_cells=3)
    arch = space.sample(seed=0)  # a whole architecture, as a search reports it (its genotype labels the job)
    tuner.receive_trial_result(1, None, {"job": 1, "kind": "search", "arch": arch, "snapshots": {"0": {"arch": arch}}})
    kinds = [j["kind"] for j in tuner.jobs]
    assert kinds == ["search", "search", "skip", "skip", "retrain", "retrain"] and len(kinds) == tuner.total_jobs()
    assert [j["tag"]["source"] for j in tuner.jobs[4:]] == ["initial", "final"]
    saved = json.loads((tmp_path / "study_tuner_state.json").read_text())
    assert saved["queue"] == [3, 4, 5] and not tuner.finished


def test_remote_loopback_refuses_a_bad_config_before_starting_sshd(capsys):
    from studies.remote_loopback import main

    assert main(["--set", "seeds=[-1]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "seeds must be a list of non-negative integers" in err[0]


def test_readme_study_tables_are_the_reports(tmp_path, capsys):
    """Every study table in the README is generated from a committed report (``python -m studies.readme``); an
    out-of-date table fails ``--check`` with one line and is rewritten in place, the text around it kept."""
    from studies.readme import main

    assert main(["--check", "--readme", str(ROOT / "README.md")]) == 0
    readme = tmp_path / "README.md"
    folder = ROOT / "benchmarks" / "results" / "studies" / "tricks_ablation"
    readme.write_text(f"before\n<!-- report-table: {folder} -->\n| stale |\n<!-- /report-table -->\nafter\n")
    assert main(["--check", "--readme", str(readme)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["--readme", str(readme)]) == 0
    summary = json.loads((folder / "summary.json").read_text())
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("<!-- /report-table -->\nafter\n") and "stale" not in text
    assert "\n".join(summary["table"]) in text and summary["experiment"] in text
    assert main(["--check", "--readme", str(readme)]) == 0
    readme.write_text(f"<!-- report-table: {tmp_path / 'nowhere'} -->\n<!-- /report-table -->\n")
    assert main(["--readme", str(readme)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "summary.json is missing" in err[0]


def test_noise_table_splits_the_spread_into_architecture_and_retraining():
    """Two made-up search-vs-random reports of the same random architectures with different retraining seeds: the
    table's noise is the paired differences' sd / sqrt(2); reports that differ in more than the seed are refused."""
    import numpy as np

    from studies.readme import noise_table

    def report(experiment, seed, accs, **extra):
        return {"study": "search-vs-random", "experiment": experiment, "space": "enas-macro", "data": "digits-hard",
                "protocol": {"epochs": 10}, "retrain_space": {"name": "enas-macro", "args": {"width": 8}},
                "retrain_seeds": [seed], "rows": [{"policy": "random", "seed": i, "test_acc": a}
                                                  for i, a in enumerate(accs)], **extra}
    a = [0.20, 0.25, 0.30, 0.35]
    b = [0.22, 0.24, 0.33, 0.34]
    row = noise_table(report("aaaa", 0, a), report("bbbb", 1, b))[2].split(" | ")
    noise = np.std(np.subtract(a, b), ddof=1) / np.sqrt(2)
    assert row[4] == "0, 1" and row[5].startswith("0.9") and row[7] == f"{100 * noise:.1f}"
    share = 1 - noise ** 2 / np.var(a + b, ddof=1)
    assert row[9] == f"{share:.0%} |"
    with pytest.raises(ValueError, match="differ in the retraining seed only"):
        noise_table(report("aaaa", 0, a), report("bbbb", 0, b))
    with pytest.raises(ValueError, match="differ in the retraining seed only"):
        noise_table(report("aaaa", 0, a), report("bbbb", 1, b, data="digits"))
