"""The prompt classifier: category accuracy on held-out prompts, the security flag, complexity."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from router.domain.categories import CATEGORIES, SECURITY_CRITICAL
from router.reading.classifier import _COMPLEXITY_BASE, Classification, Classifier, load_exemplars
from router.reading.minilm import MiniLMEmbedder

# Written apart from exemplars.yaml (no shared sentences, different wording) so that accuracy here
# says how the classifier does on prompts it has never seen.
HELD_OUT: list[tuple[str, str]] = [
    ("security_critical",
     "Can an unauthenticated user read other customers' invoices by changing the id in the URL?"),
    ("security_critical",
     "Go over our S3 bucket policies and IAM roles and point out anything an attacker could abuse."),
    ("security_critical",
     "Is our use of AES-ECB for encrypting card numbers acceptable? What should replace it?"),
    ("security_critical",
     "Help me write a responsible disclosure report for the stored XSS I found in a vendor's portal."),
    ("security_critical", "What mitigations do we need against SQL injection in these stored procedures?"),
    ("security_critical",
     "Our staging server was accessed with a leaked SSH key. Walk me through incident response."),
    ("complex_implementation",
     "Build a multiplayer game server that keeps authoritative state, "
     "handles lag compensation and scales by room."),
    ("complex_implementation",
     "Split our Django monolith into services behind an API gateway, keeping "
     "the shared database consistent during the transition."),
    ("complex_implementation",
     "Implement a columnar storage format with compression, predicate pushdown and a reader in Rust."),
    ("complex_implementation",
     "Set up a blue-green deployment system for 40 services with automated canary analysis and rollback."),
    ("complex_implementation",
     "Write a distributed task queue with at-least-once delivery, visibility timeouts and dead-lettering."),
    ("standard_implementation",
     "Write a Python function that returns the n-th Fibonacci number iteratively."),
    ("standard_implementation", "Create a Vue component that shows a list of products with a search filter."),
    ("standard_implementation", "Add an endpoint to delete a comment by id in our Spring Boot controller."),
    ("standard_implementation", "Write a shell script that deletes log files older than 30 days."),
    ("standard_implementation", "Implement a stack class in C# with push, pop and peek."),
    ("analysis_debug",
     "My Python script raises UnicodeDecodeError when reading a CSV exported from Excel. Why?"),
    ("analysis_debug",
     "The page loads fine in Chrome but the layout breaks in Safari. "
     "Help me figure out which CSS is at fault."),
    ("analysis_debug",
     "Pods are being OOMKilled every few hours; here are the metrics, what's eating memory?"),
    ("analysis_debug", "Read these app store reviews and tell me whether people like the new update."),
    ("analysis_debug",
     "Review my merge request: I'm not sure the new caching layer handles invalidation correctly."),
    ("analysis_debug", "npm install hangs forever at 'idealTree'. How do I troubleshoot this?"),
    ("documentation", "Write a README section explaining how to configure the logger."),
    ("documentation", "Document each endpoint of the payments API with request and response examples."),
    ("documentation", "Add docstrings to the functions in utils.py following NumPy style."),
    ("documentation", "Write an internal wiki page describing how our CI pipeline is structured."),
    ("documentation", "Prepare the upgrade notes for our library's 3.0 release."),
    ("simple_query", "What does the 'static' keyword mean in Java?"),
    ("simple_query", "How do I see which process is listening on port 8080?"),
    ("simple_query", "How many centimetres are in an inch?"),
    ("simple_query", "What's the file extension for TypeScript files?"),
    ("simple_query", "Who invented the World Wide Web?"),
    ("chat", "hello again :)"),
    ("chat", "Haha nice one. Anyway, how's your day going?"),
    ("chat", "I was charged twice for my last order, can you sort this out?"),
    ("chat", "Pretend you're a pirate and greet me."),
    ("chat", "Thanks for your help, have a good evening!"),
    ("content", "Please translate this customer complaint from French into English."),
    ("content", "Condense these meeting notes into three sentences for the exec summary."),
    ("content", "Rewrite this job description so it's more inclusive and less jargon-heavy."),
    ("content", "Check this essay for grammatical errors and awkward phrasing."),
    ("content", "Write a 600-word article for our company blog about why we moved to a four-day week."),
    ("reasoning",
     "A bag has 5 red and 3 blue marbles. If I draw two without "
     "replacement, what's the chance both are blue?"),
    ("reasoning", "Solve this system: 2x + y = 7 and x - y = 2."),
    ("reasoning",
     "We have three candidate office locations with different rent, commute "
     "times and lease lengths. Which should we choose and why?"),
    ("reasoning",
     "Five houses in a row each have a different colour and owner. Using these clues, who owns the fish?"),
    ("reasoning", "Is it true that every prime greater than 3 is of the form 6k±1? Prove it."),
    ("creative", "Write a children's rhyme about brushing your teeth."),
    ("creative", "Brainstorm names for a podcast about urban gardening."),
    ("creative", "Write a flash fiction piece about the last bookstore on Mars."),
    ("creative", "Give me three punchy taglines for a budget airline."),
    ("creative", "Write a love letter from a robot to the moon."),
    # A system prompt in front of the user's turn, as the service sees it.
    ("content",
     "You are a helpful assistant for a travel agency.\nSummarize this hotel review in two sentences."),
    ("simple_query", "You are a concise assistant.\nWhat is the boiling point of water in Fahrenheit?"),
]

CLEAR_SECURITY = [
    "Find the CVE-2023-44487 exposure in our HTTP/2 servers and tell us how to patch it.",
    "Our login form might be vulnerable to SQL injection; check the handler below.",
    "Write a threat model for the new file-sharing feature.",
    "Is there a privilege escalation path from the support role to admin in this code?",
    "Please do a security audit of this smart contract.",
    "Explain how an attacker could achieve an authentication bypass with this JWT check.",
    "Plan a penetration test for our public API.",
    "Sanitize the comment field against XSS and script injection.",
    "Our AWS credentials were leaked in a CI log; what's the remediation plan?",
    "List the vulnerabilities in this deserialization code.",
]

BENIGN_LOOKALIKES = [
    "Help me secure a spot at the restaurant for Friday at 8.",
    "Tokenize this sentence and count how many tokens it has.",
    "Explain the explore-exploit trade-off in multi-armed bandits.",
    "Write a poem about feeling vulnerable after a breakup.",
    "I forgot my password, how do I reset it?",
    "Summarize this article about the history of padlocks.",
    "The movie exploits our nostalgia for the 80s. Write a short review.",
    "Use dependency injection to pass the database into the repository class.",
]


class _CountingEmbedder:
    """Deterministic unit vectors, and a count of batch calls."""

    dim = 384

    def __init__(self):
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        rng = np.random.default_rng(len(texts))
        vectors = rng.normal(size=(len(texts), self.dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def classifier(embedder: MiniLMEmbedder) -> Classifier:
    return Classifier(embedder)


def _classify(
    classifier: Classifier, embedder: MiniLMEmbedder, texts: list[str], hint: str = ""
) -> list[Classification]:
    vectors = embedder.embed(texts)
    return [classifier.classify(text, vector, task_hint=hint) for text, vector in zip(texts, vectors)]


def _confusion_summary(expected: list[str], predicted: list[str], texts: list[str]) -> str:
    misses = [(e, p, t) for e, p, t in zip(expected, predicted, texts) if e != p]
    pairs = Counter((e, p) for e, p, _ in misses)
    lines = [f"{count} × {e} → {p}" for (e, p), count in pairs.most_common()]
    lines += [f"  {e} → {p}: {t[:90]}" for e, p, t in misses]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def held_out_results(classifier: Classifier, embedder: MiniLMEmbedder) -> list[Classification]:
    return _classify(classifier, embedder, [text for _, text in HELD_OUT])


def test_held_out_accuracy(held_out_results: list[Classification]):
    expected = [category for category, _ in HELD_OUT]
    texts = [text for _, text in HELD_OUT]
    predicted = [result.category for result in held_out_results]
    accuracy = sum(e == p for e, p in zip(expected, predicted)) / len(HELD_OUT)
    assert accuracy >= 0.8, f"accuracy {accuracy:.2f}\n{_confusion_summary(expected, predicted, texts)}"


def test_held_out_covers_every_category_and_is_not_in_the_exemplars():
    assert {category for category, _ in HELD_OUT} == set(CATEGORIES)
    assert len(HELD_OUT) >= 40
    shipped = {text.lower() for items in load_exemplars().values() for text in items}
    assert [text for _, text in HELD_OUT if text.lower() in shipped] == []


def test_results_are_in_range(held_out_results: list[Classification]):
    for result in held_out_results:
        assert result.category in CATEGORIES
        assert 0.0 <= result.confidence <= 1.0
        assert 0.0 <= result.complexity <= 1.0


@pytest.mark.parametrize("hint", ["security", "Security", " SECURITY "])
def test_security_hint_flags_whatever_the_text(classifier: Classifier, embedder: MiniLMEmbedder, hint: str):
    texts = ["hi", "Write a haiku about spring.", "What is the capital of Peru?"]
    for result in _classify(classifier, embedder, texts, hint=hint):
        assert result.security
        assert result.category == SECURITY_CRITICAL
        assert result.confidence == 1.0


def test_other_hints_do_not_flag(classifier: Classifier, embedder: MiniLMEmbedder):
    (result,) = _classify(classifier, embedder, ["Write a haiku about spring."], hint="creative")
    assert not result.security


def test_clear_security_prompts_are_flagged(classifier: Classifier, embedder: MiniLMEmbedder):
    results = _classify(classifier, embedder, CLEAR_SECURITY)
    assert [text for text, r in zip(CLEAR_SECURITY, results) if not r.security] == []


def test_benign_lookalikes_are_not_flagged(classifier: Classifier, embedder: MiniLMEmbedder):
    results = _classify(classifier, embedder, BENIGN_LOOKALIKES)
    assert [text for text, r in zip(BENIGN_LOOKALIKES, results) if r.security] == []


def test_security_terms_deep_inside_a_long_prompt_still_flag(classifier: Classifier, embedder: MiniLMEmbedder):
    filler = "The quarterly numbers are in the appendix below. " * 400
    text = filler + "Note: the old portal has a known SQL injection in the search form. " + filler
    (vector,) = embedder.embed([text])
    assert classifier.classify(text, vector).security


def test_complexity_grows_with_the_task(classifier: Classifier, embedder: MiniLMEmbedder):
    spec = (
        "Implement an inventory service for our warehouses. First, design the schema for items, "
        "locations and stock movements. Then build the REST API with pagination and filtering. "
        "After that, add an event stream so that other services see stock changes. Finally, write "
        "integration tests.\n"
        "Requirements:\n"
        "- must handle 2,000 writes per second\n"
        "- stock must never go negative, even under concurrent reservations\n"
        "- every change must be auditable\n"
        "- at least 90% test coverage\n"
        "```sql\nCREATE TABLE items (id UUID PRIMARY KEY, sku TEXT NOT NULL);\n```\n"
    )
    hi, function, full_spec = _classify(
        classifier, embedder, ["hi", "Write a Python function that reverses a linked list.", spec]
    )
    assert hi.complexity < function.complexity < full_spec.complexity
    assert hi.complexity < 0.2
    # Whether the spec reads as standard or complex implementation is a close call; either way its
    # steps, constraints, code and length lift it well above its category's floor.
    assert full_spec.complexity - _COMPLEXITY_BASE[full_spec.category] > 0.4


def test_complexity_stays_in_range_for_huge_prompts(classifier: Classifier, embedder: MiniLMEmbedder):
    text = "First do this, then that, and finally check it; it must work.\n" * 5000
    (vector,) = embedder.embed(["First do this, then that, and finally check it."])
    assert 0.0 <= classifier.classify(text, vector).complexity <= 1.0


def test_exemplars_are_embedded_once_at_construction():
    fake = _CountingEmbedder()
    classifier = Classifier(fake)
    assert fake.calls == 1
    (vector,) = fake.embed(["anything"])
    for _ in range(3):
        classifier.classify("hello", vector)
    assert fake.calls == 2


def test_embedding_of_the_wrong_size_is_refused():
    classifier = Classifier(_CountingEmbedder())
    with pytest.raises(ValueError, match="dimensions"):
        classifier.classify("hello", np.ones(10, dtype=np.float32))


def test_shipped_exemplars_cover_every_category():
    exemplars = load_exemplars()
    assert set(exemplars) == set(CATEGORIES)
    assert all(len(items) >= 15 for items in exemplars.values())


def test_unknown_category_in_exemplars_is_named(tmp_path):
    path = tmp_path / "exemplars.yaml"
    path.write_text("chat:\n  - hi\npoetry:\n  - write a poem\n")
    with pytest.raises(ValueError, match="poetry"):
        Classifier(_CountingEmbedder(), path)


def test_category_without_exemplars_is_refused(tmp_path):
    path = tmp_path / "exemplars.yaml"
    others = [category for category in CATEGORIES if category != "creative"]
    path.write_text("".join(f"{category}: [one, two, three]\n" for category in others))
    with pytest.raises(ValueError, match="creative"):
        Classifier(_CountingEmbedder(), path)
