"""Two small rules every entry point shares, kept in one place (and light: no NNI, no numpy).

- :func:`positive_int`: the check behind every "must be a positive integer" message.
- :func:`trial_seed`: the training seed of one sample of a search, so a tuner, its trials and a report that
  retrains the sample all derive the same one.
"""
from __future__ import annotations


def positive_int(name: str, value, minimum: int = 1) -> int:
    """``value`` if it is an int >= ``minimum`` (not a bool), else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return value


def trial_seed(seed: int, sample_id: int) -> int:
    """The training seed of sample ``sample_id`` of a search run with ``seed``: distinct per sample, the same on
    every rerun."""
    return int(seed) * 100003 + int(sample_id)
