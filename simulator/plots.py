"""Pictures of a run: where each policy lands, how regret grows, what the bandit chose over time.

Colours belong to names, not to positions: a policy (or a model) has the same colour in every plot
these functions draw and in the notebooks, whichever others share the figure.
"""

from __future__ import annotations

import zlib
from collections import Counter
from functools import cache
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

POLICY_COLOURS = {
    "bandit": "tab:blue",
    "random": "tab:gray",
    "always-premium": "tab:red",
    "always-cheapest": "tab:green",
    "static-rules": "tab:purple",
    "oracle": "black",
}
# For names outside the mapping (a notebook's "logging policy"): the hues no policy above uses.
_SPARE_POLICY_COLOURS = ("tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def policy_colour(name: str) -> str:
    """The colour of a policy; a variant named after one ("bandit λ=0.2") takes that policy's."""
    known = POLICY_COLOURS.get(name) or POLICY_COLOURS.get(name.split(" ", 1)[0])
    return known or _pick(name, _SPARE_POLICY_COLOURS)


@cache
def _model_palette() -> tuple[tuple[str, ...], tuple]:
    """The packaged registry's models in its order, and tab20 with its ten dark hues first, so the first
    ten models differ in hue, not only in shade."""
    from router.domain.registry import Registry

    colours = plt.get_cmap("tab20").colors
    return tuple(Registry.from_yaml().ids), colours[0::2] + colours[1::2]


def model_colour(model: str) -> tuple:
    """The colour of a model: fixed for the packaged registry's, from its name for any other (a
    scenario's new model, the replay models)."""
    models, palette = _model_palette()
    if model in models:
        return palette[models.index(model)]
    return _pick(model, palette[len(models):])


def _pick(name: str, colours: tuple):
    # crc32, not hash(): the same name gets the same colour in every process.
    return colours[zlib.crc32(name.encode()) % len(colours)]


def cost_quality_plane(report: dict, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, figures in report["policies"].items():
        x, y = 1 - figures["savings_vs_premium"], figures["quality_vs_premium"]
        ax.scatter(x, y, s=60, color=policy_colour(name), label=name)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 4))
    ax.set_xlabel("cost, as a fraction of always-premium")
    ax.set_ylabel("expected quality, as a fraction of always-premium")
    ax.set_title(f"Cost and quality per policy\n{run_label(report)}")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def run_label(report: dict) -> str:
    """What a simulation was: its scenario, length, seed and λ."""
    return f"{report['scenario']}: {report['requests']} requests, seed {report['seed']}, λ={report['cost_weight']}"


def regret_over_time(regret: dict[str, np.ndarray], events: list[dict], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, values in regret.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name, color=policy_colour(name),
                linewidth=2.5 if name == "bandit" else 1.2)
    _mark_events(ax, events)
    ax.set_xlabel("request")
    ax.set_ylabel("cumulative regret vs the oracle (reward units)")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def model_share_over_time(models: list[str], events: list[dict], path: Path, title: str, window: int = 500) -> Path:
    """The share of each model in a rolling window, stacked largest overall share first (at the bottom,
    and at the top of the legend)."""
    names = [name for name, _ in Counter(models).most_common()]
    chosen = np.array([names.index(m) for m in models])
    window = max(1, min(window, len(models) // 8))  # a short run still shows change over time
    starts = np.arange(0, len(models) - window + 1, max(1, window // 5))
    shares = np.array([[np.mean(chosen[s : s + window] == i) for s in starts] for i in range(len(names))])
    fig, ax = plt.subplots(figsize=(9, 5))
    ax.stackplot(starts + window / 2, shares, labels=names, colors=[model_colour(m) for m in names])
    _mark_events(ax, events)
    ax.set_xlabel("request")
    ax.set_ylabel(f"share of the bandit's choices ({window}-request window)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return _save(fig, path)


def pgr_curves(report: dict, path: Path) -> Path:
    sources = list(report["sources"])
    fig, axes = plt.subplots(1, len(sources), figsize=(5 * len(sources), 4.5), squeeze=False)
    for ax, source in zip(axes[0], sources):
        figures = report["sources"][source]
        for policy, curve, apgr in (("bandit", "curve", "apgr"), ("oracle", "oracle_curve", "oracle_apgr")):
            points = figures[curve]
            ax.plot([p["strong_share"] for p in points], [p["pgr"] for p in points],
                    marker="." if policy == "bandit" else None, color=policy_colour(policy),
                    label=f"{policy} (APGR {figures[apgr]:.3f})")
        ax.plot([0, 1], [0, 1], linestyle="--", color=policy_colour("random"), label="random (APGR 0.5)")
        ax.set_title(f"{source} ({figures['prompts']} prompts)")
        ax.set_xlabel(f"share of calls to {report['strong_model']}")
        ax.set_ylabel("performance gap recovered")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Quality recovered against calls to the strong model: {report['weak_model']} → "
                 f"{report['strong_model']}, {len(report['cost_weights'])} values of λ")
    return _save(fig, path)


def _mark_events(ax, events: list[dict]) -> None:
    for event in events:
        ax.axvline(event["step"], color="black", linestyle=":", linewidth=1)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
