"""A tenant that keeps no prompt text (`keep_prompt_text: false`): no raw prompt text on disk.

The cache stores such a prompt sealed (a hash, the vectors, the guard's profile in keyed hashes),
and must still answer its repeats and paraphrases and still refuse the same question about
something else. "On disk" is checked the blunt way: every byte of every file under the data
directory, the SQLite write-ahead log and shared memory included.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.cache.entries import Prompt
from router.cache.guard import judge_profiles, profile, redact
from router.cache.semantic import SemanticCache, conversation_key, scope_of
from router.config import CacheSettings
from router.domain.types import ChatMessage, FeedbackRequest
from router.storage.sqlite.cache_entries import CacheStore
from tests.cache.test_cache import Clock, put
from tests.conftest import user_request

WORD = "Zanzibar"  # distinctive: in no file unless a prompt's text was written
QUESTION = f"What were the best films set in {WORD} released in 2014?"
PARAPHRASE = f"Which were the best films set in {WORD} released in 2014?"
OTHER_YEAR = f"What were the best films set in {WORD} released in 2015?"
THRESHOLD = 0.9  # below the other year's MiniLM similarity (0.958): refusing it is the guard's doing


def leaked(data_dir: Path, *texts: str) -> list[str]:
    """The files under data_dir holding any of these texts, in any letter case."""
    needles = [t.lower().encode() for t in texts]
    return [str(f) for f in data_dir.rglob("*") if f.is_file() and any(n in f.read_bytes().lower() for n in needles)]


def prompt(embedder, text: str, private: bool, tenant: str = "acme") -> Prompt:
    """A prompt as the service builds it: text included; the cache decides what to keep of it."""
    return Prompt(tenant, scope_of(tenant, ""), conversation_key((ChatMessage("user", text),)), text,
                  embedder.embed([text])[0], private=private)


def open_cache(path: Path, embedder) -> SemanticCache:
    return SemanticCache(CacheSettings(), CacheStore(path / "cache.sqlite"), precise=embedder, clock=Clock())


def similarity(embedder, a: str, b: str) -> float:
    first, second = embedder.embed([a, b])
    return float(first @ second)


# --- (a) private prompts in the cache ----------------------------------------------------------------


def test_a_private_prompt_is_served_and_guarded_with_no_text_on_disk_even_after_a_restart(tmp_path, embedder):
    assert similarity(embedder, QUESTION, OTHER_YEAR) >= THRESHOLD
    cache = open_cache(tmp_path, embedder)
    entry = put(cache, prompt(embedder, QUESTION, private=True), "Answer A.")
    # MiniLM read the prompt before its text was dropped, so the guard compares MiniLM's vectors.
    assert entry.prompt.text == "" and entry.prompt.precise is not None
    assert np.allclose(entry.prompt.precise, embedder.embed([QUESTION])[0], atol=1e-5)

    def answers(text: str) -> str | None:
        hit, _ = cache.lookup(prompt(embedder, text, private=True), THRESHOLD)
        return None if hit is None else hit.entry.answer

    for _ in range(2):  # before and after a restart: the hashes' key is kept with them
        assert cache.lookup(prompt(embedder, QUESTION.upper(), private=True), THRESHOLD)[0].exact
        assert answers(PARAPHRASE) == "Answer A."
        assert answers(OTHER_YEAR) is None
        cache.close()
        assert leaked(tmp_path, QUESTION, WORD) == []
        cache = open_cache(tmp_path, embedder)
    cache.close()


def test_the_same_prompts_of_a_tenant_that_keeps_text_are_found_on_disk(tmp_path, embedder):
    # The contrast that shows `leaked` can see a prompt's text when it is there.
    cache = open_cache(tmp_path, embedder)
    put(cache, prompt(embedder, QUESTION, private=False), "Answer A.")
    cache.close()
    assert leaked(tmp_path, QUESTION) and leaked(tmp_path, WORD)


def test_a_prompt_waiting_for_its_answer_is_kept_sealed(tmp_path, embedder):
    cache = open_cache(tmp_path, embedder)
    cache.remember("d1", prompt(embedder, QUESTION, private=True))
    cache.close()
    assert leaked(tmp_path, QUESTION, WORD) == []
    cache = open_cache(tmp_path, embedder)
    assert cache.store_answer("d1", "Answer A.", "simple_query", "gpt-4o") is not None
    assert cache.lookup(prompt(embedder, PARAPHRASE, private=True), THRESHOLD)[0] is not None
    cache.close()


def test_the_store_refuses_a_private_prompt_that_was_not_sealed(tmp_path, embedder):
    store = CacheStore(tmp_path / "cache.sqlite")
    with pytest.raises(ValueError):
        store.add_pending("d1", prompt(embedder, QUESTION, private=True), 0.0)
    store.close()
    assert leaked(tmp_path, QUESTION, WORD) == []


@pytest.mark.parametrize(("stored_private", "asked_private"), [(True, True), (False, True), (True, False)])
def test_entries_stored_before_a_tenant_changed_its_mind_are_still_guarded(tmp_path, embedder, stored_private,
                                                                            asked_private):
    cache = open_cache(tmp_path, embedder)
    put(cache, prompt(embedder, QUESTION, private=stored_private), "Answer A.")
    assert cache.lookup(prompt(embedder, PARAPHRASE, private=asked_private), THRESHOLD)[0] is not None
    assert cache.lookup(prompt(embedder, OTHER_YEAR, private=asked_private), THRESHOLD)[0] is None
    cache.close()


# --- (b) through the service -------------------------------------------------------------------------


def test_a_tenant_that_keeps_no_prompt_text_leaves_none_on_disk(make_service, tmp_path):
    service = make_service(tmp_path, tenants={"acme": {"keep_prompt_text": False}})
    question = f"In which year was the {WORD} film festival first held?"
    first = service.route(user_request(question))
    service.feedback(FeedbackRequest(first.decision_id, 0.95, response_text="1998."))
    assert service.route(user_request(question)).cache is not None
    # A miss: its prompt waits for the answer, sealed.
    assert service.route(user_request(f"Who founded the {WORD} film festival?")).cache is None
    service.close()
    assert leaked(tmp_path, question, WORD) == []


# --- (c) sealing what a tenant stored before it kept no text ---------------------------------------


def test_redact_tenant_seals_an_older_cache_file_and_scrubs_its_deleted_text(tmp_path, embedder):
    cache = open_cache(tmp_path, embedder)
    put(cache, prompt(embedder, QUESTION, private=False), "Answer A.")
    put(cache, prompt(embedder, "Who wrote Hamlet?", private=False, tenant="globex"), "Shakespeare.")
    cache.remember("waiting", prompt(embedder, f"Who built the old fort of {WORD}?", private=False))
    # The newest entries, each alone on a page (an entry is about 3 kB of vectors): deleted, their
    # pages are freed whole and keep their bytes, more of them than sealing rewrites.
    deleted = [put(cache, prompt(embedder, f"How many islands make up {WORD}? ({n})", private=False), "Answer B.")
               for n in ("I", "II", "III", "IV")]
    cache.close()
    as_written_before_privacy(tmp_path / "cache.sqlite", [e.entry_id for e in deleted])
    assert leaked(tmp_path, "How many islands make up")  # deleted, yet still in the file

    cache = open_cache(tmp_path, embedder)
    assert cache.redact_tenant("acme") == 2  # one entry, one waiting prompt
    assert cache.redact_tenant("acme") == 0
    assert leaked(tmp_path, WORD) == []  # at once, not only when the file is closed
    assert cache.lookup(prompt(embedder, QUESTION, private=True), THRESHOLD)[0].exact
    assert cache.lookup(prompt(embedder, PARAPHRASE, private=True), THRESHOLD)[0] is not None
    assert cache.lookup(prompt(embedder, OTHER_YEAR, private=True), THRESHOLD)[0] is None
    waited = cache.store_answer("waiting", "Answer C.", "simple_query", "gpt-4o")
    assert waited.prompt.text == "" and waited.prompt.precise is not None
    cache.close()
    assert leaked(tmp_path, WORD) == []
    assert leaked(tmp_path, "Who wrote Hamlet?")  # another tenant keeps its text

    cache = open_cache(tmp_path, embedder)  # sealed entries load as such
    assert cache.lookup(prompt(embedder, PARAPHRASE, private=True), THRESHOLD)[0].entry.answer == "Answer A."
    cache.close()


def as_written_before_privacy(path: Path, deleted_entries: list[int]) -> None:
    """Turn a cache file into one an earlier version wrote: no profile columns, no key, and entries
    deleted without secure_delete, so their text lingers in the file's free space."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("ALTER TABLE entries DROP COLUMN profile")
    db.execute("ALTER TABLE pending DROP COLUMN profile")
    db.execute("DROP TABLE meta")
    db.execute("PRAGMA secure_delete=OFF")
    db.executemany("DELETE FROM entries WHERE entry_id = ?", [(i,) for i in deleted_entries])
    db.close()


# --- (d) the guard judges redacted profiles as it judges plain ones ---------------------------------

TOKENS = st.sampled_from(["what", "is", "the", "best", "film", "films", "of", "in", "Zanzibar", "Paris", "BMW",
                          "2014", "2015", "3.5", "two", "three", "not", "don't", "only", "never", "Trump",
                          "Donald", "city", "?", ".", "\n", "McDonald's", "McDonalds", "Kraków"])
SENTENCES = st.lists(TOKENS, min_size=1, max_size=14).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(first=SENTENCES, edits=st.lists(st.tuples(st.integers(0, 13), TOKENS), max_size=3), other=SENTENCES,
       related=st.booleans(), key=st.binary(min_size=16, max_size=32))
def test_the_guard_gives_the_same_verdict_on_redacted_profiles(first, edits, other, related, key):
    # Pairs are either a sentence and a few-token edit of it (often accepted) or two unrelated ones.
    words = first.split(" ")
    for position, token in edits:
        words[position % len(words)] = token
    second = " ".join(words) if related else other
    plain = judge_profiles(profile(first), profile(second), 1.0)
    hidden = judge_profiles(redact(profile(first), key), redact(profile(second), key), 1.0)
    assert hidden.accepted == plain.accepted
    assert hidden.reason.split(":")[0] == plain.reason.split(":")[0]  # the same check decided


def test_a_redacted_profile_holds_none_of_the_words():
    read = redact(profile(QUESTION), b"k" * 32)
    tokens = read.numbers | read.quantifiers | read.words | read.names
    assert tokens and not tokens & profile(QUESTION).words
    assert all(len(t) == 16 for t in tokens)
