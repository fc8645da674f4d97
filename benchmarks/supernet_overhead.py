"""Benchmark, one run, ratios from interleaved medians:

(a) a supernet training step (forward, backward, SGD) with a sampled path, over the same child's
    standalone step (``space.freeze`` of that path); goal <= 1.05;
(d) a policy's sample + update as a share of one supernet step; goal < 1 % for EDNAS, < 5 % for the
    LSTM policies. Timed as the search spends it: in the policy pass, the search's ``samples_per_update``
    (the same for every policy; each null twin of the search costs as much again) architectures
    drawn together and one update from them (per sample); in the training pass, one architecture per
    step, drawn for the whole pass at once (per step, here 16 steps).

    python benchmarks/supernet_overhead.py                       # DARTS search network, 16 ch, 8 cells
    python benchmarks/supernet_overhead.py --space ednas-cell --batch 64
    python benchmarks/supernet_overhead.py --device cuda --out /tmp/overhead_cuda.json   # a GPU's figures
"""
from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")


def timed(fn, repeats, sync=lambda: None):
    """Seconds per call of ``fn``; ``sync`` waits for the device's queued work (CUDA runs asynchronously)."""
    out = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - start)
    return out


def device_name(device: str) -> str:
    return torch.cuda.get_device_name(device) if torch.device(device).type == "cuda" else device


def main(argv=None) -> int:
    from publish import measured, network_parser, publish

    parser = network_parser(__doc__.split("\n\n")[0], "supernet_overhead")
    parser.add_argument("--space", default="darts")
    parser.add_argument("--device", help="torch device of the networks (default: CUDA when torch sees one, else the "
                        "CPU); the policies stay on the CPU")
    args = parser.parse_args(argv)
    from strategies.search_cli import usable_device

    try:
        args.device = usable_device(args.device)
    except ValueError as exc:
        parser.error(str(exc))

    from nni_spaces import make_space
    from strategies import make_policy
    from strategies.supernet import Supernet, child_with_shared_weights

    torch.manual_seed(0)
    space = make_space(args.space, width=args.width, num_cells=args.cells)
    device = torch.device(args.device)
    supernet = Supernet(space).to(device)
    arch = space.sample(0)
    child = child_with_shared_weights(supernet, space, arch)
    x, y = torch.randn(args.batch, 3, 32, 32).to(device), torch.randint(0, 10, (args.batch,)).to(device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    opt_s = torch.optim.SGD(supernet.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    opt_c = torch.optim.SGD(child.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step(model, optimizer, use=None):
        def run():
            if use is not None:
                supernet.use(use)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return run

    supernet.train(), child.train()
    for _ in range(2):
        step(supernet, opt_s, arch)(), step(child, opt_c)()
    s_times, c_times = [], []
    for _ in range(args.repeats):
        s_times += timed(step(supernet, opt_s, arch), 1, sync)
        c_times += timed(step(child, opt_c), 1, sync)
    supernet_s, child_s = statistics.median(s_times), statistics.median(c_times)

    policies = {}
    from strategies.search import SAMPLES_PER_UPDATE

    for name in ("ednas", "lstm", "enas"):
        policy = make_policy(name, space, seed=0)
        n = SAMPLES_PER_UPDATE  # the search's budget, the same for every policy

        def policy_round():
            policy.update(policy.sample_batch(n), [0.5] * n)
        policy_round()
        per_sample = statistics.median(timed(policy_round, args.repeats)) / n
        per_draw = statistics.median(timed(lambda: policy.sample_batch(16), args.repeats)) / 16
        policies[name] = {"samples_per_update": n, "per_sample_s": per_sample, "share_of_step": per_sample / supernet_s,
                          "training_draw_s": per_draw, "training_draw_share": per_draw / supernet_s}

    header = measured("supernet_overhead.py", argv, f"{args.space} {args.width} channels, {args.cells} cells on "
                      f"{device_name(args.device)}, CIFAR-sized batch of {args.batch}, medians of {args.repeats}")
    lines = [f"(a) supernet step {supernet_s:.4f} s, standalone child step {child_s:.4f} s: "
             f"ratio {supernet_s / child_s:.3f} (goal <= 1.05)", "",
             "| policy | samples per update | policy pass: sample + update per sample (s) | share of a supernet step "
             "| training pass: draw per step (s) | share |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {k} | {v['samples_per_update']} | {v['per_sample_s']:.5f} | {100 * v['share_of_step']:.2f} % "
              f"| {v['training_draw_s']:.5f} | {100 * v['training_draw_share']:.2f} % |" for k, v in policies.items()]
    publish(args.out, header, lines, {"supernet_step_s": supernet_s, "child_step_s": child_s,
                                      "ratio": supernet_s / child_s, "policies": policies})
    return 0


if __name__ == "__main__":
    sys.exit(main())
