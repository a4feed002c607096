"""Plots the benchmark scripts share (matplotlib, imported only when a plot is drawn)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType


def pyplot() -> ModuleType | None:
    """matplotlib.pyplot drawing to files (the Agg backend: no display on a server), or None when matplotlib is
    not installed, so that a benchmark still prints and writes its JSON without its PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def ndcg_bars(path: Path, groups: Sequence[str], series: Mapping[str, Sequence[float]], ylim: tuple[float, float],
              fmt: str = "%.3f") -> None:
    """Grouped bars of nDCG@10: one group per set (`groups`, its tick labels), one bar per series in it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2 + 2.2 * len(groups), 4))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        bars = ax.bar([x + i * width for x in range(len(groups))], values, width, label=label)
        ax.bar_label(bars, fmt=fmt, fontsize=7)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(groups))], groups)
    ax.set_ylabel("nDCG@10 (article level)")
    ax.set_ylim(*ylim)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
