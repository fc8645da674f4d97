"""ENAS' controller (Pham et al. 2018, "Efficient Neural Architecture Search via Parameter Sharing"), as
its code builds it (``general_controller.py`` for the macro space, ``micro_controller.py`` for cells),
over the four spaces of this toolkit. ``docs/enas.md`` lists every remaining difference and why.

One LSTM cell (64 units, no bias, weights uniform(-0.1, 0.1)) walks the decisions in ENAS' order:

- macro, per layer: the operation (logits ``w_soft h``, one shared embedding table fed back), one more
  step, then the layer's skips by attention over the earlier layers' states (the anchors):
  ``q_j = v . tanh(W1 anchor_j + W2 h)``, logits ``[-q, q]`` through ``1.5 tanh``, so a skip is on with
  probability ``sigmoid(2 * 1.5 tanh(q))`` (0.05 to 0.95); the mean of the chosen anchors is fed back. The
  skip penalty is the original's KL of ``sigmoid(1.5 tanh q)`` from 0.4, summed over a layer's skips and
  averaged over the layers, weight 0.8;
- cells (ENAS micro, slots), per node: input, input (attention over the earlier nodes, ``1.1 tanh``; the
  chosen node's state fed back, zeros for the two cell inputs), op, op (logits ``w_soft h + b_soft``
  through ``1.1 / 2.5 tanh``, plus the fixed prior +0.25 / -0.25 in the normal cell; ``b_soft`` starts at 10
  on the convolutions), one more step whose state becomes the node's anchor. The reduction cell continues
  from the normal cell's last state;
- DARTS and EDNAS cells (pairs): as cells, except that a node keeps two *distinct* edges: the first pick by
  attention, the second by attention with the first masked out; the architecture records the pair
  unordered, so the update scores the pair's probability summed over both pick orders, and the walk
  continues as if the lower edge had been picked first; then one op per kept edge, lower edge first.

REINFORCE as the original trains it: reward plus 1e-4 times the entropy, baseline decay 0.99, Adam
(beta1 0, eps 1e-3), lr 1e-3 (macro) / 3.5e-3 (cells), gradients averaged over 20 (macro) / 10 (cells)
samples per step.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from nni_spaces.cell_space import PairCellSearchSpace, SlotCellSearchSpace
from nni_spaces.cells import CELL_TYPES
from nni_spaces.enas_macro import EnasMacroSpace

from .base import Policy, Walk

PRESETS = {
    "macro": dict(tanh_constant=1.5, op_tanh_reduce=1.0, lr=1e-3, samples_per_update=20, skip_weight=0.8),
    "micro": dict(tanh_constant=1.1, op_tanh_reduce=2.5, lr=3.5e-3, samples_per_update=10, skip_weight=0.0),
}
OP_PRIOR_INIT = 10.0  # b_soft's start on the convolutions (the original's [10, 10, 0, 0, 0])
OP_PRIOR_FIXED = 0.25  # the normal cell's fixed prior: +0.25 convolutions, -0.25 the others


class EnasPolicy(Policy):
    """The ENAS controller over ``enas-macro`` (macro controller) or a cell space (micro controller); any
    constant can be overridden (``op_prior=False`` drops both operation priors)."""

    name = "enas"
    independent = False

    def __init__(self, space, *, seed: int = 0, lstm_size: int = 64, tanh_constant: float | None = None,
                 op_tanh_reduce: float | None = None, lr: float | None = None, samples_per_update: int | None = None,
                 entropy_weight: float = 1e-4, baseline_decay: float = 0.99, skip_weight: float | None = None,
                 skip_target: float = 0.4, op_prior: bool = True, **kwargs):
        if isinstance(space, EnasMacroSpace):
            structure = "macro"
        elif isinstance(space, SlotCellSearchSpace):
            structure = "slots"
        elif isinstance(space, PairCellSearchSpace):
            structure = "pairs"
        else:
            raise ValueError(f"the enas policy needs a space with node/input structure (enas-macro, enas-micro, darts, "
                             f"ednas-cell), got {type(space).__name__}; the lstm policy takes any space")
        self.__dict__["structure"] = structure  # _order, called by Policy.__init__, needs it
        p = PRESETS["macro" if structure == "macro" else "micro"]
        super().__init__(space, seed=seed, lr=p["lr"] if lr is None else lr, betas=(0.0, 0.999), eps=1e-3,
                         baseline_decay=baseline_decay, entropy_weight=entropy_weight,
                         skip_weight=p["skip_weight"] if skip_weight is None else skip_weight, skip_target=skip_target,
                         samples_per_update=p["samples_per_update"] if samples_per_update is None else samples_per_update,
                         average_samples=True, **kwargs)
        self.tanh_constant = p["tanh_constant"] if tanh_constant is None else tanh_constant
        self.op_tanh_reduce = p["op_tanh_reduce"] if op_tanh_reduce is None else op_tanh_reduce
        self.lstm_size = lstm_size
        self._decision = {d.label: d for d in self.decisions}
        ops = list(space.ops)
        self.lstm = nn.LSTMCell(lstm_size, lstm_size, bias=False)
        self.g_emb = nn.Parameter(torch.empty(1, lstm_size))
        self.w_emb = nn.Parameter(torch.empty(len(ops), lstm_size))  # one table, shared by every op decision
        self.w_soft = nn.Parameter(torch.empty(lstm_size, len(ops)))
        self.w_attn_1 = nn.Parameter(torch.empty(lstm_size, lstm_size))
        self.w_attn_2 = nn.Parameter(torch.empty(lstm_size, lstm_size))
        self.v_attn = nn.Parameter(torch.empty(lstm_size, 1))
        conv = torch.tensor([float("conv" in op) for op in ops])
        if structure != "macro":
            self.b_soft = nn.Parameter(torch.empty(len(ops)))
        init = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for param in self.parameters():
                param.uniform_(-0.1, 0.1, generator=init)
            if structure != "macro":
                self.b_soft.copy_(OP_PRIOR_INIT * conv if op_prior else torch.zeros(len(ops)))
        self.register_buffer("b_fixed", OP_PRIOR_FIXED * (2 * conv - 1) if op_prior else torch.zeros(len(ops)),
                             persistent=False)

    # ------------------------------------------------------------------ order
    def _labels(self) -> list[str]:
        """Every label ENAS decides, in its order (some may be absent: a single-option decision is fixed)."""
        space = self.space
        if self.structure == "macro":
            return [label for i in range(space.num_layers) for label in ([f"op_{i}"] + ([f"skip_{i}"] if i else []))]
        out = []
        for cell in CELL_TYPES:
            for n in space.nodes():
                if self.structure == "slots":
                    out += [f"{cell}/input_{n}_0", f"{cell}/input_{n}_1", f"{cell}/op_{n}_0", f"{cell}/op_{n}_1"]
                else:
                    out += ([f"{cell}/input_{n}"] if n > 2 else []) + [f"{cell}/op_{n}_{j}" for j in range(n)]
        return out

    def _order(self, decisions):
        by_label = {d.label: d for d in decisions}
        order = [by_label[label] for label in self._labels() if label in by_label]
        if len(order) != len(decisions):
            extra = sorted(set(by_label) - set(self._labels()))
            raise ValueError(f"the enas policy does not know the decision {extra[0]!r} of the {self.space.name} space")
        return order

    # ------------------------------------------------------------------ one walk
    def _walk(self, archs, batch=1):
        batch = batch if archs is None else len(archs)
        rec = {"archs": archs, "batch": batch, "out": {}}
        zeros = self.g_emb.new_zeros(batch, self.lstm_size)
        hc, skip_kl = (zeros, zeros), None
        if self.structure == "macro":
            skip_kl = self._walk_macro(rec, hc)
        else:
            for cell in CELL_TYPES:  # the reduction cell's controller continues from the normal cell's last state
                hc = self._walk_cell(rec, cell, hc)
        out = rec["out"]
        rows = [out[d.label] for d in self.decisions]
        walk = Walk(torch.stack([r[2] for r in rows]), torch.stack([r[3] for r in rows]),
                    {d.label: (r[0], r[1], None) for d, r in zip(self.decisions, rows)},
                    torch.stack([r[4] for r in rows]), skip_kl)
        return self._values(walk, batch), walk

    def _attend(self, h, keys):
        """Attention logits over the anchors, ``v . tanh(W1 anchor + W2 h)``: ``keys`` ``(batch, n, H)``
        are the anchors times ``W1``, ``h`` ``(batch, [m,] H)``; returns ``(batch, [m,] n)``."""
        query = h @ self.w_attn_2
        return (torch.tanh(keys.unsqueeze(-3) + query.unsqueeze(-2)) @ self.v_attn)[..., 0] if h.dim() == 3 else \
            (torch.tanh(keys + query[:, None]) @ self.v_attn)[..., 0]

    def _choose(self, rec, label: str, logits, taken=None):
        """Sample or look up ``label`` from ``(batch, options)`` logits (only where ``taken``); records its
        term, entropy and probabilities; returns the indices (0 where not taken or the decision is fixed)."""
        batch = rec["batch"]
        d = self._decision.get(label)
        if d is None:  # a single option: fixed, nothing to learn
            return torch.zeros(batch, dtype=torch.long)
        log_p = torch.log_softmax(logits, -1)
        probs = log_p.exp()
        if rec["archs"] is not None:
            index = torch.tensor(self._lookup([d], rec["archs"], None if taken is None else taken[None])[0])
        elif taken is None:
            index = torch.multinomial(probs.detach(), 1, generator=self.generator)[:, 0]
        else:
            index = torch.zeros(batch, dtype=torch.long)
            if taken.any():
                index[taken] = torch.multinomial(probs.detach()[taken], 1, generator=self.generator)[:, 0]
        term = log_p.gather(1, index[:, None])[:, 0]
        entropy = -(probs * log_p).sum(-1)
        if taken is None:
            taken = torch.ones(batch, dtype=torch.bool)
        else:
            term, entropy = term * taken, entropy * taken
        rec["out"][label] = (index, probs, term, entropy, taken)
        return index

    def _op(self, rec, cell: str | None, label: str, h, taken=None):
        """An operation decision from the LSTM output ``h``; returns the chosen ops' embeddings."""
        if cell is None:  # macro
            logits = self.tanh_constant * torch.tanh(h @ self.w_soft)
        else:
            logits = self.tanh_constant / self.op_tanh_reduce * torch.tanh(h @ self.w_soft + self.b_soft)
            if cell == "normal":
                logits = logits + self.b_fixed
        return self.w_emb[self._choose(rec, label, logits, taken)]

    def _walk_macro(self, rec, hc):
        batch = rec["batch"]
        x = self.g_emb.expand(batch, -1)
        anchors, keys, kls = [], [], []
        for i in range(self.space.num_layers):
            hc = self.lstm(x, hc)
            x = self._op(rec, None, f"op_{i}", hc[0])
            hc = self.lstm(x, hc)
            h = hc[0]
            if i > 0:
                a = self.tanh_constant * torch.tanh(self._attend(h, torch.stack(keys, 1)))
                skip = self._skips(rec, f"skip_{i}", 2 * a)  # softmax([-a, a])[1] = sigmoid(2a)
                p, t = torch.sigmoid(a), self.hparams["skip_target"]  # the original's KL uses sigmoid(a)
                kls.append((p * torch.log(p / t) + (1 - p) * torch.log((1 - p) / (1 - t))).sum(-1))
                x = (skip[:, :, None] * torch.stack(anchors, 1)).sum(1) / (1.0 + skip.sum(-1, keepdim=True))
            else:
                x = self.g_emb.expand(batch, -1)
            anchors.append(h)
            keys.append(h @ self.w_attn_1)
        return torch.stack(kls).mean(0) if kls else torch.zeros(batch)

    def _skips(self, rec, label: str, logits):
        """A layer's skips, one two-way choice per earlier layer with on-logit ``logits`` ``(batch, i)``."""
        d = self._decision[label]
        log_on, log_off = F.logsigmoid(logits), F.logsigmoid(-logits)
        probs = log_on.exp()
        if rec["archs"] is None:
            index = torch.bernoulli(probs.detach(), generator=self.generator)
        else:
            index = torch.tensor(self._lookup([d], rec["archs"], None)[0], dtype=logits.dtype)
        term = (index * log_on + (1 - index) * log_off).sum(-1)
        entropy = -(probs * log_on + (1 - probs) * log_off).sum(-1)
        rec["out"][label] = (index, probs, term, entropy, torch.ones(rec["batch"], dtype=torch.bool))
        return index

    def _walk_cell(self, rec, cell: str, hc):
        batch, rows = rec["batch"], torch.arange(rec["batch"])
        g = self.g_emb.expand(batch, -1)
        x, anchors, keys = g, [g.new_zeros(batch, self.lstm_size)] * 2, []
        for _ in range(2):  # the two cell inputs: attention keys from two steps, zero anchors
            hc = self.lstm(x, hc)
            keys.append(hc[0] @ self.w_attn_1)
        for n in self.space.nodes():
            stacked, k = torch.stack(anchors, 1), torch.stack(keys, 1)
            if self.structure == "slots":
                for s in (0, 1):
                    hc = self.lstm(x, hc)
                    index = self._choose(rec, f"{cell}/input_{n}_{s}",
                                         self.tanh_constant * torch.tanh(self._attend(hc[0], k)))
                    x = stacked[rows, index]
                for s in (0, 1):
                    hc = self.lstm(x, hc)
                    x = self._op(rec, cell, f"{cell}/op_{n}_{s}", hc[0])
            else:
                hc, x, lo, hi = self._pair(rec, cell, n, x, hc, stacked, k)
                for j in range(n):
                    taken = None if n == 2 else (lo == j) | (hi == j)
                    stepped = self.lstm(x, hc)
                    fed = self._op(rec, cell, f"{cell}/op_{n}_{j}", stepped[0], taken)
                    if taken is None:
                        hc, x = stepped, fed
                    else:  # an edge the node does not keep: no step, no trace
                        m = taken[:, None]
                        hc = (torch.where(m, stepped[0], hc[0]), torch.where(m, stepped[1], hc[1]))
                        x = torch.where(m, fed, x)
            hc = self.lstm(x, hc)
            anchors.append(hc[0])
            keys.append(hc[0] @ self.w_attn_1)
            x = g
        return hc

    def _pair(self, rec, cell: str, n: int, x, hc, stacked, keys):
        """Node ``n``'s two distinct inputs: first pick by attention, second by attention (from the state
        after feeding the first pick's anchor) with the first masked. The probability of the unordered pair
        sums both pick orders; the walk continues from the lower edge fed first, the higher edge next."""
        batch, rows, size = x.shape[0], torch.arange(x.shape[0]), self.lstm_size
        h1, c1 = self.lstm(x, hc)
        log_p1 = torch.log_softmax(self.tanh_constant * torch.tanh(self._attend(h1, keys)), -1)  # (batch, n)
        h2, c2 = self.lstm(stacked.reshape(batch * n, size),  # every possible first pick fed back at once
                           (h1.repeat_interleave(n, 0), c1.repeat_interleave(n, 0)))
        h2, c2 = h2.reshape(batch, n, size), c2.reshape(batch, n, size)
        logits2 = self.tanh_constant * torch.tanh(self._attend(h2, keys))  # (batch, first, second)
        logits2 = logits2.masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))
        joint = log_p1[:, :, None] + torch.log_softmax(logits2, -1)
        label = f"{cell}/input_{n}"
        d = self._decision.get(label)
        pairs = torch.tensor(d.options if d is not None else [(0, 1)])
        log_q = torch.logaddexp(joint[:, pairs[:, 0], pairs[:, 1]], joint[:, pairs[:, 1], pairs[:, 0]])
        index = self._choose(rec, label, log_q) if d is not None else torch.zeros(batch, dtype=torch.long)
        lo, hi = pairs[index, 0], pairs[index, 1]
        return (h2[rows, lo], c2[rows, lo]), stacked[rows, hi], lo, hi
