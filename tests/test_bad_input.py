"""The bad-input catalogue: every case is rejected with one line on stderr that says what is wrong and how to
fix it, exit status 2, before NNI starts, and leaves no file behind in the working folder or the output folder.

Cases whose command fails before torch and NNI load run as real commands (subprocesses); the others call the
command's ``main()`` in this process, which takes the same path without paying for the imports again.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

STUDY = str(ROOT / "configs" / "studies" / "learning_progress.yml")
TRANSFER = str(ROOT / "configs" / "studies" / "controller_transfer.yml")
LAYOUT_HINT = "torchvision's layout"


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _csv(t: Path, name: str, text: str) -> list[str]:
    return ["--dataset", _write(t / name, text), "--label", "y", "--no-tpe", "--out", str(t / "out")]


def _mlp_config(t: Path, **class_args) -> str:
    config = yaml.safe_load((ROOT / "nni_config.yml").read_text())
    config["tuner"]["classArgs"].update(class_args)
    config["trialCodeDirectory"] = config["tuner"]["codeDirectory"] = str(ROOT)
    return _write(t / "mlp.yml", yaml.safe_dump(config))


def _copied_study(t: Path, max_trials: int) -> str:
    config = yaml.safe_load(Path(STUDY).read_text())
    config["maxTrialNumber"] = max_trials
    config["trialCodeDirectory"] = config["tuner"]["codeDirectory"] = str(ROOT)
    return _write(t / "my_study.yml", yaml.safe_dump(config))


def _arch(t: Path, value) -> str:
    return _write(t / "arch.json", json.dumps(value))


def _old_search(t: Path, **changed) -> str:
    """An --out folder of an earlier search (its settings file and a checkpoint), for the resume checks."""
    settings = {"space": "ednas-cell", "policy": "ednas", "data": "synthetic", "data_dir": None, "width": 4, "cells": 3,
                "batch_size": 64, "final_samples": 10, "seed": 0}
    out = t / "search"
    _write(out / "search_settings.json", json.dumps(settings))
    _write(out / "search_checkpoint.pt", "a checkpoint")
    return str(out)


def _cifar_folder(t: Path, layout: str) -> str:
    root = t / "cifar"
    root.mkdir()
    if layout == "other":
        _write(root / "train" / "cat" / "1.png", "not a CIFAR batch")
    elif layout in ("inner", "no-batches"):
        _write(root / "cifar-10-batches-py" / "batches.meta", "meta")
        return str(root / "cifar-10-batches-py") if layout == "inner" else str(root)
    return str(root)


SMALL = ("--width", "4", "--cells", "3")  # a small network: building a space costs time
SEARCH = ("--data", "synthetic", "--width", "4", "--cells", "3", "--final-samples", "10")


def _unusable_device() -> str:
    import torch

    return "cuda:99" if torch.cuda.is_available() else "cuda"


# (id, command, runner, arguments (a function of the test's folder), words the one error line must hold)
# runner "cli": a real subprocess; "main": the command's main() in this process.
CASES = [
    # ---- configs and classArgs
    ("mlp-config-missing", "mlp_nas", "main", lambda t: ["run", "--config", str(t / "nope.yml")], "does not exist"),
    ("mlp-config-bad-yaml", "mlp_nas", "main", lambda t: ["run", "--config", _write(t / "bad.yml", "tuner: [unclosed")],
     "not valid YAML"),
    ("mlp-classargs-unknown-key", "mlp_nas", "main",
     lambda t: ["run", "--no-tpe", "--config", _mlp_config(t, controler_epochs=3), "--out", str(t / "out")],
     "unknown tuner classArgs key(s) ['controler_epochs']"),
    ("mlp-classargs-bad-sampler", "mlp_nas", "main",
     lambda t: ["run", "--no-tpe", "--config", _mlp_config(t, sampler="evolution"), "--out", str(t / "out")],
     "sampler must be one of"),
    ("mlp-classargs-zero-archs", "mlp_nas", "cli", lambda t: ["run", "--archs-per-epoch", "0"],
     "--archs-per-epoch must be a positive integer"),
    ("study-not-a-study-config", "studies", "main", lambda t: ["run", str(ROOT / "nni_config.yml")],
     "is not a study config"),
    ("study-concurrency-zero", "studies", "main", lambda t: ["run", STUDY, "--concurrency", "0"],
     "--concurrency must be a positive integer"),
    # ---- architecture dicts and genotypes
    ("cell-arch-unknown-op", "nni_spaces", "main",
     lambda t: ["ednas-cell", *SMALL, "--arch", _arch(t, {"normal/op_2_0": "conv_9x9"})],
     "'normal/op_2_0' = \"conv_9x9\" is not one of"),
    ("cell-arch-wrong-key", "nni_spaces", "main",
     lambda t: ["darts", *SMALL, "--arch", _arch(t, {"normal/op_9_0": "sep_conv_3x3"})], "unknown decision 'normal/op_9_0'"),
    ("cell-arch-wrong-input-count", "nni_spaces", "main",
     lambda t: ["darts", *SMALL, "--arch", _arch(t, {"normal/input_3": [0]})], "'normal/input_3' = [0] is not 2 distinct"),
    ("micro-arch-two-inputs-in-a-slot", "nni_spaces", "main",
     lambda t: ["enas-micro", *SMALL, "--arch", _arch(t, {"normal/input_2_0": [0, 1]})], "is not 1 distinct"),
    ("genotype-wrong-length", "nni_spaces", "main",
     lambda t: ["darts", *SMALL, "--arch", _arch(t, {"normal": [["sep_conv_3x3", 0]] * 3, "reduce": []})],
     "must list 8 [op, input] pairs"),
    ("genotype-later-input", "nni_spaces", "main",
     lambda t: ["darts", *SMALL, "--arch", _arch(t, {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 5]] * 4,
                                             "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1]] * 4})],
     "input an earlier node"),
    ("macro-genotype-wrong-length", "nni_spaces", "main",
     lambda t: ["enas-macro", "--layers", "3", "--width", "4", "--arch", _arch(t, [["conv_3x3", []]])],
     "a macro genotype is a list of 3"),
    ("arch-not-json", "nni_spaces", "cli", lambda t: ["darts", *SMALL, "--arch", _write(t / "a.json", "{bad json")],
     "is not valid JSON"),
    ("mlp-arch-bad-units", "mlp_nas", "cli", lambda t: ["arch", '{"layers": [[65, "relu"]]}'], "units 65 not in"),
    ("mlp-arch-dropout-first", "mlp_nas", "cli", lambda t: ["arch", '{"layers": ["dropout", [8, "relu"]]}'],
     "dropout must follow a dense layer"),
    ("mlp-arch-wrong-key", "mlp_nas", "cli", lambda t: ["arch", '{"layer": [[8, "relu"]]}'], 'the single key "layers"'),
    ("mlp-arch-too-deep", "mlp_nas", "cli", lambda t: ["arch", json.dumps({"layers": [[8, "relu"]] * 3}),
                                                       "--max-layers", "2"], "needs 1 to 2 dense layers"),
    # ---- CSV files
    ("csv-missing-label", "mlp_nas", "main", lambda t: ["run", *_csv(t, "a.csv", "a,b\n1,2\n3,4\n")],
     "label column 'y' is not in the header"),
    ("csv-non-numeric", "mlp_nas", "main", lambda t: ["run", *_csv(t, "b.csv", "a,y\nx,1\n")],
     "column 'a' is not numeric"),
    ("csv-nan", "mlp_nas", "main", lambda t: ["run", *_csv(t, "c.csv", "a,y\n" + "nan,1\n2,0\n" * 4)], "NaN"),
    ("csv-single-class", "mlp_nas", "main", lambda t: ["run", *_csv(t, "d.csv", "a,y\n" + "1,1\n" * 6)], "single class"),
    ("csv-empty", "mlp_nas", "main", lambda t: ["run", *_csv(t, "e.csv", "")], "the file is empty"),
    ("csv-semicolons", "mlp_nas", "main", lambda t: ["run", *_csv(t, "f.csv", "a;y\n1;0\n2;1\n")],
     "separated by ';', not commas"),
    ("csv-no-label-flag", "mlp_nas", "main",
     lambda t: ["run", "--dataset", _write(t / "g.csv", "a,y\n1,0\n"), "--no-tpe", "--out", str(t / "out")],
     "needs its label column (--label NAME)"),
    # ---- image folders
    ("images-no-data-dir", "strategies.search", "cli", lambda t: ["--data", "cifar10", "--out", str(t / "out")],
     "needs a local data folder (--data-dir)"),
    ("images-folder-missing", "strategies.search", "cli",
     lambda t: ["--data", "cifar10", "--data-dir", str(t / "nowhere"), "--out", str(t / "out")], "does not exist"),
    ("images-folder-empty", "strategies.search", "cli",
     lambda t: ["--data", "cifar10", "--data-dir", _cifar_folder(t, "empty"), "--out", str(t / "out")], "it is empty"),
    ("images-wrong-layout", "strategies.search", "cli",
     lambda t: ["--data", "cifar10", "--data-dir", _cifar_folder(t, "other"), "--out", str(t / "out")], "it holds train"),
    ("images-inner-folder-given", "strategies.search", "cli",
     lambda t: ["--data", "cifar10", "--data-dir", _cifar_folder(t, "inner"), "--out", str(t / "out")], "pass its parent"),
    ("images-batches-missing", "strategies.search", "cli",
     lambda t: ["--data", "cifar10", "--data-dir", _cifar_folder(t, "no-batches"), "--out", str(t / "out")],
     "data_batch_1 is missing (and 5 more batch files)"),
    # ---- study --set overrides
    ("set-unknown-data", "studies", "cli", lambda t: ["run", STUDY, "--set", "data=foo"], "unknown image data set 'foo'"),
    ("set-typo-in-search", "studies", "cli", lambda t: ["run", STUDY, "--set", "search={epoch: 1}"],
     "unknown search option 'epoch'; did you mean 'epochs'?"),
    ("set-missing-data-dir", "studies", "cli", lambda t: ["run", STUDY, "--set", "data=cifar10", "data_dir=/nonexistent"],
     "data folder /nonexistent does not exist"),
    ("set-zero-retrain-epochs", "studies", "cli", lambda t: ["run", STUDY, "--set", "retrain={epochs: 0}"],
     "retrain.epochs must be a positive integer, got 0"),
    ("set-unknown-key", "studies", "main", lambda t: ["run", STUDY, "--set", "seed=[1]"], "unknown key 'seed'; did you mean"),
    ("set-bad-seed", "studies", "cli", lambda t: ["run", STUDY, "--set", "seeds=[-1]"],
     "seeds must be a list of non-negative integers"),
    ("set-two-cells", "studies", "cli", lambda t: ["run", STUDY, "--set", "space=darts",
                                                   "space_args={num_layers: null, num_cells: 2}"],
     "space_args.num_cells must be an integer >= 3"),
    ("set-cells-on-macro", "studies", "cli", lambda t: ["run", STUDY, "--set", "space_args={num_cells: 3}"],
     "unknown space_args option 'num_cells'"),
    ("set-unknown-baseline", "studies", "cli", lambda t: ["run", STUDY, "--set", "search={baseline: mean}"],
     "search.baseline must be one of moving, leave-one-out, got 'mean'"),
    ("set-unknown-transfer-data", "studies", "cli", lambda t: ["run", TRANSFER, "--set", "transfer_data=foo"],
     "transfer_data: unknown image data set 'foo'"),
    ("set-typo-in-transfer-search", "studies", "cli", lambda t: ["run", TRANSFER, "--set", "transfer_search={epoch: 1}"],
     "unknown transfer_search option 'epoch'; did you mean 'epochs'?"),
    ("set-uniform-transfer", "studies", "main", lambda t: ["run", TRANSFER, "--set", "policies=[uniform]"],
     "the uniform policy has no parameters to transfer"),
    ("set-not-yaml", "studies", "cli", lambda t: ["run", STUDY, "--set", "search={epochs: 1"], "is not a YAML value"),
    ("set-no-equals", "studies", "cli", lambda t: ["run", STUDY, "--set", "seeds"], "--set takes key=value"),
    # ---- command-line flags
    ("spaces-darts-two-cells", "nni_spaces", "cli", lambda t: ["darts", "--cells", "2"], "--cells must be at least 3"),
    ("spaces-micro-one-cell", "nni_spaces", "cli", lambda t: ["enas-micro", "--cells", "1"], "--cells must be at least 3"),
    ("spaces-ednas-two-cells", "nni_spaces", "cli", lambda t: ["ednas-cell", "--cells", "2"], "--cells must be at least 3"),
    ("spaces-export-folder-missing", "nni_spaces", "cli", lambda t: ["darts", "--export", str(t / "no" / "x.json")],
     "create it first"),
    ("search-two-cells", "strategies.search", "cli", lambda t: ["--space", "darts", "--cells", "2", "--out", str(t / "out")],
     "--cells must be at least 3"),
    ("search-zero-epochs", "strategies.search", "cli", lambda t: ["--epochs", "0", "--out", str(t / "out")],
     "--epochs must be at least 1"),
    ("search-resume-other-seed", "strategies.search", "cli",
     lambda t: [*SEARCH, "--seed", "1", "--out", _old_search(t)], "started with --seed 0 (now 1)"),
    ("search-resume-other-space-data", "strategies.search", "cli",
     lambda t: [*SEARCH, "--space", "darts", "--data", "digits", "--out", _old_search(t)],
     "--space ednas-cell (now darts), --data synthetic (now digits)"),
    ("search-device-without-gpu", "strategies.search", "main",
     lambda t: [*SEARCH, "--epochs", "1", "--device", _unusable_device(), "--out", str(t / "out")], "is not usable"),
    ("mlp-port-out-of-range", "mlp_nas", "cli", lambda t: ["run", "--port", "70000"], "--port must be between 1 and 65535"),
]


def _main(command: str):
    if command == "nni_spaces":
        from nni_spaces.__main__ import main
    elif command == "strategies.search":
        from strategies.search import main
    elif command == "studies":
        from studies.study import main
    else:
        from mlp_nas.__main__ import main
    return main


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")
            if p.is_file() and "cache" not in p.relative_to(folder).parts}


def _error_lines(stderr: str) -> list[str]:
    """stderr without argparse's usage block (``usage:`` and its indented continuation lines)."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(("usage:", " "))]


def test_the_catalogue_is_large_and_covers_every_kind():
    assert len(CASES) >= 25 and len({case[0] for case in CASES}) == len(CASES)
    for prefix in ("mlp-classargs", "arch", "csv-", "images-", "set-", "spaces-", "search-"):
        assert any(prefix in case[0] for case in CASES), prefix


@pytest.mark.parametrize("name,command,runner,make_args,message", CASES, ids=[case[0] for case in CASES])
def test_bad_input(name, command, runner, make_args, message, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    args = make_args(tmp_path)
    before = _files(tmp_path)
    if runner == "cli":
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        started = time.time()
        proc = subprocess.run([sys.executable, "-m", command, *args], cwd=work, env=env, capture_output=True, text=True,
                              timeout=60)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
        assert time.time() - started < 10, "this case should fail before torch and NNI load"
    else:
        monkeypatch.chdir(work)
        try:
            code = _main(command)(args)
        except SystemExit as exc:  # argparse
            code = exc.code
        captured = capsys.readouterr()
        out, err = captured.out, captured.err
    assert code == 2, f"exit {code}\nstdout: {out[-1000:]}\nstderr: {err[-2000:]}"
    assert "Traceback" not in err and "running; web UI" not in out
    lines = _error_lines(err)
    assert len(lines) == 1 and message in lines[0], err
    assert _files(tmp_path) == before, "a rejected command left files behind"


def test_argparse_errors_come_back_fast(tmp_path):
    """Each command line parses (and checks) its arguments before importing torch, TensorFlow or NNI."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in (["nni_spaces", "darts"], ["strategies.search"], ["studies", "run", STUDY], ["mlp_nas", "run"]):
        started = time.time()
        proc = subprocess.run([sys.executable, "-m", *command, "--no-such-flag"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        elapsed = time.time() - started
        assert proc.returncode == 2 and "unrecognized arguments: --no-such-flag" in proc.stderr, proc.stderr
        assert elapsed < 3.0, f"{command[0]}: {elapsed:.1f} s to print an argparse error"


def test_set_merges_into_the_configs_dicts_and_takes_one_seed():
    """``--set search={epochs: 2}`` keeps the config's other search options (batch_size 32 stays 32);
    ``--set seeds=0`` is the one-element list [0]; maxTrialNumber follows the jobs."""
    from studies.study import study_config

    config = study_config(STUDY, {"search": {"epochs": 2}, "seeds": 0}, log=lambda line: None)
    args = config.tuner.class_args
    in_file = yaml.safe_load(Path(STUDY).read_text())["tuner"]["classArgs"]["search"]
    assert in_file["batch_size"] == 32 and args["search"] == {**in_file, "epochs": 2}
    assert args["seeds"] == [0] and config.max_trial_number == 3
    # null removes a key: the enas-macro config moved to a cell space, whose networks have cells, not layers
    moved = study_config(STUDY, {"space": "ednas-cell", "space_args": {"num_layers": None, "num_cells": 3},
                                 "retrain_space_args": {"num_layers": None, "num_cells": 5}}, log=lambda line: None)
    assert moved.tuner.class_args["space_args"] == {"width": 16, "num_cells": 3}
    assert moved.tuner.class_args["retrain_space_args"] == {"width": 8, "num_cells": 5}


def test_the_study_option_lists_follow_the_search_and_the_retraining():
    """``--set search={...}`` / ``retrain={...}`` keys are checked against fixed lists (no torch before NNI
    starts); they must name exactly what WeightSharingSearch and train_architecture take."""
    import inspect

    from strategies.search import WeightSharingSearch
    from studies.class_args import RETRAIN_OPTIONS, SEARCH_OPTIONS, SET_BY_THE_STUDY
    from trials.train_arch import train_architecture

    for function, options in ((WeightSharingSearch.__init__, SEARCH_OPTIONS), (train_architecture, RETRAIN_OPTIONS)):
        names = set(inspect.signature(function).parameters) - {"self", "arch"} - set(SET_BY_THE_STUDY)
        assert names == set(options), function.__qualname__


def test_copied_study_config_with_a_stale_max_trial_number_is_set_and_explained(tmp_path):
    from studies.study import study_config

    notes = []
    config = study_config(_copied_study(tmp_path, 5), log=notes.append)
    assert config.max_trial_number == 9
    assert len(notes) == 1 and "maxTrialNumber 5" in notes[0] and "9 jobs" in notes[0] and "DONE" in notes[0]
    notes.clear()
    study_config(_copied_study(tmp_path, 9), log=notes.append)
    assert notes == []


def test_relative_data_dir_is_resolved_against_the_working_folder(tmp_path, monkeypatch):
    """NNI runs the tuner and the trials in other folders: a relative data_dir is made absolute first."""
    from studies.class_args import resolve_paths

    monkeypatch.chdir(tmp_path)
    assert resolve_paths({"data_dir": "cifar"})["data_dir"] == str(tmp_path / "cifar")


def test_ctrl_c_on_a_running_study_is_one_line_and_exit_130(tmp_path, free_port):
    """Ctrl+C once NNI runs the study: the experiment is stopped, one line, exit 130, no traceback."""
    config = yaml.safe_load(Path(STUDY).read_text())
    config["trialCodeDirectory"] = config["tuner"]["codeDirectory"] = str(ROOT)
    config["experimentWorkingDirectory"] = str(tmp_path / "nni")
    config["tuner"]["classArgs"].update(seeds=[0], search={"epochs": 1}, warm_start=False)
    path = _write(tmp_path / "study.yml", yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # a shell that starts pytest in the background hands it SIGINT ignored, and children inherit that; a terminal's
    # Ctrl+C reaches a foreground process with the default disposition, so the study gets that
    proc = subprocess.Popen([sys.executable, "-m", "studies", "run", path, "--port", str(free_port)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while "running; web UI" not in (line := proc.stdout.readline()):
        assert line and time.time() < deadline, proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1] == "study: interrupted (Ctrl+C); its NNI experiment, if one had started, was stopped"
    assert "interrupted: stopping experiment" in out
