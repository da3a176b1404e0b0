"""The metrics page as the stock tools read it: one real server after some traffic serves the gRPC
series under go-grpc-prometheus's names, the process's, no `_created` series, tenants past the cap
as `other` and budgets by tenant, team, project and period; `promtool check metrics` accepts the page
and a real Prometheus scrapes it. The last two need the binaries (`make test` unpacks them into the
venv where apt is) and skip without them."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from router.client.process import ServerProcess
from router.domain.types import FeedbackRequest
from tests.conftest import user_request

pytestmark = pytest.mark.slow

SERVICE = "banditroute.v1.Router"
TENANTS = ("acme", "beta", "gamma", "delta")  # in the order they are first routed
BUDGETS = [{"daily_usd": 50}, {"team": "search", "daily_usd": 20}, {"team": "search", "project": "bot",
                                                                    "monthly_usd": 100}]


@dataclass
class Scraped:
    server: ServerProcess
    text: str
    samples: list[tuple[str, dict[str, str], float]]

    def values(self, name: str, **labels: str) -> list[float]:
        return [v for n, l, v in self.samples if n == name and labels.items() <= l.items()]

    def value(self, name: str, **labels: str) -> float:
        found = self.values(name, **labels)
        assert len(found) == 1, (name, labels, found)
        return found[0]


@pytest.fixture(scope="module")
def scraped(tmp_path_factory) -> Iterator[Scraped]:
    """A server capped at two tenant labels, after routes for four tenants, feedback, one refused and one
    unknown decision, and a ledger export; its page as scraped then. The server runs on for the module."""
    tmp = tmp_path_factory.mktemp("prometheus")
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump({"metrics_port": 0, "metrics_max_tenants": 2,
                                      "tenants": {t: {"budgets": BUDGETS} for t in ("acme", "gamma")}}))
    with ServerProcess(tmp / "data", config) as server, server.client() as client:
        decision_ids = [client.route(user_request(f"Name a river in country number {i}.", tenant=tenant))
                        ["decision_id"] for i, tenant in enumerate(TENANTS)]
        client.feedback(FeedbackRequest(decision_ids[0], 0.8))
        with pytest.raises(grpc.RpcError) as unknown:
            client.feedback(FeedbackRequest("no-such-decision", 0.5))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        with grpc.insecure_channel(server.addr) as channel, pytest.raises(grpc.RpcError) as refused:
            channel.unary_unary(f"/{SERVICE}/Route")(b"\xff\xff\xff", timeout=30)  # no RouteRequest at all
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert len(list(client.export_ledger("acme"))) == 1
        text = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
        samples = [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text)
                   for s in family.samples]
        yield Scraped(server, text, samples)


def rpc(method: str, grpc_type: str = "unary") -> dict[str, str]:
    return {"grpc_type": grpc_type, "grpc_service": SERVICE, "grpc_method": method}


def test_grpc_calls_are_counted_under_the_conventional_names(scraped):
    handled = {(l["grpc_method"], l["grpc_code"]): v for n, l, v in scraped.samples
               if n == "grpc_server_handled_total" and v > 0}
    assert handled == {("Route", "OK"): 4, ("Route", "INVALID_ARGUMENT"): 1, ("Feedback", "OK"): 1,
                       ("Feedback", "NOT_FOUND"): 1, ("ExportLedger", "OK"): 1}
    for n, labels, _ in scraped.samples:
        if n.startswith("grpc_server_"):
            assert labels["grpc_service"] == SERVICE
            assert labels["grpc_type"] == ("server_stream" if labels["grpc_method"] == "ExportLedger" else "unary")
    # Every method is there from the start, at zero, so rate() over it works before its first call.
    methods = {l["grpc_method"] for n, l, _ in scraped.samples if n == "grpc_server_started_total"}
    assert {"Route", "RouteBatch", "Feedback", "SetBudgets", "Stats", "ExportLedger"} <= methods
    for method in methods:
        started = scraped.value("grpc_server_started_total", **rpc(method, "server_stream" if method ==
                                                                      "ExportLedger" else "unary"))
        assert started == sum(v for n, l, v in scraped.samples
                              if n == "grpc_server_handled_total" and l["grpc_method"] == method), method
    assert scraped.value("grpc_server_handling_seconds_count", **rpc("Route")) == 5
    assert scraped.value("grpc_server_handling_seconds_count", **rpc("ExportLedger", "server_stream")) == 1
    assert not [n for n, _, _ in scraped.samples if n.startswith("banditroute_rpc_")]


def test_process_metrics_are_there_and_no_created_series(scraped):
    assert scraped.value("process_resident_memory_bytes") > 50e6  # the server holds MiniLM
    assert scraped.value("process_cpu_seconds_total") > 0
    assert scraped.value("process_open_fds") > 0
    assert "_created" not in scraped.text


def test_tenants_past_the_cap_are_other_and_budgets_have_a_label_each(scraped):
    routed: dict[str, float] = {}
    for n, labels, v in scraped.samples:
        if n == "banditroute_routes_total":
            routed[labels["tenant"]] = routed.get(labels["tenant"], 0) + v
    assert routed == {"acme": 1, "beta": 1, "other": 2}
    assert {l["tenant"] for n, l, _ in scraped.samples if n == "banditroute_cache_lookups_total"} == \
        {"acme", "beta", "other"}
    budgets = {(l["tenant"], l["team"], l["project"], l["period"]) for n, l, _ in scraped.samples
               if n == "banditroute_budget_remaining_usd"}
    # gamma has budgets too, but no label of its own: its budgets are left out rather than summed.
    assert budgets == {("acme", "", "", "daily"), ("acme", "search", "", "daily"),
                       ("acme", "search", "bot", "monthly")}
    assert scraped.value("banditroute_budget_remaining_usd", tenant="acme", team="", period="daily") < 50


def test_promtool_accepts_the_page(scraped):
    promtool = tool("promtool")
    checked = subprocess.run([promtool, "check", "metrics"], input=scraped.text, capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == ""  # not even a lint warning


def test_a_real_prometheus_scrapes_the_page(scraped, tmp_path):
    prometheus = tool("prometheus")
    target = urllib.parse.urlsplit(scraped.server.metrics_url)
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "banditroute", "static_configs": [{"targets": [target.netloc]}]}],
    }))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen([prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        query = 'grpc_server_handled_total{grpc_method="Route",grpc_code="OK"}'
        result = poll(f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query}),
                      process, deadline=time.monotonic() + 30)
        assert result, "Prometheus had no grpc_server_handled_total after 30 s:\n" + \
            (tmp_path / "prometheus.log").read_text()[-3000:]
        series, = result
        assert series["metric"]["job"] == "banditroute"
        assert series["metric"]["grpc_service"] == SERVICE and series["metric"]["grpc_type"] == "unary"
        assert float(series["value"][1]) == 4
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def tool(name: str) -> str:
    """The binary on PATH or in the venv's bin (where `make test` unpacks it); skip the test without it."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed (make test unpacks it from Debian's prometheus package where apt is)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(url: str, process: subprocess.Popen, deadline: float) -> list[dict]:
    """The query's result once it has one; empty if the deadline passes first. Before its first scrape
    Prometheus answers with no result, and before it listens, not at all."""
    while time.monotonic() < deadline and process.poll() is None:
        try:
            answer = json.load(urllib.request.urlopen(url, timeout=5))
        except OSError:
            answer = {"data": {"result": []}}
        if answer["data"]["result"]:
            return answer["data"]["result"]
        time.sleep(0.5)
    return []
