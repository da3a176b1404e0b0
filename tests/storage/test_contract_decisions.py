"""The storage contract of the decision log: durability, feedback, expiry, the ledger, tenant scoping."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.decide.anomalies import Alert
from router.domain.errors import AlreadyExists, NotFound
from router.domain.types import CacheAnswer, Context, Decision, FeedbackRecord, Metadata, Reason, RuleMatch, WasteAlert
from router.storage import RuleCount
from tests.conftest import random_context
from tests.storage.contract_helpers import TENANTS, each_backend, each_durable_backend, examples, fresh, opened

# --- what the service stores --------------------------------------------------------------------------


def logged(decision_id: str, tenant: str = "acme", created_at: float = 1000.0, seed: int = 0,
           **fields) -> tuple[Decision, Context]:
    """A decision and its context as the service makes them: the context's task is the decision's."""
    context = random_context(seed, category="code_generation", input_tokens=200, output_tokens=300)
    decision = Decision(
        decision_id=decision_id, tenant_id=tenant, created_at=created_at, model="gpt-4o-mini",
        provider="openai", probability=0.7, reason=Reason.BANDIT, category=context.category,
        security=False, complexity=context.complexity, cost_weight=0.2,
        estimated_input_tokens=context.input_tokens, estimated_output_tokens=context.output_tokens,
        estimated_cost_usd=0.002, candidates=("gpt-4o-mini", "claude-sonnet-4"), probabilities=(0.7, 0.3),
        fallbacks=("claude-sonnet-4",), metadata=Metadata(team="search", project="bot"), baseline_cost_usd=0.01,
        **fields,
    )
    return decision, context


def feedback(decision_id: str, at: float = 2000.0, **fields) -> FeedbackRecord:
    return FeedbackRecord(**{"decision_id": decision_id, "quality": 0.8, "input_tokens": 150, "output_tokens": 250,
                             "latency_ms": 900.0, "error": False, "reward": 0.75, "actual_cost_usd": 0.0015,
                             "created_at": at, "baseline_cost_usd": 0.008, **fields})


def alert(tenant: str, detected_at: float, team: str = "") -> Alert:
    return Alert(tenant, team, hour_start=detected_at // 3600 * 3600, spend_usd=9.0, expected_usd=1.0, z=6.0,
                 detected_at=detected_at)


# --- the decision log -----------------------------------------------------------------------------------


@each_backend
def test_a_recorded_decision_reads_back_at_once_as_the_log_keeps_it(kind):
    """All of it but the cache answer's text (the cache holds that) and the rules that matched
    (counted apart)."""
    decision, context = logged("d1", cache=CacheAnswer(7, "the answer", 0.98, 0.004),
                               rule_matches=(RuleMatch("cheap-docs", True),), rule_id="cheap-docs")
    with fresh(kind) as storage:
        storage.decisions.record_decision(decision, context)
        read, read_context = storage.decisions.decision("d1")
        assert read == replace(decision, cache=CacheAnswer(7, "", 0.98, 0.004), rule_matches=())
        np.testing.assert_array_equal(read_context.embedding, context.embedding.astype(np.float32))
        assert replace(read_context, embedding=None) == replace(context, embedding=None)
        assert set(storage.decisions.decisions(["d1", "unknown"])) == {"d1"}


@each_durable_backend
def test_a_decision_and_its_feedback_are_durable_when_the_call_that_records_them_returns(kind, tmp_path):
    """Another opening of the same storage reads them, the first never closed: as after a crash."""
    decision, context = logged("d1")
    with opened(kind, tmp_path) as first:
        first.decisions.record_decision(decision, context)
        seq, = first.decisions.record_feedback([feedback("d1")])
        with opened(kind, tmp_path) as after_a_crash:
            assert after_a_crash.decisions.decision("d1")[0] == decision
            assert [s for s, *_ in after_a_crash.decisions.feedback_after(0)] == [seq]
            assert after_a_crash.decisions.last_feedback_seq() == seq
            assert after_a_crash.decisions.identity() == first.decisions.identity()


@each_backend
def test_a_decision_not_in_the_log_is_not_found(kind):
    with fresh(kind) as storage:
        with pytest.raises(NotFound, match="decision 'nope' is not in the log"):
            storage.decisions.decision("nope")
        refused, = storage.decisions.record_feedback([feedback("nope")])
        assert isinstance(refused, NotFound) and str(refused) == "decision 'nope' is not in the log"
        assert storage.decisions.last_feedback_seq() == 0


@each_backend
def test_a_decision_takes_one_feedback_and_a_second_is_refused_alone(kind):
    with fresh(kind) as storage:
        for i in range(2):
            storage.decisions.record_decision(*logged(f"d{i}"))
        first, again, other = storage.decisions.record_feedback([feedback("d0"), feedback("d0"), feedback("d1")])
        assert isinstance(first, int) and isinstance(other, int) and other > first
        assert isinstance(again, AlreadyExists) and str(again) == "decision 'd0' already has feedback"
        later, = storage.decisions.record_feedback([feedback("d1", quality=0.1)])
        assert isinstance(later, AlreadyExists)
        assert [record.quality for *_, record in storage.decisions.feedback_after(0)] == [0.8, 0.8]


@each_backend
def test_feedback_after_an_expiry_was_learned_is_refused_saying_so(kind):
    with fresh(kind) as storage:
        storage.decisions.record_decision(*logged("d0"))
        storage.decisions.record_feedback([feedback("d0", quality=0.7, expired=True)])
        late, = storage.decisions.record_feedback([feedback("d0")])
        assert isinstance(late, AlreadyExists)
        assert str(late).startswith("decision 'd0' expired without feedback and was learned with its tenant's "
                                    "expired_quality")


# Batches of feedback: each names one of 6 decisions, or (6) one that is not in the log.
feedback_batches = st.lists(st.lists(st.integers(0, 6), min_size=1, max_size=5), min_size=1, max_size=6)


@each_backend
@examples
@given(batches=feedback_batches)
def test_feedback_numbers_strictly_increase_and_replay_follows_them(kind, batches):
    with fresh(kind) as storage:
        log = storage.decisions
        for i in range(6):
            log.record_decision(*logged(f"d{i}", created_at=1000.0 + i))
        answered, accepted = set(), []
        for batch in batches:
            outcomes = log.record_feedback([feedback(f"d{i}") for i in batch])
            for i, outcome in zip(batch, outcomes):
                if i == 6:
                    assert isinstance(outcome, NotFound)
                elif i in answered:
                    assert isinstance(outcome, AlreadyExists)
                else:
                    assert isinstance(outcome, int) and all(outcome > seq for seq, _ in accepted)
                    answered.add(i)
                    accepted.append((outcome, f"d{i}"))
        replayed = [(seq, decision.decision_id) for seq, decision, _, _ in log.feedback_after(0)]
        assert replayed == accepted
        for seq, _ in accepted:
            assert [s for s, *_ in log.feedback_after(seq)] == [s for s, _ in accepted if s > seq]
        assert log.last_feedback_seq() == max((seq for seq, _ in accepted), default=0)
        assert log.awaiting_feedback() == 6 - len(answered)


@each_backend
def test_overdue_decisions_expire_once_oldest_first(kind):
    with fresh(kind) as storage:
        log = storage.decisions
        for i in range(5):
            log.record_decision(*logged(f"d{i}", created_at=1000.0 + i))
        log.record_feedback([feedback("d1")])
        first = log.expire_overdue(before=1004.0, at=5000.0, limit=2)
        assert [d.decision_id for d, _ in first] == ["d0", "d2"]
        assert [d.decision_id for d, _ in log.expire_overdue(before=1004.0, at=5001.0, limit=10)] == ["d3"]
        assert log.expire_overdue(before=1004.0, at=5002.0, limit=10) == []
        assert log.awaiting_feedback() == 1  # d4, made after the cut
        late, = log.record_feedback([feedback("d0")])  # an expiry that learned nothing: the real outcome counts
        assert isinstance(late, int)


@each_backend
def test_the_ledger_reports_each_decision_with_its_outcome(kind):
    """Settled: what the call cost. Not yet: the estimate, or nothing for a cache hit. Expired
    unanswered: marked so."""
    with fresh(kind) as storage:
        log = storage.decisions
        log.record_decision(*logged("expired", created_at=999.0))
        log.record_decision(*logged("settled", created_at=1000.0))
        log.record_decision(*logged("pending", created_at=1001.0))
        log.record_decision(*logged("hit", created_at=1002.0, cache=CacheAnswer(3, "a", 0.99, 0.002)))
        log.record_feedback([feedback("settled", at=1500.0)])
        log.expire_overdue(before=1000.0, at=1600.0, limit=10)
        entries = list(log.ledger("acme", 0.0, 2000.0))
        assert [e.decision_id for e in entries] == ["expired", "settled", "pending", "hit"]
        expired, settled, pending, hit = entries
        assert (settled.settled_at, settled.cost_usd, settled.quality, settled.input_tokens) == (
            1500.0, 0.0015, 0.8, 150)
        assert (settled.baseline_cost_usd, settled.team, settled.expired) == (0.008, "search", False)
        assert (pending.settled_at, pending.cost_usd, pending.quality, pending.input_tokens) == (None, 0.002, None, 200)
        assert (hit.cache_hit, hit.cost_usd, hit.cache_saved_usd, hit.settled) == (True, 0.0, 0.002, True)
        assert expired.expired and not pending.expired


# --- tenant scoping -------------------------------------------------------------------------------------

# (tenant, minute) of each decision made.
decisions_made = st.lists(st.tuples(st.sampled_from(TENANTS), st.integers(0, 59)), min_size=1, max_size=12)


@each_backend
@examples
@given(made=decisions_made, window=st.tuples(st.integers(0, 60), st.integers(0, 60)))
def test_the_ledger_holds_a_tenant_to_its_own_decisions_in_the_window_asked(kind, made, window):
    since, until = (60.0 * m for m in window)
    with fresh(kind) as storage:
        for n, (tenant, minute) in enumerate(made):
            storage.decisions.record_decision(*logged(f"d{n}", tenant=tenant, created_at=60.0 * minute))
        for tenant in [*TENANTS, None]:
            entries = list(storage.decisions.ledger(tenant, since, until))
            expected = [f"d{n}" for n, (t, minute) in enumerate(made)
                        if tenant in (None, t) and since <= 60.0 * minute < until]
            assert sorted(e.decision_id for e in entries) == sorted(expected)
            assert [e.created_at for e in entries] == sorted(e.created_at for e in entries)


@each_backend
@examples
@given(made=decisions_made, since_minute=st.integers(0, 60))
def test_rule_counts_and_alerts_are_a_tenants_own(kind, made, since_minute):
    since = 60.0 * since_minute
    with fresh(kind) as storage:
        log = storage.decisions
        for n, (tenant, minute) in enumerate(made):
            match = (RuleMatch("r1", applied=n % 2 == 0),)
            if n % 3 == 0:  # a rule that blocked the request: no decision came of it
                log.record_rule_matches(f"blocked{n}", tenant, match, 60.0 * minute)
            else:
                log.record_decision(*logged(f"d{n}", tenant=tenant, created_at=60.0 * minute, rule_matches=match))
            assert log.record_alert(alert(tenant, 60.0 * minute, team=f"team{n}"))
        for tenant in TENANTS:
            own = [(n, 60.0 * minute) for n, (t, minute) in enumerate(made) if t == tenant and 60.0 * minute >= since]
            assert log.rule_count(tenant, "r1", since) == RuleCount(
                len(own), sum(n % 2 == 0 for n, _ in own), max((at for _, at in own), default=None))
            assert log.rule_arms(tenant, "r1", since) == {
                f"blocked{n}" if n % 3 == 0 else f"d{n}": n % 2 == 0 for n, _ in own}
            alerts = log.alerts(tenant, since, 3600.0)
            assert {a.tenant_id for a in alerts} <= {tenant} and len(alerts) == len(own)
            assert [a.detected_at for a in alerts] == sorted(at for _, at in own)
        assert log.rule_count("acme", "another-rule", 0.0) == RuleCount(0, 0, None)


@each_backend
@settings(max_examples=10, deadline=None)
@given(made=decisions_made, window=st.tuples(st.integers(0, 60), st.integers(0, 60)).map(sorted))
def test_a_tenants_feedback_in_a_window_is_read_in_sequence_order(kind, made, window):
    since, until = (60.0 * m for m in window)
    with fresh(kind) as storage:
        log = storage.decisions
        for n, (tenant, minute) in reversed(list(enumerate(made))):  # answered in another order than made
            log.record_decision(*logged(f"d{n}", tenant=tenant, created_at=60.0 * minute))
            log.record_feedback([feedback(f"d{n}")])
        for tenant in TENANTS:
            read = list(log.feedback_of(tenant, since, until))
            assert [seq for seq, *_ in read] == sorted(seq for seq, *_ in read)
            assert sorted(d.decision_id for _, d, _, _ in read) == sorted(
                f"d{n}" for n, (t, minute) in enumerate(made) if t == tenant and since <= 60.0 * minute < until)


@each_backend
def test_an_alert_is_recorded_once_per_scope_and_hour_however_many_replicas_raise_it(kind):
    with fresh(kind) as storage:
        log = storage.decisions
        assert log.record_alert(alert("acme", 7300.0))
        assert not log.record_alert(alert("acme", 7310.0))  # the same hour of the same scope: raised already
        assert log.record_alert(alert("acme", 7320.0, team="search"))  # another scope
        assert log.record_alert(alert("acme", 10900.0))  # the next hour
        assert [(a.team, a.detected_at) for a in log.alerts("acme", 0.0, 20000.0)] == [
            ("", 7300.0), ("search", 7320.0), ("", 10900.0)]


# --- the rest of the log's contract -----------------------------------------------------------------------


@each_backend
def test_a_log_has_an_identity_of_its_own_and_says_when_it_can_be_written(kind):
    with fresh(kind) as one, fresh(kind) as another:
        assert one.decisions.identity() and one.decisions.identity() == one.decisions.identity()
        assert one.decisions.identity() != another.decisions.identity()
        one.decisions.check_writable()



def storm(tenant: str, first: str, calls: int, started_at: float = 1000.0) -> WasteAlert:
    return WasteAlert(tenant, "search", "chat", "user=cron", "burst", first, started_at, started_at + 5 * calls,
                      calls, 0.001 * (calls - 1), started_at + 60)


@each_backend
def test_a_retry_storm_is_alerted_once_and_its_alert_follows_it_as_it_goes_on(kind):
    with fresh(kind) as storage:
        log = storage.decisions
        assert log.record_waste_alert(storm("acme", "d1", 5))
        assert not log.record_waste_alert(storm("acme", "d1", 9))  # seen again, by this replica or another
        assert log.record_waste_alert(storm("acme", "d20", 6, started_at=4000.0))
        assert log.record_waste_alert(storm("globex", "d1", 7))  # another tenant's storm
        alerts = log.waste_alerts("acme", 0.0, 5000.0)
        assert [(a.first_decision_id, a.calls) for a in alerts] == [("d1", 9), ("d20", 6)]
        assert alerts[0].ended_at == 1045.0 and alerts[0].detected_at == 1060.0  # when it was first alerted
        assert [a.first_decision_id for a in log.waste_alerts("acme", 2000.0, 5000.0)] == ["d20"]
