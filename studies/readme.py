"""Regenerate the README's study tables from the committed reports, so that no number there is typed by hand.

    python -m studies.readme            # rewrite the tables in README.md
    python -m studies.readme --check    # exit 1, naming the table, when README.md differs from the reports

A table lives between two HTML comments that Markdown does not show:

- ``<!-- report-table: DIR -->`` ... ``<!-- /report-table -->``: the table of ``DIR/summary.json`` (a study's
  report, ``studies/report.py``) and a line naming its experiment, and the command, date and wall time where
  the report recorded them;
- ``<!-- spread-table: DIR DIR ... -->`` ... ``<!-- /spread-table -->``: one row per search-vs-random report, the
  spread of its retrained random architectures (how well the proxy tells architectures apart);
- ``<!-- noise-table: DIR DIR -->`` ... ``<!-- /noise-table -->``: two search-vs-random reports that retrained the
  same random architectures with different retraining seeds: how much of the spread is the architecture and how
  much the retraining's own noise.

Paths are relative to the README's folder. Everything outside the markers is left as it is.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from nas_data.files import atomic_write

# a marker is a line of its own (so that prose may quote one)
BLOCK = re.compile(r"^(<!-- (report-table|spread-table|noise-table): ([^>]*?) -->\n)(.*?)^(<!-- /\2 -->)$",
                   re.S | re.M)


def _summary(base: Path, folder: str) -> dict:
    path = base / folder / "summary.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the study and write its report there "
                                "(python -m studies run CONFIG --out FOLDER)")
    return json.loads(path.read_text())


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def provenance(summary: dict) -> str:
    """One line: the experiment, and the command, date, wall time and trials where the report has them."""
    run = summary.get("run") or {}
    parts = [f"experiment `{summary['experiment']}`"]
    if run.get("command"):
        parts.append(f"`{run['command']}`")
    if run.get("date"):
        parts.append(run["date"])
    if run.get("wall_s") is not None:
        parts.append(f"{run.get('trials', '?')} trials in {_duration(run['wall_s'])}")
    return "Measured: " + ", ".join(parts) + "."


def report_table(summary: dict) -> list[str]:
    return [*summary["table"], "", provenance(summary)]


def spread_table(summaries: list[dict]) -> list[str]:
    lines = ["| space | data | experiment | random architectures | test acc mean ± std | min | max | range (points) |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        if s["study"] != "search-vs-random":
            raise ValueError(f"experiment {s['experiment']} is a {s['study']} study; a spread table takes "
                             "search-vs-random reports")
        r = s["summary"]["random"]
        lines.append(f"| {s.get('space', '?')} | {s.get('data', '?')} | `{s['experiment']}` | {r['n']} | "
                     f"{r['mean']:.4f} ± {r['std']:.4f} | {r['min']:.4f} | {r['max']:.4f} | "
                     f"{100 * (r['max'] - r['min']):.1f} |")
    return lines


def noise_table(a: dict, b: dict) -> list[str]:
    """The same random architectures retrained with two retraining seeds: the correlation of the two runs, the
    retraining noise (the standard deviation of one retraining of one architecture, from the paired differences)
    and the share of the single-retraining variance that is the architecture's (1 - noise variance / variance)."""
    import numpy as np
    from scipy import stats

    for s in (a, b):
        if s["study"] != "search-vs-random" or "retrain_seeds" not in s:
            raise ValueError(f"experiment {s['experiment']}: a noise table takes search-vs-random reports that "
                             "record their retraining seeds (rebuild the report with python -m studies.report)")
    same = ("space", "data", "protocol", "retrain_space")
    if any(a.get(k) != b.get(k) for k in same) or set(a["retrain_seeds"]) & set(b["retrain_seeds"]):
        raise ValueError(f"experiments {a['experiment']} and {b['experiment']} must differ in the retraining seed "
                         f"only (same {', '.join(same)})")
    accs = [{r["seed"]: r["test_acc"] for r in s["rows"] if r["policy"] == "random"} for s in (a, b)]
    index = sorted(set(accs[0]) & set(accs[1]))
    x, y = (np.array([acc[i] for i in index]) for acc in accs)
    noise = np.std(x - y, ddof=1) / np.sqrt(2)
    total = np.var(np.concatenate([x, y]), ddof=1)
    r, tau = stats.pearsonr(x, y), stats.kendalltau(x, y)
    return ["| space | data | experiments | architectures | retraining seeds | Pearson r (p) | Kendall τ (p) | "
            "retraining noise sd (points) | spread sd (points) | variance from the architecture |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {a['space']} | {a['data']} | `{a['experiment']}`, `{b['experiment']}` | {len(index)} | "
            f"{a['retrain_seeds'][0]}, {b['retrain_seeds'][0]} | {r.statistic:.2f} ({r.pvalue:.2g}) | "
            f"{tau.statistic:.2f} ({tau.pvalue:.2g}) | {100 * noise:.1f} | {100 * np.sqrt(total):.1f} | "
            f"{max(0.0, 1 - noise ** 2 / total):.0%} |"]


def regenerate(text: str, base: Path) -> tuple[str, list[str]]:
    """``text`` with every marked table rebuilt from the reports; and the folders of the tables that changed."""
    changed = []

    def block(match):
        opening, kind, folders, old, closing = match.groups()
        folders = folders.split()
        if kind == "report-table":
            if len(folders) != 1:
                raise ValueError(f"report-table takes one report folder, got {' '.join(folders)!r}")
            lines = report_table(_summary(base, folders[0]))
        elif kind == "spread-table":
            lines = spread_table([_summary(base, f) for f in folders])
        else:
            if len(folders) != 2:
                raise ValueError(f"noise-table takes two report folders, got {' '.join(folders)!r}")
            lines = noise_table(*(_summary(base, f) for f in folders))
        new = "\n".join(lines) + "\n"
        if new != old:
            changed.append(" ".join(folders))
        return opening + new + closing
    return BLOCK.sub(block, text), changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.readme", description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table is out of date")
    args = parser.parse_args(argv)
    readme = Path(args.readme)
    try:
        text = readme.read_text()
        new, changed = regenerate(text, readme.resolve().parent)
    except (OSError, ValueError, KeyError) as exc:
        print(f"studies.readme: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if changed:
            print(f"studies.readme: {readme} is out of date for {', '.join(changed)}; run python -m studies.readme",
                  file=sys.stderr)
            return 1
        return 0
    if changed:
        atomic_write(readme, lambda f: f.write(new))
    print(f"{readme}: {len(changed)} table(s) regenerated" + (f" ({', '.join(changed)})" if changed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
