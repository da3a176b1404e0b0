"""`banditroute replicas`: PostgreSQL and N replicas of the service on this machine, driven by the simulator.

One command shows the deployment the README's scaling section describes: a PostgreSQL server (a throwaway
one from simulator/postgres.py, or the user's with --storage), N `banditroute serve` processes sharing its
database, one config and one API key, and the simulator's traffic sent to all of them at once through one
client with gRPC's round_robin. Every replica learns every feedback in the log's order, so there is no
learner process to start: the replicas are the learners (README, "Many replicas").

With --serve it leaves them running until Ctrl-C and prints how to reach them instead.
"""

from __future__ import annotations

import os
import secrets
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from router.client.process import ServerProcess, servers_side_by_side
from router.transport.auth import key_hash


def run_replicas(replicas: int, requests: int, seed: int, storage: str | None, serve: bool, json_path: Path) -> int:
    from simulator.simulate import run_simulate

    key = f"br_{secrets.token_urlsafe(24)}"
    with tempfile.TemporaryDirectory(prefix="banditroute-replicas-") as tmp, database(storage) as uri:
        config = Path(tmp) / "config.yaml"
        # The simulator's world is seeded: replicas explore with its seed, as an in-process run would.
        config.write_text(yaml.safe_dump({"storage": uri, "learner": {"seed": seed}, "metrics_port": 0,
                                          "auth": {"keys": [{"name": "replicas", "sha256": key_hash(key),
                                                             "admin": True}]}}))
        print(f"starting {replicas} replicas on {uri}", flush=True)
        with servers_side_by_side([Path(tmp) / f"replica-{i}" for i in range(replicas)], config) as servers:
            addresses = ",".join(server.addr for server in servers)
            describe(servers, addresses, key)
            os.environ["BANDITROUTE_API_KEY"] = key  # how RouterClient, and so the simulator, finds its key
            if serve:
                wait_for_interrupt()
                return 0
            return run_simulate("steady", requests, seed, json_path, None, addresses)


@contextmanager
def database(storage: str | None) -> Iterator[str]:
    """The user's database (`storage`, kept afterwards), or a new one on a throwaway server here, in a
    directory of its own (handed to the server's user when run as root)."""
    from simulator.postgres import create_database, postgres_server

    if storage is not None:
        yield storage
        return
    with tempfile.TemporaryDirectory(prefix="banditroute-pg-") as place, postgres_server(Path(place)) as uri:
        yield create_database(uri, "banditroute")


def describe(servers: list[ServerProcess], addresses: str, key: str) -> None:
    for i, server in enumerate(servers):
        print(f"  replica {i}: {server.addr}  metrics {server.metrics_url}", flush=True)
    print(f"reach them all with: BANDITROUTE_API_KEY={key} banditroute stats --addr {addresses} --tenant simulator",
          flush=True)


def wait_for_interrupt() -> None:
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    print("serving until Ctrl-C", flush=True)
    done.wait()
