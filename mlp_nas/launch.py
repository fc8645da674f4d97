"""Build the MLP NAS and sklearn+TPE experiment configs for one dataset and seed, and run them.

Shared by ``python -m mlp_nas run`` and ``benchmarks/mlp_vs_sklearn.py``.
"""
from __future__ import annotations

import shlex
from pathlib import Path

from nas_data.tabular import DatasetSpec, load_xy
from nni_plumbing.experiments import ConfigError, experiment_dir, load_config, run_experiment, user_path

from .halving import trials_per_epoch
from .tuner import TRIAL_PRELOAD, validate_class_args


def build_configs(nas_path, tpe_path=None, concurrency: int | None = None, **class_args):
    """The two configs with ``class_args`` overriding the NAS tuner's, checked before anything
    starts; the TPE experiment gets the same dataset, seed, concurrency, threads per trial and
    trial budget. A CSV path (from the command line or the config) resolves against the working directory."""
    nas = load_config(nas_path)
    args = nas.tuner.class_args
    args.update(class_args)
    validate_class_args(args)
    spec = DatasetSpec.parse(args.get("dataset", "digits"), args.get("label"), args.get("drop"))
    if spec.is_csv:  # the tuner and the TPE trials read it from other folders: check and pass the same file
        args["dataset"] = user_path(spec.name)
        spec = DatasetSpec.parse(args["dataset"], spec.label, spec.drop)
    load_xy(spec)  # bad data fails here, with one line, before NNI starts
    epochs, per_epoch = args.get("controller_epochs", 10), args.get("archs_per_epoch", 10)
    n_archs = epochs * per_epoch  # TPE's budget: as many MLPClassifier configurations as sampled architectures
    per_epoch_trials = trials_per_epoch(per_epoch, args.get("halving_rungs", 1), args.get("halving_eta", 3))
    nas.max_trial_number = epochs * per_epoch_trials + int(args.get("sklearn_baseline", True))
    if concurrency is not None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"concurrency must be a positive integer, got {concurrency!r}")
        nas.trial_concurrency = concurrency
    if tpe_path is None:
        return nas, None
    tpe = load_config(tpe_path)
    data_args = ["--dataset", spec.name, "--seed", str(args.get("seed", 0)),
                 "--threads", str(args.get("trial_threads", 1))]
    if spec.label:
        data_args += ["--label", spec.label]
    if spec.drop:
        data_args += ["--drop", *spec.drop]
    tpe.trial_command = "python3 -m mlp_nas.sklearn_trial " + " ".join(shlex.quote(a) for a in data_args)
    tpe.max_trial_number = n_archs
    tpe.trial_concurrency = nas.trial_concurrency
    tpe.tuner.class_args["seed"] = args.get("seed", 0)
    return nas, tpe


def run_search(nas, tpe=None, port: int = 8080) -> tuple[Path, Path | None]:
    """Run the NAS experiment, then the TPE one; returns their experiment folders."""
    from .report import load_history

    def nas_finished(experiment_id: str) -> bool:
        try:
            return load_history(experiment_dir(nas, experiment_id)).get("finished", False)
        except FileNotFoundError:
            return False

    nas_id = run_experiment(nas, port, finished=nas_finished, label="mlp-nas")
    if tpe is None:
        return experiment_dir(nas, nas_id), None
    tpe_id = run_experiment(tpe, port, label="sklearn-tpe", warm_preload=TRIAL_PRELOAD)
    return experiment_dir(nas, nas_id), experiment_dir(tpe, tpe_id)
