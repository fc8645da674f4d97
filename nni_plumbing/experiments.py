"""Run an NNI experiment from a config file and wait for it: the glue NNI 3.0 lacks, written once.

NNI's ``Experiment.run`` waits for ``DONE``, which never comes once a tuner has raised
``NoMoreTrialError`` (the status stays ``TUNER_NO_MORE_TRIAL``); :func:`run_experiment` also ends
when that state holds and no trial is left running. It prints the web UI address and progress while it
waits, stops NNI's processes when done, and stops the experiment first on Ctrl+C or SIGTERM. It notices a
dead tuner within seconds (:mod:`nni_plumbing.tuner_watch`), and local experiments listen on loopback only
(:mod:`nni_plumbing.webui_host`).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path

import yaml

from .tuner_watch import TunerError, TunerWatch, manager_error
from .webui_host import choose_host, manager_environment

ACTIVE = ("WAITING", "RUNNING", "UNKNOWN")
__all__ = ["ACTIVE", "ConfigError", "Terminated", "TunerError", "best_metric", "experiment_dir", "final_results",
           "load_config", "port_free", "user_path", "run_experiment", "trial_span_s", "trial_states"]


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


def user_path(path: str | os.PathLike) -> str:
    """``path`` as an absolute path, resolved against the user's working directory: NNI runs the tuner in the
    experiment's log folder and trials in their own, where a relative path a user typed means nothing."""
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


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


class Terminated(RuntimeError):
    """SIGTERM arrived while an experiment ran; the experiment was stopped first."""


class _SigtermGuard:
    """While armed, SIGTERM raises :class:`Terminated` (as Ctrl+C raises ``KeyboardInterrupt``), so the runner
    stops its experiment instead of dying with NNI's manager left holding the port. Disarmed during clean-up,
    a SIGTERM is only remembered. Signal handlers exist in the main thread only; elsewhere this does nothing."""

    def __init__(self):
        self.armed = self.received = False
        self.previous = None

    def _handler(self, signum, frame):
        self.received = True
        if self.armed:
            self.armed = False
            raise Terminated("terminated by SIGTERM")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._handler)
            self.armed = True
        return self

    def __exit__(self, *exc):
        self.armed = False
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def _progress_reporter(name: str, total: int | None, enabled: bool):
    """``nni_plumbing.progress.Progress`` when asked for and present, else None (plain status lines)."""
    if not enabled:
        return None
    try:
        from .progress import Progress
    except ImportError:
        return None
    return Progress(name, total=total)


def best_metric(exp_dir: str | os.PathLike, minimize: bool = False) -> float | None:
    """The best final ``default`` metric reported so far (None before the first)."""
    try:
        values = [r["default"] for r in final_results(exp_dir) if isinstance(r.get("default"), (int, float))]
    except (FileNotFoundError, sqlite3.Error):
        return None
    values = [float(v) for v in values if math.isfinite(v)]
    if not values:
        return None
    return min(values) if minimize else max(values)


def _stop(exp) -> None:
    """``exp.stop()``, then end what NNI's manager left behind: a dispatcher still starting up when the
    manager stopped would otherwise print its failure to connect after the runner has exited."""
    import psutil

    try:
        left = psutil.Process(exp._proc.pid).children(recursive=True) if exp._proc is not None else []
    except psutil.Error:
        left = []
    try:
        exp.stop()
    except Exception as exc:  # the manager may already be gone; the caller reports the original error
        print(f"could not stop experiment {exp.id} cleanly: {exc}", file=sys.stderr, flush=True)
    left = [p for p in left if p.is_running()]
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    for proc in psutil.wait_procs(left, timeout=3)[1]:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def run_experiment(config, port: int = 8080, finished=None, poll_s: float = 2.0, label: str = "",
                   warm_preload: list[str] | None = None, stall_s: float = 180.0, progress: bool = True,
                   webui_host: str | None = None) -> str:
    """Start ``config``, wait until it is over, stop NNI; returns the experiment id.

    ``finished(experiment_id)`` (optional) tells whether the tuner has nothing left to hand out, for tuners
    that end with ``NoMoreTrialError``. ``warm_preload``: start a warm trial server
    (:mod:`nni_plumbing.warm_start`) with these modules, for trials whose tuner does not start one.
    ``progress``: a progress bar (``nni_plumbing.progress``) instead of a status line per change.
    ``webui_host``: ``127.0.0.1`` (the default for the local training service) or ``0.0.0.0`` (the default
    for remote ones, whose trials call back); see :mod:`nni_plumbing.webui_host`.

    Stops the experiment, then raises: :class:`TunerError` within seconds when the tuner raised or its
    process died (NNI itself keeps reporting ``RUNNING``); ``RuntimeError`` when NNI reports an error, or
    when no trial ran and nothing changed for ``stall_s`` seconds; :class:`Terminated` on SIGTERM;
    ``KeyboardInterrupt`` on Ctrl+C.
    """
    from nni.experiment import Experiment

    if not port_free(port):
        raise ConfigError(f"port {port} is in use (another NNI experiment?): pass another --port, "
                          "or stop it with 'nnictl stop --all'")
    host = choose_host(config, webui_host)
    # Trials and the tuner run with this interpreter's environment, as after 'source .venv/bin/activate'.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    class_args = getattr(config.tuner, "class_args", None) or {}
    minimize = class_args.get("optimize_mode") == "minimize"
    with _SigtermGuard() as guard:
        exp = Experiment(config)
        name = label or config.experiment_name or exp.id
        _run_once(exp, config, port, host, name, guard, finished, poll_s, stall_s, warm_preload, progress, minimize)
        if guard.received:
            raise Terminated(f"terminated by SIGTERM; experiment {exp.id} stopped")
        return exp.id


def _run_once(exp, config, port, host, name, guard, finished, poll_s, stall_s, warm_preload, progress, minimize):
    """One start of ``exp``: wait for it to end, then stop it (also on any error, Ctrl+C or SIGTERM)."""
    server = bar = None
    try:
        server = _start(exp, port, host, warm_preload)
        where = "" if host in ("127.0.0.1", "localhost") else " (listening on every interface)"
        print(f"[{name}] experiment {exp.id} running; web UI: http://127.0.0.1:{port}{where}", flush=True)
        watch = TunerWatch(experiment_dir(config, exp.id), getattr(exp._proc, "pid", None))
        bar = _progress_reporter(name, config.max_trial_number, progress)
        _wait(exp, config, name, finished, poll_s, stall_s, watch, bar, minimize)
    except (Exception, KeyboardInterrupt) as exc:
        guard.armed = False
        if isinstance(exc, KeyboardInterrupt):
            print(f"\n[{name}] interrupted: stopping experiment {exp.id}", flush=True)
        elif isinstance(exc, Terminated):
            print(f"\n[{name}] SIGTERM: stopping experiment {exp.id}", flush=True)
        _stop(exp)
        if isinstance(exc, Terminated):
            raise Terminated(f"terminated by SIGTERM; experiment {exp.id} stopped") from None
        raise
    finally:
        guard.armed = False
        if bar is not None:
            bar.close()
        if server is not None:
            server.terminate()
    _stop(exp)


@contextlib.contextmanager
def patient_start_check(timeout_s: float = 60.0):
    """Within the block, NNI's start-up check waits up to ``timeout_s`` for its manager. NNI 3.0 gives the
    manager three one-second tries, and registers its REST routes only after the server listens (until then
    the web UI's page answers, which is not JSON), so on a loaded machine ``Experiment.start`` fails."""
    from nni.experiment import launcher, rest

    original = launcher._check_rest_server

    def check(port, retry=3, url_prefix=None):
        deadline = time.time() + timeout_s
        while True:
            try:
                rest.get(port, "/check-status", url_prefix)
                return
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)

    launcher._check_rest_server = check
    try:
        yield
    finally:
        launcher._check_rest_server = original


def _start(exp, port: int, host: str, warm_preload):
    """Start the warm trial server, if any (returned), then NNI's manager for ``exp``."""
    server = None
    try:
        if warm_preload:
            from .warm_start import start_server

            server = start_server(exp.id, warm_preload)
        with manager_environment(host), patient_start_check():
            exp.start(port, debug=False)
        return server
    except BaseException:
        if server is not None:
            server.terminate()
        raise


def _wait(exp, config, name, finished, poll_s, stall_s, watch, bar, minimize) -> None:
    """Poll ``exp`` until it is over; report progress; raise on a dead tuner, an NNI error or a stall."""
    logs = experiment_dir(config, exp.id) / "log"
    last, last_change, best, counts = None, time.time(), None, None
    while True:
        time.sleep(poll_s)
        status = exp.get_status()
        if status == "ERROR":
            line = watch.logged_error(None)
            if line:
                raise watch.error(line)
            errors = exp.get_experiment_profile().get("errors") or manager_error(logs) or "no reason given"
            raise RuntimeError(f"NNI reported an error for experiment {exp.id}: {errors} (logs: {logs})")
        if status in ("DONE", "STOPPED"):
            break
        watch.check()
        jobs = exp.list_trial_jobs()
        active = sum(1 for j in jobs if j.status in ACTIVE)
        done = sum(1 for j in jobs if j.status == "SUCCEEDED")
        failed = len(jobs) - done - active
        if bar is not None and (done, failed) != counts:
            counts, best = (done, failed), best_metric(experiment_dir(config, exp.id), minimize)
        state = (status, done, active, failed)
        if bar is not None:
            bar.update(done=done, running=active, failed=failed, best=best)
        elif state != last:
            print(f"[{name}] {status}: {done} trials succeeded, {active} running, {failed} failed", flush=True)
        if state != last:
            last, last_change = state, time.time()
        if status == "TUNER_NO_MORE_TRIAL" and active == 0 and (finished is None or finished(exp.id)):
            break
        if active == 0 and status in ("RUNNING", "TUNER_NO_MORE_TRIAL") and time.time() - last_change > stall_s:
            raise RuntimeError(f"experiment {exp.id} ({status}) has run no trial for {stall_s:.0f} s: its tuner "
                               f"has probably stopped handing out trials (see {logs / 'dispatcher.log'})")


def trial_span_s(exp_dir: str | os.PathLike) -> float | None:
    """Seconds from the first to the last trial event of an experiment (its search wall time)."""
    db = Path(exp_dir) / "db" / "nni.sqlite"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        first, last = conn.execute("SELECT MIN(timestamp), MAX(timestamp) FROM TrialJobEvent").fetchone()
    return None if first is None else (last - first) / 1000.0
