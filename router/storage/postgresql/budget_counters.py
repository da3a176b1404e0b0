"""Budget counters in PostgreSQL, which every replica on the database reserves on: together they never
pass a limit, as one process never does.

A reservation is one transaction: the counters it holds on are made when missing (INSERT … ON CONFLICT
DO NOTHING), locked with SELECT … FOR UPDATE, checked against their limits, raised, and the reservation
row inserted. No replica reads a counter between another's check and its update, which a read, then a
write, would let concurrent calls do. Every transaction locks counters in key order, and one that takes
a reservation's row (release, settle, the sweep) takes it before any counter: two calls on the same
counters wait for each other, they do not deadlock. (Were one to happen, PostgreSQL would abort one
side, which its caller gets as StorageUnavailable, as any refusal of the database, and may retry.)

A counter is named by its budget's scope and period (budget_counters' key), not by the limit's amount:
an admin who raises or lowers a limit keeps what was spent against it, and replicas still on the old
amount for the second the change takes to reach them count on the same row. A scope new to the
database starts from the log's spend this period, once: `start` inserts it ON CONFLICT DO NOTHING, so
the first replica's value stands and the others' are no-ops.

Expired reservations are released by `release_expired`: DELETE … RETURNING over the rows it locks
(SKIP LOCKED, so replicas sweeping at once split the rows, never wait on or release each other's),
with their counters lowered in the same transaction: each is released once, by whichever replica
takes it. A replica that stops between logging a feedback and settling its budget leaves its
reservation behind; the feedback table is in the same database, so the sweep counts that feedback's
actual cost as spent instead of dropping it, and a crash never loses spend. It leaves the settling to
the replica that logged the feedback for SETTLING_SECONDS: a sweep that settled a reservation whose
settle was under way would have its cost counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import psycopg
from psycopg.types.json import Jsonb

from router.storage import Count, CounterKey, Hold
from router.storage.postgresql.connection import Database

# How long a replica may take from logging a feedback to settling its budget before a sweep takes
# the replica for dead and settles the expired reservation with the logged cost itself.
SETTLING_SECONDS = 60.0

_KEYS = "unnest(%(scopes)s::text[], %(periods)s::text[], %(period_keys)s::text[])"

_ENSURE = f"""INSERT INTO budget_counters (scope, period, period_key, spent, reserved)
SELECT k.*, 0, 0 FROM {_KEYS} AS k ORDER BY 1, 2, 3 ON CONFLICT DO NOTHING"""

_LOCK = f"""SELECT scope, period, period_key, spent, reserved FROM budget_counters
WHERE (scope, period, period_key) IN (SELECT * FROM {_KEYS}) ORDER BY scope, period, period_key FOR UPDATE"""

_COUNTS = f"""SELECT scope, period, period_key, spent, reserved FROM budget_counters
WHERE (scope, period, period_key) IN (SELECT * FROM {_KEYS})"""

# Added in key order: an upsert locks its rows in the order it meets them.
_ADD = """INSERT INTO budget_counters AS c (scope, period, period_key, spent, reserved)
SELECT * FROM unnest(%(scopes)s::text[], %(periods)s::text[], %(period_keys)s::text[], %(spent)s::float8[],
    %(reserved)s::float8[]) ORDER BY 1, 2, 3
ON CONFLICT (scope, period, period_key) DO UPDATE SET spent = c.spent + EXCLUDED.spent,
    reserved = c.reserved + EXCLUDED.reserved"""

_EXPIRED = """WITH due AS (
    SELECT r.decision_id, f.actual_cost_usd FROM budget_reservations r
    LEFT JOIN feedback f ON f.decision_id = r.decision_id
    WHERE r.expires_at <= %(now)s AND (f.created_at IS NULL OR f.created_at <= %(settled_by)s)
    ORDER BY r.decision_id FOR UPDATE OF r SKIP LOCKED)
DELETE FROM budget_reservations r USING due WHERE r.decision_id = due.decision_id
RETURNING r.keys, r.amount, due.actual_cost_usd"""

# A held call reserved already keeps its amount and holds on the new counter too.
_HOLD_TOO = """WITH held AS (
    INSERT INTO budget_reservations AS r (decision_id, amount, expires_at, keys)
    SELECT h.*, %(keys)s FROM unnest(%(ids)s::text[], %(amounts)s::float8[], %(expiries)s::float8[]) AS h
    ORDER BY 1
    ON CONFLICT (decision_id) DO UPDATE SET keys = r.keys || EXCLUDED.keys
    RETURNING r.amount)
UPDATE budget_counters SET reserved = (SELECT sum(amount) FROM held)
WHERE (scope, period, period_key) = (%(scope)s, %(period)s, %(period_key)s)"""

# SKIP LOCKED: a counter in use now is forgotten on another day, never waited for.
_FORGET = """DELETE FROM budget_counters WHERE (scope, period, period_key) IN (
    SELECT c.scope, c.period, c.period_key FROM budget_counters c
    WHERE c.period_key < (%(cutoffs)s::jsonb ->> c.period) AND NOT EXISTS (
        SELECT 1 FROM budget_reservations r
        WHERE r.keys @> jsonb_build_array(jsonb_build_array(c.scope, c.period, c.period_key)))
    ORDER BY 1, 2, 3 FOR UPDATE SKIP LOCKED)"""


class PostgresBudgetCounters:
    """The PostgreSQL implementation of `BudgetCounters` (router/storage/__init__.py)."""

    sweep_seconds = 1.0  # a statement from each replica a second: expired holds may last that much longer

    def __init__(self, db: Database):
        self._db = db.share(self)

    def reserve(self, decision_id: str, limits: Mapping[CounterKey, float], amount: float, expires_at: float,
                overdraft: bool) -> bool:
        keys = _columns(limits)
        with self._db.transaction() as connection:
            connection.execute(_ENSURE, keys)
            counts = _counts(connection.execute(_LOCK, keys))
            if not overdraft and not all(counts[key].admits(amount, limit) for key, limit in limits.items()):
                return False
            _add(connection, {key: Count(reserved=amount) for key in limits})
            connection.execute("INSERT INTO budget_reservations (decision_id, keys, amount, expires_at) "
                               "VALUES (%s, %s, %s, %s)", (decision_id, _stored(limits), amount, expires_at))
        return True

    def release(self, decision_id: str) -> None:
        with self._db.transaction() as connection:
            taken = _take(connection, decision_id)
            if taken is not None:
                keys, amount = taken
                _add(connection, {key: Count(reserved=-amount) for key in keys})

    def settle(self, decision_id: str, fallback: Iterable[CounterKey], actual_usd: float) -> None:
        with self._db.transaction() as connection:
            keys, amount = _take(connection, decision_id) or (fallback, 0.0)
            _add(connection, {key: Count(actual_usd, -amount) for key in keys})

    def counts(self, keys: Iterable[CounterKey]) -> dict[CounterKey, Count]:
        with self._db.connection() as connection:
            return _counts(connection.execute(_COUNTS, _columns(keys)))

    def release_expired(self, now: float) -> int:
        with self._db.transaction() as connection:
            expired = connection.execute(_EXPIRED, {"now": now, "settled_by": now - SETTLING_SECONDS}).fetchall()
            changes: dict[CounterKey, Count] = {}
            for keys, amount, actual_usd in expired:
                # A feedback logged, its settle never done: its replica stopped in between.
                release = Count(0.0 if actual_usd is None else actual_usd, -amount)
                for key in _loaded(keys):
                    changes[key] = changes.get(key, Count()).plus(release)
            _add(connection, changes)
        return len(expired)

    def start(self, key: CounterKey, spent: float, held: list[Hold]) -> bool:
        with self._db.transaction() as connection:
            started = connection.execute(
                "INSERT INTO budget_counters (scope, period, period_key, spent, reserved) VALUES (%s, %s, %s, %s, 0) "
                "ON CONFLICT DO NOTHING RETURNING 1", (key.scope, key.period, key.period_key, spent)).fetchone()
            if started is None:
                return False
            if held:
                connection.execute(_HOLD_TOO, {
                    "keys": _stored([key]), "ids": [h.decision_id for h in held], "amounts": [h.amount for h in held],
                    "expiries": [h.expires_at for h in held], "scope": key.scope, "period": key.period,
                    "period_key": key.period_key})
        return True

    def forget_before(self, cutoffs: Mapping[str, str]) -> None:
        with self._db.connection() as connection:
            connection.execute(_FORGET, {"cutoffs": Jsonb(dict(cutoffs))})

    def close(self) -> None:
        self._db.release(self)


def _add(connection: psycopg.Connection, changes: dict[CounterKey, Count]) -> None:
    """Each counter raised by its change (lowered by a negative one), made when missing."""
    if changes:
        connection.execute(_ADD, {**_columns(changes), "spent": [c.spent for c in changes.values()],
                                  "reserved": [c.reserved for c in changes.values()]})


def _take(connection: psycopg.Connection, decision_id: str) -> tuple[list[CounterKey], float] | None:
    """A reservation deleted, its keys and amount; None when there was none."""
    taken = connection.execute("DELETE FROM budget_reservations WHERE decision_id = %s RETURNING keys, amount",
                               (decision_id,)).fetchone()
    return None if taken is None else (_loaded(taken[0]), taken[1])


def _columns(keys: Iterable[CounterKey]) -> dict[str, list[str]]:
    """Keys as the three arrays _KEYS unnests, in the same order."""
    keys = list(keys)
    return {"scopes": [k.scope for k in keys], "periods": [k.period for k in keys],
            "period_keys": [k.period_key for k in keys]}


def _counts(rows: Iterable[tuple]) -> dict[CounterKey, Count]:
    return {CounterKey(scope, period, period_key): Count(spent, reserved)
            for scope, period, period_key, spent, reserved in rows}


def _stored(keys: Iterable[CounterKey]) -> Jsonb:
    """Keys as budget_reservations.keys holds them."""
    return Jsonb([[k.scope, k.period, k.period_key] for k in keys])


def _loaded(stored: list[list[str]]) -> list[CounterKey]:
    return [CounterKey(*key) for key in stored]
