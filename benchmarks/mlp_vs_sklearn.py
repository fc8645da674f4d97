"""Benchmark: MLP NAS (controller), uniform-random MLP search, sklearn default and sklearn+TPE.

For every dataset and seed it runs three real NNI experiments at the same trial budget (the NAS
run also holds the sklearn-default trial) and scores each method's pick once on the test split
(see mlp_nas/report.py). Each finished (dataset, seed) is appended to ``runs.jsonl`` in the output
folder, so an interrupted benchmark picks up where it stopped; ``summary.md`` / ``summary.csv``
hold mean ± std over seeds, search wall time and the trials' start-up / training split.

    python benchmarks/mlp_vs_sklearn.py                       # all six datasets, seeds 0 1 2
    python benchmarks/mlp_vs_sklearn.py --datasets iris --seeds 0 --controller-epochs 2
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WINE_QUALITY = str((ROOT.parent / "shared" / "data" / "wine_quality_white.csv").resolve())
DATASETS = {
    "digits": {"dataset": "digits"}, "wine": {"dataset": "wine"}, "breast_cancer": {"dataset": "breast_cancer"},
    "iris": {"dataset": "iris"}, "mnist1d": {"dataset": "mnist1d"},
    "wine_quality": {"dataset": WINE_QUALITY, "label": "quality_label", "drop": ["", "quality"]},
}
METHODS = ["MLP NAS (controller)", "MLP NAS (random)", "sklearn MLPClassifier (defaults)",
           "sklearn MLPClassifier + NNI TPE"]


def run_one(name: str, seed: int, args) -> dict:
    from mlp_nas.launch import build_configs, run_search
    from mlp_nas.report import build_report

    budget = {"controller_epochs": args.controller_epochs, "archs_per_epoch": args.archs_per_epoch, "seed": seed}
    nas, tpe = build_configs(ROOT / "nni_config.yml", ROOT / "configs" / "sklearn_tpe.yml", **DATASETS[name], **budget)
    nas_dir, tpe_dir = run_search(nas, tpe, args.port)
    random_nas, _ = build_configs(ROOT / "nni_config.yml", None, sampler="random", sklearn_baseline=False,
                                  **DATASETS[name], **budget)
    random_dir, _ = run_search(random_nas, None, args.port)
    report = build_report(nas_dir, tpe_dir)
    random_report = build_report(random_dir)
    rows = report["rows"] + random_report["rows"][:1]
    return {"dataset": name, "seed": seed, "rows": rows,
            "timing": {"nas": report["timing"]["nas"], "random": random_report["timing"]["nas"],
                       "tpe": report["timing"]["tpe"]},
            "experiments": [nas_dir.name, random_dir.name, tpe_dir.name]}


def summarise(runs: list[dict], args) -> tuple[str, str]:
    table, lines = [], []
    for name in DATASETS:
        mine = [r for r in runs if r["dataset"] == name]
        if not mine:
            continue
        for method in METHODS:
            rows = [row for r in mine for row in r["rows"] if row["method"] == method]
            test = [row["test_acc"] for row in rows]
            wall = [row["search_s"] for row in rows if row["search_s"] is not None]
            table.append({"dataset": name, "method": method, "seeds": len(test),
                          "test_acc_mean": float(np.mean(test)), "test_acc_std": float(np.std(test)),
                          "search_s_mean": float(np.mean(wall)) if wall else None})
    timing = {}
    for kind in ("nas", "random", "tpe"):
        parts = [r["timing"][kind] for r in runs if r["timing"].get(kind)]
        if parts:
            timing[kind] = {k: float(np.mean([p[k] for p in parts])) for k in ("startup_s", "train_s", "startup_share")}
    lines += [f"Measured {date.today()} on {platform.machine()} ({args.cores} cores), budget "
              f"{args.controller_epochs} x {args.archs_per_epoch} architectures per search, concurrency 2; "
              f"command: python benchmarks/mlp_vs_sklearn.py {' '.join(sys.argv[1:])}", "",
              "| dataset | method | test accuracy (mean ± std) | seeds | search wall time (s) |", "|---|---|---|---|---|"]
    for row in table:
        wall = "-" if row["search_s_mean"] is None else f"{row['search_s_mean']:.0f}"
        lines.append(f"| {row['dataset']} | {row['method']} | {row['test_acc_mean']:.4f} ± {row['test_acc_std']:.4f} "
                     f"| {row['seeds']} | {wall} |")
    lines += ["", "| trials of | start-up (s) | training (s) | start-up share of wall time |", "|---|---|---|---|"]
    for kind, t in timing.items():
        lines.append(f"| {kind} | {t['startup_s']:.2f} | {t['train_s']:.2f} | {100 * t['startup_share']:.0f} % |")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(table[0]))
    writer.writeheader()
    writer.writerows(table)
    return "\n".join(lines) + "\n", buf.getvalue()


def main(argv=None) -> int:
    import os

    from nas_data.files import atomic_write

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--controller-epochs", type=int, default=5)
    parser.add_argument("--archs-per-epoch", type=int, default=6)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mlp_vs_sklearn"))
    args = parser.parse_args(argv)
    args.cores = os.cpu_count()
    if "wine_quality" in args.datasets and not os.path.exists(WINE_QUALITY):
        parser.error(f"wine_quality needs {WINE_QUALITY} (the shared/ folder beside this checkout); "
                     "leave it out with --datasets")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    budget = [args.controller_epochs, args.archs_per_epoch]
    runs = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    for name in args.datasets:
        for seed in args.seeds:
            done = [r for r in runs if r["dataset"] == name and r["seed"] == seed]
            if done and done[0].get("budget") != budget:
                parser.error(f"{log} already holds {name} seed {seed} at budget {done[0].get('budget')}, "
                             f"not {budget}: pass that budget or another --out folder")
            if done:
                continue
            started = time.time()
            run = run_one(name, seed, args)
            run["wall_s"], run["budget"] = time.time() - started, budget
            runs.append(run)
            with log.open("a") as f:  # one whole line per finished run
                f.write(json.dumps(run, default=float) + "\n")
            print(f"== {name} seed {seed} done in {run['wall_s']:.0f} s", flush=True)
    md, table = summarise([r for r in runs if r["dataset"] in args.datasets and r["seed"] in args.seeds], args)
    atomic_write(out / "summary.md", lambda f: f.write(md))
    atomic_write(out / "summary.csv", lambda f: f.write(table))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
