"""The search spaces of the papers as NNI model spaces: ENAS macro, ENAS micro, DARTS, EDNAS cell.

>>> from nni_spaces import make_space
>>> space = make_space("ednas-cell", width=8, num_cells=5, num_classes=10)
>>> arch = space.sample(seed=0)            # a plain dict, NNI's sample format
>>> model = space.freeze(arch)             # a plain torch.nn.Module
>>> space.count_per_cell()
1037664180
"""
from __future__ import annotations

from .base import ArchitectureError, SearchSpace
from .darts import DARTS_OPS, DARTS_V2, DartsSpace
from .ednas import EDNAS_OPS, EdnasCellSpace
from .enas_macro import ENAS_MACRO_OPS, EnasMacroSpace
from .enas_micro import ENAS_MICRO_OPS, EnasMicroSpace

SPACES: dict[str, type[SearchSpace]] = {
    "enas-macro": EnasMacroSpace, "enas-micro": EnasMicroSpace, "darts": DartsSpace, "ednas-cell": EdnasCellSpace,
}


def make_space(name: str, **kwargs) -> SearchSpace:
    """Build a space by its command-line name (``enas-macro``, ``enas-micro``, ``darts``, ``ednas-cell``)."""
    if name not in SPACES:
        raise ValueError(f"unknown space {name!r}; choose one of {', '.join(SPACES)}")
    return SPACES[name](**kwargs)


__all__ = ["ArchitectureError", "SearchSpace", "SPACES", "make_space", "DartsSpace", "EdnasCellSpace",
           "EnasMacroSpace", "EnasMicroSpace", "DARTS_OPS", "DARTS_V2", "EDNAS_OPS", "ENAS_MACRO_OPS",
           "ENAS_MICRO_OPS"]
