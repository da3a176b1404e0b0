"""The security detector and the flag it feeds: shipped weights that load anywhere, a deterministic
probability, rules and hints that always flag, a threshold that only ever flags less as it rises,
a threshold per tenant, and Stats that say where each flag came from."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.domain.types import FeedbackRequest
from router.reading.classifier import SecuritySource
from router.reading.detector import load_detector, packaged_path
from tests.conftest import user_request

IMPLICIT = "Write a Flask endpoint that lets users upload a profile picture"
GENERAL = "What is the capital of Portugal?"
TERMS = ["security audit", "vulnerability", "CVE-2024-3094", "penetration test", "SQL injection", "XSS"]
WORDS = st.lists(st.sampled_from(["please", "write", "a", "function", "for", "our", "team", "today", "quickly",
                                  "list", "sort", "numbers", "in", "python", "the", "report"]), max_size=12)


@pytest.mark.parametrize("embedding", ["static", "minilm"])
def test_the_shipped_weights_load_from_the_package(embedding):
    detector = load_detector(embedding)
    assert packaged_path(embedding).stat().st_size < 100_000  # a small file, shipped with the code
    assert detector.embedding == embedding and detector.embedding_weights.shape == (384,)


def test_the_probability_is_deterministic(static_reader):
    vector = static_reader.embedder.embed([IMPLICIT])[0]
    first = load_detector("static").probability(IMPLICIT, vector)
    assert all(load_detector("static").probability(IMPLICIT, vector) == first for _ in range(3))
    assert 0.0 <= first <= 1.0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=WORDS, term=st.sampled_from(TERMS), after=WORDS, threshold=st.floats(0.01, 1.0))
def test_an_explicit_security_term_is_always_flagged(static_reader, before, term, after, threshold):
    text = " ".join([*before, term, *after])
    classified = static_reader.classifier.classify(text, static_reader.embedder.embed([text])[0])
    assert classified.security and classified.security_source(threshold) == SecuritySource.RULE


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=WORDS, threshold=st.floats(0.01, 1.0))
def test_a_security_hint_is_always_flagged(static_reader, words, threshold):
    text = " ".join(words) or "hello"
    classified = static_reader.classifier.classify(text, static_reader.embedder.embed([text])[0], "security")
    assert classified.security_source(threshold) == SecuritySource.HINT


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(low=st.floats(0.0, 1.0), high=st.floats(0.0, 1.0))
def test_raising_the_threshold_never_flags_more(static_reader, low, high):
    low, high = sorted((low, high))
    texts = [IMPLICIT, GENERAL, "Write a login handler for our Express app", "Sort this list in Go"]
    readings = [static_reader.classifier.classify(t, v) for t, v in zip(texts, static_reader.embedder.embed(texts))]
    assert sum(bool(r.security_source(high)) for r in readings) <= sum(bool(r.security_source(low)) for r in readings)


def test_each_tenant_sets_its_own_threshold_and_stats_count_flags_by_source(make_minilm_service):
    # MiniLM: the trained detector's probability for IMPLICIT is what the thresholds act on.
    service = make_minilm_service(tenants={"bank": {"security_threshold": 0.01},
                                           "hobby": {"security_threshold": 1.0}})
    bank, hobby = (service.route(user_request(IMPLICIT, tenant=t)) for t in ("bank", "hobby"))
    assert bank.security_probability == hobby.security_probability > 0.01
    assert (bank.security, bank.security_source) == (True, SecuritySource.DETECTOR)
    assert (hobby.security, hobby.security_source) == (False, "")
    hinted = service.route(user_request(GENERAL, tenant="bank", task_hint="security"))
    ruled = service.route(user_request("Run a security audit of our login page", tenant="bank"))
    for decision in (bank, hinted, ruled):
        service.feedback(FeedbackRequest(decision.decision_id, 0.9))
    stats = service.stats("bank", 0, service.clock() + 1)
    assert stats.total.security_flags == {"detector": 1, "hint": 1, "rule": 1}
    [logged] = [e for e in service.ledger("bank", 0, service.clock() + 1) if e.decision_id == bank.decision_id]
    assert logged.security_source == SecuritySource.DETECTOR


def test_the_detector_reads_security_work_that_never_says_so(classifier, embedder):
    texts = [IMPLICIT, "Write a login handler for our Express app",
             "Write a function that runs a shell command given by the user's query string"]
    probabilities = [classifier.classify(t, v).security_probability for t, v in zip(texts, embedder.embed(texts))]
    assert min(probabilities) >= 0.5, dict(zip(texts, np.round(probabilities, 3)))
