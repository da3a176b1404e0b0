"""What `banditroute scaling` reads off the processes it measures: CPU time from /proc (the replicas', the
database server's with its ended backends, this process's), PostgreSQL's statistics and WAL position, and
the replicas' Prometheus metrics, histograms read as Prometheus's histogram_quantile reads them."""

from __future__ import annotations

import math
import os
import resource
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from router.client.process import ServerProcess

LEARNED_SEQ = "banditroute_learned_feedback_seq"
# Backends report their statistics at most once a second, when idle: read this long after the work.
STATS_FLUSH_S = 2.0


@dataclass(frozen=True)
class Usage:
    """CPU seconds spent so far by the replicas, the database server (None: not on this machine) and
    this process, and the WAL written (None without PostgreSQL)."""

    servers_cpu: float
    database_cpu: float | None
    load_generator_cpu: float
    wal_bytes: float | None

    @classmethod
    def now(cls, servers: list[ServerProcess], probe: PostgresProbe | None) -> Usage:
        this = resource.getrusage(resource.RUSAGE_SELF)
        return cls(sum(cpu_seconds(server.process.pid) for server in servers), probe.cpu_seconds() if probe else None,
                   this.ru_utime + this.ru_stime, probe.wal_bytes() if probe else None)

    def minus(self, earlier: Usage) -> Usage:
        return Usage(*(None if now is None or then is None else now - then
                       for now, then in zip(asdict(self).values(), asdict(earlier).values())))

    def per_route(self, routes: int) -> dict:
        n = max(routes, 1)
        database = None if self.database_cpu is None else self.database_cpu / n
        return {"servers": self.servers_cpu / n, "database": database,
                "servers_and_database": None if database is None else self.servers_cpu / n + database,
                "load_generator": self.load_generator_cpu / n}


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used, user and system, with that of its children it has waited for:
    how PostgreSQL's backends, once ended, still count (in their postmaster's)."""
    fields = _stat(pid)
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def parent_pid(pid: int) -> int:
    """Raises OSError when the process has ended."""
    return int(_stat(pid)[1])


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command's name (which may hold spaces): state, ppid, …"""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` now."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent_pid(int(entry.name)) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError):
                continue  # ended meanwhile
    return found


class PostgresProbe:
    """What the database server does for one database: its statistics, its WAL position, and the CPU
    of its processes when it runs on this machine."""

    def __init__(self, uri: str):
        import psycopg

        self.connection = psycopg.connect(uri, autocommit=True)
        self.postmaster = self._postmaster()

    def _postmaster(self) -> int | None:
        """The server's postmaster when it runs on this machine: the parent of the backend serving this
        connection, whose working directory is the data directory. None when that cannot be seen."""
        import psycopg

        backend = self.connection.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:
            data = self.connection.execute("SHOW data_directory").fetchone()[0]
            postmaster = parent_pid(backend)
            here = os.path.realpath(f"/proc/{postmaster}/cwd")
        except (psycopg.Error, OSError, IndexError):
            return None
        return postmaster if here == os.path.realpath(data) else None

    def cpu_seconds(self) -> float | None:
        if self.postmaster is None:
            return None
        processes = [self.postmaster, *children(self.postmaster)]
        return sum(_cpu_or_nothing(pid) for pid in processes)

    def wal_bytes(self) -> float:
        """Where the server's WAL stands, in bytes from its start (server-wide: other databases count too)."""
        return float(self.connection.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')").fetchone()[0])

    def stats(self) -> dict[str, int]:
        """Transactions committed (the replicas' reads count too) and rows written in this database."""
        row = self.connection.execute(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
            "WHERE datname = current_database()").fetchone()
        return {"transactions": row[0], "rows_written": row[1]}

    def flushed_stats(self) -> dict[str, int]:
        """The statistics once every backend has reported its part: each does at most once a second,
        when it goes idle, and the replicas keep using each of their connections as they follow."""
        time.sleep(STATS_FLUSH_S)
        return self.stats()

    def last_feedback_seq(self) -> int:
        return self.connection.execute("SELECT coalesce(max(seq), 0) FROM feedback").fetchone()[0]

    def close(self) -> None:
        self.connection.close()


def _cpu_or_nothing(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except (OSError, IndexError):
        return 0.0  # ended between the listing and the reading: its time is in its parent's now


def scrape(server: ServerProcess) -> dict:
    """A replica's Prometheus metrics, families by name."""
    with urllib.request.urlopen(server.metrics_url, timeout=10) as response:
        return {family.name: family for family in text_string_to_metric_families(response.read().decode())}


def routes_answered(server: ServerProcess) -> int:
    """Route calls a replica has answered OK (its gRPC metrics): how round_robin spread the load."""
    handled = scrape(server)["grpc_server_handled"].samples
    return int(sum(s.value for s in handled if s.labels["grpc_method"] == "Route" and s.labels["grpc_code"] == "OK"))


def learned_seq(server: ServerProcess) -> int:
    return int(scrape(server)[LEARNED_SEQ].samples[0].value)


def histogram_buckets(families: dict, name: str) -> dict[float, float]:
    """A histogram's cumulative counts by upper bound (+Inf included)."""
    return {float(s.labels["le"]): s.value for s in families[name].samples if s.name == f"{name}_bucket"}


def staleness(after: dict[float, float], before: dict[float, float]) -> dict:
    """p50 and p99 of what a replica observed between two readings of its staleness histogram."""
    grown = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    return {"observed": int(grown[math.inf]), "p50_s": histogram_quantile(grown, 0.5),
            "p99_s": histogram_quantile(grown, 0.99)}


def histogram_quantile(buckets: dict[float, float], q: float) -> float | None:
    """The q-quantile of a histogram of cumulative counts by upper bound, as Prometheus's
    histogram_quantile estimates it: linear within the bucket it falls in (the first from 0), and the
    largest finite bound when it falls past it. None for an empty histogram."""
    if not 0 < q <= 1:
        raise ValueError(f"q must be in (0, 1], not {q}")
    total = buckets.get(math.inf, 0.0)
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound in sorted(buckets):
        count = buckets[bound]
        if count >= rank:
            return lower if math.isinf(bound) else lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower
