"""Pictures people would rather see than read: training curves, recall@k curves."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd


def plot_training_curves(history: pd.DataFrame, out: str | Path, title: str = "") -> Path:
    """One panel per metric (loss, iou, precision, recall...), train and val together."""
    metrics = [c for c in history.columns if c != "epoch" and not c.startswith("val_") and c != "lr"]
    metrics = [m for m in metrics if f"val_{m}" in history.columns] or metrics
    columns = min(3, max(1, len(metrics)))
    rows = (len(metrics) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    epochs = history["epoch"] + 1 if "epoch" in history else range(1, len(history) + 1)
    for axis, metric in zip(axes.flat, metrics):
        axis.plot(epochs, history[metric], marker="o", label="train")
        if f"val_{metric}" in history:
            axis.plot(epochs, history[f"val_{metric}"], marker="o", label="val")
        axis.set_title(metric)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    for axis in list(axes.flat)[len(metrics):]:
        axis.axis("off")
    return _save(fig, out, title)


def plot_recall_at_k(curves: dict[str, dict[int, float]], out: str | Path, title: str = "",
                     markers: bool = True) -> Path:
    """Recall@K against K, one line per system (paper Fig. 11 style); ``markers=False``
    for long curves (K = 1..100)."""
    fig, axis = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        ks = sorted(curve)
        axis.plot(ks, [curve[k] for k in ks], marker="o" if markers else None, label=name)
    axis.set_xlabel("K")
    axis.set_ylabel("recall@K")
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend()
    return _save(fig, out, title, axis)


def _save(fig, out: str | Path, title: str, axis=None) -> Path:
    """Title (over ``axis``, else over the whole figure), tight layout, write at 100 dpi
    and free the figure."""
    if title:
        if axis is None:
            fig.suptitle(title)
        else:
            axis.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)


def plot_ohs_bars(table: pd.DataFrame, out: str | Path, title: str = "") -> Path:
    """Grouped bars: one group per criterion (and OHS), one bar per system (rows of
    ``table``, values in percent), the paper's Table I as a picture."""
    columns = list(table.columns)
    systems = list(table.index)
    width = 0.8 / max(1, len(systems))
    fig, axis = plt.subplots(figsize=(max(6.0, 1.0 * len(columns) + 1.5), 4))
    for number, system in enumerate(systems):
        positions = [c + (number - (len(systems) - 1) / 2) * width for c in range(len(columns))]
        bars = axis.bar(positions, table.loc[system].to_numpy(dtype=float), width, label=str(system))
        axis.bar_label(bars, fmt="%.0f", fontsize=7)
    axis.set_xticks(range(len(columns)), [c.replace("_", "\n") for c in columns], fontsize=8)
    axis.set_ylabel("%")
    axis.set_ylim(0, 105)
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8)
    return _save(fig, out, title, axis)
