"""The scenario simulator: reproducible, the oracle unbeaten, the safety floor held in every scenario."""

import json

import pytest

from simulator.routers import InProcessRouter
from simulator.runs import local_service
from simulator.scenarios import NEW_MODEL_ID, SCENARIOS
from simulator.simulate import simulate


def run(tmp_path, reader, scenario, requests=200, seed=2):
    service = local_service(tmp_path / f"{scenario}-{seed}-{requests}", reader, seed)
    try:
        return simulate(service, InProcessRouter(service), scenario, requests, seed), service
    finally:
        service.close()


def test_the_same_seed_gives_the_same_json(tmp_path, static_reader):
    first, _ = run(tmp_path / "a", static_reader, "steady", requests=120)
    again, _ = run(tmp_path / "b", static_reader, "steady", requests=120)
    assert json.dumps(first.report, sort_keys=True) == json.dumps(again.report, sort_keys=True)
    other, _ = run(tmp_path / "c", static_reader, "steady", requests=120, seed=3)
    assert json.dumps(other.report, sort_keys=True) != json.dumps(first.report, sort_keys=True)


@pytest.fixture(scope="module")
def every_scenario(tmp_path_factory, static_reader):
    root = tmp_path_factory.mktemp("scenarios")
    return {name: run(root, static_reader, name) for name in SCENARIOS}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_bandit_never_breaks_the_safety_floor(every_scenario, scenario):
    result, _ = every_scenario[scenario]
    assert result.report["policies"]["bandit"]["safety_violations"] == 0


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_policy_beats_the_oracle_on_expected_reward(every_scenario, scenario):
    result, _ = every_scenario[scenario]
    oracle = sum(result.traces["oracle"].reward)
    for name, trace in result.traces.items():
        assert sum(trace.reward) <= oracle + 1e-9, name
        assert result.report["policies"][name]["regret_vs_oracle"] >= -1e-12


def test_the_report_holds_the_contract_fields(every_scenario):
    report = every_scenario["steady"][0].report
    assert set(report["policies"]) == {"bandit", "random", "always-premium", "always-cheapest", "static-rules", "oracle"}
    for figures in report["policies"].values():
        assert {"cost_usd", "mean_quality", "savings_vs_premium", "quality_vs_premium", "regret_vs_oracle",
                "safety_violations", "model_share"} <= set(figures)
        assert sum(figures["model_share"].values()) == pytest.approx(1.0)
    assert report["policies"]["always-premium"]["savings_vs_premium"] == 0.0


def test_scenario_changes_reach_the_service_and_the_world(every_scenario):
    price, service = every_scenario["price_change"]
    assert price.report["events"][0]["step"] == 100
    assert service.registry["kimi-k2"].output_per_1m == 12.0
    new, service = every_scenario["new_model"]
    assert NEW_MODEL_ID in service.registry
    assert NEW_MODEL_ID not in new.traces["oracle"].models[:100]
    assert NEW_MODEL_ID in new.traces["oracle"].models[100:]
    outage, _ = every_scenario["outage"]
    assert [e["step"] for e in outage.report["events"]] == [80, 120]
    down = outage.traces["oracle"].models[80:120]
    assert "deepseek-chat" not in down  # the oracle knows a failing model is worth nothing


@pytest.mark.slow
def test_driving_a_running_server_gives_the_in_process_results(tmp_path, static_reader):
    import yaml

    from router.client.process import ServerProcess
    from simulator.routers import RemoteRouter

    seed = 5
    local, _ = run(tmp_path / "local", static_reader, "outage", requests=80, seed=seed)
    config = tmp_path / "server.yaml"
    # The same reading as static_reader (no MiniLM second look) and the same exploration seed.
    config.write_text(yaml.safe_dump({"security_recheck_above": 2, "learner": {"seed": seed}}))
    service = local_service(tmp_path / "classify", static_reader, seed)
    with ServerProcess(tmp_path / "server-data", config) as server, server.client() as client:
        remote = simulate(service, RemoteRouter(client), "outage", 80, seed)
    service.close()
    assert remote.report["policies"] == local.report["policies"]


def test_with_the_cache_repeats_are_served_free_and_every_served_answer_is_checked(tmp_path, static_reader):
    service = local_service(tmp_path, static_reader, 5)
    try:
        result = simulate(service, InProcessRouter(service), "steady", 400, 5, cache=True)
    finally:
        service.close()
    cache = result.report["cache"]
    assert cache["hits"] > 0 and cache["exact_hits"] <= cache["hits"]
    assert 0 <= cache["false_hits"] <= cache["hits"] and cache["saved_usd"] > 0
    # A hit costs nothing: at least that many of the bandit's calls cost 0.
    assert result.traces["bandit"].cost.count(0.0) >= cache["hits"]
