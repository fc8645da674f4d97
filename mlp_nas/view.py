"""``python -m mlp_nas view ID``: reopen a finished experiment's NNI web UI (what ``nnictl view`` does).

NNI serves a stopped experiment read-only from its folder (``<workdir>/<ID>``: database, logs, trial folders):
the trial table, each trial's parameters (with the architecture string), and its intermediate results. The web
UI stays up until Ctrl+C.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

DEFAULT_WORKDIR = "~/nni-experiments"


def open_view(experiment_id: str, port: int = 8080, workdir: str | os.PathLike = DEFAULT_WORKDIR):
    """Start NNI's manager in view mode for a stopped experiment; returns NNI's ``Experiment`` (call ``stop()``).

    ``ValueError`` (one line) when the experiment folder or its saved config is missing, or the port is taken."""
    from nni.experiment import Experiment, ExperimentConfig
    from nni.experiment.launcher import get_stopped_experiment_config_json

    from nni_plumbing.experiments import patient_start_check, port_free

    if not 1 <= port <= 65535:
        raise ValueError(f"--port must be between 1 and 65535, got {port}")
    root = Path(os.path.expanduser(os.fspath(workdir))).resolve()
    folder = root / experiment_id
    if not (folder / "db" / "nni.sqlite").is_file():
        raise ValueError(f"no NNI experiment {experiment_id!r} in {root} (no db/nni.sqlite there): check the id, or "
                         "pass --workdir (the config's experimentWorkingDirectory)")
    if not port_free(port):
        raise ValueError(f"port {port} is in use (another NNI web UI?): pass another --port")
    config_json = get_stopped_experiment_config_json(experiment_id, str(root))
    if not config_json:
        raise ValueError(f"experiment {experiment_id} in {root} has no saved config (checkpoint/experiment.json)")
    config = ExperimentConfig(**config_json)
    config.experiment_working_directory = str(root)
    exp = Experiment(config, id=experiment_id)
    with patient_start_check():
        exp.view(port, non_blocking=True)
    return exp


def view(experiment_id: str, port: int = 8080, workdir: str | os.PathLike = DEFAULT_WORKDIR) -> int:
    """Serve the web UI of ``experiment_id`` until Ctrl+C, then stop NNI's manager."""
    exp = open_view(experiment_id, port, workdir)
    print(f"web UI of experiment {experiment_id}: http://127.0.0.1:{port} (Ctrl+C to stop)", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        exp.stop()
    return 0


def add_parser(sub) -> None:
    """The ``view`` subcommand of ``python -m mlp_nas``."""
    p = sub.add_parser("view", help="reopen a finished experiment's NNI web UI (nnictl view)")
    p.add_argument("experiment", help="the experiment id (the report and the run print it)")
    p.add_argument("--port", type=int, default=8080, help="web UI port (default 8080)")
    p.add_argument("--workdir", default=DEFAULT_WORKDIR, help="NNI's experiment working directory")
