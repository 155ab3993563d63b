"""Start a throw-away redis-server for tests (no persistence, a temp dir), or use
SPIRAL_TEST_REDIS_URL. Push and webhook tests talk to a real Redis, never a fake one."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_HINT = (
    "redis-server is not installed: `make setup` installs it (apt-get install redis-server)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pong(port: int) -> bool:
    """True once the server answers PING (raw RESP, so this helper needs no client library)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisMissing(RuntimeError):
    """redis-server is not on PATH."""


class LocalRedis:
    """A redis-server on a free loopback port, in the foreground of its own process, with a
    temp working directory and persistence off, so nothing outlives the test session."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="spiral-redis-"))
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = self.home / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            self.stop()
            raise RedisMissing(INSTALL_HINT)
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.home)]
        args += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _pong(self.port):
                return self.url
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        log = self.log.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING; log:\n{log}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.home, ignore_errors=True)
