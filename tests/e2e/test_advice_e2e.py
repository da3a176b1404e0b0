"""End to end: the cost advisor over gRPC and from the CLI, against the running server: a recommendation
found in the tenant's own traffic, applied with an A/B share, then measured on the rule's two arms."""

from __future__ import annotations

import random
import time

import pytest

from router.cli.main import main as cli
from router.domain.types import Constraints, FeedbackRequest
from tests.e2e.cost_control_helpers import ask

pytestmark = pytest.mark.slow

TENANT = "advised"
TWO = Constraints(allowed_models=("gpt-4o", "gpt-4o-mini"))


def chat(client, calls: int, seed: int) -> None:
    """Team search's chitchat between two models rated alike, with cost left out of the choice (λ 0), so
    the bandit mostly takes the premium one and explores the cheaper one."""
    rng = random.Random(seed)
    for n in range(calls):
        decision = client.route(ask(TENANT, f"Hi! How are you doing today, friend {seed}-{n}?", team="search",
                                    constraints=TWO, cost_weight=0.0))
        quality = min(1.0, max(0.0, rng.gauss(0.9, 0.05)))
        client.feedback(FeedbackRequest(decision["decision_id"], quality, input_tokens=300, output_tokens=200))


def test_advise_lists_applies_on_a_share_and_measures_what_the_rule_saved(server, client, capsys, monkeypatch):
    monkeypatch.setenv("BANDITROUTE_API_KEY", server.dev_key)
    chat(client, 200, seed=1)
    window = ["--addr", server.addr, "--tenant", TENANT, "--since", "1h"]
    assert cli(["advise", *window]) == 0
    out = capsys.readouterr().out
    found = [r for r in client.recommendations(TENANT, since=time.time() - 3600) if r["category"] == "cheaper_model"]
    top = max(found, key=lambda r: r["monthly_saving_usd"])
    assert top["id"] in out and "gpt-4o-mini rates as well as gpt-4o for team search" in out
    assert "estimate before (DR" in out
    assert cli(["advise", "apply", top["id"], "--ab-share", "0.5", *window]) == 0
    assert "[testing]" in capsys.readouterr().out
    rule, = [r["rule"] for r in client.list_rules(TENANT) if r["rule"]["id"] == top["suggested_rule"]["id"]]
    assert rule["ab_share"] == 0.5
    chat(client, 40, seed=2)
    assert cli(["advise", *window]) == 0
    assert "measured since applied (A/B share 50%)" in capsys.readouterr().out
    measured = next(r for r in client.recommendations(TENANT, since=time.time() - 3600)
                    if r["id"] == top["id"])["measured"]
    assert measured["treated"]["calls"] + measured["control"]["calls"] == 40
    assert measured["saved_usd"] > 0
