"""Recommendations from a tenant's own ledger and feedback, each with its evidence, projected monthly
saving, confidence and risk. Three finders live here; the waste and the forecast have their own modules.

- cheaper_model: in a scope (team × category by default), a model the bandit explored that rates as
  well as the model mostly used there, for less. "As well" must hold twice: directly (Welch's
  non-inferiority test on the two models' ratings, at 97.5% one-sided, the usual convention) and off
  policy (the doubly robust estimate of the scope's quality, had the cheaper model answered wherever
  it was a candidate, may fall short of the logged quality by at most the margin at its point
  estimate). The direct test alone is fooled when the bandit sent the cheaper model the easy prompts;
  DR, reweighting by the logged propensities, is not. Suggests a route rule, never for security tasks.
- cache: identical prompts (same prompt_key) answered again by a model while an earlier answer the
  cache would have kept (rated at least its min_quality) was already there: what a longer TTL saves.
- output_cap: (team × feature) groups whose answers are most of their cost: what capping output at
  the group's median length would save. Capping cuts answers; no logged call shows a cut one.

Costs: the ledger's cost_usd of billed calls (settled by feedback, neither a cache hit nor closed
without a call); a projection re-prices each call's actual tokens at the registry's prices, exact for
those tokens (another model, or a capped answer, would write a different number). Monthly figures
scale the window's to DAYS_PER_MONTH. Security tasks are left out of every finder's evidence.

Confidence (in [0, 1]), per category:
- cheaper_model: the lower of the direct and the off-policy probabilities that the shortfall is
  within the margin (evidence.non_inferiority, evidence.normal_non_inferiority).
- cache: Wilson's lower bound of the share of missed repeats the suggested TTL would have served.
- output_cap: the probability that long answers rate no better than short ones by more than the
  margin (Welch); 0 when either side has fewer than two ratings.
Risk, what quality could be lost: cheaper_model low when even DR's lower bound is within the margin
of the logged quality, medium within three margins, high beyond; cache low, medium where the project
leaves the category uncached on purpose (categories.DEFAULT_CACHE_TTL_SECONDS is 0); output_cap
medium, high when long answers probably rate better.

Identity: a recommendation's id hashes its category, scope and proposal, so the same finding has the
same id on every run. Its evidence_key is a coarse fingerprint (qualities on a 0.05 grid, counts and
the saving by order of magnitude): one more similar call leaves it, a material change moves it, so a
dismissed recommendation can come back only when its evidence changed.

Pure: no storage, no clock; the caller passes the window's ledger entries and bandit events."""

from __future__ import annotations

import hashlib
import json
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from router.advice.evidence import (LEVEL, Interval, LoggedEvent, dr_quality, magnitude, mean_interval, non_inferiority,
                                    normal_non_inferiority, on_grid, wilson_low)
from router.domain.categories import DEFAULT_CACHE_TTL_SECONDS
from router.domain.errors import InvalidArgument
from router.domain.registry import Registry
from router.domain.rules import parse_rule
from router.domain.types import LedgerEntry

CHEAPER_MODEL, CACHE, OUTPUT_CAP = "cheaper_model", "cache", "output_cap"
LOW, MEDIUM, HIGH = "low", "medium", "high"
DAYS_PER_MONTH = 30
SAMPLE_IDS = 5  # decision ids kept per recommendation: enough to look a case up, few enough to show
SCOPE_FIELDS = ("team", "project", "feature", "user", "category")  # ledger fields a rule can match on


@dataclass(frozen=True)
class AdviceSettings:
    # Quality is in [0, 1]; the seeds' chat priors run from 0.82 (budget) to 0.96 (premium), so 0.03
    # is a fifth of the gap between tiers, and about what a rater cannot tell apart.
    margin: float = 0.03
    # Ratings per model (and DR events per scope) before a comparison counts: the t interval of a
    # bounded mean covers well from about 30.
    min_rated: int = 30
    min_monthly_saving_usd: float = 1.0  # below a dollar a month, a change is not worth reading
    ab_share: float = 0.2  # a suggested rule starts on a fifth of its traffic, as an A/B test
    cache_min_quality: float = 0.8  # the cache keeps answers rated at least this (CacheSettings' default)
    max_cache_hit_rate: float = 0.5  # repeat traffic the cache serves less than half of is a low hit rate
    min_repeats: int = 10  # fewer repeats than this is chance, not a pattern
    ttl_quantile: float = 0.9  # the suggested TTL covers this share of the repeats' gaps
    output_cost_share: float = 0.8  # output-heavy: answers are at least 80% of the group's cost
    min_calls: int = 20  # a group's calls before its median length means anything
    cap_quantile: float = 0.5  # the suggested cap: this quantile of the group's output tokens
    cap_tokens: int | None = None  # or this fixed cap

    def __post_init__(self) -> None:
        for name in ("margin", "min_monthly_saving_usd"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        for name in ("ab_share", "cache_min_quality", "max_cache_hit_rate", "ttl_quantile", "output_cost_share",
                     "cap_quantile"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.min_rated < 2 or self.min_repeats < 1 or self.min_calls < 1:
            raise ValueError("min_rated must be at least 2, min_repeats and min_calls at least 1")
        if self.cap_tokens is not None and self.cap_tokens < 1:
            raise ValueError(f"cap_tokens must be positive, got {self.cap_tokens}")


@dataclass(frozen=True)
class Evidence:
    calls: int  # the scope's calls in the window (security tasks left out)
    affected: int  # the billed calls the change would have touched
    # The affected calls' logged quality, and that of what the change would make them like (the
    # cheaper model's calls; answers already within the cap; the answers a cache would have served).
    current_quality: Interval | None
    proposed_quality: Interval | None
    sample_decision_ids: tuple[str, ...]
    details: dict = field(default_factory=dict)  # what only this category has


@dataclass(frozen=True)
class Projection:
    """A routing change as estimated before it is tried, to set beside the A/B measurement after."""

    quality_before: Interval  # the scope's logged quality, as routed
    quality_after: Interval  # the DR estimate under the change
    cost_before_usd: float  # over the window
    cost_after_usd: float
    ess: float  # DR's effective sample size: how many events the estimate really rests on
    estimator: str = "DR"


@dataclass(frozen=True)
class Recommendation:
    id: str
    category: str  # CHEAPER_MODEL, CACHE or OUTPUT_CAP
    title: str
    scope: dict[str, str]  # e.g. {"team": "search", "category": "chat"}
    evidence: Evidence
    current_monthly_usd: float
    projected_monthly_usd: float
    monthly_saving_usd: float
    confidence: float
    risk: str  # LOW, MEDIUM or HIGH
    evidence_key: str
    suggested_rule: dict | None = None  # in parse_rule's format
    projection: Projection | None = None  # a routing change's
    status: str = "pending"


def find_cheaper_models(entries: Iterable[LedgerEntry], events: Iterable[LoggedEvent], registry: Registry,
                        window_days: float, scope: Sequence[str] = ("team", "category"),
                        settings: AdviceSettings = AdviceSettings()) -> list[Recommendation]:
    """Per scope, each explored model as good as the scope's main model for less, by saving. `events`
    are the decision log's feedback events; only those of `entries` are read.

    The default scope is team × category: a model's quality differs most between kinds of task, and
    teams differ in prompts and in how they rate, while both are what a rule can match. Any of
    SCOPE_FIELDS may be given instead (feature × category, or category alone for the whole tenant)."""
    _check(window_days, scope)
    logged = {event[1].decision_id: event for event in events}
    found = []
    for values, group in _groups((e for e in entries if not e.security and not e.cache_hit), scope).items():
        found += _cheaper_in_scope(dict(zip(scope, values)), group, logged, registry, window_days, settings)
    return _ranked(found)


def _cheaper_in_scope(scope: dict[str, str], group: list[LedgerEntry], logged: Mapping[str, LoggedEvent],
                      registry: Registry, window_days: float, settings: AdviceSettings) -> list[Recommendation]:
    calls = Counter(e.model for e in group)
    current = max(calls, key=lambda model: (calls[model], model))  # ties by name: the same on every run
    rated: dict[str, list[LedgerEntry]] = {}
    for entry in filter(_rated, group):
        rated.setdefault(entry.model, []).append(entry)
    if len(rated.get(current, ())) < settings.min_rated:
        return []
    found = []
    for proposed in sorted(rated):
        if proposed != current and proposed in registry and len(rated[proposed]) >= settings.min_rated:
            found.append(_cheaper_model(scope, group, current, proposed, rated, logged, registry, window_days,
                                        settings))
    return [r for r in found if r is not None]


def _cheaper_model(scope: dict[str, str], group: list[LedgerEntry], current: str, proposed: str,
                   rated: dict[str, list[LedgerEntry]], logged: Mapping[str, LoggedEvent], registry: Registry,
                   window_days: float, settings: AdviceSettings) -> Recommendation | None:
    spec = registry[proposed]
    switched = [e for e in filter(_billed, group) if e.model != proposed and e.decision_id in logged
                and proposed in logged[e.decision_id][1].candidates]
    before = sum(e.cost_usd for e in filter(_billed, group))
    after = before - sum(e.cost_usd - spec.cost(e.input_tokens, e.output_tokens) for e in switched)
    current_q, proposed_q = ([e.quality for e in rated[m]] for m in (current, proposed))
    direct = non_inferiority(current_q, proposed_q, settings.margin)
    events = [logged[e.decision_id] for e in filter(_rated, group) if e.decision_id in logged]
    if (before <= after or _monthly(before - after, window_days) < settings.min_monthly_saving_usd
            or direct < 0.5 + LEVEL / 2 or len(events) < settings.min_rated):
        return None
    as_logged = [record.quality for _, _, _, record in events]
    estimate = dr_quality(events, proposed)
    off_policy = normal_non_inferiority(as_logged, estimate, settings.margin)
    if off_policy < 0.5:
        return None
    quality_before = mean_interval(as_logged)
    worst_loss = quality_before.mean - estimate.low
    risk = LOW if worst_loss <= settings.margin else MEDIUM if worst_loss <= 3 * settings.margin else HIGH
    current_interval, proposed_interval = mean_interval(current_q), mean_interval(proposed_q)
    evidence = Evidence(
        calls=len(group), affected=len(switched), current_quality=current_interval,
        proposed_quality=proposed_interval,
        sample_decision_ids=tuple(e.decision_id for e in rated[proposed][:SAMPLE_IDS]),
        details={"current_model": current, "proposed_model": proposed, "margin": settings.margin,
                 "direct_confidence": direct, "off_policy_confidence": off_policy},
    )
    projection = Projection(quality_before, Interval(estimate.value, estimate.low, estimate.high, estimate.n),
                            before, after, estimate.ess)
    title = f"{proposed} rates as well as {current} for {_described(scope)} at {1 - after / before:.0%} less"
    key = [f"current {on_grid(current_interval.mean)}", f"proposed low {on_grid(proposed_interval.low)}"]
    recommendation_id = _id(CHEAPER_MODEL, scope, proposed)
    # A model since removed from the registry cannot be a rule's fallback: the rule then has none.
    fallback = current if current in registry else ""
    rule = _route_rule(recommendation_id, title, scope, proposed, fallback, registry, settings.ab_share)
    return _recommendation(recommendation_id, CHEAPER_MODEL, title, scope, evidence, before, after, window_days,
                           min(direct, off_policy), risk, key, rule, projection)


def find_cacheable(entries: Iterable[LedgerEntry], window_days: float, ttl_seconds: Mapping[str, int] | None = None,
                   settings: AdviceSettings = AdviceSettings()) -> list[Recommendation]:
    """Per team × category, repeated prompts a model answered again though a cache-worthy answer to
    them was already there, by saving. `ttl_seconds`: the tenant's cache TTL per category (the
    project's defaults if None; a category left out is never cached, as in CacheSettings)."""
    _check(window_days, ())
    ttl = dict(DEFAULT_CACHE_TTL_SECONDS if ttl_seconds is None else ttl_seconds)
    eligible = (e for e in entries if e.prompt_key and not e.security)
    found = [_cacheable(dict(zip(("team", "category"), values)), group, ttl.get(values[1], 0), window_days, settings)
             for values, group in _groups(eligible, ("team", "category")).items()]
    return _ranked([r for r in found if r is not None])


def _cacheable(scope: dict[str, str], group: list[LedgerEntry], ttl: int, window_days: float,
               settings: AdviceSettings) -> Recommendation | None:
    repeats = _missed_repeats(group, settings.cache_min_quality)  # (repeat, stored answer or None)
    cacheable = [(e, answer) for e, answer in repeats if answer is not None]
    hits = sum(e.cache_hit for e in group)
    if not cacheable or hits / (hits + len(repeats)) > settings.max_cache_hit_rate:
        return None
    gaps = [e.created_at - answer.settled_at for e, answer in cacheable]
    suggested = max(ttl, 60 * math.ceil(float(np.quantile(gaps, settings.ttl_quantile)) / 60))
    saved = [(e, answer) for (e, answer), gap in zip(cacheable, gaps) if gap <= suggested]
    before = sum(e.cost_usd for e in filter(_billed, group))
    saving = sum(e.cost_usd for e, _ in saved)
    if len(saved) < settings.min_repeats or _monthly(saving, window_days) < settings.min_monthly_saving_usd:
        return None
    hit_rate = hits / (hits + len(repeats))
    own = [e.quality for e, _ in saved if _rated(e)]
    evidence = Evidence(
        calls=len(group), affected=len(saved), current_quality=mean_interval(own) if own else None,
        proposed_quality=mean_interval([answer.quality for _, answer in saved]),
        sample_decision_ids=tuple(e.decision_id for e, _ in saved[:SAMPLE_IDS]),
        details={"ttl_seconds": ttl, "suggested_ttl_seconds": suggested, "repeats": len(repeats),
                 "cache_hits": hits, "hit_rate": hit_rate, "distinct_prompts": len({e.prompt_key for e, _ in saved}),
                 "median_gap_seconds": float(np.median(gaps)),
                 "without_cacheable_answer": len(repeats) - len(cacheable)},
    )
    if suggested > ttl:
        change = f"a TTL of {suggested} s (now {ttl} s{', never cached' if ttl == 0 else ''}) would have served them"
    else:
        change = f"the TTL of {ttl} s covers them: check the cache is enabled and no rule bypasses it"
    title = f"{len(saved)} repeated prompts in {_described(scope)} were answered again; {change}"
    risk = MEDIUM if DEFAULT_CACHE_TTL_SECONDS.get(scope["category"], 0) == 0 else LOW
    key = [f"repeats {magnitude(len(saved))}", f"hit rate {on_grid(hit_rate, 0.1)}", f"ttl {ttl}"]
    return _recommendation(_id(CACHE, scope, "exact repeats"), CACHE, title, scope, evidence, before, before - saving,
                           window_days, wilson_low(len(saved), len(repeats)), risk, key)


def _missed_repeats(group: list[LedgerEntry], min_quality: float) -> list[tuple[LedgerEntry, LedgerEntry | None]]:
    """Each billed call of a prompt asked before in the window, with the latest earlier answer to it
    that the cache would have kept (a rated, error-free answer of at least min_quality, settled before
    the repeat came), or None."""
    by_key: dict[str, list[LedgerEntry]] = {}
    for entry in group:
        by_key.setdefault(entry.prompt_key, []).append(entry)
    repeats = []
    for calls in by_key.values():
        kept = sorted((e for e in calls if _rated(e) and not e.error and e.quality >= min_quality),
                      key=lambda e: e.settled_at)
        settled = [e.settled_at for e in kept]
        for entry in calls[1:]:
            if _billed(entry):
                stored = bisect_right(settled, entry.created_at)
                repeats.append((entry, kept[stored - 1] if stored else None))
    return sorted(repeats, key=lambda pair: (pair[0].created_at, pair[0].decision_id))


def find_output_heavy(entries: Iterable[LedgerEntry], registry: Registry, window_days: float,
                      settings: AdviceSettings = AdviceSettings()) -> list[Recommendation]:
    """Per team × feature, groups whose answers are most of their cost, with what a cap on output
    tokens would save, by saving. No rule can cap output: the caller sets max_tokens."""
    _check(window_days, ())
    eligible = (e for e in entries if _billed(e) and not e.security and e.model in registry)
    found = [_output_heavy(dict(zip(("team", "feature"), values)), group, registry, window_days, settings)
             for values, group in _groups(eligible, ("team", "feature")).items()]
    return _ranked([r for r in found if r is not None])


def _output_heavy(scope: dict[str, str], group: list[LedgerEntry], registry: Registry, window_days: float,
                  settings: AdviceSettings) -> Recommendation | None:
    priced = sum(registry[e.model].cost(e.input_tokens, e.output_tokens) for e in group)
    answers = priced - sum(registry[e.model].cost(e.input_tokens, 0) for e in group)
    if len(group) < settings.min_calls or priced == 0 or answers / priced < settings.output_cost_share:
        return None
    outputs = [e.output_tokens for e in group]
    cap = settings.cap_tokens or int(np.quantile(outputs, settings.cap_quantile, method="lower"))
    capped = [e for e in group if e.output_tokens > cap]
    saving = sum(registry[e.model].cost(e.input_tokens, e.output_tokens) - registry[e.model].cost(e.input_tokens, cap)
                 for e in capped)
    before = sum(e.cost_usd for e in group)
    if _monthly(saving, window_days) < settings.min_monthly_saving_usd:
        return None
    long_q = [e.quality for e in capped if _rated(e)]
    short_q = [e.quality for e in group if _rated(e) and e.output_tokens <= cap]
    confidence = non_inferiority(long_q, short_q, settings.margin) if min(len(long_q), len(short_q)) >= 2 else 0.0
    evidence = Evidence(
        calls=len(group), affected=len(capped), current_quality=mean_interval(long_q) if long_q else None,
        proposed_quality=mean_interval(short_q) if short_q else None,
        sample_decision_ids=tuple(e.decision_id for e in sorted(capped, key=lambda e: -e.output_tokens)[:SAMPLE_IDS]),
        details={"output_cost_share": answers / priced, "cap_tokens": cap,
                 "median_output_tokens": float(np.median(outputs)),
                 "median_input_tokens": float(np.median([e.input_tokens for e in group]))},
    )
    title = (f"Answers are {answers / priced:.0%} of the cost of {_described(scope)}; capping them at {cap} tokens "
             f"would cut it by {saving / priced:.0%}, and would cut {len(capped)} answers short")
    key = [f"output share {on_grid(answers / priced, 0.1)}", f"cap {magnitude(cap)}"]
    proposal = f"cap {settings.cap_tokens}" if settings.cap_tokens else f"cap at quantile {settings.cap_quantile}"
    return _recommendation(_id(OUTPUT_CAP, scope, proposal), OUTPUT_CAP, title, scope, evidence, before,
                           before - saving, window_days, confidence, HIGH if confidence < 0.5 else MEDIUM, key)


def _recommendation(recommendation_id: str, category: str, title: str, scope: dict[str, str], evidence: Evidence,
                    before_usd: float, after_usd: float, window_days: float, confidence: float, risk: str,
                    key: list[str], rule: dict | None = None, projection: Projection | None = None) -> Recommendation:
    current, projected = _monthly(before_usd, window_days), _monthly(after_usd, window_days)
    return Recommendation(
        id=recommendation_id, category=category, title=title, scope=scope, evidence=evidence,
        current_monthly_usd=current, projected_monthly_usd=projected, monthly_saving_usd=current - projected,
        confidence=confidence, risk=risk, evidence_key="|".join([*key, f"saving {magnitude(current - projected)}"]),
        suggested_rule=rule, projection=projection,
    )


def _route_rule(recommendation_id: str, title: str, scope: dict[str, str], model: str, fallback: str,
                registry: Registry, ab_share: float) -> dict | None:
    """A route rule in parse_rule's format for the scope's non-security traffic; None when the rules
    engine refuses it (a category from an old log it no longer knows)."""
    rule = {
        "id": f"advice-{recommendation_id}", "name": title[:200], "priority": 100, "ab_share": ab_share,
        "conditions": [{"field": name, "op": "eq", "value": value} for name, value in scope.items()]
        + [{"field": "security", "op": "eq", "value": False}],
        "action": {"type": "route", "model": model, "fallback": fallback},
    }
    try:
        parse_rule(rule, registry)
    except InvalidArgument:
        return None
    return rule


def _id(category: str, scope: dict[str, str], proposal: str) -> str:
    """Stable across runs: the category, the scope and what is proposed, hashed."""
    text = json.dumps([category, sorted(scope.items()), proposal])
    return f"{category}-{hashlib.blake2b(text.encode(), digest_size=6).hexdigest()}"


def _groups(entries: Iterable[LedgerEntry], fields: Sequence[str]) -> dict[tuple[str, ...], list[LedgerEntry]]:
    """Entries by their values of `fields`, each group in time order (ids break ties), so every result
    is the same whatever order the entries came in."""
    groups: dict[tuple[str, ...], list[LedgerEntry]] = {}
    for entry in sorted(entries, key=lambda e: (e.created_at, e.decision_id)):
        groups.setdefault(tuple(getattr(entry, name) for name in fields), []).append(entry)
    return dict(sorted(groups.items()))


def _billed(entry: LedgerEntry) -> bool:
    """A model was called and its cost reported: settled by feedback, not the cache, not left uncalled."""
    return entry.settled_at is not None and not entry.cache_hit and not entry.not_called


def _rated(entry: LedgerEntry) -> bool:
    """Billed with a real rating (an error is rated 0; an expiry's stand-in quality is no rating)."""
    return _billed(entry) and entry.quality is not None and not entry.expired


def _ranked(found: list[Recommendation]) -> list[Recommendation]:
    return sorted(found, key=lambda r: (-r.monthly_saving_usd, r.id))


def _monthly(usd: float, window_days: float) -> float:
    return usd * DAYS_PER_MONTH / window_days


def _described(scope: dict[str, str]) -> str:
    return ", ".join(f"{name} {value or '(none)'}" for name, value in scope.items())


def _check(window_days: float, scope: Sequence[str]) -> None:
    if not window_days > 0:
        raise ValueError(f"window_days must be positive, got {window_days}")
    unknown = [name for name in scope if name not in SCOPE_FIELDS]
    if unknown:
        raise ValueError(f"cannot scope by {', '.join(unknown)}; by any of {', '.join(SCOPE_FIELDS)}")
