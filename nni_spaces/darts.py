"""DARTS (Liu et al., 2019): cells of 2 inputs and 4 intermediate nodes, 14 edges, reductions at 1/3
and 2/3 of the depth; search network 16 channels x 8 cells, evaluation 36 x 20.

The continuous relaxation mixes 8 operations on every edge, ``none`` (zero) included; a discrete
architecture keeps two incoming edges per node with a non-zero operation each (the paper's
derivation), which is what this space's decisions describe: ``input_n`` keeps two edges, ``op_n_j``
is an edge's operation among the 7 others. Under NNI's ``DARTS`` strategy the softmax weights over a
node's edges take the zero operation's role of ranking edges.

>>> space = DartsSpace(width=8, num_cells=5)
>>> model = space.freeze(space.from_genotype(DARTS_V2))
"""
from __future__ import annotations

from .cell_space import PairCellSearchSpace

DARTS_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5")
"""The paper's 8 candidate operations (``none`` only exists in the relaxation)."""

DARTS_V2 = {
    "normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1],
               ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2]],
    "normal_concat": [2, 3, 4, 5],
    "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
               ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1]],
    "reduce_concat": [2, 3, 4, 5],
}
"""The DARTS (second order) CIFAR-10 cell as published in the DARTS repository's genotypes.py."""


class DartsSpace(PairCellSearchSpace):
    """The DARTS cell space; ``width``/``num_cells`` default to the search network (16, 8)."""

    name = "darts"
    default_ops = tuple(op for op in DARTS_OPS if op != "none")
    defaults = {"width": 16, "num_cells": 8}
