"""The decision log's rows and the dataclasses they hold: a decision (with its context) as it is
written and read back, feedback as written and replayed, a ledger entry, and the columns each query
selects for them. Backend-neutral: SQLite and PostgreSQL keep the same columns (flags as 0/1 integers,
lists and metadata as JSON text, the embedding as float32 bytes), and these expressions read alike in both."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np

from router.domain.types import Alert, CacheAnswer, Context, Decision, FeedbackRecord, LedgerEntry, Metadata, WasteAlert

FEEDBACK_FIELDS = list(FeedbackRecord.__dataclass_fields__)
# What a log written before the column reads.
_NEUTRAL = {"baseline_cost_usd": "0.0", "expired": "0", "not_called": "0", "overrun_usd": "0.0"}
FEEDBACK_COLUMNS = ", ".join(
    f"COALESCE(f.{c}, {_NEUTRAL[c]})" if c in _NEUTRAL else f"f.{c}" for c in FEEDBACK_FIELDS
)
_DECISION_FIELDS = [
    "decision_id", "tenant_id", "created_at", "model", "provider", "probability", "reason",
    "category", "security", "complexity", "cost_weight", "input_tokens", "output_tokens",
    "estimated_cost_usd", "candidates", "probabilities", "fallbacks", "metadata", "embedding",
    "cache_entry_id", "cache_similarity", "cost_saved_usd", "baseline_cost_usd", "rule_id", "budget_mode",
    "escalated_from", "security_source", "security_probability", "prompt_key", "duplicate_of",
]
DECISION_COLUMNS = ", ".join(f"d.{c}" for c in _DECISION_FIELDS)
# A log written before a column existed reads it as its neutral value.
LEDGER_COLUMNS = ", ".join([
    "d.decision_id", "d.tenant_id", "d.created_at", "d.metadata", "d.model", "d.category", "d.security",
    "d.reason", "COALESCE(d.rule_id, '')", "COALESCE(d.budget_mode, '')", "d.estimated_cost_usd",
    "d.cache_entry_id IS NOT NULL", "f.created_at",
    "COALESCE(f.input_tokens, d.input_tokens)", "COALESCE(f.output_tokens, d.output_tokens)",
    "CASE WHEN f.decision_id IS NOT NULL THEN f.actual_cost_usd "
    "WHEN d.cache_entry_id IS NOT NULL THEN 0.0 ELSE d.estimated_cost_usd END",
    "COALESCE(f.baseline_cost_usd, d.baseline_cost_usd, 0.0)", "COALESCE(d.cost_saved_usd, 0.0)", "f.quality",
    "COALESCE(f.error, 0)",
    # Expired: learned with the tenant's expired_quality, or still without feedback past the wait
    # (feedback that came after the expiry is the decision's real outcome). 1 and 0, not a comparison's
    # value: PostgreSQL's comparisons are booleans, which a CASE cannot mix with the integer flag.
    "CASE WHEN f.decision_id IS NOT NULL THEN COALESCE(f.expired, 0) WHEN d.expired_at IS NOT NULL THEN 1 ELSE 0 END",
    "COALESCE(f.not_called, 0)", "COALESCE(f.latency_ms, 0.0)", "f.time_to_first_token_ms",
    "COALESCE(d.security_source, '')", "COALESCE(f.overrun_usd, 0.0)", "COALESCE(d.prompt_key, '')",
    "COALESCE(d.duplicate_of, '')",
])


# What feedback_after selects: the sequence number, the feedback, its decision (see `replayed`).
REPLAY_COLUMNS = f"f.seq, {FEEDBACK_COLUMNS}, {DECISION_COLUMNS}"


def feedback_row(record: FeedbackRecord) -> dict:
    """A feedback's columns. Not asdict: its deep copy cost a tenth of a whole Feedback."""
    row = {name: getattr(record, name) for name in FEEDBACK_FIELDS}
    # Flags as 0/1, as the columns keep them: SQLite turns a bool into one itself, PostgreSQL refuses it.
    return {name: int(value) if isinstance(value, bool) else value for name, value in row.items()}


def replayed(row: tuple) -> tuple[int, Decision, Context, FeedbackRecord]:
    """A row of REPLAY_COLUMNS: the feedback's sequence number, its decision and context, the feedback."""
    n_feedback = len(FEEDBACK_FIELDS)
    record = FeedbackRecord(*row[1 : 1 + n_feedback])
    decision, context = decision_from_row(row[1 + n_feedback :])
    return row[0], decision, context, record


def ledger_entry(row: tuple) -> LedgerEntry:
    (decision_id, tenant_id, created_at, metadata, model, category, security, reason, rule_id, budget_mode,
     estimated, cache_hit, settled_at, input_tokens, output_tokens, cost, baseline, cache_saved, quality, error,
     expired, not_called, latency_ms, time_to_first_token_ms, security_source, overrun_usd, prompt_key,
     duplicate_of) = row
    who = json.loads(metadata)
    return LedgerEntry(
        decision_id=decision_id, tenant_id=tenant_id, created_at=created_at, team=who["team"],
        project=who["project"], feature=who["feature"], user=who["user"], model=model, category=category,
        security=bool(security), reason=reason, rule_id=rule_id, budget_mode=budget_mode,
        estimated_cost_usd=estimated, cache_hit=bool(cache_hit), settled_at=settled_at,
        input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost, baseline_cost_usd=baseline,
        cache_saved_usd=cache_saved, quality=quality, error=bool(error), expired=bool(expired),
        not_called=bool(not_called), latency_ms=latency_ms, time_to_first_token_ms=time_to_first_token_ms,
        security_source=security_source, overrun_usd=overrun_usd, prompt_key=prompt_key, duplicate_of=duplicate_of,
    )


def decision_row(decision: Decision, context: Context) -> dict:
    return {
        "decision_id": decision.decision_id,
        "tenant_id": decision.tenant_id,
        "created_at": decision.created_at,
        "model": decision.model,
        "provider": decision.provider,
        "probability": decision.probability,
        "reason": decision.reason,
        "category": decision.category,
        "security": int(decision.security),
        "complexity": decision.complexity,
        "cost_weight": decision.cost_weight,
        "input_tokens": decision.estimated_input_tokens,
        "output_tokens": decision.estimated_output_tokens,
        "estimated_cost_usd": decision.estimated_cost_usd,
        "candidates": json.dumps(decision.candidates),
        "probabilities": json.dumps(decision.probabilities),
        "fallbacks": json.dumps(decision.fallbacks),
        "metadata": json.dumps(asdict(decision.metadata)),
        "embedding": np.asarray(context.embedding, dtype=np.float32).tobytes(),
        # The answer itself stays in the cache: the log keeps which entry was served.
        "cache_entry_id": decision.cache.entry_id if decision.cache else None,
        "cache_similarity": decision.cache.similarity if decision.cache else None,
        "cost_saved_usd": decision.cache.cost_saved_usd if decision.cache else None,
        "baseline_cost_usd": decision.baseline_cost_usd,
        "rule_id": decision.rule_id,
        "budget_mode": decision.budget_mode,
        "escalated_from": decision.escalated_from,
        "security_source": decision.security_source,
        "security_probability": decision.security_probability,
        "prompt_key": decision.prompt_key,
        "duplicate_of": decision.duplicate_of,
        "awaiting_feedback": 1,
    }


def decision_from_row(row: tuple) -> tuple[Decision, Context]:
    values = dict(zip(_DECISION_FIELDS, row))
    decision = Decision(
        decision_id=values["decision_id"],
        tenant_id=values["tenant_id"],
        created_at=values["created_at"],
        model=values["model"],
        provider=values["provider"],
        probability=values["probability"],
        reason=values["reason"],
        category=values["category"],
        security=bool(values["security"]),
        complexity=values["complexity"],
        cost_weight=values["cost_weight"],
        estimated_input_tokens=values["input_tokens"],
        estimated_output_tokens=values["output_tokens"],
        estimated_cost_usd=values["estimated_cost_usd"],
        candidates=tuple(json.loads(values["candidates"])),
        probabilities=tuple(json.loads(values["probabilities"])),
        fallbacks=tuple(json.loads(values["fallbacks"])),
        metadata=Metadata(**json.loads(values["metadata"])),
        cache=None if values["cache_entry_id"] is None else CacheAnswer(
            values["cache_entry_id"], "", values["cache_similarity"], values["cost_saved_usd"]),
        baseline_cost_usd=values["baseline_cost_usd"] or 0.0,
        rule_id=values["rule_id"] or "",
        budget_mode=values["budget_mode"] or "",
        escalated_from=values["escalated_from"] or "",
        security_source=values["security_source"] or "",
        security_probability=values["security_probability"] or 0.0,
        prompt_key=values["prompt_key"] or "",
        duplicate_of=values["duplicate_of"] or "",
    )
    context = Context(
        embedding=np.frombuffer(values["embedding"], dtype=np.float32),
        category=decision.category,
        complexity=decision.complexity,
        input_tokens=decision.estimated_input_tokens,
        output_tokens=decision.estimated_output_tokens,
    )
    return decision, context


class LogQueries:
    """The decision log's reads that SQLite and PostgreSQL write alike, but for the parameter placeholder
    (`?` and `%s`)."""

    def __init__(self, placeholder: str):
        p = placeholder
        self.feedback_after = (f"SELECT {REPLAY_COLUMNS} FROM feedback f JOIN decisions d USING (decision_id) "
                               f"WHERE f.seq > {p} ORDER BY f.seq")
        self._ledger = (f"SELECT {LEDGER_COLUMNS} FROM decisions d LEFT JOIN feedback f USING (decision_id) "
                        f"WHERE d.created_at >= {p} AND d.created_at < {p} {{tenant}} ORDER BY d.created_at")
        self._tenant = f"AND d.tenant_id = {p}"
        self.feedback_of = (f"SELECT {REPLAY_COLUMNS} FROM feedback f JOIN decisions d USING (decision_id) "
                            f"WHERE d.tenant_id = {p} AND d.created_at >= {p} AND d.created_at < {p} ORDER BY f.seq")
        self.rule_arms = (f"SELECT decision_id, applied FROM rule_matches WHERE tenant_id = {p} AND rule_id = {p} "
                          f"AND created_at >= {p}")
        self.rule_count = ("SELECT count(*), COALESCE(sum(applied), 0), max(created_at) FROM rule_matches "
                           f"WHERE tenant_id = {p} AND rule_id = {p} AND created_at >= {p}")
        columns = ", ".join(WASTE_ALERT_FIELDS)
        self.insert_waste_alert = (f"INSERT INTO waste_alerts ({columns}) VALUES ({', '.join([p] * len(WASTE_ALERT_FIELDS))}) "
                                   "ON CONFLICT (tenant_id, first_decision_id) DO NOTHING")
        self.extend_waste_alert = (f"UPDATE waste_alerts SET ended_at = {p}, calls = {p}, wasted_usd = {p} "
                                   f"WHERE tenant_id = {p} AND first_decision_id = {p}")
        self.waste_alerts = (f"SELECT {columns} FROM waste_alerts WHERE tenant_id = {p} AND started_at >= {p} "
                             f"AND started_at < {p} ORDER BY started_at")
        self.alerts = (f"SELECT {', '.join(ALERT_FIELDS)} FROM anomalies WHERE tenant_id = {p} "
                       f"AND detected_at >= {p} AND detected_at < {p} ORDER BY detected_at")

    def ledger(self, tenant_id: str | None, since: float, until: float) -> tuple[str, tuple]:
        """Every decision made in [since, until) (of one tenant, or all), with its feedback if any."""
        if tenant_id is None:
            return self._ledger.format(tenant=""), (since, until)
        return self._ledger.format(tenant=self._tenant), (since, until, tenant_id)


ALERT_FIELDS = list(Alert.__dataclass_fields__)
WASTE_ALERT_FIELDS = list(WasteAlert.__dataclass_fields__)


def waste_alert_change(alert: WasteAlert) -> tuple:
    """extend_waste_alert's parameters: a storm seen again, with its calls so far."""
    return alert.ended_at, alert.calls, alert.wasted_usd, alert.tenant_id, alert.first_decision_id
