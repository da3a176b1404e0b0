"""Budgets set over gRPC, kept in SQLite so they outlive a restart (budgets from the config file
live in the file)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from router.sqlite import open_database, storage_writes

SCHEMA = """
CREATE TABLE IF NOT EXISTS budgets (
    tenant_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,  -- the list of budgets, as the config file writes them
    updated_at REAL NOT NULL
);
"""


class BudgetStore:
    def __init__(self, path: Path):
        self._path = path
        self._db = open_database(path, SCHEMA)
        self._lock = threading.Lock()

    def all(self) -> dict[str, list[dict]]:
        """Every tenant's budgets set over gRPC."""
        with self._lock, storage_writes(self._path):
            rows = self._db.execute("SELECT tenant_id, body FROM budgets ORDER BY tenant_id").fetchall()
        return {tenant_id: json.loads(body) for tenant_id, body in rows}

    def put(self, tenant_id: str, budgets: list[dict], at: float) -> None:
        """Replace a tenant's budgets; an empty list removes them."""
        with self._lock, storage_writes(self._path):
            if budgets:
                self._db.execute("INSERT OR REPLACE INTO budgets (tenant_id, body, updated_at) VALUES (?, ?, ?)",
                                 (tenant_id, json.dumps(budgets), at))
            else:
                self._db.execute("DELETE FROM budgets WHERE tenant_id = ?", (tenant_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
