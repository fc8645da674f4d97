"""Per-epoch drift of searches, in the manner of EDNAS Fig. 4/5: from each search's ``result.json``, the
policy's mean KL divergence from uniform per epoch beside its shuffled-reward twins' (left), and the op
probability mass on convolutions against the uniform share (right). Prints a table of the final values.

    python benchmarks/drift_plot.py OUT.png RESULT_DIR [RESULT_DIR ...]
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas_data.files import atomic_write  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("png")
    parser.add_argument("results", nargs="+", help="folders holding result.json")
    args = parser.parse_args(argv)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    runs = []
    for folder in args.results:
        path = Path(folder) / "result.json"
        if not path.exists():
            print(f"error: {path} is missing (a search writes it when it ends)", file=sys.stderr)
            return 2
        runs.append((Path(folder).name, json.loads(path.read_text())))
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    kl_ax, conv_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    print("| run | shuffled | epochs | final mean KL | twins' final KL | ratio | conv share (uniform) | "
          "selection score | held-out score | verdict |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i, (name, r) in enumerate(runs):
        epochs = [e["epoch"] for e in r["epochs"]]
        kl = [e["drift"]["mean_kl"] for e in r["epochs"]]
        null = [statistics.mean(e["null_mean_kl"]) if e["null_mean_kl"] else float("nan") for e in r["epochs"]]
        conv = [e["drift"]["conv_share"] for e in r["epochs"]]
        style = "--" if r.get("shuffle_rewards") else "-"
        kl_ax.plot(epochs, kl, style, color=f"C{i}", marker="o", ms=3, label=f"{name} ({r['policy']})")
        kl_ax.plot(epochs, null, ":", color=f"C{i}", alpha=0.6, label=f"{name}: shuffled-reward twins")
        conv_ax.plot(epochs, conv, style, color=f"C{i}", marker="o", ms=3, label=name)
        uniform = r["epochs"][0]["drift"]["conv_share_uniform"]
        ratio = kl[-1] / null[-1] if null[-1] else float("inf")
        print(f"| {name} | {r.get('shuffle_rewards', False)} | {len(epochs)} | {kl[-1]:.3g} | {null[-1]:.3g} | "
              f"{ratio:.2f} | {conv[-1]:.4f} ({uniform:.4f}) | {r['score']:.4f} | "
              f"{r.get('holdout_score', float('nan')):.4f} | {r['verdict']['text']} |")
    if runs:
        conv_ax.axhline(runs[0][1]["epochs"][0]["drift"]["conv_share_uniform"], color="grey", lw=1, label="uniform")
    kl_ax.set_yscale("log")
    kl_ax.set_xlabel("epoch")
    kl_ax.set_ylabel("mean KL(policy || uniform) per decision")
    kl_ax.legend(fontsize=6)
    conv_ax.set_xlabel("epoch")
    conv_ax.set_ylabel("op probability on convolutions (mean over edges)")
    conv_ax.legend(fontsize=6)
    fig.suptitle("policy drift per epoch (solid: real rewards; dotted: shuffled-reward twins)", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write(Path(args.png), lambda f: f.write(buffer.getvalue()), binary=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
