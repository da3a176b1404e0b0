"""The model registry under its first import path, kept for users and notebooks; it lives in
router/domain/registry.py."""

from router.domain.registry import PLAN_PROVIDER, TIERS, ModelSpec, PlanSpec, Registry, normalised_costs, plan_arm

__all__ = ["PLAN_PROVIDER", "TIERS", "ModelSpec", "PlanSpec", "Registry", "normalised_costs", "plan_arm"]
