"""Benchmark: forward + backward time per batch of our frozen DARTS and ENAS-micro models against NNI
hub's (``nni.nas.hub.pytorch.DARTS`` / ``ENAS``) for the same genotype, the same batch, in one run.

Both models get identical parameter counts (checked); timings alternate ours / hub's for ``--repeats``
rounds after warm-up and report medians and the ratio ours / hub (goal <= 1.0).

    python benchmarks/spaces_vs_hub.py                      # CIFAR-sized, batch 32, 16 channels, 8 cells
    python benchmarks/spaces_vs_hub.py --width 36 --cells 20 --batch 16
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


def hub_arch(genotype: dict) -> dict:
    """Our DARTS-form genotype as NNI hub's sample (``cell/op_n_k``, ``cell/input_n_k`` per slot k)."""
    arch = {}
    for cell in ("normal", "reduce"):
        for index, (op, source) in enumerate(genotype[cell]):
            node, slot = 2 + index // 2, index % 2
            arch[f"{cell}/op_{node}_{slot}"], arch[f"{cell}/input_{node}_{slot}"] = op, [source]
    return arch


def step_time(model, x, y) -> float:
    start = time.perf_counter()
    out = model(x)
    torch.nn.functional.cross_entropy(out, y).backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def compare(name: str, ours, hub, x, y, repeats: int) -> dict:
    n_ours, n_hub = (sum(p.numel() for p in m.parameters()) for m in (ours, hub))
    if n_ours != n_hub:
        raise SystemExit(f"{name}: parameter counts differ (ours {n_ours}, hub {n_hub}): not the same model")
    for model in (ours, hub):
        model.train()
        for _ in range(2):
            step_time(model, x, y)
    times = {"ours": [], "hub": []}
    for _ in range(repeats):
        times["ours"].append(step_time(ours, x, y))
        times["hub"].append(step_time(hub, x, y))
    ours_s, hub_s = statistics.median(times["ours"]), statistics.median(times["hub"])
    return {"model": name, "parameters": n_ours, "ours_s": ours_s, "hub_s": hub_s, "ratio": ours_s / hub_s}


def main(argv=None) -> int:
    from publish import measured, network_parser, publish

    parser = network_parser(__doc__.split("\n\n")[0], "spaces_vs_hub")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random ENAS-micro genotype")
    args = parser.parse_args(argv)

    from nni.nas.hub.pytorch import DARTS as HubDarts
    from nni.nas.hub.pytorch import ENAS as HubEnas

    from nni_spaces import DARTS_V2, DartsSpace, EnasMicroSpace

    torch.manual_seed(args.seed)
    x, y = torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))
    darts = DartsSpace(width=args.width, num_cells=args.cells)
    micro = EnasMicroSpace(width=args.width, num_cells=args.cells)
    micro_genotype = micro.genotype(micro.sample(args.seed))
    rows = [
        compare("DARTS-V2", darts.freeze(darts.from_genotype(DARTS_V2)),
                HubDarts(width=args.width, num_cells=args.cells, dataset="cifar").freeze(hub_arch(DARTS_V2)),
                x, y, args.repeats),
        compare(f"ENAS micro (seed {args.seed})", micro.freeze(micro.from_genotype(micro_genotype)),
                HubEnas(width=args.width, num_cells=args.cells, dataset="cifar").freeze(hub_arch(micro_genotype)),
                x, y, args.repeats),
    ]
    header = measured("spaces_vs_hub.py", argv, f"torch {torch.__version__}, CIFAR-sized batch of {args.batch}, "
                      f"{args.width} channels, {args.cells} cells, median of {args.repeats} alternating steps")
    lines = ["| model | parameters | ours (s) | NNI hub (s) | ratio ours / hub |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['parameters']:,} | {r['ours_s']:.4f} | {r['hub_s']:.4f} | {r['ratio']:.3f} |"
              for r in rows]
    publish(args.out, header, lines, {"rows": rows, "genotype_enas_micro": micro_genotype})
    return 0


if __name__ == "__main__":
    sys.exit(main())
