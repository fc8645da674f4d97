"""Where a trial writes TensorBoard files so that NNI's web UI finds them (the glue NNI 3.0 lacks).

NNI 3.0 dropped ``nnictl tensorboard``; its web UI still starts TensorBoard for chosen trials, but on
the local training service it looks in ``<experiment>/trials/<trial id>/output/tensorboard`` while the
trial's output folder (``NNI_OUTPUT_DIR``) is ``<experiment>/environments/<env>/trials/<trial id>``, and
nothing copies one to the other. :func:`tensorboard_dir` returns ``<out>/tensorboard`` and, in a local
NNI trial, links the web UI's folder to it. :func:`summary_writer` opens a writer there without letting
TensorBoard import TensorFlow (seconds, and unused: the stub TensorBoard ships writes the same files).
"""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path


def tensorboard_dir(out: str | os.PathLike) -> Path:
    """``out/tensorboard``, created; linked from where NNI 3.0's web UI looks when ``out`` is a local trial's
    output folder (elsewhere nothing else happens)."""
    board = Path(out) / "tensorboard"
    board.mkdir(parents=True, exist_ok=True)
    trial_dir = os.environ.get("NNI_OUTPUT_DIR")
    trial_id = os.environ.get("NNI_TRIAL_JOB_ID")
    if trial_dir and trial_id and Path(trial_dir).resolve() == Path(out).resolve():
        parts = Path(trial_dir).resolve().parts
        if len(parts) >= 4 and parts[-4] == "environments" and parts[-2] == "trials" and parts[-1] == trial_id:
            expected = Path(*parts[:-4]) / "trials" / trial_id / "output" / "tensorboard"
            expected.parent.mkdir(parents=True, exist_ok=True)
            if not expected.exists() and not expected.is_symlink():
                expected.symlink_to(board, target_is_directory=True)
    return board


def summary_writer(out: str | os.PathLike):
    """A ``torch.utils.tensorboard.SummaryWriter`` on :func:`tensorboard_dir` ``(out)``."""
    # TensorBoard's documented switch to its TensorFlow stub is the importability of this module
    sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(tensorboard_dir(out)))
