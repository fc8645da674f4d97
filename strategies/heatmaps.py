"""EDNAS Fig. 4 and 5 for any policy: a heatmap of the policy's probabilities (rows: decisions, columns:
candidates) and one of the cumulative sampling counts, as PNG files and as RGB arrays for TensorBoard.
Drawn with matplotlib's object API (no pyplot state), so a search can draw in a background thread."""
from __future__ import annotations

import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imsave


def _matrix(tables: dict) -> tuple[np.ndarray, list[str], list[list[str]]]:
    labels = list(tables)
    width = max((len(t) for t in tables.values()), default=1)
    matrix = np.full((len(labels), width), np.nan)
    names = []
    for row, label in enumerate(labels):
        values = list(tables[label].values())
        matrix[row, :len(values)] = values
        names.append(list(tables[label]))
    return matrix, labels, names


def draw_heatmap(tables: dict, path: str | os.PathLike, title: str, normalise: bool = False) -> np.ndarray:
    """``tables``: label -> {candidate: value}. ``normalise`` divides each row by its sum (counts -> shares).
    Cells outside a decision's candidates are blank; each row's largest value is annotated with its name.
    Writes the PNG to ``path`` and returns the picture as an H x W x 3 uint8 array."""
    matrix, labels, names = _matrix(tables)
    if normalise:
        matrix = matrix / np.nansum(matrix, axis=1, keepdims=True).clip(min=1e-12)
    width, height = max(6, 0.6 * matrix.shape[1] + 4), max(3, 0.22 * len(labels) + 1)
    fig = Figure(figsize=(width, height), dpi=100)
    canvas = FigureCanvasAgg(fig)
    # fixed margins in inches (room for the decision labels and the colour bar): one rendering, not three
    fig.subplots_adjust(left=1.4 / width, right=1 - 1.1 / width, bottom=0.5 / height, top=1 - 0.35 / height)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, aspect="auto", cmap="viridis", vmin=0, vmax=np.nanmax(matrix) if matrix.size else 1)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set_xlabel("candidate (index within the decision)")
    for row, row_names in enumerate(names):
        if row_names:
            best = int(np.nanargmax(matrix[row, :len(row_names)]))
            ax.text(best, row, row_names[best], fontsize=5, ha="center", va="center", color="white")
    fig.colorbar(image, ax=ax, fraction=0.03)
    ax.set_title(title, fontsize=9)
    canvas.draw()
    picture = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    tmp = f"{path}.tmp.png"
    imsave(tmp, picture, format="png")
    os.replace(tmp, path)
    return picture
