"""How fast a weight-sharing supernet learns on a small proxy, by network shape: the search's own training
pass (``WeightSharingSearch``, SGD lr 0.05 cosine, a uniform path per step), and after every epoch the
validation accuracy of the same 10 uniformly drawn architectures with the shared weights. A policy can
only learn from rewards that differ between architectures; a supernet still near chance gives it none.
``--sample`` says what changes from step to step: ``all`` (the search), ``ops`` (the wiring fixed, the
operations drawn), ``wiring`` (the operations fixed, the inputs and skips drawn), ``none`` (one fixed
architecture: training a child alone, for reference; it is the one scored).

    python benchmarks/supernet_training.py [--space darts] [--shapes 8x5 16x3] [--epochs 20] [--sample all]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.publish import RESULTS, measured, publish  # noqa: E402


def shape(text: str) -> tuple[int, int]:
    width, _, cells = text.partition("x")
    if not (width.isdigit() and cells.isdigit()):
        raise argparse.ArgumentTypeError(f"a shape is WIDTHxCELLS such as 16x3, got {text!r}")
    return int(width), int(cells)


SAMPLES = ("all", "ops", "wiring", "none")


def is_wiring(label: str) -> bool:
    """Decisions that choose inputs or skips (the wiring), not operations."""
    return "input" in label or "skip" in label


class Sampler:
    """Uniform architectures (every decision, from ``space.sample``) with the part ``sample`` does not draw taken
    from one fixed architecture; what the search's training pass asks of its policy."""

    def __init__(self, space, decisions, sample: str, seed: int):
        self.space, self.decisions = space, decisions
        self.keep = {"all": lambda k: True, "none": lambda k: False, "ops": lambda k: not is_wiring(k),
                     "wiring": is_wiring}[sample]  # which decisions are drawn anew
        self.fixed, self.draws = space.sample(seed=seed), 1_000_000 * (seed + 1)

    def sample_batch(self, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            self.draws += 1
            drawn = self.space.sample(seed=self.draws)
            out.append({k: drawn[k] if self.keep(k) else self.fixed[k] for k in drawn})
        return out


def run(space_name: str, data, width: int, cells: int, epochs: int, seed: int, probes: int, sample: str) -> dict:
    from nni_spaces import make_space
    from strategies import make_policy
    from strategies.search import WeightSharingSearch

    space = make_space(space_name, in_channels=data.shape[0], num_classes=data.num_classes, width=width,
                       num_cells=cells, image_size=data.shape[1])
    policy = make_policy("uniform", space, seed=seed)
    sampler = Sampler(space, policy.decisions, sample, seed)
    archs = [sampler.fixed] if sample == "none" else policy.sample_batch(probes)
    train, val, _ = data.datasets()
    rows = []
    with tempfile.TemporaryDirectory() as out:
        search = WeightSharingSearch(space, policy, train, val, out=out, epochs=epochs, batch_size=32, seed=seed,
                                     null_twins=0, figures_every=0)
        search.policy = sampler  # the training pass draws its paths from it
        for epoch in range(epochs):
            started = time.perf_counter()
            loss = search._train_epoch()
            seconds = time.perf_counter() - started
            search.supernet.train()  # batch statistics, as the search scores rewards
            accuracy = [search._score_split(a, search.eval_loader)[0] for a in archs]
            spread = statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0
            rows.append({"epoch": epoch, "train_loss": loss, "seconds": seconds, "mean": statistics.mean(accuracy),
                         "std": spread, "min": min(accuracy), "max": max(accuracy)})
            print(f"{width}x{cells} ({sample}) epoch {epoch}: loss {loss:.3f}, {len(archs)} paths "
                  f"{statistics.mean(accuracy):.3f} ± {spread:.3f} ({min(accuracy):.3f}-{max(accuracy):.3f}), "
                  f"{seconds:.1f} s", flush=True)
    return {"width": width, "cells": cells, "sample": sample, "epochs": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="darts")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--shapes", type=shape, nargs="+", default=[(8, 5), (16, 3)])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probes", type=int, default=10)
    parser.add_argument("--sample", choices=SAMPLES, nargs="+", default=["all"],
                        help="what the training pass draws anew each step (several: one run each)")
    parser.add_argument("--out", default=str(RESULTS / "supernet_training.json"))
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.probes < 2:
        parser.error("--epochs must be positive and --probes at least 2")
    from nas_data.images import load_images

    data = load_images(args.data, seed=args.seed)
    runs = [run(args.space, data, w, c, args.epochs, args.seed, args.probes, sample)
            for sample in args.sample for w, c in args.shapes]
    header = measured("supernet_training.py", argv, f"{args.space} on {args.data}, seed {args.seed}, batch 32, "
                      f"{args.probes} probed paths")
    lines = ["| network | paths drawn | epoch 1 | last epoch | training loss, last | s / epoch (median) |",
             "|---|---|---|---|---|---|"]
    for r in runs:
        first, last = r["epochs"][0], r["epochs"][-1]
        lines.append(f"| {r['width']} x {r['cells']} | {r['sample']} | {first['mean']:.3f} ± {first['std']:.3f} | "
                     f"{last['mean']:.3f} ± {last['std']:.3f} | {last['train_loss']:.3f} | "
                     f"{statistics.median(e['seconds'] for e in r['epochs']):.1f} |")
    publish(args.out, header, lines, {"space": args.space, "data": args.data, "seed": args.seed, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
