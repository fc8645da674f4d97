"""Multi-trial door: an NNI tuner that drives any policy over a paper space's nnictl search space, each
trial training one sampled architecture (``trials/train_arch.py``).

The config's ``searchSpaceFile`` is the space's export (``python -m nni_spaces NAME --export FILE``); the
tuner checks it against the space named in ``classArgs``. Each result is recorded under the sample the
trial says it trained (NNI can hand a trial another trial's parameters: the concurrency mix-up in
docs/design.md), and the policy is updated
whenever ``samples_per_update`` results are in. The shared bookkeeping (failures, held requests, JSON state,
resume, warm server) is ``nni_plumbing.tuner_base.TunerBase``; the policy's torch state goes into the JSON
as nested lists (:func:`to_plain`).
"""
from __future__ import annotations

import logging

from nni_plumbing import labels
from nni_plumbing.tuner_base import TunerBase, reports_errors

_logger = logging.getLogger(__name__)
STATE_FILE = "policy_tuner_state.json"


def to_plain(obj):
    """A policy's state (tensors, optimizer state with int keys, tuples) as JSON-able values: tensors become numpy
    arrays (which the tuner base writes as lists with their dtype); :func:`from_plain` inverts it exactly."""
    import torch

    if isinstance(obj, torch.Tensor):
        return {"__tensor__": obj.detach().cpu().numpy()}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: to_plain(v) for k, v in obj.items()}
        return {"__items__": [[to_plain(k), to_plain(v)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [to_plain(v) for v in obj]}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    return obj


def from_plain(obj):
    import torch

    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return torch.from_numpy(obj["__tensor__"].copy())
        if "__items__" in obj:
            return {from_plain(k): from_plain(v) for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(from_plain(v) for v in obj["__tuple__"])
        return {k: from_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_plain(v) for v in obj]
    return obj


class PolicyTuner(TunerBase):
    """``classArgs``: ``space`` and ``space_args`` (as ``nni_spaces.make_space``), ``policy`` and
    ``policy_args`` (as ``strategies.make_policy``), ``seed``, and the trials' ``data``, ``data_dir``,
    ``epochs``, ``batch_size``, ``threads`` (torch threads per trial: cores / trialConcurrency)."""

    STATE_FILE = STATE_FILE

    @reports_errors
    def __init__(self, space: str = "ednas-cell", space_args: dict | None = None, policy: str = "ednas",
                 policy_args: dict | None = None, seed: int = 0, data: str = "digits", data_dir: str | None = None,
                 epochs: int = 5, batch_size: int = 64, threads: int = 1):
        from . import POLICY_CLASSES, SPACE_NAMES

        if space not in SPACE_NAMES or policy not in POLICY_CLASSES:
            raise ValueError(f"classArgs: space must be one of {list(SPACE_NAMES)} and policy one of "
                             f"{list(POLICY_CLASSES)}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"classArgs: seed must be a non-negative integer, got {seed!r}")
        super().__init__()
        self.spec = {"name": space, "args": dict(space_args or {})}
        self.train = {"data": data, "data_dir": data_dir, "epochs": epochs, "batch_size": batch_size, "seed": seed,
                      "threads": threads}
        self.policy_spec = (policy, dict(policy_args or {}), seed)
        self.space = self.policy = None  # built once NNI has connected (NNI drops a tuner slow to construct)
        self.pending: list[int] = []  # samples with a result the policy has not learned from yet

    def _warm_preload(self):
        from nni_plumbing import warm_start

        return warm_start.TORCH_TRIAL_PRELOAD, {}  # trials fork from a server with torch imported

    def _setup(self) -> None:
        from nni_spaces import make_space

        from . import make_policy

        self.space = make_space(self.spec["name"], **self.spec["args"])
        name, args, seed = self.policy_spec
        self.policy = make_policy(name, self.space, seed=seed, **args)

    def _on_search_space(self, search_space) -> None:
        if search_space and search_space != self.space.to_nnictl():
            raise ValueError(f"the experiment's search space is not the nnictl export of {self.spec}: write it "
                             f"with python -m nni_spaces {self.spec['name']} --export FILE (same options)")

    def _has_new(self) -> bool:
        return True  # samples on demand; NNI's maxTrialNumber ends the search

    def _new_sample(self, parameter_id: int) -> int:
        arch = self.policy.sample()
        sid = self.next_sample_id
        params = {**self.space.nnictl_params(arch), "_sample_id": sid, "_space": self.spec, "_train": self.train,
                  **labels.cell(self.space.genotype(arch))}  # a short genotype string for NNI's web UI
        return self._add_record(params, sid, arch=arch)

    def _on_result(self, sid: int, record: dict, reported: dict, ok: bool) -> None:
        record.update(accuracy=float(reported["default"]) if ok else None,
                      trained_arch=reported.get("arch", record["arch"]))
        if not ok:
            return
        self.pending.append(sid)
        if len(self.pending) >= self.policy.hparams["samples_per_update"]:
            batch = [self.records[s] for s in self.pending]
            stats = self.policy.update([r["trained_arch"] for r in batch], [r["accuracy"] for r in batch])
            _logger.info("policy update %d from samples %s: %s", self.policy.updates, self.pending, stats)
            self.pending = []

    def _own_state(self) -> dict:
        return {"policy": {"updates": self.policy.updates, "state": to_plain(self.policy.state())},
                "pending": self.pending}

    def _load_own_state(self, state: dict) -> None:
        self.policy.load_state(from_plain(state["policy"]["state"]))
        self.pending = list(state["pending"])
