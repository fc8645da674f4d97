"""Benchmark: the cost of one weight-sharing epoch, ours against NNI's one-shot
strategies on the same space and data, in one run.

(b) our search with the uniform policy against NNI ``RandomOneShot`` on NNI's own DARTS space (the hub's
    ``DARTS`` model space: same 7 operations, same cell wiring) (goal: ratio <= 0.8);
(b') the same against ``RandomOneShot`` driving *our* DARTS space module: both then run the same modules
    (our cells compute only the kept edges under either), so this isolates the loops;
(c) our search with EDNAS policy vectors against NNI ``DARTS`` on our DARTS space;
(d) our search with EDNAS against the same policy as an NNI strategy (``strategies.nni_strategy.PolicyOneShot``,
    one policy step per validation batch in both): the cost of the NNI-native path.

An epoch's cost is the second epoch of a 2-epoch run, timed inside each loop (ours: shared-weight
pass and policy pass; NNI: a Lightning callback from the start of training to the end
of validation); each run twice, the faster kept. Same synthetic images, same batch size, same
train / validation split. Our heatmaps and TensorBoard files (NNI draws none) are off except in the
row that says so: drawn in a background thread, they take CPU from the next epoch on 2 cores.

    python benchmarks/oneshot_vs_nni.py --images 1024 --width 8 --cells 5
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")


def nni_run(space_name, strategy_name, data, epochs, args) -> float:
    """``space_name``: ours (``darts``), or ``hub-darts`` for NNI's own DARTS model space."""
    import nni
    import nni.nas.strategy as strategies
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from nni.nas.experiment import NasExperiment

    from nni_spaces import make_space

    (x_tr, y_tr), (x_val, y_val) = data
    train = nni.trace(torch.utils.data.TensorDataset)(x_tr, y_tr)
    val = nni.trace(torch.utils.data.TensorDataset)(x_val, y_val)
    import pytorch_lightning as pl

    starts, ends = [], []

    class EpochClock(pl.Callback):  # from the start of training to the end of validation (if any), per epoch
        def on_train_epoch_start(self, trainer, module):
            starts.append(time.perf_counter())

        def on_train_epoch_end(self, trainer, module):
            ends.append(time.perf_counter())

        def on_validation_epoch_end(self, trainer, module):
            ends.append(time.perf_counter())

    if space_name == "hub-darts":
        from nni.nas.hub.pytorch import DARTS as HubDarts

        space, classes = HubDarts(width=args.width, num_cells=args.cells, dataset="cifar"), 10  # 10 outputs
    else:
        space, classes = make_space(space_name, width=args.width, num_cells=args.cells, num_classes=4,
                                    image_size=16), 4
    evaluator = Classification(
        train_dataloaders=DataLoader(train, batch_size=args.batch, shuffle=True),
        val_dataloaders=DataLoader(val, batch_size=args.batch), max_epochs=epochs, num_classes=classes,
        accelerator="cpu", enable_progress_bar=False, logger=False, enable_checkpointing=False,
        enable_model_summary=False, callbacks=[EpochClock()], num_sanity_val_steps=0)
    if strategy_name == "PolicyOneShot":  # our EDNAS policy inside NNI's one-shot framework
        from strategies.nni_strategy import PolicyOneShot

        strategy = PolicyOneShot("ednas", seed=0)
    else:
        strategy = getattr(strategies, strategy_name)()
    experiment = NasExperiment(space, evaluator, strategy)
    experiment.run()
    experiment.stop()
    return ends[-1] - starts[-1]  # the last epoch


def our_run(space_name, policy_name, data, epochs, args, figures_every: int = 0) -> float:
    """``figures_every=1``: draw the heatmaps and TensorBoard files every epoch, in the background thread."""
    from torch.utils.data import TensorDataset

    from nni_spaces import make_space
    from strategies import make_policy
    from strategies.search import WeightSharingSearch

    space = make_space(space_name, width=args.width, num_cells=args.cells, num_classes=4, image_size=16)
    policy = make_policy(policy_name, space, seed=0)
    with tempfile.TemporaryDirectory() as out:
        # the policy budget NNI's loops have: one pass over the validation split, one sample per batch
        search = WeightSharingSearch(space, policy, TensorDataset(*data[0]), TensorDataset(*data[1]), out=out,
                                     epochs=epochs, batch_size=args.batch, final_samples=1,
                                     figures_every=figures_every, val_batch_size=args.batch, policy_steps=None,
                                     samples_per_update=1, null_twins=0)
        seconds = []
        search.log = lambda *_: seconds.append(search.history[-1]["seconds"]) if search.history else None
        search.run()
        return seconds[-1]  # the last epoch: shared-weight pass and policy pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--cells", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "oneshot_vs_nni.json"))
    parser.add_argument("--only", help="run only the comparisons whose label contains this text, e.g. '(d)'")
    args = parser.parse_args(argv)

    from publish import measured, publish

    from nas_data.images import synthetic_images

    x, y = synthetic_images(n=args.images, classes=4, size=16, seed=0)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    half = len(x) // 2
    data = ((x[:half], y[:half]), (x[half:], y[half:]))
    rows = []
    for label, theirs_space, ours, theirs, figures in (
            ("(b) uniform vs RandomOneShot on NNI's DARTS space", "hub-darts", "uniform", "RandomOneShot", 0),
            ("(b) the same, our figures drawn every epoch", "hub-darts", "uniform", "RandomOneShot", 1),
            ("(b') uniform vs RandomOneShot on our DARTS module", "darts", "uniform", "RandomOneShot", 0),
            ("(c) EDNAS vs DARTS", "darts", "ednas", "DARTS", 0),
            ("(d) EDNAS: our loop vs PolicyOneShot inside NNI", "darts", "ednas", "PolicyOneShot", 0)):
        if args.only and args.only not in label:
            continue
        t = {"ours": min(our_run("darts", ours, data, 2, args, figures) for _ in range(2)),
             "nni": min(nni_run(theirs_space, theirs, data, 2, args) for _ in range(2))}
        rows.append({"comparison": label, "ours_epoch_s": t["ours"], "nni_epoch_s": t["nni"],
                     "ratio": t["ours"] / t["nni"]})
    header = measured("oneshot_vs_nni.py", argv, f"DARTS space, {args.width} channels, {args.cells} cells, "
                      f"{args.images} synthetic 3x16x16 images (half train, half validation), batch {args.batch}; "
                      "second epoch of two, best of 2 runs")
    lines = ["| comparison | ours (s / epoch) | NNI (s / epoch) | ratio |", "|---|---|---|---|"]
    lines += [f"| {r['comparison']} | {r['ours_epoch_s']:.2f} | {r['nni_epoch_s']:.2f} | {r['ratio']:.3f} |"
              for r in rows]
    publish(args.out, header, lines, {"rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
