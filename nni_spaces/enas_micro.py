"""ENAS micro space (ENAS (Pham et al. 2018), as laid out in Singh's ENAS thesis (2019), sections 4.5-4.6):
cells of 2 input nodes and B computed nodes (default 5); each node sums two slots, each one earlier node
(the same one twice allowed) through one of 5 operations; nodes no other node reads (loose ends) are
concatenated as the output. Normal and reduction cells are sampled separately; a reduction cell applies
its operations with stride 2.

``num_cells`` counts every cell: ENAS' "N layers" plus its 2 reduction cells (search 6 + 2 = 8 cells
of 20 channels; the evaluation network's 15 layers are 17 cells of 36 channels).
"""
from __future__ import annotations

from .cell_space import SlotCellSearchSpace

ENAS_MICRO_OPS = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "skip_connect")
"""The order of Singh's ENAS thesis (2019): separable conv 3x3 and 5x5, average pooling, max pooling, identity."""


class EnasMicroSpace(SlotCellSearchSpace):
    """The ENAS micro space; ``width``/``num_cells`` default to ENAS' search network (20 channels, 8 cells)."""

    name = "enas-micro"
    default_ops = ENAS_MICRO_OPS
    defaults = {"width": 20, "num_cells": 8}

    def __init__(self, *, num_nodes: int = 5, **kwargs):
        super().__init__(num_nodes=num_nodes, **kwargs)
