"""What `banditroute stats` prints and `banditroute export` writes, from the service's answers."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from router.generated import router_pb2 as pb


def stats_report(tenant_id: str, stats: dict) -> str:
    """The report of a Stats answer as RouterClient.stats gives it."""
    t = stats["total"]
    lines = [
        f"tenant {tenant_id}",
        f"calls {t['calls']} ({t['settled']} settled, {t['pending']} awaiting feedback, {t['expired']} expired)",
        f"spend ${t['spend_usd']:.4f}; always-premium would have cost ${t['baseline_usd']:.4f}: "
        f"saved ${t['savings_usd']:.4f} ({t['savings_share']:.1%})",
        *([f"cost overruns: {t['overruns']} calls reported ${t['overrun_usd']:.4f} beyond max_cost_overrun "
           "(recorded, not in spend)"] if t["overruns"] else []),
        f"semantic cache: {t['cache_hits']} hits ({t['cache_hit_rate']:.1%} of calls), "
        f"${t['cache_saved_usd']:.4f} of calls saved",
        f"mean quality {_quality(t)}; {t['errors']} errors",
        f"budget modes: {t['economy']} calls in economy mode, {t['overdrafts']} security overdrafts; "
        f"{t['rule_shaped']} calls shaped by a rule; {t['escalations']} escalations ({t['escalation_rate']:.1%} of "
        "first answers)",
        "model mix: " + ", ".join(f"{model} {n / max(t['calls'] - t['cache_hits'], 1):.1%}"
                                  for model, n in sorted(t["model_mix"].items(), key=lambda kv: -kv[1])),
    ]
    if stats["budgets"]:
        lines.append("budgets now:")
        lines += [f"  {b['period']} {b['scope']} {b['period_key']}: ${b['spent_usd']:.4f} spent + "
                  f"${b['reserved_usd']:.4f} reserved of ${b['limit_usd']:.2f} "
                  f"({(b['spent_usd'] + b['reserved_usd']) / b['limit_usd']:.1%})" for b in stats["budgets"]]
    if stats["alerts"]:
        lines.append(f"spend alerts ({len(stats['alerts'])}):")
        lines += [f"  {_when(a['hour_start_unix'])} {tenant_id}{'/team=' + a['team'] if a['team'] else ''}: "
                  f"${a['spend_usd']:.2f} in the hour against a usual ${a['expected_usd']:.2f} "
                  f"(robust z {a['z']:.1f})" for a in stats["alerts"]]
    lines += _waste_lines(stats["waste"])
    if stats["storm_alerts"]:
        lines.append(f"retry storm alerts ({len(stats['storm_alerts'])}):")
        lines += [f"  {_when(a['started_unix'])} {a['caller']}: {a['calls']} calls ({a['trigger']}), "
                  f"${a['wasted_usd']:.4f} wasted (first decision {a['first_decision_id']})"
                  for a in stats["storm_alerts"]]
    lines += _forecast_lines(tenant_id, stats["forecasts"])
    if stats["groups"]:
        lines.append(f"by {stats['group_by']}:")
        lines.append(f"  {'':20}{'calls':>8}{'spend $':>12}{'saved':>9}{'cache':>8}{'quality':>9}{'economy':>9}")
        lines += [_group_line(g["value"], g["figures"]) for g in stats["groups"]]
    return "\n".join(lines)


def _waste_lines(w: dict) -> list[str]:
    if not (w["storm_calls"] or w["timeout_calls"] or w["abandoned_calls"]):
        return []
    lines = [f"waste ${w['wasted_usd']:.4f}: {w['storm_calls']} calls in {len(w['storms'])} retry storms "
             f"(${w['storm_wasted_usd']:.4f}), {w['timeout_calls']} timed-out calls unused "
             f"(${w['timeout_wasted_usd']:.4f}), {w['abandoned_calls']} decisions never answered "
             f"(${w['abandoned_usd']:.4f} estimated)"]
    lines += [f"  {s['trigger']} storm of {s['caller']}: {s['calls']} calls from {_when(s['first_unix'])}, "
              f"${s['wasted_usd']:.4f} wasted (e.g. {s['sample_decision_ids'][0]})" for s in w["storms"][:5]]
    lines += [f"  timeouts {g['team'] or '-'}/{g['feature'] or '-'} on {g['model']}: {g['timeouts']} of "
              f"{g['answered']}, ${g['wasted_usd']:.4f}" for g in w["timeouts"][:5]]
    lines += [f"  never answered {g['team'] or '-'}/{g['feature'] or '-'}: {g['abandoned']} of {g['decisions']} "
              f"decisions (${g['cost_usd']:.4f})" for g in w["abandoned"][:5]]
    return lines


def _forecast_lines(tenant_id: str, forecasts: list[dict]) -> list[str]:
    lines = []
    for f in forecasts:
        scope = f"{tenant_id}/team={f['team']}" if f["team"] else tenant_id
        if not f["days"]:
            lines.append(f"forecast {scope}: no history yet")
            continue
        mean, low, high = (sum(d[k] for d in f["days"]) for k in ("mean_usd", "low_usd", "high_usd"))
        lines.append(f"forecast {scope}: ${mean:.4f} over the next {len(f['days'])} days "
                     f"({f['level']:.0%} of days within their interval; ${low:.4f}–${high:.4f} summed), "
                     f"{f['method']} on {f['history_days']} days")
        lines += [f"  {r['period']} budget {r['scope']} (${r['limit_usd']:.2f}, ${r['used_usd']:.4f} used) "
                  + (f"runs out {_when(r['runs_out_unix'])}" if r["runs_out_unix"] else "should last the period")
                  + f", may run out {_when(r['may_run_out_unix'])}" for r in f["runouts"]]
    return lines


def plot_stats_forecast(tenant_id: str, f: dict, path: Path) -> Path:
    """A PNG of one scope's spend history and forecast, as a Stats answer's SpendForecast gives them."""
    from router.advice.forecast import DailySeries, Forecast, ForecastDay, plot_forecast

    history = DailySeries(f["history_start_unix"], tuple(f["history_usd"]), f["today_usd"])
    days = tuple(ForecastDay(d["day_start_unix"], d["mean_usd"], d["low_usd"], d["high_usd"]) for d in f["days"])
    predicted = Forecast(days, f["method"], f["history_days"], f["level"])
    scope = f"{tenant_id}/team={f['team']}" if f["team"] else tenant_id
    return plot_forecast(history, predicted, path, f"daily spend of {scope}: history and forecast ({f['method']})")


def _group_line(value: str, f: dict) -> str:
    return (f"  {value or '(none)':20}{f['calls']:>8}{f['spend_usd']:>12.4f}{f['savings_share']:>9.1%}"
            f"{f['cache_hit_rate']:>8.1%}{_quality(f):>9}{f['economy']:>9}")


def _quality(figures: dict) -> str:
    return "-" if figures["mean_quality"] is None else f"{figures['mean_quality']:.3f}"


def _when(unix: float) -> str:
    return datetime.fromtimestamp(unix, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def ledger_row(entry: dict) -> dict:
    """One entry, as RouterClient.export_ledger gives it, in the contract's field order; what it does
    not have (an unrated quality, a first-token time of an answer not streamed) is None."""
    return {f.name: entry[f.name] for f in pb.LedgerEntry.DESCRIPTOR.fields}


def write_ledger(entries: Iterable[dict], fmt: str, out: TextIO) -> None:
    """Write the entries as a JSON array or CSV with a header, as they stream in; the count to stderr."""
    rows = (ledger_row(e) for e in entries)
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=[f.name for f in pb.LedgerEntry.DESCRIPTOR.fields])
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    else:
        out.write("[")
        for row in rows:
            out.write(("," if count else "") + "\n  " + json.dumps(row))
            count += 1
        out.write("\n]\n")
    print(f"{count} ledger entries", file=sys.stderr)
