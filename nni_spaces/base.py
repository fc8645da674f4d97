"""What every space offers on top of NNI's ``ModelSpace``: checked architecture dicts, the decisions
that matter, exact counts, ``freeze`` to a plain module, and nnictl search-space JSON both ways.

An architecture is NNI's sample: a plain dict from decision label to value, e.g.
``{"normal/input_3": [0, 2], "normal/op_3_0": "sep_conv_3x3", ...}``; a multi-input choice's value is
the sorted list of chosen input indices. Decisions that do not shape the model (the op on an edge the
structure did not select) may be left out.
"""
from __future__ import annotations

import difflib
import itertools
import json
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import nn

warnings.filterwarnings("ignore", message=r".*is found to be not a nn\.Module.*")  # NNI 3.0 vs torch 2.14 noise
from nni.mutable import Categorical, CategoricalMultiple  # noqa: E402
from nni.nas.nn.pytorch import ModelSpace  # noqa: E402

from nni_plumbing.checks import positive_int  # noqa: E402


class ArchitectureError(ValueError):
    """An architecture dict (or genotype) that this space cannot build; the message names the bad key or value."""


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (str, int, float, list, dict, bool)) or value is None else repr(value)


_positive_int = positive_int  # the one check behind every "must be a positive integer" message


class SearchSpace(ModelSpace):
    """Base of the paper spaces. Subclasses build their mutables in ``__init__`` and implement
    ``_structure_labels``, ``active``, ``canonical``, ``count``, ``genotype`` and ``_build``."""

    name = "space"

    # ----------------------------------------------------------------- decisions
    def decisions(self) -> dict[str, Categorical | CategoricalMultiple]:
        """Label -> NNI mutable (``Categorical`` or ``CategoricalMultiple``), in the order NNI lists them."""
        if "_decisions" not in self.__dict__:
            self.__dict__["_decisions"] = dict(self.simplify())
        return self.__dict__["_decisions"]

    def sample(self, seed: int | None = None) -> dict:
        """A uniformly random architecture (every decision, as NNI samples it); the same seed gives the same one."""
        memo: dict = {}
        state = np.random.RandomState(seed)
        for choice in self.decisions().values():
            choice.random(memo, state)
        return {k: sorted(int(i) for i in v) if isinstance(v, list) else v for k, v in memo.items()}

    # ----------------------------------------------------------------- checking
    def _structure_labels(self) -> list[str]:
        """Labels that must be present before the active set can be computed."""
        return []

    def active(self, arch: Mapping) -> list[str]:
        """The labels whose values shape the model built from ``arch`` (each once)."""
        return list(self.decisions())

    def check(self, arch: Any) -> dict:
        """Validate ``arch`` and return it normalised (multi-input values as sorted lists).

        Raises :class:`ArchitectureError` with one line naming the bad key or value.
        """
        if not isinstance(arch, Mapping):
            raise ArchitectureError(f"an architecture must be a JSON object from decision label to value, "
                                    f"got {type(arch).__name__}")
        decisions = self.decisions()
        out = {}
        for key, value in arch.items():
            if key not in decisions:
                near = difflib.get_close_matches(str(key), list(decisions), n=1)
                hint = f"did you mean {near[0]!r}?" if near else f"labels look like {list(decisions)[:3]}"
                raise ArchitectureError(f"unknown decision {key!r} for the {self.name} space; {hint}")
            out[key] = self._check_value(key, decisions[key], value)
        for label in self._structure_labels():
            self._require(out, label)
        for label in self.active(out):
            self._require(out, label)
        return out

    def _require(self, arch: dict, label: str) -> None:
        if label not in arch:
            choice = self.decisions()[label]
            raise ArchitectureError(f"missing decision {label!r} (one of {self._describe(choice)})")

    @staticmethod
    def _describe(choice) -> str:
        if isinstance(choice, CategoricalMultiple):
            many = "any subset" if choice.n_chosen is None else f"{choice.n_chosen} distinct"
            return f"{many} of {list(choice.values)}, as a list"
        return _show(list(choice.values))

    def _check_value(self, key: str, choice, value: Any):
        if isinstance(choice, CategoricalMultiple):
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and choice.n_chosen == 1:
                value = [int(value)]
            if not isinstance(value, (list, tuple)) or any(
                    isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in value):
                raise ArchitectureError(f"{key!r} = {_show(value)} must be a list of input indices "
                                        f"({self._describe(choice)})")
            chosen = sorted(int(v) for v in value)
            bad = [v for v in chosen if v not in choice.values]
            if bad or len(set(chosen)) != len(chosen) or (choice.n_chosen is not None and len(chosen) != choice.n_chosen):
                raise ArchitectureError(f"{key!r} = {_show(list(value))} is not {self._describe(choice)}")
            return chosen
        if isinstance(value, (list, dict)) or value not in choice.values:
            raise ArchitectureError(f"{key!r} = {_show(value)} is not one of {_show(list(choice.values))}")
        return value

    # ----------------------------------------------------------------- building
    def freeze(self, sample: Any) -> nn.Module:
        """The plain PyTorch model of one architecture (only the chosen operations are built)."""
        return self._build(self.check(sample))

    def _build(self, arch: dict) -> nn.Module:
        raise NotImplementedError

    def canonical(self, arch: Mapping) -> tuple:
        """A hashable key equal for two architectures exactly when they build the same computation."""
        arch = self.check(arch)
        return tuple((label, _hashable(arch[label])) for label in self.active(arch))

    def count(self) -> int:
        raise NotImplementedError

    # ----------------------------------------------------------------- nnictl
    def to_nnictl(self) -> dict:
        """nnictl's search-space JSON. A choice of k inputs becomes one choice over the k-subsets; a
        choice of any subset becomes one 0/1 choice per candidate, named ``label[index]``."""
        space = {}
        for label, choice in self.decisions().items():
            if isinstance(choice, CategoricalMultiple):
                if choice.n_chosen is None:
                    for v in choice.values:
                        space[f"{label}[{v}]"] = {"_type": "choice", "_value": [0, 1]}
                else:
                    space[label] = {"_type": "choice",
                                    "_value": [list(c) for c in itertools.combinations(choice.values, choice.n_chosen)]}
            else:
                space[label] = {"_type": "choice", "_value": list(choice.values)}
        return space

    def nnictl_params(self, arch: Mapping) -> dict:
        """The parameters a tuner sends for ``arch`` in :meth:`to_nnictl`'s space (inverse of :meth:`from_nnictl`)."""
        arch = self.check(arch)
        params = {}
        for label, choice in self.decisions().items():
            if label not in arch:
                continue
            if isinstance(choice, CategoricalMultiple) and choice.n_chosen is None:
                params.update({f"{label}[{v}]": int(v in arch[label]) for v in choice.values})
            else:
                params[label] = arch[label]
        return params

    def from_nnictl(self, params: Mapping) -> dict:
        """The architecture dict from the parameters an nnictl tuner sent for :meth:`to_nnictl`'s space."""
        if not isinstance(params, Mapping):
            raise ArchitectureError(f"trial parameters must be a JSON object, got {type(params).__name__}")
        arch: dict = {}
        decisions = self.decisions()
        for key, value in params.items():
            label, _, index = key.partition("[")
            choice = decisions.get(label)
            if index and isinstance(choice, CategoricalMultiple) and choice.n_chosen is None:
                subset = arch.setdefault(label, [])
                if value not in (0, 1):
                    raise ArchitectureError(f"{key!r} = {_show(value)} must be 0 or 1")
                if value:
                    subset.append(int(index.rstrip("]")))
            else:
                arch[key] = value
        for label, choice in decisions.items():  # an any-subset choice with every flag 0 is the empty subset
            if isinstance(choice, CategoricalMultiple) and choice.n_chosen is None and any(
                    k.startswith(label + "[") for k in params):
                arch.setdefault(label, [])
        return self.check(arch)


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value
