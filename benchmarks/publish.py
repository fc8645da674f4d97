"""What every benchmark script does with its figures: a header saying when, where and by which command they
were measured, the table printed, and everything written atomically as JSON beside the results."""
from __future__ import annotations

import json
import platform
import sys
from datetime import date
from pathlib import Path

import torch

from trials.tabular_data import atomic_write


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
