"""The decisions of any NNI space, as a policy sees them.

- ``Categorical`` (LayerChoice, ``nni.choice``): one logit per candidate;
- ``CategoricalMultiple`` with ``n_chosen=k`` (InputChoice of k inputs): one logit per k-subset, the
  C(e, k) entries of EDNAS' structure policy;
- ``CategoricalMultiple`` with ``n_chosen=None`` (any subset, ENAS macro skips): one Bernoulli logit per
  candidate.

Decisions with a single option are left out (nothing to learn, no log-probability term). A decision can
be *gated* by another: the operation on a DARTS/EDNAS edge shapes the model only when the node's input
pair keeps that edge. :func:`decision_gates` finds the gates from the space's ``active``, so that a policy
samples (and scores) a gated decision only where its gate lets it through.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from nni.mutable import CategoricalMultiple


@dataclass(frozen=True)
class Decision:
    """One decision: ``label``, ``kind`` (``choice`` / ``subset`` / ``bernoulli``) and its ``options``
    (candidate values; for ``subset`` the sorted k-subsets; for ``bernoulli`` the candidates)."""

    label: str
    kind: str
    options: tuple

    @property
    def size(self) -> int:
        return len(self.options)

    @property
    def keys(self) -> list[str]:
        """Readable names of the options (a k-subset as ``"0,2"``), as ``Policy.probabilities`` shows them."""
        return [",".join(map(str, o)) if isinstance(o, tuple) else str(o) for o in self.options]

    def value(self, index) -> object:
        """The architecture value for a sampled index (or, for ``bernoulli``, a 0/1 vector)."""
        if self.kind == "choice":
            return self.options[int(index)]
        if self.kind == "subset":
            return list(self.options[int(index)])
        return [c for c, bit in zip(self.options, index) if int(bit)]

    def index(self, value) -> object:
        """The inverse of :meth:`value`."""
        if self.kind == "choice":
            return self.options.index(value)
        if self.kind == "subset":
            return self.options.index(tuple(sorted(value)))
        return [int(c in value) for c in self.options]


def space_decisions(space) -> list[Decision]:
    """The decisions of ``space`` (anything with NNI's ``simplify()``), in NNI's order."""
    mutables = space.decisions() if hasattr(space, "decisions") else space.simplify()
    out = []
    for label, choice in mutables.items():
        values = tuple(choice.values)
        if isinstance(choice, CategoricalMultiple):
            if choice.n_chosen is None:
                out.append(Decision(label, "bernoulli", values))
                continue
            subsets = tuple(itertools.combinations(values, choice.n_chosen))
            if len(subsets) > 1:
                out.append(Decision(label, "subset", subsets))
        elif len(values) > 1:
            out.append(Decision(label, "choice", values))
    return out


def decision_gates(space, decisions: list[Decision]) -> dict[str, tuple[str, frozenset]]:
    """Label -> ``(gate label, option indices of the gate that make it shape the model)`` for every decision
    whose effect depends on another decision's value (found by setting each ``choice``/``subset`` decision to
    each of its options and asking ``space.active``); decisions that always shape the model are absent."""
    if not hasattr(space, "active") or not hasattr(space, "sample"):
        return {}
    labels = [d.label for d in decisions]
    gates: dict[str, tuple[str, frozenset]] = {}
    for seed in (0, 1):  # two base architectures: a gate must not depend on the others' values
        base = space.sample(seed)
        base_active = set(space.active(base))
        for s in decisions:
            if s.kind == "bernoulli":
                continue
            per_option = [set(space.active({**base, s.label: s.value(k)})) for k in range(s.size)]
            for label in labels:
                on = frozenset(k for k, act in enumerate(per_option) if label in act)
                if label == s.label or len(on) in (0, s.size):
                    continue
                if label in gates and gates[label] != (s.label, on):
                    raise ValueError(f"decision {label!r} depends on more than one other decision; policies support "
                                     "one gate per decision")
                gates[label] = (s.label, on)
        missing = [label for label in labels if label not in base_active and label not in gates]
        if missing:
            raise ValueError(f"decision {missing[0]!r} shapes no model of this space and has no single gate")
    for label, (gate, _) in gates.items():
        if gate in gates:
            raise ValueError(f"decision {label!r} is gated by {gate!r}, itself gated; policies support one level")
    return gates


def gates_first(decisions: list[Decision], gates: dict) -> list[Decision]:
    """``decisions`` reordered so that each gate comes just before the first decision it gates (otherwise
    NNI's order): a sequential policy must know an edge is kept before it decides the edge's operation."""
    by_label, out, seen = {d.label: d for d in decisions}, [], set()
    for d in decisions:
        if d.label in seen:
            continue
        gate = gates.get(d.label, (None,))[0]
        if gate is not None and gate not in seen:
            out.append(by_label[gate])
            seen.add(gate)
        out.append(d)
        seen.add(d.label)
    return out
