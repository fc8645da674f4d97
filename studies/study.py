"""Run a study config end to end: the NNI experiment (web UI while it runs), then its report.

    python -m studies run configs/studies/learning_progress.yml [--set seeds=[0,1] k=5] [--port 8080]

``--set key=value`` overrides the tuner's ``classArgs`` (values in YAML); ``maxTrialNumber`` is set to the
study's number of jobs. The report goes to ``results/study-<experiment id>/`` (``--out`` to change).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from nni_plumbing.experiments import ConfigError, experiment_dir, load_config, run_experiment


def study_config(path, overrides: dict | None = None, concurrency: int | None = None):
    """The config at ``path`` with ``overrides`` merged into the tuner's classArgs and maxTrialNumber set;
    the tuner is built once here so that bad classArgs fail with one line before NNI starts."""
    from .tuner import StudyTuner

    config = load_config(path)
    args = config.tuner.class_args
    args.update(overrides or {})
    try:
        tuner = StudyTuner(**args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    config.max_trial_number = tuner.total_jobs()
    if concurrency is not None:
        config.trial_concurrency = concurrency
    return config


def finished_for(config):
    """``run_experiment``'s ``finished``: the study tuner's saved state says every job is over. (NNI reports
    TUNER_NO_MORE_TRIAL whenever the tuner holds a request back while it waits on a search.)"""
    import json

    from .tuner import STATE_FILE, study_finished

    def finished(experiment_id: str) -> bool:
        path = experiment_dir(config, experiment_id) / "checkpoint" / STATE_FILE
        try:
            return study_finished(json.loads(path.read_text()))
        except (FileNotFoundError, ValueError):
            return False
    return finished


def _override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set takes key=value (a YAML value), got {text!r}")
    return key, yaml.safe_load(value)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a study config, then write its report")
    run.add_argument("config")
    run.add_argument("--set", nargs="*", type=_override, default=[], metavar="KEY=VALUE")
    run.add_argument("--concurrency", type=int)
    run.add_argument("--port", type=int, default=8080)
    run.add_argument("--out")
    args = parser.parse_args(argv)
    from .report import build_report

    try:
        config = study_config(args.config, dict(args.set), args.concurrency)
        exp_id = run_experiment(config, args.port, label=config.experiment_name, finished=finished_for(config))
        out = Path(args.out or Path("results") / f"study-{exp_id}")
        summary = build_report(experiment_dir(config, exp_id), out)
    except (ConfigError, RuntimeError, FileNotFoundError) as exc:
        print(f"study: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary["table"]))
    print(f"report: {out / 'report.md'} (also results.csv, summary.json, plot.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
