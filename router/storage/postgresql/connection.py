"""The one PostgreSQL database every store of a service shares: a pool of connections, the schema
brought to this code's version at start (schema.py), and psycopg's errors as the service's own.

At start, a database that cannot be reached or used is CannotStart, naming its URI without the
password. Once running, a database that is down or refuses the work (gone, shut down, out of disk or
of connections, read-only) is StorageUnavailable, which callers get as UNAVAILABLE and may retry: a
call waits at most WAIT_SECONDS for a connection, never hangs on a database that does not answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from router.domain.errors import CannotStart, StorageUnavailable
from router.storage.postgresql.schema import migrate

WAIT_SECONDS = 3.0  # for a connection from the pool, which keeps trying to open one in the meantime
_CONNECT_SECONDS = 3  # for a new connection to a server that does not answer (libpq's minimum is 2)
# A statement the server has not finished in this long is cancelled and its call is UNAVAILABLE: a server
# that is up but stuck (a lock held by a hung session, a disk that stalls) never holds a call past its
# deadline. Far above any statement of the service's (milliseconds), lock waits included.
_STATEMENT_MILLISECONDS = 10_000
# The database, not the call, is at fault: unreachable, shut down, out of disk or connections, or a
# standby (read-only) after a failover.
_UNAVAILABLE = (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction, PoolTimeout)


class Database:
    """A pool of connections in autocommit, shared by the stores of one service: each store `share`s
    it when opened and `release`s it when closed, and the last to close closes the pool."""

    def __init__(self, uri: str, max_connections: int):
        self.shown = without_password(uri)
        try:
            with psycopg.connect(uri, autocommit=True, connect_timeout=_CONNECT_SECONDS) as connection:
                migrate(connection, self.shown)
        except psycopg.Error as exc:
            raise CannotStart(f"storage: the PostgreSQL database at {self.shown} cannot be used: "
                              f"{one_line(exc)}") from exc
        # Each connection is checked as it is lent: after the server restarts, calls get new
        # connections instead of failing once on each of the old ones. The pool's attempts to reconnect
        # back off exponentially; given up after WAIT_SECONDS, the next call starts them afresh, so a
        # database that is back is used again within seconds, not after a backoff grown long in an outage.
        self._pool = ConnectionPool(uri, min_size=1, max_size=max_connections, timeout=WAIT_SECONDS,
                                    reconnect_timeout=WAIT_SECONDS, open=False,
                                    kwargs={"autocommit": True, "connect_timeout": _CONNECT_SECONDS,
                                            "options": f"-c statement_timeout={_STATEMENT_MILLISECONDS}"},
                                    check=ConnectionPool.check_connection, name=self.shown)
        self._pool.open()
        self._users: set[int] = set()
        self._lock = threading.Lock()

    def share(self, store: object) -> Database:
        with self._lock:
            self._users.add(id(store))
        return self

    def release(self, store: object) -> None:
        """A store is closed (again: nothing more); the pool closes with the last."""
        with self._lock:
            self._users.discard(id(store))
            last = not self._users
        if last:
            self.close()

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection of the pool, in autocommit: each statement commits on its own."""
        try:
            with self._pool.connection() as connection:
                yield connection
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(f"storage: the PostgreSQL database at {self.shown} is unavailable "
                                     f"({one_line(exc)}); retry once it is back") from exc

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A connection in one transaction, committed when the block ends, rolled back if it raises."""
        with self.connection() as connection, connection.transaction():
            yield connection


def insert(table: str, row: dict, then: str = "") -> str:
    """The INSERT of a row's columns, its values as parameters; `then` follows (ON CONFLICT, RETURNING)."""
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))}) {then}"


def without_password(uri: str) -> str:
    """The URI as messages and logs may show it: no password, in its user part or in its parameters."""
    parts = urlsplit(uri)
    user, at, hosts = parts.netloc.rpartition("@")
    netloc = f"{user.partition(':')[0]}@{hosts}" if at else hosts
    query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != "password"]
    return parts._replace(netloc=netloc, query=urlencode(query, safe="/")).geturl()


def one_line(error: Exception) -> str:
    """libpq's messages span lines (a hint under the error): one line for a log or a status."""
    return " ".join(str(error).split())
