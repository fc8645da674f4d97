"""The two kinds of cell space: edge pairs (DARTS, EDNAS) and input slots (ENAS micro).

Labels, per cell type ``normal`` / ``reduce`` and node ``n`` (2 = first computed node):

- pairs: ``input_n`` = the two distinct incoming edges kept (``[0, 2]``; node 2 always keeps ``[0, 1]``
  and has no such decision), ``op_n_j`` = the operation on edge ``j -> n`` (matters only if ``j`` is kept);
- slots: ``input_n_s`` = the node slot ``s`` (0 or 1) reads (``[j]``, the same node twice allowed),
  ``op_n_s`` = its operation. Nodes no other node reads are concatenated as the cell output.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import comb, prod
from typing import Any

from torch import nn

from .base import ArchitectureError, SearchSpace, _positive_int, _show
from .cells import CELL_TYPES, CellNetwork, PairCellSpace, SlotCellSpace, frozen_cell_factory, space_cell_factory
from .ops import OPS


def _cell_count(value: Any) -> int:
    """``num_cells``, at least :data:`nni_spaces.MIN_CELLS`: fewer cells leave no normal cell to decide."""
    from . import MIN_CELLS

    _positive_int("num_cells", value)
    if value < MIN_CELLS:
        raise ValueError(f"num_cells must be at least {MIN_CELLS} (with {value} every cell is a reduction cell, at "
                         f"num_cells // 3 and 2 * num_cells // 3, and the normal cell has nothing to decide); "
                         f"pass {MIN_CELLS} or more")
    return value


class CellSearchSpace(SearchSpace):
    """Shared constructor, building, genotypes and counting; subclasses set ``cell_class`` and the defaults."""

    cell_class: type = PairCellSpace
    default_ops: tuple[str, ...] = ()
    defaults: dict = {}

    def __init__(self, *, width: int | None = None, num_cells: int | None = None, num_nodes: int = 4,
                 ops: Sequence[str] | None = None, in_channels: int = 3, num_classes: int = 10,
                 image_size: int = 32, auxiliary: bool = False):
        super().__init__()
        ops = list(self.default_ops if ops is None else ops)
        unknown = [op for op in ops if op not in OPS or op == "none"]
        if not ops or unknown or len(set(ops)) != len(ops):
            raise ValueError(f"ops must be distinct names from {sorted(set(OPS) - {'none'})}, got {ops}")
        self.ops = ops
        self.num_nodes = _positive_int("num_nodes", num_nodes)
        self.config = dict(width=_positive_int("width", self.defaults["width"] if width is None else width),
                           num_cells=_cell_count(self.defaults["num_cells"] if num_cells is None else num_cells),
                           in_channels=_positive_int("in_channels", in_channels),
                           num_classes=_positive_int("num_classes", num_classes, 2),
                           image_size=_positive_int("image_size", image_size), auxiliary=bool(auxiliary))
        self.network = CellNetwork(space_cell_factory(self.cell_class, ops, num_nodes), **self.config)

    def forward(self, x):
        return self.network(x)

    def nodes(self) -> range:
        return range(2, self.num_nodes + 2)

    # ------------------------------------------------------------------ per kind
    def _edges(self, arch: Mapping, cell: str, node: int) -> list[tuple[str, int, str]]:
        """Node ``node``'s two edges as ``(op, input, module key)``."""
        raise NotImplementedError

    def _concat(self, arch: Mapping, cell: str) -> list[int]:
        return list(self.nodes())

    def count_per_cell(self) -> int:
        raise NotImplementedError

    def count(self) -> int:
        """Distinct architectures: normal and reduction cells are chosen independently."""
        return self.count_per_cell() ** 2

    # ------------------------------------------------------------------ shared
    def canonical(self, arch: Mapping) -> tuple:
        arch = self.check(arch)
        return tuple(tuple(tuple(sorted((source, op) for op, source, _ in self._edges(arch, cell, node)))
                           for node in self.nodes()) for cell in CELL_TYPES)

    def _build(self, arch: dict) -> nn.Module:
        cells = {cell: ([self._edges(arch, cell, node) for node in self.nodes()], self._concat(arch, cell))
                 for cell in CELL_TYPES}
        return CellNetwork(frozen_cell_factory(cells), **self.config)

    def genotype(self, arch: Mapping) -> dict:
        """The DARTS repository's genotype: per cell type, (op, input) for each node's two edges, and the concat."""
        arch = self.check(arch)
        out = {}
        for cell in CELL_TYPES:
            out[cell] = [[op, source] for node in self.nodes() for op, source, _ in self._edges(arch, cell, node)]
            out[f"{cell}_concat"] = self._concat(arch, cell)
        return out

    def from_genotype(self, genotype: Any) -> dict:
        """The architecture dict of a DARTS-style genotype (as JSON), checked against this space."""
        if not isinstance(genotype, Mapping) or not all(cell in genotype for cell in CELL_TYPES):
            raise ArchitectureError("a genotype needs 'normal' and 'reduce' lists of [op, input] pairs")
        extra = set(genotype) - {*CELL_TYPES, "normal_concat", "reduce_concat"}
        if extra:
            raise ArchitectureError(f"unknown genotype key {sorted(extra)[0]!r}; expected normal, normal_concat, "
                                    "reduce, reduce_concat")
        arch: dict = {}
        for cell in CELL_TYPES:
            pairs = genotype[cell]
            if not isinstance(pairs, list) or len(pairs) != 2 * self.num_nodes:
                raise ArchitectureError(f"genotype {cell!r} must list {2 * self.num_nodes} [op, input] pairs "
                                        f"(two per node), got {_show(pairs)}")
            for index, pair in enumerate(pairs):
                node = 2 + index // 2
                if (not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[1], int)
                        or isinstance(pair[1], bool) or not 0 <= pair[1] < node):
                    raise ArchitectureError(f"genotype {cell!r} entry {index} = {_show(pair)} must be [op, input] "
                                            f"with input an earlier node in 0..{node - 1}")
                if pair[0] not in self.ops:
                    raise ArchitectureError(f"genotype {cell!r} entry {index}: op {_show(pair[0])} is not one of "
                                            f"{self.ops}")
            arch.update(self._arch_from_pairs(cell, pairs))
        arch = self.check(arch)
        for cell in CELL_TYPES:
            given = genotype.get(f"{cell}_concat")
            if given is not None and sorted(given) != self._concat(arch, cell):
                raise ArchitectureError(f"{cell}_concat {_show(given)} does not match this space, which concatenates "
                                        f"nodes {self._concat(arch, cell)}")
        return arch

    def _arch_from_pairs(self, cell: str, pairs: list) -> dict:
        raise NotImplementedError


class PairCellSearchSpace(CellSearchSpace):
    """Each node keeps two distinct incoming edges, each with its own operation (DARTS, EDNAS)."""

    cell_class = PairCellSpace

    def _structure_labels(self) -> list[str]:
        return [f"{cell}/input_{node}" for cell in CELL_TYPES for node in self.nodes() if node > 2]

    def _chosen(self, arch: Mapping, cell: str, node: int) -> list[int]:
        return [0, 1] if node == 2 else list(arch[f"{cell}/input_{node}"])

    def active(self, arch: Mapping) -> list[str]:
        labels = []
        for cell in CELL_TYPES:
            for node in self.nodes():
                if node > 2:
                    labels.append(f"{cell}/input_{node}")
                    if f"{cell}/input_{node}" not in arch:
                        continue
                labels += [f"{cell}/op_{node}_{j}" for j in self._chosen(arch, cell, node)]
        return labels

    def _edges(self, arch, cell, node):
        return [(arch[f"{cell}/op_{node}_{j}"], j, f"{node}_{j}") for j in self._chosen(arch, cell, node)]

    def count_per_cell(self) -> int:
        """Node n picks 2 of its n incoming edges (C(n, 2) ways; 1 for the first node) and an op for each."""
        k = len(self.ops)
        return prod(comb(node, 2) * k * k for node in self.nodes())

    def _arch_from_pairs(self, cell, pairs):
        arch = {}
        for index in range(0, len(pairs), 2):
            node = 2 + index // 2
            (op_a, a), (op_b, b) = pairs[index], pairs[index + 1]
            if a == b:
                raise ArchitectureError(f"genotype {cell!r}: node {node} reads input {a} twice; this space keeps two "
                                        "distinct incoming edges per node")
            if node == 2 and {a, b} != {0, 1}:
                raise ArchitectureError(f"genotype {cell!r}: node 2 can only read inputs 0 and 1")
            if node > 2:
                arch[f"{cell}/input_{node}"] = sorted([a, b])
            arch[f"{cell}/op_{node}_{a}"], arch[f"{cell}/op_{node}_{b}"] = op_a, op_b
        return arch


class SlotCellSearchSpace(CellSearchSpace):
    """Each node sums two slots, each an (input, op) with any earlier node, repeats allowed (ENAS micro)."""

    cell_class = SlotCellSpace

    def _edges(self, arch, cell, node):
        edges = []
        for s in (0, 1):
            source = arch[f"{cell}/input_{node}_{s}"][0]
            edges.append((arch[f"{cell}/op_{node}_{s}"], source, f"{node}_{s}_{source}"))
        return edges

    def _concat(self, arch, cell):
        used = {arch[f"{cell}/input_{node}_{s}"][0] for node in self.nodes() for s in (0, 1)}
        return [node for node in self.nodes() if node not in used]

    def count_per_cell(self) -> int:
        """Node n's two slots each pick one of n inputs x k ops (m = n * k options); the sum does not depend
        on slot order, so a node has m (m + 1) / 2 distinct (unordered, repetition allowed) pairs."""
        k = len(self.ops)
        return prod(node * k * (node * k + 1) // 2 for node in self.nodes())

    def _arch_from_pairs(self, cell, pairs):
        arch = {}
        for index, (op, source) in enumerate(pairs):
            node, slot = 2 + index // 2, index % 2
            arch[f"{cell}/input_{node}_{slot}"], arch[f"{cell}/op_{node}_{slot}"] = [source], op
        return arch
