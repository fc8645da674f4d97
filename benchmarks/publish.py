"""What every benchmark script does with its figures: a header saying when, where and by which command they
were measured, the table printed, and everything written atomically as JSON beside the results; and the
arguments the scripts timing training steps share."""
from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import date
from pathlib import Path

import torch

from nas_data.files import atomic_write
from nni_plumbing.checks import positive_int

RESULTS = Path(__file__).resolve().parent / "results"


def _positive_int(text: str) -> int:
    try:
        return positive_int("the value", int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None


def network_parser(description: str, results_name: str) -> argparse.ArgumentParser:
    """A parser with the network and timing arguments of the step benchmarks: ``--width`` 16, ``--cells`` 8,
    ``--batch`` 32 (a CIFAR-sized DARTS search network), ``--repeats`` 10, and ``--out``
    ``benchmarks/results/<results_name>.json``; scripts add their own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--width", type=_positive_int, default=16)
    parser.add_argument("--cells", type=_positive_int, default=8)
    parser.add_argument("--batch", type=_positive_int, default=32)
    parser.add_argument("--repeats", type=_positive_int, default=10)
    parser.add_argument("--out", default=str(RESULTS / f"{results_name}.json"))
    return parser


def measured(script: str, argv, details: str) -> str:
    """``Measured <date> on <machine> (<threads> threads), <details>; command: python benchmarks/<script> ...``"""
    args = " ".join(sys.argv[1:] if argv is None else argv)
    return (f"Measured {date.today()} on {platform.machine()} ({torch.get_num_threads()} threads), {details}; "
            f"command: python benchmarks/{script} {args}".rstrip())


def publish(out: str, header: str, lines: list[str], payload: dict) -> None:
    """Print ``header`` and ``lines``; write ``{"header": ..., **payload}`` to ``out`` atomically."""
    print("\n".join([header, "", *lines]))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"header": header, **payload}, indent=1)
    atomic_write(out, lambda f: f.write(text + "\n"))
