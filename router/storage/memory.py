"""The stores in memory: the same guarantees as SQLite's within one process, nothing after it.

For tests and trials (`storage: memory`), and the reference a reader can follow without SQL: each
store answers exactly as its SQLite twin does, which tests/storage/test_contract_*.py holds both to.
What a backend reads back is what it kept, not the caller's object: a decision without its cache
answer's text or its rule matches, vectors as float32, a prompt private exactly when sealed.

The budget counters are the one store SQLite has no file for: the SQLite backend keeps them here too,
as one process can (its log rebuilds them at start); their shared twin is PostgreSQL's.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from router.cache.entries import Entry, Prompt, Slot, check_storable
from router.cache.guard import profile
from router.domain.errors import RouterError
from router.domain.types import Alert, Context, Decision, FeedbackRecord, LedgerEntry, RuleMatch, WasteAlert
from router.storage import (ADVICE, BUDGETS, MODELS, RULES, DecisionLookup, Document, DocumentKind, RuleCount, Storage,
                            already_answered, documents_by_tenant, not_in_log)
from router.storage.budget_counters import MemoryBudgetCounters
from router.storage.in_flight import MemoryInFlight


def memory_storage(cache_enabled: bool) -> Storage:
    return Storage(decisions=MemoryDecisionLog(), cache=MemoryCacheEntries() if cache_enabled else None,
                   rules=MemoryDocuments(RULES), budgets=MemoryDocuments(BUDGETS), models=MemoryDocuments(MODELS),
                   advice=MemoryDocuments(ADVICE), budget_counters=MemoryBudgetCounters(), in_flight=MemoryInFlight())


@dataclass
class _Logged:
    """A decision as the log holds it, and what became of it."""

    decision: Decision
    context: Context
    awaiting: bool = True
    expired_at: float | None = None
    feedback: FeedbackRecord | None = None


@dataclass(frozen=True)
class _Match:
    decision_id: str
    tenant_id: str
    rule_id: str
    applied: bool
    at: float


class MemoryDecisionLog(DecisionLookup):
    def __init__(self) -> None:
        self._log_id = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._decisions: dict[str, _Logged] = {}
        self._feedback: list[tuple[int, str]] = []  # (seq, decision id), in the order it was logged
        self._seq = 0
        self._matches: list[_Match] = []
        self._alerts: list[Alert] = []
        self._waste_alerts: dict[tuple[str, str], WasteAlert] = {}

    def record_decision(self, decision: Decision, context: Context) -> None:
        """The decision and the rules that matched it, at once."""
        with self._lock:
            self._decisions[decision.decision_id] = _Logged(_decision_as_logged(decision),
                                                            _context_as_logged(decision, context))
            self._matches += [_Match(decision.decision_id, decision.tenant_id, m.rule_id, m.applied,
                                     decision.created_at) for m in decision.rule_matches]

    def record_rule_matches(self, decision_id: str, tenant_id: str, matches: tuple[RuleMatch, ...],
                            at: float) -> None:
        with self._lock:
            self._matches += [_Match(decision_id, tenant_id, m.rule_id, m.applied, at) for m in matches]

    def decisions(self, decision_ids: list[str]) -> dict[str, tuple[Decision, Context]]:
        with self._lock:
            logged = [self._decisions[i] for i in decision_ids if i in self._decisions]
        return {entry.decision.decision_id: (entry.decision, entry.context) for entry in logged}

    def record_feedback(self, records: list[FeedbackRecord]) -> list[int | RouterError]:
        with self._lock:
            return [self._add_feedback(record) for record in records]

    def _add_feedback(self, record: FeedbackRecord) -> int | RouterError:
        logged = self._decisions.get(record.decision_id)
        if logged is None:
            return not_in_log(record.decision_id)
        if logged.feedback is not None:
            return already_answered(record.decision_id, logged.feedback.expired)
        self._seq += 1
        logged.feedback, logged.awaiting = record, False
        self._feedback.append((self._seq, record.decision_id))
        return self._seq

    def expire_overdue(self, before: float, at: float, limit: int) -> list[tuple[Decision, Context]]:
        with self._lock:
            overdue = sorted((e for e in self._decisions.values() if e.awaiting and e.decision.created_at < before),
                             key=lambda e: e.decision.created_at)[:limit]
            for entry in overdue:
                entry.awaiting, entry.expired_at = False, at
        return [(entry.decision, entry.context) for entry in overdue]

    def awaiting_feedback(self) -> int:
        with self._lock:
            return sum(entry.awaiting for entry in self._decisions.values())

    def identity(self) -> str:
        return self._log_id

    def last_feedback_seq(self) -> int:
        with self._lock:
            return self._seq

    def check_writable(self) -> None:
        """Memory has no disk to fill: always writable."""

    def feedback_after(self, seq: int) -> Iterator[tuple[int, Decision, Context, FeedbackRecord]]:
        with self._lock:
            later = [(s, self._decisions[i]) for s, i in self._feedback if s > seq]
        for s, logged in later:
            yield s, logged.decision, logged.context, logged.feedback

    def ledger(self, tenant_id: str | None, since: float, until: float) -> Iterator[LedgerEntry]:
        with self._lock:
            entries = [_ledger_entry(e) for e in self._decisions.values()
                       if since <= e.decision.created_at < until and tenant_id in (None, e.decision.tenant_id)]
        yield from sorted(entries, key=lambda entry: entry.created_at)

    def rule_count(self, tenant_id: str, rule_id: str, since: float) -> RuleCount:
        with self._lock:
            found = [m for m in self._matches if (m.tenant_id, m.rule_id) == (tenant_id, rule_id) and m.at >= since]
        return RuleCount(len(found), sum(m.applied for m in found), max((m.at for m in found), default=None))

    def record_waste_alert(self, alert: WasteAlert) -> bool:
        with self._lock:
            kept = self._waste_alerts.get(alert.key)
            self._waste_alerts[alert.key] = alert if kept is None else replace(
                kept, ended_at=alert.ended_at, calls=alert.calls, wasted_usd=alert.wasted_usd)
            return kept is None

    def waste_alerts(self, tenant_id: str, since: float, until: float) -> list[WasteAlert]:
        with self._lock:
            found = [a for a in self._waste_alerts.values()
                     if a.tenant_id == tenant_id and since <= a.started_at < until]
        return sorted(found, key=lambda a: a.started_at)

    def rule_arms(self, tenant_id: str, rule_id: str, since: float) -> dict[str, bool]:
        with self._lock:
            return {m.decision_id: m.applied for m in self._matches
                    if (m.tenant_id, m.rule_id) == (tenant_id, rule_id) and m.at >= since}

    def feedback_of(self, tenant_id: str, since: float,
                    until: float) -> Iterator[tuple[int, Decision, Context, FeedbackRecord]]:
        for seq, decision, context, record in self.feedback_after(0):
            if decision.tenant_id == tenant_id and since <= decision.created_at < until:
                yield seq, decision, context, record

    def record_alert(self, alert: Alert) -> bool:
        with self._lock:
            if any((a.tenant_id, a.team, a.hour_start) == (alert.tenant_id, alert.team, alert.hour_start)
                   for a in self._alerts):
                return False
            self._alerts.append(alert)
            return True

    def alerts(self, tenant_id: str, since: float, until: float) -> list[Alert]:
        with self._lock:
            found = [a for a in self._alerts if a.tenant_id == tenant_id and since <= a.detected_at < until]
        return sorted(found, key=lambda alert: alert.detected_at)

    def close(self) -> None:
        """Nothing to release: what the log held goes with the process."""


def _decision_as_logged(decision: Decision) -> Decision:
    return replace(decision, cache=None if decision.cache is None else replace(decision.cache, answer=""),
                   rule_matches=(), plan=(), quality_bar=None)


def _context_as_logged(decision: Decision, context: Context) -> Context:
    """The embedding as logged; the rest is the decision's, as SQLite reads it back."""
    return Context(_float32(context.embedding), decision.category, decision.complexity,
                   decision.estimated_input_tokens, decision.estimated_output_tokens)


def _ledger_entry(logged: _Logged) -> LedgerEntry:
    d = logged.decision
    outcome = _settled(logged.feedback) if logged.feedback else _unsettled(d, logged.expired_at is not None)
    return LedgerEntry(
        decision_id=d.decision_id, tenant_id=d.tenant_id, created_at=d.created_at, team=d.metadata.team,
        project=d.metadata.project, feature=d.metadata.feature, user=d.metadata.user, model=d.model,
        category=d.category, security=d.security, reason=d.reason, rule_id=d.rule_id, budget_mode=d.budget_mode,
        estimated_cost_usd=d.estimated_cost_usd, cache_hit=d.cache is not None,
        cache_saved_usd=d.cache.cost_saved_usd if d.cache else 0.0, security_source=d.security_source,
        prompt_key=d.prompt_key, duplicate_of=d.duplicate_of, **outcome,
    )


def _settled(record: FeedbackRecord) -> dict[str, Any]:
    return dict(settled_at=record.created_at, input_tokens=record.input_tokens, output_tokens=record.output_tokens,
                cost_usd=record.actual_cost_usd, baseline_cost_usd=record.baseline_cost_usd, quality=record.quality,
                error=record.error, expired=record.expired, not_called=record.not_called,
                latency_ms=record.latency_ms, time_to_first_token_ms=record.time_to_first_token_ms,
                overrun_usd=record.overrun_usd)


def _unsettled(decision: Decision, expired: bool) -> dict[str, Any]:
    """A decision without feedback costs its estimate, but a cache hit, which called no model."""
    return dict(settled_at=None, input_tokens=decision.estimated_input_tokens,
                output_tokens=decision.estimated_output_tokens,
                cost_usd=0.0 if decision.cache else decision.estimated_cost_usd,
                baseline_cost_usd=decision.baseline_cost_usd, quality=None, error=False, expired=expired,
                not_called=False, latency_ms=0.0, time_to_first_token_ms=None, overrun_usd=0.0)


class MemoryCacheEntries:
    def __init__(self) -> None:
        self.redaction_key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._entries: dict[int, Entry] = {}
        self._pending: dict[str, tuple[Prompt, float]] = {}  # by decision id: the prompt, when it came
        self._ratings: dict[str, list[tuple[float, bool]]] = {}

    def live_slots(self, now: float) -> Iterator[tuple[Slot, np.ndarray]]:
        with self._lock:
            for entry_id in [i for i, e in self._entries.items() if e.expires_at <= now]:
                del self._entries[entry_id]
            live = sorted(self._entries.values(), key=lambda e: e.last_used)
        for e in live:
            yield Slot(e.entry_id, e.prompt.tenant_id, e.prompt.scope, e.prompt.key, e.expires_at), e.prompt.vector

    def live_ids(self, now: float) -> list[int]:
        with self._lock:
            return [i for i, e in self._entries.items() if e.expires_at > now]

    def entries(self, entry_ids: list[int]) -> dict[int, Entry]:
        # Copies: the cache marks an entry it serves as used, which only `touch` may store.
        with self._lock:
            return {i: replace(self._entries[i]) for i in entry_ids if i in self._entries}

    def add_entry(self, prompt: Prompt, answer: str, category: str, model: str, now: float, ttl: float) -> Entry:
        stored = _prompt_as_stored(prompt)
        guard_profile = None if prompt.sealed else profile(prompt.text)
        with self._lock:
            entry_id = next(self._ids)
            self._entries[entry_id] = Entry(entry_id, stored, answer, category, model, now, now + ttl, now,
                                            guard_profile)
        return Entry(entry_id, prompt, answer, category, model, now, now + ttl, now, guard_profile)

    def delete_entries(self, entry_ids: list[int]) -> None:
        with self._lock:
            for entry_id in entry_ids:
                self._entries.pop(entry_id, None)

    def delete_tenant(self, tenant_id: str, now: float) -> int:
        with self._lock:
            live = sum(e.prompt.tenant_id == tenant_id and e.expires_at > now for e in self._entries.values())
            self._entries = {i: e for i, e in self._entries.items() if e.prompt.tenant_id != tenant_id}
        return live

    def touch(self, entry_id: int, now: float) -> None:
        with self._lock:
            if entry_id in self._entries:
                self._entries[entry_id] = replace(self._entries[entry_id], last_used=now)

    def add_pending(self, decision_id: str, prompt: Prompt, now: float) -> None:
        stored = _prompt_as_stored(prompt)
        with self._lock:
            self._pending[decision_id] = (stored, now)

    def take_pending(self, decision_id: str) -> Prompt | None:
        with self._lock:
            found = self._pending.pop(decision_id, None)
        return None if found is None else found[0]

    def forget_pending_before(self, cutoff: float) -> int:
        with self._lock:
            old = [i for i, (_, came) in self._pending.items() if came < cutoff]
            for decision_id in old:
                del self._pending[decision_id]
        return len(old)

    def tenants_with_text(self) -> list[str]:
        with self._lock:
            prompts = [e.prompt for e in self._entries.values()] + [p for p, _ in self._pending.values()]
        return sorted({p.tenant_id for p in prompts if not p.sealed})

    def prompts_with_text(self, tenant_id: str) -> tuple[dict[int, Prompt], dict[str, Prompt]]:
        def holds_text(prompt: Prompt) -> bool:
            return prompt.tenant_id == tenant_id and not prompt.sealed

        with self._lock:
            return ({i: e.prompt for i, e in self._entries.items() if holds_text(e.prompt)},
                    {i: p for i, (p, _) in self._pending.items() if holds_text(p)})

    def seal(self, entries: dict[int, Prompt], pending: dict[str, Prompt]) -> None:
        """Every prompt is checked before any is stored: all of them are sealed, or none."""
        entries = {i: _prompt_as_stored(p) for i, p in entries.items()}
        pending = {i: _prompt_as_stored(p) for i, p in pending.items()}
        with self._lock:
            for entry_id, prompt in entries.items():
                if entry_id in self._entries:
                    self._entries[entry_id] = replace(self._entries[entry_id], prompt=prompt, guard_profile=None)
            for decision_id, prompt in pending.items():
                if decision_id in self._pending:
                    self._pending[decision_id] = (prompt, self._pending[decision_id][1])

    def add_rating(self, tenant_id: str, similarity: float, good: bool, now: float) -> None:
        with self._lock:
            self._ratings.setdefault(tenant_id, []).append((similarity, good))

    def ratings(self) -> dict[str, list[tuple[float, bool]]]:
        with self._lock:
            return {tenant_id: list(ratings) for tenant_id, ratings in self._ratings.items()}

    def close(self) -> None:
        """Nothing to release."""


def _prompt_as_stored(prompt: Prompt) -> Prompt:
    """A prompt as every backend reads it back: vectors in float32, private exactly when sealed."""
    check_storable(prompt)
    return replace(prompt, vector=_float32(prompt.vector),
                   precise=None if prompt.precise is None else _float32(prompt.precise), private=prompt.sealed)


def _float32(vector: np.ndarray) -> np.ndarray:
    """A read-only float32 copy, as SQLite's blobs read back: a caller cannot change what is kept."""
    kept = np.array(vector, dtype=np.float32)
    kept.setflags(write=False)
    return kept


class MemoryDocuments:
    def __init__(self, kind: DocumentKind):
        self._kind = kind
        self._lock = threading.Lock()
        # Kept as JSON text, as SQLite keeps them: what is read back is a copy, never the caller's object.
        self._documents: dict[tuple[str, str], tuple[str, float]] = {}

    def all(self) -> dict[str, dict[str, Document]]:
        with self._lock:
            kept = sorted(self._documents.items())
        return documents_by_tenant((tenant_id, name, body, at) for (tenant_id, name), (body, at) in kept)

    def put(self, tenant_id: str, name: str, body: Any, at: float) -> None:
        self._kind.check_name(name)
        with self._lock:
            self._documents[tenant_id, name] = (json.dumps(body), at)

    def delete(self, tenant_id: str, name: str) -> bool:
        self._kind.check_name(name)
        with self._lock:
            return self._documents.pop((tenant_id, name), None) is not None

    def close(self) -> None:
        """Nothing to release."""
