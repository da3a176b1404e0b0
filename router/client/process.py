"""Starting `banditroute serve` as a child process, as the demo, benchmarks and tests do."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from concurrent import futures
from contextlib import ExitStack, contextmanager
from pathlib import Path

from router.client import RouterClient

_SERVING = re.compile(r"serving on (\S+):(\d+)")
_DEV_KEY = re.compile(r"the dev admin key is (\S+)")
_METRICS = re.compile(r"Prometheus metrics on (http://\S+)")


class ServerProcess:
    """A real server on a free port; `stop()` sends SIGTERM and waits for a clean exit."""

    def __init__(self, data_dir: Path, config: Path | None = None, start_timeout: float = 120.0,
                 log_level: str = "INFO", log_format: str = "text", tls: dict[str, object] | None = None):
        """tls: RouterClient's TLS options (tls, ca_file, client_cert_file, client_key_file) for a
        server whose config sets tls; `client()` uses them, the check that it serves included."""
        command = [sys.executable, "-m", "router.cli", "--log-level", log_level, "--log-format", log_format, "serve",
                   "--port", "0", "--data-dir", str(data_dir)]
        if config is not None:
            command += ["--config", str(config)]
        env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
        self.data_dir = data_dir
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.output: deque[str] = deque(maxlen=200)
        self.dev_key: str | None = None  # the admin key the server made, when its config has none
        self.metrics_url: str | None = None  # where it serves Prometheus metrics, when it does
        self.tls = dict(tls or {})
        self.addr = self._wait_for_address(start_timeout)
        # Keep draining the pipe so a chatty server never blocks on a full one.
        threading.Thread(target=self._drain, daemon=True).start()
        with self.client() as client:
            client.wait_until_serving(timeout=start_timeout)

    def client(self, api_key: str | None = None, timeout: float = 30.0, **tls: object) -> RouterClient:
        """A client of this server, with the given key or else the server's dev key, and the TLS
        options given at start with any given here in their place."""
        return RouterClient(self.addr, timeout, api_key or self.dev_key, **{**self.tls, **tls})

    def _wait_for_address(self, timeout: float) -> str:
        timer = threading.Timer(timeout, self.process.kill)
        timer.start()
        try:
            for line in self.process.stdout:
                self.output.append(line)
                if key := _DEV_KEY.search(line):
                    self.dev_key = key.group(1)
                if metrics := _METRICS.search(line):
                    self.metrics_url = metrics.group(1)
                match = _SERVING.search(line)
                if match:
                    return f"{match.group(1)}:{match.group(2)}"
        finally:
            timer.cancel()
        raise RuntimeError("the server exited before serving:\n" + "".join(self.output))

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then wait: the exit code of a clean stop is 0."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.stop()


@contextmanager
def servers_side_by_side(data_dirs: list[Path], config: Path | None = None) -> Iterator[list[ServerProcess]]:
    """Servers started at once (each loads its model on its own core time), stopped at the end; every
    one that started is stopped even when another failed to."""
    with futures.ThreadPoolExecutor(max_workers=len(data_dirs)) as pool:
        starting = [pool.submit(ServerProcess, data_dir, config) for data_dir in data_dirs]
    with ExitStack() as stack:
        servers = [stack.enter_context(started.result()) for started in starting if started.exception() is None]
        if len(servers) < len(starting):
            raise next(started.exception() for started in starting if started.exception() is not None)
        yield servers
