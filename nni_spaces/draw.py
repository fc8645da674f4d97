"""PNG drawings of an architecture: each cell as a DAG (inputs, nodes, output), or the macro network's
layers with their skip connections. Uses matplotlib only (no graphviz on the machine)."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_OP_COLORS = {"sep": "#4c72b0", "dil": "#55a868", "conv": "#4c72b0", "max": "#c44e52", "avg": "#dd8452",
              "skip": "#8c8c8c"}


def _color(op: str) -> str:
    return _OP_COLORS.get(op.split("_")[0], "#333333")


def _draw_cell(ax, pairs: list, concat: list[int], title: str) -> None:
    nodes = 2 + len(pairs) // 2
    pos = {0: (0.0, 0.75), 1: (0.0, 0.25)}
    for node in range(2, nodes):
        pos[node] = (1 + (node - 2), 0.5 + 0.3 * (-1) ** node)
    pos["out"] = (nodes, 0.5)
    for index, (op, source) in enumerate(pairs):
        target = 2 + index // 2
        (x0, y0), (x1, y1) = pos[source], pos[target]
        bend = 0.25 * (1 if index % 2 else -1)
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color=_color(op), lw=1.5,
                                                            connectionstyle=f"arc3,rad={bend}"))
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2 + bend * 0.25
        ax.text(mx, my, op, fontsize=7, ha="center", va="center", color=_color(op),
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    for node in concat:
        (x0, y0), (x1, y1) = pos[node], pos["out"]
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color="#bbbbbb", lw=1, ls="--"))
    for node, (x, y) in pos.items():
        name = {0: "c_{k-2}", 1: "c_{k-1}", "out": "c_{k}"}.get(node, str(node))
        color = "#a1c9f4" if node in (0, 1) else "#ffb482" if node == "out" else "#f0f0f0"
        ax.text(x, y, f"${name}$" if "_" in name else name, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="circle,pad=0.3", fc=color, ec="#444444"))
    ax.set_title(title)
    ax.set_xlim(-0.5, nodes + 0.5)
    ax.set_ylim(-0.1, 1.1)
    ax.axis("off")


def draw_genotype(genotype, path: str | os.PathLike, title: str = "") -> None:
    """Write a PNG of a cell genotype (DARTS form) or a macro genotype (list of [op, skips])."""
    if isinstance(genotype, dict):
        fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
        for ax, cell in zip(axes, ("normal", "reduce")):
            _draw_cell(ax, genotype[cell], genotype[f"{cell}_concat"], f"{title} {cell} cell".strip())
    else:
        fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(genotype)), 3.5))
        for i, (op, skips) in enumerate(genotype):
            ax.text(i, 0, op.replace("_", "\n"), ha="center", va="center", fontsize=7,
                    bbox=dict(boxstyle="round", fc="#f0f0f0", ec=_color(op)))
            if i:
                ax.annotate("", (i - 0.3, 0), (i - 0.7, 0), arrowprops=dict(arrowstyle="->"))
            for j in skips:
                ax.annotate("", (i, 0.12), (j, 0.12), arrowprops=dict(
                    arrowstyle="->", color="#c44e52", lw=0.8, connectionstyle=f"arc3,rad={-0.3 - 0.02 * (i - j)}"))
        ax.set_xlim(-0.7, len(genotype) - 0.3)
        ax.set_ylim(-0.4, 1.5)
        ax.axis("off")
        ax.set_title(f"{title} layers (red: skip connections)".strip())
    fig.tight_layout()
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
