"""The search spaces of the papers as NNI model spaces: ENAS macro, ENAS micro, DARTS, EDNAS cell.

>>> from nni_spaces import make_space
>>> space = make_space("ednas-cell", width=8, num_cells=5, num_classes=10)
>>> arch = space.sample(seed=0)            # a plain dict, NNI's sample format
>>> model = space.freeze(arch)             # a plain torch.nn.Module
>>> space.count_per_cell()
1037664180

Importing the package is light: torch and NNI load on the first use of a space (``make_space``, a class,
``SPACES``), so command lines can check their arguments first and tuners meet NNI's connection deadline.
"""
from __future__ import annotations

import importlib
import warnings

# NNI 3.0 vs torch 2.14 noise, raised when NNI's layers first load (from any of this package's modules)
warnings.filterwarnings("ignore", message=r".*is found to be not a nn\.Module.*")

SPACE_NAMES = ("enas-macro", "enas-micro", "darts", "ednas-cell")
"""The spaces' command-line names, in the order ``SPACES`` lists them (no torch needed)."""
_CLASSES = {"enas-macro": ".enas_macro:EnasMacroSpace", "enas-micro": ".enas_micro:EnasMicroSpace",
            "darts": ".darts:DartsSpace", "ednas-cell": ".ednas:EdnasCellSpace"}
_LAZY = {"ArchitectureError": ".base", "SearchSpace": ".base", "DartsSpace": ".darts", "DARTS_OPS": ".darts",
         "DARTS_V2": ".darts", "EdnasCellSpace": ".ednas", "EDNAS_OPS": ".ednas", "EnasMacroSpace": ".enas_macro",
         "ENAS_MACRO_OPS": ".enas_macro", "EnasMicroSpace": ".enas_micro", "ENAS_MICRO_OPS": ".enas_micro"}
MIN_CELLS = 3
"""Fewest cells of a cell network: the two reductions sit at ``num_cells // 3`` and ``2 * num_cells // 3``,
so with 1 or 2 cells there is no normal cell and the normal decisions do not exist."""


def _space_class(name: str):
    module, _, attr = _CLASSES[name].partition(":")
    return getattr(importlib.import_module(module, __name__), attr)


def __getattr__(name):
    """Import the torch-backed members on first use."""
    if name == "SPACES":
        return {key: _space_class(key) for key in SPACE_NAMES}
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_space(name: str, **kwargs):
    """Build a space by its command-line name (``enas-macro``, ``enas-micro``, ``darts``, ``ednas-cell``)."""
    if name not in SPACE_NAMES:
        raise ValueError(f"unknown space {name!r}; choose one of {', '.join(SPACE_NAMES)}")
    return _space_class(name)(**kwargs)


__all__ = ["ArchitectureError", "SearchSpace", "SPACES", "SPACE_NAMES", "make_space", "DartsSpace", "EdnasCellSpace",
           "EnasMacroSpace", "EnasMicroSpace", "DARTS_OPS", "DARTS_V2", "EDNAS_OPS", "ENAS_MACRO_OPS",
           "ENAS_MICRO_OPS"]
