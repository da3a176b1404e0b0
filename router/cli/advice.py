"""`banditroute advise`: the cost advisor's recommendations for a tenant, and applying, dismissing or
rolling one back."""

from __future__ import annotations

import argparse

from router.cli.remote import add_service_and_tenant, as_printed, call_server
from router.cli.reports import add_window

ACTIONS = {"list": None, "apply": "apply", "dismiss": "dismiss", "rollback": "roll_back"}


def add_commands(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "advise", help="what the tenant's own ledger says to change, with evidence and projected saving",
        description="List the cost advisor's recommendations for a tenant, from its ledger and feedback over a "
        "window: a cheaper model rated as well for a team's category (with an off-policy DR estimate of the "
        "suggested rule), cacheable repeats the cache missed, output-heavy calls, retry storms, budgets forecast "
        "to run out. `advise apply ID` puts the suggested rule (with --ab-share: on that share of the matching "
        "traffic, status testing); later listings measure what it saved on the rule's two arms. `advise dismiss ID` "
        "hides one until its evidence changes; `advise rollback ID` deletes its rule.")
    p.add_argument("action", nargs="?", default="list", choices=list(ACTIONS), help="what to do (default list)")
    p.add_argument("id", nargs="?", help="the recommendation, for apply, dismiss and rollback")
    add_service_and_tenant(p)
    add_window(p, default_since="30d")
    p.add_argument("--ab-share", type=float, help="apply: the share of matching traffic the rule takes, in (0, 1] "
                   "(default 1: all of it)")
    p.add_argument("--all", action="store_true", help="list: also the dismissed ones whose evidence has not changed")
    p.add_argument("--json", action="store_true", help="print the answer as JSON instead of a report")
    p.set_defaults(run=_advise)


def _advise(args) -> int:
    if (args.action == "list") != (args.id is None):
        raise SystemExit("advise: give a recommendation id with apply, dismiss and rollback, and none to list")
    if args.action == "list":
        def answer(client):
            found = client.recommendations(args.tenant, args.since, args.until, args.all)
            return as_printed(found) if args.json else advice_report(args.tenant, found)
    else:
        def answer(client):
            decided = client.decide_recommendation(args.tenant, args.id, ACTIONS[args.action], args.ab_share,
                                                   args.since, args.until)
            return as_printed(decided) if args.json else advice_report(args.tenant, [decided])
    return call_server(args.addr, answer, as_json=args.json)


def advice_report(tenant_id: str, found: list[dict]) -> str:
    if not found:
        return f"tenant {tenant_id}: nothing to recommend in this window"
    return "\n\n".join(_recommendation_lines(r) for r in found)


def _recommendation_lines(r: dict) -> str:
    lines = [f"{r['id']} [{r['status']}] {r['category']}: {r['title']}",
             f"  saving ${r['monthly_saving_usd']:.2f}/month (${r['current_monthly_usd']:.2f} → "
             f"${r['projected_monthly_usd']:.2f}); confidence {r['confidence']:.0%}, risk {r['risk']}"]
    e = r["evidence"]
    quality = [f"{name} quality {q['mean']:.3f} [{q['low']:.3f}, {q['high']:.3f}] over {q['n']}"
               for name, q in (("current", e.get("current_quality")), ("proposed", e.get("proposed_quality"))) if q]
    lines.append(f"  evidence: {e['calls']} calls, {e['affected']} affected" + "".join(f"; {q}" for q in quality)
                 + (f"; e.g. {', '.join(e['sample_decision_ids'][:3])}" if e["sample_decision_ids"] else ""))
    if p := r.get("projection"):
        before, after = p["quality_before"], p["quality_after"]
        lines.append(f"  estimate before ({p['estimator']}, {p['ess']:.0f} effective events): quality "
                     f"{before['mean']:.3f} → {after['mean']:.3f} [{after['low']:.3f}, {after['high']:.3f}], cost "
                     f"${p['cost_before_usd']:.4f} → ${p['cost_after_usd']:.4f} over the window")
    if m := r.get("measured"):
        lines.append(_measured_line(m))
    if rule := r.get("suggested_rule"):
        lines.append(f"  rule {rule['id']}: route to {rule['action']['model']} when "
                     + " and ".join(f"{c['field']} {c['op']} {c['value']}" for c in rule["conditions"]))
    if r.get("note"):
        lines.append(f"  note: {r['note']}")
    return "\n".join(lines)


def _measured_line(m: dict) -> str:
    treated, control = m["treated"], m["control"]

    def quality(arm: dict) -> str:
        q = arm.get("quality")
        return "unrated" if not q else f"quality {q['mean']:.3f} [{q['low']:.3f}, {q['high']:.3f}]"

    return (f"  measured since applied (A/B share {m['ab_share']:.0%}): rule's calls {treated['calls']} at "
            f"${treated['mean_cost_usd']:.5f} each, {quality(treated)}; others {control['calls']} at "
            f"${control['mean_cost_usd']:.5f}, {quality(control)}; saved ${m['saved_usd']:.4f} "
            f"(${m['monthly_saving_usd']:.2f}/month at full share)")
