"""The simulate report and the demo count the security prompts the floor missed, explicit and implicit
(security work worded as an ordinary feature) apart."""

from collections import Counter

from router.domain.categories import SECURITY_CRITICAL
from simulator.demo import Tally, print_report
from simulator.routers import InProcessRouter
from simulator.runs import local_service
from simulator.simulate import read_request, route_request, security_missed, simulate
from simulator.traffic import TrafficGenerator
from simulator.world import World

REQUESTS, SEED = 300, 2


def test_the_simulate_report_counts_missed_implicit_security_prompts_apart(tmp_path, static_reader):
    service = local_service(tmp_path, static_reader, SEED)
    try:
        report = simulate(service, InProcessRouter(service), "steady", REQUESTS, SEED).report
        security = [p for p in TrafficGenerator(SEED).stream(REQUESTS) if p.category == SECURITY_CRITICAL]
        unflagged = [p for p in security if not read_request(service, route_request(p, None)).security]
    finally:
        service.close()
    styles = Counter(p.style for p in security)
    assert report["security_prompts"] == {"explicit": styles["explicit"], "implicit": styles["implicit"]}
    assert styles["implicit"] > 0
    # Always-cheapest gives every unflagged prompt a non-premium model, so each of them counts as missed.
    cheapest = report["policies"]["always-cheapest"]
    assert cheapest["unflagged_security"] == len(unflagged)
    assert cheapest["unflagged_security_implicit"] == sum(p.style == "implicit" for p in unflagged)
    for figures in report["policies"].values():
        assert 0 <= figures["unflagged_security_implicit"] <= figures["unflagged_security"]
    assert report["policies"]["always-premium"]["unflagged_security"] == 0
    assert f"of {styles['explicit']} explicit" in security_missed(report)
    assert f"of {styles['implicit']} implicit" in security_missed(report)


def test_the_demo_prints_missed_security_prompts_explicit_and_implicit_apart(registry, capsys):
    world, tally = World(registry, seed=0), Tally()
    for prompt in TrafficGenerator(seed=1).stream(20):
        tally.add(prompt, registry.baseline_model, registry, world)
    print_report(tally, tally, tally, Counter(missed=5, true=9, missed_implicit=3, implicit=4), registry)
    out = capsys.readouterr().out
    assert "security prompts the classifier did not flag: 5 of 9" in out
    assert "explicit 2 of 5, implicit (worded as an ordinary feature) 3 of 4" in out
