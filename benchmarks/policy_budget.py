"""Which budget lets EDNAS's policy move in a 20-epoch search on digits: smaller validation batches, more
policy steps per epoch, or several samples per update? The real policy and its real update, on the
darts space's decisions, with a modelled reward: a minibatch accuracy drawn Binomial(batch, p) with p rising
``signal`` from an all-pooling/skip to an all-convolution cell (what the shared weights give is unknown
before the search; this isolates the policy's side). Final mean KL from uniform with real and with shuffled
rewards, 3 seeds; and the measured cost of one reward (a supernet forward pass on a validation batch).

    python benchmarks/policy_budget.py [--signal 0.1] [--out benchmarks/results/policy_budget.json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas_data.files import atomic_write  # noqa: E402
from nni_spaces import make_space  # noqa: E402
from strategies import make_policy  # noqa: E402
from strategies.drift import RewardShuffler, drift, is_conv  # noqa: E402

VAL_IMAGES, EPOCHS = 144, 20
# (name, validation batch, policy steps per epoch, samples per update)
CONFIGS = [("today: batch 32, one pass, 1 sample", 32, 5, 1),
           ("batch 8, one pass, 1 sample", 8, 18, 1),
           ("batch 32, one pass, 10 samples", 32, 5, 10),
           ("batch 16, 50 steps, 1 sample", 16, 50, 1),
           ("batch 16, 50 steps, 4 samples", 16, 50, 4),
           ("batch 16, 100 steps, 1 sample", 16, 100, 1),
           ("batch 8, 100 steps, 4 samples", 8, 100, 4)]


def conv_fraction(space, arch: dict) -> float:
    ops = [arch[k] for k in space.active(arch) if isinstance(arch[k], str)]
    return sum(is_conv(o) for o in ops) / max(len(ops), 1)


def simulate(space, batch: int, steps: int, samples: int, seed: int, signal: float, shuffled: bool) -> float:
    policy = make_policy("ednas", space, seed=seed)
    shuffler, rng = RewardShuffler(seed), torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS * steps):
        archs = policy.sample_batch(samples)
        p = torch.tensor([0.4 + signal * (conv_fraction(space, a) - 0.5) for a in archs])
        rewards = (torch.binomial(torch.full_like(p, float(batch)), p, generator=rng) / batch).tolist()
        shuffler.observe(rewards)
        policy.update(archs, shuffler.draw(samples) if shuffled else rewards)
    return drift(policy.probabilities(), policy.decisions)["mean_kl"]


def forward_seconds(space_args: dict, batch: int, repeats: int = 20) -> float:
    from nas_data.images import load_images
    from strategies.supernet import Supernet

    data = load_images("digits", seed=0)
    space = make_space("darts", in_channels=1, num_classes=10, image_size=8, **space_args)
    supernet, policy = Supernet(space).train(), make_policy("uniform", space, seed=0)
    x = data.datasets()[1].tensors[0][:batch] if hasattr(data.datasets()[1], "tensors") else torch.randn(batch, 1, 8, 8)
    times = []
    with torch.no_grad():
        for arch in policy.sample_batch(repeats):
            supernet.use(arch)
            started = time.perf_counter()
            supernet(x)
            times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signal", type=float, default=0.1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="benchmarks/results/policy_budget.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    space = make_space("darts", width=8, num_cells=5, in_channels=1, num_classes=10, image_size=8)
    seconds = {b: forward_seconds({"width": 8, "num_cells": 5}, b) for b in (8, 16, 32)}
    rows = []
    print(f"| budget (20 epochs, {VAL_IMAGES} validation images) | updates | rewards | reward cost / epoch (s) "
          "| mean KL real | mean KL shuffled | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, batch, steps, samples in CONFIGS:
        real = [simulate(space, batch, steps, samples, s, args.signal, False) for s in args.seeds]
        null = [simulate(space, batch, steps, samples, s, args.signal, True) for s in args.seeds]
        mean_real, mean_null = sum(real) / len(real), sum(null) / len(null)
        row = {"name": name, "val_batch": batch, "steps": steps, "samples": samples, "updates": EPOCHS * steps,
               "rewards": EPOCHS * steps * samples, "reward_seconds_per_epoch": steps * samples * seconds[batch],
               "kl_real": real, "kl_shuffled": null, "ratio": mean_real / mean_null if mean_null else math.inf}
        rows.append(row)
        print(f"| {name} | {row['updates']} | {row['rewards']} | {row['reward_seconds_per_epoch']:.1f} | "
              f"{mean_real:.2e} | {mean_null:.2e} | {row['ratio']:.1f} |", flush=True)
    text = json.dumps({"signal": args.signal, "forward_seconds": seconds, "rows": rows}, indent=1)
    atomic_write(Path(args.out), lambda f: f.write(text + "\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
