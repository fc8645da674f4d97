"""Search policies over any NNI space: uniform random, EDNAS policy vectors, the ENAS LSTM controller,
behind one interface (``sample``, ``evaluate``, ``update``, ``probabilities``, ``state``/``load_state``)
and one REINFORCE (``strategies/base.py``)."""
from __future__ import annotations

from .base import Evaluation, Policy
from .decisions import Decision, space_decisions
from .ednas import EdnasPolicy
from .enas_lstm import EnasController
from .uniform import UniformPolicy

POLICIES = {"uniform": UniformPolicy, "ednas": EdnasPolicy, "enas-lstm": EnasController}


def make_policy(name: str, space, **kwargs) -> Policy:
    """A policy by name (``uniform``, ``ednas``, ``enas-lstm``) over ``space``."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    return POLICIES[name](space, **kwargs)


__all__ = ["Decision", "Evaluation", "Policy", "POLICIES", "EdnasPolicy", "EnasController", "UniformPolicy",
           "make_policy", "space_decisions"]
