"""The decision log and the learner's snapshots know each other: a log that was emptied, replaced or
restored from an older backup is refused at start with a message saying what was found and how to go
on, never silently served; --rebuild-learner sets the snapshots aside and learns again from the log."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys

import pytest

from learners.snapshots import SnapshotStore
from router.config import Settings
from router.domain.errors import CannotStart
from router.reading.reader import PromptReader
from router.service import open_service
from tests.e2e.test_crash import feed, predictions

LEARNER = {"learner": {"snapshot_every": 4}, "cache": {"enabled": False}}  # every feedback is learned


def fed(make_service, data_dir, n: int, **settings):
    """A service that learned n feedbacks and closed (its last snapshot written)."""
    service = make_service(data_dir, **LEARNER, **settings)
    feed(service, n)
    service.close()
    return service


def snapshot_names(data_dir) -> list[str]:
    return sorted(p.name for p in (data_dir / "snapshots").glob("learner-*.vw"))


def test_a_snapshot_names_the_log_it_learned_from_and_its_last_feedback(make_service, tmp_path):
    service = make_service(tmp_path / "data", **LEARNER)
    feed(service, 5)
    log_id = service.decision_log.identity()
    assert snapshot_names(tmp_path / "data") == [f"learner-000000000004-u4-{log_id}.vw"]
    service.close()
    assert snapshot_names(tmp_path / "data")[-1] == f"learner-000000000005-u5-{log_id}.vw"
    assert make_service(tmp_path / "data", **LEARNER).decision_log.identity() == log_id  # kept across restarts


def test_an_emptied_log_is_refused_at_start_naming_the_snapshot_and_both_sequences(make_service, tmp_path):
    fed(make_service, tmp_path / "data", 9)
    (tmp_path / "data" / "decisions.sqlite").write_bytes(b"")  # truncated to 0 bytes, snapshots kept
    with pytest.raises(CannotStart) as refused:
        make_service(tmp_path / "data", **LEARNER)
    message = str(refused.value)
    assert "learner-000000000009-u9-" in message and "holds feedback up to #0" in message
    assert "--rebuild-learner" in message


def test_a_log_restored_from_an_older_backup_is_refused(make_service, tmp_path):
    fed(make_service, tmp_path / "data", 3)
    shutil.copy(tmp_path / "data" / "decisions.sqlite", tmp_path / "backup.sqlite")
    fed(make_service, tmp_path / "data", 6)  # snapshots after feedback #4 and #8 and, at close, #9
    shutil.copy(tmp_path / "backup.sqlite", tmp_path / "data" / "decisions.sqlite")
    with pytest.raises(CannotStart, match=r"learned feedback up to #9 .* holds feedback up to #3"):
        make_service(tmp_path / "data", **LEARNER)


def test_rebuild_learner_sets_the_snapshots_aside_and_learns_the_log_again(make_service, tmp_path, caplog,
                                                                           fake_embedder, fake_classifier, registry):
    fed(make_service, tmp_path / "data", 3)
    shutil.copy(tmp_path / "data" / "decisions.sqlite", tmp_path / "backup.sqlite")
    shutil.copytree(tmp_path / "data", tmp_path / "as-of-backup")
    fed(make_service, tmp_path / "data", 6)  # snapshots #7 and, at close, #9 beside #3
    shutil.copy(tmp_path / "backup.sqlite", tmp_path / "data" / "decisions.sqlite")

    with caplog.at_level(logging.INFO):
        rebuilt = open_service(Settings(data_dir=tmp_path / "data", **LEARNER),
                               PromptReader(fake_embedder, fake_classifier), registry, rebuild_learner=True)
    assert "2 learner snapshot(s) that do not match the decision log moved to" in caplog.text
    assert "learner restored from learner-000000000003-u3-" in caplog.text
    aside, = (tmp_path / "data" / "snapshots").glob("set-aside-*")
    assert sorted(p.name[:24] for p in aside.glob("learner-*.vw")) == ["learner-000000000007-u7-",
                                                                       "learner-000000000009-u9-"]
    assert rebuilt.learner.updates == 3
    as_of_backup = make_service(tmp_path / "as-of-backup", **LEARNER)
    assert predictions(rebuilt) == pytest.approx(predictions(as_of_backup), abs=1e-6)
    # Learning goes on from the log's own sequence: new snapshots are kept, not sorted out as oldest.
    feed(rebuilt, 5)  # feedback #4 to #8
    log_id = rebuilt.decision_log.identity()
    assert snapshot_names(tmp_path / "data") == [f"learner-000000000003-u3-{log_id}.vw",
                                                 f"learner-000000000007-u7-{log_id}.vw"]
    rebuilt.close()


def test_a_snapshot_written_before_logs_had_ids_still_loads_when_the_log_holds_its_feedback(
        make_service, tmp_path):
    fed(make_service, tmp_path / "data", 5)
    snapshot = max((tmp_path / "data" / "snapshots").glob("learner-*.vw"))
    digest = snapshot.with_suffix(".vw.sha256")
    old_name = snapshot.with_name("learner-000000000005-u5.vw")
    snapshot.rename(old_name)
    digest.rename(old_name.with_suffix(".vw.sha256"))
    assert make_service(tmp_path / "data", **LEARNER).learner.updates == 5


def test_an_analyst_reads_the_newest_snapshot_without_a_log(make_service, tmp_path, fake_embedder):
    from learners.vw_bandit import QualityLearner
    from router.config import LearnerSettings

    fed(make_service, tmp_path / "data", 9)
    learner, seq = SnapshotStore(tmp_path / "data" / "snapshots").load(
        lambda path: QualityLearner.from_settings(LearnerSettings(), fake_embedder.dim, path))
    assert (seq, learner.updates) == (9, 9)


def test_serve_on_a_mismatched_log_prints_one_line_and_exits_2(make_service, tmp_path):
    fed(make_service, tmp_path / "data", 5)
    for path in (tmp_path / "data").glob("decisions.sqlite*"):
        path.unlink()
    done = subprocess.run([sys.executable, "-m", "router.cli.main", "serve", "--port", "0", "--data-dir",
                           str(tmp_path / "data")], capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("banditroute: the learner snapshot") and "Traceback" not in done.stderr
