"""Uniform random sampling over a space's decisions: the policy whose update changes nothing, which is
what makes it the fair random baseline (same interface, same protocol, no learning)."""
from __future__ import annotations

import torch

from .base import Policy


class UniformPolicy(Policy):
    """Every option of every decision equally likely (any-subset choices: each candidate with p = 0.5); like
    every policy it draws only the decisions that shape the model, so an architecture's probability is the
    product over exactly those."""

    name = "uniform"

    def _step(self, i, decision, state):
        return torch.zeros(decision.size), state
