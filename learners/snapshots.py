"""Learner snapshots on disk: written atomically, the last few kept, the newest good one loaded.

Each snapshot has a SHA-256 beside it: VW loads a truncated model file without complaint (seen
here: half a file gave a learner with no error), so only the digest tells a damaged file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from learners.vw_bandit import QualityLearner

log = logging.getLogger(__name__)

_NAME = re.compile(r"^learner-(\d{12})-u(\d+)\.vw$")


def snapshot_updates(path: Path) -> int:
    """How many updates the learner in a snapshot file had seen (0 when the name does not say)."""
    match = _NAME.match(path.name)
    return int(match.group(2)) if match else 0


class SnapshotStore:
    """A snapshot is named for the last feedback (log sequence number) it has learned."""

    def __init__(self, directory: Path, keep: int = 3):
        self.directory = directory
        self.keep = keep
        directory.mkdir(parents=True, exist_ok=True)

    def save(self, learner: QualityLearner, feedback_seq: int) -> Path:
        path = self.directory / f"learner-{feedback_seq:012d}-u{learner.updates}.vw"
        learner.save(path)
        _write_atomically(_digest_path(path), _digest(path))
        for old, _, _ in self._snapshots()[self.keep :]:
            old.unlink(missing_ok=True)
            _digest_path(old).unlink(missing_ok=True)
        return path

    def load(self, make_learner: Callable[[Path | None], QualityLearner]) -> tuple[QualityLearner, int]:
        """The newest snapshot that loads, and the feedback sequence it covers; a fresh learner at 0."""
        for path, seq, updates in self._snapshots():
            damage = _damage(path)
            if damage:
                log.error("learner snapshot %s is damaged (%s); trying an older one", path.name, damage)
                continue
            try:
                learner = make_learner(path)
            except Exception as exc:  # VW reports a damaged file with assorted exception types
                log.error("learner snapshot %s does not load (%s); trying an older one", path.name, exc)
                continue
            learner.updates = updates
            log.info("learner restored from %s (feedback up to #%d)", path.name, seq)
            return learner, seq
        return make_learner(None), 0

    def _snapshots(self) -> list[tuple[Path, int, int]]:
        found = []
        for path in self.directory.glob("learner-*.vw"):
            match = _NAME.match(path.name)
            if match:
                found.append((path, int(match.group(1)), int(match.group(2))))
        return sorted(found, key=lambda item: item[1], reverse=True)


def _digest_path(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".sha256")


def _digest(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _damage(path: Path) -> str:
    """What is wrong with a snapshot file ("" if nothing is known to be)."""
    digest_path = _digest_path(path)
    if not digest_path.exists():
        # Only a crash between writing the snapshot and its digest leaves this: the snapshot itself
        # was renamed into place whole, so it is tried.
        log.warning("learner snapshot %s has no digest to check it against", path.name)
        return ""
    if _digest(path) != digest_path.read_text().strip():
        return "its SHA-256 does not match the one written with it"
    return ""


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)
