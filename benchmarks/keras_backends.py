"""Time one MLP candidate's training (``mlp_nas.training.train_candidate``, as the benchmark and the trials run it)
on Keras's torch and TensorFlow backends: seconds per epoch, each backend in a fresh process, one thread.

    python benchmarks/keras_backends.py --datasets mnist1d wine_quality digits
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHS = {"64-64 relu": {"layers": [[64, "relu"], [64, "relu"]]},
         "128 tanh > dropout > 64 relu > 32 sigmoid": {"layers": [[128, "tanh"], "dropout", [64, "relu"], [32, "sigmoid"]]}}


def _one(backend: str, dataset: str, seed: int) -> list[dict]:
    """In this process (KERAS_BACKEND already set): train every arch once on split ``seed`` of ``dataset``."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from mlp_vs_sklearn import spec_of

    from mlp_nas.training import train_candidate
    from nas_data.tabular import load_split

    split = load_split(spec_of(dataset), seed)
    rows = []
    for name, arch in ARCHS.items():
        started = time.time()
        _, info = train_candidate(arch, split.x_train, split.y_train, split.x_val, split.y_val, split.n_classes,
                                  {"threads": 1}, seed=1)
        seconds = time.time() - started
        rows.append({"backend": backend, "dataset": dataset, "arch": name, "s": round(seconds, 2),
                     "epochs": info["epochs_trained"], "s_per_epoch": round(seconds / info["epochs_trained"], 4),
                     "val_acc": round(info["val_acc"], 4)})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="*", default=["mnist1d", "wine_quality", "digits"])
    parser.add_argument("--seed", type=int, default=0, help="the data split")
    parser.add_argument("--one", nargs=2, metavar=("BACKEND", "DATASET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_one(*args.one, args.seed)))
        return 0
    rows = []
    for dataset in args.datasets:
        for backend in ("torch", "tensorflow"):
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}
            out = subprocess.run([sys.executable, __file__, "--one", backend, dataset, "--seed", str(args.seed)],
                                 env=env, capture_output=True, text=True, check=True)
            rows += json.loads(out.stdout.strip().splitlines()[-1])
    print("| data set | architecture | torch s/epoch | TensorFlow s/epoch | ratio |")
    print("|---|---|---|---|---|")
    for dataset in args.datasets:
        for name in ARCHS:
            t, f = (next(r for r in rows if (r["dataset"], r["arch"], r["backend"]) == (dataset, name, b))
                    for b in ("torch", "tensorflow"))
            print(f"| {dataset} | {name} | {t['s_per_epoch']:.3f} | {f['s_per_epoch']:.3f} | "
                  f"{t['s_per_epoch'] / f['s_per_epoch']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
