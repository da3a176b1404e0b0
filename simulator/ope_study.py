"""`banditroute ope-study`: how far the off-policy estimators can be trusted, measured where the
truth is known.

Synthetic traffic supplies the contexts and the world's expected quality of every model for each
(the truth). A logging policy explores the way the service does (inverse-gap weighting over
score = prior quality − λ·normalised cost, with the service's γ after a given number of feedbacks
and its probability floor); each seed draws its choices and noisy, sometimes missing grades. Every
estimator then estimates each target policy's mean quality on the logged events, and the study
reports, per estimator and log size, how often the interval covered the true value and the mean
absolute error. The contexts are drawn once (seed 0): the truth is the target's expected quality
on those contexts, and the seeds vary what the logging policy chose and what the graders said.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from learners.exploration import exploration_gamma, inverse_gap_probabilities
from learners.ope import BanditLog, estimate_all
from learners.policies import AlwaysCheapest, AlwaysModel, Policy, Situation, StaticRulesPolicy
from router.config import LearnerSettings
from router.domain.categories import CATEGORIES, SECURITY_CRITICAL
from router.domain.registry import Registry
from router.domain.types import Context
from simulator.traffic import SyntheticPrompt, TrafficGenerator
from simulator.world import World, expected_grade

LOGGING_COST_WEIGHT = 0.2
NOISE_SD = 0.08
FEEDBACK_LOSS = 0.05
_NO_EMBEDDING = np.zeros(1, dtype=np.float32)  # the study's policies decide on category and cost alone


@dataclass(frozen=True)
class Contexts:
    """n prompts as arrays over the registry's K models."""

    allowed: np.ndarray  # (n, K) bool: fits the context window; security keeps premium only
    quality: np.ndarray  # (n, K) the world's expected quality
    truth: np.ndarray  # (n, K) the expected grade the log records (the quality, clipped with noise)
    logging: np.ndarray  # (n, K) the logging policy's probabilities
    features: np.ndarray  # (n, d) what the DR reward model reads
    targets: dict[str, np.ndarray]  # name → (n, K) a target policy's probabilities


class PriorBandit:
    """The service's policy before it has learned anything: the registry's priors as q̂, explored
    by inverse-gap weighting; at another λ it is the "bandit at another λ" target."""

    def __init__(self, cost_weight: float, gamma: float, floor: float):
        self.name = f"prior-bandit λ={cost_weight:g}"
        self.cost_weight, self.gamma, self.floor = cost_weight, gamma, floor

    def probabilities(self, situation: Situation) -> np.ndarray:
        prior = np.array([m.prior(situation.context.category) for m in situation.candidates])
        return inverse_gap_probabilities(prior - self.cost_weight * situation.normalised_costs(), self.gamma,
                                         self.floor)


def make_contexts(n: int, registry: Registry, gamma: float, floor: float, seed: int = 0) -> Contexts:
    prompts = list(TrafficGenerator(seed).stream(n))
    world = World(registry, seed)
    models = list(registry)
    situations = [_situation(p, models) for p in prompts]
    logging = PriorBandit(LOGGING_COST_WEIGHT, gamma, floor)
    fixed: list[Policy] = [AlwaysModel(registry.baseline_model, "always-premium"), AlwaysCheapest(),
                           StaticRulesPolicy()]
    targets = {p.name: _spread(situations, models, lambda s, p=p: p.choose(s).probabilities) for p in fixed}
    quality = np.array([[world.expected_quality(m.id, p) for m in models] for p in prompts])
    for cost_weight in (0.05, 1.0):
        target = PriorBandit(cost_weight, gamma, floor)
        targets[target.name] = _spread(situations, models, target.probabilities)
    return Contexts(
        allowed=_spread(situations, models, lambda s: np.ones(len(s.candidates))) > 0,
        quality=quality,
        truth=expected_grade(quality, NOISE_SD),
        logging=_spread(situations, models, logging.probabilities),
        features=_features(prompts, seed),
        targets=targets,
    )


def _situation(prompt: SyntheticPrompt, models: list) -> Situation:
    fitting = [m for m in models if m.fits(prompt.input_tokens, prompt.output_tokens)]
    if prompt.category == SECURITY_CRITICAL:  # the safety floor, on the true category
        fitting = [m for m in fitting if m.tier == "premium"]
    context = Context(_NO_EMBEDDING, prompt.category, prompt.difficulty, prompt.input_tokens, prompt.output_tokens)
    return Situation(context, tuple(fitting), LOGGING_COST_WEIGHT)


def _spread(situations: list[Situation], models: list, per_candidate) -> np.ndarray:
    """(n, K) from a function giving one value per candidate of each situation."""
    column = {m.id: i for i, m in enumerate(models)}
    out = np.zeros((len(situations), len(models)))
    for row, situation in enumerate(situations):
        out[row, [column[m.id] for m in situation.candidates]] = per_candidate(situation)
    return out


def _features(prompts: list[SyntheticPrompt], seed: int) -> np.ndarray:
    """Category, token sizes and a complexity estimate as noisy as the classifier's (the router
    never sees the true difficulty)."""
    rng = np.random.default_rng(seed + 1)
    category = np.array([[p.category == c for c in CATEGORIES] for p in prompts], dtype=float)
    sizes = np.log1p(np.array([[p.input_tokens, p.output_tokens] for p in prompts], dtype=float))
    complexity = np.clip(np.array([p.difficulty for p in prompts]) + rng.normal(0, 0.15, len(prompts)), 0, 1)
    return np.column_stack([category, sizes, complexity])


def draw_log(contexts: Contexts, n: int, seed: int) -> tuple[BanditLog, np.ndarray]:
    """The first n contexts logged under one seed: choices, grades, lost feedback dropped. Returns
    the log and the rows it kept (for the truth)."""
    rng = np.random.default_rng(seed)
    probabilities = contexts.logging[:n]
    chosen = (rng.random(n)[:, None] > np.cumsum(probabilities, axis=1)).sum(axis=1)
    chosen = np.minimum(chosen, probabilities.shape[1] - 1)
    rows = np.arange(n)
    grade = np.clip(contexts.quality[rows, chosen] + rng.normal(0, NOISE_SD, n), 0, 1)
    kept = rng.random(n) >= FEEDBACK_LOSS
    log = BanditLog(allowed=contexts.allowed[:n][kept], chosen=chosen[kept],
                    propensity=probabilities[kept, chosen[kept]], reward=grade[kept],
                    features=contexts.features[:n][kept])
    return log, rows[kept]


def run_study(seeds: int, sizes: list[int], feedbacks: int, floor: float | None = None,
              registry: Registry | None = None) -> dict:
    registry = registry or Registry.from_yaml()
    learner = LearnerSettings()
    gamma = exploration_gamma(learner.gamma_scale, feedbacks)
    floor = learner.min_probability if floor is None else floor
    contexts = make_contexts(max(sizes), registry, gamma, floor)
    # The reward model's many small ridge solves run several times faster on one BLAS thread here.
    with threadpool_limits(1):
        records = _estimate_over_seeds(contexts, seeds, sizes)
    return {"seeds": seeds, "sizes": sizes, "feedbacks": feedbacks, "gamma": gamma,
            "floor": floor, "logging_cost_weight": LOGGING_COST_WEIGHT,
            "targets": list(contexts.targets), "summary": summarise(records), "records": records}


def _estimate_over_seeds(contexts: Contexts, seeds: int, sizes: list[int]) -> list[dict]:
    records = []
    for seed in tqdm(range(seeds), desc="ope-study", unit="seed"):
        for n in sizes:
            log, kept = draw_log(contexts, n, seed)
            for name, target in contexts.targets.items():
                target = target[kept]
                truth = float((target * contexts.truth[kept]).sum(axis=1).mean())
                for e in estimate_all(log, target):
                    records.append({"seed": seed, "n": n, "target": name, "estimator": e.estimator, "truth": truth,
                                    "value": e.value, "low": e.low, "high": e.high, "ess": e.ess, "kept": e.n})
    return records


def summarise(records: list[dict]) -> list[dict]:
    """Per estimator and log size: interval coverage, mean absolute error, mean interval width and
    the effective sample size's share of the log, over every seed and target."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in records:
        groups.setdefault((r["estimator"], r["n"]), []).append(r)
    return [{
        "estimator": estimator, "n": n,
        "coverage": float(np.mean([r["low"] <= r["truth"] <= r["high"] for r in rs])),
        "mae": float(np.mean([abs(r["value"] - r["truth"]) for r in rs])),
        "width": float(np.mean([r["high"] - r["low"] for r in rs])),
        "ess_share": float(np.mean([r["ess"] / r["kept"] for r in rs])),
    } for (estimator, n), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


def run_ope_study(seeds: int, sizes: list[int], feedbacks: int, floor: float | None, json_path: Path) -> int:
    """The ope-study command: run, print the table, write the JSON."""
    from simulator.runs import write_json

    result = run_study(seeds, sizes, feedbacks, floor)
    write_json(json_path, result)
    print(f"\nope-study: {seeds} seeds, logging policy = the service's exploration after {feedbacks} feedbacks "
          f"(γ={result['gamma']:.0f}, floor {result['floor']}), {len(result['targets'])} targets: "
          f"{', '.join(result['targets'])}")
    print(f"{'estimator':>10}{'events':>9}{'coverage':>10}{'MAE':>9}{'width':>9}{'ESS/n':>8}")
    for row in result["summary"]:
        print(f"{row['estimator']:>10}{row['n']:>9}{row['coverage']:>10.1%}{row['mae']:>9.4f}{row['width']:>9.4f}"
              f"{row['ess_share']:>8.1%}")
    print(f"\nJSON: {json_path}")
    return 0
