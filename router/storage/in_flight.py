"""The claims of requests in flight, in memory: beside SQLite (one process routes for a data directory)
and in memory storage. PostgreSQL keeps them in a table every replica claims on (postgresql/in_flight.py)."""

from __future__ import annotations

import threading
from dataclasses import replace

from router.storage import Claim


class MemoryInFlight:
    """The in-memory implementation of `InFlight` (router/storage/__init__.py): one lock makes each call atomic."""

    def __init__(self) -> None:
        self._claims: dict[str, Claim] = {}  # by leader decision id
        self._leaders: dict[tuple[str, str], str] = {}  # (tenant, key) → the unanswered claim's leader
        self._keys: dict[str, tuple[str, str]] = {}  # leader decision id → (tenant, key)
        self._lock = threading.Lock()

    def claim(self, tenant_id: str, key: str, decision_id: str, now: float, expires_at: float) -> Claim:
        with self._lock:
            leader = self._leaders.get((tenant_id, key))
            held = self._claims.get(leader) if leader else None
            if held is not None and not held.answered and held.expires_at > now:
                return held
            claim = Claim(decision_id, expires_at)
            self._claims[decision_id] = claim
            self._leaders[(tenant_id, key)] = decision_id
            self._keys[decision_id] = (tenant_id, key)
            return claim

    def withdraw(self, decision_id: str) -> None:
        with self._lock:
            self._drop(decision_id)

    def finish(self, decision_id: str, answer: str | None, expires_at: float) -> bool:
        with self._lock:
            claim = self._claims.get(decision_id)
            if claim is None:
                return False
            self._claims[decision_id] = replace(claim, answered=True, answer=answer, expires_at=expires_at)
            if self._leaders.get(self._keys[decision_id]) == decision_id:
                del self._leaders[self._keys[decision_id]]
            return True

    def claim_of(self, decision_id: str, now: float) -> Claim | None:
        with self._lock:
            claim = self._claims.get(decision_id)
            return claim if claim is not None and claim.expires_at > now else None

    def forget_expired(self, now: float) -> int:
        with self._lock:
            lapsed = [d for d, claim in self._claims.items() if claim.expires_at <= now]
            for decision_id in lapsed:
                self._drop(decision_id)
            return len(lapsed)

    def _drop(self, decision_id: str) -> None:
        self._claims.pop(decision_id, None)
        where = self._keys.pop(decision_id, None)
        if where is not None and self._leaders.get(where) == decision_id:
            del self._leaders[where]

    def close(self) -> None:
        """Nothing to release: the claims go with the process."""
