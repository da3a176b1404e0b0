"""Pictures of a run: where each policy lands, how regret grows, what the bandit chose over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def cost_quality_plane(report: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, figures in report["policies"].items():
        x, y = 1 - figures["savings_vs_premium"], figures["quality_vs_premium"]
        ax.scatter(x, y, s=60)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 4))
    ax.set_xlabel("cost, as a fraction of always-premium")
    ax.set_ylabel("expected quality, as a fraction of always-premium")
    ax.set_title(f"{report['scenario']}: {report['requests']} requests, λ={report['cost_weight']}")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def regret_over_time(regret: dict[str, np.ndarray], events: list[dict], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, values in regret.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    _mark_events(ax, events)
    ax.set_xlabel("request")
    ax.set_ylabel("cumulative regret vs the oracle (reward units)")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def model_share_over_time(models: list[str], events: list[dict], path: Path, window: int = 500) -> Path:
    names = sorted(set(models))
    chosen = np.array([names.index(m) for m in models])
    window = max(1, min(window, len(models) // 8))  # a short run still shows change over time
    starts = np.arange(0, len(models) - window + 1, max(1, window // 5))
    shares = np.array([[np.mean(chosen[s : s + window] == i) for s in starts] for i in range(len(names))])
    fig, ax = plt.subplots(figsize=(9, 5))
    colours = plt.get_cmap("tab20").colors  # eleven models and more: tab10 would repeat colours
    ax.stackplot(starts + window / 2, shares, labels=names, colors=colours[: len(names)])
    _mark_events(ax, events)
    ax.set_xlabel("request")
    ax.set_ylabel(f"share of the bandit's choices ({window}-request window)")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return _save(fig, path)


def pgr_curves(report: dict, path: Path) -> Path:
    sources = list(report["sources"])
    fig, axes = plt.subplots(1, len(sources), figsize=(5 * len(sources), 4.5), squeeze=False)
    for ax, source in zip(axes[0], sources):
        figures = report["sources"][source]
        for key, label in (("curve", f"bandit (APGR {figures['apgr']:.3f})"),
                           ("oracle_curve", f"oracle (APGR {figures['oracle_apgr']:.3f})")):
            points = figures[key]
            ax.plot([p["strong_share"] for p in points], [p["pgr"] for p in points], marker="." if key == "curve" else None,
                    label=label)
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random (APGR 0.5)")
        ax.set_title(f"{source} ({figures['prompts']} prompts)")
        ax.set_xlabel(f"share of calls to {report['strong_model']}")
        ax.set_ylabel("performance gap recovered")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _mark_events(ax, events: list[dict]) -> None:
    for event in events:
        ax.axvline(event["step"], color="black", linestyle=":", linewidth=1)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
