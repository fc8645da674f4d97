"""Search policies over any NNI space: uniform random, EDNAS policy vectors, ENAS' controller, a generic
LSTM controller, behind one interface (``sample``, ``evaluate``, ``update``, ``probabilities``,
``state``/``load_state``) and one REINFORCE (``strategies/base.py``)."""
from __future__ import annotations

import importlib
import warnings

# the spaces' command-line names (nni_spaces.SPACES, which imports torch; a test keeps the two equal), for
# tuners that must validate classArgs before NNI's 10-second connection deadline
SPACE_NAMES = ("enas-macro", "enas-micro", "darts", "ednas-cell")
POLICY_CLASSES = {"uniform": ".uniform:UniformPolicy", "ednas": ".ednas:EdnasPolicy", "lstm": ".lstm:LstmPolicy",
                  "enas": ".enas:EnasPolicy"}
POLICY_ALIASES = {"enas-lstm": "lstm"}  # old name of the generic LSTM, accepted by make_policy with a warning
BASELINES = ("moving", "leave-one-out")
"""What a reward is compared with. ``moving``: the papers' exponential moving average of earlier rewards
(ENAS, EDNAS). ``leave-one-out``: in an update of several samples, the mean reward of the update's other
samples (Kool et al. 2019), unbiased; where the samples were scored on the same minibatch it cancels the
minibatch's difficulty, which the moving average cannot (one sample: the moving average)."""


def check_baseline(value, name: str = "baseline") -> str:
    """``value`` if it is one of :data:`BASELINES`, else ``ValueError``: one line that names ``name``."""
    if value not in BASELINES:
        raise ValueError(f"{name} must be one of {', '.join(BASELINES)}, got {value!r}")
    return value

_LAZY = {"Evaluation": ".base", "Policy": ".base", "Decision": ".decisions", "space_decisions": ".decisions",
         "EdnasPolicy": ".ednas", "EnasPolicy": ".enas", "LstmPolicy": ".lstm", "UniformPolicy": ".uniform"}


def __getattr__(name):
    """Import torch-backed members on first use, so that importing ``strategies.tuner`` (which NNI's
    dispatcher does before it must connect, within 10 s) stays light."""
    if name == "POLICIES":
        return {key: _load(path) for key, path in POLICY_CLASSES.items()}
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _load(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module, __name__), attr)


def make_policy(name: str, space, **kwargs):
    """A policy by name (``uniform``, ``ednas``, ``lstm``, ``enas``) over ``space``."""
    if name in POLICY_ALIASES:
        warnings.warn(f"policy {name!r} is now called {POLICY_ALIASES[name]!r}", DeprecationWarning, stacklevel=2)
        name = POLICY_ALIASES[name]
    if name not in POLICY_CLASSES:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICY_CLASSES)}")
    return _load(POLICY_CLASSES[name])(space, **kwargs)


__all__ = ["BASELINES", "check_baseline", "Decision", "Evaluation", "Policy", "POLICIES", "POLICY_ALIASES",
           "EdnasPolicy", "EnasPolicy", "LstmPolicy", "UniformPolicy", "make_policy", "space_decisions"]
