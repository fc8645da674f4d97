"""One interface for every policy over an NNI space, and the one REINFORCE that trains them.

A policy walks the space's decisions in order, producing each decision's distribution (independent
vectors for EDNAS, an LSTM step for ENAS, nothing for uniform). Log-probability and entropy of an
architecture sum only over the decisions that shape it (``space.active``): an op on an edge the
structure did not keep adds nothing.

>>> from nni_spaces import make_space
>>> from strategies import EdnasPolicy
>>> policy = EdnasPolicy(make_space("ednas-cell", width=4, num_cells=3), seed=0)
>>> arch = policy.sample()
>>> stats = policy.update([arch], [0.7])
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .decisions import Decision, space_decisions


@dataclass
class Evaluation:
    """``log_prob`` and ``entropy`` (tensors, with gradients) of one architecture, the per-decision
    log-probability ``terms`` that went into them, and ``skip_kl`` (ENAS' skip-density penalty)."""

    log_prob: torch.Tensor
    entropy: torch.Tensor
    terms: dict
    skip_kl: torch.Tensor


class Policy(nn.Module):
    """Base of the policies. Subclasses implement ``_start()`` and ``_step(i, decision, state)`` ->
    ``(logits, state)``, and ``_feed(i, decision, index, state)`` -> state (the sampled value fed back)."""

    name = "policy"

    def __init__(self, space, *, seed: int = 0, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, baseline_decay: float = 0.99, entropy_weight: float = 0.0,
                 skip_weight: float = 0.0, skip_target: float = 0.4, samples_per_update: int = 1):
        super().__init__()
        self.__dict__["space"] = space  # not a submodule: the policy's parameters are its own
        self.decisions: list[Decision] = space_decisions(space)
        self.generator = torch.Generator().manual_seed(seed)
        self.hparams = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                            baseline_decay=baseline_decay, entropy_weight=entropy_weight, skip_weight=skip_weight,
                            skip_target=skip_target, samples_per_update=samples_per_update)
        self.baseline: float | None = None
        self.updates = 0
        self._optimizer = None

    # ------------------------------------------------------------------ to implement
    def _start(self):
        return None

    def _step(self, i: int, decision: Decision, state):
        raise NotImplementedError

    def _feed(self, i: int, decision: Decision, index, state):
        return state

    # ------------------------------------------------------------------ sampling and scoring
    def _walk(self, arch: dict | None):
        """Step through the decisions, sampling (``arch=None``) or scoring ``arch``; returns the values and,
        per label, ``(log_prob term, entropy, index, probabilities)``. Plain tensor ops, no Distribution
        objects: their argument checks cost more than the arithmetic here."""
        state, values, out = self._start(), {}, {}
        for i, d in enumerate(self.decisions):
            logits, state = self._step(i, d, state)
            if d.kind == "bernoulli":
                log_on, log_off = F.logsigmoid(logits), F.logsigmoid(-logits)
                probs = log_on.exp()
                if arch is None:
                    index = torch.bernoulli(probs.detach(), generator=self.generator)
                else:
                    index = torch.tensor(d.index(arch[d.label]), dtype=logits.dtype)
                term = (index * log_on + (1 - index) * log_off).sum()
                entropy = -(probs * log_on + (1 - probs) * log_off).sum()
                values[d.label] = d.value(index.tolist())
            else:
                log_p = torch.log_softmax(logits, -1)
                probs = log_p.exp()
                if arch is None:
                    index = int(torch.multinomial(probs.detach(), 1, generator=self.generator))
                else:
                    index = d.index(arch[d.label])
                term, entropy = log_p[index], -(probs * log_p).sum()
                values[d.label] = d.value(index)
            out[d.label] = (term, entropy, index, probs)
            state = self._feed(i, d, index, state)
        return values, out

    def _fixed_values(self) -> dict:
        """Values of the space's single-option decisions (not learned)."""
        return {label: (list(c.values[0]) if isinstance(c.values[0], tuple) else c.values[0])
                for label, c in (self.space.decisions().items() if hasattr(self.space, "decisions") else [])
                if label not in {d.label for d in self.decisions}}

    @torch.no_grad()
    def sample(self) -> dict:
        """An architecture dict (every decision), drawn with the policy's own generator (seeded)."""
        values, _ = self._walk(None)
        return {**self._fixed_values(), **values}

    def evaluate(self, arch: dict) -> Evaluation:
        """Log-probability, entropy and skip penalty of ``arch`` over the decisions that shape it."""
        _, walked = self._walk(arch)
        active = set(self.space.active(arch)) if hasattr(self.space, "active") else set(walked)
        zero = torch.zeros(())
        log_prob, entropy, skip_kl, terms = zero, zero, zero, {}
        target = self.hparams["skip_target"]
        for d in self.decisions:
            if d.label not in active:
                continue
            term, ent, _, probs = walked[d.label]
            terms[d.label] = term
            log_prob, entropy = log_prob + term, entropy + ent
            if d.kind == "bernoulli":
                p = probs.clamp(1e-6, 1 - 1e-6)
                skip_kl = skip_kl + (p * torch.log(p / target) + (1 - p) * torch.log((1 - p) / (1 - target))).sum()
        return Evaluation(log_prob, entropy, terms, skip_kl)

    # ------------------------------------------------------------------ learning
    def optimizer(self) -> torch.optim.Optimizer | None:
        params = [p for p in self.parameters() if p.requires_grad]
        if self._optimizer is None and params:
            h = self.hparams
            self._optimizer = torch.optim.Adam(params, lr=h["lr"], betas=h["betas"], eps=h["eps"],
                                               weight_decay=h["weight_decay"], foreach=True)
        return self._optimizer

    def update(self, archs: list[dict], rewards: list[float]) -> dict:
        """One REINFORCE step from a batch of (architecture, reward): per sample the reward (plus the
        entropy bonus) first moves the baseline, b <- b - (1 - decay) (b - R), then adds
        -log pi(arch) (R - b) to the loss (plus ENAS' skip penalty); gradients are summed over the batch."""
        if len(archs) != len(rewards) or not archs:
            raise ValueError(f"update needs as many rewards as architectures (got {len(archs)} and {len(rewards)})")
        h = self.hparams
        optimizer = self.optimizer()
        loss, advantages, entropies = torch.zeros(()), [], []
        for arch, reward in zip(archs, rewards):
            ev = self.evaluate(arch)
            r = float(reward) + h["entropy_weight"] * float(ev.entropy.detach())
            b = 0.0 if self.baseline is None else self.baseline  # starts at 0, as in ENAS
            self.baseline = b - (1 - h["baseline_decay"]) * (b - r)
            advantage = r - self.baseline
            loss = loss - ev.log_prob * advantage + h["skip_weight"] * ev.skip_kl
            advantages.append(advantage)
            entropies.append(float(ev.entropy.detach()))
        if optimizer is not None:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        self.updates += 1
        return {"loss": float(loss.detach()), "baseline": self.baseline, "mean_advantage": sum(advantages) / len(advantages),
                "entropy": sum(entropies) / len(entropies)}

    # ------------------------------------------------------------------ inspection and state
    independent = True
    """Whether the decisions' distributions are independent (then :meth:`probabilities` is exact)."""

    @torch.no_grad()
    def probabilities(self, samples: int | None = None) -> dict:
        """Label -> {candidate: probability}. Exact (``samples=0``) for policies whose decisions are
        independent; otherwise the frequency over ``samples`` draws (default 200), made with a copy of
        the generator so reading never changes what is sampled next."""
        if samples is None:
            samples = 0 if self.independent else 200
        if samples <= 0:  # walk a fixed path: reading the policy must not advance its generator
            path = {d.label: d.value([0] * d.size if d.kind == "bernoulli" else 0) for d in self.decisions}
            _, walked = self._walk(path)
            return {d.label: self._as_table(d, walked[d.label][3]) for d in self.decisions}
        generator, counts = self.generator, {d.label: torch.zeros(d.size) for d in self.decisions}
        self.generator = torch.Generator().set_state(generator.get_state())
        try:
            for _ in range(samples):
                _, walked = self._walk(None)
                for d in self.decisions:
                    index = walked[d.label][2]
                    if d.kind == "bernoulli":
                        counts[d.label] += index
                    else:
                        counts[d.label][int(index)] += 1
        finally:
            self.generator = generator
        return {d.label: self._as_table(d, counts[d.label] / samples) for d in self.decisions}

    @staticmethod
    def _as_table(d: Decision, probs) -> dict:
        return dict(zip(d.keys, [float(p) for p in probs]))

    def state(self) -> dict:
        """Everything to continue: parameters, optimizer, baseline, update count, RNG."""
        opt = self.optimizer()
        return {"name": self.name, "labels": [d.label for d in self.decisions], "model": copy.deepcopy(self.state_dict()),
                "optimizer": copy.deepcopy(opt.state_dict()) if opt is not None else None, "baseline": self.baseline,
                "updates": self.updates, "generator": self.generator.get_state()}

    def load_state(self, state: dict, *, optimizer: bool = True) -> None:
        """Restore :meth:`state`; ``optimizer=False`` moves a trained policy to a new data set (its
        parameters only, as seed 002 moved the ENAS controller from CIFAR-10 to CIFAR-100)."""
        labels = [d.label for d in self.decisions]
        if state.get("name") != self.name or state.get("labels") != labels:
            raise ValueError(f"this {state.get('name')} state belongs to a space with other decisions; it cannot "
                             f"load into a {self.name} policy over {len(labels)} decisions")
        self.load_state_dict(state["model"])
        if optimizer:
            if state["optimizer"] is not None:
                self.optimizer().load_state_dict(state["optimizer"])
            self.baseline, self.updates = state["baseline"], state["updates"]
            self.generator.set_state(state["generator"])
