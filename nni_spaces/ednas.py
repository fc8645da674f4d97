"""EDNAS convolutional cell (Lee, Kim, Han): 2 inputs and 4 operation nodes; each node picks a
*combination* of two incoming edges (one decision with C(e_i, 2) options: 1, 3, 6, 10) and one of 7
operations per chosen edge; the output concatenates all hidden nodes. Search network 6 normal + 2
reduction cells, evaluation 20 cells. 180 * 7^8 = 1,037,664,180 cells per cell type (section 3.3.2).

It is DARTS' discrete space with the structure decision made explicit, which is what EDNAS' structure
policy samples; the operation order below is the EDNAS code's.
"""
from __future__ import annotations

from .cell_space import PairCellSearchSpace

EDNAS_OPS = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "max_pool_3x3", "avg_pool_3x3",
             "skip_connect")


class EdnasCellSpace(PairCellSearchSpace):
    """The EDNAS cell space; ``width``/``num_cells`` default to the search network (16 channels, 8 cells)."""

    name = "ednas-cell"
    default_ops = EDNAS_OPS
    defaults = {"width": 16, "num_cells": 8}
