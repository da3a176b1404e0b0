"""Crashes and restarts: nothing a client saw acknowledged is lost, and the learner comes back as if
the crash had not happened; a damaged snapshot is passed over for an older one; SIGTERM drains."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from router.client.process import ServerProcess
from router.domain.types import FeedbackRequest
from simulator.loadtest import Acknowledgements, run_loadtest
from tests.conftest import new_service, user_request

pytestmark = pytest.mark.slow

PROMPTS = ["Write a Python function that merges two sorted lists.", "What is the capital of Portugal?",
           "Summarize the causes of the French Revolution.", "Write a haiku about autumn rain.",
           "Explain what a hash map is to a new programmer."]


# --- damaged snapshots --------------------------------------------------------------------------------


def feed(service, n: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        decision = service.route(user_request(PROMPTS[i % len(PROMPTS)] + f" ({i})"))
        service.feedback(FeedbackRequest(decision.decision_id, float(rng.uniform())))


def predictions(service) -> np.ndarray:
    models = list(service.registry)
    contexts = [context for _, _, context, _ in service.decision_log.feedback_after(0)]
    return np.array([service.learner.predict(context, models) for context in contexts])


DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "one flipped byte": lambda data: data[:100] + bytes([data[100] ^ 0xFF]) + data[101:],
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_snapshot_is_passed_over_for_the_previous_one_and_the_log_says_so(
        make_service, tmp_path, caplog, damage):
    crashed = make_service(tmp_path / "data", learner={"snapshot_every": 4})
    feed(crashed, 10)  # snapshots after feedback 4 and 8; the process dies without a last one
    shutil.copytree(tmp_path / "data", tmp_path / "intact")
    newest = max((tmp_path / "data" / "snapshots").glob("learner-*.vw"))
    newest.write_bytes(DAMAGE[damage](newest.read_bytes()))

    with caplog.at_level(logging.INFO):
        restarted = make_service(tmp_path / "data", learner={"snapshot_every": 4})
    assert f"learner snapshot {newest.name} is damaged" in caplog.text
    assert "learner restored from learner-000000000004-u4-" in caplog.text
    assert restarted.learner.updates == 10
    intact = make_service(tmp_path / "intact", learner={"snapshot_every": 4})
    np.testing.assert_allclose(predictions(restarted), predictions(intact), atol=1e-6)


def test_with_every_snapshot_damaged_the_learner_is_rebuilt_from_the_whole_log(make_service, tmp_path, caplog):
    crashed = make_service(tmp_path / "data", learner={"snapshot_every": 3})
    feed(crashed, 7)
    shutil.copytree(tmp_path / "data", tmp_path / "intact")
    for snapshot in (tmp_path / "data" / "snapshots").glob("learner-*.vw"):
        snapshot.write_bytes(b"not a model")
    with caplog.at_level(logging.INFO):
        restarted = make_service(tmp_path / "data", learner={"snapshot_every": 3})
    assert "replayed 7 feedback(s)" in caplog.text
    intact = make_service(tmp_path / "intact", learner={"snapshot_every": 3})
    np.testing.assert_allclose(predictions(restarted), predictions(intact), atol=1e-6)


# --- kill -9 and SIGTERM under load -------------------------------------------------------------------


def start_load(server: ServerProcess, acks: Acknowledgements, stop: threading.Event,
               reports: list | None = None) -> threading.Thread:
    """8 clients routing as fast as they can, 70% of the decisions fed back, until `stop`."""
    def run() -> None:
        report = run_loadtest(server.addr, 8, 0, 120, feedback_share=0.7, api_key=server.dev_key, tenant="acme",
                              deadline=10, stop=stop, acks=acks)
        if reports is not None:
            reports.append(report)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_for(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def logged(data_dir: Path) -> tuple[set[str], dict[str, tuple], int]:
    """What the decision log holds: decision ids, feedback by decision id, the last feedback's seq."""
    with sqlite3.connect(data_dir / "decisions.sqlite") as db:
        decisions = {row[0] for row in db.execute("SELECT decision_id FROM decisions")}
        feedback = {row[0]: row[1:] for row in db.execute(
            "SELECT decision_id, quality, input_tokens, output_tokens FROM feedback")}
        last_seq = db.execute("SELECT COALESCE(max(seq), 0) FROM feedback").fetchone()[0]
    return decisions, feedback, last_seq


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"learner": {"snapshot_every": 40}}))
    return path


def test_kill_9_under_load_loses_nothing_acknowledged_and_the_learner_comes_back_exactly(
        tmp_path, embedder, classifier, registry):
    data_dir, config = tmp_path / "data", config_file(tmp_path)
    acks, stop, reports = Acknowledgements(), threading.Event(), []
    with ServerProcess(data_dir, config) as server:
        load = start_load(server, acks, stop, reports)
        wait_for(lambda: len(acks.feedback) >= 150)  # past a few snapshots
        server.kill()  # SIGKILL: no drain, no last snapshot
        killed_at = (len(acks.routed), len(acks.feedback))
        time.sleep(1.0)  # the clients keep sending into the dead port
        stop.set()
        load.join()

    decisions, feedback, _ = logged(data_dir)
    routed, fed = set(acks.routed), {ack.decision_id: ack for ack in acks.feedback}
    assert routed <= decisions, f"{len(routed - decisions)} acknowledged decisions lost"
    for decision_id, ack in fed.items():
        assert feedback[decision_id] == (ack.quality, ack.input_tokens, ack.output_tokens)
    sent = {rpc: figures.sent for rpc, figures in reports[0].rpcs.items()}
    print(f"\nkill -9: sent {sent}; acknowledged before the kill {killed_at[0]} routes, {killed_at[1]} feedbacks; "
          f"found after it {len(decisions)} decisions and {len(feedback)} feedbacks, every acknowledged one among them")

    unanswered = sorted(routed - set(feedback))[:20]
    with ServerProcess(data_dir, config) as server, server.client() as client:
        for decision_id in unanswered:  # feedback for decisions made before the crash is accepted
            assert client.feedback(FeedbackRequest(decision_id, 0.6, output_tokens=120))["actual_cost_usd"] > 0
        assert server.stop() == 0

    _, _, last_seq = logged(data_dir)
    newest = max((data_dir / "snapshots").glob("learner-*.vw"))
    assert newest.name.startswith(f"learner-{last_seq:012d}-")  # the clean stop flushed a snapshot
    # The learner the crash and restart left, against one that learned the whole log in one go.
    shutil.copytree(data_dir, tmp_path / "replayed", ignore=shutil.ignore_patterns("snapshots"))
    survivor = new_service(data_dir, embedder, classifier, registry, learner={"snapshot_every": 40})
    uninterrupted = new_service(tmp_path / "replayed", embedder, classifier, registry,
                                learner={"snapshot_every": 10**9})
    try:
        assert survivor.learner.updates == uninterrupted.learner.updates == last_seq
        np.testing.assert_allclose(predictions(survivor), predictions(uninterrupted), atol=1e-6)
    finally:
        survivor.close(), uninterrupted.close()


def test_sigterm_under_load_finishes_in_flight_calls_flushes_a_snapshot_and_exits_0(tmp_path):
    data_dir = tmp_path / "data"
    acks, stop = Acknowledgements(), threading.Event()
    with ServerProcess(data_dir, config_file(tmp_path)) as server:
        load = start_load(server, acks, stop)
        wait_for(lambda: len(acks.feedback) >= 60)
        assert server.stop() == 0
        time.sleep(0.5)
        stop.set()
        load.join()
        assert any("stopped cleanly" in line for line in server.output)

    decisions, feedback, last_seq = logged(data_dir)
    assert set(acks.routed) <= decisions
    assert {ack.decision_id for ack in acks.feedback} <= set(feedback)
    newest = max((data_dir / "snapshots").glob("learner-*.vw"))
    assert newest.name.startswith(f"learner-{last_seq:012d}-")
