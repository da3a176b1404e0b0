"""Learner snapshots on disk: written atomically, the last few kept, the newest good one loaded.

Each snapshot has a SHA-256 beside it: VW loads a truncated model file without complaint (seen
here: half a file gave a learner with no error), so only the digest tells a damaged file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from learners.vw_bandit import QualityLearner
from router.domain.errors import CannotStart, StorageUnavailable

log = logging.getLogger(__name__)

_NAME = re.compile(r"^learner-(\d{12})-u(\d+)(?:-([0-9a-f]{32}))?\.vw$")


@dataclass(frozen=True)
class Snapshot:
    path: Path
    feedback_seq: int  # the last feedback it has learned, by the log's sequence number
    updates: int  # how many updates its learner had seen
    log_id: str | None  # the decision log it learned from (None: written before logs had ids)

    def fits(self, log_id: str, last_seq: int) -> bool:
        """Could this snapshot have learned from that log, which holds feedback up to `last_seq`?"""
        return self.log_id in (None, log_id) and self.feedback_seq <= last_seq


def snapshot_updates(path: Path) -> int:
    """How many updates the learner in a snapshot file had seen (0 when the name does not say)."""
    match = _NAME.match(path.name)
    return int(match.group(2)) if match else 0


class SnapshotStore:
    """A snapshot is named for the decision log it learned from and the last feedback (the log's
    sequence number) it has learned; only snapshots of the log the service opened are loaded."""

    def __init__(self, directory: Path, keep: int = 3):
        self.directory = directory
        self.keep = keep
        directory.mkdir(parents=True, exist_ok=True)

    def save(self, learner: QualityLearner, feedback_seq: int, log_id: str) -> Path:
        path = self.directory / f"learner-{feedback_seq:012d}-u{learner.updates}-{log_id}.vw"
        try:
            learner.save(path)
            _write_atomically(_digest_path(path), _digest(path))
        except (OSError, RuntimeError) as exc:  # VW reports a full disk as a RuntimeError
            # A snapshot without its digest would be loaded unchecked: none at all is safer.
            for leftover in (path, _digest_path(path), *self.directory.glob(f"{path.name}*.tmp*")):
                with contextlib.suppress(OSError):  # gone already, or its directory with it
                    leftover.unlink()
            raise StorageUnavailable(f"storage: the learner snapshot {path} cannot be written ({exc})") from exc
        for old in self._snapshots()[self.keep :]:
            old.path.unlink(missing_ok=True)
            _digest_path(old.path).unlink(missing_ok=True)
        return path

    def load(self, make_learner: Callable[[Path | None], QualityLearner], log_id: str | None = None,
             last_seq: int = 0, set_aside_others: bool = False) -> tuple[QualityLearner, int]:
        """The newest snapshot of the log `log_id` (any log when None: an analyst's reading) that loads,
        and the feedback sequence it covers; a fresh learner at 0. A snapshot of another log, or of
        feedback the log does not hold (up to `last_seq`), means the log was emptied, replaced or
        restored from an older backup: CannotStart, unless `set_aside_others` moves such snapshots out
        of the way (the learner is then rebuilt from the log as it is)."""
        others = [s for s in self._snapshots() if log_id is not None and not s.fits(log_id, last_seq)]
        if others and not set_aside_others:
            raise CannotStart(_mismatch(self.directory, others[0], log_id, last_seq))
        if others:
            self._set_aside(others)
        for snapshot in self._snapshots():
            damage = _damage(snapshot.path)
            if damage:
                log.error("learner snapshot %s is damaged (%s); trying an older one", snapshot.path.name, damage)
                continue
            try:
                learner = make_learner(snapshot.path)
            except Exception as exc:  # VW reports a damaged file with assorted exception types
                log.error("learner snapshot %s does not load (%s); trying an older one", snapshot.path.name, exc)
                continue
            learner.updates = snapshot.updates
            log.info("learner restored from %s (feedback up to #%d)", snapshot.path.name, snapshot.feedback_seq)
            return learner, snapshot.feedback_seq
        return make_learner(None), 0

    def _set_aside(self, snapshots: list[Snapshot]) -> None:
        aside = self.directory / f"set-aside-{time.strftime('%Y%m%dT%H%M%S')}"
        aside.mkdir(exist_ok=True)
        for snapshot in snapshots:
            for path in (snapshot.path, _digest_path(snapshot.path)):
                if path.exists():
                    path.rename(aside / path.name)
        log.warning("%d learner snapshot(s) that do not match the decision log moved to %s; the learner is "
                    "rebuilt from the log", len(snapshots), aside)

    def _snapshots(self) -> list[Snapshot]:
        found = []
        for path in self.directory.glob("learner-*.vw"):
            match = _NAME.match(path.name)
            if match:
                found.append(Snapshot(path, int(match.group(1)), int(match.group(2)), match.group(3)))
        return sorted(found, key=lambda s: s.feedback_seq, reverse=True)


def _mismatch(directory: Path, snapshot: Snapshot, log_id: str, last_seq: int) -> str:
    learned = f"learned feedback up to #{snapshot.feedback_seq}" + (
        f" of decision log {snapshot.log_id}" if snapshot.log_id else "")
    return (f"the learner snapshot {directory / snapshot.path.name} {learned}, but the decision log in "
            f"{directory.parent} (log {log_id}) holds feedback up to #{last_seq}: the log was emptied, replaced "
            "or restored from an older backup. Restore the log that goes with the snapshots, or start with "
            "--rebuild-learner to set them aside and learn again from what the log holds")


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
