"""The service's own log as bandit data: exported, read back, and evaluated off-policy."""

from __future__ import annotations

import numpy as np
import pytest

from learners.logged import (action_space, bandit_log, cost_matrix, export_events, read_events, snapshot_policy,
                             target_probabilities, write_events)
from learners.ope import estimate_all, ips, snips
from learners.policies import AlwaysCheapest
from router.cli.main import main
from router.domain.types import FeedbackRequest
from simulator.ope_study import run_study
from simulator.world import expected_grade
from tests.conftest import user_request

PROMPTS = [
    "Write a Python function that merges two sorted lists",
    "Explain the difference between TCP and UDP",
    "Summarise the plot of Hamlet in three sentences",
    "Refactor this Java class to use dependency injection",
    "What is the capital of Australia?",
    "Draft a polite email declining a meeting",
]


@pytest.fixture
def logged(tmp_path, make_service):
    """A service's data dir after routes and feedback (one route unanswered, one served from the cache)."""
    service = make_service(tmp_path)
    qualities = {}
    for i, text in enumerate(PROMPTS):
        d = service.route(user_request(text))
        if i == 0:
            continue  # no feedback: not an event
        service.feedback(FeedbackRequest(d.decision_id, 0.8 + i / 50, 100, 200, response_text=f"answer {i}"))
        qualities[d.decision_id] = 0.8 + i / 50
    repeat = service.route(user_request(PROMPTS[4]))
    assert repeat.cache is not None
    service.feedback(FeedbackRequest(repeat.decision_id, 1.0))
    service.close()
    return tmp_path, qualities, service.registry


def test_every_feedback_event_is_exported_with_what_a_policy_needs_to_decide_again(logged):
    data_dir, qualities, _ = logged
    events = export_events(data_dir)
    assert dict(zip(events["decision_id"], events["quality"])) == pytest.approx(qualities)  # no cache hit
    row = events.iloc[0]
    assert len(row["embedding"]) == 384 and row["chosen"] in row["allowed"]
    assert sum(row["probabilities"]) == pytest.approx(1.0)
    assert row["propensity"] == pytest.approx(row["probabilities"][row["allowed"].index(row["chosen"])])
    assert row["reward"] == pytest.approx(row["quality"] - row["cost_weight"] * row["cost_norm"])


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_an_export_reads_back_as_written(logged, tmp_path, suffix):
    events = export_events(logged[0])
    back = read_events(write_events(events, tmp_path / f"events{suffix}"))
    assert back["decision_id"].tolist() == events["decision_id"].tolist()
    assert np.allclose(np.array(back["embedding"].tolist()), np.array(events["embedding"].tolist()))
    assert back["allowed"].tolist() == events["allowed"].tolist()


def test_the_logging_policy_evaluated_on_its_own_log_gets_the_logged_mean_reward(logged):
    data_dir, qualities, registry = logged
    events = export_events(data_dir)
    actions = action_space(events, registry)
    log = bandit_log(events, actions)
    logging = np.zeros(log.allowed.shape)
    for row, (models, probabilities) in enumerate(zip(events["allowed"], events["probabilities"])):
        logging[row, [actions.index(m) for m in models]] = probabilities
    assert ips(log, logging).value == pytest.approx(np.mean(list(qualities.values())))
    assert snips(log, logging).value == pytest.approx(np.mean(list(qualities.values())))


def test_a_target_policy_is_asked_event_by_event_and_costs_are_exact(logged):
    data_dir, _, registry = logged
    events = export_events(data_dir)
    actions = action_space(events, registry)
    target = target_probabilities(AlwaysCheapest(), events, registry, actions)
    costs = cost_matrix(events, registry, actions)
    assert np.allclose(target.sum(axis=1), 1.0)
    cheapest = np.where(np.array([[m in allowed for m in actions] for allowed in events["allowed"]]), costs, np.inf)
    assert (target.argmax(axis=1) == cheapest.argmin(axis=1)).all()
    estimates = {e.estimator: e for e in estimate_all(bandit_log(events, actions), target)}
    assert set(estimates) >= {"IPS", "SNIPS", "DR"}


def test_logs_export_command_writes_the_events(logged, tmp_path, capsys):
    out = tmp_path / "out.parquet"
    assert main(["logs", "export", "--data-dir", str(logged[0]), "--since", "1d", "--parquet", str(out)]) == 0
    assert len(read_events(out)) == len(logged[1])
    assert main(["logs", "export", "--data-dir", str(tmp_path / "nothing"), "--json", str(out)]) == 1
    assert "holds no decisions.sqlite" in capsys.readouterr().err


def test_the_ope_study_runs_and_reports_coverage_and_error_per_estimator():
    result = run_study(seeds=2, sizes=[150, 300], feedbacks=10)
    summary = {(row["estimator"], row["n"]): row for row in result["summary"]}
    assert set(summary) == {(e, n) for e in ("IPS", "SNIPS", "DR", "DM") for n in (150, 300)}
    assert all(0.0 <= row["coverage"] <= 1.0 and row["mae"] >= 0 for row in summary.values())
    assert len(result["records"]) == 2 * 2 * len(result["targets"]) * 4


def test_the_studys_truth_is_the_expected_clipped_grade():
    rng = np.random.default_rng(0)
    quality = np.array([0.3, 0.9, 0.99])
    monte_carlo = np.clip(quality + rng.normal(0, 0.08, (200_000, 3)), 0, 1).mean(axis=0)
    assert expected_grade(quality, 0.08) == pytest.approx(monte_carlo, abs=1e-3)


def test_a_policy_loaded_from_a_learner_snapshot_can_be_evaluated(logged):
    data_dir, _, registry = logged
    events = export_events(data_dir)
    actions = action_space(events, registry)
    snapshot, = (data_dir / "snapshots").glob("learner-*.vw")  # written when the service closed
    for source in (snapshot, data_dir / "snapshots"):
        policy = snapshot_policy(source, embedding_dim=len(events["embedding"][0]))
        assert policy.learner.updates == len(events)
        target = target_probabilities(policy, events, registry, actions, cost_weight=0.5)
        assert np.allclose(target.sum(axis=1), 1.0)
        assert np.isfinite([e.value for e in estimate_all(bandit_log(events, actions), target)]).all()
