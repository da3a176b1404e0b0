"""Budget counters in memory: beside SQLite (one process uses a data directory, and at start its log
rebuilds them) and in memory storage. PostgreSQL keeps them in tables every replica reserves on
(postgresql/budget_counters.py)."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from router.storage import Count, CounterKey, Hold


@dataclass(frozen=True)
class _Reservation:
    keys: tuple[CounterKey, ...]
    amount: float
    expires_at: float


class MemoryBudgetCounters:
    """Budget counters behind one lock. A sweep is a look at the top of a heap, so budgets sweep
    before every check."""

    sweep_seconds = 0.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[CounterKey, Count] = {}
        self._reservations: dict[str, _Reservation] = {}
        self._expiries: list[tuple[float, str]] = []  # a heap of (expires_at, decision id)

    def reserve(self, decision_id: str, limits: Mapping[CounterKey, float], amount: float, expires_at: float,
                overdraft: bool) -> bool:
        with self._lock:
            if not overdraft and not all(self._count(key).admits(amount, limit) for key, limit in limits.items()):
                return False
            self._hold(decision_id, tuple(limits), amount, expires_at)
        return True

    def release(self, decision_id: str) -> None:
        with self._lock:
            self._drop(decision_id)

    def settle(self, decision_id: str, fallback: Iterable[CounterKey], actual_usd: float) -> None:
        with self._lock:
            reservation = self._drop(decision_id)
            self._add(reservation.keys if reservation else fallback, Count(spent=actual_usd))

    def counts(self, keys: Iterable[CounterKey]) -> dict[CounterKey, Count]:
        with self._lock:
            return {key: self._counters[key] for key in keys if key in self._counters}

    def release_expired(self, now: float) -> int:
        released = 0
        with self._lock:
            while self._expiries and self._expiries[0][0] <= now:
                _, decision_id = heapq.heappop(self._expiries)
                reservation = self._reservations.get(decision_id)
                # None: settled or released first. Later: the heap's entry of a reservation made before.
                if reservation is not None and reservation.expires_at <= now:
                    self._drop(decision_id)
                    released += 1
        return released

    def start(self, key: CounterKey, spent: float, held: list[Hold]) -> bool:
        with self._lock:
            if key in self._counters:
                return False
            self._counters[key] = Count(spent)
            for hold in held:
                reservation = self._reservations.get(hold.decision_id)
                if reservation is None:
                    self._hold(hold.decision_id, (key,), hold.amount, hold.expires_at)
                else:
                    self._reservations[hold.decision_id] = replace(reservation, keys=reservation.keys + (key,))
                    self._add([key], Count(reserved=reservation.amount))
        return True

    def forget_before(self, cutoffs: Mapping[str, str]) -> None:
        with self._lock:
            held = {key for reservation in self._reservations.values() for key in reservation.keys}
            for key in [k for k in self._counters if k.period_key < cutoffs.get(k.period, "") and k not in held]:
                del self._counters[key]

    def close(self) -> None:
        """Nothing to release."""

    def _hold(self, decision_id: str, keys: tuple[CounterKey, ...], amount: float, expires_at: float) -> None:
        self._add(keys, Count(reserved=amount))
        self._reservations[decision_id] = _Reservation(keys, amount, expires_at)
        heapq.heappush(self._expiries, (expires_at, decision_id))

    def _drop(self, decision_id: str) -> _Reservation | None:
        reservation = self._reservations.pop(decision_id, None)
        if reservation is not None:
            self._add(reservation.keys, Count(reserved=-reservation.amount))
        return reservation

    def _add(self, keys: Iterable[CounterKey], change: Count) -> None:
        for key in keys:
            self._counters[key] = self._count(key).plus(change)

    def _count(self, key: CounterKey) -> Count:
        return self._counters.get(key, Count())
