"""Routing rules added over gRPC, kept in SQLite so they outlive a restart (rules from the config
file live in the file)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from router.sqlite import open_database, storage_writes

SCHEMA = """
CREATE TABLE IF NOT EXISTS rules (
    tenant_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (tenant_id, rule_id)
);
"""


class RuleStore:
    def __init__(self, path: Path):
        self._path = path
        self._db = open_database(path, SCHEMA)
        self._lock = threading.Lock()

    def all(self) -> dict[str, list[tuple[dict, float]]]:
        """Every stored rule, as the dict it was stored from and when, by tenant."""
        with self._lock, storage_writes(self._path):
            rows = self._db.execute(
                "SELECT tenant_id, body, updated_at FROM rules ORDER BY tenant_id, rule_id").fetchall()
        rules: dict[str, list[tuple[dict, float]]] = {}
        for tenant_id, body, updated_at in rows:
            rules.setdefault(tenant_id, []).append((json.loads(body), updated_at))
        return rules

    def put(self, tenant_id: str, rule_id: str, body: dict, at: float) -> None:
        with self._lock, storage_writes(self._path):
            self._db.execute(
                "INSERT OR REPLACE INTO rules (tenant_id, rule_id, body, updated_at) VALUES (?, ?, ?, ?)",
                (tenant_id, rule_id, json.dumps(body), at),
            )

    def delete(self, tenant_id: str, rule_id: str) -> bool:
        with self._lock, storage_writes(self._path):
            cursor = self._db.execute("DELETE FROM rules WHERE tenant_id = ? AND rule_id = ?", (tenant_id, rule_id))
        return cursor.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
