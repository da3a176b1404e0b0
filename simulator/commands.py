"""The simulator's commands of `banditroute`: the demo and the benchmarks. Registered through the
`banditroute.commands` entry-point group, so the router's CLI never imports the simulator."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from router.cli.remote import add_tls_options


def add_commands(commands) -> None:
    _add_demo(commands)
    _add_simulate(commands)
    _add_replay(commands)
    _add_perf(commands)
    _add_scaling(commands)
    _add_loadtest(commands)
    _add_cache_eval(commands)
    _add_ope_study(commands)
    _add_replicas(commands)
    _add_dedup_eval(commands)
    _add_forecast_backtest(commands)
    _add_advice_eval(commands)
    _add_compression_eval(commands)


def _add_demo(commands) -> None:
    p = commands.add_parser("demo", help="start a server, drive it with synthetic traffic and show what it learns",
                            description="Start the service on embedded defaults in a temporary data directory, "
                            "send synthetic prompts over gRPC with quality feedback from a simulated world, and "
                            "report what it routed, what it learned and what it saved against always using the "
                            "premium model.")
    p.add_argument("--requests", type=int, default=2000, help="number of prompts (default 2000)")
    p.add_argument("--seed", type=int, default=7, help="seed of the traffic and the world (default 7)")
    p.add_argument("--cost-weight", type=float, default=None, help="λ for every request (service default otherwise)")
    p.add_argument("--data-dir", type=Path, help="keep the server's data here instead of a temporary directory")
    p.set_defaults(run=_demo)


def _demo(args) -> int:
    from simulator.demo import run_demo

    return run_demo(args.requests, args.seed, args.cost_weight, args.data_dir)


def _add_simulate(commands) -> None:
    from simulator.scenarios import SCENARIOS

    p = commands.add_parser("simulate", help="benchmark the bandit against baselines on synthetic traffic",
                            description="Run the bandit and the baselines (random, always-premium, always-cheapest, "
                            "static rules, oracle) on the same synthetic traffic; print a table, write the JSON, "
                            "plots beside it, and an MLflow run in mlruns/.")
    p.add_argument("--scenario", default="steady", choices=sorted(SCENARIOS), help="what changes mid-run (default steady)")
    p.add_argument("--requests", type=int, default=10_000, help="prompts in the stream (default 10000)")
    p.add_argument("--seed", type=int, default=1, help="seed of traffic, world and exploration (default 1)")
    p.add_argument("--cost-weight", type=float, help="λ for every request (the service default otherwise)")
    p.add_argument("--cache", action="store_true", help="send each answer's text with the feedback, so the "
                   "bandit's service answers repeats and paraphrases from its semantic cache (baselines have none)")
    p.add_argument("--json", type=Path, default=Path("runs/simulate.json"), help="where to write the results")
    p.add_argument("--addr", help="drive a running server at HOST:PORT instead of an in-process one; start it "
                   "with learner.seed equal to --seed and an empty data dir to get the in-process results")
    add_tls_options(p)
    _add_embedding_option(p)
    p.set_defaults(run=_simulate)


def _simulate(args) -> int:
    from simulator.simulate import run_simulate

    return run_simulate(args.scenario, args.requests, args.seed, args.json, args.cost_weight, args.addr,
                        args.embedding, args.config, args.cache)


def _add_replay(commands) -> None:
    from simulator.datasets import ROUTING_DEV
    from simulator.replay import DEFAULT_COST_WEIGHTS, DEFAULT_EXTRA_POINTS, DEFAULT_WORKERS

    p = commands.add_parser("replay", help="replay real labelled data with bandit feedback; RouteLLM's metrics",
                            description="Stream the prompts of a labelled CSV through the router in a seeded order, "
                            "revealing only the chosen model's quality, once per value of λ; report APGR, CPT(50%%) "
                            "and CPT(80%%) per source.")
    p.add_argument("--data", type=Path, default=ROUTING_DEV, help=f"CSV: id,source,subject,prompt,<one quality "
                   f"column per model> (default {ROUTING_DEV})")
    p.add_argument("--seed", type=int, default=1, help="seed of the order and of exploration (default 1)")
    p.add_argument("--cost-weights", type=float, nargs="+", default=list(DEFAULT_COST_WEIGHTS), metavar="λ",
                   help=f"values of λ to sweep first (default {' '.join(map(str, DEFAULT_COST_WEIGHTS))})")
    p.add_argument("--extra-points", type=int, default=DEFAULT_EXTRA_POINTS, metavar="N",
                   help="then N more values of λ, each where the strong-call share jumps most "
                   f"(default {DEFAULT_EXTRA_POINTS})")
    p.add_argument("--model", action="append", default=[], metavar="COLUMN=MODEL",
                   help="map a quality column to a replay model id")
    p.add_argument("--json", type=Path, default=Path("runs/replay.json"), help="where to write the results")
    p.add_argument("--addr", help="replay against a running server at HOST:PORT (one λ only: each λ needs a "
                   "fresh learner); start it with registry_path simulator/replay_models.yaml")
    add_tls_options(p)
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS, metavar="N",
                   help="replay up to N values of λ at once, one process each; the results do not depend on it "
                   f"(default {DEFAULT_WORKERS}, from the CPU count)")
    _add_embedding_option(p)
    p.set_defaults(run=_replay)


def _replay(args) -> int:
    from simulator.replay import run_replay

    if _missing(args.data):
        return 2
    if args.workers < 1:
        print(f"error: --workers must be at least 1, not {args.workers}", file=sys.stderr)
        return 2
    model_map = dict(pair.split("=", 1) for pair in args.model)
    return run_replay(args.data, args.seed, args.json, tuple(args.cost_weights), model_map, args.embedding,
                      args.addr, args.config, args.extra_points, args.workers)


def _missing(data: Path) -> bool:
    """Say so when a data file is absent; the default ones are the shared data beside a checkout."""
    if data.exists():
        return False
    print(f"error: {data} does not exist (the shared data sits in ../shared/data beside a checkout)", file=sys.stderr)
    return True


def _add_embedding_option(p) -> None:
    p.add_argument("--config", type=Path, help="service configuration (YAML, as for serve) of the in-process "
                   "service: learner and reading settings to benchmark")
    p.add_argument("--embedding", choices=["static", "minilm"],
                   help="prompt embedding of the in-process service, overriding the config: the distilled static "
                   "table (the default) or the full MiniLM (its vectors are cached on disk between runs)")


def _add_perf(commands) -> None:
    p = commands.add_parser("perf", help="measure where Route's time goes and how much load a server takes",
                            description="In one run: the MiniLM forward (the floor) and the static embedding, Route "
                            "in process, Route over gRPC one call at a time (p50/p95/p99), Route throughput at 8 and "
                            "32 clients, Feedback per second, the server's resident memory, and semantic-cache "
                            "lookups at 10,000 and 100,000 entries. Prompts of at most 64 tokens.")
    p.add_argument("--requests", type=int, default=500, help="timed Route calls one at a time (default 500)")
    p.add_argument("--seconds", type=float, default=15, help="seconds of load at each client count (default 15)")
    p.add_argument("--feedbacks", type=int, default=2000, help="Feedback calls in the burst (default 2000)")
    p.add_argument("--cache-sizes", type=int, nargs="*", default=[10_000, 100_000],
                   help="cache entries to time lookups at (default 10000 100000; none to skip)")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    p.set_defaults(run=_perf)


def _perf(args) -> int:
    from simulator.perf import run_perf

    return run_perf(args.requests, args.json, args.seconds, tuple(args.cache_sizes), args.feedbacks)


SCALING_FIGURES = """\
Measure, in one run and side by side, SQLite with one server process and PostgreSQL with 1, 2 ... N
replicas on one database server (a fresh database each): real `banditroute serve` processes under the
same closed-loop load of C clients through one gRPC channel, round_robin over the replicas' addresses,
every Route a prompt not seen before. Without --storage, a throwaway PostgreSQL server is started in a
temporary directory with fsync on, and stopped at the end.

The figures, per configuration:
  Route/s, Route p50 / p99   Routes answered a second under the load, and their latency.
  CPU ms/Route               CPU time (user + system, from /proc) over the load divided by the Routes
                             answered: the replicas' summed; the database server's (its postmaster and
                             every child; shown only when it runs on this machine); both; and the load
                             generator's (this process, on the same cores).
  DB .../Route               PostgreSQL: the database's transactions committed (the replicas' reads as
                             they follow one another included) and rows written (inserted + updated +
                             deleted) from pg_stat_database, and the server's WAL bytes, over the load.
  idle CPU %, transactions/s what the replicas cost with no call coming (each follows the others every
                             0.2 s and probes its storage every second), over 3 s before the load.
  Feedback/s                 the rate a burst of FeedbackBatch calls (100 feedbacks each, --feedback-clients
                             at a time, round_robin) for the decisions routed reached.
  staleness p50 / p99        per replica, from its banditroute_policy_staleness_seconds histogram's growth
                             over the burst (settlement on the replica that took a feedback to this
                             replica's policy learning it), interpolated within the buckets; and the worst
                             replica's p99. The goal: p99 <= 2 s at 1,000 feedbacks/s.
  all at the log's last seq  seconds from the burst's last answer until every replica's policy has learned
                             through the newest feedback in the log.
  resident MB                each replica's memory at the end.
"""


def _add_scaling(commands) -> None:
    p = commands.add_parser("scaling", help="measure SQLite beside 1..N PostgreSQL replicas: Route/s, CPU, "
                            "writes and staleness", description=SCALING_FIGURES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--storage", type=_postgresql_uri, metavar="URI", help="postgresql://… of a database on the "
                   "server to use (each configuration gets a new database there, dropped after: the user needs "
                   "CREATEDB); default: a throwaway server started here")
    p.add_argument("--replicas", type=_at_least_one, default=3, help="measure PostgreSQL with 1 to N replicas "
                   "(default 3)")
    p.add_argument("--clients", type=_at_least_one, default=16, help="concurrent clients of the load (default 16)")
    p.add_argument("--seconds", type=float, default=15, help="seconds of load per configuration (default 15)")
    p.add_argument("--feedbacks", type=_at_least_one, default=5000, help="feedbacks in each burst (default 5000)")
    p.add_argument("--feedback-clients", type=_at_least_one, default=3, help="FeedbackBatch calls the burst keeps "
                   "in flight (default 3; more only queue on this machine, and the staleness counts the wait)")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    p.set_defaults(run=_scaling)


def _postgresql_uri(text: str) -> str:
    if not text.startswith(("postgresql://", "postgres://")):
        raise argparse.ArgumentTypeError(f"expected a postgresql:// URI, got {text!r}")
    return text


def _scaling(args) -> int:
    from simulator.scaling import Plan, run_scaling

    plan = Plan(args.clients, args.seconds, args.feedbacks, args.feedback_clients)
    return run_scaling(args.storage, args.replicas, plan, args.json)


def _add_loadtest(commands) -> None:
    p = commands.add_parser("loadtest", help="load a running server and report throughput, latency and errors",
                            description="Drive a running server with C concurrent clients, each routing synthetic "
                            "prompts and feeding back a share of the decisions, and print per call type the "
                            "throughput, p50/p95/p99/max latency and the errors by gRPC status code.")
    p.add_argument("--addr", default="127.0.0.1:50051", help="service address HOST:PORT, or several replicas' "
                   "IP:PORT separated by commas: one channel spreads the calls over them with round_robin")
    p.add_argument("--clients", type=_at_least_one, default=32, help="concurrent clients (default 32)")
    p.add_argument("--rps", type=float, default=0, help="target Route calls per second over all clients, sent on "
                   "schedule whatever the answers' speed; 0: each client as fast as it is answered (default)")
    p.add_argument("--duration", type=float, default=60, help="seconds (default 60)")
    p.add_argument("--feedback-share", type=float, default=0.5, help="share of decisions fed back (default 0.5)")
    p.add_argument("--distinct", type=_at_least_one, default=1000, help="distinct prompts to cycle through (default 1000); "
                   "as many as the run sends makes every Route a first sight, with nothing remembered")
    p.add_argument("--json", type=Path, help="also write the report to this JSON file")
    p.set_defaults(run=_loadtest)


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def _loadtest(args) -> int:
    from simulator.loadtest import loadtest_command

    return loadtest_command(args.addr, args.clients, args.rps, args.duration, args.feedback_share,
                            os.environ.get("BANDITROUTE_API_KEY"), args.json, args.distinct)



def _add_cache_eval(commands) -> None:
    from simulator.datasets import CACHE_PAIRS_DEV

    p = commands.add_parser("cache-eval", help="measure the semantic cache on labelled question pairs",
                            description="Store every text_a of a pairs file as a cached prompt of one tenant, look up "
                            "every text_b, and report duplicate recall, false-hit rate and precision for the guarded "
                            "cache and for plain cosine at the same threshold, with lookup latency.")
    p.add_argument("--pairs", type=Path, default=CACHE_PAIRS_DEV,
                   help=f"JSON list of {{text_a, text_b, label}} (default {CACHE_PAIRS_DEV})")
    p.add_argument("--json", type=Path, default=Path("runs/cache-eval.json"), help="where to write the results")
    p.add_argument("--threshold", type=float, help="similarity threshold (the configured one otherwise)")
    p.add_argument("--config", type=Path, help="service configuration (YAML): cache and reading settings")
    p.add_argument("--scale", type=int, nargs="+", metavar="N",
                   help="also measure lookup latency and memory with N entries in one tenant's cache (e.g. 10000 100000)")
    p.set_defaults(run=_cache_eval)


def _cache_eval(args) -> int:
    from simulator.cache_eval import run_cache_eval

    if _missing(args.pairs):
        return 2
    return run_cache_eval(args.pairs, args.json, args.config, args.threshold, args.scale)



def _add_ope_study(commands) -> None:
    p = commands.add_parser("ope-study", help="measure the off-policy estimators where the truth is known",
                            description="Log synthetic traffic under the service's exploration, estimate several "
                            "target policies' mean quality with IPS, SNIPS, DR and DM, and report per estimator and "
                            "log size how often the 95%% interval covered the true value and the mean absolute error.")
    p.add_argument("--seeds", type=int, default=20, help="independent logs per size (default 20)")
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 50_000], metavar="N",
                   help="logged events (default 1000 10000 50000)")
    p.add_argument("--feedbacks", type=int, default=1000, help="the logging policy explores as the service does "
                   "after this many feedbacks (γ = gamma_scale·√(feedbacks+1); default 1000)")
    p.add_argument("--floor", type=float, help="the logging policy's minimum probability per model "
                   "(default: the service's learner.min_probability)")
    p.add_argument("--json", type=Path, default=Path("runs/ope-study.json"), help="where to write the results")
    p.set_defaults(run=_ope_study)


def _ope_study(args) -> int:
    from simulator.ope_study import run_ope_study

    return run_ope_study(args.seeds, args.sizes, args.feedbacks, args.floor, args.json)


def _add_replicas(commands) -> None:
    p = commands.add_parser("replicas", help="run PostgreSQL and N replicas here and drive them with the simulator",
                            description="Start a throwaway PostgreSQL server (or use --storage), N replicas of the "
                            "service on one database of it, one config and one API key, and send the simulator's "
                            "steady traffic to all of them through one round_robin client: the deployment of the "
                            "README's 'Many replicas' section, on this machine. Everything is removed at the end.")
    p.add_argument("--replicas", type=_at_least_one, default=3, help="replica processes (default 3)")
    p.add_argument("--requests", type=int, default=3000, help="prompts the simulator sends (default 3000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the traffic, the world and exploration (default 1)")
    p.add_argument("--storage", type=_postgresql_uri, metavar="URI", help="a postgresql:// URI of an existing "
                   "database to use instead of a throwaway server (its tables are created, and kept)")
    p.add_argument("--serve", action="store_true", help="send no traffic: keep them running until Ctrl-C and print "
                   "how to reach them")
    p.add_argument("--json", type=Path, default=Path("runs/replicas.json"), help="where to write the results")
    p.set_defaults(run=_replicas)


def _replicas(args) -> int:
    from simulator.replicas import run_replicas

    return run_replicas(args.replicas, args.requests, args.seed, args.storage, args.serve, args.json)


def _add_dedup_eval(commands) -> None:
    p = commands.add_parser("dedup-eval", help="what in-flight deduplication saves on traffic with bursts of duplicates",
                            description="Route the simulator's traffic, a share of its prompts arriving as bursts of "
                            "identical requests while the first is unanswered, through a service with the tenant's "
                            "dedup_seconds and through one without; compare calls, spend and quality.")
    p.add_argument("--prompts", type=int, default=2000, help="distinct prompts in the stream (default 2000)")
    p.add_argument("--burst-share", type=float, default=0.2, help="share of prompts sent as a burst (default 0.2)")
    p.add_argument("--burst-size", type=int, default=5, help="identical requests in a burst (default 5)")
    p.add_argument("--seed", type=int, default=1, help="seed of traffic, bursts and world (default 1)")
    p.add_argument("--json", type=Path, default=Path("runs/dedup-eval.json"), help="where to write the results")
    p.set_defaults(run=_dedup_eval)


def _dedup_eval(args) -> int:
    from simulator.dedup_eval import run_dedup_eval

    if not 0 <= args.burst_share <= 1 or args.burst_size < 1 or args.prompts < 1:
        raise SystemExit("dedup-eval: --burst-share is in [0, 1], --burst-size and --prompts at least 1")
    run_dedup_eval(args.prompts, args.burst_share, args.burst_size, args.seed, args.json)
    return 0


def _add_forecast_backtest(commands) -> None:
    p = commands.add_parser("forecast-backtest", help="the spend forecast's error against naive forecasts",
                            description="Forecast daily spend (statsmodels' ETS, as stats --forecast does) from "
                            "rolling origins of two series with a trend and a weekly cycle (a synthetic one, and "
                            "one priced from the simulator's traffic), and compare its MAPE and interval coverage "
                            "with the same weekday last week and with the last day.")
    p.add_argument("--days", type=int, default=120, help="days in each series (default 120)")
    p.add_argument("--horizon", type=int, default=7, help="days forecast from each origin (default 7)")
    p.add_argument("--origins", type=int, default=12, help="forecast origins, the last ones of the series (default 12)")
    p.add_argument("--seed", type=int, default=1, help="seed of the series (default 1)")
    p.add_argument("--json", type=Path, default=Path("runs/forecast-backtest.json"), help="where to write the results")
    p.add_argument("--plot", type=Path, default=Path("runs/forecast-backtest.png"),
                   help="a PNG of the traffic series' last forecast against what happened")
    p.set_defaults(run=_forecast_backtest)


def _forecast_backtest(args) -> int:
    from simulator.forecast_backtest import run_backtest

    try:
        run_backtest(args.days, args.horizon, args.origins, args.seed, args.json, args.plot)
    except ValueError as exc:  # a series too short for its origins, a horizon below one
        raise SystemExit(f"forecast-backtest: {exc}") from None
    return 0


def _add_advice_eval(commands) -> None:
    p = commands.add_parser("advise-eval", help="the cost advisor from finding to measured saving, on simulated traffic",
                            description="Route the simulator's traffic where team content asks for quality first "
                            "and claude-opus-4 is overpriced for its work (claude-sonnet-4 answers it as well); ask "
                            "the advisor, apply its recommendation for the team on an A/B share, route as many "
                            "requests again, and set the DR estimate made before beside the A/B measurement after.")
    p.add_argument("--requests", type=int, default=10_000, help="requests before and after applying (default 10000)")
    p.add_argument("--ab-share", type=float, default=0.2, help="share of the team's matching traffic the rule takes "
                   "(default 0.2)")
    p.add_argument("--seed", type=int, default=1, help="seed of traffic, world and exploration (default 1)")
    p.add_argument("--json", type=Path, default=Path("runs/advise-eval.json"), help="where to write the results")
    p.set_defaults(run=_advice_eval)


def _advice_eval(args) -> int:
    from simulator.advice_eval import run_advice_eval

    if not 0 < args.ab_share <= 1 or args.requests < 1:
        raise SystemExit("advise-eval: --ab-share is in (0, 1] and --requests at least 1")
    run_advice_eval(args.requests, args.ab_share, args.seed, args.json)
    return 0


def _add_compression_eval(commands) -> None:
    from simulator.datasets import ROUTING_DEV

    p = commands.add_parser("compression-eval", help="what prompt compression saves and what it may change, on real "
                            "prompts", description="Compress routing_dev.csv's MT-Bench and GSM8K prompts at each "
                            "level, alone and inside a built conversation with pasted context, and report the tokens "
                            "saved and the share of prompts where a number, a negation, a code block or the question "
                            "itself no longer appears as it was. No model is called.")
    p.add_argument("--data", type=Path, default=ROUTING_DEV, help=f"the labelled CSV (default {ROUTING_DEV})")
    p.add_argument("--json", type=Path, default=Path("runs/compression-eval.json"), help="where to write the results")
    p.set_defaults(run=_compression_eval)


def _compression_eval(args) -> int:
    from simulator.compression_eval import print_compression_report, run_compression_eval

    report = run_compression_eval(args.data, args.json)
    print_compression_report(report, args.json)
    return 0
