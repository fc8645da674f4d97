"""Run a study config end to end: the NNI experiment (web UI while it runs), then its report.

    python -m studies run configs/studies/learning_progress.yml [--set seeds=[0,1] k=5] [--port 8080]

``--set key=value`` overrides the tuner's ``classArgs`` (values in YAML); ``maxTrialNumber`` is set to the
study's number of jobs. The report goes to ``results/study-<experiment id>/`` (``--out`` to change).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import date
from pathlib import Path

import yaml

from nni_plumbing.experiments import ConfigError, experiment_dir, load_config, run_experiment


def study_config(path, overrides: dict | None = None, concurrency: int | None = None, log=print):
    """The config at ``path`` with ``overrides`` merged into the tuner's classArgs (a dict value into the
    config's dict) and maxTrialNumber set to the study's number of jobs (``log`` says so when the file's value
    differs: with another value NNI never reaches DONE); classArgs are checked and the tuner built once here,
    so that bad ones fail with one line before NNI starts."""
    import inspect

    from .class_args import check_study_args, merge_overrides, resolve_paths

    _precheck(path, overrides or {})
    from .tuner import StudyTuner

    config = load_config(path)
    if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1):
        raise ConfigError(f"--concurrency must be a positive integer, got {concurrency!r}")
    if config.tuner is None or config.tuner.class_name != "studies.tuner.StudyTuner":
        raise ConfigError(f"{path} is not a study config: its tuner must be className studies.tuner.StudyTuner "
                          "(see configs/studies/)")
    args = resolve_paths(merge_overrides(config.tuner.class_args or {}, overrides or {}))
    try:
        check_study_args(args, set(inspect.signature(StudyTuner.__init__).parameters) - {"self"})
        tuner = StudyTuner(**args)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    config.tuner.class_args = args
    jobs = tuner.total_jobs()
    if config.max_trial_number != jobs:
        log(f"note: maxTrialNumber {config.max_trial_number} in {path} is not this study's {jobs} jobs "
            f"(NNI would never reach DONE); using {jobs}, which nnictl create would need in the file")
    config.max_trial_number = jobs
    if concurrency is not None:
        config.trial_concurrency = concurrency
    return config


def _precheck(path, overrides: dict) -> None:
    """The classArgs checks that need no NNI, on the raw YAML, so that a typo in ``--set`` fails before NNI's
    config classes load (seconds); anything odd about the file is left to ``load_config``'s own message."""
    from .class_args import check_study_args, merge_overrides, resolve_paths

    try:
        raw = yaml.safe_load(Path(path).read_text())
        tuner = raw["tuner"]
        class_args = tuner.get("classArgs") or {}
        if tuner["className"] != "studies.tuner.StudyTuner" or not isinstance(class_args, dict):
            return
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return
    try:
        check_study_args(resolve_paths(merge_overrides(class_args, overrides)))
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


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
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--set takes key=value (a YAML value), got {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"--set {key}: {value!r} is not a YAML value ({str(exc).splitlines()[0]}); "
                                         "quote it, e.g. \"search={epochs: 2}\"") from None


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
    if not 1 <= args.port <= 65535:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"--out {args.out} is a file; give a folder for the report")
    try:
        config = study_config(args.config, dict(args.set), args.concurrency)
        from .report import build_report

        started = time.time()
        exp_id = run_experiment(config, args.port, label=config.experiment_name, finished=finished_for(config))
        run_info = {"command": shlex.join(["python", "-m", "studies", *(sys.argv[1:] if argv is None else argv)]),
                    "date": date.today().isoformat(), "wall_s": round(time.time() - started, 1),
                    "trials": config.max_trial_number}
        out = Path(args.out or Path("results") / f"study-{exp_id}")
        summary = build_report(experiment_dir(config, exp_id), out, run_info)
    except (ConfigError, RuntimeError, FileNotFoundError) as exc:
        print(f"study: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("study: interrupted (Ctrl+C); its NNI experiment, if one had started, was stopped", file=sys.stderr)
        return 130
    print("\n".join(summary["table"]))
    print(f"report: {out / 'report.md'} (also results.csv, summary.json, plot.png)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
