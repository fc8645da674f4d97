"""Cell-based networks shared by the ENAS micro, DARTS and EDNAS spaces.

A network is a stem, ``num_cells`` cells with reduction cells at 1/3 and 2/3 of the depth (as DARTS
and ENAS place them), global pooling and a linear classifier, with DARTS' optional auxiliary head
after the second reduction. Each cell takes the two previous cells' outputs (nodes 0 and 1) and
computes ``num_nodes`` nodes, each the sum of two edges ``op(state[input])``; operations in a
reduction cell that read the cell inputs use stride 2.

The space cells hold one ``LayerChoice`` per possible edge, so NNI's one-shot strategies can mutate
them; the frozen cell holds only the chosen edges. Both name an edge ``edges["<node>_<input>"]``
(``"<node>_<slot>_<input>"`` in ENAS micro), so a supernet weight maps to the frozen child's by
dropping the candidate's name from its path.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from nni.mutable import label_scope
from nni.nas.nn.pytorch import InputChoice, LayerChoice
from torch import nn
from torch.nn import functional as F

from .ops import OPS, FactorizedReduce, ReLUConvBN, drop_path

Genotype = dict  # {"normal": [[op, input], ...], "normal_concat": [...], "reduce": [...], "reduce_concat": [...]}
CELL_TYPES = ("normal", "reduce")


def reduction_cells(num_cells: int) -> tuple[int, int]:
    """Indices of the two reduction cells (DARTS' ``num_cells // 3`` and ``2 * num_cells // 3``)."""
    return num_cells // 3, 2 * num_cells // 3


def _stride(reduction: bool, source: int) -> int:
    return 2 if reduction and source < 2 else 1


class _Preprocess(nn.Module):
    """Bring both cell inputs to ``c`` channels and the same resolution."""

    def __init__(self, c_pp: int, c_p: int, c: int, reduction_prev: bool):
        super().__init__()
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1)
        self.pre1 = ReLUConvBN(c_p, c, 1)


def _sampled(choice) -> list[int] | None:
    """The inputs a path-sampling ``InputChoice`` (NNI's one-shot supernet) currently routes, else None."""
    chosen = getattr(choice, "_sampled", None)
    if chosen is None:
        return None
    return chosen if isinstance(chosen, list) else [chosen]


class PairCellSpace(_Preprocess):
    """DARTS/EDNAS cell as NNI mutables: per node a ``LayerChoice`` on every incoming edge and one
    ``InputChoice(n_chosen=2)`` over the edges (the first node's pair is fixed to the two inputs)."""

    def __init__(self, ops: Sequence[str], num_nodes: int, c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool):
        super().__init__(c_pp, c_p, c, reduction_prev)
        self.num_nodes = num_nodes
        self.edges = nn.ModuleDict()
        self.inputs = nn.ModuleList()
        for node in range(2, num_nodes + 2):
            for source in range(node):
                self.edges[f"{node}_{source}"] = LayerChoice(
                    {op: OPS[op](c, _stride(reduction, source)) for op in ops}, label=f"op_{node}_{source}")
            if node > 2:
                self.inputs.append(InputChoice(node, n_chosen=2, reduction="sum", label=f"input_{node}"))
        self.out_channels = num_nodes * c

    def forward(self, s0, s1):
        states = [self.pre0(s0), self.pre1(s1)]
        for node in range(2, self.num_nodes + 2):
            chosen = [0, 1] if node == 2 else _sampled(self.inputs[node - 3])
            if chosen is not None:  # a path is sampled (or fixed): compute only the kept edges
                states.append(sum(self.edges[f"{node}_{j}"](states[j]) for j in chosen))
            else:  # NNI's dry run or a differentiable relaxation: every edge
                outs = [self.edges[f"{node}_{source}"](h) for source, h in enumerate(states)]
                states.append(self.inputs[node - 3](outs))
        return torch.cat(states[2:], dim=1)


class SlotCellSpace(_Preprocess):
    """ENAS micro cell as NNI mutables: per node two slots, each an ``InputChoice`` of one earlier node
    and an operation; weights are per (node, slot, input), as in ENAS. The supernet concatenates every
    node (which ones are loose ends depends on the sample), as NNI's hub ENAS does."""

    def __init__(self, ops: Sequence[str], num_nodes: int, c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool):
        super().__init__(c_pp, c_p, c, reduction_prev)
        self.num_nodes = num_nodes
        self.edges = nn.ModuleDict()
        self.inputs = nn.ModuleDict()
        for node in range(2, num_nodes + 2):
            for slot in (0, 1):
                self.inputs[f"{node}_{slot}"] = InputChoice(node, n_chosen=1, reduction="sum",
                                                            label=f"input_{node}_{slot}")
                for source in range(node):
                    self.edges[f"{node}_{slot}_{source}"] = LayerChoice(
                        {op: OPS[op](c, _stride(reduction, source)) for op in ops}, label=f"op_{node}_{slot}")
        self.out_channels = num_nodes * c

    def forward(self, s0, s1):
        states, used, sampled = [self.pre0(s0), self.pre1(s1)], set(), True
        for node in range(2, self.num_nodes + 2):
            total = 0
            for slot in (0, 1):
                choice = self.inputs[f"{node}_{slot}"]
                chosen = _sampled(choice)
                if chosen is not None:  # a sampled path: only the edge it reads
                    j = chosen[0]
                    total = total + self.edges[f"{node}_{slot}_{j}"](states[j])
                    used.add(j)
                else:
                    sampled = False
                    total = total + choice([self.edges[f"{node}_{slot}_{source}"](h) for source, h in enumerate(states)])
            states.append(total)
        if sampled:  # the child's output is its loose ends; zeros in place of the others keep the shape
            states = states[:2] + [torch.zeros_like(h) if n in used else h for n, h in enumerate(states) if n >= 2]
        return torch.cat(states[2:], dim=1)


class FrozenCell(_Preprocess):
    """A fixed cell: ``nodes[i]`` lists node ``i + 2``'s two ``(op, input, key)`` edges; ``concat`` the
    nodes concatenated as the output."""

    def __init__(self, nodes: list[list[tuple[str, int, str]]], concat: list[int], c_pp: int, c_p: int, c: int,
                 reduction: bool, reduction_prev: bool):
        super().__init__(c_pp, c_p, c, reduction_prev)
        self.edges = nn.ModuleDict()
        self.plan = []
        for edges in nodes:
            for op, source, key in edges:
                self.edges[key] = OPS[op](c, _stride(reduction, source))
            self.plan.append([(self.edges[key], source, not isinstance(self.edges[key], nn.Identity))
                              for op, source, key in edges])
        self.concat = list(concat)
        self.out_channels = len(self.concat) * c
        self.drop_path_prob = 0.0

    def forward(self, s0, s1):
        states = [self.pre0(s0), self.pre1(s1)]
        drop = self.drop_path_prob if self.training else 0.0
        for edges in self.plan:
            total = 0
            for module, source, droppable in edges:
                h = module(states[source])
                if drop > 0 and droppable:  # DARTS drops every edge but identities
                    h = drop_path(h, drop)
                total = total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier on the second reduction cell's output (8x8 on CIFAR)."""

    def __init__(self, c: int, num_classes: int, size: int):
        super().__init__()
        pool = nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False) if size >= 8 else nn.AdaptiveAvgPool2d(2)
        self.features = nn.Sequential(
            nn.ReLU(inplace=True), pool, nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        x = self.features(x)
        if x.shape[-1] != 1:  # inputs whose map is not 8x8: average what is left
            x = F.adaptive_avg_pool2d(x, 1)
        return self.classifier(x.flatten(1))


class CellNetwork(nn.Module):
    """Stem, cells, pooling, classifier. ``make_cell(index, cell_type, c_pp, c_p, c, reduction_prev)``
    returns a cell module with an ``out_channels`` attribute.

    In training mode with ``auxiliary=True`` the forward returns ``(logits, auxiliary_logits)``.
    """

    def __init__(self, make_cell: Callable[..., nn.Module], *, width: int, num_cells: int, in_channels: int,
                 num_classes: int, image_size: int, auxiliary: bool = False, stem_multiplier: int = 3):
        super().__init__()
        c_stem = stem_multiplier * width
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        reductions = reduction_cells(num_cells)
        self.aux_after = reductions[1]
        c_pp, c_p, c = c_stem, c_stem, width
        size = image_size
        self.cells = nn.ModuleList()
        reduction_prev = False
        for index in range(num_cells):
            reduction = index in reductions
            if reduction:
                c *= 2
                size = (size + 1) // 2
            cell = make_cell(index, "reduce" if reduction else "normal", c_pp, c_p, c, reduction_prev)
            self.cells.append(cell)
            c_pp, c_p, reduction_prev = c_p, cell.out_channels, reduction
            if index == self.aux_after:
                c_aux, size_aux = c_p, size
        self.auxiliary_head = AuxiliaryHead(c_aux, num_classes, size_aux) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        aux = None
        for index, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if index == self.aux_after and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(self.global_pooling(s1).flatten(1))
        return (logits, aux) if aux is not None else logits

    def set_drop_path(self, prob: float) -> None:
        """Set DARTS' drop-path probability of every cell (raise it over training as DARTS does)."""
        for cell in self.cells:
            if isinstance(cell, FrozenCell):
                cell.drop_path_prob = prob


def space_cell_factory(cell_class: type, ops: Sequence[str], num_nodes: int) -> Callable[..., nn.Module]:
    """``make_cell`` for a supernet: decisions of all normal cells share labels ``normal/...``, of all
    reduction cells ``reduce/...``."""

    def make(index, cell_type, c_pp, c_p, c, reduction_prev):
        with label_scope(cell_type):
            return cell_class(ops, num_nodes, c_pp, c_p, c, cell_type == "reduce", reduction_prev)
    return make


def frozen_cell_factory(cells: dict[str, tuple[list, list[int]]]) -> Callable[..., nn.Module]:
    """``make_cell`` for a fixed network; ``cells[cell_type] = (nodes, concat)`` as :class:`FrozenCell` takes."""

    def make(index, cell_type, c_pp, c_p, c, reduction_prev):
        nodes, concat = cells[cell_type]
        return FrozenCell(nodes, concat, c_pp, c_p, c, cell_type == "reduce", reduction_prev)
    return make
