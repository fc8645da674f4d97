"""Benchmark: the same MLP NAS search run as
``python -m mlp_nas run --no-tpe`` and as ``MLPNASClassifier(...).fit(X, y)``, each in its own process,
alternated ``--repeats`` times; ratio of the median wall times.

Both search digits with the same seed, sampler, budget and concurrency. The estimator writes X, y as a CSV
that the tuner splits exactly as it splits the named data set (same stratified split for the same seed), so
both train the same architectures. Wall time covers the whole call: NNI start, the search, and then the
command's report (a retrain and scikit-learn fits) or the estimator's refit on all of X.

    python benchmarks/estimator_overhead.py                                  # 2 x 4 architectures, 2 repeats
    python benchmarks/estimator_overhead.py --controller-epochs 8 --archs-per-epoch 8 --repeats 1
"""
from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

ESTIMATOR = """
import sys
from sklearn.datasets import load_digits
from mlp_nas import MLPNASClassifier
epochs, per_epoch, seed, concurrency, port, workdir = sys.argv[1:7]
x, y = load_digits(return_X_y=True)
MLPNASClassifier(max_trials=int(epochs) * int(per_epoch), archs_per_epoch=int(per_epoch), concurrency=int(concurrency),
                 random_state=int(seed), port=int(port), working_dir=workdir).fit(x, y)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd: list[str], log: Path) -> float:
    start = time.perf_counter()
    with log.open("w") as out:
        subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def main(argv=None) -> int:
    from publish import RESULTS, measured, publish

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--controller-epochs", type=int, default=2)
    parser.add_argument("--archs-per-epoch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "estimator_overhead.json"))
    args = parser.parse_args(argv)

    budget = [str(args.controller_epochs), str(args.archs_per_epoch)]
    times: dict[str, list[float]] = {"command": [], "estimator": []}
    with tempfile.TemporaryDirectory(prefix="estimator_overhead_") as tmp:
        for i in range(args.repeats):
            command = [sys.executable, "-m", "mlp_nas", "run", "--no-tpe", "--dataset", "digits", "--seed", str(args.seed),
                       "--controller-epochs", budget[0], "--archs-per-epoch", budget[1],
                       "--concurrency", str(args.concurrency), "--port", str(free_port()), "--out", f"{tmp}/report"]
            times["command"].append(timed(command, Path(tmp) / f"command{i}.log"))
            estimator = [sys.executable, "-c", ESTIMATOR, *budget, str(args.seed), str(args.concurrency), str(free_port()),
                         f"{tmp}/nni"]
            times["estimator"].append(timed(estimator, Path(tmp) / f"estimator{i}.log"))
            print(f"repeat {i}: command {times['command'][-1]:.1f} s, estimator {times['estimator'][-1]:.1f} s", flush=True)
    command_s, estimator_s = statistics.median(times["command"]), statistics.median(times["estimator"])
    ratio = estimator_s / command_s
    header = measured("estimator_overhead.py", argv,
                      f"digits, {args.controller_epochs} x {args.archs_per_epoch} architectures, "
                      f"concurrency {args.concurrency}, {args.repeats} repeat(s)")
    lines = [f"python -m mlp_nas run --no-tpe: {command_s:.1f} s (median)",
             f"MLPNASClassifier.fit:             {estimator_s:.1f} s (median)",
             f"estimator / command: {ratio:.3f} (goal <= 1.10)"]
    publish(args.out, header, lines, {"times_s": times, "command_s": command_s, "estimator_s": estimator_s,
                                      "ratio": ratio})
    return 0


if __name__ == "__main__":
    sys.exit(main())
