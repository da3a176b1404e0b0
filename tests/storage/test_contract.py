"""The storage contract: what the service relies on of every backend, stated once and held against each.

A decision is durable before Route answers; feedback gets a strictly increasing sequence number,
which crash replay follows; a decision has one feedback; every read is scoped to its tenant; a
decision expires once. A new backend (PostgreSQL) joins BACKENDS, and DURABLE when its state
outlives the process, and must pass this file unchanged. Storage only: no model is loaded.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.cache.entries import Prompt
from router.cache.guard import profile, redact
from router.config import Settings
from router.decide.anomalies import Alert
from router.domain.errors import AlreadyExists, NotFound
from router.domain.types import CacheAnswer, Context, Decision, FeedbackRecord, Metadata, Reason, RuleMatch
from router.storage import TENANT_BUDGETS, RuleCount, Storage
from router.storage.backends import open_storage
from tests.conftest import random_context

BACKENDS = ["sqlite", "memory"]
DURABLE = ["sqlite"]  # what these wrote, another opening of the same place reads
TENANTS = ["acme", "globex", "initech"]

each_backend = pytest.mark.parametrize("kind", BACKENDS)
each_durable_backend = pytest.mark.parametrize("kind", DURABLE)
examples = settings(max_examples=25, deadline=None)


# --- opening a backend --------------------------------------------------------------------------------


@contextmanager
def opened(kind: str, place: Path) -> Iterator[Storage]:
    storage = open_storage(Settings(data_dir=place, storage=kind))
    try:
        yield storage
    finally:
        for store in (storage.decisions, storage.cache, storage.rules, storage.budgets):
            store.close()


@contextmanager
def fresh(kind: str) -> Iterator[Storage]:
    """An empty storage of this backend (one per hypothesis example, so not pytest's tmp_path)."""
    with tempfile.TemporaryDirectory() as place, opened(kind, Path(place)) as storage:
        yield storage


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


def prompt(tenant: str, text: str, seed: int = 0) -> Prompt:
    vector = random_context(seed).embedding
    return Prompt(tenant, scope=f"scope-{tenant}", key=f"key-{text}", text=text, vector=vector, precise=vector)


def sealed(plain: Prompt, key: bytes) -> Prompt:
    return replace(plain, text="", private=True, redacted=redact(profile(plain.text), key))


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
            log.record_alert(alert(tenant, 60.0 * minute))
        for tenant in TENANTS:
            own = [(n, 60.0 * minute) for n, (t, minute) in enumerate(made) if t == tenant and 60.0 * minute >= since]
            assert log.rule_count(tenant, "r1", since) == RuleCount(
                len(own), sum(n % 2 == 0 for n, _ in own), max((at for _, at in own), default=None))
            alerts = log.alerts(tenant, since, 3600.0)
            assert {a.tenant_id for a in alerts} <= {tenant} and len(alerts) == len(own)
            assert [a.detected_at for a in alerts] == sorted(at for _, at in own)
        assert log.rule_count("acme", "another-rule", 0.0) == RuleCount(0, 0, None)


@each_backend
@examples
@given(owners=st.lists(st.sampled_from(TENANTS), min_size=1, max_size=8), dropped=st.sampled_from(TENANTS))
def test_invalidating_a_tenants_cache_leaves_every_other_tenants_entries(kind, owners, dropped):
    with fresh(kind) as storage:
        cache = storage.cache
        entries = [cache.add_entry(prompt(t, f"question {n}", seed=n), f"answer {n}", "chat", "m", 100.0, 3600.0)
                   for n, t in enumerate(owners)]
        ids = [entry.entry_id for entry in entries]
        cache.delete_tenant(dropped)
        kept = {i for i, t in zip(ids, owners) if t != dropped}
        assert set(cache.entries(ids)) == kept
        assert {slot.entry_id for slot, _ in cache.live_slots(200.0)} == kept
        assert all(e.prompt.tenant_id != dropped for e in cache.entries(ids).values())
        for tenant in TENANTS:
            with_text, _ = cache.prompts_with_text(tenant)
            assert set(with_text) == {i for i, t in zip(ids, owners) if t == tenant != dropped}


@each_backend
@examples
@given(puts=st.lists(st.tuples(st.sampled_from(TENANTS), st.sampled_from(["r1", "r2"]), st.integers(0, 9)),
                     min_size=1, max_size=10),
       deleted=st.tuples(st.sampled_from(TENANTS), st.sampled_from(["r1", "r2"])))
def test_a_tenant_reads_only_the_documents_put_for_it(kind, puts, deleted):
    with fresh(kind) as storage:
        expected: dict[str, dict[str, int]] = {}
        for at, (tenant, name, priority) in enumerate(puts):
            storage.rules.put(tenant, name, {"id": name, "priority": priority}, float(at))
            expected.setdefault(tenant, {})[name] = priority
        existed = storage.rules.delete(*deleted)
        assert existed == (deleted[1] in expected.get(deleted[0], {}))
        expected.get(deleted[0], {}).pop(deleted[1], None)
        read = storage.rules.all()
        assert {t: {n: d.body["priority"] for n, d in docs.items()} for t, docs in read.items()} == {
            t: docs for t, docs in expected.items() if docs}


# --- tenant documents -----------------------------------------------------------------------------------


@each_backend
def test_a_document_put_again_replaces_the_one_before_and_reads_back_as_a_copy(kind):
    with fresh(kind) as storage:
        rule = {"id": "r1", "priority": 1}
        storage.rules.put("acme", "r1", rule, 10.0)
        rule["priority"] = 99  # the caller's object is not what was kept
        assert storage.rules.all()["acme"]["r1"].body == {"id": "r1", "priority": 1}
        storage.rules.put("acme", "r1", {"id": "r1", "priority": 2}, 20.0)
        document = storage.rules.all()["acme"]["r1"]
        assert (document.body, document.updated_at) == ({"id": "r1", "priority": 2}, 20.0)
        assert storage.rules.delete("acme", "r1") and not storage.rules.delete("acme", "r1")
        assert storage.rules.all() == {}


@each_backend
def test_a_tenants_budgets_are_one_document(kind):
    with fresh(kind) as storage:
        budgets = [{"daily_usd": 50}, {"team": "search", "monthly_usd": 300}]
        storage.budgets.put("acme", TENANT_BUDGETS, budgets, 10.0)
        storage.budgets.put("globex", TENANT_BUDGETS, [{"daily_usd": 5}], 11.0)
        assert storage.budgets.all()["acme"][TENANT_BUDGETS].body == budgets
        with pytest.raises(ValueError, match="one budgets document"):
            storage.budgets.put("acme", "more-budgets", budgets, 12.0)
        assert storage.budgets.delete("acme", TENANT_BUDGETS)
        assert set(storage.budgets.all()) == {"globex"}


@each_durable_backend
def test_documents_and_cache_entries_outlive_a_restart(kind, tmp_path):
    with opened(kind, tmp_path) as first:
        first.rules.put("acme", "r1", {"id": "r1"}, 10.0)
        first.budgets.put("acme", TENANT_BUDGETS, [{"daily_usd": 5}], 10.0)
        entry = first.cache.add_entry(prompt("acme", "question"), "answer", "chat", "gpt-4o-mini", 100.0, 3600.0)
        key = first.cache.redaction_key
    with opened(kind, tmp_path) as restarted:
        assert restarted.rules.all()["acme"]["r1"].body == {"id": "r1"}
        assert restarted.budgets.all()["acme"][TENANT_BUDGETS].body == [{"daily_usd": 5}]
        assert restarted.cache.entries([entry.entry_id])[entry.entry_id].answer == "answer"
        assert restarted.cache.redaction_key == key  # the sealed prompts' hashes still compare


# --- cache entries --------------------------------------------------------------------------------------


@each_backend
def test_a_cache_entry_is_found_by_id_and_listed_until_it_expires(kind):
    with fresh(kind) as storage:
        cache = storage.cache
        asked = prompt("acme", "What is a hash map?")
        entry = cache.add_entry(asked, "A table of keys.", "chat", "gpt-4o-mini", now=100.0, ttl=50.0)
        found = cache.entries([entry.entry_id, entry.entry_id + 1000])
        assert set(found) == {entry.entry_id}
        read = found[entry.entry_id]
        assert (read.answer, read.prompt.tenant_id, read.prompt.text, read.expires_at) == (
            "A table of keys.", "acme", "What is a hash map?", 150.0)
        np.testing.assert_array_equal(read.prompt.vector, asked.vector.astype(np.float32))
        assert [slot.entry_id for slot, _ in cache.live_slots(149.0)] == [entry.entry_id]
        assert list(cache.live_slots(150.0)) == []  # expired, and deleted on the way
        assert cache.entries([entry.entry_id]) == {}


@each_backend
def test_live_slots_come_least_recently_used_first(kind):
    with fresh(kind) as storage:
        cache = storage.cache
        ids = [cache.add_entry(prompt("acme", f"q{n}", seed=n), "a", "chat", "m", 100.0 + n, 3600.0).entry_id
               for n in range(3)]
        cache.touch(ids[0], 200.0)
        assert [slot.entry_id for slot, _ in cache.live_slots(300.0)] == [ids[1], ids[2], ids[0]]
        cache.delete_entries([ids[1]])
        assert [slot.entry_id for slot, _ in cache.live_slots(300.0)] == [ids[2], ids[0]]


@each_backend
def test_a_prompt_waits_for_its_answer_once_and_not_forever(kind):
    with fresh(kind) as storage:
        cache = storage.cache
        cache.add_pending("d1", prompt("acme", "first"), 100.0)
        cache.add_pending("d2", prompt("acme", "second"), 200.0)
        assert cache.take_pending("d1").text == "first"
        assert cache.take_pending("d1") is None
        assert cache.forget_pending_before(250.0) == 1
        assert cache.take_pending("d2") is None


@each_backend
def test_sealing_a_tenants_prompts_leaves_no_text_and_a_private_prompt_is_stored_only_sealed(kind):
    with fresh(kind) as storage:
        cache = storage.cache
        key = cache.redaction_key
        entry = cache.add_entry(prompt("acme", "my secret question"), "a", "chat", "m", 100.0, 3600.0)
        cache.add_pending("d1", prompt("acme", "another secret"), 100.0)
        cache.add_pending("d2", prompt("globex", "not secret"), 100.0)
        assert cache.tenants_with_text() == ["acme", "globex"]
        entries, pending = cache.prompts_with_text("acme")
        assert set(entries) == {entry.entry_id} and set(pending) == {"d1"}
        cache.seal({i: sealed(p, key) for i, p in entries.items()}, {i: sealed(p, key) for i, p in pending.items()})
        assert cache.tenants_with_text() == ["globex"]
        read = cache.entries([entry.entry_id])[entry.entry_id]
        assert (read.prompt.text, read.prompt.private, read.prompt.sealed) == ("", True, True)
        assert cache.take_pending("d1").redacted == redact(profile("another secret"), key)
        with pytest.raises(ValueError, match="only sealed"):
            cache.add_pending("d3", replace(prompt("acme", "in plain"), private=True), 100.0)


@each_backend
def test_ratings_of_served_hits_are_kept_by_tenant_in_order(kind):
    with fresh(kind) as storage:
        cache = storage.cache
        for tenant, similarity, good in [("acme", 0.97, True), ("globex", 0.96, False), ("acme", 0.98, False)]:
            cache.add_rating(tenant, similarity, good, 100.0)
        assert cache.ratings() == {"acme": [(0.97, True), (0.98, False)], "globex": [(0.96, False)]}


# --- the rest of the log's contract -----------------------------------------------------------------------


@each_backend
def test_a_log_has_an_identity_of_its_own_and_says_when_it_can_be_written(kind):
    with fresh(kind) as one, fresh(kind) as another:
        assert one.decisions.identity() and one.decisions.identity() == one.decisions.identity()
        assert one.decisions.identity() != another.decisions.identity()
        one.decisions.check_writable()


@each_backend
def test_the_cache_store_is_opened_only_when_the_cache_is_on(kind, tmp_path):
    storage = open_storage(Settings(data_dir=tmp_path, storage=kind, cache={"enabled": False}))
    assert storage.cache is None
    for store in (storage.decisions, storage.rules, storage.budgets):
        store.close()
