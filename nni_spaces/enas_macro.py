"""ENAS macro space (Pham et al., 2018; Singh's thesis (2019), sections 4.3-4.4): L layers, each one of 6 operations
on the previous layer plus any subset of the earlier layers as skip connections, summed and batch
normalised. After layers ``L//3 - 1`` and ``2L//3 - 1`` every earlier output is halved in resolution by a
factorized reduction, as in the ENAS code; the width stays ``width`` (ENAS' search setting).
6^L * 2^(L(L-1)/2) architectures.

Labels: ``op_i`` (the operation of layer i) and ``skip_i`` (i >= 1: the sorted earlier layers it adds).
"""
from __future__ import annotations

from collections.abc import Mapping

from nni.nas.nn.pytorch import InputChoice, LayerChoice
from torch import nn

from .base import ArchitectureError, SearchSpace, _positive_int
from .fast_ops import AvgPool3x3, DepthwiseConv2d, MaxPool3x3
from .ops import FactorizedReduce

ENAS_MACRO_OPS = ("conv_3x3", "sep_conv_3x3", "conv_5x5", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3")
"""The order 0-5 of Singh's thesis (2019)."""


def _conv_bn_relu(c_in: int, c_out: int, kernel: int, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True)]


def macro_branch(op: str, c: int) -> nn.Module:
    """ENAS' branch: a 1x1 conv-BN-ReLU, then the k x k (separable) conv-BN-ReLU or the 3x3 pool."""
    head = _conv_bn_relu(c, c, 1)
    kind, kernel = op.rsplit("_", 1)[0], int(op[-1])
    if kind == "conv":
        return nn.Sequential(*head, *_conv_bn_relu(c, c, kernel))
    if kind == "sep_conv":
        return nn.Sequential(*head, DepthwiseConv2d(c, kernel, padding=kernel // 2),
                             *_conv_bn_relu(c, c, 1))
    pool = AvgPool3x3() if kind == "avg_pool" else MaxPool3x3()
    return nn.Sequential(*head, pool)


def pool_layers(num_layers: int) -> tuple[int, int]:
    """Layers after which every output so far is reduced (the ENAS code's ``pool_layers``)."""
    distance = num_layers // 3
    return distance - 1, 2 * distance - 1


class MacroNetwork(nn.Module):
    """Stem, L layers, pooling, classifier. ``make_op(i)`` builds layer i's operation, ``make_skip(i)``
    its skip selection (a module taking the list of earlier outputs, returning their sum or None);
    ``reads(i)`` the earlier layers layer i reads (default: all), so a fixed network reduces only those."""

    def __init__(self, make_op, make_skip, *, num_layers: int, width: int, in_channels: int, num_classes: int,
                 reads=None):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        self.ops = nn.ModuleList(make_op(i) for i in range(num_layers))
        self.skips = nn.ModuleList(make_skip(i) for i in range(num_layers))
        self.norms = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(num_layers))
        self.pool_after = pool_layers(num_layers)
        reads = reads or range
        self.reduce = nn.ModuleDict({f"{p}_{j}": FactorizedReduce(width, width) for p in self.pool_after if p >= 0
                                     for j in range(p + 1) if any(j in reads(i) for i in range(p + 1, num_layers))})
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.stem(x)
        layers = []
        for i, (op, skip, norm) in enumerate(zip(self.ops, self.skips, self.norms)):
            out = op(layers[-1] if layers else x)
            extra = skip(layers) if i > 0 else None
            layers.append(norm(out if extra is None else out + extra))
            if i in self.pool_after:
                layers = [self.reduce[f"{i}_{j}"](h) if f"{i}_{j}" in self.reduce else None
                          for j, h in enumerate(layers)]
        return self.classifier(layers[-1].mean(dim=(2, 3)))


class SkipSum(nn.Module):
    """A fixed skip selection: the sum of the chosen earlier layers, or None."""

    def __init__(self, chosen: list[int]):
        super().__init__()
        self.chosen = list(chosen)

    def forward(self, layers):
        return sum(layers[j] for j in self.chosen) if self.chosen else None


class EnasMacroSpace(SearchSpace):
    """ENAS macro space; ``num_layers`` 12 for search (the paper's 24 available), ``width`` 36 (ENAS search)."""

    name = "enas-macro"

    def __init__(self, *, num_layers: int = 12, width: int = 36, in_channels: int = 3, num_classes: int = 10,
                 ops=ENAS_MACRO_OPS, image_size: int = 32):
        super().__init__()
        self.ops = list(ops)
        if not self.ops or any(op not in ENAS_MACRO_OPS for op in self.ops) or len(set(self.ops)) != len(self.ops):
            raise ValueError(f"ops must be distinct names from {list(ENAS_MACRO_OPS)}, got {self.ops}")
        self.num_layers = _positive_int("num_layers", num_layers)
        self.config = dict(num_layers=num_layers, width=_positive_int("width", width, 2),
                           in_channels=_positive_int("in_channels", in_channels),
                           num_classes=_positive_int("num_classes", num_classes, 2))
        self.network = MacroNetwork(
            lambda i: LayerChoice({op: macro_branch(op, width) for op in self.ops}, label=f"op_{i}"),
            lambda i: InputChoice(i, n_chosen=None, reduction="sum", label=f"skip_{i}") if i > 0 else nn.Identity(),
            **self.config)

    def forward(self, x):
        return self.network(x)

    def count(self) -> int:
        """Every layer picks an op and, independently, a subset of its i earlier layers."""
        return len(self.ops) ** self.num_layers * 2 ** (self.num_layers * (self.num_layers - 1) // 2)

    def _build(self, arch: dict) -> nn.Module:
        width = self.config["width"]
        return MacroNetwork(lambda i: macro_branch(arch[f"op_{i}"], width),
                            lambda i: SkipSum(arch[f"skip_{i}"]) if i > 0 else nn.Identity(),
                            reads=lambda i: {i - 1, *arch.get(f"skip_{i}", [])} - {-1}, **self.config)

    def genotype(self, arch: Mapping) -> list:
        """Per layer ``[op, [earlier layers added]]``."""
        arch = self.check(arch)
        return [[arch[f"op_{i}"], arch.get(f"skip_{i}", [])] for i in range(self.num_layers)]

    def from_genotype(self, genotype) -> dict:
        """The architecture dict of :meth:`genotype`'s list form."""

        if not isinstance(genotype, list) or len(genotype) != self.num_layers or not all(
                isinstance(layer, list) and len(layer) == 2 for layer in genotype):
            raise ArchitectureError(f"a macro genotype is a list of {self.num_layers} [op, [skip layers]] entries")
        arch = {f"op_{i}": layer[0] for i, layer in enumerate(genotype)}
        arch.update({f"skip_{i}": layer[1] for i, layer in enumerate(genotype) if i > 0})
        return self.check(arch)
