"""Inspect a search space: its size, a random (or given) architecture, the frozen model's parameters.

    python -m nni_spaces darts --width 36 --cells 20 --arch darts_v2_genotype.json
    python -m nni_spaces ednas-cell --seed 3 --png cell.png --export ednas_space.json
    python -m nni_spaces enas-macro --layers 24

``--arch`` takes an architecture dict (NNI's sample: label -> value) or, for the cell spaces, a genotype
in the DARTS repository's form ``{"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5],
"reduce": [...], "reduce_concat": [...]}``; for the macro space also a list of ``[op, [skip layers]]``.
"""
from __future__ import annotations

import argparse
import json
import sys

INPUTS = {"cifar10": (3, 32, 10), "cifar100": (3, 32, 100), "digits": (1, 8, 10), "synthetic": (3, 16, 4)}


def _parser() -> argparse.ArgumentParser:
    from . import SPACE_NAMES

    p = argparse.ArgumentParser(prog="python -m nni_spaces", description=__doc__.split("\n\n")[0])
    p.add_argument("name", choices=list(SPACE_NAMES))
    p.add_argument("--width", type=int, help="channels (filters) of the first stage; default: the paper's search network")
    p.add_argument("--cells", type=int, help="cells in the network (cell spaces), reductions included; at least 3")
    p.add_argument("--nodes", type=int, help="computed nodes per cell (cell spaces)")
    p.add_argument("--layers", type=int, help="layers (enas-macro; default 12, the paper's final network 24)")
    p.add_argument("--input", choices=list(INPUTS), default="cifar10", help="input shape and classes (default cifar10)")
    p.add_argument("--auxiliary", action="store_true", help="add DARTS' auxiliary head (cell spaces)")
    p.add_argument("--arch", metavar="FILE", help="architecture dict or genotype (JSON) instead of a random one")
    p.add_argument("--seed", type=int, default=0, help="seed of the random architecture (default 0)")
    p.add_argument("--export", metavar="FILE", help="write the space as nnictl search-space JSON")
    p.add_argument("--png", metavar="FILE", help="draw the architecture's cells (or layers) to a PNG")
    return p


def check_args(args) -> None:
    """Raise ``ValueError`` with one line on arguments that cannot work; needs neither torch nor NNI."""
    from pathlib import Path

    from . import MIN_CELLS

    if args.name == "enas-macro":
        if args.cells is not None or args.nodes is not None or args.auxiliary:
            raise ValueError("--cells, --nodes and --auxiliary are for the cell spaces; enas-macro takes --layers")
    elif args.layers is not None:
        raise ValueError(f"--layers is for enas-macro; {args.name} takes --cells and --nodes")
    for flag, value, least in (("--width", args.width, 1), ("--cells", args.cells, MIN_CELLS), ("--nodes", args.nodes, 1),
                               ("--layers", args.layers, 1), ("--seed", args.seed, 0)):
        if value is not None and value < least:
            why = (" (cells num_cells // 3 and 2 * num_cells // 3 are the two reduction cells; with fewer than "
                   f"{MIN_CELLS} no normal cell is left)") if flag == "--cells" else ""
            raise ValueError(f"{flag} must be at least {least}, got {value}{why}")
    for flag, path in (("--export", args.export), ("--png", args.png)):
        if path is not None and not Path(path).resolve().parent.is_dir():
            raise ValueError(f"{flag} {path}: folder {Path(path).resolve().parent} does not exist; create it first")
    if args.export is not None and args.png is not None and Path(args.export).resolve() == Path(args.png).resolve():
        raise ValueError("--export and --png name the same file; give each its own")


def _space_kwargs(args) -> dict:
    channels, size, classes = INPUTS[args.input]
    kwargs = {"in_channels": channels, "num_classes": classes, "image_size": size}
    if args.width is not None:
        kwargs["width"] = args.width
    if args.name == "enas-macro":
        if args.layers is not None:
            kwargs["num_layers"] = args.layers
    else:
        for key, value in (("num_cells", args.cells), ("num_nodes", args.nodes)):
            if value is not None:
                kwargs[key] = value
        kwargs["auxiliary"] = args.auxiliary
    return kwargs


def _read_json(path: str):
    """The ``--arch`` file's JSON, or one-line ``ValueError``."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as exc:
        raise ValueError(f"cannot read --arch {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ValueError(f"--arch {path} is not valid JSON ({getattr(exc, 'msg', exc)}{where}); give an architecture "
                         "dict or a DARTS-style genotype") from None


def _read_arch(space, given) -> dict:
    is_genotype = isinstance(given, list) or (isinstance(given, dict) and "normal" in given)
    return space.from_genotype(given) if is_genotype else space.check(given)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        check_args(args)  # before torch and NNI load: a wrong flag fails at once
        given = _read_json(args.arch) if args.arch else None
        from nas_data.files import atomic_write

        from . import make_space
        space = make_space(args.name, **_space_kwargs(args))
        arch = _read_arch(space, given) if args.arch else space.sample(args.seed)
        arch = {label: arch[label] for label in space.active(arch)}
        model = space.freeze(arch)
        if args.png:
            from .draw import draw_genotype
            draw_genotype(space.genotype(arch), args.png, title=args.name)
        if args.export:
            text = json.dumps(space.to_nnictl(), indent=1)
            atomic_write(args.export, lambda f: f.write(text + "\n"))
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    count = space.count()
    per_cell = f" ({space.count_per_cell():,} per cell type)" if hasattr(space, "count_per_cell") else ""
    print(f"space: {args.name} {json.dumps({k: v for k, v in space.config.items()})}")
    print(f"architectures: {count:,} (~{count:.3g}){per_cell}")
    print(f"architecture ({'from ' + args.arch if args.arch else f'random, seed {args.seed}'}), the decisions that matter:")
    print("{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in arch.items()) + "\n}")
    print(f"genotype: {json.dumps(space.genotype(arch))}")
    print(f"parameters of the frozen model: {sum(p.numel() for p in model.parameters()):,}")
    if args.export:
        print(f"nnictl search space written to {args.export} ({len(space.to_nnictl())} parameters)")
    if args.png:
        print(f"drawing written to {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
