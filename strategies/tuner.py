"""Multi-trial door: an NNI tuner that drives any policy over a paper space's nnictl search space, each
trial training one sampled architecture (``trials/train_arch.py``).

The config's ``searchSpaceFile`` is the space's export (``python -m nni_spaces NAME --export FILE``); the
tuner checks it against the space named in ``classArgs``. Each result is recorded under the sample the
trial says it trained (NNI can hand a trial another trial's parameters, DESIGN.md), and the policy is
updated whenever ``samples_per_update`` results are in. State is checkpointed after every result.
"""
from __future__ import annotations

import logging
import math
import os
import pickle
import threading
from pathlib import Path

from nni.tuner import Tuner

from nas_data.files import atomic_write
from nni_plumbing.resume import continue_after_resume

_logger = logging.getLogger(__name__)
STATE_FILE = "policy_tuner_state.pkl"


class PolicyTuner(Tuner):
    """``classArgs``: ``space`` and ``space_args`` (as ``nni_spaces.make_space``), ``policy`` and
    ``policy_args`` (as ``strategies.make_policy``), ``seed``, and the trials' ``data``, ``data_dir``,
    ``epochs``, ``batch_size``, ``threads`` (torch threads per trial: cores / trialConcurrency)."""

    def __init__(self, space: str = "ednas-cell", space_args: dict | None = None, policy: str = "ednas",
                 policy_args: dict | None = None, seed: int = 0, data: str = "digits", data_dir: str | None = None,
                 epochs: int = 5, batch_size: int = 64, threads: int = 1):
        from . import POLICY_CLASSES, SPACE_NAMES

        if space not in SPACE_NAMES or policy not in POLICY_CLASSES:
            raise ValueError(f"classArgs: space must be one of {list(SPACE_NAMES)} and policy one of "
                             f"{list(POLICY_CLASSES)}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"classArgs: seed must be a non-negative integer, got {seed!r}")
        self.spec = {"name": space, "args": dict(space_args or {})}
        self.train = {"data": data, "data_dir": data_dir, "epochs": epochs, "batch_size": batch_size, "seed": seed,
                      "threads": threads}
        self.policy_spec = (policy, dict(policy_args or {}), seed)
        self.space = self.policy = None  # built once NNI has connected (NNI drops a tuner slow to construct)
        self.dir = Path(os.environ.get("NNI_CHECKPOINT_DIRECTORY", "."))
        if os.environ.get("NNI_CHECKPOINT_DIRECTORY"):  # trials fork from a server with torch imported
            from nni_plumbing import warm_start as warm

            self._warm_server = warm.start_server(self.dir.parent.name, warm.TORCH_TRIAL_PRELOAD,
                                                  log=self.dir.parent / "log" / "warm_start.log")
        self._lock = threading.Lock()
        self.records: dict[int, dict] = {}
        self.pending: list[int] = []
        self.next_sample_id = 0
        self.mixups = 0

    def _setup(self) -> None:
        if self.space is None:
            from nni_spaces import make_space

            from . import make_policy

            self.space = make_space(self.spec["name"], **self.spec["args"])
            name, args, seed = self.policy_spec
            self.policy = make_policy(name, self.space, seed=seed, **args)

    def update_search_space(self, search_space):
        with self._lock:
            self._setup()
            if search_space and search_space != self.space.to_nnictl():
                raise ValueError(f"the experiment's search space is not the nnictl export of {self.spec}: write it "
                                 f"with python -m nni_spaces {self.spec['name']} --export FILE (same options)")

    def generate_parameters(self, parameter_id, **kwargs):
        with self._lock:
            self._setup()
            arch = self.policy.sample()
            sid = self.next_sample_id
            self.next_sample_id += 1
            self.records[sid] = {"sample_id": sid, "arch": arch, "parameter_id": parameter_id, "status": "running"}
            self._save()
            return {**self.space.nnictl_params(arch), "_sample_id": sid, "_space": self.spec, "_train": self.train}

    def receive_trial_result(self, parameter_id, parameters, value, **kwargs):
        with self._lock:
            reported = value if isinstance(value, dict) else {"default": value}
            sid = reported.get("sample_id")
            record = self.records.get(sid)
            if record is None or record["status"] != "running":
                _logger.warning("result for sample %s ignored (unknown or already recorded)", sid)
                return
            if record["parameter_id"] != parameter_id:
                self.mixups += 1  # NNI issue #5726: recorded under what the trial trained
            acc = reported.get("default")
            ok = isinstance(acc, (int, float)) and math.isfinite(acc)
            record.update(status="done" if ok else "failed", accuracy=float(acc) if ok else None,
                          trained_arch=reported.get("arch", record["arch"]))
            if ok:
                self.pending.append(sid)
            if len(self.pending) >= self.policy.hparams["samples_per_update"]:
                batch = [self.records[s] for s in self.pending]
                stats = self.policy.update([r["trained_arch"] for r in batch], [r["accuracy"] for r in batch])
                _logger.info("policy update %d from samples %s: %s", self.policy.updates, self.pending, stats)
                self.pending = []
            self._save()

    def _save(self) -> None:
        state = {"policy": self.policy.state(), "records": self.records, "pending": self.pending,
                 "next_sample_id": self.next_sample_id, "mixups": self.mixups}
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.dir / STATE_FILE, lambda f: pickle.dump(state, f), binary=True)

    def load_checkpoint(self):
        path = self.dir / STATE_FILE
        if path.exists():
            with self._lock, path.open("rb") as f:
                self._setup()
                state = pickle.load(f)
                self.policy.load_state(state["policy"])
                self.records, self.pending = state["records"], state["pending"]
                self.next_sample_id, self.mixups = state["next_sample_id"], state["mixups"]
                continue_after_resume(max((r["parameter_id"] for r in self.records.values()), default=-1) + 1)

    def save_checkpoint(self):
        with self._lock:
            if self.policy is not None:
                self._save()

    def import_data(self, data):
        pass
