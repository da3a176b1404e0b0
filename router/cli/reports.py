"""What happened, over a window of time: a tenant's `banditroute stats` and `export` (its ledger) from a
running service, and `logs export`, a data directory's decision log as bandit data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from router.cli.remote import add_service_and_tenant, as_printed, call_server


def add_commands(commands: argparse._SubParsersAction) -> None:
    _add_stats(commands)
    _add_export(commands)
    _add_logs(commands)


def _add_stats(commands) -> None:
    from router.service.report import GROUP_FIELDS

    p = commands.add_parser("stats", help="a tenant's spend, savings, model mix, cache, budgets and alerts",
                            description="What a tenant spent over a window, what routing saved against always "
                            "calling the premium model, its model mix, cache hits, mean quality, budget modes, "
                            "budgets now and spend alerts; optionally grouped by an attribution field.")
    add_service_and_tenant(p)
    add_window(p, default_since="24h")
    p.add_argument("--group-by", default="", choices=GROUP_FIELDS, metavar="FIELD",
                   help=f"also give the figures per value of one of: {', '.join(GROUP_FIELDS)}")
    p.add_argument("--forecast", type=int, nargs="?", const=7, default=0, metavar="DAYS",
                   help="also forecast daily spend DAYS ahead (default 7) for the tenant and each team, with budgets "
                   "forecast to run out before their period ends")
    p.add_argument("--plot", type=Path, metavar="PNG", help="with --forecast: draw the tenant's history and forecast "
                   "into this PNG (needs matplotlib, the bench extra)")
    p.add_argument("--json", action="store_true", help="print the full answer as JSON instead of a report")
    p.set_defaults(run=_stats)


def add_window(p, default_since: str) -> None:
    p.add_argument("--since", default=default_since, type=_moment, help="from this moment: an ISO date or time "
                   f"(UTC unless it says), 'now', or an age like 30m, 24h, 7d (default {default_since})")
    p.add_argument("--until", default="now", type=_moment, help="up to this moment, same forms (default now)")


def _moment(text: str) -> float:
    """A UNIX time from '2026-11-22', '2026-11-22T10:00', 'now' or an age such as '24h'."""
    import re
    import time
    from datetime import datetime, timezone

    ages = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text == "now":
        return time.time()
    if (age := re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text)) is not None:
        return time.time() - float(age[1]) * ages[age[2]]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date/time, 'now' or an age like 24h") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _stats(args) -> int:
    from router.cli.text import plot_stats_forecast, stats_report

    if args.plot and not args.forecast:
        raise SystemExit("stats: --plot draws the forecast: give --forecast too")

    def report(client) -> str:
        stats = client.stats(args.tenant, args.since, args.until, args.group_by, args.forecast)
        if args.plot:
            plot_stats_forecast(args.tenant, stats["forecasts"][0], args.plot)
        return as_printed(stats) if args.json else stats_report(args.tenant, stats)

    return call_server(args.addr, report, as_json=args.json)


def _add_export(commands) -> None:
    p = commands.add_parser("export", help="a tenant's ledger of settled calls, as JSON or CSV",
                            description="Write every settled call of a tenant in a window: who it was for (team, "
                            "project, feature, user), model, tokens, cost, quality, cache hit, budget mode, and what "
                            "always-premium would have cost.")
    add_service_and_tenant(p)
    p.add_argument("--format", choices=["json", "csv"], default="json", help="output format (default json)")
    p.add_argument("--out", type=Path, help="write here instead of stdout")
    add_window(p, default_since="30d")
    p.set_defaults(run=_export)


def _export(args) -> int:
    from router.cli.text import write_ledger

    out = args.out.open("w", newline="") if args.out else sys.stdout
    try:
        return call_server(args.addr, lambda c: write_ledger(c.export_ledger(args.tenant, args.since, args.until),
                                                             args.format, out), as_json=False)
    finally:
        if args.out:
            out.close()


def _add_logs(commands) -> None:
    p = commands.add_parser("logs", help="the decision log as bandit data, for offline policy evaluation",
                            description="Read a data directory's decision log (also while the server runs).")
    actions = p.add_subparsers(title="actions", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export", help="one row per feedback event: context, allowed models, choice, probability, reward",
        description="Write every feedback event of the window: the context a policy decides on (routing "
        "embedding, category, complexity, tokens, λ), the allowed models and the logging policy's probability "
        "of each, the chosen model and its probability, and the outcome (quality, cost, normalised cost, "
        "reward). Cache answers are left out: nothing was chosen.")
    export.add_argument("--data-dir", type=Path, default=Path("data"), help="the service's data dir (default ./data)")
    add_window(export, default_since="30d")
    out = export.add_mutually_exclusive_group(required=True)
    out.add_argument("--json", type=Path, metavar="OUT", help="write JSON records here")
    out.add_argument("--parquet", type=Path, metavar="OUT", help="write Parquet here")
    export.set_defaults(run=_logs_export)


def _logs_export(args) -> int:
    from learners.logged import export_events, write_events

    if not (args.data_dir / "decisions.sqlite").exists():
        print(f"error: {args.data_dir} holds no decisions.sqlite", file=sys.stderr)
        return 1
    events = export_events(args.data_dir, args.since, args.until)
    out = args.json or args.parquet
    write_events(events, out, "json" if args.json else "parquet")
    print(f"{len(events)} feedback events written to {out}", file=sys.stderr)
    return 0
