"""Learner snapshots on disk: written atomically, the last few kept, the newest good one loaded."""

from __future__ import annotations

import logging
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
        for old, _, _ in self._snapshots()[self.keep :]:
            old.unlink(missing_ok=True)
        return path

    def load(self, make_learner: Callable[[Path | None], QualityLearner]) -> tuple[QualityLearner, int]:
        """The newest snapshot that loads, and the feedback sequence it covers; a fresh learner at 0."""
        for path, seq, updates in self._snapshots():
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
