"""Benchmark (issue 4, 6b and 6c): the cost of one weight-sharing epoch, ours against NNI's one-shot
strategies on the same space and data, in one run.

(b) our search with the uniform policy against NNI ``RandomOneShot`` (goal: ratio <= 0.8);
(c) our search with EDNAS policy vectors against NNI ``DARTS`` on the DARTS space.

An epoch's cost is the difference between a 2-epoch and a 1-epoch run of each (start-up, model
building and our final 100-sample derivation cancel out). Same synthetic images, same batch size,
same train / validation split.

    python benchmarks/oneshot_vs_nni.py --images 512 --width 8 --cells 5
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")


def nni_run(space_name, strategy_name, data, epochs, args) -> float:
    import nni
    import nni.nas.strategy as strategies
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from nni.nas.experiment import NasExperiment

    from nni_spaces import make_space

    (x_tr, y_tr), (x_val, y_val) = data
    train = nni.trace(torch.utils.data.TensorDataset)(x_tr, y_tr)
    val = nni.trace(torch.utils.data.TensorDataset)(x_val, y_val)
    space = make_space(space_name, width=args.width, num_cells=args.cells, num_classes=4, image_size=16)
    evaluator = Classification(
        train_dataloaders=DataLoader(train, batch_size=args.batch, shuffle=True),
        val_dataloaders=DataLoader(val, batch_size=args.batch), max_epochs=epochs, num_classes=4,
        accelerator="cpu", enable_progress_bar=False, logger=False, enable_checkpointing=False,
        enable_model_summary=False)
    experiment = NasExperiment(space, evaluator, getattr(strategies, strategy_name)())
    start = time.perf_counter()
    experiment.run()
    elapsed = time.perf_counter() - start
    experiment.stop()
    return elapsed


def our_run(space_name, policy_name, data, epochs, args) -> float:
    from torch.utils.data import TensorDataset

    from nni_spaces import make_space
    from strategies import make_policy
    from strategies.search import WeightSharingSearch

    space = make_space(space_name, width=args.width, num_cells=args.cells, num_classes=4, image_size=16)
    policy = make_policy(policy_name, space, seed=0)
    with tempfile.TemporaryDirectory() as out:
        search = WeightSharingSearch(space, policy, TensorDataset(*data[0]), TensorDataset(*data[1]), out=out,
                                     epochs=epochs, batch_size=args.batch, log=lambda *_: None)
        start = time.perf_counter()
        search.run()
        return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "oneshot_vs_nni.json"))
    args = parser.parse_args(argv)

    from trials.image_data import synthetic_images
    from trials.tabular_data import atomic_write

    x, y = synthetic_images(n=args.images, classes=4, size=16, seed=0)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    half = len(x) // 2
    data = ((x[:half], y[:half]), (x[half:], y[half:]))
    rows = []
    for label, space, ours, theirs in (("(b) uniform vs RandomOneShot", "darts", "uniform", "RandomOneShot"),
                                       ("(c) EDNAS vs DARTS", "darts", "ednas", "DARTS")):
        t = {}
        for who, fn, arg in (("ours", our_run, ours), ("nni", nni_run, theirs)):
            one, two = fn(space, arg, data, 1, args), fn(space, arg, data, 2, args)
            t[who] = two - one
        rows.append({"comparison": label, "ours_epoch_s": t["ours"], "nni_epoch_s": t["nni"],
                     "ratio": t["ours"] / t["nni"]})
    header = (f"Measured {date.today()} on {platform.machine()} ({torch.get_num_threads()} threads): DARTS space, "
              f"{args.width} channels, {args.cells} cells, {args.images} synthetic 3x16x16 images (half train, half "
              f"validation), batch {args.batch}; epoch = 2-epoch run minus 1-epoch run; command: "
              f"python benchmarks/oneshot_vs_nni.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    lines = [header, "", "| comparison | ours (s / epoch) | NNI (s / epoch) | ratio |", "|---|---|---|---|"]
    lines += [f"| {r['comparison']} | {r['ours_epoch_s']:.2f} | {r['nni_epoch_s']:.2f} | {r['ratio']:.3f} |"
              for r in rows]
    print("\n".join(lines))
    text = json.dumps({"header": header, "rows": rows}, indent=1)
    atomic_write(args.out, lambda f: f.write(text + "\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
