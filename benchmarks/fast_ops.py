"""Benchmark: ``nni_spaces/fast_ops.py`` against PyTorch's own ops, in one run, interleaved.

Per operation (forward + backward at the DARTS search network's shapes) and for whole training steps:
a DARTS supernet step with a sampled path (16 channels, 8 cells, CIFAR-sized batch of 32, as
``supernet_overhead.py``) and the frozen child's step. Each measurement alternates ``fast_ops.ENABLED``
on and off and reports medians, so the machine's drift hits both sides alike.

    python benchmarks/fast_ops.py
"""
from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")


def interleaved(fn, repeats: int) -> dict:
    """Median seconds of ``fn()`` with the fast ops on and off, alternating."""
    from nni_spaces import fast_ops

    times = {True: [], False: []}
    for flag in (True, False):  # warm up both
        fast_ops.ENABLED = flag
        fn()
    for i in range(2 * repeats):
        fast_ops.ENABLED = flag = i % 2 == 0
        start = time.perf_counter()
        fn()
        times[flag].append(time.perf_counter() - start)
    fast_ops.ENABLED = True
    return {"fast_s": statistics.median(times[True]), "pytorch_s": statistics.median(times[False])}


def op_rows(batch: int, repeats: int) -> list[dict]:
    from nni_spaces.fast_ops import AvgPool3x3, MaxPool3x3, depthwise_conv2d

    rows = []
    for channels, size in ((16, 32), (32, 16)):
        x = torch.randn(batch, channels, size, size, requires_grad=True)
        for name, kernel, dilation in (("depthwise 5x5", 5, 1), ("depthwise 3x3 dilation 2", 3, 2),
                                       ("depthwise 5x5 dilation 2", 5, 2)):
            weight = torch.randn(channels, 1, kernel, kernel, requires_grad=True)
            padding = dilation * (kernel - 1) // 2
            rows.append({"op": name, "shape": list(x.shape), **interleaved(
                lambda: depthwise_conv2d(x, weight, 1, padding, dilation).sum().backward(), repeats)})
        for name, module in (("max pool 3x3", MaxPool3x3(1)), ("avg pool 3x3", AvgPool3x3(1))):
            rows.append({"op": name, "shape": list(x.shape), **interleaved(lambda: module(x).sum().backward(), repeats)})
    return rows


def step_rows(width: int, cells: int, batch: int, repeats: int) -> list[dict]:
    from nni_spaces import make_space
    from strategies.supernet import Supernet, child_with_shared_weights

    torch.manual_seed(0)
    space = make_space("darts", width=width, num_cells=cells)
    supernet = Supernet(space)
    arch = space.sample(0)
    child = child_with_shared_weights(supernet, space, arch)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    rows = []
    for name, model in (("supernet step, sampled path", supernet), ("frozen child step", child)):
        weights = list(model.parameters())
        optimizer = torch.optim.SGD(weights, lr=0.01, momentum=0.9, nesterov=True)

        def step():
            if model is supernet:
                supernet.use(arch)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        rows.append({"op": name, "shape": [batch, 3, 32, 32], **interleaved(step, repeats)})
    return rows


def main(argv=None) -> int:
    from publish import measured, network_parser, publish

    parser = network_parser(__doc__.split("\n\n")[0], "fast_ops")
    args = parser.parse_args(argv)


    rows = op_rows(args.batch, 3 * args.repeats) + step_rows(args.width, args.cells, args.batch, args.repeats)
    for row in rows:
        row["speedup"] = row["pytorch_s"] / row["fast_s"]
    header = measured("fast_ops.py", argv, f"forward + backward, batch {args.batch}; steps: DARTS {args.width} "
                      f"channels, {args.cells} cells, SGD; medians of {args.repeats} (ops: {3 * args.repeats}), "
                      "fast and PyTorch alternating")
    lines = ["| operation | input | PyTorch (ms) | fast_ops (ms) | speed-up |", "|---|---|---|---|---|"]
    lines += [f"| {r['op']} | {'x'.join(map(str, r['shape']))} | {1000 * r['pytorch_s']:.2f} | "
              f"{1000 * r['fast_s']:.2f} | {r['speedup']:.2f} |" for r in rows]
    publish(args.out, header, lines, {"rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
