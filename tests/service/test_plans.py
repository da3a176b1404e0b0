"""Draft→review plans (seed 002, pattern 2): for the categories a tenant marks as complex, a plan (a
cheaper model drafts, a stronger one reviews) is one more choice beside single models, priced as both
calls, never offered for a security task; its feedback prices both calls and teaches the bandit
whether the plan beats a single premium call there."""

from __future__ import annotations

import pytest

from router.domain.categories import CATEGORIES
from router.domain.registry import PlanSpec, Registry, plan_arm
from router.domain.types import Constraints, FeedbackRequest
from simulator.simulate import read_request
from tests.conftest import user_request

PLAN = "kimi-k2+claude-opus-4"
TASK = ("Design and implement a spreadsheet formula evaluator with dependency tracking and cycle detection, "
        "with tests.")
EVERYTHING_COMPLEX = {"acme": {"draft_review": list(CATEGORIES)}}


def test_a_plan_is_priced_as_both_calls_and_as_good_a_priori_as_its_reviewer(registry):
    drafter, reviewer = registry["kimi-k2"], registry["claude-opus-4"]
    arm = plan_arm(PlanSpec("kimi-k2", "claude-opus-4", review_output_share=0.25), drafter, reviewer)
    # 1,000 tokens in, 2,000 out: the draft, then a review reading prompt and draft, writing a quarter.
    both = drafter.cost(1000, 2000) + reviewer.cost(3000, 500)
    assert arm.cost(1000, 2000) == pytest.approx(both)
    assert arm.cost(1000, 2000) < reviewer.cost(1000, 2000)  # output-heavy: cheaper than premium alone
    assert arm.prior("complex_implementation") == reviewer.prior("complex_implementation")
    assert (arm.id, arm.steps, arm.tier) == (PLAN, ("kimi-k2", "claude-opus-4"), "premium")


def test_a_plan_naming_an_unknown_model_is_refused(registry):
    with pytest.raises(ValueError, match="'gpt-9' is not in the registry"):
        Registry(list(registry), registry.baseline_model, (PlanSpec("gpt-9", "claude-opus-4"),))


def test_plans_are_offered_only_for_the_categories_the_tenant_marks(make_minilm_service):
    # MiniLM: TASK's category comes from its wording alone (no keyword rule names it).
    marked = make_minilm_service(tenants={"acme": {"draft_review": ["complex_implementation"]}})
    decision = marked.route(user_request(TASK))
    assert decision.category == "complex_implementation" and PLAN in decision.candidates
    assert PLAN not in marked.route(user_request("What is the capital of Peru?")).candidates
    assert PLAN not in marked.route(user_request(TASK, tenant="globex")).candidates  # not its choice


def test_a_security_task_or_constraints_without_a_step_get_no_plan(make_service):
    service = make_service(tenants=EVERYTHING_COMPLEX)
    assert PLAN not in service.route(user_request(TASK, task_hint="security")).candidates
    only_opus = Constraints(allowed_models=("claude-opus-4", "gpt-4o"))
    assert PLAN not in service.route(user_request(TASK, constraints=only_opus)).candidates


def test_a_chosen_plan_names_its_steps_and_its_feedback_prices_both_calls(make_service):
    rule = {"id": "plan-it", "conditions": [{"field": "prompt", "op": "contains", "value": "formula evaluator"}],
            "action": {"type": "route", "model": PLAN}}
    service = make_service(tenants={"acme": {"draft_review": list(CATEGORIES), "rules": [rule]}})
    decision = service.route(user_request(TASK))
    assert decision.model == PLAN and decision.plan == (("kimi-k2", "groq"), ("claude-opus-4", "anthropic"))
    assert PLAN not in decision.fallbacks
    updates = service.learner.updates
    record = service.feedback(FeedbackRequest(decision.decision_id, 0.9, input_tokens=200, output_tokens=900,
                                              review_input_tokens=1100, review_output_tokens=300))
    registry = service.registry
    assert record.actual_cost_usd == pytest.approx(registry["kimi-k2"].cost(200, 900)
                                                   + registry["claude-opus-4"].cost(1100, 300))
    assert service.learner.updates == updates + 1


def test_the_bandit_learns_how_good_a_plan_is_where_it_is_offered(make_service):
    service = make_service(tenants=EVERYTHING_COMPLEX)
    context = read_request(service, user_request(TASK)).situation.context
    arm, premium = service.registry[PLAN], service.registry["claude-opus-4"]
    before = service.learner.predict(context, [arm, premium])
    for _ in range(30):
        service.learner.learn(context, arm, 1.0, 0.5)
        service.learner.learn(context, premium, 0.6, 0.5)
    after = service.learner.predict(context, [arm, premium])
    assert after[0] > before[0] and after[1] < before[1] and after[0] > after[1]
