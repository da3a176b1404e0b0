"""What the CLI prints about a tenant's calls, from a real server: the service's own words for a
decision's reason and budget mode, in the route answer and the ledger alike, and counts as numbers."""

from __future__ import annotations

import csv
import json

import pytest
from google.protobuf import json_format

from router.cli.main import main as cli
from router.domain.types import FeedbackRequest, Metadata, Reason
from router.generated import router_pb2 as pb
from router.transport.server import RunningServer
from router.transport.wire import route_response_to_dict
from tests.conftest import user_request

QUESTION = "What is the default port of PostgreSQL?"
REASONS = [value for name, value in vars(Reason).items() if name.isupper()]


@pytest.fixture
def server(make_service):
    running = RunningServer(make_service(sqlite_synchronous="NORMAL", auth={"enabled": False}), 0)
    yield running
    running.stop()


def read(capsys):
    return json.loads(capsys.readouterr().out)


def ask(server, *command: str) -> list[str]:
    return [*command, "--addr", f"127.0.0.1:{server.port}", "--tenant", "acme"]


def answered_and_served_from_cache(service):
    """A question answered well, with its answer; then the same question, answered by the cache."""
    first = service.route(user_request(QUESTION))
    service.feedback(FeedbackRequest(first.decision_id, 0.95, response_text="5432."))
    hit = service.route(user_request(QUESTION))
    assert hit.cache is not None
    return first, hit


def test_cli_json_gives_counts_as_numbers(server, capsys):
    service = server.service
    service.put_rule("acme", {"id": "mobile-cheap", "conditions": [{"field": "team", "op": "eq", "value": "mobile"}],
                              "action": {"type": "route", "model": "gpt-4o-mini"}})
    for i, team in enumerate(["web", "web", "mobile"]):
        decision = service.route(user_request(f"Suggest a name for a pet turtle, idea {i}.", metadata=Metadata(team)))
        service.feedback(FeedbackRequest(decision.decision_id, 0.9, input_tokens=50, output_tokens=200))

    assert cli(ask(server, "stats", "--group-by", "team", "--json")) == 0
    stats = read(capsys)
    total = stats["total"]
    assert (total["calls"], total["settled"], total["pending"], total["cache_hits"]) == (3, 3, 0, 0)
    assert sum(total["model_mix"].values()) == 3 and total["model_mix"]["gpt-4o-mini"] >= 1
    assert {group["value"]: group["figures"]["calls"] for group in stats["groups"]} == {"web": 2, "mobile": 1}

    assert cli(ask(server, "rules", "list")) == 0
    [state] = read(capsys)["rules"]
    assert (state["rule"]["id"], state["matched"], state["applied"]) == ("mobile-cheap", 1, 1)


def test_an_exported_cache_hit_is_settled_when_served_and_every_row_names_its_budget_mode(server, capsys, tmp_path):
    first, hit = answered_and_served_from_cache(server.service)

    assert cli(ask(server, "export", "--format", "json")) == 0
    rows = {row["decision_id"]: row for row in read(capsys)}
    assert set(rows) == {first.decision_id, hit.decision_id}
    assert rows[hit.decision_id]["cache_hit"]
    assert rows[hit.decision_id]["settled_unix"] == rows[hit.decision_id]["created_unix"] > 0
    assert rows[first.decision_id]["settled_unix"] > rows[first.decision_id]["created_unix"]
    assert [row["budget_mode"] for row in rows.values()] == ["normal", "normal"]

    path = tmp_path / "ledger.csv"
    assert cli(ask(server, "export", "--format", "csv", "--out", str(path))) == 0
    with path.open(newline="") as f:
        written = {row["decision_id"]: row for row in csv.DictReader(f)}
    assert float(written[hit.decision_id]["settled_unix"]) == pytest.approx(rows[hit.decision_id]["created_unix"])
    assert [row["budget_mode"] for row in written.values()] == ["normal", "normal"]


def test_reason_and_budget_mode_read_the_same_in_the_route_answer_and_the_ledger(server, capsys):
    answered_and_served_from_cache(server.service)

    assert cli(ask(server, "route", "--prompt", QUESTION)) == 0
    routed = read(capsys)
    assert cli(ask(server, "export", "--format", "json")) == 0
    row = next(row for row in read(capsys) if row["decision_id"] == routed["decision_id"])
    assert routed["reason"] == row["reason"] == Reason.CACHE_HIT
    assert routed["budget_mode"] == row["budget_mode"] == "normal"


@pytest.mark.parametrize("reason", REASONS)
def test_every_reason_has_one_word_whatever_the_channel(reason):
    # On the wire it is an enum whose value is named by the same word, so protobuf's JSON says it too.
    code = pb.Reason.Value(reason)
    assert route_response_to_dict(pb.RouteResponse(reason=code))["reason"] == reason
    assert json_format.MessageToDict(pb.RouteResponse(reason=code))["reason"] == reason


def test_models_are_listed_put_from_a_file_and_retired_from_the_cli(server, capsys, tmp_path):
    addr = ["--addr", f"127.0.0.1:{server.port}"]
    model = tmp_path / "model.yaml"
    model.write_text("id: acme-7b\nprovider: acme\ntier: budget\ninput_per_1m: 0.1\noutput_per_1m: 0.2\n"
                     "context_window: 32000\nmax_output_tokens: 4000\n")
    assert cli(["models", "put", "--file", str(model), *addr]) == 0
    put, = read(capsys)
    assert (put["id"], put["tier"], put["input_per_1m"], put["context_window"]) == ("acme-7b", "budget", 0.1, 32000)
    assert cli(["models", "list", *addr]) == 0
    listed = read(capsys)
    assert "acme-7b" in [m["id"] for m in listed["models"]] and listed["baseline_model"] == "claude-opus-4"
    assert cli(["models", "retire", "--id", "acme-7b", *addr]) == 0
    assert read(capsys) == {"retired": "acme-7b"}
    model.write_text("id: acme-7b\nprovider: acme\ntier: gold\n")
    assert cli(["models", "put", "--file", str(model), *addr]) != 0
    assert "model." in capsys.readouterr().err
