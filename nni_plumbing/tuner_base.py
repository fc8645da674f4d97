"""The one base of the project's NNI tuners: the bookkeeping every tuner needs under NNI 3.0's faults, written once.

A subclass supplies only its search logic (what to sample next, what to learn from a result); this base
records every result under the sample the trial says it trained (NNI can hand a trial another trial's
parameters when ``trialConcurrency`` > 1, NNI's concurrency mix-up, docs/design.md) and counts those mix-ups, rejects non-finite
metrics as failures, turns a trial that ended without a usable result into a failed record, holds requests
that nothing answers yet (:mod:`nni_plumbing.held_requests`), saves its state atomically as JSON after every
event and restores it on ``nnictl resume`` (reconciling with NNI's database, :mod:`nni_plumbing.resume`),
starts the warm trial server once NNI has connected, and writes its own error to
``<checkpoint>/tuner_error.txt`` (one line, ``ClassName: message``) so a runner can stop at once.
"""
from __future__ import annotations

import base64
import functools
import json
import logging
import math
import os
import tempfile
import threading
from pathlib import Path

import nni
from nni.tuner import Tuner

from nas_data.files import atomic_write

from .checks import positive_int, trial_seed
from .held_requests import HeldRequests
from .resume import continue_after_resume

_logger = logging.getLogger(__name__)

TUNER_ERROR_FILE = "tuner_error.txt"
RESULT_GRACE_S = 30.0  # how long a trial's end waits for a result NNI may still be delivering on another thread
RERUN_STATES = ("WAITING", "RUNNING", "ADD_RESUMED")  # NNI marks the trials it re-runs on resume ADD_RESUMED
__all__ = ["TUNER_ERROR_FILE", "TunerBase", "checkpoint_dir", "dumps_state", "loads_state", "positive_int",
           "read_tuner_error", "reports_errors", "trial_seed", "write_tuner_error"]


def checkpoint_dir() -> Path:
    """The experiment's checkpoint folder when NNI runs the tuner, else a fresh temporary folder."""
    folder = os.environ.get("NNI_CHECKPOINT_DIRECTORY")
    return Path(folder) if folder else Path(tempfile.mkdtemp(prefix="nas_tuner_"))


def error_line(exc: BaseException) -> str:
    """``ClassName: message`` on one line."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def write_tuner_error(folder: str | os.PathLike, exc: BaseException) -> None:
    """Write ``exc`` as one line to ``folder/tuner_error.txt`` (atomically), for the runner to show."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    line = error_line(exc)
    atomic_write(folder / TUNER_ERROR_FILE, lambda f: f.write(line + "\n"))


def read_tuner_error(exp_dir: str | os.PathLike) -> str | None:
    """The tuner's one-line error of an experiment folder, or None while it has none."""
    try:
        return (Path(exp_dir) / "checkpoint" / TUNER_ERROR_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def reports_errors(method):
    """Decorate a tuner method: an exception (other than NNI's ``NoMoreTrialError``) is written to the
    checkpoint folder's ``tuner_error.txt`` before it propagates."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except nni.NoMoreTrialError:
            raise
        except Exception as exc:
            folder = getattr(self, "dir", None) or os.environ.get("NNI_CHECKPOINT_DIRECTORY")
            if folder:
                write_tuner_error(folder, exc)
            raise
    return wrapper


# ----- JSON state: numpy arrays as lists with their dtype, opaque binary state as base64 -----
def _to_json(obj):
    import numpy as np

    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype), "shape": list(obj.shape)}
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(obj)).decode("ascii")}
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-able state")


def _from_json(obj: dict):
    if "__ndarray__" in obj:
        import numpy as np

        return np.asarray(obj["__ndarray__"], dtype=obj["dtype"]).reshape(obj["shape"])
    if "__bytes__" in obj:
        return base64.b64decode(obj["__bytes__"])
    return obj


def dumps_state(state) -> str:
    """``state`` as JSON; numpy arrays and bytes become tagged objects that :func:`loads_state` restores."""
    return json.dumps(state, default=_to_json)


def loads_state(text: str):
    return json.loads(text, object_hook=_from_json)


def is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class TunerBase(HeldRequests, Tuner):
    """Base of the four tuners. A subclass sets ``STATE_FILE`` and implements:

    - ``_has_new()`` / ``_new_sample(parameter_id)``: whether a new sample can be handed out now, and make one
      (returns its sample id after adding ``self.records[sid] = {"sample_id", "status": "sampled", "params", ...}``;
      :meth:`_add_record` does that);
    - ``_on_result(sid, record, reported, ok)``: learn from a recorded result (``ok``: finite metric);
    - ``_on_failure(sid, record)``: a sample that will never have a result;
    - ``_own_state()`` / ``_load_own_state(state)``: its JSON-able state (lock held);
    - optionally ``_setup()`` (slow set-up, after NNI connected), ``_warm_preload()``, ``_reported_sample``,
      ``_expects_result(sid)``, ``_result_ok``, ``_on_issue``, ``_after_result``, ``_on_end``, ``_on_rerun``,
      ``_after_resume``, ``_on_search_space``.
    """

    STATE_FILE = "tuner_state.json"
    finished = False  # nothing will ever be handed out again (HeldRequests)

    def __init__(self) -> None:
        self.dir = checkpoint_dir()
        self._lock = threading.Condition()
        self._held: list[int] = []         # parameter ids NNI asked for while nothing was ready
        self._requeue: list[int] = []      # samples handed out just before a stop that never became trials
        self._issued: dict[int, int] = {}  # NNI parameter id -> sample id handed out with it
        self._result_count: dict[int, int] = {}  # parameter id -> final results received under it
        self.records: dict[int, dict] = {}       # sample id -> what was sampled and what came back
        self.next_sample_id = 0
        self.mixups = 0
        self._connected = False
        self._warm_server = None

    # ----- hooks -----
    def _setup(self) -> None:
        """The slow part of starting, done once NNI has connected (NNI drops a tuner slow to construct)."""

    def _warm_preload(self) -> tuple[list[str], dict] | None:
        """Modules (and environment) for the warm trial server, or None for no server."""
        return None

    def _has_new(self) -> bool:
        raise NotImplementedError

    def _new_sample(self, parameter_id: int) -> int:
        raise NotImplementedError

    def _reported_sample(self, reported: dict, issued: int | None):
        """The sample id the trial says it trained."""
        return reported.get("sample_id", issued)

    def _expects_result(self, sid: int) -> bool:
        return True

    def _accepts_late_result(self, sid: int) -> bool:
        """Whether a result may still replace a failure recorded at its trial's end. Under NNI's mix-up
        a trial's end can carry another trial's parameter id, so a sample counted failed may still be trained
        and reported by the trial that really has it; by default that result is recorded."""
        return True

    def _result_ok(self, reported: dict) -> bool:
        """Whether a final result counts: its metric ``default`` is a finite number."""
        return is_finite_number(reported.get("default"))

    def _on_issue(self, parameter_id: int, sid: int) -> None:
        pass

    def _on_result(self, sid: int, record: dict, reported: dict, ok: bool) -> None:
        pass

    def _on_failure(self, sid: int, record: dict) -> None:
        pass

    def _after_result(self, parameter_id: int) -> None:
        pass

    def _on_end(self, parameter_id: int, success: bool) -> None:
        pass

    def _on_rerun(self, parameter_id: int, record: dict) -> None:
        pass

    def _after_resume(self) -> None:
        pass

    def _own_state(self) -> dict:
        return {}

    def _load_own_state(self, state: dict) -> None:
        pass

    # ----- helpers for subclasses -----
    def _add_record(self, params: dict, sid: int | None = None, **fields) -> int:
        if sid is None:
            sid = self.next_sample_id
        self.next_sample_id = max(self.next_sample_id, sid + 1)
        self.records[sid] = {"sample_id": sid, "status": "sampled", "params": params, **fields}
        return sid

    @property
    def failures(self) -> int:
        """Samples that ended without a usable result (crash, kill, time limit, NaN, mixed up)."""
        return sum(1 for r in self.records.values() if r["status"] == "failed")

    # ----- connection -----
    def _connect(self) -> None:
        if self._connected:
            return
        self._connected = True
        self._setup()  # first: an error in the user's data surfaces before anything else is started
        preload = self._warm_preload() if os.environ.get("NNI_CHECKPOINT_DIRECTORY") else None
        if preload is not None:
            from . import warm_start

            modules, env = preload
            self._warm_server = warm_start.start_server(self.dir.parent.name, modules, env,
                                                        log=self.dir.parent / "log" / "warm_start.log")

    @reports_errors
    def update_search_space(self, search_space):
        with self._lock:
            self._connect()
            self._on_search_space(search_space)
            self._serve_held()

    def _on_search_space(self, search_space) -> None:
        pass

    # ----- handing out (HeldRequests) -----
    @reports_errors
    def generate_multiple_parameters(self, parameter_id_list, **kwargs):
        return super().generate_multiple_parameters(parameter_id_list, **kwargs)

    def _prepare(self) -> None:
        self._connect()

    def _has_ready(self) -> bool:
        return bool(self._requeue) or (not self.finished and self._has_new())

    def _issue(self, parameter_id: int) -> dict:
        sid = self._requeue.pop(0) if self._requeue else self._new_sample(parameter_id)
        record = self.records[sid]
        record.update(status="running", parameter_id=parameter_id)
        self._issued[parameter_id] = sid
        self._on_issue(parameter_id, sid)
        return record["params"]

    # ----- results and ends -----
    @reports_errors
    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        # ``parameters`` is not used: NNI's dispatcher may overwrite its copy; the tuner keeps its own map.
        with self._lock:
            self._result_count[parameter_id] = self._result_count.get(parameter_id, 0) + 1
            self._record(parameter_id, value, kwargs.get("trial_job_id"))
            self._lock.notify_all()
            self._after_result(parameter_id)
            self._serve_held()
            self._save()

    def _record(self, parameter_id: int, value, trial_job_id=None) -> None:
        """Record a final result under the sample the trial says it trained (lock held)."""
        reported = value if isinstance(value, dict) else {"default": value}
        issued = self._issued.get(parameter_id)
        sid = self._reported_sample(reported, issued)
        if sid != issued:
            self.mixups += 1
            _logger.warning("trial of parameter %s trained sample %s instead of %s (NNI's concurrency mix-up); recording what "
                            "it trained", parameter_id, sid, issued)
        record = self.records.get(sid)
        if record is None:
            _logger.warning("result for unknown sample %s ignored", sid)
            return
        if record.get("reported"):
            _logger.warning("sample %s trained twice (NNI's concurrency mix-up); keeping the first result", sid)
            return
        if record["status"] == "failed" and not self._accepts_late_result(sid):
            _logger.warning("result for sample %s ignored: it was already counted failed", sid)
            return
        ok = self._result_ok(reported)
        if not ok:
            _logger.warning("sample %s reported a non-finite metric %r: counted as failed", sid, reported.get("default"))
        record.update(status="done" if ok else "failed", reported=True, value=reported.get("default") if ok else None,
                      trial_job_id=trial_job_id, result_parameter_id=parameter_id)
        self._on_result(sid, record, reported, ok)
        if not ok:
            self._on_failure(sid, record)

    @reports_errors
    def trial_end(self, parameter_id, success, **kwargs):
        with self._lock:
            if success and not self._result_count.get(parameter_id):
                sid = self._issued.get(parameter_id)
                if sid is None or self._expects_result(sid):
                    # NNI's end thread can run ahead of its metric thread: give a result on its way time to land.
                    self._lock.wait_for(lambda: self._result_count.get(parameter_id), RESULT_GRACE_S)
            self._end(parameter_id, success)
            self._on_end(parameter_id, success)
            self._serve_held()
            self._save()

    def _end(self, parameter_id: int, success: bool) -> None:
        """The trial of ``parameter_id`` ended: its sample, if still waiting, gets no result (lock held)."""
        sid = self._issued.get(parameter_id)
        record = self.records.get(sid)
        if record is None or record["status"] != "running" or record.get("parameter_id") != parameter_id:
            return
        if success and not self._expects_result(sid):
            record["status"] = "skipped"
            return
        record["status"] = "failed"
        record["failure"] = "trial failed" if not success else "trial ended without a result for this sample"
        self._on_failure(sid, record)

    # ----- state -----
    def state(self) -> dict:
        return {"tuner": type(self).__name__, "records": {str(k): v for k, v in self.records.items()},
                "issued": {str(k): v for k, v in self._issued.items()}, "requeue": list(self._requeue),
                "next_sample_id": self.next_sample_id, "mixups": self.mixups, "failures": self.failures,
                "finished": bool(self.finished), **self._own_state()}

    def _save(self) -> None:
        """Write the state atomically (lock held)."""
        text = dumps_state(self.state())
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.dir / self.STATE_FILE, lambda f: f.write(text))

    def save_checkpoint(self):
        with self._lock:
            if self._connected:
                self._save()

    @reports_errors
    def load_checkpoint(self):
        """On ``nnictl resume``: restore the state, then sort the samples that were running at the stop by what
        NNI's database says of their trial: re-run by NNI -> keep waiting; ended -> take its final result from
        the database (or count it failed); never became a trial -> hand it out again, under a fresh id."""
        path = self.dir / self.STATE_FILE
        if not path.exists():
            return
        with self._lock:
            self._connect()
            state = loads_state(path.read_text())
            self.records = {int(k): v for k, v in state["records"].items()}
            self._issued = {int(k): v for k, v in state["issued"].items()}
            self._requeue = list(state.get("requeue", []))
            self.next_sample_id, self.mixups = state["next_sample_id"], state["mixups"]
            self._result_count = {}
            self._load_own_state(state)
            self._reconcile_interrupted()
            continue_after_resume(max(self._issued, default=-1) + 1)
            self._after_resume()
            self._serve_held()
            self._save()

    def _reconcile_interrupted(self) -> None:
        from .experiments import final_results, trial_states  # only on resume: keep the dispatcher's start light

        states = trial_states(self.dir.parent)
        finals = {r["parameter_id"]: r for r in final_results(self.dir.parent)} if states else {}
        for record in sorted(self.records.values(), key=lambda r: r["sample_id"]):
            if record["status"] != "running":
                continue
            pid = record["parameter_id"]
            status = states.get(pid)
            if status in RERUN_STATES:
                self._on_rerun(pid, record)
            elif status is None:
                record["status"] = "sampled"
                self._requeue.append(record["sample_id"])
            elif pid in finals:
                self._result_count[pid] = 1
                final = {k: v for k, v in finals[pid].items() if k not in ("parameter_id", "trial_job_id")}
                self._record(pid, final, finals[pid]["trial_job_id"])
                self._end(pid, status == "SUCCEEDED")
            else:
                self._end(pid, False)

    def import_data(self, data):
        pass  # results of earlier runs come back through load_checkpoint

