"""One NNI experiment per study: the tuner hands out the study's weight-sharing searches, and, as their
results come in, the retraining of the architectures each study needs (``trials/study_trial.py`` runs
both). The web UI shows every search and every retraining; ``python -m studies.report`` turns the
finished experiment into tables and plots.

Studies (``classArgs.study``):

- ``learning-progress`` (the learning-progress study, Singh et al. 2019, Table 1): per policy and seed, a
  search that also derives its best architecture after the first epoch; the first-epoch and the final
  architecture are both retrained.
- ``reward-vs-accuracy`` (Singh et al. 2019, Figure 1; Singh's ENAS thesis 2019, Table 3): per policy and
  seed, a search that samples ``k`` architectures after epoch ``probe_epoch`` and scores them with the shared
  weights; all retrained.
- ``search-vs-random`` (Is NAS really worth it?, Yang 2020): ``k`` uniform samples of the space retrained, and
  each policy's final architecture per seed.
- ``tricks-ablation`` (Yang 2020, the training tricks): the same ``k`` uniform samples and each policy's final
  architecture per seed, each retrained without tricks, with each of ``tricks`` alone and with all of them, so
  each trick's gain is measured on the same architectures, beside the gain of search over random.
- ``controller-transfer`` (Singh's ENAS thesis 2019, section 5.1): per policy and seed, a search on ``data`` (A),
  then a search on ``transfer_data`` (B) whose policy starts from A's trained parameters, and a search on B
  from scratch with the same budget (``transfer_search``); both B picks retrained on B.

Every retraining uses the same protocol and retraining seed, so accuracies compare. The number of jobs is
known from the start (:meth:`StudyTuner.total_jobs`; the config's ``maxTrialNumber`` must equal it): a
search that fails is replaced by "skip" jobs for the retrainings it would have asked for. Requests NNI makes
while the next jobs wait on a search are held and served through NNI's ``st_callback`` when they exist
(a ``NoMoreTrialError`` would leave the experiment in ``TUNER_NO_MORE_TRIAL`` for good). Results are matched
to jobs by the ``job`` number each trial reports, never by NNI's parameter bookkeeping (NNI's concurrency mix-up);
that bookkeeping, failures, JSON state and resume come from ``nni_plumbing.tuner_base.TunerBase``.
"""
from __future__ import annotations

import logging
from functools import cached_property

from nni_plumbing import labels
from nni_plumbing.tuner_base import TunerBase, is_finite_number, reports_errors

from .class_args import SEARCH_DEFAULTS, TRICKS, check_study_args  # names only: no torch before NNI's deadline

_logger = logging.getLogger(__name__)
STATE_FILE = "study_tuner_state.json"


def study_finished(state: dict) -> bool:
    """Whether a study tuner's state (as saved) has every job reported or failed and none left to hand out."""
    return not state["queue"] and all(j["kind"] == "skip" or str(j["job"]) in state["done"] for j in state["jobs"])


class StudyTuner(TunerBase):
    """``classArgs``: ``study`` (one of ``studies.class_args.STUDIES``), ``space`` and ``space_args`` (the search network),
    ``retrain_space_args`` (the retrained network; default the same), ``policies``, ``seeds``, ``data`` and
    ``data_dir``, ``search`` (WeightSharingSearch options: epochs, batch_size, final_samples), ``retrain``
    (train_arch options: epochs, batch_size, lr, cutout, drop_path, auxiliary), ``retrain_seed``, ``k``,
    ``probe_epoch`` (default: the middle epoch), ``tricks`` (the tricks-ablation's, default all of :data:`TRICKS`),
    ``transfer_data`` / ``transfer_data_dir`` / ``transfer_search`` (the controller transfer's data set B and its
    searches' options over ``search``; B's searches need the trials to share a file system with A's), ``threads``
    (torch threads per trial), ``warm_start`` (trials on this machine fork from a server that has imported torch and
    Lightning already, ``nni_plumbing/warm_start.py``).
    Sample ids are job numbers."""

    STATE_FILE = STATE_FILE

    @reports_errors
    def __init__(self, study: str = "learning-progress", space: str = "darts", space_args: dict | None = None,
                 retrain_space_args: dict | None = None, policies=("ednas",), seeds=(0, 1, 2), data: str = "digits",
                 data_dir: str | None = None, search: dict | None = None, retrain: dict | None = None,
                 retrain_seed: int = 0, k: int = 20, probe_epoch: int | None = None, tricks=TRICKS,
                 transfer_data: str = "digits-hard", transfer_data_dir: str | None = None,
                 transfer_search: dict | None = None, threads: int = 1, warm_start: bool = True):
        args = {key: list(value) if isinstance(value, tuple) else value for key, value in locals().items()
                if key != "self"}  # the parameters as NNI passes them, checked where the front end checks them
        check_study_args(args)
        policies, seeds, tricks = args["policies"], args["seeds"], args["tricks"]
        search = {**SEARCH_DEFAULTS, **(search or {})}
        epochs = search["epochs"]
        probe_epoch = epochs // 2 if probe_epoch is None else probe_epoch
        self.study, self.k = study, k
        self.data = {"name": data, "data_dir": data_dir, "threads": threads}
        self.transfer_data = {"name": transfer_data, "data_dir": transfer_data_dir, "threads": threads}
        self.search_space = {"name": space, "args": dict(space_args or {})}
        self.retrain_space = {"name": space, "args": dict(space_args or {}, **(retrain_space_args or {}))}
        self.search_options = dict(search, **{"learning-progress": {"snapshot_epochs": [0]},
                                              "reward-vs-accuracy": {"probe_epoch": probe_epoch, "probe_k": k},
                                              "search-vs-random": {}, "tricks-ablation": {},
                                              "controller-transfer": {}}[study])
        self.transfer_search = {**self.search_options, **(transfer_search or {})}  # B's budget, scratch and transfer
        self.retrain = {"epochs": 10, "batch_size": 64, **(retrain or {})}
        # the tricks-ablation's retraining variants: none, each trick alone, all together (when more than one)
        self.variants = {"none": {t: False for t in tricks}, **{t: {**{u: False for u in tricks}, t: True}
                                                                for t in tricks}}
        if len(tricks) > 1:
            self.variants["all"] = {t: True for t in tricks}
        self.retrain_seed = retrain_seed
        self.policies, self.seeds = policies, seeds
        self.warm_start = warm_start
        super().__init__()
        self.jobs: list[dict] = []       # every job's parameters, by job number
        self.queue: list[int] = []       # job numbers not yet handed out
        self.done: dict[int, dict] = {}  # job number -> its reported result
        self._started = False

    def _warm_preload(self):
        from nni_plumbing import warm_start

        return (warm_start.TORCH_TRIAL_PRELOAD, {}) if self.warm_start else None

    def children(self, job: dict | None = None) -> int:
        """Jobs a search asks for when it ends: retrainings, and in the controller transfer a source search's
        transfer search and its retraining."""
        if self.study == "controller-transfer":
            return 2 if job is not None and job["tag"]["role"] == "source" else 1
        return {"learning-progress": 2, "reward-vs-accuracy": self.k, "search-vs-random": 1,
                "tricks-ablation": len(self.variants)}[self.study]

    def random_jobs(self) -> int:
        """Retraining jobs of the uniform samples (queued after the searches)."""
        return {"search-vs-random": self.k, "tricks-ablation": self.k * len(self.variants)}.get(self.study, 0)

    def total_jobs(self) -> int:
        """Every trial the study runs: its ``maxTrialNumber``."""
        searches = len(self.policies) * len(self.seeds)
        if self.study == "controller-transfer":  # searches on A and on B from scratch, the transfer, 2 retrainings
            return searches * 5
        return searches * (1 + self.children()) + self.random_jobs()

    # ----- jobs -----
    def _add(self, kind: str, data: dict | None = None, **params) -> None:
        job = {"job": len(self.jobs), "kind": kind, "data": data or self.data, **params}
        self.jobs.append(job)
        self.queue.append(job["job"])
        self._add_record(job, job["job"], kind=kind)

    def _setup(self) -> None:
        """The searches first (the long jobs, so that the short retrainings of random samples fill the other
        trial slots while they run), then those retrainings."""
        self._started = True
        self._check_search_space()
        if self.study == "controller-transfer":  # on A first (the transfers wait on them), then on B from scratch
            for role, data, options in (("source", self.data, self.search_options),
                                        ("scratch", self.transfer_data, self.transfer_search)):
                for policy in self.policies:
                    for seed in self.seeds:
                        self._add("search", data, space=self.search_space, policy=policy, seed=seed, search=options,
                                  tag={"role": role})
            return
        for policy in self.policies:
            for seed in self.seeds:
                self._add("search", space=self.search_space, policy=policy, seed=seed, search=self.search_options)
        if self.random_jobs():
            space = self.genotype_space
            for index in range(self.k):
                arch = space.sample(seed=10_000 + index)
                self._retrain_each({k: arch[k] for k in space.active(arch)}, {"source": "random", "index": index})

    @staticmethod
    def _shape_free(args: dict) -> dict:
        """Space arguments without the data's shape: decisions do not depend on it."""
        return {k: v for k, v in args.items() if k not in ("in_channels", "num_classes", "image_size")}

    def _retrain(self, arch: dict, tag: dict, train: dict | None = None, data: dict | None = None) -> None:
        # a short genotype string (and its node or layer count) for NNI's web UI; the trial reads only `arch`
        shown = labels.cell(self.genotype_space.genotype(arch))
        self._add("retrain", data, space=self.retrain_space, arch=arch, seed=self.retrain_seed,
                  train={**self.retrain, **(train or {})}, tag=tag, **shown)

    def _retrain_each(self, arch: dict, tag: dict) -> None:
        """One retraining of ``arch``, or, in the tricks-ablation, one per variant (tagged ``tricks``)."""
        if self.study != "tricks-ablation":
            self._retrain(arch, tag)
            return
        for name, switches in self.variants.items():
            self._retrain(arch, {**tag, "tricks": name}, switches)

    def _check_search_space(self) -> None:
        """Build the search network's space once here, so that bad ``space_args`` stop the study with their own
        message before any trial starts (the retraining space is built by :attr:`genotype_space`)."""
        from nni_spaces import make_space

        make_space(self.search_space["name"], **self._shape_free(self.search_space["args"]))
        self.genotype_space  # noqa: B018

    @cached_property
    def genotype_space(self):
        """The retraining space without the data's shape, made on first use: it samples the random architectures
        and turns an architecture into its genotype."""
        from nni_spaces import make_space

        return make_space(self.retrain_space["name"], **self._shape_free(self.retrain_space["args"]))

    def _after_search(self, job: dict, result: dict) -> None:
        """Queue the retraining jobs a finished search asks for."""
        tag = {"policy": job["policy"], "search_seed": job["seed"], "search_job": job["job"]}
        if self.study == "controller-transfer":
            role = job["tag"]["role"]
            if role == "source":  # B's search from A's trained policy, with B's budget
                self._add("search", self.transfer_data, space=self.search_space, policy=job["policy"], seed=job["seed"],
                          search={**self.transfer_search, "init_policy": result["checkpoint"]},
                          tag={"role": "transfer", "source_job": job["job"]})
            else:
                self._retrain(result["arch"], {**tag, "source": role}, data=self.transfer_data)
        elif self.study == "learning-progress":
            self._retrain(result["snapshots"]["0"]["arch"], {**tag, "source": "initial"})
            self._retrain(result["arch"], {**tag, "source": "final"})
        elif self.study == "reward-vs-accuracy":
            for index, probe in enumerate(result["probe"]):
                self._retrain(probe["arch"], {**tag, "source": "probe", "index": index, "reward": probe["reward"]})
        else:
            self._retrain_each(result["arch"], {**tag, "source": "final"})

    # ----- NNI's side -----
    @property
    def finished(self) -> bool:
        """Every job has reported or failed and nothing is left to hand out."""
        return self._started and study_finished(self._state())

    def _has_new(self) -> bool:
        return bool(self.queue)

    def _new_sample(self, parameter_id: int) -> int:
        return self.queue.pop(0)

    @property
    def issued(self) -> dict[int, int]:
        """NNI parameter id -> job number handed out with it."""
        return self._issued

    def _reported_sample(self, reported: dict, issued: int | None):
        return reported.get("job")

    def _expects_result(self, sid: int) -> bool:
        return self.jobs[sid]["kind"] != "skip"  # a skip trial exits at once without a result

    def _accepts_late_result(self, sid: int) -> bool:
        return self.jobs[sid]["kind"] != "search"  # a failed search's retrainings were already replaced by skips

    def _result_ok(self, reported: dict) -> bool:
        # A job's payload is its architecture and tables; a metric, where given, must still be finite.
        return "default" not in reported or is_finite_number(reported["default"])

    def _on_result(self, sid: int, record: dict, reported: dict, ok: bool) -> None:
        if not ok:
            return  # the base calls _on_failure
        self.done[sid] = reported
        job = self.jobs[sid]
        if job["kind"] == "search":
            self._after_search(job, reported)

    def _on_failure(self, sid: int, record: dict) -> None:
        """A search that ended without a result is replaced by skip jobs for the retrainings it would have
        queued, so the experiment still reaches its ``maxTrialNumber``; a failed retraining just has no result
        (the report lists what is missing)."""
        if sid in self.done:
            return
        kind = self.jobs[sid]["kind"]
        self.done[sid] = {"job": sid, "kind": kind, "failed": True}
        if kind == "search":
            children = self.children(self.jobs[sid])
            _logger.warning("search job %d failed; the %d jobs it would have asked for are skipped", sid, children)
            for _ in range(children):
                self._add("skip")

    def _state(self) -> dict:
        return {"study": self.study, "jobs": self.jobs, "queue": self._requeue + self.queue,
                "done": {str(k): v for k, v in self.done.items()}}

    def _own_state(self) -> dict:
        return {**self._state(), "own_queue": self.queue}

    def _load_own_state(self, state: dict) -> None:
        self.jobs, self.queue = state["jobs"], list(state["own_queue"])
        self.done = {int(k): v for k, v in state["done"].items()}
        self._started = True
