"""`banditroute replicas`, the README's one command for PostgreSQL and several replicas here: the simulator's
traffic goes through all of them and its report comes back whole."""

from __future__ import annotations

import json
import uuid

import pytest

from simulator.replicas import run_replicas

pytestmark = pytest.mark.slow


def test_the_simulator_drives_two_replicas_on_one_database(postgres_server, tmp_path, monkeypatch, capsys):
    from simulator.postgres import create_database, drop_database

    monkeypatch.chdir(tmp_path)  # the simulator's MLflow run lands here
    monkeypatch.setenv("BANDITROUTE_API_KEY", "")  # the command sets it; undone after, so later tests never see it
    name = f"replicas_{uuid.uuid4().hex[:12]}"
    try:
        assert run_replicas(2, 200, 1, create_database(postgres_server, name), False, tmp_path / "run.json") == 0
    finally:
        drop_database(postgres_server, name)
    printed = capsys.readouterr().out
    assert printed.count("  replica ") == 2 and "--addr 127.0.0.1:" in printed
    report = json.loads((tmp_path / "run.json").read_text())
    assert report["driven"].startswith("gRPC at 127.0.0.1:") and report["driven"].count(",") == 1
    bandit = report["policies"]["bandit"]
    assert bandit["safety_violations"] == 0 and bandit["refused"] == 0 and bandit["cost_usd"] > 0
