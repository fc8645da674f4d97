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


@dataclass
class Walk:
    """One pass through a policy's decisions for a batch of architectures: per decision (rows, in
    ``policy.decisions`` order) and architecture (columns) the chosen value's log-probability ``terms`` and
    the distribution's ``entropies``; per label the chosen indices and the probabilities."""

    terms: torch.Tensor
    entropies: torch.Tensor
    picks: dict  # label -> (indices, probabilities, row): the label's row of both, or all of them when row is None

    def index(self, label: str) -> torch.Tensor:
        """The chosen indices, ``(batch,)`` (``(batch, options)`` of 0/1 for Bernoulli decisions)."""
        index, _, row = self.picks[label]
        return index if row is None else index[row]

    def probs(self, label: str) -> torch.Tensor:
        """The probabilities, ``(batch, options)`` or ``(1, options)`` when they are the same for the batch."""
        _, probs, row = self.picks[label]
        return probs if row is None else probs[row]


class Policy(nn.Module):
    """Base of the policies. Subclasses implement ``_start(batch)`` and ``_step(i, decision, state)`` ->
    ``(logits, state)``, and ``_feed(i, decision, index, state)`` -> state (the sampled values fed back);
    policies whose logits ignore the state set ``independent`` and may override ``_logits``."""

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
        learned = {d.label for d in self.decisions}
        self._fixed = {label: (list(c.values[0]) if isinstance(c.values[0], tuple) else c.values[0])
                       for label, c in (space.decisions().items() if hasattr(space, "decisions") else [])
                       if label not in learned}  # single-option decisions: not learned, same in every sample
        groups: dict = {}  # for independent policies: decisions of one kind and size, walked as one matrix
        for d in self.decisions:
            groups.setdefault((d.kind, d.size), []).append(d)
        self._groups = list(groups.values())
        order = [d.label for members in self._groups for d in members]
        self._rows = torch.tensor([order.index(d.label) for d in self.decisions], dtype=torch.long)

    # ------------------------------------------------------------------ to implement
    def _start(self, batch: int):
        return None

    def _step(self, i: int, decision: Decision, state):
        """``(logits, state)``: logits of shape ``(batch, size)``, or ``(size,)`` when every row is the same."""
        raise NotImplementedError

    def _feed(self, i: int, decision: Decision, index, state):
        return state

    def _logits(self, decisions: list[Decision]) -> torch.Tensor:
        """Independent policies: the ``(decisions, options)`` logits of decisions of one kind and size."""
        return torch.stack([self._step(0, d, None)[0] for d in decisions])

    # ------------------------------------------------------------------ sampling and scoring
    def _walk(self, archs: list[dict] | None, batch: int = 1) -> tuple[list[dict], Walk]:
        """Step through the decisions for a batch of architectures at once, sampling ``batch`` of them
        (``archs=None``) or scoring ``archs``; returns their values and the :class:`Walk`. Plain tensor
        ops, no Distribution objects: their argument checks cost more than the arithmetic here."""
        batch = batch if archs is None else len(archs)
        if self.independent:
            return self._walk_independent(archs, batch)
        state, values, terms, entropies, picks = self._start(batch), [{} for _ in range(batch)], [], [], {}
        for i, d in enumerate(self.decisions):
            logits, state = self._step(i, d, state)
            index, probs, term, entropy = self._pick(d.kind, logits.expand(batch, d.size)[None], archs, [d], batch)
            terms.append(term[0])
            entropies.append(entropy[0])
            picks[d.label] = (index[0], probs[0], None)
            for row, picked in zip(values, index[0].tolist()):
                row[d.label] = d.value(picked)
            state = self._feed(i, d, index[0], state)
        return values, Walk(torch.stack(terms), torch.stack(entropies), picks)

    def _walk_independent(self, archs: list[dict] | None, batch: int) -> tuple[list[dict], Walk]:
        """:meth:`_walk` for policies whose logits do not depend on earlier choices (``independent``): the
        decisions of one kind and size go through each tensor op together, as rows of one matrix."""
        terms, entropies, picks, picked = [], [], {}, {}
        for members in self._groups:
            logits = self._logits(members)
            index, probs, term, entropy = self._pick(members[0].kind, logits[:, None], archs, members, batch)
            terms.append(term)
            entropies.append(entropy)
            for row, (d, chosen) in enumerate(zip(members, index.tolist())):
                picks[d.label], picked[d.label] = (index, probs, row), chosen
        values = [{d.label: d.value(picked[d.label][b]) for d in self.decisions} for b in range(batch)]
        return values, Walk(torch.cat(terms)[self._rows], torch.cat(entropies)[self._rows], picks)

    def _pick(self, kind: str, logits, archs, members, batch: int):
        """Sample (``archs=None``) or look up the choices of the decisions ``members`` from ``logits``
        ``(decisions, batch or 1, options)``: indices ``(decisions, batch[, options])``, probabilities, and
        per choice its log-probability and the distribution's entropy ``(decisions, batch)``."""
        shared = logits.shape[1] == 1  # one distribution per decision for the whole batch: draw `batch` from it
        if kind == "bernoulli":
            log_on, log_off = F.logsigmoid(logits), F.logsigmoid(-logits)
            probs = log_on.exp()
            if archs is None:
                index = torch.bernoulli(probs.detach().expand(-1, batch, -1), generator=self.generator)
            else:
                index = torch.tensor([[d.index(a[d.label]) for a in archs] for d in members], dtype=logits.dtype)
            term = (index * log_on + (1 - index) * log_off).sum(-1)
            entropy = -(probs * log_on + (1 - probs) * log_off).sum(-1)
        else:
            log_p = torch.log_softmax(logits, -1)
            probs = log_p.exp()
            if archs is None:
                index = torch.multinomial(probs.detach().reshape(-1, probs.shape[-1]), batch if shared else 1,
                                          replacement=True, generator=self.generator).reshape(len(members), batch)
            else:
                index = torch.tensor([[d.index(a[d.label]) for a in archs] for d in members])
            term = log_p.expand(-1, batch, -1).gather(2, index[..., None])[..., 0]
            entropy = -(probs * log_p).sum(-1)
        return index, probs, term, entropy.expand(len(members), batch)

    @torch.no_grad()
    def sample(self) -> dict:
        """An architecture dict (every decision), drawn with the policy's own generator (seeded)."""
        return self.sample_batch(1)[0]

    @torch.no_grad()
    def sample_batch(self, n: int) -> list[dict]:
        """``n`` architectures drawn together (one pass through the decisions: what a policy update's
        samples cost)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"sample_batch needs a positive number of architectures, got {n!r}")
        values, _ = self._walk(None, n)
        return [{**copy.deepcopy(self._fixed), **v} for v in values]

    def evaluate(self, arch: dict) -> Evaluation:
        """Log-probability, entropy and skip penalty of ``arch`` over the decisions that shape it."""
        ev, walk, mask = self._evaluate_batch([arch])
        terms = {d.label: walk.terms[row, 0] for row, d in enumerate(self.decisions) if mask[row, 0]}
        return Evaluation(ev.log_prob[0], ev.entropy[0], terms, ev.skip_kl[0])

    def _evaluate_batch(self, archs: list[dict]):
        """:meth:`evaluate` of several architectures in one pass: an :class:`Evaluation` of ``(batch,)``
        tensors (no terms), the walk, and the ``(decisions, batch)`` mask of the decisions that count."""
        _, walk = self._walk(archs)
        labels = [d.label for d in self.decisions]
        active = [set(self.space.active(a)) if hasattr(self.space, "active") else set(labels) for a in archs]
        mask = torch.tensor([[label in act for act in active] for label in labels], dtype=walk.terms.dtype)
        skip_kl, target = torch.zeros(len(archs)), self.hparams["skip_target"]
        for row, d in enumerate(self.decisions):
            if d.kind == "bernoulli":
                p = walk.probs(d.label).clamp(1e-6, 1 - 1e-6)
                kl = (p * torch.log(p / target) + (1 - p) * torch.log((1 - p) / (1 - target))).sum(-1)
                skip_kl = skip_kl + kl * mask[row]
        return (Evaluation((walk.terms * mask).sum(0), (walk.entropies * mask).sum(0), {}, skip_kl),
                walk, mask)

    # ------------------------------------------------------------------ learning
    def optimizer(self) -> torch.optim.Optimizer | None:
        params = [p for p in self.parameters() if p.requires_grad]
        if self._optimizer is None and params:
            h = self.hparams
            self._optimizer = torch.optim.Adam(params, lr=h["lr"], betas=h["betas"], eps=h["eps"],
                                               weight_decay=h["weight_decay"], fused=True)
        return self._optimizer

    def update(self, archs: list[dict], rewards: list[float]) -> dict:
        """One REINFORCE step from a batch of (architecture, reward): per sample the reward (plus the
        entropy bonus) first moves the baseline, b <- b - (1 - decay) (b - R), then adds
        -log pi(arch) (R - b) to the loss (plus ENAS' skip penalty); gradients are summed over the batch,
        whose log-probabilities are computed in one pass."""
        if len(archs) != len(rewards) or not archs:
            raise ValueError(f"update needs as many rewards as architectures (got {len(archs)} and {len(rewards)})")
        h = self.hparams
        optimizer = self.optimizer()
        ev, _, _ = self._evaluate_batch(archs)
        entropies = ev.entropy.detach().tolist()
        advantages = []
        for reward, entropy in zip(rewards, entropies):
            r = float(reward) + h["entropy_weight"] * entropy
            b = 0.0 if self.baseline is None else self.baseline  # starts at 0, as in ENAS
            self.baseline = b - (1 - h["baseline_decay"]) * (b - r)
            advantages.append(r - self.baseline)
        loss = -(ev.log_prob * torch.tensor(advantages)).sum() + h["skip_weight"] * ev.skip_kl.sum()
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
            _, walk = self._walk([path])
            return {d.label: self._as_table(d, walk.probs(d.label)[0]) for d in self.decisions}
        generator, counts = self.generator, {d.label: torch.zeros(d.size) for d in self.decisions}
        self.generator = torch.Generator().set_state(generator.get_state())
        try:
            _, walk = self._walk(None, samples)
            for d in self.decisions:
                index = walk.index(d.label)
                if d.kind == "bernoulli":
                    counts[d.label] += index.sum(0)
                else:
                    counts[d.label] += torch.bincount(index, minlength=d.size).float()
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
