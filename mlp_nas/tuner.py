"""The MLP NAS controller as a custom NNI tuner (``nni_config.yml``: ``tuner.className``).

Each controller epoch samples ``archs_per_epoch`` architectures, waits for all their trials and
then updates the policy once (strictly on-policy): while it waits, trial requests are held back
and served later through NNI's ``st_callback`` (``nni_plumbing/held_requests.py``). After
``controller_epochs`` epochs it raises ``NoMoreTrialError``.

Bookkeeping is keyed on what each trial reports it trained (NNI 3.0 can hand a trial another
trial's parameters when ``trialConcurrency`` > 1, upstream issue #5726); an epoch is complete
when NNI has ended every trial of it, so a crashed trial or one that reports NaN never stalls it.
State (policy, baseline, RNG, every result) is written atomically to the experiment's checkpoint
folder after every change, so ``nnictl resume`` picks up where it stopped, and the report reads it.
"""
from __future__ import annotations

import json
import logging
import math
import os
import pickle
import tempfile
import threading
import time
from pathlib import Path

from nni.tuner import Tuner

from nas_data.files import atomic_write
from nas_data.tabular import DatasetSpec, cached_split
from nni_plumbing.experiments import final_results, trial_states
from nni_plumbing.held_requests import HeldRequests
from nni_plumbing.resume import continue_after_resume

from .space import MAX_LAYERS, TokenSpace

_logger = logging.getLogger(__name__)

STATE_FILE = "mlp_nas_state.pkl"
HISTORY_FILE = "mlp_nas_history.json"
SAMPLERS = ("controller", "random")
KERAS_BACKENDS = ("torch", "tensorflow")
# What a warm trial server imports ahead of the trials (never NNI itself: see nni_plumbing.warm_start).
TRIAL_PRELOAD = ["numpy", "scipy.stats", "sklearn.neural_network", "sklearn.model_selection", "json_tricks", "psutil",
                 "nas_data.tabular", "mlp_nas.sklearn_mlp"]
RESULT_GRACE_S = 30.0  # how long a finished epoch waits for a result already on its way


def state_dir() -> Path:
    """The experiment's checkpoint folder when run by NNI, else a fresh temporary folder."""
    folder = os.environ.get("NNI_CHECKPOINT_DIRECTORY")
    return Path(folder) if folder else Path(tempfile.mkdtemp(prefix="mlp_nas_"))


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def validate_class_args(class_args: dict) -> None:
    """Raise ``ValueError`` naming the first bad ``classArgs`` entry (unknown key or bad value)."""
    import inspect

    known = set(inspect.signature(MLPNASTuner.__init__).parameters) - {"self"}
    unknown = sorted(set(class_args) - known - {"self", "__class__"})
    if unknown:
        raise ValueError(f"unknown tuner classArgs key(s) {unknown}; known keys: {sorted(known)}")
    args = {k: v for k, v in class_args.items() if k in known}
    if args.get("keras_backend", "torch") not in KERAS_BACKENDS:
        raise ValueError(f"keras_backend must be one of {KERAS_BACKENDS}, got {args['keras_backend']!r}")
    if args.get("sampler", "controller") not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {args['sampler']!r}")
    for name in ("controller_epochs", "archs_per_epoch", "max_epochs", "patience", "batch_size", "trial_threads",
                 "lstm_units"):
        if name in args:
            _positive_int(name, args[name])
    seed = args.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for name in ("controller_lr", "learning_rate"):
        if name in args and not (isinstance(args[name], (int, float)) and args[name] > 0):
            raise ValueError(f"{name} must be a positive number, got {args[name]!r}")
    TokenSpace(args.get("max_layers", MAX_LAYERS))


class MLPNASTuner(HeldRequests, Tuner):
    """Search MLP architectures with the LSTM controller (or uniform random sampling).

    Parameters are the ``classArgs`` of ``nni_config.yml``; every one has the seed study's default.
    """

    def __init__(self, dataset: str = "digits", label: str | None = None, drop: list | None = None, seed: int = 0,
                 sampler: str = "controller", controller_epochs: int = 10, archs_per_epoch: int = 10,
                 max_layers: int = 10, lstm_units: int = 128, controller_lr: float = 0.01,
                 entropy_weight: float = 1e-3, baseline_decay: float = 0.9, predictor: bool = False,
                 bigram_sharing: bool = False, sklearn_baseline: bool = True, max_epochs: int = 10,
                 patience: int = 3, batch_size: int = 64, learning_rate: float = 1e-3, trial_threads: int = 1,
                 keras_backend: str = "torch", warm_start: bool = True):
        validate_class_args(locals())
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.space = TokenSpace(max_layers)
        self.spec = DatasetSpec.parse(dataset, label, drop)
        self.dir = state_dir()
        self.split_path: str | None = None
        self.policy = None  # built by _setup(): NNI drops a tuner that takes 10 s to construct
        if warm_start and os.environ.get("NNI_CHECKPOINT_DIRECTORY"):
            from nni_plumbing import warm_start as warm

            # TensorFlow too with the torch backend: keras.utils.set_random_seed imports it. This order:
            # TensorFlow before torch and Keras segfaults with KERAS_BACKEND=torch on this stack.
            preload = TRIAL_PRELOAD + ["torch", "keras", "tensorflow", "mlp_nas.keras_model"]
            self._warm_server = warm.start_server(self.dir.parent.name, preload, {"KERAS_BACKEND": keras_backend},
                                                  log=self.dir.parent / "log" / "warm_start.log")
        self._lock = threading.Condition()
        self._held: list[int] = []        # parameter ids NNI asked for while an epoch was running
        self._queue: list[dict] = []      # parameters of this epoch not yet handed to NNI
        self._generation: set[int] = set()  # parameter ids of the trials the current epoch waits for
        self._ended: set[int] = set()
        self._failed: set[int] = set()
        self._result_count: dict[int, int] = {}
        self._issued: dict[int, int] = {}  # parameter id -> sample id handed out with it
        self.epoch = 0
        self.next_sample_id = 0
        self.records: dict[int, dict] = {}  # sample_id -> what was sampled and what came back
        self.epoch_stats: list[dict] = []
        self.mixups = 0
        self.finished = False
        self.started_at = time.time()

    def _setup(self) -> None:
        """The slow part of starting (data split, TensorFlow, first samples), done once, after NNI
        has connected: ``MsgDispatcher`` gives up on a tuner whose constructor takes 10 seconds."""
        if self.policy is not None:
            return
        c = self.config
        self.split_path = str(cached_split(self.spec, c["seed"], self.dir.parent / "data"))
        if c["sampler"] == "controller":
            from .policies import LSTMController

            self.policy = LSTMController(self.space, c["lstm_units"], learning_rate=c["controller_lr"],
                                         entropy_weight=c["entropy_weight"], baseline_decay=c["baseline_decay"],
                                         predictor=c["predictor"], seed=c["seed"])
        else:
            from .policies import UniformSampler

            self.policy = UniformSampler(self.space, seed=c["seed"])
        if c["sklearn_baseline"]:
            self._queue.append(self._new_sample("sklearn_default", None))
        self._start_epoch()

    # ----- sampling -----
    def _new_sample(self, method: str, arch: dict | None) -> dict:
        sid = self.next_sample_id
        self.next_sample_id += 1
        c = self.config
        params = {
            "method": method, "sample_id": sid, "epoch": None if arch is None else self.epoch, "arch": arch,
            "seed": c["seed"] * 100003 + sid,
            "data": {**self.spec.as_dict(), "seed": c["seed"], "cache": self.split_path},
            "train": {"max_epochs": c["max_epochs"], "patience": c["patience"], "batch_size": c["batch_size"],
                      "learning_rate": c["learning_rate"], "threads": c["trial_threads"],
                      "keras_backend": c["keras_backend"],
                      "bigram_dir": str(self.dir.parent / "bigram_weights") if c["bigram_sharing"] else None},
        }
        self.records[sid] = {"sample_id": sid, "method": method, "epoch": params["epoch"], "arch": arch,
                             "status": "sampled", "params": params}
        return params

    def _start_epoch(self) -> None:
        for tokens in self.policy.sample(self.config["archs_per_epoch"]):
            self._queue.append(self._new_sample(self.config["sampler"], self.space.from_tokens(tokens)))

    def _issue(self, parameter_id: int) -> dict:
        params = self._queue.pop(0)
        self._generation.add(parameter_id)
        self._issued[parameter_id] = params["sample_id"]
        self.records[params["sample_id"]].update(status="running", parameter_id=parameter_id)
        return params

    def _prepare(self) -> None:
        self._setup()

    def _has_ready(self) -> bool:
        return bool(self._queue)

    # ----- results -----
    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        # ``parameters`` is not used: NNI's dispatcher overwrites its copy with '' for the first id of a
        # request it answers with NO_MORE_TRIAL_JOBS; this tuner keeps its own map of what it issued.
        with self._lock:
            self._result_count[parameter_id] = self._result_count.get(parameter_id, 0) + 1
            self._record(parameter_id, value, kwargs.get("trial_job_id"))
            self._lock.notify_all()
            self._save()  # a result is never lost to a stop before its epoch ends
            self._maybe_finish_epoch(wait=False)

    def _record(self, parameter_id: int, value, trial_job_id=None) -> None:
        """Record a final result under the sample the trial says it trained (lock held)."""
        reported = value if isinstance(value, dict) else {"default": value}
        issued = self._issued.get(parameter_id)
        sid = reported.get("sample_id", issued)
        if sid != issued:
            self.mixups += 1
            _logger.warning("trial of parameter %s trained sample %s instead of %s (NNI issue #5726); "
                            "recording what it trained", parameter_id, sid, issued)
        record = self.records.get(sid)
        if record is None:
            _logger.warning("result for unknown sample %s ignored", sid)
        elif record["status"] == "done":
            _logger.warning("sample %s trained twice (NNI issue #5726); keeping the first result", sid)
        else:
            acc = reported.get("default")
            ok = isinstance(acc, (int, float)) and math.isfinite(acc)
            record.update({k: v for k, v in reported.items() if k not in ("default", "arch")},
                          status="done" if ok else "failed", accuracy=float(acc) if ok else None,
                          trained_arch=reported.get("arch", record["arch"]), trial_job_id=trial_job_id)

    def trial_end(self, parameter_id, success, **kwargs):
        with self._lock:
            self._ended.add(parameter_id)
            if not success:
                self._failed.add(parameter_id)
                for record in self.records.values():
                    if record.get("parameter_id") == parameter_id and record["status"] == "running":
                        record["status"] = "failed"
            self._maybe_finish_epoch(wait=True)

    def _outcomes(self) -> int:
        return sum(self._result_count.get(p, 0) for p in self._generation) + len(self._failed & self._generation)

    def _maybe_finish_epoch(self, wait: bool) -> None:
        """Update the policy once every trial of the epoch has ended (lock held)."""
        if self.finished or self._queue or not self._generation or not self._generation <= self._ended:
            return
        deadline = time.time() + RESULT_GRACE_S
        while wait and self._outcomes() < len(self._generation) and time.time() < deadline:
            self._lock.wait(0.2)  # a result NNI already sent may still be in the other queue
        if self.finished or not self._generation <= self._ended or self._queue:
            return  # another thread finished the epoch while this one waited
        self._finish_epoch()

    def _finish_epoch(self) -> None:
        """Update the policy from the epoch's results and sample the next epoch (lock held)."""
        for r in self.records.values():
            if r["status"] == "running" and r.get("parameter_id") in self._generation:
                r["status"] = "failed"  # ended without a result
        done = [r for r in self.records.values() if r["epoch"] == self.epoch and r["status"] == "done"]
        stats = {"epoch": self.epoch, "n_results": len(done),
                 "mean_reward": sum(r["accuracy"] for r in done) / len(done) if done else None,
                 "max_reward": max((r["accuracy"] for r in done), default=None),
                 "wall_s": time.time() - self.started_at}
        if done:
            tokens = [self.space.to_tokens(r["trained_arch"]) for r in done]
            accs = [r["accuracy"] for r in done]
            stats.update(self.policy.update(tokens, accs, accs))
        self.epoch_stats.append(stats)
        _logger.info("controller epoch %d: %s", self.epoch, stats)
        self._generation, self._ended, self._failed, self._result_count = set(), set(), set(), {}
        self.epoch += 1
        if self.epoch >= self.config["controller_epochs"]:
            self.finished = True
            self._save()
            return
        self._start_epoch()
        self._serve_held()
        self._save()

    # ----- persistence -----
    def history(self) -> dict:
        """Everything the report needs, as plain JSON."""
        return {"config": self.config, "split": self.split_path, "finished": self.finished, "epoch": self.epoch,
                "mixups": self.mixups, "epochs": self.epoch_stats,
                "samples": [{k: v for k, v in r.items() if k != "params"}
                            for r in sorted(self.records.values(), key=lambda r: r["sample_id"])]}

    def _save(self) -> None:
        history = self.history()
        atomic_write(self.dir / HISTORY_FILE, lambda f: json.dump(history, f, indent=1, default=float))
        state = {"policy": self.policy.state(), "epoch": self.epoch, "next_sample_id": self.next_sample_id,
                 "records": self.records, "epoch_stats": self.epoch_stats, "mixups": self.mixups,
                 "finished": self.finished, "queue": [p["sample_id"] for p in self._queue],
                 "issued": self._issued}
        atomic_write(self.dir / STATE_FILE, lambda f: pickle.dump(state, f), binary=True)

    def save_checkpoint(self):
        with self._lock:
            self._save()

    def load_checkpoint(self):
        """On ``nnictl resume``: restore the policy, results and parameter ids. NNI re-runs the trials the
        stop interrupted under their old ids; their results and ends then count as usual
        (``nni_plumbing/resume.py``), so the epoch they belong to completes as if never stopped."""
        path = self.dir / STATE_FILE
        if not path.exists():
            return
        with self._lock, path.open("rb") as f:
            self._setup()
            state = pickle.load(f)
            self.policy.load_state(state["policy"])
            self.epoch, self.next_sample_id = state["epoch"], state["next_sample_id"]
            self.records, self.epoch_stats = state["records"], state["epoch_stats"]
            self.mixups, self.finished = state["mixups"], state["finished"]
            self._issued = dict(state.get("issued", {}))
            self._queue = [self.records[sid]["params"] for sid in state["queue"]]
            self._generation, self._ended, self._failed, self._result_count = set(), set(), set(), {}
            self._reconcile_interrupted()
            continue_after_resume(max(self._issued, default=-1) + 1)
            if not (self.finished or self._queue or self._generation):
                self._finish_epoch()  # stopped after the epoch's last result, before its update
            self._save()

    def _reconcile_interrupted(self) -> None:
        """Sort the samples that were running at the stop by what NNI's database says of their trial:
        waiting or running -> NNI re-runs it, keep waiting for it; ended -> take its final result from the
        database (or count it failed); never made a trial (handed out just before the stop) -> hand out again."""
        states = trial_states(self.dir.parent)
        finals = {r["parameter_id"]: r for r in final_results(self.dir.parent)} if states else {}
        requeue = []
        for record in sorted(self.records.values(), key=lambda r: r["sample_id"]):
            if record["status"] != "running":
                continue
            pid = record["parameter_id"]
            state = states.get(pid)
            if state in ("WAITING", "RUNNING", "ADD_RESUMED"):  # NNI marks what it re-runs ADD_RESUMED
                self._generation.add(pid)
            elif state is None:
                record["status"] = "sampled"
                requeue.append(record["params"])
            elif pid in finals:
                self._record(pid, {k: v for k, v in finals[pid].items() if k not in ("parameter_id", "trial_job_id")},
                             finals[pid]["trial_job_id"])
            else:
                record["status"] = "failed"
        self._queue = requeue + self._queue

    def update_search_space(self, search_space):
        """Called once NNI is connected: do the slow setup here (nnictl's search space is not
        used; the token space is fixed by classArgs)."""
        with self._lock:
            self._setup()

    def import_data(self, data):
        pass  # results of earlier runs come back through load_checkpoint
