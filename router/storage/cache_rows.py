"""The semantic cache's rows and the records they hold (router/cache/entries.py): a prompt, an entry,
a guard profile as JSON, a vector as float32 bytes, and the columns queries select for them.
Backend-neutral: SQLite and PostgreSQL keep the cache in the same columns."""

from __future__ import annotations

import json

import numpy as np

from router.cache.entries import Entry, Prompt, Slot, check_storable
from router.cache.guard import Profile, profile

PROMPT_FIELDS = ["tenant_id", "scope", "key", "text", "vector", "precise", "profile"]
PROMPT_COLUMNS = ", ".join(PROMPT_FIELDS)
ENTRY_COLUMNS = ", ".join(["entry_id", *PROMPT_FIELDS, "answer", "category", "model", "created_at",
                           "expires_at", "last_used", "guard_profile"])
SLOT_COLUMNS = "entry_id, tenant_id, scope, key, vector, expires_at"


def prompt_row(prompt: Prompt) -> dict:
    check_storable(prompt)
    return {
        "tenant_id": prompt.tenant_id,
        "scope": prompt.scope,
        "key": prompt.key,
        "text": prompt.text,
        "vector": blob(prompt.vector),
        "precise": None if prompt.precise is None else blob(prompt.precise),
        "profile": None if prompt.redacted is None else profile_json(prompt.redacted),
    }


def prompt_from_row(row: tuple) -> Prompt:
    tenant_id, scope, key, text, vector_bytes, precise, redacted = row
    return Prompt(tenant_id, scope, key, text, vector(vector_bytes), None if precise is None else vector(precise),
                  private=redacted is not None, redacted=None if redacted is None else profile_from_json(redacted))


def entry_from_row(row: tuple) -> Entry:
    """A row of ENTRY_COLUMNS."""
    n = len(PROMPT_FIELDS)
    *fields, guard_profile = row[1 + n :]
    return Entry(row[0], prompt_from_row(row[1 : 1 + n]), *fields,
                 None if guard_profile is None else profile_from_json(guard_profile))


def slot_from_row(row: tuple) -> tuple[Slot, np.ndarray]:
    """A row of SLOT_COLUMNS: what the in-memory index keeps of an entry, and its vector."""
    entry_id, tenant_id, scope, key, stored, expires_at = row
    return Slot(entry_id, tenant_id, scope, key, expires_at), vector(stored)


def profile_json(read: Profile) -> str:
    return json.dumps({"numbers": sorted(read.numbers), "negated": read.negated,
                       "quantifiers": sorted(read.quantifiers), "words": sorted(read.words),
                       "names": sorted(read.names)})


def profile_from_json(text: str) -> Profile:
    fields = json.loads(text)
    return Profile(frozenset(fields["numbers"]), fields["negated"], frozenset(fields["quantifiers"]),
                   frozenset(fields["words"]), frozenset(fields["names"]))


def blob(array: np.ndarray) -> bytes:
    return np.asarray(array, dtype=np.float32).tobytes()


def vector(stored: bytes) -> np.ndarray:
    return np.frombuffer(stored, dtype=np.float32)


def entry_row(prompt: Prompt, answer: str, category: str, model: str, now: float,
              ttl: float) -> tuple[dict, Profile | None]:
    """A new entry's row, and the guard's profile of its text, read once here (None for a sealed prompt)."""
    guard_profile = None if prompt.sealed else profile(prompt.text)
    row = {**prompt_row(prompt), "answer": answer, "category": category, "model": model,
           "created_at": now, "expires_at": now + ttl, "last_used": now,
           "guard_profile": None if guard_profile is None else profile_json(guard_profile)}
    return row, guard_profile
