"""A tiny real NNI experiment for the tests of the web UI and of NNI's parameter pairing: NNI's grid search over
``x`` in 0..n-1, each trial being tests/mixup_trial.py, run in a warm server (nni_plumbing.warm_start) so a
trial does not spend seconds importing NNI's dependencies on a busy machine."""
import contextlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARM_PRELOAD = ["numpy", "scipy.stats", "pandas", "json_tricks", "yaml"]  # most of what importing NNI costs
STARTS = 6  # NNI's manager drops a tuner that has not connected in 10 s, which a loaded machine can miss


def config(tmp_path: Path, n_trials: int, fix: bool = True, concurrency: int = 2, name: str = "tiny"):
    from nni.experiment import ExperimentConfig

    cfg = ExperimentConfig("local")
    cfg.experiment_name = name
    cfg.search_space = {"x": {"_type": "choice", "_value": list(range(n_trials))}}
    cfg.tuner.name = "GridSearch"
    cfg.trial_command = f"{sys.executable} {ROOT / 'tests' / 'mixup_trial.py'}" + (" --fix" if fix else "")
    cfg.trial_code_directory = str(tmp_path)
    cfg.trial_concurrency = concurrency
    cfg.max_trial_number = n_trials
    cfg.experiment_working_directory = str(tmp_path / "nni")
    return cfg


@contextlib.contextmanager
def running(cfg, port: int, timeout_s: float = 600.0):
    """Run ``cfg`` until DONE and yield NNI's ``Experiment`` (its manager and web UI still up); stop it on exit
    unless the caller stopped it.
    Starts again (a new experiment) when NNI dropped its tuner for connecting late."""
    from nni.experiment import Experiment

    from nni_plumbing.experiments import patient_start_check
    from nni_plumbing.warm_start import start_server

    for attempt in range(STARTS):
        exp = Experiment(cfg)
        server = start_server(exp.id, WARM_PRELOAD)
        try:
            with patient_start_check():
                exp.start(port)
            deadline = time.time() + timeout_s
            while exp.get_status() not in ("DONE", "ERROR", "STOPPED") and time.time() < deadline:
                time.sleep(1)
            status = exp.get_status()
            started_trials = len(exp.list_trial_jobs())
            if status == "DONE":
                yield exp
                return
        finally:
            if exp.port is not None:  # a test may have stopped it already (to view it)
                exp.stop()
            server.terminate()
            server.wait(timeout=30)
        log = Path(cfg.experiment_working_directory) / exp.id / "log" / "nnimanager.log"
        if status != "ERROR" or started_trials or "Tuner did not connect" not in log.read_text() or attempt == STARTS - 1:
            raise AssertionError(f"experiment {exp.id} ended {status} after {started_trials} trials (log: {log})")


def run(cfg, port: int, timeout_s: float = 600.0) -> Path:
    """Run ``cfg`` to DONE and stop NNI; the experiment's folder."""
    with running(cfg, port, timeout_s) as exp:
        return Path(cfg.experiment_working_directory) / exp.id


def tuner_config(tmp_path: Path, n_trials: int, seed: int = 0, name: str = "webui-tiny"):
    """Like :func:`config`, with tests/tiny_tuner.py's MLP architectures (and their web UI labels) as parameters."""
    cfg = config(tmp_path, n_trials, name=name)
    cfg.search_space = {}
    cfg.tuner.name = None
    cfg.tuner.code_directory = str(ROOT / "tests")
    cfg.tuner.class_name = "tiny_tuner.TinyTuner"
    cfg.tuner.class_args = {"seed": seed}
    return cfg
