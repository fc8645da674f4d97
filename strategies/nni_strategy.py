"""Our policies as NNI 3.0 strategies, for ``NasExperiment`` users.

- :class:`PolicyOneShot`: weight sharing inside NNI's one-shot framework. NNI's path-sampling supernet
  modules (those of its ``RandomOneShot``) run the path our policy samples; the Lightning evaluator
  (``nni.nas.evaluator.pytorch.Classification``, say) trains the shared weights on the training batches,
  and each validation batch scores the policy's samples (top-1, batch statistics in batch norm, as
  ``WeightSharingSearch``) and updates the policy by REINFORCE (``policy.update``).
  ``export_top_models()`` returns the best-rewarded of the samples scored in the last epoch.
- :class:`PolicyMultiTrial`: a multi-trial strategy on NNI's execution engine (as NNI's ``Random`` and
  ``PolicyBasedRL``): each sample is frozen and submitted as a model, its final metric is the reward, and
  every ``samples_per_update`` results update the policy. ``export_top_models()`` returns the best trained.

>>> NasExperiment(space, Classification(...), PolicyOneShot("ednas")).run()   # doctest: +SKIP

Our own loop (``strategies/search.py``) stays the fast path; ``docs/search.md`` times both.
"""
from __future__ import annotations

import logging
from typing import Any

import torch
from nni.nas.execution import ExecutionEngine
from nni.nas.nn.pytorch import InputChoice
from nni.nas.oneshot.pytorch.sampling import RandomSamplingLightningModule
from nni.nas.oneshot.pytorch.strategy import RandomOneShot
from nni.nas.oneshot.pytorch.supermodule.sampling import PathSamplingInput
from nni.nas.space import ExecutableModelSpace
from nni.nas.strategy.base import Strategy

_logger = logging.getLogger(__name__)


def _our_space(model_space):
    """The project's space behind NNI's wrapper (a raw-format space holds it; a simplified one holds its
    trace, from which an equal space is built): policies need its ``decisions`` and ``active``."""
    for candidate in (model_space, getattr(model_space, "model_space", None), getattr(model_space, "model", None)):
        if candidate is not None and hasattr(candidate, "decisions") and hasattr(candidate, "active"):
            return candidate
    trace = getattr(model_space, "model", None)
    if trace is not None and hasattr(trace, "trace_symbol"):
        space = trace.trace_symbol(*trace.trace_args, **trace.trace_kwargs)
        if hasattr(space, "decisions"):
            return space
    raise TypeError(f"{type(model_space).__name__} is not one of this project's spaces (nni_spaces.make_space); "
                    "our policies need its decisions")


def complete(space, arch: dict) -> dict:
    """``arch`` with a value for every label of ``space``: policies leave out decisions that do not shape the
    model (the op of an edge the structure did not keep), NNI's freezing and path sampling want them all."""
    full = dict(arch)
    for label, mutable in space.decisions().items():
        if label not in full:
            full[label] = mutable.default()
    return full


class PathSamplingSkips(PathSamplingInput):
    """NNI's path-sampling input choice for any-subset choices (``n_chosen=None``, ENAS macro's skips), which
    NNI 3.0's own does not support: the sum of the chosen inputs, or ``None`` when none is chosen."""

    @classmethod
    def mutate(cls, module, name, memo, mutate_kwargs):
        if type(module) is InputChoice and module.n_chosen is None:
            if module.reduction != "sum":
                raise ValueError(f"{module.label}: only any-subset input choices that sum are supported")
            return cls(module.n_candidates, None, module.reduction, module.label)
        return None

    def forward(self, input_tensors):
        if self._sampled is None:
            raise RuntimeError("At least one path needs to be sampled before fprop.")
        chosen = [input_tensors[i] for i in self._sampled]
        return sum(chosen[1:], chosen[0]) if chosen else None


def _make(policy, space, seed: int, kwargs: dict):
    from . import make_policy

    return make_policy(policy, space, seed=seed, **kwargs) if isinstance(policy, str) else policy


class PolicySamplingModule(RandomSamplingLightningModule):
    """The one-shot Lightning module of :class:`PolicyOneShot`: training batches train the path the policy
    samples (NNI's automatic optimisation of the inner module); validation batches are the policy's steps."""

    def __init__(self, training_module, strategy: PolicyOneShot):
        super().__init__(training_module)
        self._seen = 0  # batches of this epoch so far
        self._strategy = strategy  # not a submodule: the policy's parameters are not the supernet's

    def _use(self, arch: dict) -> None:
        memo = complete(self._strategy.space, arch)
        for module in self.supernet_modules():
            module.resample(memo=memo)

    def training_step(self, batch, batch_idx):
        # NNI's ConcatLoader hands the training batches, then the validation ones, without saying which is which
        strategy, self._seen = self._strategy, self._seen + 1
        if self._seen <= strategy.train_batches:
            self._use(strategy.policy.sample())
            return self.training_module.training_step(batch, batch_idx)
        strategy.policy_step(self, batch)
        return None

    def validation_step(self, *args: Any, **kwargs: Any):
        return None

    def on_train_epoch_start(self) -> None:
        self._strategy.scored, self._seen = [], 0
        return super().on_train_epoch_start()

    @torch.no_grad()
    def score(self, arch: dict, batch) -> float:
        x, y = batch
        self._use(arch)
        was = self.training_module.training
        self.training_module.train()  # batch statistics: running averages mix every sampled path
        logits = self.training_module(x)
        self.training_module.train(was)
        return (logits.argmax(1) == y).float().mean().item()

    def export(self) -> dict:
        return self._strategy.best()


class PolicyOneShot(RandomOneShot):
    """``PolicyOneShot(policy="ednas", *, seed=0, samples_per_update=1, **policy_kwargs)``: ``policy`` a name
    from ``strategies.POLICY_CLASSES`` or a policy object built over the same space. Each validation batch is
    one policy update from ``samples_per_update`` samples (the budget: epochs x validation batches x samples)."""

    def __init__(self, policy: Any = "ednas", *, seed: int = 0, samples_per_update: int = 1, **policy_kwargs):
        super().__init__()
        if samples_per_update < 1:
            raise ValueError(f"samples_per_update must be a positive integer, got {samples_per_update!r}")
        self._policy_arg, self.seed, self.policy_kwargs = policy, seed, policy_kwargs
        self.samples_per_update = samples_per_update
        self.policy, self.train_batches = None, 0
        self.scored: list[dict] = []   # this epoch's {arch, reward}
        self.history: list[dict] = []  # per policy update: mean reward, entropy

    def extra_repr(self) -> str:
        return f"policy={self._policy_arg!r}, samples_per_update={self.samples_per_update}"

    def _initialize(self, model_space, engine):
        self.space = _our_space(model_space.model_space)
        self.policy = _make(self._policy_arg, self.space, self.seed, self.policy_kwargs)
        return super()._initialize(model_space, engine)

    def default_mutation_hooks(self):
        return [PathSamplingSkips.mutate, *super().default_mutation_hooks()]

    def configure_oneshot_module(self, training_module):
        return PolicySamplingModule(training_module, self)

    def train_dataloader(self, train_dataloader_fn, val_dataloader_fn):
        import pytorch_lightning

        if pytorch_lightning.__version__.startswith("1."):
            from nni.nas.oneshot.pytorch._dataloader_legacy import ConcatLoader
        else:
            from nni.nas.oneshot.pytorch._dataloader import ConcatLoader
        train = train_dataloader_fn()
        self.train_batches = len(train)
        return ConcatLoader({"train": train, "val": val_dataloader_fn()})

    def val_dataloader(self, train_dataloader_fn, val_dataloader_fn):
        return None

    def policy_step(self, module: PolicySamplingModule, batch) -> None:
        archs = self.policy.sample_batch(self.samples_per_update)
        rewards = [module.score(arch, batch) for arch in archs]
        stats = self.policy.update(archs, rewards)
        self.scored += [{"arch": a, "reward": r} for a, r in zip(archs, rewards)]
        self.history.append({"mean_reward": sum(rewards) / len(rewards), "entropy": stats["entropy"]})

    def best(self) -> dict:
        """The best-rewarded sample of the last epoch's policy steps (first on ties); a fresh sample if none."""
        arch = max(self.scored, key=lambda s: s["reward"])["arch"] if self.scored else self.policy.sample()
        return complete(self.space, arch)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "policy": self.policy.state() if self.policy is not None else None}

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        if state_dict.get("policy") is not None and self.policy is not None:
            self.policy.load_state(state_dict["policy"])


class PolicyMultiTrial(Strategy):
    """``PolicyMultiTrial(policy="ednas", *, seed=0, samples_per_update=None, **policy_kwargs)``: each model
    the engine trains is one policy sample; its final metric (a number, or a dict's ``default``) is the reward.
    ``samples_per_update`` defaults to the engine's concurrency, so an update waits for no more than a round."""

    def __init__(self, policy: Any = "ednas", *, seed: int = 0, samples_per_update: int | None = None,
                 **policy_kwargs):
        super().__init__()
        if samples_per_update is not None and samples_per_update < 1:
            raise ValueError(f"samples_per_update must be a positive integer, got {samples_per_update!r}")
        self._policy_arg, self.seed, self.policy_kwargs = policy, seed, policy_kwargs
        self.samples_per_update = samples_per_update or 1
        self.policy = None
        self._running: list = []  # (model, arch)
        self._results: list = []  # (arch, reward) waiting for an update
        self.updates = 0

    def extra_repr(self) -> str:
        return f"policy={self._policy_arg!r}, samples_per_update={self.samples_per_update}"

    def _initialize(self, model_space: ExecutableModelSpace, engine: ExecutionEngine) -> ExecutableModelSpace:
        self.space = _our_space(model_space)
        self.policy = _make(self._policy_arg, self.space, self.seed, self.policy_kwargs)
        return model_space

    @staticmethod
    def _reward(metric) -> float | None:
        if isinstance(metric, dict):
            metric = metric.get("default")
        return float(metric) if isinstance(metric, (int, float)) else None

    def _harvest(self) -> None:
        running = []
        for model, arch in self._running:
            if not model.status.completed():
                running.append((model, arch))
                continue
            reward = self._reward(model.metric)
            if reward is None:
                _logger.info("model %s ended without a metric; the policy does not learn from it", arch)
                continue
            self._results.append((arch, reward))
            if len(self._results) >= self.samples_per_update:
                archs, rewards = zip(*self._results)
                self.policy.update(list(archs), list(rewards))
                self._results, self.updates = [], self.updates + 1
        self._running = running

    def _run(self) -> None:
        while True:
            self._harvest()
            if not self.wait_for_resource():
                break
            arch = self.policy.sample()
            model = self.model_space.freeze(complete(self.space, arch))
            evaluator = getattr(model, "evaluator", None)
            if hasattr(evaluator, "trace_copy"):  # a fresh Lightning trainer per model: a used one trains no more
                model.evaluator = evaluator.trace_copy().get()
            self._running.append((model, arch))
            self.engine.submit_models(model)
        self.engine.wait_models(*[model for model, _ in self._running])
        self._harvest()

    def state_dict(self) -> dict:
        return {"policy": self.policy.state() if self.policy is not None else None, "updates": self.updates}

    def load_state_dict(self, state_dict: dict) -> None:
        if state_dict.get("policy") is not None and self.policy is not None:
            self.policy.load_state(state_dict["policy"])
        self.updates = state_dict.get("updates", 0)
