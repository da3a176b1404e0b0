"""Tenant documents (rules and budgets set over gRPC) in PostgreSQL, a table per kind: every replica
reads the same ones, and they outlive a restart; those of the config file live in the file."""

from __future__ import annotations

import json
from typing import Any

from router.storage import Document, DocumentKind, documents_by_tenant
from router.storage.postgresql.connection import Database, insert


class PostgresDocuments:
    def __init__(self, db: Database, kind: DocumentKind):
        self._db = db.share(self)
        self._kind = kind

    def all(self) -> dict[str, dict[str, Document]]:
        """Every stored document, by tenant, then name."""
        with self._db.connection() as connection:
            # By position: PostgreSQL refuses to order by a literal, the name of a one-per-tenant kind.
            rows = connection.execute(f"SELECT tenant_id, {self._kind.selected_name}, body, updated_at "
                                      f"FROM {self._kind.table} ORDER BY 1, 2").fetchall()
        return documents_by_tenant(rows)

    def put(self, tenant_id: str, name: str, body: Any, at: float) -> None:
        key = self._kind.key(tenant_id, name)
        row = {**key, "body": json.dumps(body), "updated_at": at}
        replace = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET body = EXCLUDED.body, updated_at = EXCLUDED.updated_at"
        with self._db.connection() as connection:
            connection.execute(insert(self._kind.table, row, replace), tuple(row.values()))

    def delete(self, tenant_id: str, name: str) -> bool:
        key = self._kind.key(tenant_id, name)
        with self._db.connection() as connection:
            deleted = connection.execute(
                f"DELETE FROM {self._kind.table} WHERE {' AND '.join(f'{column} = %s' for column in key)}",
                tuple(key.values())).rowcount
        return deleted > 0

    def close(self) -> None:
        self._db.release(self)
