"""``python -m mlp_nas run``: the default experiment end to end; ``python -m mlp_nas report ID``.

``run`` launches the MLP NAS experiment of ``nni_config.yml`` (the web UI shows it live), then
scikit-learn's MLPClassifier tuned by NNI's TPE at the same trial budget on the same split
(``configs/sklearn_tpe.yml``), then prints and writes the comparison table and plots.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlp_nas", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the MLP NAS experiment, the sklearn+TPE baseline and the report")
    run.add_argument("--config", default=str(ROOT / "nni_config.yml"), help="the MLP NAS experiment config")
    run.add_argument("--tpe-config", default=str(ROOT / "configs" / "sklearn_tpe.yml"))
    run.add_argument("--no-tpe", action="store_true", help="skip the sklearn+TPE experiment")
    run.add_argument("--dataset", help="digits, wine, breast_cancer, iris, mnist1d or a CSV path (default: the config's)")
    run.add_argument("--label", help="label column of a CSV dataset")
    run.add_argument("--drop", nargs="*", help="columns of a CSV dataset to drop")
    run.add_argument("--seed", type=int, help="data split and sampling seed (default: the config's)")
    run.add_argument("--sampler", choices=["controller", "random"])
    run.add_argument("--controller-epochs", type=int)
    run.add_argument("--archs-per-epoch", type=int)
    run.add_argument("--concurrency", type=int, help="trialConcurrency of both experiments")
    run.add_argument("--port", type=int, default=8080, help="web UI port (default 8080)")
    run.add_argument("--out", default=str(ROOT / "results"), help="folder for the report (default results/)")
    rep = sub.add_parser("report", help="the comparison table of a finished MLP NAS experiment")
    rep.add_argument("experiment", help="the MLP NAS experiment id")
    rep.add_argument("--tpe", help="the sklearn+TPE experiment id")
    rep.add_argument("--workdir", default="~/nni-experiments", help="NNI's experiment working directory")
    rep.add_argument("--out", default=str(ROOT / "results"))
    return parser


def configure(args):
    """The two experiment configs with the command line's overrides applied and checked."""
    from trials.experiments import ConfigError, load_config
    from trials.tabular_data import DatasetSpec, load_xy

    from .tuner import validate_class_args

    nas = load_config(args.config)
    class_args = nas.tuner.class_args
    for key in ("dataset", "label", "drop", "seed", "sampler", "controller_epochs", "archs_per_epoch"):
        if getattr(args, key) is not None:
            class_args[key] = getattr(args, key)
    validate_class_args(class_args)
    spec = DatasetSpec.parse(class_args.get("dataset", "digits"), class_args.get("label"), class_args.get("drop"))
    load_xy(spec)  # bad data fails here, with one line, before NNI starts
    n_archs = class_args.get("controller_epochs", 10) * class_args.get("archs_per_epoch", 10)
    nas.max_trial_number = n_archs + int(class_args.get("sklearn_baseline", True))
    if args.concurrency is not None:
        if args.concurrency < 1:
            raise ConfigError(f"--concurrency must be a positive integer, got {args.concurrency}")
        nas.trial_concurrency = args.concurrency
    tpe = None
    if not args.no_tpe:
        tpe = load_config(args.tpe_config)
        data_args = ["--dataset", spec.name, "--seed", str(class_args.get("seed", 0))]
        if spec.label:
            data_args += ["--label", spec.label]
        if spec.drop:
            data_args += ["--drop", *spec.drop]
        tpe.trial_command = "python3 -m mlp_nas.sklearn_trial " + " ".join(shlex.quote(a) for a in data_args)
        tpe.max_trial_number = n_archs
        tpe.trial_concurrency = nas.trial_concurrency
        tpe.tuner.class_args["seed"] = class_args.get("seed", 0)
    return nas, tpe


def run(args) -> int:
    from trials.experiments import experiment_dir, run_experiment

    from .report import load_history
    from .tuner import TRIAL_PRELOAD

    nas, tpe = configure(args)

    def nas_finished(experiment_id: str) -> bool:
        try:
            return load_history(experiment_dir(nas, experiment_id)).get("finished", False)
        except FileNotFoundError:
            return False

    nas_id = run_experiment(nas, args.port, finished=nas_finished, label="mlp-nas")
    tpe_id = None
    if tpe is not None:
        tpe_id = run_experiment(tpe, args.port, label="sklearn-tpe", warm_preload=TRIAL_PRELOAD)
    return _report(experiment_dir(nas, nas_id), tpe and experiment_dir(tpe, tpe_id), args.out)


def _report(nas_dir, tpe_dir, out_root) -> int:
    from .report import build_report, terminal_table, write_report

    print("retraining the best architecture on train+validation and scoring everything on the test split...",
          flush=True)
    report = build_report(nas_dir, tpe_dir)
    out = Path(out_root) / report["experiment"]
    files = write_report(report, out)
    print()
    print(terminal_table(report))
    print(f"\nreport: {files[0]} (also CSV, JSON and PNG plots in {out})")
    return 0


def main(argv=None) -> int:
    from trials.experiments import ConfigError
    from trials.tabular_data import DataError

    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return run(args)
        import os

        workdir = Path(os.path.expanduser(args.workdir))
        return _report(workdir / args.experiment, args.tpe and workdir / args.tpe, args.out)
    except (ConfigError, DataError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"mlp_nas: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
