"""The command line of ``python -m strategies.search``: its parser and the checks that need neither torch nor
NNI, so that a wrong flag, a missing data folder or an ``--out`` folder of another search fails in a fraction
of a second with one line, before the slow imports and before anything is written."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from nas_data.images import IMAGE_DATASETS, check_image_source
from nas_data.tabular import DataError
from nni_spaces import MIN_CELLS, SPACE_NAMES

from . import BASELINES, POLICY_CLASSES

try:  # old policy names the registry still accepts, where it keeps such a list
    from . import POLICY_ALIASES
except ImportError:
    POLICY_ALIASES = {}

SETTINGS = "search_settings.json"
"""Written to ``--out`` when a search starts; a rerun on the same folder resumes only with the same settings."""
CHECKPOINT = "search_checkpoint.pt"
#: The settings a checkpoint depends on (``--epochs`` has its own check when the checkpoint loads).
SETTING_FLAGS = {"space": "--space", "policy": "--policy", "data": "--data", "data_dir": "--data-dir",
                 "width": "--width", "cells": "--cells", "batch_size": "--batch-size",
                 "final_samples": "--final-samples", "seed": "--seed", "val_batch_size": "--val-batch-size",
                 "policy_steps": "--policy-steps", "samples_per_update": "--samples-per-update", "baseline": "--baseline",
                 "shuffle_rewards": "--shuffle-rewards", "null_twins": "--null-twins", "init_policy": "--init-policy"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m strategies.search", description="Weight-sharing search with "
                                     "any policy over any space, checkpointed every epoch and resumable.")
    parser.add_argument("--space", choices=list(SPACE_NAMES), default="ednas-cell")
    parser.add_argument("--policy", choices=[*POLICY_CLASSES, *POLICY_ALIASES], default="ednas")
    parser.add_argument("--data", choices=list(IMAGE_DATASETS), default="digits")
    parser.add_argument("--data-dir", help="folder holding CIFAR in torchvision's layout")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--cells", type=int, default=5,
                        help=f"cells (cell spaces, at least {MIN_CELLS}) or layers (enas-macro)")
    parser.add_argument("--final-samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    # the policy's budget, the same for every policy (strategies/search.py, docs/search.md)
    parser.add_argument("--val-batch-size", type=int, default=16, help="validation images per reward (default 16)")
    parser.add_argument("--policy-steps", type=int, default=125, help="policy updates per epoch (default 125)")
    parser.add_argument("--samples-per-update", type=int, default=4, help="architectures per policy update "
                        "(default 4); reward evaluations = epochs x policy steps x samples per update")
    parser.add_argument("--baseline", choices=list(BASELINES), default="moving",
                        help="what each reward is compared with: the moving average of earlier rewards (the papers'; "
                        "default) or, with several samples per update, the mean of the update's other samples, "
                        "scored on the same minibatch")
    parser.add_argument("--shuffle-rewards", action="store_true", help="train the policy on the observed rewards "
                        "in random order: the null run its drift is judged against")
    parser.add_argument("--null-twins", type=int, default=2, help="copies of the policy trained on shuffled rewards "
                        "beside it, for result.json's 'learned' verdict (default 2; 0: none)")
    parser.add_argument("--figures-every", type=int, default=1, metavar="N",
                        help="heatmaps and TensorBoard every N epochs and after the last (0: never; each costs ~1 s "
                        "of CPU in a background thread)")
    parser.add_argument("--init-policy", metavar="CHECKPOINT", help="start the policy from the parameters of "
                        f"another search's policy (its {CHECKPOINT} or --out folder), on another data set say: "
                        "controller transfer")
    parser.add_argument("--device", help="torch device for the supernet (default: cuda when torch sees one, else cpu)")
    parser.add_argument("--out", help="folder for the checkpoint and result.json (resumes from it); "
                        "default under an NNI trial: its output folder")
    parser.add_argument("--nni", action="store_true", help="run as an nnictl trial: take 'seed' from the trial's "
                        "parameters (a grid over seeds repeats the search), report every epoch to NNI")
    return parser


def settings(args) -> dict:
    """The settings of ``args`` a checkpoint depends on, as JSON values."""
    values = {key: getattr(args, key, None) for key in SETTING_FLAGS}
    for key in ("data_dir", "init_policy"):
        if values[key] is not None:
            values[key] = str(Path(values[key]).expanduser().resolve())
    return values


def check_args(args) -> None:
    """Raise ``ValueError`` (one line: what is wrong, how to fix it) on arguments that cannot work."""
    least_cells = 1 if args.space == "enas-macro" else MIN_CELLS
    for flag, value, least in (("--epochs", args.epochs, 1), ("--batch-size", args.batch_size, 1),
                               ("--width", args.width, 2 if args.space == "enas-macro" else 1),
                               ("--cells", args.cells, least_cells), ("--final-samples", args.final_samples, 1),
                               ("--figures-every", args.figures_every, 0), ("--seed", args.seed, 0),
                               ("--val-batch-size", getattr(args, "val_batch_size", None), 1),
                               ("--policy-steps", getattr(args, "policy_steps", None), 1),
                               ("--samples-per-update", getattr(args, "samples_per_update", None), 1),
                               ("--null-twins", getattr(args, "null_twins", None), 0)):
        if value is not None and value < least:
            why = (f" ({args.space} puts its two reduction cells at cells // 3 and 2 * cells // 3; with fewer than "
                   f"{MIN_CELLS} cells no normal cell is left)") if flag == "--cells" and least > 1 else ""
            raise ValueError(f"{flag} must be at least {least}, got {value}{why}")
    try:
        check_image_source(args.data, args.data_dir)
    except DataError as exc:
        raise ValueError(str(exc)) from None
    if getattr(args, "init_policy", None) is not None:
        policy_checkpoint(args.init_policy, "--init-policy")
    if args.out is not None:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file; give a folder (new, or the one of the search to resume)")
        check_resume(out, settings(args))


def policy_checkpoint(path, name: str = "init_policy") -> Path:
    """The search checkpoint a policy transfer reads: ``path`` itself, or the one in the folder ``path``;
    ``ValueError`` (one line that names ``name``) when there is none."""
    path = Path(path)
    found = path / CHECKPOINT if path.is_dir() else path
    if not found.is_file():
        raise ValueError(f"{name} {path} is neither a search checkpoint nor a folder holding {CHECKPOINT}; "
                         "give the --out folder of a finished search")
    return found


def check_resume(out: Path, wanted: dict) -> None:
    """Refuse to resume the search in ``out`` with other settings than it started with."""
    path = out / SETTINGS
    if not (out / CHECKPOINT).exists() or not path.exists():
        return
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is unreadable ({exc}); delete {out} or pass another --out") from None
    differ = [key for key in SETTING_FLAGS if key in saved and saved[key] != wanted[key]]  # older files: fewer keys
    if differ:
        shown = ", ".join(f"{SETTING_FLAGS[k]} {saved.get(k)} (now {wanted[k]})" for k in differ)
        raise ValueError(f"--out {out} holds a search started with {shown}: pass another --out for a new search, "
                         "or the same settings to resume it")


def check_command_line(argv) -> None:
    """Parse and check ``argv`` before the search's heavy imports; argparse's errors and ours exit 2 at once."""
    import sys

    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.out and not args.nni:
        parser.error("--out is required outside an NNI trial")
    try:
        check_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def usable_device(name: str | None) -> str:
    """``--device``, checked: a device torch cannot use here is one line, not a traceback mid-search."""
    import torch

    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.empty(0, device=name)
    except (RuntimeError, AssertionError) as exc:
        reason = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"--device {name} is not usable on this machine ({reason}); pass --device cpu, or leave "
                         "--device out to use a GPU when torch sees one") from None
    return name


def record_settings(args) -> None:
    """Write ``--out``'s settings file when a search starts there (a resumed one keeps its own)."""
    from nas_data.files import atomic_write

    out = Path(args.out)
    if not (out / CHECKPOINT).exists():
        text = json.dumps(settings(args), indent=1)
        atomic_write(out / SETTINGS, lambda f: f.write(text + "\n"))
