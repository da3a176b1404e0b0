"""Claims of requests in flight in PostgreSQL, on which every replica sharing the database elects one
leader per identical request.

A partial unique index allows one unanswered claim per tenant and key. A claim is one transaction: the
key's lapsed unanswered claim is deleted, this decision's inserted ON CONFLICT DO NOTHING, and when
another's holds, it is read. Two replicas inserting at once wait on the index: the second sees the
first's row once it commits, and follows it. A claim answered between the insert and the read leaves
nothing to follow: the claim is tried again.
"""

from __future__ import annotations

from router.storage import Claim
from router.storage.postgresql.connection import Database

_ATTEMPTS = 3
_COLUMNS = "decision_id, expires_at, answered = 1, answer"

_DROP_LAPSED = """DELETE FROM in_flight WHERE tenant_id = %(tenant)s AND key = %(key)s AND answered = 0
AND expires_at <= %(now)s"""

_INSERT = f"""INSERT INTO in_flight (decision_id, tenant_id, key, expires_at, answered)
VALUES (%(decision)s, %(tenant)s, %(key)s, %(expires)s, 0) ON CONFLICT DO NOTHING RETURNING {_COLUMNS}"""

_HELD = f"SELECT {_COLUMNS} FROM in_flight WHERE tenant_id = %(tenant)s AND key = %(key)s AND answered = 0"


class PostgresInFlight:
    """The PostgreSQL implementation of `InFlight` (router/storage/__init__.py)."""

    def __init__(self, db: Database):
        self._db = db.share(self)

    def claim(self, tenant_id: str, key: str, decision_id: str, now: float, expires_at: float) -> Claim:
        values = {"tenant": tenant_id, "key": key, "decision": decision_id, "now": now, "expires": expires_at}
        for _ in range(_ATTEMPTS):
            with self._db.transaction() as connection:
                connection.execute(_DROP_LAPSED, values)
                row = (connection.execute(_INSERT, values).fetchone()
                       or connection.execute(_HELD, values).fetchone())
            if row is not None:
                return Claim(*row)
        # Answered each time between the insert and the read: a leader that busy is not waited for.
        return Claim(decision_id, expires_at, answered=True)

    def withdraw(self, decision_id: str) -> None:
        with self._db.connection() as connection:
            connection.execute("DELETE FROM in_flight WHERE decision_id = %s", (decision_id,))

    def finish(self, decision_id: str, answer: str | None, expires_at: float) -> bool:
        with self._db.connection() as connection:
            updated = connection.execute(
                "UPDATE in_flight SET answered = 1, answer = %s, expires_at = %s WHERE decision_id = %s",
                (answer, expires_at, decision_id))
            return updated.rowcount > 0

    def claim_of(self, decision_id: str, now: float) -> Claim | None:
        with self._db.connection() as connection:
            row = connection.execute(f"SELECT {_COLUMNS} FROM in_flight WHERE decision_id = %s AND expires_at > %s",
                                     (decision_id, now)).fetchone()
        return Claim(*row) if row else None

    def forget_expired(self, now: float) -> int:
        with self._db.connection() as connection:
            return connection.execute("DELETE FROM in_flight WHERE expires_at <= %s", (now,)).rowcount

    def close(self) -> None:
        self._db.release(self)
