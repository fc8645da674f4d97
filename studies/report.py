"""Tables and plots of a finished study experiment (``studies/tuner.py``), as Markdown, CSV and PNG.

    python -m studies.report EXPERIMENT_ID [--workdir ~/nni-experiments] [--out results/study-ID]

Results are read from NNI's database and matched by the job number and architecture each trial reports
(never by NNI's parameter bookkeeping, docs/design.md). Accuracies are test accuracies after retraining.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from nas_data.files import atomic_write
from nni_plumbing.experiments import final_results

from .tuner import STATE_FILE


def load_study(exp_dir: str | os.PathLike) -> tuple[str, list[dict], list[dict]]:
    """The study's name, its jobs (from the tuner's state) and the results the trials reported."""
    path = Path(exp_dir) / "checkpoint" / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: is {Path(exp_dir).name} a study experiment?")
    state = json.loads(path.read_text())
    results = [r for r in final_results(exp_dir) if isinstance(r.get("job"), int)]
    return state["study"], state["jobs"], results


def _mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return "n/a"
    return f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"


def _retrained(results: list[dict], source: str) -> list[dict]:
    return sorted((r for r in results if r.get("kind") == "retrain" and r.get("tag", {}).get("source") == source),
                  key=lambda r: r["job"])


def learning_progress(results: list[dict]) -> dict:
    """Singh et al. (2019), Table 1: first-epoch vs final architecture per (policy, seed), paired t-test per policy."""
    initial = {(r["tag"]["policy"], r["tag"]["search_seed"]): r for r in _retrained(results, "initial")}
    final = {(r["tag"]["policy"], r["tag"]["search_seed"]): r for r in _retrained(results, "final")}
    rows = [{"policy": p, "seed": s, "initial_test_acc": initial[p, s]["test_acc"],
             "final_test_acc": final[p, s]["test_acc"], "change": final[p, s]["test_acc"] - initial[p, s]["test_acc"]}
            for p, s in sorted(set(initial) & set(final))]
    lines = ["| policy | seeds | initial (test acc) | final (test acc) | mean change | paired t-test p |",
             "|---|---|---|---|---|---|"]
    summary = {}
    for policy in sorted({r["policy"] for r in rows}):
        mine = [r for r in rows if r["policy"] == policy]
        a, b = [r["initial_test_acc"] for r in mine], [r["final_test_acc"] for r in mine]
        diff = np.subtract(b, a)
        p = float(stats.ttest_rel(b, a).pvalue) if len(mine) > 1 and np.any(diff != diff[0]) else float("nan")
        summary[policy] = {"n": len(mine), "initial": _mean_std(a), "final": _mean_std(b),
                           "mean_change": float(diff.mean()), "paired_t_p": p}
        lines.append(f"| {policy} | {len(mine)} | {_mean_std(a)} | {_mean_std(b)} | {diff.mean():+.4f} | {p:.3g} |")
    return {"rows": rows, "summary": summary, "table": lines}


def reward_vs_accuracy(results: list[dict]) -> dict:
    """Singh et al. (2019), Figure 1 / Singh's thesis (2019), Table 3: shared-weight reward vs accuracy after retraining."""
    probes = _retrained(results, "probe")
    rows = [{"policy": r["tag"]["policy"], "seed": r["tag"]["search_seed"], "index": r["tag"]["index"],
             "reward": r["tag"]["reward"], "test_acc": r["test_acc"], "val_acc": r["val_acc"]} for r in probes]
    lines = ["| policy | seed | architectures | Kendall τ (p) | Spearman ρ (p) |", "|---|---|---|---|---|"]
    groups = {}
    for r in rows:
        groups.setdefault((r["policy"], r["seed"]), []).append(r)
    for policy in sorted({r["policy"] for r in rows}):
        groups.setdefault((policy, "all"), [r for r in rows if r["policy"] == policy])
    summary = {}
    for (policy, seed), group in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        x, y = [r["reward"] for r in group], [r["test_acc"] for r in group]
        if len(group) > 2 and len(set(x)) > 1 and len(set(y)) > 1:
            tau, rho = stats.kendalltau(x, y), stats.spearmanr(x, y)
            t, tp, r_, rp = float(tau.statistic), float(tau.pvalue), float(rho.statistic), float(rho.pvalue)
        else:
            t = tp = r_ = rp = float("nan")
        summary[f"{policy}/{seed}"] = {"n": len(group), "kendall_tau": t, "kendall_p": tp, "spearman_rho": r_,
                                       "spearman_p": rp}
        lines.append(f"| {policy} | {seed} | {len(group)} | {t:.3f} ({tp:.3g}) | {r_:.3f} ({rp:.3g}) |")
    return {"rows": rows, "summary": summary, "table": lines}


def search_vs_random(results: list[dict]) -> dict:
    """Yang (2020), "Is NAS really worth it?": the distribution of retrained uniform samples, each policy's
    final architecture placed in it (percentile, and relative improvement RI = 100 (acc - random mean) / random mean)."""
    random = [r["test_acc"] for r in _retrained(results, "random")]
    finals = _retrained(results, "final")
    mean = float(np.mean(random)) if random else float("nan")
    rows = [{"policy": "random", "seed": r["tag"]["index"], "test_acc": r["test_acc"]}
            for r in _retrained(results, "random")]
    lines = [f"Random architectures retrained: {len(random)}; test accuracy {_mean_std(random)}, "
             f"min {min(random, default=float('nan')):.4f}, max {max(random, default=float('nan')):.4f}.", "",
             "| policy | seed | test acc | percentile among random | RI (%) |", "|---|---|---|---|---|"]
    summary = {"random": {"n": len(random), "mean": mean, "std": float(np.std(random, ddof=1)) if len(random) > 1
                          else 0.0, "min": min(random, default=None), "max": max(random, default=None)}}
    for r in finals:
        acc = r["test_acc"]
        pct = float(stats.percentileofscore(random, acc, kind="mean")) if random else float("nan")
        ri = 100 * (acc - mean) / mean
        rows.append({"policy": r["tag"]["policy"], "seed": r["tag"]["search_seed"], "test_acc": acc,
                     "percentile": pct, "relative_improvement": ri})
        lines.append(f"| {r['tag']['policy']} | {r['tag']['search_seed']} | {acc:.4f} | {pct:.1f} | {ri:+.2f} |")
    for policy in sorted({r["tag"]["policy"] for r in finals}):
        accs = [r["test_acc"] for r in finals if r["tag"]["policy"] == policy]
        ri = [100 * (a - mean) / mean for a in accs]
        summary[policy] = {"n": len(accs), "test_acc": _mean_std(accs), "mean_ri": float(np.mean(ri))}
        lines.append(f"| {policy} | mean of {len(accs)} | {_mean_std(accs)} | | {np.mean(ri):+.2f} |")
    gains = _search_gains(finals, random)
    if gains:
        lines += ["", "| comparison | n | gain (test-accuracy points) | 95 % interval | p |", "|---|---|---|---|---|"]
        lines += [_gain_row(name, g) for name, g in gains.items()]
    summary["gains"] = gains
    return {"rows": rows, "summary": summary, "table": lines}


def _interval_and_p(g: dict) -> str:
    """The '95 % interval | p' cells of a gain; '- | -' where one value per side leaves no interval."""
    if np.isnan(g["p"]):
        return "- | -"
    return f"[{g['ci95'][0]:+.2f}, {g['ci95'][1]:+.2f}] | {g['p']:.3g}"


def _gain_row(name: str, g: dict) -> str:
    return f"| {name} | {g['n']} | {g['gain']:+.2f} | {_interval_and_p(g)} |"


def _search_gains(finals: list[dict], random: list[float]) -> dict:
    """Each policy's picks against the random samples (Welch), and each learning policy's picks against the
    uniform policy's (the same weight-sharing search that learns nothing), paired by search seed."""
    by_policy: dict = {}
    for r in finals:
        by_policy.setdefault(r["tag"]["policy"], {})[r["tag"]["search_seed"]] = r["test_acc"]
    gains = {f"search ({p}) vs random": _welch_gain(list(accs.values()), random) for p, accs in sorted(by_policy.items())}
    uniform = by_policy.get("uniform", {})
    for policy, accs in sorted(by_policy.items()):
        seeds = sorted(set(accs) & set(uniform)) if policy != "uniform" else []
        if seeds:
            gains[f"{policy} vs uniform (paired by seed)"] = _paired_gain([accs[s] for s in seeds],
                                                                         [uniform[s] for s in seeds])
    return gains


def _gain(gain: float, test, n: int) -> dict:
    """``n``, the gain, and the 95 % interval and p of scipy's t-test result ``test`` (values in points)."""
    ci = test.confidence_interval(0.95)
    return {"n": n, "gain": float(gain), "ci95": [float(ci.low), float(ci.high)], "p": float(test.pvalue)}


def _paired_gain(after, before) -> dict:
    """Mean of ``after - before`` in points, with the paired t-test's 95 % interval and p."""
    diff = 100 * (np.asarray(after, dtype=float) - np.asarray(before, dtype=float))
    if len(diff) < 2 or not np.any(diff != diff[0]):
        nan = float("nan")
        return {"n": len(diff), "gain": float(diff.mean()) if len(diff) else nan, "ci95": [nan, nan], "p": nan}
    return _gain(diff.mean(), stats.ttest_1samp(diff, 0.0), len(diff))


def _welch_gain(picks, random) -> dict:
    """Mean of ``picks`` minus mean of ``random`` in points, with Welch's 95 % interval and p."""
    a, b = 100 * np.asarray(picks, dtype=float), 100 * np.asarray(random, dtype=float)
    if len(a) < 2 or len(b) < 2 or not (np.ptp(a) or np.ptp(b)):
        nan = float("nan")
        return {"n": len(a), "gain": float(a.mean() - b.mean()) if len(a) and len(b) else nan, "ci95": [nan, nan],
                "p": nan}
    return _gain(a.mean() - b.mean(), stats.ttest_ind(a, b, equal_var=False), len(a))


def tricks_ablation(results: list[dict]) -> dict:
    """Yang (2020): each training trick's gain, paired over the same architectures (random samples and every
    pick), beside the gain of each policy's pick over the random samples, both in test-accuracy points with 95 %
    intervals, under the same protocol."""
    retrained = [r for r in results if r.get("kind") == "retrain" and "tricks" in r.get("tag", {})]

    def who(r):
        tag = r["tag"]
        return ("random", tag["index"]) if tag["source"] == "random" else (tag["policy"], tag["search_seed"])
    table = {}
    for r in retrained:
        table.setdefault(who(r), {})[r["tag"]["tricks"]] = r["test_acc"]
    rows = [{"architecture": f"{a}/{i}", "tricks": t, "test_acc": acc}
            for (a, i), accs in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1])) for t, acc in accs.items()]
    variants = [v for v in ("cutout", "drop_path", "auxiliary", "all") if any(v in accs for accs in table.values())]
    summary, lines = {}, ["| comparison | n | gain (test-accuracy points) | 95 % interval | p |", "|---|---|---|---|---|"]

    def line(name, g):
        summary[name] = g
        lines.append(_gain_row(name, g))
    for v in variants:
        pairs = [(accs[v], accs["none"]) for accs in table.values() if v in accs and "none" in accs]
        line(f"trick {v} vs none (paired, all architectures)", _paired_gain([a for a, _ in pairs], [b for _, b in pairs]))
    for variant in ("none", "all"):
        random = [accs[variant] for (a, _), accs in table.items() if a == "random" and variant in accs]
        for policy in sorted({a for a, _ in table} - {"random"}):
            picks = [accs[variant] for (a, _), accs in table.items() if a == policy and variant in accs]
            line(f"search ({policy}) vs random, tricks {variant}", _welch_gain(picks, random))
    return {"rows": rows, "summary": summary, "table": lines}


def controller_transfer(results: list[dict]) -> dict:
    """Singh's ENAS thesis (2019), section 5.1: on data set B, the pick of a search whose policy started from one
    trained on A against the pick of a search from scratch with the same budget, both retrained on B; paired per
    (policy, seed), in test-accuracy points with the paired t-test's 95 % interval and p. Beside it, the B searches'
    mean shared-weight reward in their first and last epochs (does the transferred policy start ahead?)."""
    picks = {}
    for role in ("scratch", "transfer"):
        for r in _retrained(results, role):
            picks.setdefault((r["tag"]["policy"], r["tag"]["search_seed"]), {})[role] = r["test_acc"]
    curves = {}
    for r in results:
        role = (r.get("tag") or {}).get("role")
        if r.get("kind") == "search" and role in ("scratch", "transfer") and r.get("reward_curve"):
            curves.setdefault((r["policy"], r["seed"]), {})[role] = r["reward_curve"]
    rows = []
    for (policy, seed), accs in sorted(picks.items()):
        if len(accs) == 2:
            curve = curves.get((policy, seed), {})
            rows.append({"policy": policy, "seed": seed, "scratch_test_acc": accs["scratch"],
                         "transfer_test_acc": accs["transfer"], "change": accs["transfer"] - accs["scratch"],
                         **{f"{role}_first_reward": c[0] for role, c in curve.items()},
                         **{f"{role}_last_reward": c[-1] for role, c in curve.items()},
                         **{f"{role}_reward_curve": c for role, c in curve.items()}})
    lines = ["| policy | seed | from scratch (test acc on B) | transferred (test acc on B) | change (points) | "
             "first-epoch reward, scratch / transferred |", "|---|---|---|---|---|---|"]
    for r in rows:
        first = (f"{r['scratch_first_reward']:.3f} / {r['transfer_first_reward']:.3f}"
                 if "scratch_first_reward" in r and "transfer_first_reward" in r else "n/a")
        lines.append(f"| {r['policy']} | {r['seed']} | {r['scratch_test_acc']:.4f} | {r['transfer_test_acc']:.4f} | "
                     f"{100 * r['change']:+.2f} | {first} |")
    summary = {}
    lines += ["", "| policy | seeds | from scratch | transferred | gain (points) | 95 % interval | p |",
              "|---|---|---|---|---|---|---|"]
    for policy in sorted({r["policy"] for r in rows}):
        mine = [r for r in rows if r["policy"] == policy]
        a, b = [r["scratch_test_acc"] for r in mine], [r["transfer_test_acc"] for r in mine]
        g = _paired_gain(b, a)
        first = {role: [r[f"{role}_first_reward"] for r in mine if f"{role}_first_reward" in r]
                 for role in ("scratch", "transfer")}
        summary[policy] = {**g, "scratch": _mean_std(a), "transfer": _mean_std(b),
                           "first_reward": {role: float(np.mean(v)) if v else None for role, v in first.items()}}
        lines.append(f"| {policy} | {len(mine)} | {_mean_std(a)} | {_mean_std(b)} | {g['gain']:+.2f} | "
                     f"{_interval_and_p(g)} |")
    return {"rows": rows, "summary": summary, "table": lines}


def searches(results: list[dict]) -> list[str]:
    """One line per search: its policy budget (reward evaluations, the same for every policy when the study is
    fair), selection score on the validation split, re-score on data it was not selected on, drift verdict."""
    rows = sorted((r for r in results if r.get("kind") == "search"), key=lambda r: (r.get("policy", ""), r["seed"]))
    if not rows:
        return []
    transfer = any((r.get("tag") or {}).get("role") for r in rows)
    lines = ["| policy | seed | " + ("data | role | " if transfer else "") + "reward evaluations | policy updates | "
             "selection score (val) | re-scored (held out) | final KL from uniform | verdict |",
             "|---|---|---|---|---|---|---|---|" + ("---|---|" if transfer else "")]
    for r in rows:
        budget, held = r.get("budget") or {}, r.get("holdout_score")
        where = f"{r.get('data', '?')} | {r['tag']['role']} | " if transfer else ""
        lines.append(f"| {r.get('policy')} | {r['seed']} | {where}{budget.get('reward_evaluations', '?')} | "
                     f"{budget.get('policy_updates', '?')} | {r['default']:.4f} | "
                     f"{'n/a' if held is None else f'{held:.4f}'} | {r.get('final_kl', float('nan')):.3g} | "
                     f"{'learned' if r.get('learned') else 'not learned'} |")
    # the budgets that must agree: every search's, or in the controller transfer those on B
    same = [r for r in rows if (r.get("tag") or {}).get("role") in ("scratch", "transfer")] if transfer else rows
    evaluations = {(r.get("budget") or {}).get("reward_evaluations") for r in same}
    agreed = (f"{evaluations.pop()} reward evaluations per search." if len(evaluations) == 1 else
              f"NO, the budgets differ ({sorted(map(str, evaluations))}).")
    lines += ["", ("On B, scratch and transfer" if transfer else "Every policy") + " had the same budget: " + agreed, ""]
    return lines


ANALYSES = {"learning-progress": learning_progress, "reward-vs-accuracy": reward_vs_accuracy,
            "search-vs-random": search_vs_random, "tricks-ablation": tricks_ablation,
            "controller-transfer": controller_transfer}


def plot(study: str, analysis: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rows = analysis["rows"]
    if study == "learning-progress":
        for r in rows:
            ax.plot([0, 1], [r["initial_test_acc"], r["final_test_acc"]], marker="o", alpha=0.7,
                    label=f"{r['policy']} seed {r['seed']}")
        ax.set_xticks([0, 1], ["best after epoch 1", "final"])
        ax.set_ylabel("test accuracy after retraining")
        ax.legend(fontsize=6)
    elif study == "reward-vs-accuracy":
        for policy in sorted({r["policy"] for r in rows}):
            mine = [r for r in rows if r["policy"] == policy]
            ax.scatter([r["reward"] for r in mine], [r["test_acc"] for r in mine], label=policy, alpha=0.7)
        ax.set_xlabel("shared-weight validation accuracy (mid-search)")
        ax.set_ylabel("test accuracy after retraining")
        ax.legend(fontsize=7)
    elif study == "controller-transfer":
        for i, r in enumerate(rows):
            for role, style in (("scratch", "--"), ("transfer", "-")):
                if f"{role}_reward_curve" in r:
                    ax.plot(r[f"{role}_reward_curve"], style, color=f"C{i % 10}", alpha=0.8,
                            label=f"{r['policy']} seed {r['seed']}, {'from scratch' if role == 'scratch' else 'transferred'}")
        ax.set_xlabel("search epoch on B")
        ax.set_ylabel("mean shared-weight reward")
        ax.legend(fontsize=6)
    elif study == "tricks-ablation":
        names = list(analysis["summary"])
        gains = [analysis["summary"][n]["gain"] for n in names]
        errors = [[g - analysis["summary"][n]["ci95"][0] for n, g in zip(names, gains)],
                  [analysis["summary"][n]["ci95"][1] - g for n, g in zip(names, gains)]]
        ax.barh(range(len(names)), gains, xerr=errors, color=["C0" if n.startswith("trick") else "C1" for n in names])
        ax.set_yticks(range(len(names)), [n.split(" (")[0] if n.startswith("trick") else n for n in names], fontsize=6)
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set_xlabel("gain in test accuracy (points), 95 % interval")
    else:
        random = [r["test_acc"] for r in rows if r["policy"] == "random"]
        ax.hist(random, bins=min(20, max(3, len(random) // 2)), color="grey", alpha=0.7, label="random samples")
        for i, r in enumerate(r for r in rows if r["policy"] != "random"):
            ax.axvline(r["test_acc"], color=f"C{i % 10}", label=f"{r['policy']} seed {r['seed']}")
        ax.set_xlabel("test accuracy after retraining")
        ax.set_ylabel("architectures")
        ax.legend(fontsize=6)
    ax.set_title(study)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write(path, lambda f: f.write(buffer.getvalue()), binary=True)


def build_report(exp_dir: str | os.PathLike, out: str | os.PathLike, run: dict | None = None) -> dict:
    """Write ``out/report.md``, ``out/results.csv``, ``out/summary.json`` and ``out/plot.png``; ``run`` (the
    command, date, wall time and trials of ``python -m studies run``) goes into the summary and the header."""
    study, jobs, results = load_study(exp_dir)
    analysis = ANALYSES[study](results)
    out = Path(out)
    retrains = [j for j in jobs if j["kind"] == "retrain"]
    protocol = next((r["protocol"] for r in results if r.get("kind") == "retrain"), None)
    missing = len([j for j in jobs if j["kind"] != "skip"]) - len({r["job"] for r in results})
    data = " → ".join(dict.fromkeys(j["data"]["name"] for j in jobs)) or "?"
    header = [f"# {study}: experiment {Path(exp_dir).name}", "",
              f"Jobs: {len(jobs)} ({len(retrains)} retrainings); results: {len(results)}; without a result: "
              f"{missing}. Space: {jobs[0]['space']['name'] if jobs else '?'}; data: "
              f"{data}. Retraining protocol: {json.dumps(protocol)}.", ""]
    if run:
        header[-1:] = [f"Command: `{run['command']}`, {run['date']}, {run['trials']} trials in {run['wall_s']:.0f} s.", ""]
    text = "\n".join(header + searches(results) + analysis["table"]) + "\n\n![plot](plot.png)\n"
    atomic_write(out / "report.md", lambda f: f.write(text))
    columns = sorted({k for r in analysis["rows"] for k in r})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(analysis["rows"])
    atomic_write(out / "results.csv", lambda f: f.write(buffer.getvalue()))
    summary = {"study": study, "experiment": Path(exp_dir).name, "space": jobs[0]["space"]["name"] if jobs else None,
               "data": data, "run": run, "protocol": protocol,
               "retrain_space": retrains[0]["space"] if retrains else None,
               "retrain_seeds": sorted({j["seed"] for j in retrains}), "searches": searches(results), **analysis}
    atomic_write(out / "summary.json", lambda f: json.dump(summary, f, indent=1, default=float))
    plot(study, analysis, out / "plot.png")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", help="the study experiment's id")
    parser.add_argument("--workdir", default="~/nni-experiments", help="NNI's experiment working directory")
    parser.add_argument("--out", help="output folder (default: results/study-<id>)")
    args = parser.parse_args(argv)
    exp_dir = Path(os.path.expanduser(args.workdir)) / args.experiment
    try:
        summary = build_report(exp_dir, args.out or Path("results") / f"study-{args.experiment}")
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"study_report: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary["searches"] + summary["table"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
