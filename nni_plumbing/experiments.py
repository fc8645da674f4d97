"""Run an NNI experiment from a config file and wait for it: the glue NNI 3.0 lacks, written once.

NNI's ``Experiment.run`` waits for ``DONE``, which never comes once a tuner has raised
``NoMoreTrialError`` (the status stays ``TUNER_NO_MORE_TRIAL``); :func:`run_experiment` also ends
when that state holds and no trial is left running. It prints the web UI address, a progress line
while it waits, stops NNI's processes when done, and stops cleanly on Ctrl+C.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
import time
from pathlib import Path

import yaml

ACTIVE = ("WAITING", "RUNNING", "UNKNOWN")


class ConfigError(ValueError):
    """An experiment config that cannot be used; the message says why and what to do."""


def load_config(path: str | os.PathLike):
    """Load an nnictl YAML config as NNI's ``ExperimentConfig``, with one clear line on failure."""
    from nni.experiment.config import ExperimentConfig

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        with path.open() as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of NNI config keys")
    try:
        config = ExperimentConfig.load(path)  # relative paths resolve against the config's folder, as in nnictl
        config.validate()
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def experiment_dir(config, experiment_id: str) -> Path:
    return Path(os.path.expanduser(str(config.experiment_working_directory))) / experiment_id


def final_results(exp_dir: str | os.PathLike) -> list[dict]:
    """Every final result the trials reported, read from the experiment's database (works on a
    stopped experiment); each is the trial's own dict, with ``trial_job_id`` and ``parameter_id``."""
    db = Path(exp_dir) / "db" / "nni.sqlite"
    if not db.exists():
        raise FileNotFoundError(f"no NNI database at {db}: is the experiment id right?")
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT trialJobId, parameterId, data FROM MetricData WHERE type = 'FINAL'").fetchall()
    out = []
    for trial, parameter_id, data in rows:
        value = json.loads(data)
        value = json.loads(value) if isinstance(value, str) else value
        value = value if isinstance(value, dict) else {"default": value}
        out.append({**value, "trial_job_id": trial, "parameter_id": parameter_id})
    return out


def trial_states(exp_dir: str | os.PathLike) -> dict[int, str]:
    """Parameter id -> the last status NNI recorded for the trial job that ran it (``WAITING``, ``RUNNING``,
    ``SUCCEEDED``, ``FAILED``, ...), from the experiment's database. Ids NNI never made a trial job of
    (handed out just before a stop) are absent."""
    db = Path(exp_dir) / "db" / "nni.sqlite"
    if not db.exists():
        return {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT trialJobId, event, data FROM TrialJobEvent ORDER BY timestamp").fetchall()
    job_of, status = {}, {}
    for job, event, data in rows:
        status[job] = event
        if data:
            try:
                job_of[json.loads(data)["parameter_id"]] = job
            except (ValueError, KeyError, TypeError):
                pass
    return {pid: status[job] for pid, job in job_of.items() if isinstance(pid, int)}


def run_experiment(config, port: int = 8080, finished=None, poll_s: float = 2.0, label: str = "",
                   warm_preload: list[str] | None = None, stall_s: float = 180.0) -> str:
    """Start ``config``, wait until it is over, stop NNI; returns the experiment id.

    ``finished(experiment_id)`` (optional) tells whether the tuner has nothing left to hand out, for tuners
    that end with ``NoMoreTrialError``. Raises ``RuntimeError`` if NNI reports an error.
    ``warm_preload``: start a warm trial server (:mod:`nni_plumbing.warm_start`) with these modules, for
    trials whose tuner does not start one. NNI stays ``RUNNING`` forever when its tuner process
    dies; no trial running and no progress for ``stall_s`` seconds is reported as that error.
    """
    from nni.experiment import Experiment

    if not port_free(port):
        raise ConfigError(f"port {port} is in use (another NNI experiment?): pass another --port, "
                          "or stop it with 'nnictl stop --all'")
    # Trials and the tuner run with this interpreter's environment, as after 'source .venv/bin/activate'.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    exp = Experiment(config)
    server = None
    if warm_preload:
        from .warm_start import start_server

        server = start_server(exp.id, warm_preload)
    exp.start(port, debug=False)
    name = label or config.experiment_name or exp.id
    print(f"[{name}] experiment {exp.id} running; web UI: http://127.0.0.1:{port}", flush=True)
    last, last_change = "", time.time()
    try:
        while True:
            time.sleep(poll_s)
            status = exp.get_status()
            if status == "ERROR":
                errors = exp.get_experiment_profile().get("errors") or ""
                raise RuntimeError(f"NNI reported an error for experiment {exp.id}: {errors} "
                                   f"(logs: {experiment_dir(config, exp.id) / 'log'})")
            jobs = exp.list_trial_jobs()
            active = sum(1 for j in jobs if j.status in ACTIVE)
            done = sum(1 for j in jobs if j.status == "SUCCEEDED")
            line = f"[{name}] {status}: {done} trials succeeded, {active} running, {len(jobs) - done - active} failed"
            if line != last:
                print(line, flush=True)
                last, last_change = line, time.time()
            elif active == 0 and status == "RUNNING" and time.time() - last_change > stall_s:
                raise RuntimeError(f"experiment {exp.id} has run no trial for {stall_s:.0f} s: its tuner has "
                                   f"probably crashed (see {experiment_dir(config, exp.id) / 'log' / 'dispatcher.log'})")
            if status in ("DONE", "STOPPED"):
                break
            if status == "TUNER_NO_MORE_TRIAL" and active == 0 and (finished is None or finished(exp.id)):
                break
    except RuntimeError:
        exp.stop()
        raise
    except KeyboardInterrupt:
        print(f"\n[{name}] interrupted: stopping experiment {exp.id}", flush=True)
        exp.stop()
        raise
    finally:
        if server is not None:
            server.terminate()
    exp.stop()
    return exp.id


def trial_span_s(exp_dir: str | os.PathLike) -> float | None:
    """Seconds from the first to the last trial event of an experiment (its search wall time)."""
    db = Path(exp_dir) / "db" / "nni.sqlite"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        first, last = conn.execute("SELECT MIN(timestamp), MAX(timestamp) FROM TrialJobEvent").fetchone()
    return None if first is None else (last - first) / 1000.0
