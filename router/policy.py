"""Which models may answer a request: the caller's constraints, then the safety floor."""

from __future__ import annotations

from router.errors import InvalidArgument
from router.registry import ModelSpec, Registry
from router.safety import floor_candidates
from router.types import Constraints, Context, Reason


def eligible_models(registry: Registry, context: Context, constraints: Constraints) -> list[ModelSpec]:
    """The models the caller allows that can hold the prompt and stay under its cost cap."""
    models = [registry[i] for i in constraints.allowed_models or registry.ids]
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


def reason_for(security: bool, n_candidates: int) -> str:
    if security:
        return Reason.SAFETY_FLOOR
    if n_candidates == 1:
        return Reason.ONLY_MODEL_ALLOWED
    return Reason.BANDIT
