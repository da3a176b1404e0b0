"""The semantic cache: scoped to tenant and system prompt, exact then semantic, TTL, LRU, persistence."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.cache.entries import Prompt
from router.cache.semantic import SemanticCache, _ScopeIndex, conversation_key, learned_threshold, scope_of
from router.config import CacheSettings
from router.domain.types import ChatMessage
from router.storage.sqlite.cache_entries import CacheStore
from tests.conftest import Clock

DIM = 384


def word_vector(text: str) -> np.ndarray:
    """A bag of hashed words: texts sharing most words are close, as with a real embedding."""
    vector = np.zeros(DIM, dtype=np.float32)
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
    return vector / max(np.linalg.norm(vector), 1e-9)


def prompt(text: str, tenant: str = "acme", system: str = "", history: tuple[ChatMessage, ...] = ()) -> Prompt:
    messages = history + (ChatMessage("user", text),)
    return Prompt(tenant, scope_of(tenant, system), conversation_key(messages),
                  "\n".join(m.content for m in messages), word_vector(text))


@pytest.fixture
def clock():
    return Clock(1_000_000.0)


@pytest.fixture
def open_cache(tmp_path, clock):
    opened = []

    def open_(**overrides) -> SemanticCache:
        cache = SemanticCache(CacheSettings(**overrides), CacheStore(tmp_path / "cache.sqlite"), clock=clock)
        opened.append(cache)
        return cache

    yield open_
    for cache in opened:
        cache.close()


def put(cache: SemanticCache, p: Prompt, answer: str, category: str = "simple_query", model: str = "gpt-4o"):
    decision_id = hashlib.md5(f"{p.scope}{p.key}{answer}".encode()).hexdigest()
    cache.remember(decision_id, p)
    return cache.store_answer(decision_id, answer, category, model)


def test_a_repeat_differing_only_in_case_and_spacing_is_an_exact_hit(open_cache):
    cache = open_cache()
    put(cache, prompt("What is the capital of Portugal?"), "Lisbon.")
    hit, _ = cache.lookup(prompt("  what is the CAPITAL of   Portugal? "), threshold=0.9)
    assert hit is not None and hit.exact and hit.similarity == 1.0
    assert hit.entry.answer == "Lisbon."


def test_a_follow_up_is_keyed_on_the_whole_conversation(open_cache):
    cache = open_cache()
    first = (ChatMessage("user", "Tell me about Lisbon."), ChatMessage("assistant", "Lisbon is ..."))
    other = (ChatMessage("user", "Tell me about Oslo."), ChatMessage("assistant", "Oslo is ..."))
    put(cache, prompt("And its population?", history=first), "About 545,000.")
    assert cache.lookup(prompt("And its population?", history=first), 0.9)[0] is not None
    hit, _ = cache.lookup(prompt("And its population?", history=other), 0.9)
    assert hit is None or not hit.exact


TENANTS = st.sampled_from(["acme", "globex", "initech"])
SYSTEMS = st.sampled_from(["", "You are a pirate.", "Answer in French."])
TEXTS = st.sampled_from(["What is the capital of Portugal?", "what is the capital of portugal",
                         "How do I reverse a list in Python?", "How do I reverse a list in Python",
                         "Who wrote Hamlet?"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored=st.lists(st.tuples(TENANTS, SYSTEMS, TEXTS), min_size=1, max_size=12),
       queries=st.lists(st.tuples(TENANTS, SYSTEMS, TEXTS), min_size=1, max_size=12))
def test_a_lookup_never_returns_another_tenants_or_another_system_prompts_entry(tmp_path_factory, stored, queries):
    store = CacheStore(tmp_path_factory.mktemp("cache") / "cache.sqlite")
    cache = SemanticCache(CacheSettings(), store)
    try:
        for tenant, system, text in stored:
            put(cache, prompt(text, tenant, system), f"answer for {tenant}/{system}/{text}")
        for tenant, system, text in queries:
            hit, _ = cache.lookup(prompt(text, tenant, system), threshold=0.5)
            if hit is not None:
                assert hit.entry.prompt.tenant_id == tenant
                assert hit.entry.prompt.scope == scope_of(tenant, system)
                assert hit.entry.answer.startswith(f"answer for {tenant}/{system}/")
    finally:
        cache.close()


def test_an_entry_expires_after_its_categorys_ttl(open_cache, clock):
    cache = open_cache(ttl_seconds={"chat": 60, "documentation": 86400})
    put(cache, prompt("hello there"), "Hi!", category="chat")
    put(cache, prompt("Document the logger settings"), "The logger ...", category="documentation")
    clock.now += 61
    assert cache.lookup(prompt("hello there"), 0.9)[0] is None
    assert cache.lookup(prompt("Document the logger settings"), 0.9)[0] is not None
    assert cache.size("acme") == 1


def test_a_never_cached_category_is_never_stored(open_cache):
    cache = open_cache()
    assert put(cache, prompt("Brainstorm ten names for a bakery"), "1. ...", category="creative") is None
    assert put(cache, prompt("Solve 3x + 5 = 20"), "x = 5", category="reasoning") is None
    assert cache.size() == 0


def test_the_least_recently_used_entry_of_a_full_tenant_goes_first(open_cache, clock):
    cache = open_cache(capacity_per_tenant=2)
    put(cache, prompt("Who wrote Hamlet?"), "Shakespeare.")
    clock.now += 1
    put(cache, prompt("What is the capital of Portugal?"), "Lisbon.")
    clock.now += 1
    assert cache.lookup(prompt("Who wrote Hamlet?"), 0.9)[0] is not None  # now the most recent
    put(cache, prompt("How many legs does a spider have?"), "Eight.")
    put(cache, prompt("Who wrote Hamlet?", tenant="globex"), "Shakespeare.")  # another tenant's room
    assert cache.lookup(prompt("What is the capital of Portugal?"), 0.9)[0] is None
    assert cache.lookup(prompt("Who wrote Hamlet?"), 0.9)[0] is not None
    assert cache.size("acme") == 2 and cache.size("globex") == 1


def test_entries_survive_a_restart_and_evictions_stay_evicted(tmp_path, clock):
    cache = SemanticCache(CacheSettings(), CacheStore(tmp_path / "cache.sqlite"), clock=clock)
    kept = put(cache, prompt("Who wrote Hamlet?"), "Shakespeare.")
    gone = put(cache, prompt("What is the capital of Portugal?"), "Lisbon.")
    cache.evict(gone.entry_id)
    cache.close()
    reopened = SemanticCache(CacheSettings(), CacheStore(tmp_path / "cache.sqlite"), clock=clock)
    try:
        hit, _ = reopened.lookup(prompt("Who wrote Hamlet?"), 0.9)
        assert hit is not None and hit.entry.entry_id == kept.entry_id
        assert reopened.lookup(prompt("What is the capital of Portugal?"), 0.9)[0] is None
    finally:
        reopened.close()


def test_a_corrupt_cache_file_is_moved_aside_and_the_cache_starts_empty(tmp_path, clock, caplog):
    path = tmp_path / "cache.sqlite"
    cache = SemanticCache(CacheSettings(), CacheStore(path), clock=clock)
    put(cache, prompt("Who wrote Hamlet?"), "Shakespeare.")
    cache.close()
    path.write_bytes(b"this is not a database" * 100)
    reopened = SemanticCache(CacheSettings(), CacheStore(path), clock=clock)
    try:
        assert reopened.size() == 0
        assert put(reopened, prompt("Who wrote Hamlet?"), "Shakespeare.") is not None
        assert "unreadable" in caplog.text
        assert list(tmp_path.glob("cache.sqlite.corrupt-*"))
    finally:
        reopened.close()


def test_invalidating_a_tenant_leaves_the_others(open_cache):
    cache = open_cache()
    put(cache, prompt("Who wrote Hamlet?", tenant="acme"), "Shakespeare.")
    put(cache, prompt("Who wrote Hamlet?", tenant="globex"), "Shakespeare.")
    assert cache.invalidate("acme") == 1
    assert cache.lookup(prompt("Who wrote Hamlet?", tenant="acme"), 0.9)[0] is None
    assert cache.lookup(prompt("Who wrote Hamlet?", tenant="globex"), 0.9)[0] is not None


def test_the_approximate_index_recalls_over_95_percent_of_exact_search():
    # Clustered like real prompts: 20,000 vectors around 400 topics. Queries sit at cosine about 0.9
    # from a stored vector, the least similarity the cache's prefilter lets through.
    rng = np.random.default_rng(0)
    topics = rng.normal(size=(400, DIM))
    vectors = topics[rng.integers(0, 400, 20_000)] + rng.normal(size=(20_000, DIM)) * 0.6
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    exact, approximate = _ScopeIndex(DIM, approximate_above=10**9), _ScopeIndex(DIM, approximate_above=1_000)
    for i, v in enumerate(vectors):
        exact.add(i, str(i), v)
        approximate.add(i, str(i), v)
    targets = rng.choice(len(vectors), 300, replace=False)
    queries = vectors[targets] + rng.normal(size=(300, DIM)) * 0.48 / np.sqrt(DIM)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    found = [approximate.search(q, 1)[0][0] == exact.search(q, 1)[0][0] for q in queries]
    assert np.mean(found) >= 0.95


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 59)), min_size=1, max_size=200),
       st.sampled_from([10**9, 20]))
def test_the_index_finds_exactly_the_live_vectors_through_removals_and_rebuilds(operations, approximate_above):
    """Removals rebuild the index from the vectors FAISS holds (no second copy): whatever the
    sequence, each live entry is its own nearest neighbour and a removed one is never returned."""
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(60, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index, live, next_id = _ScopeIndex(DIM, approximate_above), {}, 0
    for add, which in operations:
        if add:
            index.add(next_id, f"k{next_id}", vectors[which])
            live[next_id], next_id = which, next_id + 1
        elif live:
            gone = sorted(live)[which % len(live)]
            index.remove(gone, f"k{gone}")
            del live[gone]
    assert index.ids == set(live)
    for entry_id, which in live.items():
        found = index.search(vectors[which], 60)
        assert {i for i, _ in found} <= set(live)
        assert found[0][1] == pytest.approx(1.0, abs=1e-5)


def test_nothing_is_learned_while_poor_hits_stay_within_the_target():
    assert learned_threshold([], 0.01) == 0.0
    assert learned_threshold([(0.97, True)] * 50, 0.01) == 0.0
    assert learned_threshold([(0.97, False)] + [(0.965, True)] * 199, 0.01) == 0.0


def test_a_poor_hit_among_few_ratings_lifts_the_threshold_just_above_it():
    threshold = learned_threshold([(0.99, True), (0.975, False), (0.97, True)], 0.01)
    assert 0.975 < threshold < 0.976


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.9, 1.0), st.booleans()), min_size=1, max_size=60), st.sampled_from([0.01, 0.05]))
def test_hits_above_the_learned_threshold_were_poor_at_most_the_target_share(ratings, target):
    threshold = learned_threshold(ratings, target)
    above = [good for similarity, good in ratings if similarity >= threshold]
    assert sum(not good for good in above) <= target * len(above)


def test_a_poor_rating_of_a_semantic_hit_raises_that_tenants_threshold_only(open_cache):
    cache = open_cache()
    entry = put(cache, prompt("How do I reverse a list in Python?"), "Use reversed().")
    assert cache.rate_served("acme", entry.entry_id, 0.97, good=False)  # evicted
    assert cache.store.ratings() == {"acme": [(0.97, False)]}
    cache.learn_rating("acme", 0.97, good=False)  # as the feedback log's stream brings it, on every replica
    assert cache.threshold_floor("acme") > 0.97 and cache.threshold_floor("globex") == 0.0
    cache.rate_served("acme", 12345, 1.0, good=False)  # an exact repeat's rating says nothing of the match
    assert cache.store.ratings() == {"acme": [(0.97, False)]}
