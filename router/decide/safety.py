"""The safety floor: a security task only ever gets a premium model.

It is a rule, not something learned: the policy narrows its candidates with it before anything
else chooses, so no later step can pick below it.
"""

from __future__ import annotations

from router.domain.registry import ModelSpec

FLOOR_TIER = "premium"


def floor_candidates(candidates: list[ModelSpec], security: bool) -> list[ModelSpec]:
    if not security:
        return candidates
    return [m for m in candidates if m.tier == FLOOR_TIER]
