"""The semantic cache: answer a repeated question for free, never with a wrong or foreign answer.

An entry is visible only in its scope: the same tenant and the same system prompt. Within a scope a
prompt is looked up first by the hash of its normalised conversation (exact repeats), then by its
routing embedding in a FAISS index, and every near neighbour must then pass the false-hit guard
(router/cache/guard.py), which compares the two texts and MiniLM's vectors of them. The routing
embedding only shortlists: MiniLM runs for a prompt only when a shortlisted neighbour exists.

A tenant that keeps no prompt text has its prompts marked private: the cache reads what it needs
of one (MiniLM's vector, the guard's profile) before it is stored, and stores it sealed, without its
text and with the profile's tokens as keyed hashes (router/storage/sqlite/cache_entries.py). The guard compares two
prompts in that form whenever either of them is private, and judges them as it would in plain.

Memory holds only what finds an entry: the search index and each entry's scope, key and expiry.
The text, MiniLM's vector and the answer stay in SQLite until a lookup shortlists the entry, so a
cache of 100,000 long answers costs little more memory than one of short ones.

Eviction is least recently used, per tenant. Popular questions are asked again soon, so recency
keeps them; least frequently used would also keep yesterday's favourites long after the TTL
made their answers suspect, and would need counters aged by hand.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import faiss
import numpy as np

from router.cache.entries import CacheEntries, Entry, Prompt, Slot
from router.cache.guard import PREFILTER_STATIC_COSINE, Profile, judge_profiles, profile, redact
from router.config import CacheSettings
from router.domain.types import ChatMessage
from router.reading.vectors import Embedder

# HNSW's graph degree and search breadth. Only neighbours at static cosine >= 0.90 matter (the
# prefilter), and those HNSW finds cheaply: on 10,000 random unit vectors (the hardest case, no
# clusters) a query at cosine 0.90 to its target finds it 100% of the time in 0.38 ms (p50) at
# efSearch 32, against 1.0 ms at 96; at 100,000 random vectors recall falls to 78%, while real
# embeddings, which cluster, keep it (tests/cache/test_cache.py checks recall on clustered vectors).
HNSW_NEIGHBOURS = 32
HNSW_EF_SEARCH = 32
# Ratings of served hits remembered per tenant for its learned threshold: the recent ones.
RATINGS_KEPT = 10_000


def normalise(text: str) -> str:
    """Case and spacing do not change a question."""
    return re.sub(r"\s+", " ", text).strip().lower()


def scope_of(tenant_id: str, system_prompt: str) -> str:
    return _hash(f"{tenant_id}\0{normalise(system_prompt)}")


def conversation_key(messages: tuple[ChatMessage, ...]) -> str:
    """The whole conversation, roles included: a follow-up is only the same as the same follow-up
    to the same earlier turns."""
    return _hash("\0".join(f"{m.role}:{normalise(m.content)}" for m in messages if m.role != "system"))


def learned_threshold(ratings: list[tuple[float, bool]], target: float) -> float:
    """The lowest similarity threshold at which the rated hits it would still serve were poor at
    most `target` of the time; 0 when all of them together are (nothing learned).

    ratings: (similarity, judged good) of hits served by meaning rather than as exact repeats. Each
    poor hit above the threshold must be outweighed by 1/target good ones, so a tenant with few
    ratings moves its threshold just past a poor hit, and one with many tolerates the rate asked.
    """
    seen = poor = 0
    threshold, above_ok = 1.0, True  # nothing above the most similar rating: trivially within target
    for similarity, group in itertools.groupby(sorted(ratings, key=lambda r: -r[0]), key=lambda r: r[0]):
        for _, good in group:
            seen, poor = seen + 1, poor + (not good)
        ok = poor <= target * seen
        if ok:
            threshold = similarity
        elif above_ok:
            threshold = similarity + 1e-6  # serve only what is more similar than this poor hit
        above_ok = ok
    return 0.0 if poor <= target * seen else threshold


@dataclass(frozen=True)
class CacheHit:
    entry: Entry
    similarity: float
    exact: bool


class SemanticCache:
    def __init__(self, settings: CacheSettings, store: CacheEntries, precise: Embedder | None = None,
                 clock: Callable[[], float] = time.time):
        self.settings = settings
        self.store = store
        self.precise = precise
        self.clock = clock
        self._key = store.redaction_key
        # One query at a time: FAISS's OpenMP threads only add wake-up latency (p99 12 ms at 2,000
        # entries with them, under 1 ms without, on two busy cores).
        faiss.omp_set_num_threads(1)
        self._lock = threading.Lock()
        self._slots: dict[int, Slot] = {}
        self._scopes: dict[str, _ScopeIndex] = {}
        self._recency: dict[str, OrderedDict[int, None]] = {}  # per tenant, least recently used first
        for slot, vector in store.live_slots(clock()):
            self._add(slot, vector)
        self._ratings = {tenant: ratings[-RATINGS_KEPT:] for tenant, ratings in store.ratings().items()}
        self._floors = {tenant: learned_threshold(r, settings.target_false_hit_rate) for tenant, r in self._ratings.items()}

    def lookup(self, prompt: Prompt, threshold: float) -> tuple[CacheHit | None, Prompt]:
        """The entry that answers this prompt, if any; and the prompt with MiniLM's vector when one
        was computed, so that storing its answer later need not compute it again."""
        now = self.clock()
        with self._lock:
            threshold = max(threshold, self._floors.get(prompt.tenant_id, 0.0))
            scope = self._scopes.get(prompt.scope)
            if scope is None:
                return None, prompt
            exact = self._live(scope.by_key.get(prompt.key), now)
            shortlist = [] if exact is not None else [
                entry_id for entry_id, cosine in scope.search(prompt.vector, self.settings.candidates)
                if cosine >= PREFILTER_STATIC_COSINE and self._live(entry_id, now) is not None]
        if exact is not None:
            entry = self.store.entries([exact]).get(exact)
            with self._lock:
                return (None if entry is None else self._served(entry, 1.0, True, now)), prompt
        if not shortlist:
            return None, prompt
        prompt = self._with_precise(prompt)
        entries = self.store.entries(shortlist).values()
        scored = sorted(((self._similarity(prompt, e), e) for e in entries), key=lambda t: -t[0])
        # Reading a long text costs a few tenths of a millisecond: only candidates the threshold
        # lets through are read.
        for similarity, entry in itertools.takewhile(lambda t: t[0] >= threshold, scored):
            if judge_profiles(*self._comparable(prompt, profile(prompt.text), entry), similarity, threshold).accepted:
                with self._lock:
                    hit = self._served(entry, similarity, False, now)
                if hit is not None:
                    return hit, prompt
        return None, prompt

    def keeps(self, category: str) -> bool:
        """Whether answers of this task category are ever cached (a TTL above 0)."""
        return self.settings.ttl_seconds.get(category, 0) > 0

    def remember(self, decision_id: str, prompt: Prompt) -> None:
        """Keep a missed prompt until its answer arrives with the feedback. A private prompt is kept
        sealed, so MiniLM reads it now: its text will not be there when the answer comes."""
        if prompt.private:
            prompt = self._sealed(self._with_precise(prompt))
        self.store.add_pending(decision_id, prompt, self.clock())

    def store_answer(self, decision_id: str, answer: str, category: str, model: str) -> Entry | None:
        """Cache the answer to a remembered prompt; None if the prompt was not remembered or its
        category is never cached. The caller has checked the answer's quality."""
        prompt = self.store.take_pending(decision_id)
        if prompt is None or not self.keeps(category):
            return None
        prompt = self._with_precise(prompt)
        entry = self.store.add_entry(prompt, answer, category, model, self.clock(), self.settings.ttl_seconds[category])
        with self._lock:
            self._add(Slot(entry.entry_id, prompt.tenant_id, prompt.scope, prompt.key, entry.expires_at), prompt.vector)
            evicted = self._over_capacity(prompt.tenant_id)
        self.store.delete_entries(evicted)
        return entry

    def rate_served(self, tenant_id: str, entry_id: int, similarity: float, good: bool) -> bool:
        """Feedback on a served answer, on the replica that took it: a poor one evicts its entry; a
        semantic hit's rating (not an exact repeat's: that says nothing of the match) is kept for the
        learned threshold, which `learn_rating` moves. Returns whether the entry was evicted."""
        if similarity < 1.0:
            self.store.add_rating(tenant_id, similarity, good, self.clock())
        return not good and self.evict(entry_id)

    def learn_rating(self, tenant_id: str, similarity: float, good: bool) -> None:
        """A semantic hit's rating moves the tenant's learned threshold: on every replica, in the order
        of the feedback log, so that all of them keep the same."""
        with self._lock:
            ratings = self._ratings.setdefault(tenant_id, [])
            ratings.append((similarity, good))
            del ratings[:-RATINGS_KEPT]
            self._floors[tenant_id] = learned_threshold(ratings, self.settings.target_false_hit_rate)

    def threshold_floor(self, tenant_id: str) -> float:
        """The threshold this tenant's ratings of served hits have taught (0: none)."""
        with self._lock:
            return self._floors.get(tenant_id, 0.0)

    def evict(self, entry_id: int) -> bool:
        """Drop an entry (its answer was judged poor when served); False if it was already gone."""
        with self._lock:
            found = self._remove(entry_id)
        if found:
            self.store.delete_entries([entry_id])
        return found

    def invalidate(self, tenant_id: str) -> int:
        """Drop every entry of a tenant; returns how many there were in the store (which other replicas
        may have filled faster than this one's index followed)."""
        with self._lock:
            for entry_id in list(self._recency.get(tenant_id, ())):
                self._remove(entry_id)
        return self.store.delete_tenant(tenant_id, self.clock())

    def follow(self) -> tuple[int, int]:
        """Bring the index to what the store holds, for a replica whose store others write too: entries
        another replica added are indexed, those it evicted or invalidated (or that expired) leave.
        Returns (added, removed)."""
        with self._lock:  # a copy under the lock: lookups and stores change the dict from other threads
            known = set(self._slots)  # before the store is read: an entry added meanwhile is not taken for gone
        live = set(self.store.live_ids(self.clock()))
        new = self.store.entries(sorted(live - known)) if live - known else {}
        with self._lock:
            gone = [entry_id for entry_id in known - live if self._remove(entry_id)]
            for entry in new.values():
                if entry.entry_id not in self._slots:
                    p = entry.prompt
                    self._add(Slot(entry.entry_id, p.tenant_id, p.scope, p.key, entry.expires_at), p.vector)
        return len(new), len(gone)

    def tenants_with_text(self) -> list[str]:
        """The tenants whose stored prompts include some with their text: those redact_tenant may seal."""
        return self.store.tenants_with_text()

    def redact_tenant(self, tenant_id: str) -> int:
        """Seal every stored prompt of a tenant that still holds its text (entries, expired ones
        too, and prompts waiting for their answer): for a tenant that keeps no prompt text, whose
        cache may hold prompts stored before it said so. Returns how many prompts were sealed."""
        entries, pending = self.store.prompts_with_text(tenant_id)
        sealed = [self._sealed(p) for p in self._all_with_precise([*entries.values(), *pending.values()])]
        self.store.seal(dict(zip(entries, sealed[:len(entries)])), dict(zip(pending, sealed[len(entries):])))
        return len(sealed)

    def forget_pending(self, older_than_seconds: float) -> int:
        return self.store.forget_pending_before(self.clock() - older_than_seconds)

    def size(self, tenant_id: str | None = None) -> int:
        with self._lock:
            if tenant_id is None:
                return len(self._slots)
            return len(self._recency.get(tenant_id, ()))

    def close(self) -> None:
        self.store.close()

    def _served(self, entry: Entry, similarity: float, exact: bool, now: float) -> CacheHit | None:
        """A hit on an entry read from the store, unless it left the cache meanwhile. Holds the lock."""
        if entry.entry_id not in self._slots:
            return None
        entry.last_used = now
        self._recency[entry.prompt.tenant_id].move_to_end(entry.entry_id)
        self.store.touch(entry.entry_id, now)
        return CacheHit(entry, similarity, exact)

    def _live(self, entry_id: int | None, now: float) -> int | None:
        slot = self._slots.get(entry_id) if entry_id is not None else None
        if slot is None:
            return None
        if slot.expires_at <= now:
            self._remove(entry_id)
            self.store.delete_entries([entry_id])
            return None
        return entry_id

    def _with_precise(self, prompt: Prompt) -> Prompt:
        return self._all_with_precise([prompt])[0]

    def _all_with_precise(self, prompts: list[Prompt]) -> list[Prompt]:
        """The prompts with MiniLM's vectors, one batch for those without. A sealed prompt cannot be
        read again: without the vector, it keeps comparing by its routing vector."""
        unread = [i for i, p in enumerate(prompts) if p.precise is None and not p.sealed]
        if self.precise is None or not unread:
            return prompts
        vectors = self.precise.embed([prompts[i].text for i in unread])
        read = list(prompts)
        for i, vector in zip(unread, vectors):
            read[i] = replace(read[i], precise=vector)
        return read

    def _sealed(self, prompt: Prompt) -> Prompt:
        """The private form of a prompt already read by MiniLM: no text, the guard's profile in keyed hashes."""
        return replace(prompt, text="", private=True, redacted=redact(profile(prompt.text), self._key))

    def _comparable(self, query: Prompt, read: Profile, entry: Entry) -> tuple[Profile, Profile]:
        """The two profiles the guard compares, in one form: keyed hashes when either prompt is
        private (a tenant that turned privacy on or off may still hold entries of the other form)."""
        if entry.prompt.sealed:
            return redact(read, self._key), entry.prompt.redacted
        entry_profile = entry.guard_profile or profile(entry.prompt.text)  # a file from before guard_profile
        if query.private:
            return redact(read, self._key), redact(entry_profile, self._key)
        return read, entry_profile

    def _similarity(self, prompt: Prompt, entry: Entry) -> float:
        if prompt.precise is not None and entry.prompt.precise is not None:
            return float(np.dot(prompt.precise, entry.prompt.precise))
        return float(np.dot(prompt.vector, entry.prompt.vector))

    def _add(self, slot: Slot, vector: np.ndarray) -> None:
        scope = self._scopes.setdefault(slot.scope, _ScopeIndex(len(vector), self.settings.approximate_above))
        replaced = scope.by_key.get(slot.key)
        if replaced is not None:
            self._remove(replaced)
        self._slots[slot.entry_id] = slot
        scope.add(slot.entry_id, slot.key, vector)
        self._recency.setdefault(slot.tenant_id, OrderedDict())[slot.entry_id] = None

    def _remove(self, entry_id: int) -> bool:
        slot = self._slots.pop(entry_id, None)
        if slot is None:
            return False
        self._scopes[slot.scope].remove(entry_id, slot.key)
        self._recency[slot.tenant_id].pop(entry_id, None)
        return True

    def _over_capacity(self, tenant_id: str) -> list[int]:
        recency = self._recency[tenant_id]
        evicted = []
        while len(recency) > self.settings.capacity_per_tenant:
            entry_id = next(iter(recency))
            self._remove(entry_id)
            evicted.append(entry_id)
        return evicted


class _ScopeIndex:
    """One scope's vectors in FAISS (inner product on unit vectors = cosine): exact search while
    small, HNSW beyond `approximate_above` entries. Removal leaves a tombstone (HNSW cannot delete)
    until tombstones reach a quarter of the live entries and the index is rebuilt from the vectors
    FAISS holds: no second copy is kept."""

    def __init__(self, dim: int, approximate_above: int):
        self.dim = dim
        self.approximate_above = approximate_above
        self.by_key: dict[str, int] = {}
        self.ids: set[int] = set()
        self._index = self._new_index(approximate=False)
        self._approximate = False
        self._tombstones = 0

    def add(self, entry_id: int, key: str, vector: np.ndarray) -> None:
        self.by_key[key] = entry_id
        self.ids.add(entry_id)
        self._index.add_with_ids(np.asarray(vector, dtype=np.float32).reshape(1, -1),
                                 np.array([entry_id], dtype=np.int64))
        if not self._approximate and len(self.ids) > self.approximate_above:
            self._rebuild()

    def remove(self, entry_id: int, key: str) -> None:
        if self.by_key.get(key) == entry_id:
            del self.by_key[key]
        if entry_id in self.ids:
            self.ids.remove(entry_id)
            self._tombstones += 1
            if self._tombstones > max(16, len(self.ids) // 4):
                self._rebuild()

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if not self.ids:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        similarities, ids = self._index.search(query, min(k + self._tombstones, k + 64))
        return [(int(i), float(s)) for i, s in zip(ids[0], similarities[0]) if int(i) in self.ids][:k]

    def _rebuild(self) -> None:
        stored = faiss.downcast_index(self._index.index)
        vectors = stored.reconstruct_n(0, stored.ntotal)
        ids = faiss.vector_to_array(self._index.id_map)
        live = np.fromiter((int(i) in self.ids for i in ids), dtype=bool, count=len(ids))
        self._approximate = len(self.ids) > self.approximate_above
        self._index = self._new_index(self._approximate)
        self._tombstones = 0
        if live.any():
            self._index.add_with_ids(vectors[live], ids[live])

    def _new_index(self, approximate: bool) -> faiss.Index:
        if not approximate:
            return faiss.IndexIDMap(faiss.IndexFlatIP(self.dim))
        graph = faiss.IndexHNSWFlat(self.dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efSearch = HNSW_EF_SEARCH
        return faiss.IndexIDMap(graph)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
