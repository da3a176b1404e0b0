"""Damaged files stop the server with one line, never a traceback.

A decision log, rule store or budget store that is truncated or overwritten, and a config file that
YAML cannot turn into values (nesting deeper than Python recurses, an integer of 5,000 digits), each
make `banditroute serve` (and `config check`, for a config) exit 2 with ONE line on stderr that names
the file and what is wrong. A damaged semantic cache is the exception by design: it only holds
answers that can be asked again, so it is moved aside and the server starts (tests/service/test_cache_service.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from router.cli.main import main
from router.domain.errors import CannotStart
from router.domain.types import FeedbackRequest
from router.storage import BUDGETS, RULES
from router.storage.sqlite.connection import DamagedFile
from router.storage.sqlite.decisions import SQLiteDecisionLog
from router.storage.sqlite.documents import SQLiteDocuments
from tests.conftest import user_request

CODE_PROMPT = "Write a Python function that merges two sorted lists"


# --- ways a file gets damaged -----------------------------------------------------------------------


def truncated(path: Path) -> None:
    """Cut in half, as a copy interrupted or a disk that filled while it was written."""
    os.truncate(path, path.stat().st_size // 2)


def garbage(path: Path) -> None:
    """Every byte replaced: another file written over it."""
    path.write_bytes(os.urandom(path.stat().st_size))


def overwritten_pages(path: Path) -> None:
    """The header intact, pages after it overwritten: a bad sector, a stray write."""
    with path.open("r+b") as file:
        file.seek(4096)
        file.write(os.urandom(2 * 4096))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated": truncated, "garbage": garbage, "overwritten pages": overwritten_pages}

# How each store opens its file, as the service does at start.
STORES: dict[str, Callable[[Path], object]] = {
    "decisions.sqlite": SQLiteDecisionLog, "rules.sqlite": partial(SQLiteDocuments, kind=RULES),
    "budgets.sqlite": partial(SQLiteDocuments, kind=BUDGETS)}


@pytest.fixture(scope="module")
def sound_data_dir(tmp_path_factory, fake_embedder, fake_classifier, registry) -> Path:
    """A data directory a real service wrote: decisions with feedback, a rule and budgets set over
    the API, every file several pages long so that cutting one in half leaves whole pages missing."""
    from tests.conftest import new_service

    data_dir = tmp_path_factory.mktemp("sound")
    service = new_service(data_dir, fake_embedder, fake_classifier, registry, sqlite_synchronous="NORMAL")
    for i in range(40):
        decision = service.route(user_request(f"{CODE_PROMPT}, variant {i}"))
        service.feedback(FeedbackRequest(decision.decision_id, 0.8, 100, 200))
    for tenant in ("acme", "globex", "initech"):
        service.set_budgets(tenant, [{"daily_usd": 50}, {"team": "search", "monthly_usd": 300}])
        for n in range(30):
            service.put_rule(tenant, {"id": f"docs-{n}", "priority": n, "conditions": [
                {"field": "prompt", "op": "contains", "value": f"a rather long phrase to fill pages {n} " * 8}],
                "action": {"type": "route", "model": "gpt-4o-mini"}})
    service.close()
    for name in STORES:
        assert (data_dir / name).stat().st_size >= 3 * 4096, name
    return data_dir


def damaged_copy(sound: Path, tmp_path: Path, name: str, damage: Callable[[Path], None]) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(sound, data_dir)
    damage(data_dir / name)
    return data_dir


# --- each store refuses a damaged file, naming it ------------------------------------------------------


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("name", STORES)
def test_a_damaged_state_file_is_refused_at_open_naming_it(sound_data_dir, tmp_path, name, damage):
    data_dir = damaged_copy(sound_data_dir, tmp_path, name, DAMAGES[damage])
    with pytest.raises(DamagedFile) as refused:
        STORES[name](data_dir / name)
    said = str(refused.value)
    assert said.startswith(f"{data_dir / name} ")
    assert "\n" not in said
    assert "restore it from a backup or move it away to start empty" in said
    assert isinstance(refused.value, CannotStart)


def test_a_sound_file_opens_and_keeps_what_it_held(sound_data_dir, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(sound_data_dir, data_dir)
    assert len(SQLiteDocuments(data_dir / "rules.sqlite", RULES).all()["acme"]) == 30
    assert set(SQLiteDocuments(data_dir / "budgets.sqlite", BUDGETS).all()) == {"acme", "globex", "initech"}
    log = SQLiteDecisionLog(data_dir / "decisions.sqlite")
    assert len(list(log.feedback_after(0))) == 40
    log.close()


def test_a_state_file_that_cannot_be_opened_at_all_is_said_plainly(tmp_path):
    (tmp_path / "rules.sqlite").mkdir()  # a directory where the file should be
    with pytest.raises(CannotStart, match=r"rules\.sqlite cannot be read as a SQLite database \(unable to open"):
        SQLiteDocuments(tmp_path / "rules.sqlite", RULES)


# --- through `banditroute serve` ---------------------------------------------------------------------------


def serve(data_dir: Path, *options: str) -> subprocess.CompletedProcess:
    """`banditroute serve` as an operator runs it; it must refuse before it serves, so no port is left open."""
    command = [sys.executable, "-m", "router.cli", "serve", "--port", "0", "--data-dir", str(data_dir), *options]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("name, damage, problem", [
    ("decisions.sqlite", truncated, "is damaged (database disk image is malformed)"),
    ("rules.sqlite", garbage, "is not a SQLite database (file is not a database)"),
    ("budgets.sqlite", overwritten_pages, "is damaged ("),
])
def test_serve_on_a_damaged_file_exits_2_with_one_line_naming_it(sound_data_dir, tmp_path, name, damage, problem):
    data_dir = damaged_copy(sound_data_dir, tmp_path, name, damage)
    ran = serve(data_dir)
    assert ran.returncode == 2, ran.stderr
    assert "Traceback" not in ran.stderr
    line, = ran.stderr.splitlines()
    assert line.startswith(f"banditroute: {data_dir / name} {problem}")
    assert line.endswith("restore it from a backup or move it away to start empty")
    assert "serving on" not in ran.stdout


# --- config files YAML cannot read ---------------------------------------------------------------------------

UNREADABLE_CONFIGS = {
    "nested": ("a: " + "[" * 5000 + "]" * 5000, "is nested too deeply to be a configuration"),
    "nested mappings": ("a:\n" + "".join("  " * depth + "k:\n" for depth in range(1, 3000)),
                        "is nested too deeply to be a configuration"),
    "a 5,000-digit integer": ("max_workers: " + "9" * 5000, "holds a value YAML cannot read: Exceeds the limit "
                              "(4300 digits) for integer string conversion: value has 5000 digits"),
    "a 13th month": ("data_dir: 2026-13-01", "holds a value YAML cannot read: month must be in 1..12"),
}


@pytest.mark.parametrize("command", ["config check", "serve"])
@pytest.mark.parametrize("case", UNREADABLE_CONFIGS)
def test_a_config_yaml_cannot_read_is_one_line_naming_the_file(tmp_path, capsys, case, command):
    text, problem = UNREADABLE_CONFIGS[case]
    path = tmp_path / "config.yaml"
    path.write_text(text)
    argv = (["config", "check", str(path)] if command == "config check"
            else ["serve", "--config", str(path), "--port", "0", "--data-dir", str(tmp_path / "data")])
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.splitlines() == [f"banditroute: {path} {problem}"]
    assert captured.out == ""


def test_serve_with_a_config_yaml_cannot_read_exits_2_with_one_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(UNREADABLE_CONFIGS["nested"][0])
    ran = serve(tmp_path / "data", "--config", str(path))
    assert ran.returncode == 2
    assert ran.stderr.splitlines() == [f"banditroute: {path} is nested too deeply to be a configuration"]


def test_the_other_problems_of_a_whole_file_are_one_line_too(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    for text, problem in [("- a list", "must be a mapping of keys to values, not a YAML list"),
                          ("a: [", "is not valid YAML: while parsing a flow node")]:
        path.write_text(text)
        assert main(["config", "check", str(path)]) == 2
        line, = capsys.readouterr().err.splitlines()
        assert line.startswith(f"banditroute: {path} {problem}")
