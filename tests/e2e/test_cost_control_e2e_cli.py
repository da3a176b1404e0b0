"""End to end: the CLI's stats, export, rules and budgets commands against the running server."""

from __future__ import annotations

import csv
import json
import re

import pytest
import yaml

from router.cli.main import main as cli
from router.domain.types import FeedbackRequest
from tests.e2e.cost_control_helpers import CHEAPER, ask

pytestmark = pytest.mark.slow


# --- 5. the CLI against the running server --------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def api_key_in_the_environment(server):
    """The server's key in $BANDITROUTE_API_KEY, for the CLI commands run in this process."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BANDITROUTE_API_KEY", server.dev_key)
        yield


@pytest.fixture(scope="module")
def cli_traffic(client):
    """Tenant "cli-t": three settled calls (teams web, web, mobile) and one pending."""
    fed = []
    for i, team in enumerate(["web", "web", "mobile", "mobile"]):
        decision = client.route(ask("cli-t", f"Suggest a name for a pet turtle, idea {i}.", team=team,
                                    constraints=CHEAPER))
        if i < 3:
            fed.append((decision, client.feedback(FeedbackRequest(decision["decision_id"], 0.9,
                                                                  input_tokens=50, output_tokens=500))))
    return fed


def test_cli_stats_grouped_by_team_prints_the_spend_and_each_team(server, client, cli_traffic, capsys):
    assert cli(["stats", "--addr", server.addr, "--tenant", "cli-t", "--group-by", "team"]) == 0
    out = capsys.readouterr().out
    total = client.stats("cli-t", group_by="team")
    assert total["total"]["spend_usd"] == pytest.approx(sum(f["actual_cost_usd"] for _, f in cli_traffic))
    assert "tenant cli-t" in out
    assert "calls 4 (3 settled, 1 awaiting feedback, 0 expired)" in out
    assert f"spend ${total['total']['spend_usd']:.4f}" in out
    assert "by team:" in out
    for group in total["groups"]:
        figures = group["figures"]
        row = rf"^\s+{group['value']}\s+{figures['calls']}\s+{figures['spend_usd']:.4f}\s"
        assert re.search(row, out, re.M), out


def test_cli_stats_forecast_prints_it_and_plots_the_tenants_spend(server, cli_traffic, tmp_path, capsys):
    plot = tmp_path / "forecast.png"
    assert cli(["stats", "--addr", server.addr, "--tenant", "cli-t", "--forecast", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    # Today's calls are no history yet: a forecast says so rather than invent one.
    assert "forecast cli-t: no history yet" in out and "forecast cli-t/team=web: no history yet" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="give --forecast too"):
        cli(["stats", "--addr", server.addr, "--tenant", "cli-t", "--plot", str(plot)])


def test_cli_export_csv_writes_a_header_and_a_row_per_settled_call(server, cli_traffic, tmp_path, capsys):
    path = tmp_path / "ledger.csv"
    assert cli(["export", "--addr", server.addr, "--tenant", "cli-t", "--format", "csv", "--out", str(path)]) == 0
    assert "3 ledger entries" in capsys.readouterr().err
    with path.open(newline="") as f:
        header = next(csv.reader(f))
    assert header[:3] == ["decision_id", "tenant_id", "created_unix"] and "cost_usd" in header
    rows = list(csv.DictReader(path.open(newline="")))
    assert len(rows) == 3
    expected = {d["decision_id"]: (d, fed) for d, fed in cli_traffic}
    assert {row["decision_id"] for row in rows} == set(expected)
    for row in rows:
        decision, fed = expected[row["decision_id"]]
        assert row["model"] == decision["model"]
        assert float(row["cost_usd"]) == pytest.approx(fed["actual_cost_usd"])
        assert row["team"] in {"web", "mobile"}


def test_cli_export_csv_of_an_empty_window_still_has_its_header(server, tmp_path, capsys):
    path = tmp_path / "empty.csv"
    assert cli(["export", "--addr", server.addr, "--tenant", "nobody", "--format", "csv", "--out", str(path)]) == 0
    assert "0 ledger entries" in capsys.readouterr().err
    assert path.read_text().splitlines()[0].startswith("decision_id,tenant_id,created_unix")


def test_cli_export_json_prints_a_json_list(server, cli_traffic, capsys):
    assert cli(["export", "--addr", server.addr, "--tenant", "cli-t", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and len(rows) == 3
    assert {r["decision_id"] for r in rows} == {d["decision_id"] for d, _ in cli_traffic}
    assert all(r["tenant_id"] == "cli-t" and r["quality"] == pytest.approx(0.9) for r in rows)


def test_cli_rules_put_list_and_delete(server, tmp_path, capsys):
    rule_file = tmp_path / "rule.yaml"
    rule_file.write_text(yaml.safe_dump({
        "id": "cli-rule",
        "name": "mobile goes cheap",
        "conditions": [{"field": "team", "op": "eq", "value": "mobile"}],
        "action": {"type": "route", "model": "gpt-4o-mini"},
    }))
    base = ["--addr", server.addr, "--tenant", "cli-rules"]

    assert cli(["rules", "put", *base, "--file", str(rule_file)]) == 0
    put, = json.loads(capsys.readouterr().out)
    assert (put["rule"]["id"], put["source"]) == ("cli-rule", "api")

    assert cli(["rules", "list", *base]) == 0
    listed = json.loads(capsys.readouterr().out)["rules"]
    assert [(s["rule"]["id"], s["source"], s["rule"]["action"]["model"]) for s in listed] == \
        [("cli-rule", "api", "gpt-4o-mini")]

    assert cli(["rules", "delete", *base, "--id", "cli-rule"]) == 0
    assert json.loads(capsys.readouterr().out) == {"deleted": "cli-rule"}
    assert cli(["rules", "list", *base]) == 0
    assert json.loads(capsys.readouterr().out)["rules"] == []

    assert cli(["rules", "delete", *base, "--id", "cli-rule"]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_cli_rules_put_of_an_invalid_rule_fails_naming_the_field(server, tmp_path, capsys):
    rule_file = tmp_path / "bad.yaml"
    rule_file.write_text(yaml.safe_dump({"id": "bad", "action": {"type": "route", "model": "gpt-9"}}))
    assert cli(["rules", "put", "--addr", server.addr, "--tenant", "cli-rules", "--file", str(rule_file)]) == 1
    assert "INVALID_ARGUMENT: rule.action.model: unknown model gpt-9" in capsys.readouterr().err


def test_cli_budgets_set_then_clear(server, tmp_path, capsys):
    budget_file = tmp_path / "budgets.yaml"
    budget_file.write_text("[{daily_usd: 2.5}, {team: search, monthly_usd: 40}]\n")
    base = ["--addr", server.addr, "--tenant", "cli-budgets"]
    assert cli(["budgets", "set", *base, "--file", str(budget_file)]) == 0
    budgets = json.loads(capsys.readouterr().out)["budgets"]
    assert [(b["scope"], b["period"], b["limit_usd"]) for b in budgets] == \
        [("cli-budgets", "daily", 2.5), ("cli-budgets/team=search", "monthly", 40)]
    budget_file.write_text("[{daily_usd: -3}]\n")
    assert cli(["budgets", "set", *base, "--file", str(budget_file)]) == 1
    assert "INVALID_ARGUMENT: budgets[0].daily_usd" in capsys.readouterr().err
    assert cli(["budgets", "clear", *base]) == 0
    assert json.loads(capsys.readouterr().out)["budgets"] == []
