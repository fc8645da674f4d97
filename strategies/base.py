"""One interface for every policy over an NNI space, and the one REINFORCE that trains them.

A policy walks the space's decisions in order, producing each decision's distribution (independent
vectors for EDNAS, an LSTM step for the LSTM and ENAS controllers, nothing for uniform). Every policy
samples only the decisions that shape the model: a decision gated by another (the operation on a DARTS
or EDNAS edge, gated by the node's input pair) is drawn only where its gate keeps it, and is absent from
the architecture otherwise. The log-probability and entropy of an architecture sum over exactly the
decisions sampled, so the update scores exactly what was drawn and the sum of pi over everything the
policy can sample is 1.

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

from . import check_baseline
from .decisions import Decision, decision_gates, space_decisions


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
    ``policy.decisions`` order) and architecture (columns) the chosen value's log-probability ``terms``, the
    distribution's ``entropies`` and whether the decision was ``taken`` (sampled: 0 where its gate dropped it,
    and then its term and entropy are 0); per label the chosen indices and the probabilities; and the skip
    penalty per architecture where the policy computes its own (``skip_kl``, else None)."""

    terms: torch.Tensor
    entropies: torch.Tensor
    picks: dict  # label -> (indices, probabilities, row): the label's row of both, or all of them when row is None
    taken: torch.Tensor
    skip_kl: torch.Tensor | None = None

    def index(self, label: str) -> torch.Tensor:
        """The chosen indices, ``(batch,)`` (``(batch, options)`` of 0/1 for Bernoulli decisions)."""
        index, _, row = self.picks[label]
        return index if row is None else index[row]

    def probs(self, label: str) -> torch.Tensor:
        """The probabilities, ``(batch, options)`` or ``(1, options)`` when they are the same for the batch."""
        _, probs, row = self.picks[label]
        return probs if row is None else probs[row]


def _where(mask: torch.Tensor, new, old):
    """``new`` where ``mask`` (per batch row), else ``old``, through tuples of tensors (a recurrent state)."""
    if isinstance(new, tuple):
        return tuple(_where(mask, n, o) for n, o in zip(new, old))
    if new is None or old is None:
        return new
    old = old.expand_as(new)
    return torch.where(mask.view(-1, *[1] * (new.dim() - 1)), new, old)


class Policy(nn.Module):
    """Base of the policies. Subclasses implement ``_start(batch)`` and ``_step(i, decision, state)`` ->
    ``(logits, state)``, and ``_feed(i, decision, index, state)`` -> state (the sampled values fed back);
    policies whose logits ignore the state set ``independent`` and may override ``_logits``; a policy with
    its own walk (the ENAS controller) overrides ``_walk``. ``_order`` sets the order of the decisions."""

    name = "policy"

    def __init__(self, space, *, seed: int = 0, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, baseline_decay: float = 0.99, entropy_weight: float = 0.0,
                 skip_weight: float = 0.0, skip_target: float = 0.4, samples_per_update: int = 1,
                 average_samples: bool = False, baseline: str = "moving"):
        super().__init__()
        check_baseline(baseline)
        self.__dict__["space"] = space  # not a submodule: the policy's parameters are its own
        nni_order = space_decisions(space)
        self.gates = decision_gates(space, nni_order)  # label -> (gate label, gate options that keep it)
        self.decisions: list[Decision] = self._order(nni_order)
        self.generator = torch.Generator().manual_seed(seed)
        self.hparams = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                            baseline_decay=baseline_decay, entropy_weight=entropy_weight, skip_weight=skip_weight,
                            skip_target=skip_target, samples_per_update=samples_per_update,
                            average_samples=average_samples, baseline=baseline)
        self.baseline: float | None = None
        self.updates = 0
        self._optimizer = None
        learned = {d.label for d in self.decisions}
        self._fixed = {label: (list(c.values[0]) if isinstance(c.values[0], tuple) else c.values[0])
                       for label, c in (space.decisions().items() if hasattr(space, "decisions") else [])
                       if label not in learned}  # single-option decisions: not learned, same in every sample
        self._allowed = {label: torch.tensor(sorted(on)) for label, (_, on) in self.gates.items()}
        groups: dict = {}  # for independent policies: decisions of one kind and size, walked as one matrix
        for d in self.decisions:
            groups.setdefault((d.kind, d.size, d.label in self.gates), []).append(d)
        self._groups = sorted(groups.values(), key=lambda members: members[0].label in self.gates)  # gates first
        order = [d.label for members in self._groups for d in members]
        self._rows = torch.tensor([order.index(d.label) for d in self.decisions], dtype=torch.long)

    # ------------------------------------------------------------------ to implement
    def _order(self, decisions: list[Decision]) -> list[Decision]:
        """The order the policy walks the decisions in (default NNI's)."""
        return decisions

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
    def _taken(self, label: str, picked: dict) -> torch.Tensor | None:
        """Per architecture whether ``label`` is sampled (its gate keeps it), or None when it always is.
        ``picked`` maps the labels decided so far to their ``(batch,)`` indices."""
        if label not in self.gates:
            return None
        return torch.isin(picked[self.gates[label][0]], self._allowed[label])

    def _walk(self, archs: list[dict] | None, batch: int = 1) -> tuple[list[dict], Walk]:
        """Step through the decisions for a batch of architectures at once, sampling ``batch`` of them
        (``archs=None``) or scoring ``archs``; returns their values and the :class:`Walk`. Plain tensor
        ops, no Distribution objects: their argument checks cost more than the arithmetic here."""
        batch = batch if archs is None else len(archs)
        if self.independent:
            return self._walk_independent(archs, batch)
        state, terms, entropies, taken_rows, picks, picked = self._start(batch), [], [], [], {}, {}
        for i, d in enumerate(self.decisions):
            taken = self._taken(d.label, picked)
            logits, stepped = self._step(i, d, state)
            index, probs, term, entropy = self._pick(d.kind, logits.expand(batch, d.size)[None], archs, [d], batch,
                                                     None if taken is None else taken[None])
            terms.append(term[0])
            entropies.append(entropy[0])
            taken_rows.append(torch.ones(batch, dtype=torch.bool) if taken is None else taken)
            picks[d.label], picked[d.label] = (index[0], probs[0], None), index[0]
            fed = self._feed(i, d, index[0], stepped)
            state = fed if taken is None else _where(taken, fed, state)  # a decision not taken leaves no trace
        walk = Walk(torch.stack(terms), torch.stack(entropies), picks, torch.stack(taken_rows))
        return self._values(walk, batch), walk

    def _walk_independent(self, archs: list[dict] | None, batch: int) -> tuple[list[dict], Walk]:
        """:meth:`_walk` for policies whose logits do not depend on earlier choices (``independent``): the
        decisions of one kind and size go through each tensor op together, as rows of one matrix; gated
        decisions come after their gates and are drawn only where taken."""
        terms, entropies, taken_rows, picks, picked = [], [], [], {}, {}
        for members in self._groups:
            gated = [self._taken(d.label, picked) for d in members]
            taken = None if gated[0] is None else torch.stack(gated)
            logits = self._logits(members)
            index, probs, term, entropy = self._pick(members[0].kind, logits[:, None], archs, members, batch, taken)
            terms.append(term)
            entropies.append(entropy)
            taken_rows.append(torch.ones(len(members), batch, dtype=torch.bool) if taken is None else taken)
            for row, d in enumerate(members):
                picks[d.label], picked[d.label] = (index, probs, row), index[row]
        walk = Walk(torch.cat(terms)[self._rows], torch.cat(entropies)[self._rows], picks,
                    torch.cat(taken_rows)[self._rows])
        return self._values(walk, batch), walk

    def _values(self, walk: Walk, batch: int) -> list[dict]:
        """The architectures of a walk: per row the values of the decisions taken (and only those)."""
        taken = walk.taken.tolist()
        chosen = [walk.index(d.label).tolist() for d in self.decisions]
        return [{d.label: d.value(chosen[r][b]) for r, d in enumerate(self.decisions) if taken[r][b]}
                for b in range(batch)]

    def _lookup(self, members: list[Decision], archs: list[dict], taken) -> list[list]:
        """The indices of ``archs``' values of ``members`` (a placeholder where not taken)."""
        out = []
        for r, d in enumerate(members):
            row = []
            for b, a in enumerate(archs):
                if taken is not None and not bool(taken[r, b]):
                    row.append([0] * d.size if d.kind == "bernoulli" else 0)
                    continue
                if d.label not in a:
                    raise ValueError(f"the architecture lacks decision {d.label!r}, which shapes its model; "
                                     "pass a complete architecture (as sample() returns it)")
                row.append(d.index(a[d.label]))
            out.append(row)
        return out

    def _pick(self, kind: str, logits, archs, members, batch: int, taken=None):
        """Sample (``archs=None``) or look up the choices of the decisions ``members`` from ``logits``
        ``(decisions, batch or 1, options)``: indices ``(decisions, batch[, options])``, probabilities, and
        per choice its log-probability and the distribution's entropy ``(decisions, batch)``. ``taken``
        (``(decisions, batch)`` booleans, or None for all): only those are drawn and count; the others get
        index 0 and zero terms."""
        shared = logits.shape[1] == 1  # one distribution per decision for the whole batch: draw `batch` from it
        if kind == "bernoulli":
            if taken is not None:
                raise ValueError("gated any-subset decisions are not supported")
            log_on, log_off = F.logsigmoid(logits), F.logsigmoid(-logits)
            probs = log_on.exp()
            if archs is None:
                index = torch.bernoulli(probs.detach().expand(-1, batch, -1), generator=self.generator)
            else:
                index = torch.tensor(self._lookup(members, archs, None), dtype=logits.dtype)
            term = (index * log_on + (1 - index) * log_off).sum(-1)
            entropy = -(probs * log_on + (1 - probs) * log_off).sum(-1)
            return index, probs, term, entropy.expand(len(members), batch)
        log_p = torch.log_softmax(logits, -1)
        probs = log_p.exp()
        if archs is not None:
            index = torch.tensor(self._lookup(members, archs, taken), dtype=torch.long)
        elif taken is None:
            index = torch.multinomial(probs.detach().reshape(-1, probs.shape[-1]), batch if shared else 1,
                                      replacement=True, generator=self.generator).reshape(len(members), batch)
        else:
            index = torch.zeros(len(members), batch, dtype=torch.long)
            if taken.any():
                rows = probs.detach().expand(-1, batch, -1)[taken]
                index[taken] = torch.multinomial(rows, 1, generator=self.generator)[:, 0]
        term = log_p.expand(-1, batch, -1).gather(2, index[..., None])[..., 0]
        entropy = (-(probs * log_p).sum(-1)).expand(len(members), batch)
        if taken is not None:
            term, entropy = term * taken, entropy * taken
        return index, probs, term, entropy

    @torch.no_grad()
    def sample(self) -> dict:
        """An architecture dict (the decisions that shape it), drawn with the policy's own generator (seeded)."""
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
        """Log-probability, entropy and skip penalty of ``arch`` over the decisions the policy samples for it."""
        ev, walk, mask = self._evaluate_batch([arch])
        terms = {d.label: walk.terms[row, 0] for row, d in enumerate(self.decisions) if mask[row, 0]}
        return Evaluation(ev.log_prob[0], ev.entropy[0], terms, ev.skip_kl[0])

    def _evaluate_batch(self, archs: list[dict]):
        """:meth:`evaluate` of several architectures in one pass: an :class:`Evaluation` of ``(batch,)``
        tensors (no terms), the walk, and the ``(decisions, batch)`` mask of the decisions taken."""
        _, walk = self._walk(archs)
        mask = walk.taken.to(walk.terms.dtype)
        skip_kl = walk.skip_kl if walk.skip_kl is not None else self._skip_kl(walk, len(archs))
        return Evaluation(walk.terms.sum(0), walk.entropies.sum(0), {}, skip_kl), walk, mask

    def _skip_kl(self, walk: Walk, batch: int) -> torch.Tensor:
        """ENAS' skip-density penalty for policies with Bernoulli decisions: per any-subset decision (layer)
        the KL divergence of its candidates' probabilities from ``skip_target``, summed over the candidates
        and averaged over the decisions, as the original averages it over layers."""
        target, kls = self.hparams["skip_target"], []
        for d in self.decisions:
            if d.kind == "bernoulli":
                p = walk.probs(d.label).clamp(1e-6, 1 - 1e-6)
                kls.append((p * torch.log(p / target) + (1 - p) * torch.log((1 - p) / (1 - target))).sum(-1)
                           .expand(batch))
        return torch.stack(kls).mean(0) if kls else torch.zeros(batch)

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
        -log pi(arch) (R - b) to the loss (plus ENAS' skip penalty); with ``baseline="leave-one-out"`` and
        several samples, b is instead the mean of the other samples' rewards; gradients are summed over the batch
        (averaged with ``average_samples``, as ENAS' synchronous aggregation does), whose log-probabilities
        are computed in one pass."""
        if len(archs) != len(rewards) or not archs:
            raise ValueError(f"update needs as many rewards as architectures (got {len(archs)} and {len(rewards)})")
        h = self.hparams
        optimizer = self.optimizer()
        ev, _, _ = self._evaluate_batch(archs)
        entropies = ev.entropy.detach().tolist()
        returns, advantages = [float(r) + h["entropy_weight"] * e for r, e in zip(rewards, entropies)], []
        for r in returns:
            b = 0.0 if self.baseline is None else self.baseline  # starts at 0, as in ENAS
            self.baseline = b - (1 - h["baseline_decay"]) * (b - r)
            advantages.append(r - self.baseline)
        if h["baseline"] == "leave-one-out" and len(returns) > 1:
            total, n = sum(returns), len(returns)  # each against the mean of the others, scored on the same data
            advantages = [r - (total - r) / (n - 1) for r in returns]
        per_sample = -ev.log_prob * torch.tensor(advantages) + h["skip_weight"] * ev.skip_kl
        loss = per_sample.mean() if h.get("average_samples") else per_sample.sum()
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
        independent; otherwise the frequency over ``samples`` draws (default 200; a gated decision's among
        the draws that took it), made with a copy of the generator so reading never changes what is
        sampled next."""
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
            for row, d in enumerate(self.decisions):
                index, taken = walk.index(d.label), walk.taken[row]
                if d.kind == "bernoulli":
                    counts[d.label] += index[taken].sum(0)
                else:
                    counts[d.label] += torch.bincount(index[taken], minlength=d.size).float()
                counts[d.label] /= max(int(taken.sum()), 1)
        finally:
            self.generator = generator
        return {d.label: self._as_table(d, counts[d.label]) for d in self.decisions}

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
        parameters only: no optimizer moments, baseline, update count or generator state)."""
        labels = [d.label for d in self.decisions]
        if state.get("name") != self.name:
            raise ValueError(f"this state is the {state.get('name')} policy's; the {self.name} policy cannot load it "
                             f"(use the policy it was trained with)")
        if state.get("labels") != labels:
            raise ValueError(f"this {state.get('name')} state belongs to a space with other decisions; it cannot "
                             f"load into a {self.name} policy over {len(labels)} decisions")
        self.load_state_dict(state["model"])
        if optimizer:
            if state["optimizer"] is not None:
                self.optimizer().load_state_dict(state["optimizer"])
            self.baseline, self.updates = state["baseline"], state["updates"]
            self.generator.set_state(state["generator"])
