"""The final report of an MLP NAS run: NAS against scikit-learn on the same test split.

The pick does not trust one validation split (``mlp_nas.selection``): the top-k architectures by
validation accuracy are re-scored by k-fold cross-validation on train+validation, the best mean is
retrained on train+validation for its folds' median best epoch and scored once on the test split;
the top-k ensemble is its own row. scikit-learn's default MLPClassifier and the TPE-tuned one are
fit on train+validation and scored on the same test split. Writes ``report.md``, ``report.csv``,
``report.json`` and two PNG plots.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from nas_data.files import atomic_write
from nas_data.tabular import DatasetSpec, load_split, read_split
from nni_plumbing.experiments import final_results, trial_span_s

from .halving import best_evidence
from .space import describe
from .tuner import HISTORY_FILE

COLUMNS = ["method", "val_acc", "test_acc", "trials", "search_s", "details"]
TOP_K, FOLDS = 3, 3  # small, so that `make run` stays within its time budget


def load_history(exp_dir: str | os.PathLike) -> dict:
    path = Path(exp_dir) / "checkpoint" / HISTORY_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {Path(exp_dir).name} an MLP NAS experiment id?")
    with path.open() as f:
        return json.load(f)


def split_of(history: dict):
    config = history["config"]
    if os.path.exists(history["split"]):
        return read_split(history["split"])
    return load_split(DatasetSpec.parse(config["dataset"], config["label"], config["drop"]), config["seed"])


def training_settings(config: dict) -> dict:
    """The search's training settings, so the re-scoring and the retrain train like the trials did."""
    keys = ("max_epochs", "patience", "batch_size", "learning_rate", "l2", "lr_schedule")
    return {k: config[k] for k in keys if k in config} | {"threads": config.get("trial_threads", 1)}


def select_pick(records: list[dict], config: dict, split, top_k: int = TOP_K, folds: int = FOLDS):
    """Re-score the top ``top_k`` records by ``folds``-fold CV on train+validation and retrain the pick
    (``mlp_nas.selection``); the test split is not handed over."""
    os.environ.setdefault("KERAS_BACKEND", config.get("keras_backend", "torch"))
    from .selection import KerasFitter, search_candidates, select_from_split

    return select_from_split(search_candidates(records), split, KerasFitter(split.n_classes, training_settings(config)),
                             k=top_k, folds=folds, seed=config["seed"])


def trial_timing(records: list[dict]) -> dict:
    """Mean start-up and training seconds per trial, and start-up's share of the trial's wall time."""
    timed = [r for r in records if r.get("startup_s") is not None and r.get("wall_s")]
    if not timed:
        return {}
    startup = float(np.mean([r["startup_s"] for r in timed]))
    train = float(np.mean([r["train_s"] for r in timed]))
    wall = float(np.mean([r["wall_s"] for r in timed]))
    return {"trials": len(timed), "startup_s": startup, "train_s": train, "wall_s": wall, "startup_share": startup / wall}


def build_report(nas_dir: str | os.PathLike, tpe_dir: str | os.PathLike | None = None, top_k: int = TOP_K,
                 folds: int = FOLDS) -> dict:
    """Compute every row of the comparison table (this retrains and fits; it takes a little while)."""
    from .sklearn_mlp import fit_score

    history = load_history(nas_dir)
    config, split = history["config"], split_of(history)
    x_fit, y_fit = split.train_val()
    samples = history["samples"]
    nas = [r for r in samples if r["method"] != "sklearn_default" and r["status"] == "done"]
    if not nas:
        raise RuntimeError(f"experiment {Path(nas_dir).name} has no successful architecture trial yet")
    sel = select_pick(nas, config, split, top_k, folds)
    best, search_s = sel.pick, trial_span_s(nas_dir)
    cv = ", ".join(f"{c['cv_mean']:.4f}" for c in sel.rescored)
    rows = [{"method": f"MLP NAS ({config['sampler']})", "val_acc": best["val_acc"],
             "test_acc": sel.test_accuracy(split.x_test, split.y_test), "trials": len(nas), "search_s": search_s,
             "details": f"{describe(best['arch'])} (CV {best['cv_mean']:.4f} over {folds} folds, retrained "
                        f"{best['retrain_epochs']} epochs; top-{len(sel.rescored)} CV: {cv})"}]
    if sel.ensemble:
        rows.append({"method": f"MLP NAS ({config['sampler']}) top-{len(sel.ensemble)} ensemble", "val_acc": None,
                     "test_acc": sel.ensemble_accuracy(split.x_test, split.y_test), "trials": len(nas),
                     "search_s": search_s, "details": "mean class probabilities of the re-scored top-k"})
    default = next((r for r in samples if r["method"] == "sklearn_default" and r["status"] == "done"), None)
    rows.append({"method": "sklearn MLPClassifier (defaults)", "val_acc": default and default["accuracy"],
                 "test_acc": fit_score(None, x_fit, y_fit, split.x_test, split.y_test, config["seed"]),
                 "trials": 1, "search_s": None, "details": "hidden_layer_sizes=(100,), relu, adam"})
    tpe_results = []
    if tpe_dir is not None:
        tpe_results = [r for r in final_results(tpe_dir) if isinstance(r.get("default"), (int, float))]
        if tpe_results:
            tpe_best = max(tpe_results, key=lambda r: r["default"])
            params = tpe_best["hyperparameters"]
            rows.append({"method": "sklearn MLPClassifier + NNI TPE", "val_acc": tpe_best["default"],
                         "test_acc": fit_score(params, x_fit, y_fit, split.x_test, split.y_test, config["seed"]),
                         "trials": len(tpe_results), "search_s": trial_span_s(tpe_dir),
                         "details": ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                              for k, v in sorted(params.items()))})
    return {"experiment": Path(nas_dir).name, "tpe_experiment": tpe_dir and Path(tpe_dir).name,
            "dataset": config["dataset"], "seed": config["seed"], "rows": rows,
            "rescored": [{k: c[k] for k in ("sample_id", "val_acc", "cv_mean", "cv_std", "cv_best_epochs",
                                            "retrain_epochs", "arch")} for c in sel.rescored],
            "top": [{"sample_id": r["sample_id"], "epoch": r["epoch"], "val_acc": r["accuracy"],
                     "arch": r["trained_arch"], "max_epochs": r.get("max_epochs")} for r in best_evidence(nas)[:5]],
            "epochs": history["epochs"], "mixups": history["mixups"],
            "timing": {"nas": trial_timing(nas), "tpe": trial_timing(tpe_results)},
            "accuracy_by_epoch": _by_epoch(nas)}


def _by_epoch(records: list[dict]) -> dict:
    out: dict[int, list[float]] = {}
    for r in records:
        if r.get("rung", 0) == 0:  # with successive halving, the first rung: every candidate at the same budget
            out.setdefault(r["epoch"], []).append(r["accuracy"])
    return {str(k): v for k, v in sorted(out.items())}


def _fmt(value, column: str = "") -> str:
    if value is None:
        return "-"
    if column == "search_s":
        return f"{value:.0f}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown(report: dict) -> str:
    lines = [f"# MLP NAS on {report['dataset']} (seed {report['seed']}, experiment {report['experiment']})", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(row[c], c) for c in COLUMNS) + " |" for row in report["rows"]]
    lines += ["", "Top architectures by validation accuracy:", ""]
    lines += [f"{i + 1}. {t['val_acc']:.4f}  {json.dumps(t['arch'])}" for i, t in enumerate(report["top"])]
    timing = report["timing"]["nas"]
    if timing:
        lines += ["", f"NAS trials: start-up {timing['startup_s']:.2f} s, training {timing['train_s']:.2f} s "
                      f"on average; start-up is {100 * timing['startup_share']:.0f} % of a trial's wall time."]
    if report["mixups"]:
        lines += [f"NNI handed {report['mixups']} trial(s) another trial's parameters (NNI's concurrency mix-up); "
                  "results were recorded under what each trial really trained."]
    lines += ["", f"Reopen the web UI of this search: `python -m mlp_nas view {report['experiment']}`."]
    return "\n".join(lines) + "\n"


def terminal_table(report: dict) -> str:
    widths = {c: max(len(c), *(len(_fmt(r[c], c)) for r in report["rows"])) for c in COLUMNS[:-1]}
    head = "  ".join(c.ljust(widths[c]) for c in COLUMNS[:-1])
    body = ["  ".join(_fmt(r[c], c).ljust(widths[c]) for c in COLUMNS[:-1]) for r in report["rows"]]
    return "\n".join([head, "-" * len(head), *body])


def write_report(report: dict, out_dir: str | os.PathLike) -> list[Path]:
    """Write Markdown, CSV, JSON and the two plots, each file atomically; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(report["rows"])
    files = {"report.md": markdown(report), "report.csv": buf.getvalue(),
             "report.json": json.dumps(report, indent=1, default=float)}
    for name, text in files.items():
        atomic_write(out / name, lambda f, text=text: f.write(text))

    epochs = [e for e in report["epochs"] if e.get("mean_reward") is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([e["epoch"] for e in epochs], [e["mean_reward"] for e in epochs], "o-", label="mean reward")
    ax.plot([e["epoch"] for e in epochs], [e["max_reward"] for e in epochs], "s--", label="best reward")
    ax.set(xlabel="controller epoch", ylabel="validation accuracy", title="Reward per controller epoch")
    ax.legend()
    _save_png(fig, out / "reward_per_epoch.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = report["accuracy_by_epoch"]
    ax.boxplot(list(groups.values()), tick_labels=list(groups.keys()))
    ax.set(xlabel="controller epoch", ylabel="validation accuracy", title="Accuracy of the sampled architectures")
    _save_png(fig, out / "accuracy_per_epoch.png")
    plt.close("all")
    return [out / n for n in (*files, "reward_per_epoch.png", "accuracy_per_epoch.png")]


def _save_png(fig, path: Path) -> None:
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110), binary=True)
