"""``python -m mlp_nas run``: the default experiment end to end; ``python -m mlp_nas report ID``.

``run`` launches the MLP NAS experiment of ``nni_config.yml`` (the web UI shows it live), then
scikit-learn's MLPClassifier tuned by NNI's TPE at the same trial budget on the same split
(``configs/sklearn_tpe.yml``), then prints and writes the comparison table and plots.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .space import PRIORS

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
    run.add_argument("--prior", choices=list(PRIORS),
                     help="the sampler's starting distribution: every valid token alike (the seed study's), or "
                          "NNI's nnictl-export distribution (uniform depth, dropout after a layer with probability 1/2)")
    run.add_argument("--controller-epochs", type=int)
    run.add_argument("--archs-per-epoch", type=int)
    run.add_argument("--halving-rungs", type=int, help="successive-halving rungs in each controller epoch (1: off; "
                                                       "the config's halving_eta, 3, sets the reduction)")
    run.add_argument("--concurrency", type=int, help="trialConcurrency of both experiments")
    run.add_argument("--port", type=int, default=8080, help="web UI port (default 8080)")
    run.add_argument("--out", default=str(ROOT / "results"), help="folder for the report (default results/)")
    rep = sub.add_parser("report", help="the comparison table of a finished MLP NAS experiment")
    rep.add_argument("experiment", help="the MLP NAS experiment id")
    rep.add_argument("--tpe", help="the sklearn+TPE experiment id")
    rep.add_argument("--workdir", default="~/nni-experiments", help="NNI's experiment working directory")
    rep.add_argument("--out", default=str(ROOT / "results"))
    arch = sub.add_parser("arch", help="check an architecture dict (JSON text or file) and print it as the search does")
    arch.add_argument("arch", help='e.g. \'{"layers": [[64, "relu"], "dropout", [32, "tanh"]]}\' or a .json file')
    arch.add_argument("--max-layers", type=int, default=10, help="dense layers allowed (classArgs max_layers)")
    arch.add_argument("--train-tokens", action="store_true", help="architectures carry training settings too")
    from .view import add_parser as add_view_parser

    add_view_parser(sub)
    return parser


def _check_run_args(args) -> None:
    """Flags that cannot work, as one ``ValueError`` line, before any config, data or NNI is touched."""
    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port must be between 1 and 65535, got {args.port}")
    for flag in ("controller_epochs", "archs_per_epoch", "concurrency", "halving_rungs"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be a positive integer, got {value}")
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"--seed must be a non-negative integer, got {args.seed}")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a file; give a folder for the report")
    if args.dataset is None and (args.label is not None or args.drop is not None):
        raise ValueError("--label and --drop describe a CSV file: pass it with --dataset FILE.csv")


def check_arch(args) -> int:
    """``arch``: validate an MLP architecture (JSON text or a file holding it); print it normalised."""
    import json

    from .space import TokenSpace, describe

    text = args.arch
    if not text.lstrip().startswith(("{", "[")):
        try:
            text = Path(text).read_text()
        except OSError as exc:
            raise ValueError(f"cannot read architecture file {args.arch}: {exc.strerror}; give JSON text or a "
                             "file holding it") from None
    try:
        given = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the architecture is not valid JSON ({exc.msg} at line {exc.lineno}); write it as "
                         '{"layers": [[64, "relu"], "dropout"]}') from None
    arch = TokenSpace(args.max_layers, train_tokens=args.train_tokens).validate(given)
    print(json.dumps(arch))
    print(describe(arch))
    return 0


def run(args) -> int:
    from .launch import build_configs, run_search

    overrides = {k: getattr(args, k) for k in ("dataset", "label", "drop", "seed", "sampler", "prior", "controller_epochs",
                                               "archs_per_epoch", "halving_rungs") if getattr(args, k) is not None}
    nas, tpe = build_configs(args.config, None if args.no_tpe else args.tpe_config, args.concurrency, **overrides)
    nas_dir, tpe_dir = run_search(nas, tpe, args.port)
    return _report(nas_dir, tpe_dir, args.out)


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
    print(f"reopen the web UI: python -m mlp_nas view {report['experiment']}")
    return 0


def main(argv=None) -> int:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, here and in trials
    from nas_data.tabular import DataError
    from nni_plumbing.experiments import ConfigError

    args = _parser().parse_args(argv)
    try:
        if args.command == "arch":
            return check_arch(args)
        if args.command == "view":
            from .view import view

            return view(args.experiment, args.port, args.workdir)
        if args.command == "run":
            _check_run_args(args)
            return run(args)
        workdir = Path(os.path.expanduser(args.workdir))
        return _report(workdir / args.experiment, args.tpe and workdir / args.tpe, args.out)
    except (ConfigError, DataError, ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"mlp_nas: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlp_nas: interrupted (Ctrl+C); its NNI experiment, if one had started, was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
