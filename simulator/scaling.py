"""`banditroute scaling`: what replicas on one PostgreSQL database give and cost, beside one SQLite server.

One run measures, configuration after configuration: SQLite with one server process (the embedded
default), then PostgreSQL with 1, 2, … N replicas on one database server, a fresh database each. Every
configuration runs real `banditroute serve` processes and gets the same load: C clients in a closed
loop through one gRPC channel that spreads the calls over every replica with round_robin, each Route a
prompt the servers have not seen. Measured for each:

- Route/s and Route p50/p99 under that load;
- CPU seconds per Route: the replicas' (from /proc), the database server's processes' (its postmaster
  and every child, ended backends included; only when it runs on this machine), their sum, and this
  process's, the load generator's, which shares the cores;
- database writes per Route: transactions committed, rows written (inserted + updated + deleted) from
  pg_stat_database, and WAL bytes;
- what the replicas cost while idle (following one another, probing storage), in CPU and transactions
  a second, measured just before the load;
- feedback-to-policy staleness: a burst of feedback for the decisions routed, in FeedbackBatch calls,
  as fast as the replicas take it; each replica's `banditroute_policy_staleness_seconds` histogram is
  read before and after, and its p50/p99 taken from the buckets' difference; then how long until every
  replica's policy has learned through the log's last feedback.

Without `--storage`, the PostgreSQL configurations use a throwaway server started here, durable (fsync
on), so writes pay for flushing as in a deployment; SQLite also syncs each commit (synchronous FULL).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml
from tqdm import tqdm

from router.client import RouterClient
from router.client.process import ServerProcess, servers_side_by_side
from router.transport.auth import key_hash, new_key
from simulator.loadtest import ROUTE, Acknowledgements, run_feedback_burst, run_loadtest
from simulator.perf import FEEDBACK_BATCH, LOAD_PROMPTS_PER_S, WARMUP, rss_mb
from simulator.probes import PostgresProbe, Usage, histogram_buckets, learned_seq, routes_answered, scrape, staleness
from simulator.simulate import route_request
from simulator.traffic import SyntheticPrompt, distinct_prompts

STALENESS = "banditroute_policy_staleness_seconds"
# Concurrent FeedbackBatch calls in the burst, by default. Here (2 cores, 3 replicas) the rate stops growing
# at 2 or 3 (every feedback transaction takes one lock across the replicas), and more calls only queue: at 8,
# the replicas took fewer feedbacks a second (950 against 1,340) and the staleness p99 went from 0.5 s to
# 2 s, the wait in that queue (it counts from settlement, before the lock).
FEEDBACK_CLIENTS = 3
# Seconds of doing nothing, before the load, to measure what the replicas cost while idle.
IDLE_S = 3.0
# How long every replica may take to learn through the log's last feedback before it counts as never.
CATCH_UP_PATIENCE_S = 60.0
POLL_S = 0.02


@dataclass(frozen=True)
class Plan:
    """What every configuration gets: the load's clients and length, and the feedbacks of the burst and
    how many FeedbackBatch calls it keeps in flight."""

    clients: int
    seconds: float
    feedbacks: int
    feedback_clients: int = FEEDBACK_CLIENTS
    idle_seconds: float = IDLE_S  # of doing nothing before the load, to measure the idle cost


def run_scaling(storage: str | None, replicas: int, plan: Plan, json_path: Path | None,
                counts: tuple[int, ...] | None = None) -> int:
    """Measure SQLite and PostgreSQL with 1..`replicas` replicas (or only the replica `counts` given),
    print the table, write the JSON. storage: the URI of a PostgreSQL database on the server to use;
    None starts a throwaway one."""
    # The same prompts for every configuration: each starts new processes, which have seen none of them.
    prompts = distinct_prompts(WARMUP * replicas + int(LOAD_PROMPTS_PER_S * plan.seconds), seed=13,
                               max_input_tokens=64)
    warmup, load = prompts[:WARMUP * replicas], prompts[WARMUP * replicas:]
    figures: dict = {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg(), **asdict(plan)}
    with postgresql_server(storage) as (server_uri, origin):
        figures["postgresql"] = describe_server(server_uri, origin)
        configurations = [("SQLite", 1)] + [("PostgreSQL", n) for n in counts or range(1, replicas + 1)]
        figures["configurations"] = [
            measure_configuration(kind, n, server_uri, warmup[:WARMUP * n], load, plan)
            for kind, n in tqdm(configurations, desc="configurations", unit="configuration", disable=None)]
    figures["load_average_at_end"] = os.getloadavg()
    print(report(figures))
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2))
    return 0 if all(c["route"]["routes"] for c in figures["configurations"]) else 1


@contextmanager
def postgresql_server(storage: str | None) -> Iterator[tuple[str, str]]:
    """The server the PostgreSQL configurations use, and which it is: the user's (`storage`), or a
    throwaway one started here, durable, so that its commits wait for fsync as a deployment's do."""
    if storage is not None:
        yield storage, "given"
        return
    from simulator.postgres import postgres_server

    # Its own directory, not one under another temporary one: as root, the server's user must reach it.
    with tempfile.TemporaryDirectory(prefix="banditroute-scaling-pg-") as place, \
            postgres_server(Path(place), durable=True) as uri:
        yield uri, "throwaway, started here"


def describe_server(uri: str, origin: str) -> dict:
    """Which PostgreSQL, and whether its commits are durable: the figures depend on both."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as connection:
        version, fsync, synchronous_commit = (connection.execute(f"SHOW {name}").fetchone()[0]
                                              for name in ("server_version", "fsync", "synchronous_commit"))
    return {"server": origin, "version": version, "fsync": fsync, "synchronous_commit": synchronous_commit}


@contextmanager
def fresh_database(server_uri: str) -> Iterator[str]:
    """A new, empty database on the server for one configuration, dropped after it."""
    from simulator.postgres import create_database, drop_database

    name = f"banditroute_scaling_{uuid.uuid4().hex[:12]}"
    try:
        yield create_database(server_uri, name)
    finally:
        drop_database(server_uri, name)


def measure_configuration(kind: str, replicas: int, server_uri: str, warmup: list[SyntheticPrompt],
                          load_prompts: list[SyntheticPrompt], plan: Plan) -> dict:
    """Start the configuration's servers, warm them up, load them, then the feedback burst."""
    key = new_key()
    with tempfile.TemporaryDirectory(prefix="banditroute-scaling-") as place, \
            (fresh_database(server_uri) if kind == "PostgreSQL" else nullcontext()) as database:
        config = write_config(Path(place), database, key)
        with servers_side_by_side([Path(place) / f"replica-{i}" for i in range(replicas)], config) as servers, \
                (closing(PostgresProbe(database)) if database else nullcontext()) as probe:
            addrs = [server.addr for server in servers]
            route_all(addrs, key, warmup)
            figures, acks, sent = measure_load(servers, probe, key, load_prompts, plan)
            ids = decisions_to_feed_back(addrs, key, acks.routed, plan.feedbacks,
                                         itertools.islice(itertools.cycle(load_prompts), sent, None))
            last_seq = probe.last_feedback_seq if probe else lambda: _sqlite_last_feedback_seq(servers[0])
            figures.update(measure_feedback(servers, key, ids, plan.feedback_clients, last_seq))
            figures["server_rss_mb"] = [rss_mb(server.process.pid) for server in servers]
    return {"name": f"{kind} x{replicas}", "storage": kind, "replicas": replicas, **figures}


def write_config(place: Path, database: str | None, key: str) -> Path:
    """The config every replica of a configuration shares: its storage, metrics on a free port, one admin key."""
    config = place / "config.yaml"
    config.write_text(yaml.safe_dump({
        "storage": database or "sqlite", "metrics_port": 0,
        "auth": {"keys": [{"name": "scaling", "sha256": key_hash(key), "admin": True}]},
    }))
    return config


def route_all(addrs: list[str], key: str, prompts: list[SyntheticPrompt]) -> list[str]:
    """Route `prompts` in RouteBatch calls over the replicas: the decision ids. Warms every replica up
    (first calls load what the server loads lazily) and makes decisions to feed back."""
    ids = []
    with RouterClient(addrs, api_key=key) as client:
        for i in range(0, len(prompts), FEEDBACK_BATCH):
            outcomes = client.route_batch([route_request(p, None) for p in prompts[i:i + FEEDBACK_BATCH]])
            ids += [outcome["decision_id"] for outcome in outcomes if "decision_id" in outcome]
    return ids


def measure_load(servers: list[ServerProcess], probe: PostgresProbe | None, key: str,
                 prompts: list[SyntheticPrompt], plan: Plan) -> tuple[dict, Acknowledgements, int]:
    """The idle cost, then Route/s, latency, CPU and database writes per Route under the closed-loop
    load; the decisions it made; how many prompts it used."""
    idle, stats_before = measure_idle(servers, probe, plan.idle_seconds)
    load_average = os.getloadavg()
    answered_before = [routes_answered(server) for server in servers]
    before = Usage.now(servers, probe)
    acks = Acknowledgements()
    load = run_loadtest([server.addr for server in servers], plan.clients, 0, plan.seconds, feedback_share=0,
                        api_key=key, acks=acks, prompts=prompts, progress=sys.stderr.isatty())
    spent = Usage.now(servers, probe).minus(before)
    answered = [routes_answered(server) - earlier for server, earlier in zip(servers, answered_before)]
    routes = load.rpcs[ROUTE]
    figures = {
        "load_average_before": load_average,  # other work on the machine takes a share of its cores
        "idle": idle,
        "route": {"per_s": routes.ok_per_s, **routes.latency_ms, "routes": routes.ok,
                  "errors": sum(routes.errors.values()), "repeated_prompts": max(0, routes.sent - len(prompts)),
                  "each_replica": answered},
        "cpu_s_per_route": spent.per_route(routes.ok),
        "database_per_route": (writes_per_route(stats_before, probe.flushed_stats(), spent.wal_bytes, routes.ok)
                               if probe else None),
    }
    return figures, acks, routes.sent


def measure_idle(servers: list[ServerProcess], probe: PostgresProbe | None,
                 seconds: float) -> tuple[dict, dict[str, int] | None]:
    """What the replicas cost a second while no call comes (each follows the others every 0.2 s and
    probes its storage every second), and the database's statistics at the end, where the load starts."""
    start_stats = probe.flushed_stats() if probe else None
    start, usage = time.perf_counter(), Usage.now(servers, probe)
    time.sleep(seconds)
    spent, seconds = Usage.now(servers, probe).minus(usage), time.perf_counter() - start
    end_stats = probe.stats() if probe else None
    idle = {"servers_cpu_per_s": spent.servers_cpu / seconds,
            "database_cpu_per_s": None if spent.database_cpu is None else spent.database_cpu / seconds}
    if probe:
        idle.update({f"{name}_per_s": (end_stats[name] - start_stats[name]) / seconds for name in end_stats})
    return idle, end_stats


def writes_per_route(before: dict[str, int], after: dict[str, int], wal_bytes: float | None, routes: int) -> dict:
    per_route = {name: (after[name] - before[name]) / max(routes, 1) for name in before}
    return {**per_route, "wal_bytes": None if wal_bytes is None else wal_bytes / max(routes, 1)}


def decisions_to_feed_back(addrs: list[str], key: str, routed: list[str], wanted: int,
                           more_prompts: Iterator[SyntheticPrompt]) -> list[str]:
    """`wanted` decision ids: the load's, and new ones routed from `more_prompts` when it made too few."""
    missing = wanted - len(routed)
    if missing <= 0:
        return routed[:wanted]
    return routed + route_all(addrs, key, list(itertools.islice(more_prompts, missing)))


def _sqlite_last_feedback_seq(server: ServerProcess) -> int:
    """The newest feedback's sequence number in a SQLite server's log, read beside it."""
    import sqlite3

    with closing(sqlite3.connect(f"file:{server.data_dir / 'decisions.sqlite'}?mode=ro", uri=True)) as connection:
        return connection.execute("SELECT coalesce(max(seq), 0) FROM feedback").fetchone()[0]


def measure_feedback(servers: list[ServerProcess], key: str, decision_ids: list[str], clients: int,
                     last_seq: Callable[[], int]) -> dict:
    """The feedback burst over every replica; each replica's staleness from its histogram's growth;
    the time from the burst's last answer until every replica learned through the log's last feedback."""
    before = [scrape(server) for server in servers]
    burst = run_feedback_burst([server.addr for server in servers], decision_ids, clients,
                               batch=FEEDBACK_BATCH, api_key=key)
    ended = time.perf_counter()
    caught_up = wait_until_learned(servers, last_seq(), ended)
    after = [scrape(server) for server in servers]
    per_replica = [staleness(histogram_buckets(a, STALENESS), histogram_buckets(b, STALENESS))
                   for a, b in zip(after, before)]
    p99s = [replica["p99_s"] for replica in per_replica if replica["p99_s"] is not None]
    return {
        "feedback": {"per_s": burst.ok_per_s, "accepted": burst.ok, "sent": burst.sent,
                     "errors": sum(burst.errors.values()), "batch": FEEDBACK_BATCH, "clients": clients},
        "staleness": {"replicas": per_replica, "worst_p99_s": max(p99s) if p99s else None},
        "caught_up": caught_up,
    }


def wait_until_learned(servers: list[ServerProcess], log_seq: int, since: float) -> dict:
    """Poll the replicas until each one's policy has learned through `log_seq`: the seconds from `since`
    (None if not within CATCH_UP_PATIENCE_S) and where each stood at the end."""
    deadline = since + CATCH_UP_PATIENCE_S
    while True:
        learned = [learned_seq(server) for server in servers]
        now = time.perf_counter()
        if all(seq == log_seq for seq in learned) or now > deadline:
            break
        time.sleep(POLL_S)
    return {"log_seq": log_seq, "learned_seq": learned,
            "seconds": now - since if all(seq == log_seq for seq in learned) else None}


def report(f: dict) -> str:
    """The configurations side by side, one figure a row."""
    pg = f["postgresql"]
    lines = [f"\nbanditroute scaling: {f['clients']} clients in a closed loop for {f['seconds']:g} s per "
             f"configuration, one round_robin channel over the replicas,",
             f"every Route a new prompt; then {f['feedbacks']} feedbacks, {f['feedback_clients']} FeedbackBatch "
             f"calls of {FEEDBACK_BATCH} in flight",
             f"machine: {f['cores']} cores, load average {_load(f['load_average_at_start'])} at start, "
             f"{_load(f['load_average_at_end'])} at end",
             f"SQLite: synchronous FULL. PostgreSQL {pg['version']} ({pg['server']}): fsync {pg['fsync']}, "
             f"synchronous_commit {pg['synchronous_commit']}", ""]
    configurations = f["configurations"]
    lines.append(f"{'':36}" + "".join(f"{c['name']:>20}" for c in configurations))
    for label, cell in ROWS:
        lines.append(f"{label:36}" + "".join(f"{cell(c):>20}" for c in configurations))
    lines += NOTES
    repeated = ", ".join(f"{c['name']} {c['route']['repeated_prompts']}" for c in configurations
                         if c["route"]["repeated_prompts"])
    if repeated:
        lines.append(f"Routes of a prompt sent before (more Routes than distinct prompts; cheaper: its vector is "
                     f"remembered): {repeated}")
    return "\n".join(lines)


def _load(averages: tuple[float, float, float]) -> str:
    return " ".join(f"{a:.2f}" for a in averages)


def _num(value: float | None, digits: int = 1, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def _replicas(c: dict, key: str) -> str:
    return "/".join(_num(r[key], 0, 1000) for r in c["staleness"]["replicas"])


def _database(c: dict, key: str, digits: int) -> str:
    return _num(c["database_per_route"][key], digits) if c["database_per_route"] else "-"


ROWS = [
    ("load average before the load", lambda c: _load(c["load_average_before"])),
    ("Route/s", lambda c: _num(c["route"]["per_s"])),
    ("Route p50 / p99 ms", lambda c: f"{_num(c['route'].get('p50'))} / {_num(c['route'].get('p99'))}"),
    ("Route errors", lambda c: str(c["route"]["errors"])),
    ("Routes answered, each replica", lambda c: "/".join(str(n) for n in c["route"]["each_replica"])),
    ("CPU ms/Route: servers", lambda c: _num(c["cpu_s_per_route"]["servers"], 2, 1000)),
    ("CPU ms/Route: database server", lambda c: _num(c["cpu_s_per_route"]["database"], 2, 1000)),
    ("CPU ms/Route: servers + database", lambda c: _num(c["cpu_s_per_route"]["servers_and_database"], 2, 1000)),
    ("CPU ms/Route: load generator", lambda c: _num(c["cpu_s_per_route"]["load_generator"], 2, 1000)),
    ("DB transactions/Route", lambda c: _database(c, "transactions", 2)),
    ("DB rows written/Route", lambda c: _database(c, "rows_written", 2)),
    ("DB WAL bytes/Route", lambda c: _database(c, "wal_bytes", 0)),
    ("idle CPU %: servers / database", lambda c: f"{_num(c['idle']['servers_cpu_per_s'], 1, 100)} / "
                                                 f"{_num(c['idle']['database_cpu_per_s'], 1, 100)}"),
    ("idle DB transactions/s", lambda c: _num(c["idle"].get("transactions_per_s"), 0)),
    (f"Feedback/s ({FEEDBACK_BATCH} a call)", lambda c: _num(c["feedback"]["per_s"], 0)),
    ("Feedback errors", lambda c: str(c["feedback"]["errors"])),
    ("staleness p50 ms, each replica", lambda c: _replicas(c, "p50_s")),
    ("staleness p99 ms, each replica", lambda c: _replicas(c, "p99_s")),
    ("staleness p99 ms, worst replica", lambda c: _num(c["staleness"]["worst_p99_s"], 0, 1000)),
    ("all at the log's last seq after s", lambda c: _num(c["caught_up"]["seconds"], 2)),
    ("resident MB, each replica", lambda c: "/".join(f"{mb:.0f}" for mb in c["server_rss_mb"])),
]

NOTES = [
    "",
    "CPU: user + system time from /proc; the database server's is its postmaster's and every child's (ended",
    "  backends included). The load generator (this process) runs on the same cores.",
    "DB: deltas of pg_stat_database for the configuration's database over the load; its transactions include",
    "  the replicas' reads as they follow one another (every 0.2 s), which go on at idle (the idle rows, taken",
    f"  over {IDLE_S:g} s before the load). WAL bytes: the whole server's.",
    "staleness: each replica's banditroute_policy_staleness_seconds histogram (from a feedback's settlement on",
    "  the replica that took it to this replica's policy learning it; its own count too, learned at once),",
    "  interpolated linearly within the buckets (5 ms ... 30 s) as Prometheus's histogram_quantile does.",
    "  The goal: p99 <= 2 s at 1,000 feedbacks/s.",
]
