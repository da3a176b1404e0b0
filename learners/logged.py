"""The service's own logs as bandit data: each feedback event's context, the models it could have
chosen, the one it chose with its probability, and the outcome; and any policy's probabilities
over the same events, for off-policy evaluation (learners/ope.py).

An event is exported with everything a policy needs to decide again (the routing embedding,
category, complexity, token counts, the allowed models and λ), so a target policy is evaluated by
asking it, event by event, what it would have done.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from learners.bandit import BanditPolicy
from learners.ope import BanditLog
from learners.policies import Policy, Situation
from learners.snapshots import SnapshotStore, snapshot_updates
from learners.vw_bandit import QualityLearner
from router.config import LearnerSettings
from router.domain.categories import CATEGORIES
from router.domain.registry import Registry, normalised_costs
from router.domain.types import Context, Decision, FeedbackRecord
from router.storage.sqlite.decisions import SQLiteDecisionLog

# A cache answer chose nothing and is left out; a rule's single choice stays in with probability 1,
# and the safety floor's choices with their probabilities among premium models.
COLUMNS = [
    "decision_id", "tenant_id", "created_at", "category", "complexity", "input_tokens", "output_tokens",
    "embedding", "allowed", "probabilities", "chosen", "propensity", "cost_weight", "quality", "cost_usd",
    "cost_norm", "reward", "error", "reason",
]


def export_events(data_dir: Path, since: float = 0.0, until: float = math.inf) -> pd.DataFrame:
    """Every feedback event of decisions made in [since, until), oldest first, from a data dir's log."""
    log = SQLiteDecisionLog(Path(data_dir) / "decisions.sqlite")
    try:
        rows = [_row(decision, context, record) for _, decision, context, record in log.feedback_after(0)
                if since <= decision.created_at < until and decision.cache is None]
    finally:
        log.close()
    return pd.DataFrame(rows, columns=COLUMNS)


def _row(decision: Decision, context: Context, record: FeedbackRecord) -> dict:
    chosen = decision.candidates.index(decision.model) if decision.model in decision.candidates else None
    probabilities = decision.probabilities or tuple(1.0 if i == chosen else 0.0 for i in range(len(decision.candidates)))
    return {
        "decision_id": decision.decision_id,
        "tenant_id": decision.tenant_id,
        "created_at": decision.created_at,
        "category": decision.category,
        "complexity": decision.complexity,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "embedding": np.asarray(context.embedding, dtype=np.float32).tolist(),
        "allowed": list(decision.candidates),
        "probabilities": list(probabilities),
        "chosen": decision.model,
        "propensity": decision.probability,
        "cost_weight": decision.cost_weight,
        "quality": record.quality,
        "cost_usd": record.actual_cost_usd,
        # quality − reward = λ·cost_norm: the normalised cost the reward was charged
        "cost_norm": (record.quality - record.reward) / decision.cost_weight if decision.cost_weight else float("nan"),
        "reward": record.reward,
        "error": record.error,
        "reason": decision.reason,
    }


def write_events(events: pd.DataFrame, path: Path, fmt: str | None = None) -> Path:
    """JSON (records, one object per event) or Parquet: `fmt`, or the file's suffix."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        events.to_parquet(path, index=False)
    elif fmt == "json":
        events.to_json(path, orient="records")
    else:
        raise ValueError(f"{path}: say json or parquet (or use one of those suffixes)")
    return path


def read_events(path: Path) -> pd.DataFrame:
    path = Path(path)
    events = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_json(path, orient="records")
    for column in ("embedding", "allowed", "probabilities"):
        events[column] = events[column].map(list)
    return events


def action_space(events: pd.DataFrame, registry: Registry) -> list[str]:
    """Every model the events allowed, in registry order (models since removed at the end)."""
    seen = {m for allowed in events["allowed"] for m in allowed}
    return [m for m in registry.ids if m in seen] + sorted(seen - set(registry.ids))


def bandit_log(events: pd.DataFrame, actions: list[str], reward: str = "quality") -> BanditLog:
    """The events as arrays: reward is a column (quality, reward or cost_usd)."""
    index = {m: i for i, m in enumerate(actions)}
    allowed = np.zeros((len(events), len(actions)), dtype=bool)
    for row, models in enumerate(events["allowed"]):
        allowed[row, [index[m] for m in models]] = True
    return BanditLog(
        allowed=allowed,
        chosen=np.array([index[m] for m in events["chosen"]], dtype=int),
        propensity=events["propensity"].to_numpy(dtype=float),
        reward=events[reward].to_numpy(dtype=float),
        features=features(events),
    )


def features(events: pd.DataFrame, projection_dims: int = 16, seed: int = 0) -> np.ndarray:
    """What the DR reward model reads: category, complexity, token sizes and a random projection
    of the routing embedding (fixed seed, so every fold and every run projects alike)."""
    category = np.array([[c == name for name in CATEGORIES] for c in events["category"]], dtype=float)
    embedding = np.array(events["embedding"].tolist(), dtype=float)
    projection = np.random.default_rng(seed).normal(size=(embedding.shape[1], projection_dims))
    projection /= np.sqrt(embedding.shape[1])
    sizes = np.log1p(events[["input_tokens", "output_tokens"]].to_numpy(dtype=float))
    return np.column_stack([category, events["complexity"].to_numpy(dtype=float), sizes, embedding @ projection])


def situations(events: pd.DataFrame, registry: Registry, cost_weight: float | None = None) -> Iterable[Situation]:
    """Each event as a policy saw it (with the event's own λ unless one is given); models no longer
    in the registry are left out of its candidates."""
    for row in events.itertuples(index=False):
        context = Context(np.asarray(row.embedding, dtype=np.float32), row.category, row.complexity,
                          int(row.input_tokens), int(row.output_tokens))
        candidates = tuple(registry[m] for m in row.allowed if m in registry)
        yield Situation(context, candidates, row.cost_weight if cost_weight is None else cost_weight)


def target_probabilities(policy: Policy, events: pd.DataFrame, registry: Registry, actions: list[str],
                         cost_weight: float | None = None) -> np.ndarray:
    """(n, K): the policy's probability of each action at each event."""
    index = {m: i for i, m in enumerate(actions)}
    target = np.zeros((len(events), len(actions)))
    for row, situation in enumerate(situations(events, registry, cost_weight)):
        choice = policy.choose(situation)
        columns = [index[m.id] for m in situation.candidates]
        target[row, columns] = choice.probabilities
    return target


def cost_matrix(events: pd.DataFrame, registry: Registry, actions: list[str], normalised: bool = False) -> np.ndarray:
    """(n, K): what each allowed model would have cost for the event's actual tokens (known exactly:
    prices are public), in USD or normalised by the most expensive allowed model as the reward is."""
    costs = np.zeros((len(events), len(actions)))
    index = {m: i for i, m in enumerate(actions)}
    for row, situation in enumerate(situations(events, registry)):
        context = situation.context
        models = list(situation.candidates)
        values = (normalised_costs(models, context.input_tokens, context.output_tokens) if normalised
                  else [m.cost(context.input_tokens, context.output_tokens) for m in models])
        costs[row, [index[m.id] for m in models]] = values
    return costs


def snapshot_policy(path: Path, embedding_dim: int, settings: LearnerSettings | None = None) -> BanditPolicy:
    """The bandit as a learner snapshot left it: a snapshot file, or the newest good one in a
    directory. It holds VW's weights; the neighbour memory the service rebuilds from its log at
    start is not in a snapshot, so this policy predicts from the weights alone."""
    settings = settings or LearnerSettings()
    path = Path(path)
    if path.is_dir():
        learner, _ = SnapshotStore(path, settings.keep_snapshots).load(
            lambda p: QualityLearner.from_settings(settings, embedding_dim, p))
    else:
        learner = QualityLearner.from_settings(settings, embedding_dim, path)
        learner.updates = snapshot_updates(path)
    return BanditPolicy(learner, settings)
