"""A full disk: every write is refused with UNAVAILABLE and a message naming the cause (never UNKNOWN),
health says NOT_SERVING while writes fail and SERVING once they succeed, a SIGTERM while full exits
cleanly without its last snapshot, and nothing acknowledged is lost.

In process, the log's SQLite file is capped (`PRAGMA max_page_count`: SQLite's own "database or disk is
full"); end to end, the server runs on a small tmpfs filled by another file, which needs root (mount)."""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from router.client.process import ServerProcess
from router.domain.errors import StorageUnavailable
from router.domain.types import FeedbackRequest
from simulator.loadtest import Acknowledgements, run_loadtest
from tests.conftest import user_request
from tests.e2e.test_crash import logged

PROMPT = "Write a Python function that merges two sorted lists."


@contextlib.contextmanager
def log_capped(service):
    """The decision log may grow no more pages: SQLite answers 'database or disk is full'."""
    db = service.decision_log._db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    try:
        yield
    finally:
        db.execute("PRAGMA max_page_count = 1073741823")


def test_a_full_log_refuses_route_and_feedback_as_storage_unavailable_then_recovers(make_service, caplog):
    service = make_service(cache={"enabled": False})
    earlier = service.route(user_request(PROMPT))
    with log_capped(service):
        with pytest.raises(StorageUnavailable, match=r"decisions\.sqlite cannot be written \(database or disk is full"):
            for i in range(200):  # the first few rows may still fit in the last page
                service.route(user_request(f"{PROMPT} ({i})"))
        with pytest.raises(StorageUnavailable):
            for i in range(200):
                service.feedback(FeedbackRequest(service.route(user_request(f"{PROMPT} [{i}]")).decision_id, 0.9))
        with pytest.raises(StorageUnavailable):
            service.decision_log.check_writable()
    # Room again: the same calls succeed, and the refused ones left nothing behind.
    service.decision_log.check_writable()
    assert service.feedback(FeedbackRequest(earlier.decision_id, 0.8)).quality == 0.8
    assert service.route(user_request(PROMPT + " again")).decision_id


def test_a_snapshot_that_cannot_be_written_is_logged_and_the_feedback_stands(make_service, tmp_path, caplog):
    service = make_service(learner={"snapshot_every": 1}, cache={"enabled": False})
    decision = service.route(user_request(PROMPT))
    shutil.rmtree(tmp_path / "snapshots")
    (tmp_path / "snapshots").write_text("a file where the snapshot directory was")
    with caplog.at_level(logging.ERROR):
        record = service.feedback(FeedbackRequest(decision.decision_id, 0.7))
    assert record.quality == 0.7 and service.learner.updates == 1
    assert "a learner snapshot was not kept: storage: the learner snapshot" in caplog.text


# --- end to end, on a real full filesystem ------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MB tmpfs, unmounted afterwards; skipped where mounting is not allowed (not root). Room enough
    that a fast server's own files cannot fill it before the filler does (16 MB could, in 3 s of load)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; removing it gives the room back."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), open(filler, "ab") as file:
        while True:
            file.write(b"\0" * 65536)
            file.flush()
    return filler


def health_status(addr: str) -> int:
    with grpc.insecure_channel(addr) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def wait_for_health(addr: str, status: int, within: float = 20.0) -> None:
    give_up = time.monotonic() + within
    while health_status(addr) != status:
        assert time.monotonic() < give_up, f"health did not turn {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}"
        time.sleep(0.2)


def figures(report) -> str:
    return "; ".join(f"{name} {rpc.ok}/{rpc.sent} OK, errors {rpc.errors}" for name, rpc in report.rpcs.items())


@pytest.mark.slow
def test_under_load_a_full_disk_gives_only_unavailable_health_follows_and_nothing_acknowledged_is_lost(
        small_disk, tmp_path):
    data_dir = small_disk / "data"
    config = tmp_path / "config.yaml"
    config.write_text("auth: {enabled: false}\nlearner: {snapshot_every: 50}\n")
    acks = Acknowledgements()
    server = ServerProcess(data_dir, config)
    try:
        before = run_loadtest(server.addr, clients=4, rps=0, duration=3, acks=acks)
        filler = fill(small_disk)
        full = run_loadtest(server.addr, clients=4, rps=0, duration=4, acks=acks)
        wait_for_health(server.addr, health_pb2.HealthCheckResponse.NOT_SERVING)
        filler.unlink()
        wait_for_health(server.addr, health_pb2.HealthCheckResponse.SERVING)
        after = run_loadtest(server.addr, clients=4, rps=0, duration=3, acks=acks)
        fill(small_disk)  # full again for the stop: the last snapshot cannot be written
        assert server.stop() == 0
        (small_disk / "filler").unlink()
    finally:
        if server.process.poll() is None:
            server.kill()
    output = "".join(server.output)
    assert "Traceback" not in output and "the last learner snapshot was not kept" in output
    print(f"\nbefore: {figures(before)}; while full: {figures(full)}; after: {figures(after)}")
    codes = {code for rpc in full.rpcs.values() for code in rpc.errors}
    assert codes == {"UNAVAILABLE"}, codes

    with ServerProcess(data_dir, config) as restarted:
        assert restarted.stop() == 0  # it starts on what the full disk left, and stops cleanly
    decisions, feedback, _ = logged(data_dir)
    assert set(acks.routed) <= decisions
    for ack in acks.feedback:
        assert feedback[ack.decision_id] == (ack.quality, ack.input_tokens, ack.output_tokens)
    print(f"after a restart: all {len(acks.routed)} acknowledged decisions and {len(acks.feedback)} acknowledged "
          f"feedbacks are in the log")
