"""The semantic cache's durable copy in PostgreSQL: entries, prompts waiting for their answer, ratings
of served hits, and the key of the sealed prompts' hashes (kept in the database, so it lives as long as
they do). Its rows are router/storage/cache_rows.py's, as in SQLite.

Sealing replaces a prompt's row with its sealed form in one transaction. Unlike the SQLite file, which
zeroes what it deletes, PostgreSQL keeps the old row version until VACUUM reclaims its space, and its
write-ahead log until it is recycled: the text stays on the server's disk until then.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import numpy as np

from router.cache.entries import Entry, Prompt, Slot
from router.storage.cache_rows import (ENTRY_COLUMNS, PROMPT_COLUMNS, SLOT_COLUMNS, entry_from_row, entry_row,
                                       prompt_from_row, prompt_row, slot_from_row)
from router.storage.postgresql.connection import Database, insert

_KEY = "redaction_key"  # cache_meta's name of the key of the redacted profiles' hashes


class PostgresCacheEntries:
    """The PostgreSQL implementation of `CacheEntries` (router/cache/entries.py)."""

    def __init__(self, db: Database):
        self._db = db.share(self)
        with db.connection() as connection:
            # Made by whichever replica comes first; every other one reads the same key.
            connection.execute("INSERT INTO cache_meta (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                               (_KEY, secrets.token_bytes(32)))
            self.redaction_key = bytes(connection.execute("SELECT value FROM cache_meta WHERE name = %s",
                                                          (_KEY,)).fetchone()[0])

    def live_slots(self, now: float) -> Iterator[tuple[Slot, np.ndarray]]:
        """What the in-memory index needs of every unexpired entry, oldest use first; expired
        entries are deleted on the way."""
        with self._db.connection() as connection:
            connection.execute("DELETE FROM cache_entries WHERE expires_at <= %s", (now,))
            rows = connection.execute(f"SELECT {SLOT_COLUMNS} FROM cache_entries ORDER BY last_used").fetchall()
        for row in rows:
            yield slot_from_row(row)

    def live_ids(self, now: float) -> list[int]:
        """The ids of every unexpired entry: what each replica's index follows."""
        with self._db.connection() as connection:
            return [row[0] for row in connection.execute("SELECT entry_id FROM cache_entries WHERE expires_at > %s",
                                                         (now,))]

    def entries(self, entry_ids: list[int]) -> dict[int, Entry]:
        """These entries in full (text or sealed profile, vectors, answer), by id; missing ones left out."""
        with self._db.connection() as connection:
            rows = connection.execute(f"SELECT {ENTRY_COLUMNS} FROM cache_entries WHERE entry_id = ANY(%s)",
                                      (entry_ids,)).fetchall()
        return {row[0]: entry_from_row(row) for row in rows}

    def add_entry(self, prompt: Prompt, answer: str, category: str, model: str, now: float, ttl: float) -> Entry:
        row, guard_profile = entry_row(prompt, answer, category, model, now, ttl)
        with self._db.connection() as connection:
            entry_id = connection.execute(insert("cache_entries", row, "RETURNING entry_id"),
                                          tuple(row.values())).fetchone()[0]
        return Entry(entry_id, prompt, answer, category, model, now, now + ttl, now, guard_profile)

    def delete_entries(self, entry_ids: list[int]) -> None:
        with self._db.connection() as connection:
            connection.execute("DELETE FROM cache_entries WHERE entry_id = ANY(%s)", (entry_ids,))

    def delete_tenant(self, tenant_id: str, now: float) -> int:
        with self._db.connection() as connection:
            return connection.execute("WITH gone AS (DELETE FROM cache_entries WHERE tenant_id = %s RETURNING expires_at) "
                                      "SELECT count(*) FROM gone WHERE expires_at > %s", (tenant_id, now)).fetchone()[0]

    def touch(self, entry_id: int, now: float) -> None:
        with self._db.connection() as connection:
            connection.execute("UPDATE cache_entries SET last_used = %s WHERE entry_id = %s", (now, entry_id))

    def add_pending(self, decision_id: str, prompt: Prompt, now: float) -> None:
        row = {"decision_id": decision_id, **prompt_row(prompt), "created_at": now}
        replace = ", ".join(f"{column} = EXCLUDED.{column}" for column in row if column != "decision_id")
        with self._db.connection() as connection:
            connection.execute(insert("cache_pending", row, f"ON CONFLICT (decision_id) DO UPDATE SET {replace}"),
                               tuple(row.values()))

    def take_pending(self, decision_id: str) -> Prompt | None:
        """The prompt a decision was made for, removed from the waiting list; None if unknown."""
        with self._db.connection() as connection:
            row = connection.execute(f"DELETE FROM cache_pending WHERE decision_id = %s RETURNING {PROMPT_COLUMNS}",
                                     (decision_id,)).fetchone()
        return None if row is None else prompt_from_row(row)

    def forget_pending_before(self, cutoff: float) -> int:
        with self._db.connection() as connection:
            return connection.execute("DELETE FROM cache_pending WHERE created_at < %s", (cutoff,)).rowcount

    def tenants_with_text(self) -> list[str]:
        """The tenants with a stored prompt that still holds its text (entry or pending)."""
        with self._db.connection() as connection:
            rows = connection.execute("SELECT tenant_id FROM cache_entries WHERE profile IS NULL UNION "
                                      "SELECT tenant_id FROM cache_pending WHERE profile IS NULL").fetchall()
        return sorted(row[0] for row in rows)

    def prompts_with_text(self, tenant_id: str) -> tuple[dict[int, Prompt], dict[str, Prompt]]:
        """A tenant's stored prompts that still hold their text, expired entries too: entries by
        id, pending prompts by decision id."""
        with self._db.connection() as connection:
            entries = connection.execute(f"SELECT entry_id, {PROMPT_COLUMNS} FROM cache_entries "
                                         "WHERE tenant_id = %s AND profile IS NULL", (tenant_id,)).fetchall()
            pending = connection.execute(f"SELECT decision_id, {PROMPT_COLUMNS} FROM cache_pending "
                                         "WHERE tenant_id = %s AND profile IS NULL", (tenant_id,)).fetchall()
        return ({row[0]: prompt_from_row(row[1:]) for row in entries},
                {row[0]: prompt_from_row(row[1:]) for row in pending})

    def seal(self, entries: dict[int, Prompt], pending: dict[str, Prompt]) -> None:
        """Store these sealed prompts in place of the rows they came from, all or none."""
        updates = {("cache_entries", "entry_id"): [({**prompt_row(p), "guard_profile": None}, i)
                                                   for i, p in entries.items()],
                   ("cache_pending", "decision_id"): [(prompt_row(p), i) for i, p in pending.items()]}
        with self._db.transaction() as connection, connection.cursor() as cursor:
            for (table, id_column), rows in updates.items():
                if rows:
                    columns = ", ".join(f"{column} = %s" for column in rows[0][0])
                    cursor.executemany(f"UPDATE {table} SET {columns} WHERE {id_column} = %s",
                                       [(*row.values(), row_id) for row, row_id in rows])

    def add_rating(self, tenant_id: str, similarity: float, good: bool, now: float) -> None:
        with self._db.connection() as connection:
            connection.execute("INSERT INTO cache_ratings (tenant_id, similarity, good, created_at) "
                               "VALUES (%s, %s, %s, %s)", (tenant_id, similarity, int(good), now))

    def ratings(self) -> dict[str, list[tuple[float, bool]]]:
        """Every tenant's rated semantic hits, oldest first."""
        by_tenant: dict[str, list[tuple[float, bool]]] = {}
        with self._db.connection() as connection:
            rows = connection.execute("SELECT tenant_id, similarity, good FROM cache_ratings ORDER BY id").fetchall()
        for tenant_id, similarity, good in rows:
            by_tenant.setdefault(tenant_id, []).append((similarity, bool(good)))
        return by_tenant

    def close(self) -> None:
        self._db.release(self)
