"""A generic LSTM controller over any space's decisions, as NNI 2.x's was: one LSTM step per decision,
a separate linear head per decision, the sampled value's embedding fed back. It is not ENAS' controller
(``strategies/enas.py`` is): it walks NNI's order (with each input pair just before the operations it
keeps), picks inputs and skips with linear heads instead of attention over earlier nodes, has no
operation prior, and its skips are one sigmoid each.

It borrows ENAS' constants: 64 units, 1 layer, weights uniform(-0.1, 0.1); logits through
``tanh_constant * tanh`` (1.5 macro, 1.1 micro; operation logits further divided by ``op_tanh_reduce`` = 2.5
in micro); any-subset choices (macro skips) as Bernoulli with a KL penalty toward skip density 0.4, weight
0.8, averaged over layers; entropy weight 1e-4 added to the reward; baseline decay 0.99; Adam beta1 = 0,
eps = 1e-3, lr 1e-3 (macro) / 3.5e-3 (micro); gradients summed over 20 (macro) / 10 (micro) samples per
update. A gated decision (the operation on an edge its node does not keep) is neither sampled nor stepped.
"""
from __future__ import annotations

import torch
from torch import nn

from .base import Policy
from .decisions import gates_first

PRESETS = {
    "macro": dict(tanh_constant=1.5, op_tanh_reduce=1.0, lr=1e-3, samples_per_update=20),
    "micro": dict(tanh_constant=1.1, op_tanh_reduce=2.5, lr=3.5e-3, samples_per_update=10),
}


class LstmPolicy(Policy):
    """``preset`` ``"macro"`` or ``"micro"`` picks the constants; by default ``macro`` for the ENAS
    macro space and ``micro`` for the cell spaces. Any constant can be overridden."""

    name = "lstm"
    independent = False

    def __init__(self, space, *, seed: int = 0, preset: str | None = None, lstm_size: int = 64,
                 tanh_constant: float | None = None, op_tanh_reduce: float | None = None, lr: float | None = None,
                 samples_per_update: int | None = None, entropy_weight: float = 1e-4, baseline_decay: float = 0.99,
                 skip_weight: float = 0.8, skip_target: float = 0.4, **kwargs):
        preset = preset or ("macro" if getattr(space, "name", "") == "enas-macro" else "micro")
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {list(PRESETS)}, got {preset!r}")
        p = PRESETS[preset]
        super().__init__(space, seed=seed, lr=p["lr"] if lr is None else lr, betas=(0.0, 0.999), eps=1e-3,
                         baseline_decay=baseline_decay, entropy_weight=entropy_weight, skip_weight=skip_weight,
                         skip_target=skip_target,
                         samples_per_update=p["samples_per_update"] if samples_per_update is None else samples_per_update,
                         **kwargs)
        self.preset = preset
        self.tanh_constant = p["tanh_constant"] if tanh_constant is None else tanh_constant
        self.op_tanh_reduce = p["op_tanh_reduce"] if op_tanh_reduce is None else op_tanh_reduce
        init = torch.Generator().manual_seed(seed)
        self.lstm = nn.LSTMCell(lstm_size, lstm_size)
        self.start = nn.Parameter(torch.zeros(1, lstm_size))
        self.heads = nn.ModuleList(nn.Linear(lstm_size, d.size, bias=False) for d in self.decisions)
        self.embeddings = nn.ModuleList(nn.Embedding(d.size, lstm_size) for d in self.decisions)
        with torch.no_grad():
            for param in self.parameters():
                param.uniform_(-0.1, 0.1, generator=init)

    def _order(self, decisions):
        return gates_first(decisions, self.gates)

    def _is_op(self, decision) -> bool:
        return decision.kind == "choice" and all(isinstance(o, str) for o in decision.options)

    def _start(self, batch):
        zeros = self.start.new_zeros(batch, self.start.shape[1])
        return self.start.expand(batch, -1), (zeros, zeros)

    def _step(self, i, decision, state):
        inputs, hc = state
        h, c = self.lstm(inputs, hc)
        logits = self.heads[i](h)
        constant = self.tanh_constant / (self.op_tanh_reduce if self._is_op(decision) else 1.0)
        return constant * torch.tanh(logits), (None, (h, c))

    def _feed(self, i, decision, index, state):
        _, hc = state
        table = self.embeddings[i].weight
        if decision.kind == "bernoulli":  # mean of the chosen candidates' embeddings, as NNI 2.x did
            chosen = index.float()
            embedded = chosen @ table / (1.0 + chosen.sum(-1, keepdim=True))
        else:
            embedded = table[index]
        return embedded, hc
