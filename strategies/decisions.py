"""The decisions of any NNI space, as a policy sees them (DESIGN.md's table).

- ``Categorical`` (LayerChoice, ``nni.choice``): one logit per candidate;
- ``CategoricalMultiple`` with ``n_chosen=k`` (InputChoice of k inputs): one logit per k-subset, the
  C(e, k) entries of EDNAS' structure policy;
- ``CategoricalMultiple`` with ``n_chosen=None`` (any subset, ENAS macro skips): one Bernoulli logit per
  candidate.

Decisions with a single option are left out (nothing to learn, no log-probability term).
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
