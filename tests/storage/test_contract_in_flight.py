"""The storage contract of requests in flight: per tenant and key at most one live unanswered claim, the
first's; answered or lapsed, it leaves room for a new leader while its followers still read its answer;
and, on PostgreSQL, replicas claiming the same key at once elect one leader."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from router.storage import Claim, Storage
from tests.storage.contract_helpers import each_backend, fresh
from tests.storage.test_contract_budget_counters import at_once, replicas  # noqa: F401 (a fixture)

NOW = 1_800_000_000.0
KEYS = (f"key{i}" for i in itertools.count())  # a key per example: module-scoped stores outlive examples


@each_backend
def test_the_first_claim_leads_and_later_ones_get_it(kind):
    with fresh(kind) as storage:
        claims = storage.in_flight
        assert claims.claim("acme", "k", "first", NOW, NOW + 60) == Claim("first", NOW + 60)
        assert claims.claim("acme", "k", "second", NOW + 1, NOW + 61) == Claim("first", NOW + 60)
        # Another tenant, or another request, has a claim of its own.
        assert claims.claim("globex", "k", "third", NOW, NOW + 60).decision_id == "third"
        assert claims.claim("acme", "other", "fourth", NOW, NOW + 60).decision_id == "fourth"
        assert claims.claim_of("first", NOW + 1) == Claim("first", NOW + 60)
        assert claims.claim_of("second", NOW + 1) is None  # a follower holds no claim


@each_backend
def test_an_answered_claim_keeps_its_answer_for_its_followers_and_makes_room_for_a_new_leader(kind):
    with fresh(kind) as storage:
        claims = storage.in_flight
        claims.claim("acme", "k", "first", NOW, NOW + 60)
        assert claims.finish("first", "Paris.", NOW + 120)
        assert not claims.finish("never-claimed", "x", NOW + 120)
        assert claims.claim_of("first", NOW + 5) == Claim("first", NOW + 120, answered=True, answer="Paris.")
        assert claims.claim("acme", "k", "second", NOW + 5, NOW + 65).decision_id == "second"
        assert claims.claim_of("first", NOW + 5).answer == "Paris."  # the new leader took nothing from it


@each_backend
def test_a_leader_that_failed_its_followers_is_answered_with_none(kind):
    with fresh(kind) as storage:
        storage.in_flight.claim("acme", "k", "first", NOW, NOW + 60)
        storage.in_flight.finish("first", None, NOW + 120)
        assert storage.in_flight.claim_of("first", NOW + 1) == Claim("first", NOW + 120, answered=True, answer=None)


@each_backend
def test_a_lapsed_or_withdrawn_claim_is_gone_and_a_new_request_leads(kind):
    with fresh(kind) as storage:
        claims = storage.in_flight
        claims.claim("acme", "k", "first", NOW, NOW + 60)
        assert claims.claim_of("first", NOW + 60) is None  # lapsed at its expiry
        assert claims.claim("acme", "k", "second", NOW + 60, NOW + 120).decision_id == "second"
        claims.withdraw("second")
        assert claims.claim_of("second", NOW + 61) is None
        assert claims.claim("acme", "k", "third", NOW + 61, NOW + 121).decision_id == "third"
        assert claims.forget_expired(NOW + 121) >= 1  # third; first may have gone when second took its place
        assert claims.claim_of("third", NOW + 100) is None  # forgotten: asked as if it were earlier


def claims_at_once(storages: list[Storage], key: str, n: int) -> list[Claim]:
    """n claims of one key, each on a thread of its own (the storages in turn), let go together."""
    got: list[Claim] = []
    lock = threading.Lock()

    def call(i: int) -> Callable[[], None]:
        def claim() -> None:
            claim = storages[i % len(storages)].in_flight.claim("acme", key, f"d{i}", NOW, NOW + 60)
            with lock:
                got.append(claim)
        return claim

    at_once([call(i) for i in range(n)])
    return got


@each_backend
def test_claims_made_at_once_elect_one_leader(kind):
    with fresh(kind) as storage:
        got = claims_at_once([storage], "k", 64)
        assert len({claim.decision_id for claim in got}) == 1


@settings(max_examples=3, deadline=None)
@given(n=st.integers(2, 64))
def test_replicas_claiming_at_once_elect_one_leader(replicas, n):  # noqa: F811
    key = next(KEYS)
    got = claims_at_once(replicas, key, n)
    leaders = {claim.decision_id for claim in got}
    assert len(leaders) == 1
    leader, = leaders
    assert all(storage.in_flight.claim_of(leader, NOW) is not None for storage in replicas)
