"""Tenant documents (rules, budgets and the advisor's recommendations' statuses set over gRPC; the deployment's models) kept in SQLite, one file
per kind, so that they outlive a restart; those of the config file live in the file."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from router.storage import ADVICE, BUDGETS, MODELS, RULES, Document, DocumentKind, documents_by_tenant
from router.storage.sqlite.connection import open_database, storage_writes

# Each kind's table as its file was first written: data directories from before still open.
_SCHEMAS = {
    RULES: """
CREATE TABLE IF NOT EXISTS rules (
    tenant_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (tenant_id, rule_id)
);
""",
    BUDGETS: """
CREATE TABLE IF NOT EXISTS budgets (
    tenant_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,  -- the list of budgets, as the config file writes them
    updated_at REAL NOT NULL
);
""",
    MODELS: """
CREATE TABLE IF NOT EXISTS models (
    tenant_id TEXT NOT NULL,  -- DEPLOYMENT: models are every tenant's
    model_id TEXT NOT NULL,
    body TEXT NOT NULL,  -- the model as the registry file writes it, or {"retired": true}
    updated_at REAL NOT NULL,
    PRIMARY KEY (tenant_id, model_id)
);
""",
    ADVICE: """
CREATE TABLE IF NOT EXISTS advice (
    tenant_id TEXT NOT NULL,
    recommendation_id TEXT NOT NULL,
    body TEXT NOT NULL,  -- its status, what was applied, and the evidence and estimate when it was decided
    updated_at REAL NOT NULL,
    PRIMARY KEY (tenant_id, recommendation_id)
);
""",
}


class SQLiteDocuments:
    def __init__(self, path: Path, kind: DocumentKind):
        self._path = path
        self._kind = kind
        self._db = open_database(path, _SCHEMAS[kind])
        self._lock = threading.Lock()

    def all(self) -> dict[str, dict[str, Document]]:
        """Every stored document, by tenant, then name."""
        name = self._kind.selected_name
        with self._lock, storage_writes(self._path):
            rows = self._db.execute(
                f"SELECT tenant_id, {name}, body, updated_at FROM {self._kind.table} ORDER BY tenant_id, {name}"
            ).fetchall()
        return documents_by_tenant(rows)

    def put(self, tenant_id: str, name: str, body: Any, at: float) -> None:
        row = {**self._kind.key(tenant_id, name), "body": json.dumps(body), "updated_at": at}
        with self._lock, storage_writes(self._path):
            self._db.execute(f"INSERT OR REPLACE INTO {self._kind.table} ({', '.join(row)}) "
                             f"VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    def delete(self, tenant_id: str, name: str) -> bool:
        key = self._kind.key(tenant_id, name)
        with self._lock, storage_writes(self._path):
            cursor = self._db.execute(f"DELETE FROM {self._kind.table} WHERE {' AND '.join(f'{c} = ?' for c in key)}",
                                      tuple(key.values()))
        return cursor.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
