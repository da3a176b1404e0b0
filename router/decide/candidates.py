"""Which models may answer a request, in order of authority: the caller's constraints and the
safety floor, then the tenant's routing rules, then its budgets; the bandit chooses among the rest."""

from __future__ import annotations

from dataclasses import dataclass

from router.decide.budgets import BudgetCheck
from router.decide.safety import floor_candidates
from router.domain.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from router.domain.registry import TIERS, ModelSpec, Registry
from router.domain.rules import Outcome
from router.domain.types import BudgetMode, Constraints, Context, Reason


def eligible_models(registry: Registry, context: Context, constraints: Constraints) -> list[ModelSpec]:
    """The models the caller allows that can hold the prompt and stay under its cost cap."""
    models = [registry[i] for i in constraints.allowed_models or registry.ids]
    if constraints.allowed_providers:
        models = [m for m in models if m.provider in constraints.allowed_providers]
        if not models:
            raise InvalidArgument("constraints.allowed_providers",
                                  f"no allowed model is of provider(s) {', '.join(constraints.allowed_providers)}")
    tokens_in, tokens_out = context.input_tokens, context.output_tokens
    models = [m for m in models if m.fits(tokens_in, tokens_out)]
    if not models:
        raise InvalidArgument(
            "messages",
            f"the prompt (~{tokens_in} tokens, {tokens_out} expected out) fits no allowed model's context window",
        )
    if constraints.max_cost_usd is not None:
        cheapest = min(m.cost(tokens_in, tokens_out) for m in models)
        models = [m for m in models if m.cost(tokens_in, tokens_out) <= constraints.max_cost_usd]
        if not models:
            raise InvalidArgument(
                "constraints.max_cost_usd",
                f"no allowed model costs under ${constraints.max_cost_usd:.6f} for this prompt "
                f"(cheapest: ${cheapest:.6f})",
            )
    return models


def candidate_models(registry: Registry, context: Context, security: bool, constraints: Constraints) -> list[ModelSpec]:
    """Eligible models narrowed by the safety floor; refused when the floor leaves none."""
    eligible = eligible_models(registry, context, constraints)
    candidates = floor_candidates(eligible, security)
    if not candidates:
        raise InvalidArgument(
            "constraints",
            "a security task needs a premium model and the constraints allow none "
            f"(allowed: {', '.join(m.id for m in eligible)})",
        )
    return candidates


def escalation(candidates: list[ModelSpec], below: ModelSpec | None, category: str) -> tuple[int, list[int]]:
    """Where to go when `below`'s answer fell short: the index of the weakest candidate stronger than
    it, and the indexes of every stronger one, weakest first (the fallbacks). Stronger is a higher
    tier, then a higher prior for the category, then a higher price. A model gone from the registry
    (None) is weaker than any."""
    def strength(m: ModelSpec) -> tuple:
        return TIERS.index(m.tier), m.prior(category), m.output_per_1m

    stronger = sorted((i for i, m in enumerate(candidates) if below is None or strength(m) > strength(below)),
                      key=lambda i: strength(candidates[i]))
    if not stronger:
        raise FailedPrecondition(f"nothing to escalate to: no model this request allows is stronger than {below.id} "
                                 f"for {category} (allowed: {', '.join(m.id for m in candidates)})")
    return stronger[0], stronger


def reason_for(security: bool, n_candidates: int) -> str:
    if security:
        return Reason.SAFETY_FLOOR
    if n_candidates == 1:
        return Reason.ONLY_MODEL_ALLOWED
    return Reason.BANDIT


@dataclass(frozen=True)
class Steered:
    """The candidates after the tenant's rules: a route rule leaves its model (then its fallback)."""

    candidates: tuple[ModelSpec, ...]
    rule_id: str = ""
    routed: bool = False  # a route rule decided: the bandit has no choice to make


def steer(candidates: list[ModelSpec], outcome: Outcome) -> Steered:
    """Apply a route or restrict_tiers rule, within the candidates the constraints and the safety floor
    left: a rule naming a model the floor excludes (a security task below premium) has no effect."""
    if outcome.route is not None:
        targets = [m for m in candidates if m.id in (outcome.route.model, outcome.route.fallback)]
        targets.sort(key=lambda m: m.id != outcome.route.model)  # the rule's model first, then its fallback
        if targets:
            return Steered(tuple(targets), outcome.route_rule, routed=True)
    if outcome.tiers:
        in_tiers = [m for m in candidates if m.tier in outcome.tiers]
        if in_tiers:
            return Steered(tuple(in_tiers), outcome.tiers_rule)
    return Steered(tuple(candidates))


def within_budget(steered: Steered, context: Context, check: BudgetCheck, security: bool,
                  overdraft_allowed: bool) -> tuple[list[ModelSpec], str]:
    """The candidates a tenant's budgets allow, and the budget mode that shaped them.

    Economy mode leaves premium models out, unless a rule chose the model or nothing else is
    allowed; the safety floor keeps a security task on premium models regardless. At a hard limit
    only models whose estimate fits the headroom remain; a security task with none may overdraw.
    """
    candidates, mode = list(steered.candidates), BudgetMode.NORMAL
    if check.economy and not security and not steered.routed:
        cheaper = [m for m in candidates if m.tier != "premium"]
        if cheaper:
            candidates, mode = cheaper, BudgetMode.ECONOMY
    tokens = context.input_tokens, context.output_tokens
    fitting = [m for m in candidates if m.cost(*tokens) <= check.headroom]
    if fitting:
        return fitting, mode
    if security and overdraft_allowed:
        return candidates, BudgetMode.OVERDRAFT
    cheapest = min(m.cost(*tokens) for m in candidates)
    raise ResourceExhausted(
        f"budget exhausted: {check.tightest.describe()}; the cheapest allowed model would cost ~${cheapest:.4f}"
    )
