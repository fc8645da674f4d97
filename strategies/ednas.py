"""EDNAS policy vectors (Lee, Kim, Han; the logue311/EDNAS code): one independent logit vector per
decision, so per cell type a structure vector per node over its C(e_i, 2) input pairs (3, 6, 10 in
the EDNAS cell; the first node's pair is fixed) and a 7-way operation vector per edge; any-subset
choices get one Bernoulli logit per candidate.

Defaults are the paper's: init 1e-3 * randn; Adam lr 3.5e-4, betas (0.5, 0.999), weight decay 1e-3;
baseline b <- b - 0.01 (b - R) before the advantage; one policy step per validation minibatch (one
sample per update). The log-probability applies the softmax once (the EDNAS code applied it twice). The
operation of an edge the node does not keep is neither drawn nor scored (``strategies/base.py``).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import Policy


class EdnasPolicy(Policy):
    name = "ednas"

    def __init__(self, space, *, seed: int = 0, lr: float = 3.5e-4, betas=(0.5, 0.999), weight_decay: float = 1e-3,
                 baseline_decay: float = 0.99, samples_per_update: int = 1, **kwargs):
        super().__init__(space, seed=seed, lr=lr, betas=betas, weight_decay=weight_decay,
                         baseline_decay=baseline_decay, samples_per_update=samples_per_update, **kwargs)
        init = torch.Generator().manual_seed(seed)
        self.vectors = nn.ParameterDict({
            self._key(d.label): nn.Parameter(1e-3 * torch.randn(d.size, generator=init)) for d in self.decisions})
        # each group's parameters, in order: the ParameterDict lookups cost more than the stacking
        self._stacks = {tuple(d.label for d in group): [self.vector(d.label) for d in group] for group in self._groups}

    @staticmethod
    def _key(label: str) -> str:
        return label.replace("/", "__")  # ParameterDict keys cannot hold dots; slashes kept readable

    def vector(self, label: str) -> nn.Parameter:
        """The policy vector (logits) of one decision."""
        return self.vectors[self._key(label)]

    def _step(self, i, decision, state):
        return self.vectors[self._key(decision.label)], state

    def _logits(self, decisions):
        return torch.stack(self._stacks[tuple(d.label for d in decisions)])
