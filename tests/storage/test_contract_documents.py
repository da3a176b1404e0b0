"""The storage contract of tenant documents (rules and budgets): replacing, scoping, restarts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.storage import TENANT_BUDGETS
from tests.storage.contract_helpers import TENANTS, each_backend, each_durable_backend, examples, fresh, opened, prompt

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


@each_backend
def test_a_tenants_advice_is_a_document_per_recommendation(kind):
    with fresh(kind) as storage:
        storage.advice.put("acme", "cheaper_model-1", {"status": "dismissed", "evidence_key": "k"}, 10.0)
        storage.advice.put("acme", "cache-2", {"status": "testing", "rule_id": "advice-cache-2"}, 11.0)
        storage.advice.put("globex", "cheaper_model-1", {"status": "applied"}, 12.0)
        assert {name: d.body["status"] for name, d in storage.advice.all()["acme"].items()} == {
            "cheaper_model-1": "dismissed", "cache-2": "testing"}
        assert storage.advice.all()["globex"]["cheaper_model-1"].updated_at == 12.0


@each_durable_backend
def test_documents_and_cache_entries_outlive_a_restart(kind, tmp_path):
    with opened(kind, tmp_path) as first:
        first.rules.put("acme", "r1", {"id": "r1"}, 10.0)
        first.budgets.put("acme", TENANT_BUDGETS, [{"daily_usd": 5}], 10.0)
        first.advice.put("acme", "cache-2", {"status": "applied"}, 10.0)
        entry = first.cache.add_entry(prompt("acme", "question"), "answer", "chat", "gpt-4o-mini", 100.0, 3600.0)
        key = first.cache.redaction_key
    with opened(kind, tmp_path) as restarted:
        assert restarted.rules.all()["acme"]["r1"].body == {"id": "r1"}
        assert restarted.budgets.all()["acme"][TENANT_BUDGETS].body == [{"daily_usd": 5}]
        assert restarted.advice.all()["acme"]["cache-2"].body == {"status": "applied"}
        assert restarted.cache.entries([entry.entry_id])[entry.entry_id].answer == "answer"
        assert restarted.cache.redaction_key == key  # the sealed prompts' hashes still compare


# --- tenant scoping -------------------------------------------------------------------------------------


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
