"""The semantic cache's records (a prompt, an entry, the slot of it kept in memory) and the interface
of their durable copy, which each storage backend implements (router/storage)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from router.cache.guard import Profile


@dataclass(frozen=True)
class Prompt:
    """A prompt as the cache knows it: whose, in which scope, its key, text and vectors."""

    tenant_id: str
    scope: str  # hash of tenant and system prompt: an entry is only visible within it
    key: str  # hash of the normalised conversation: the exact-match path
    text: str  # the conversation, for the false-hit guard; "" once sealed
    vector: np.ndarray  # the routing embedding, which the index searches
    precise: np.ndarray | None = None  # MiniLM's vector, which the guard compares
    private: bool = False  # its tenant keeps no prompt text: it reaches the disk only sealed
    redacted: Profile | None = None  # a sealed prompt's guard profile in keyed hashes, in place of its text

    @property
    def sealed(self) -> bool:
        """Whether the text is gone: nothing can read this prompt again, only compare it."""
        return self.redacted is not None


@dataclass(frozen=True, slots=True)
class Slot:
    """What the cache keeps in memory of an entry; the rest stays on disk until a lookup needs it."""

    entry_id: int
    tenant_id: str
    scope: str
    key: str
    expires_at: float


@dataclass
class Entry:
    entry_id: int
    prompt: Prompt
    answer: str
    category: str
    model: str
    created_at: float
    expires_at: float
    last_used: float
    # The guard's profile of a prompt kept in plain text, read once when stored: reading a long
    # text again at every lookup that shortlists it would cost tenths of a millisecond.
    guard_profile: Profile | None = None


def check_storable(prompt: Prompt) -> None:
    """Refuse (ValueError) a private prompt that still holds its text: every backend stores one only sealed."""
    if prompt.private and (prompt.text or not prompt.sealed):
        raise ValueError("a private prompt is stored only sealed, without its text (SemanticCache seals it)")


class CacheEntries(Protocol):
    """The semantic cache's durable copy: entries, prompts waiting for their answer, ratings of
    served hits, and the key of its sealed prompts' hashes (which must live as long as they do)."""

    redaction_key: bytes

    def live_slots(self, now: float) -> Iterator[tuple[Slot, np.ndarray]]: ...

    def live_ids(self, now: float) -> list[int]: ...  # unexpired entries: what a replica's index follows

    def entries(self, entry_ids: list[int]) -> dict[int, Entry]: ...

    def add_entry(self, prompt: Prompt, answer: str, category: str, model: str, now: float, ttl: float) -> Entry: ...

    def delete_entries(self, entry_ids: list[int]) -> None: ...

    def delete_tenant(self, tenant_id: str, now: float) -> int: ...  # how many unexpired entries it had

    def touch(self, entry_id: int, now: float) -> None: ...

    def add_pending(self, decision_id: str, prompt: Prompt, now: float) -> None: ...

    def take_pending(self, decision_id: str) -> Prompt | None: ...

    def forget_pending_before(self, cutoff: float) -> int: ...

    def tenants_with_text(self) -> list[str]: ...

    def prompts_with_text(self, tenant_id: str) -> tuple[dict[int, Prompt], dict[str, Prompt]]: ...

    def seal(self, entries: dict[int, Prompt], pending: dict[str, Prompt]) -> None: ...

    def add_rating(self, tenant_id: str, similarity: float, good: bool, now: float) -> None: ...

    def ratings(self) -> dict[str, list[tuple[float, bool]]]: ...

    def close(self) -> None: ...
