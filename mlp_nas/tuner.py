"""The MLP NAS controller as a custom NNI tuner (``nni_config.yml``: ``tuner.className``).

Each controller epoch samples ``archs_per_epoch`` architectures, waits for all their trials and
then updates the policy once (strictly on-policy): while it waits, trial requests are held back
and served later through NNI's ``st_callback`` (``nni_plumbing/held_requests.py``). After
``controller_epochs`` epochs it raises ``NoMoreTrialError``.

Bookkeeping is keyed on what each trial reports it trained (NNI 3.0 can hand a trial another
trial's parameters when ``trialConcurrency`` > 1, NNI's concurrency mix-up, docs/design.md); an epoch is complete
when NNI has ended every trial of it, so a crashed trial or one that reports NaN never stalls it.
The bookkeeping every tuner shares (results under what the trial trained, failures, held requests,
JSON state, resume, warm server) is ``nni_plumbing.tuner_base.TunerBase``; this module keeps only the
controller epochs. ``mlp_nas_history.json`` beside the state is what the report reads.

``halving_rungs`` > 1 runs successive halving inside each controller epoch (``mlp_nas.halving``): the epoch's
candidates train for a fraction of ``max_epochs``, the best third (``halving_eta``) again for three times as
long, and so on up to ``max_epochs``; a rung is complete when NNI has ended every trial of it. The policy updates
once per controller epoch, after its last rung, rewarding each candidate by its place in the epoch's tournament.
"""
from __future__ import annotations

import json
import logging
import time

import numpy as np

from nas_data.files import atomic_write
from nas_data.tabular import DatasetSpec, cached_split, read_split
from nni_plumbing import labels
from nni_plumbing.tuner_base import RESULT_GRACE_S, TunerBase, positive_int, reports_errors, trial_seed

from .halving import promote, rung_budgets, survivors, tournament_rewards
from .space import MAX_LAYERS, TokenSpace, check_prior

_logger = logging.getLogger(__name__)

STATE_FILE = "mlp_nas_state.json"
HISTORY_FILE = "mlp_nas_history.json"
SAMPLERS = ("controller", "random")
KERAS_BACKENDS = ("torch", "tensorflow")
# What a warm trial server imports ahead of the trials (never NNI itself: see nni_plumbing.warm_start).
TRIAL_PRELOAD = ["numpy", "scipy.stats", "sklearn.neural_network", "sklearn.model_selection", "json_tricks", "psutil",
                 "nas_data.tabular", "mlp_nas.sklearn_mlp"]


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
    check_prior(args.get("prior", "tokens"))
    for name in ("controller_epochs", "archs_per_epoch", "max_epochs", "patience", "batch_size", "trial_threads",
                 "lstm_units", "halving_rungs"):
        if name in args:
            positive_int(name, args[name])
    eta = args.get("halving_eta", 3)
    if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
        raise ValueError(f"halving_eta must be an integer of at least 2, got {eta!r}")
    rungs, max_epochs = args.get("halving_rungs", 1), args.get("max_epochs", 10)
    most = 1  # the most rungs that each train longer than the one before (more rungs only add 1-epoch ones)
    while len(set(rung_budgets(max_epochs, most + 1, eta))) == most + 1:
        most += 1
    if rungs > 1 and args.get("archs_per_epoch", 10) < 2:
        raise ValueError("halving_rungs > 1 needs archs_per_epoch >= 2: a rung of one candidate has nothing to "
                         "choose from, and the controller would learn nothing; raise archs_per_epoch or set "
                         "halving_rungs: 1")
    if rungs > most:
        shown = f" (rung budgets {rung_budgets(max_epochs, rungs, eta)})" if rungs <= 8 else ""
        fix = f"use halving_rungs <= {most}"
        if rungs <= 8 and eta ** (rungs - 1) <= 10 ** 6:  # max_epochs = eta**(rungs-1) always works: a short search
            least = next(m for m in range(1, eta ** (rungs - 1) + 1) if len(set(rung_budgets(m, rungs, eta))) == rungs)
            fix += f" or max_epochs >= {least}"
        raise ValueError(f"halving_rungs={rungs} with halving_eta={eta} and max_epochs={max_epochs} has rungs that "
                         f"do not train longer than the one before{shown}; {fix}")
    seed = args.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for name in ("controller_lr", "learning_rate"):
        if name in args and not (isinstance(args[name], (int, float)) and args[name] > 0):
            raise ValueError(f"{name} must be a positive number, got {args[name]!r}")
    for name in ("predictor", "bigram_sharing", "sklearn_baseline", "warm_start", "train_tokens"):
        # "false" in a hand-written config is truthy; NumPy's bools (scikit-learn passes them on) are fine
        if name in args and not isinstance(args[name], (bool, np.bool_)):
            raise ValueError(f"{name} must be true or false, got {args[name]!r}")
    TokenSpace(args.get("max_layers", MAX_LAYERS))


class MLPNASTuner(TunerBase):
    """Search MLP architectures with the LSTM controller (or uniform random sampling).

    Parameters are the ``classArgs`` of ``nni_config.yml``; every one has the MLP NAS study's default.
    ``train_tokens``: the sampler also picks each candidate's learning rate, L2 and batch size
    (``mlp_nas.space.TRAIN_CHOICES``); they replace the ``learning_rate`` and ``batch_size`` classArgs for that
    candidate (L2 has no classArg: 0 without the tokens).
    ``prior``: where the sampler starts (``mlp_nas.space``): ``"tokens"``, every valid token alike (the seed
    study's), or ``"layerwise"``, the distribution NNI's tuners draw from the nnictl export.
    ``halving_rungs`` / ``halving_eta``: successive halving inside each controller epoch (``mlp_nas.halving``);
    1 rung (the default) trains every candidate up to ``max_epochs``.
    """

    STATE_FILE = STATE_FILE

    @reports_errors
    def __init__(self, dataset: str = "digits", label: str | None = None, drop: list | None = None, seed: int = 0,
                 sampler: str = "controller", controller_epochs: int = 10, archs_per_epoch: int = 10,
                 max_layers: int = 10, lstm_units: int = 128, controller_lr: float = 0.01,
                 entropy_weight: float = 1e-3, baseline_decay: float = 0.9, predictor: bool = False,
                 bigram_sharing: bool = False, sklearn_baseline: bool = True, max_epochs: int = 10,
                 patience: int = 3, batch_size: int = 64, learning_rate: float = 1e-3, trial_threads: int = 1,
                 keras_backend: str = "torch", warm_start: bool = True, train_tokens: bool = False,
                 halving_rungs: int = 1, halving_eta: int = 3, prior: str = "tokens"):
        validate_class_args(locals())
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        super().__init__()
        self.space = TokenSpace(max_layers, train_tokens=train_tokens)
        self.spec = DatasetSpec.parse(dataset, label, drop)
        self.split_path: str | None = None
        self.policy = None  # built by _setup(): NNI drops a tuner that takes 10 s to construct
        self._queue: list[int] = []       # sample ids of this epoch not yet handed to NNI
        self._generation: set[int] = set()  # parameter ids of the trials the current epoch waits for
        self._ended: set[int] = set()
        self.epoch = 0
        self.rung = 0  # the halving rung the current epoch is training
        self.budgets = rung_budgets(max_epochs, halving_rungs, halving_eta)
        self.epoch_stats: list[dict] = []
        self.finished = False
        self.started_at = time.time()

    def _warm_preload(self):
        if not self.config["warm_start"]:
            return None
        # TensorFlow too with the torch backend: keras.utils.set_random_seed imports it. This order:
        # TensorFlow before torch and Keras segfaults with KERAS_BACKEND=torch on this stack.
        preload = TRIAL_PRELOAD + ["torch", "keras", "tensorflow", "mlp_nas.keras_model"]
        return preload, {"KERAS_BACKEND": self.config["keras_backend"]}

    def _setup(self) -> None:
        """The slow part of starting (data split, TensorFlow, first samples), done once, after NNI
        has connected: ``MsgDispatcher`` gives up on a tuner whose constructor takes 10 seconds."""
        c = self.config
        self.split_path = str(cached_split(self.spec, c["seed"], self.dir.parent / "data"))
        split = read_split(self.split_path)
        self._shape = (int(split.x_train.shape[1]), int(split.n_classes))  # for n_params in the web UI
        if c["sampler"] == "controller":
            from .policies import LSTMController

            self.policy = LSTMController(self.space, c["lstm_units"], learning_rate=c["controller_lr"],
                                         entropy_weight=c["entropy_weight"], baseline_decay=c["baseline_decay"],
                                         predictor=c["predictor"], seed=c["seed"], prior=c["prior"])
        else:
            from .policies import UniformSampler

            self.policy = UniformSampler(self.space, seed=c["seed"], prior=c["prior"])
        if c["sklearn_baseline"]:
            self._queue.append(self._sample("sklearn_default", None))
        self._start_epoch()

    # ----- sampling -----
    def _sample(self, method: str, arch: dict | None, promoted_from: int | None = None) -> int:
        sid = self.next_sample_id
        c = self.config
        epoch = None if arch is None else self.epoch
        params = {
            "method": method, "sample_id": sid, "epoch": epoch, "arch": arch, "seed": trial_seed(c["seed"], sid),
            "data": {**self.spec.as_dict(), "seed": c["seed"], "cache": self.split_path},
            "train": {"max_epochs": c["max_epochs"] if arch is None else self.budgets[self.rung],
                      "patience": c["patience"], "batch_size": c["batch_size"],
                      "learning_rate": c["learning_rate"], "threads": c["trial_threads"],
                      "keras_backend": c["keras_backend"],
                      "bigram_dir": str(self.dir.parent / "bigram_weights") if c["bigram_sharing"] else None},
        }
        if arch is not None and arch.get("train"):  # the training tokens: what the trial trains with, as NNI shows it
            params["train"].update(arch["train"])
        # flat, readable entries for NNI's trial table and hyper-parameter view (the trial ignores them)
        shape = getattr(self, "_shape", (None, None))
        params.update(labels.mlp(arch, *shape) if arch is not None else {labels.ARCH_KEY: "sklearn MLPClassifier default"})
        fields = {"method": method, "epoch": epoch, "arch": arch}
        if arch is not None and c["halving_rungs"] > 1:
            params.update(rung=self.rung, promoted_from=promoted_from)
            fields.update(rung=self.rung, promoted_from=promoted_from)
        return self._add_record(params, sid, **fields)

    def _start_epoch(self) -> None:
        self.rung = 0
        for tokens in self.policy.sample(self.config["archs_per_epoch"]):
            self._queue.append(self._sample(self.config["sampler"], self.space.from_tokens(tokens)))

    def _has_new(self) -> bool:
        return bool(self._queue)

    def _new_sample(self, parameter_id: int) -> int:
        return self._queue.pop(0)

    def _on_issue(self, parameter_id: int, sid: int) -> None:
        self._generation.add(parameter_id)

    def _on_rerun(self, parameter_id: int, record: dict) -> None:
        self._generation.add(parameter_id)

    # ----- results -----
    def _on_result(self, sid: int, record: dict, reported: dict, ok: bool) -> None:
        record.update({k: v for k, v in reported.items() if k not in ("default", "arch")},
                      accuracy=float(reported["default"]) if ok else None,
                      trained_arch=reported.get("arch", record["arch"]))

    def _after_result(self, parameter_id: int) -> None:
        self._maybe_finish_rung(wait=False)

    def _on_end(self, parameter_id: int, success: bool) -> None:
        self._ended.add(parameter_id)
        self._maybe_finish_rung(wait=True)

    def _outcomes(self) -> int:
        """Trials of the epoch whose result (or failure) is in."""
        return sum(1 for p in self._generation
                   if self._result_count.get(p) or self.records[self._issued[p]]["status"] not in ("running",))

    def _maybe_finish_rung(self, wait: bool) -> None:
        """Promote (or update the policy) once every trial of the rung has ended (lock held)."""
        if self.finished or self._queue or self._requeue or not self._generation or not self._generation <= self._ended:
            return
        deadline = time.time() + RESULT_GRACE_S
        while wait and self._outcomes() < len(self._generation) and time.time() < deadline:
            self._lock.wait(0.2)  # a result NNI already sent may still be in the other queue
        if self.finished or not self._generation <= self._ended or self._queue or self._requeue:
            return  # another thread finished the rung while this one waited
        self._finish_rung()

    def _finish_rung(self) -> None:
        """Promote the rung's best to the next rung, or after the last rung end the epoch (lock held)."""
        for pid in self._generation:
            self._end(pid, True)  # ended without a result: failed
        self._generation, self._ended = set(), set()
        c = self.config
        if self.rung + 1 < c["halving_rungs"]:
            done = [r for r in self.records.values()
                    if r["epoch"] == self.epoch and r.get("rung", 0) == self.rung and r["status"] == "done"]
            keep = promote(done, survivors(c["archs_per_epoch"], c["halving_rungs"], c["halving_eta"])[self.rung + 1])
            if keep:
                self.rung += 1
                for record in keep:
                    self._queue.append(self._sample(c["sampler"], record["trained_arch"], record["sample_id"]))
                _logger.info("controller epoch %d: rung %d trains %d candidates for %d epochs", self.epoch, self.rung,
                             len(keep), self.budgets[self.rung])
                return
        self._finish_epoch()

    def _finish_epoch(self) -> None:
        """Update the policy from the epoch's results and sample the next epoch (lock held).

        The reward is the validation accuracy; with halving it is the candidate's place in the epoch's
        tournament (``mlp_nas.halving.tournament_rewards``), and the epoch's statistics are those of the
        first rung, where every candidate trained the same budget."""
        mine = [r for r in self.records.values() if r["epoch"] == self.epoch and r["status"] == "done"]
        done = [r for r in mine if r.get("rung", 0) == 0]
        stats = {"epoch": self.epoch, "n_results": len(done),
                 "mean_reward": sum(r["accuracy"] for r in done) / len(done) if done else None,
                 "max_reward": max((r["accuracy"] for r in done), default=None),
                 "wall_s": time.time() - self.started_at}
        if self.config["halving_rungs"] > 1:
            top = [r for r in mine if r.get("rung", 0) == self.rung]
            stats.update(rungs_trained=self.rung + 1, top_rung_best=max((r["accuracy"] for r in top), default=None))
        if done:
            tokens = [self.space.to_tokens(r["trained_arch"]) for r in done]
            accs = [r["accuracy"] for r in done]
            rewards = accs
            if self.config["halving_rungs"] > 1:
                rewards = tournament_rewards(done, [r for r in mine if r.get("rung", 0) > 0])
            stats.update(self.policy.update(tokens, rewards, accs))
        self.epoch_stats.append(stats)
        _logger.info("controller epoch %d: %s", self.epoch, stats)
        self.epoch += 1
        if self.epoch >= self.config["controller_epochs"]:
            self.finished = True
            return
        self._start_epoch()

    # ----- persistence -----
    def history(self) -> dict:
        """Everything the report needs, as plain JSON."""
        return {"config": self.config, "split": self.split_path, "finished": self.finished, "epoch": self.epoch,
                "mixups": self.mixups, "failures": self.failures, "epochs": self.epoch_stats,
                "samples": [{k: v for k, v in r.items() if k not in ("params", "reported", "value")}
                            for r in sorted(self.records.values(), key=lambda r: r["sample_id"])]}

    def _save(self) -> None:
        history = self.history()
        atomic_write(self.dir / HISTORY_FILE, lambda f: json.dump(history, f, indent=1, default=float))
        super()._save()

    def _own_state(self) -> dict:
        return {"policy": self.policy.state(), "epoch": self.epoch, "rung": self.rung, "epoch_stats": self.epoch_stats,
                "queue": list(self._queue)}

    def _load_own_state(self, state: dict) -> None:
        self.policy.load_state(state["policy"])
        self.epoch, self.epoch_stats, self.finished = state["epoch"], state["epoch_stats"], state["finished"]
        self.rung = state.get("rung", 0)
        self._queue = list(state["queue"])
        # The epoch now waits only for the trials NNI re-runs (added by the base's reconciliation) and the
        # samples handed out again; results that came in before the stop are already in the records.
        self._generation, self._ended = set(), set()

    def _after_resume(self) -> None:
        if not (self.finished or self._queue or self._requeue or self._generation):
            self._finish_rung()  # stopped after the rung's last result, before its promotion or update

    def _on_search_space(self, search_space) -> None:
        pass  # nnictl's search space is not used: the token space is fixed by classArgs
