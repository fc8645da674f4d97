"""The nnictl configs of the weight-sharing search, one per space x policy, in ``configs/search/``.
They differ only in the space, the policy and the space's depth, so they are written from one
template here, and a test keeps the committed files equal to what this writes.

    python -m strategies.configs            # (re)write configs/search/*.yml
    python -m strategies.configs --check    # exit 1 naming each file that differs
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nas_data.files import atomic_write

FOLDER = Path(__file__).resolve().parent.parent / "configs" / "search"
SPACES = {"enas-macro": 6, "enas-micro": 5, "darts": 5, "ednas-cell": 5}  # --cells: layers (macro) or cells
POLICIES = ("uniform", "ednas", "lstm", "enas")

TEMPLATE = """\
# Weight-sharing search as an nnictl experiment: the {policy} policy on the {space} space, offline digits
# images (written by `python -m strategies.configs`; edit values here or the template there).
#   nnictl create --config configs/search/{space}-{policy}.yml
# Web UI, trial list, TensorBoard: per-epoch scalars and policy heatmaps (NNI 3.0 has no nnictl tensorboard).
# One trial per seed (a grid over 'seed'); each trial reports its epochs (mean reward = 'default', policy
# entropy, shared-weight accuracy) and the derived architecture, and writes result.json, the heatmap
# PNGs and TensorBoard files to its output folder. CIFAR-10 on a GPU: --data cifar10
# --data-dir /path/to/folder --width 16 --cells 8 (the search uses CUDA when torch sees it).
experimentName: search-{space}-{policy}
searchSpace:
  seed: {{_type: choice, _value: [0, 1, 2]}}
trialCommand: >-
  python3 -m strategies.search --nni --space {space} --policy {policy}
  --data digits --width 8 --cells {cells} --epochs 10 --final-samples 100
trialCodeDirectory: ../..
trialConcurrency: 1
maxTrialNumber: 3
tuner:
  name: GridSearch
trainingService:
  platform: local
"""


def render() -> dict[Path, str]:
    """Every config's path and text."""
    return {FOLDER / f"{space}-{policy}.yml": TEMPLATE.format(space=space, policy=policy, cells=cells)
            for space, cells in SPACES.items() for policy in POLICIES}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m strategies.configs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    configs = render()
    if args.check:
        stale = [p for p, text in configs.items() if not p.exists() or p.read_text() != text]
        for path in stale:
            print(f"{path} differs from the template; run python -m strategies.configs", file=sys.stderr)
        return int(bool(stale))
    FOLDER.mkdir(parents=True, exist_ok=True)
    for path, text in configs.items():
        atomic_write(path, lambda f, text=text: f.write(text))
    print(f"wrote {len(configs)} configs to {FOLDER}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
