"""The storage contract of the semantic cache: entries, expiry, pending prompts, sealing, ratings."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.cache.entries import Prompt
from router.cache.guard import profile, redact
from router.config import Settings
from router.storage.backends import open_storage
from tests.storage.contract_helpers import TENANTS, close_all, each_backend, examples, fresh, prompt


def sealed(plain: Prompt, key: bytes) -> Prompt:
    return replace(plain, text="", private=True, redacted=redact(profile(plain.text), key))


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
def test_live_ids_name_the_unexpired_entries_and_delete_nothing(kind):
    with fresh(kind) as storage:
        cache = storage.cache
        ids = [cache.add_entry(prompt("acme", f"q{n}", seed=n), "a", "chat", "m", 100.0, 50.0 * (n + 1)).entry_id
               for n in range(3)]
        assert sorted(cache.live_ids(149.0)) == ids
        assert sorted(cache.live_ids(200.0)) == ids[2:]  # the first two expired
        cache.delete_entries([ids[2]])
        assert cache.live_ids(200.0) == []
        assert set(cache.entries(ids)) == set(ids[:2])  # expired, still stored: live_slots deletes them
        assert cache.delete_tenant("acme", 120.0) == 2  # of the two left, those unexpired at 120 are counted


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


# --- tenant scoping -------------------------------------------------------------------------------------


@each_backend
@examples
@given(owners=st.lists(st.sampled_from(TENANTS), min_size=1, max_size=8), dropped=st.sampled_from(TENANTS))
def test_invalidating_a_tenants_cache_leaves_every_other_tenants_entries(kind, owners, dropped):
    with fresh(kind) as storage:
        cache = storage.cache
        entries = [cache.add_entry(prompt(t, f"question {n}", seed=n), f"answer {n}", "chat", "m", 100.0, 3600.0)
                   for n, t in enumerate(owners)]
        ids = [entry.entry_id for entry in entries]
        assert cache.delete_tenant(dropped, 200.0) == owners.count(dropped)
        kept = {i for i, t in zip(ids, owners) if t != dropped}
        assert set(cache.entries(ids)) == kept
        assert {slot.entry_id for slot, _ in cache.live_slots(200.0)} == kept
        assert all(e.prompt.tenant_id != dropped for e in cache.entries(ids).values())
        for tenant in TENANTS:
            with_text, _ = cache.prompts_with_text(tenant)
            assert set(with_text) == {i for i, t in zip(ids, owners) if t == tenant != dropped}


# --- the rest of the cache's contract --------------------------------------------------------------------


@each_backend
def test_the_cache_store_is_opened_only_when_the_cache_is_on(kind, tmp_path):
    storage = open_storage(Settings(data_dir=tmp_path, storage=kind, cache={"enabled": False}))
    assert storage.cache is None
    close_all(storage)
