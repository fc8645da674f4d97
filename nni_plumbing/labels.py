"""Flat, readable parameters that make a trial's architecture visible at a glance in NNI's web UI.

NNI's trial table and its hyper-parameter view show a trial's parameters; nested lists (an MLP's layers, a
cell genotype) appear there as JSON blobs, and the hyper-parameter chart cannot plot them at all. A tuner adds
these entries to the parameters it hands out (``{**params, **labels.mlp(...)}``): one short string for
reading and a few numbers the chart can plot. Trials ignore them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

ARCH_KEY = "architecture"  # the string parameter; n_layers and n_params are numbers NNI can plot

SHORT_OPS = {
    "sep_conv_3x3": "sep3", "sep_conv_5x5": "sep5", "dil_conv_3x3": "dil3", "dil_conv_5x5": "dil5",
    "conv_3x3": "conv3", "conv_5x5": "conv5", "conv_1x1": "conv1", "max_pool_3x3": "max3", "avg_pool_3x3": "avg3",
    "skip_connect": "skip", "identity": "id", "none": "none",
}


def short_op(op: str) -> str:
    """``sep_conv_3x3`` -> ``sep3``; names without a short form stay as they are."""
    return SHORT_OPS.get(op, op)


def mlp_text(layers: Sequence, train: Mapping | None = None) -> str:
    """``64 elu > 32 tanh > dropout > 128 relu`` (and the training settings, if any, in brackets)."""
    text = " > ".join("dropout" if layer == "dropout" else f"{layer[0]} {layer[1]}" for layer in layers) or "(no hidden layer)"
    if train:
        text += " (" + ", ".join(f"{k} {v:g}" if isinstance(v, (int, float)) else f"{k} {v}" for k, v in train.items()) + ")"
    return text


def mlp_n_params(layers: Sequence, n_features: int, n_classes: int) -> int:
    """Weights and biases of the dense network: hidden layers, then one sigmoid unit for two classes or a softmax."""
    n_out = 1 if n_classes == 2 else n_classes
    sizes = [n_features] + [int(layer[0]) for layer in layers if layer != "dropout"] + [n_out]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def mlp(arch: Mapping, n_features: int | None = None, n_classes: int | None = None) -> dict:
    """The web UI entries of an MLP architecture ``{"layers": [[64, "elu"], "dropout", ...], "train": {...}}``:
    ``architecture`` (string), ``n_layers`` (dense hidden layers) and, when the data's shape is given, ``n_params``."""
    layers = arch["layers"]
    out = {ARCH_KEY: mlp_text(layers, arch.get("train")), "n_layers": sum(1 for layer in layers if layer != "dropout")}
    if n_features is not None and n_classes is not None:
        out["n_params"] = mlp_n_params(layers, n_features, n_classes)
    return out


def genotype_text(genotype) -> str:
    """A short line for a genotype of ``nni_spaces``.

    Cell spaces (DARTS, ENAS micro, EDNAS): ``N: sep3(0)+dil3(1) sep5(0)+sep3(1) ... / R: ...``, each node's two
    edges as op(input); ENAS macro (a list of [op, skip inputs]): ``sep5 > avg3 > sep5<1 > conv5<0,2``.
    """
    if isinstance(genotype, Mapping):
        parts = []
        for cell, tag in (("normal", "N"), ("reduce", "R")):
            edges = [f"{short_op(op)}({source})" for op, source in genotype.get(cell, [])]
            nodes = [" + ".join(edges[i:i + 2]).replace(" + ", "+") for i in range(0, len(edges), 2)]
            parts.append(f"{tag}: " + " ".join(nodes))
        return " / ".join(parts)
    return " > ".join(short_op(op) + ("<" + ",".join(str(s) for s in skips) if skips else "") for op, skips in genotype)


def cell(genotype, n_params: int | None = None) -> dict:
    """The web UI entries of a ``nni_spaces`` genotype: ``genotype`` (string), ``n_nodes`` (cell spaces: nodes
    per cell) or ``n_layers`` (ENAS macro), and ``n_params`` when the caller counted them."""
    out: dict = {"genotype": genotype_text(genotype)}
    if isinstance(genotype, Mapping):
        out["n_nodes"] = len(genotype.get("normal", [])) // 2
    else:
        out["n_layers"] = len(genotype)
    if n_params is not None:
        out["n_params"] = int(n_params)
    return out


def strip(params: Mapping) -> dict:
    """``params`` without the web UI entries, for code that compares or validates parameter dicts."""
    return {k: v for k, v in params.items() if k not in (ARCH_KEY, "genotype", "n_layers", "n_nodes", "n_params")}
