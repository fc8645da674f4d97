"""The MLP token space as an nnictl search space, so NNI's own HPO tuners (Random, TPE, Evolution) can
search exactly the architectures the controller searches.

A token sequence has a variable length; nnictl spaces are flat. The export is ``n_layers`` (1 ..
``max_layers``) and, per layer slot ``i``, ``units_i``, ``activation_i`` and ``dropout_i`` (a dropout
layer after it); slots past ``n_layers`` are ignored. Every exported point decodes to an
architecture of the token space and every architecture has a point (dropout after the last of
``max_layers`` layers is the one token-space rule the flat form cannot state: it is dropped on decoding).
With ``train_tokens`` the space also holds the training hyperparameters of ``mlp_nas.space``.

    python -m mlp_nas.export_space FILE [--max-layers 10] [--train-tokens]
"""
from __future__ import annotations

import argparse
import json
import sys

from .space import ACTIVATIONS, MAX_LAYERS, TRAIN_CHOICES, UNITS, TokenSpace


def search_space(max_layers: int = MAX_LAYERS, train_tokens: bool = False) -> dict:
    """The nnictl search space (a JSON-able dict) of the token space with ``max_layers`` layers."""
    TokenSpace(max_layers)  # validates max_layers
    space = {"n_layers": {"_type": "choice", "_value": list(range(1, max_layers + 1))}}
    for i in range(max_layers):
        space[f"units_{i}"] = {"_type": "choice", "_value": list(UNITS)}
        space[f"activation_{i}"] = {"_type": "choice", "_value": list(ACTIVATIONS)}
        space[f"dropout_{i}"] = {"_type": "choice", "_value": [0, 1]}
    if train_tokens:
        for name, values in TRAIN_CHOICES.items():
            space[name] = {"_type": "choice", "_value": list(values)}
    return space


def decode(params: dict, max_layers: int = MAX_LAYERS, train_tokens: bool = False) -> dict:
    """The architecture dict of a point of :func:`search_space` (validated by the token space)."""
    layers: list = []
    n = int(params["n_layers"])
    for i in range(n):
        layers.append([int(params[f"units_{i}"]), str(params[f"activation_{i}"])])
        if int(params[f"dropout_{i}"]) and not (i == n - 1 and n == max_layers):
            layers.append("dropout")
    arch = {"layers": layers}
    if train_tokens:
        arch["train"] = {name: params[name] for name in TRAIN_CHOICES}
    return TokenSpace(max_layers, train_tokens=train_tokens).validate(arch)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlp_nas.export_space", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="where to write the nnictl search space (JSON)")
    parser.add_argument("--max-layers", type=int, default=MAX_LAYERS)
    parser.add_argument("--train-tokens", action="store_true", help="include learning rate, L2 and batch size")
    args = parser.parse_args(argv)
    from nas_data.files import atomic_write

    from .space import ArchitectureError

    try:
        space = search_space(args.max_layers, args.train_tokens)
    except ArchitectureError as exc:
        print(f"export_space: {exc}", file=sys.stderr)
        return 2
    atomic_write(args.file, lambda f: json.dump(space, f, indent=1))
    print(f"{args.file}: {len(space)} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
