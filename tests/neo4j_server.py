"""Start the repo's embedded Neo4j launcher (neo4j-local/) for tests, or use NEO4J_URI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "neo4j-local"
JVM_FLAGS = [
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Xmx1g",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    for candidate in ([Path(home) / "bin" / "java"] if home else []) + [
        Path("/usr/lib/jvm/java-17-openjdk-amd64/bin/java")
    ]:
        if candidate.exists():
            return str(candidate)
    return shutil.which("java") or "java"


def build_launcher() -> str:
    """Build the launcher (mvn) when it was not built or its sources changed since, and
    return its classpath."""
    cp_file = LAUNCHER / "target" / "classpath.txt"
    sources = [LAUNCHER / "pom.xml", *(LAUNCHER / "src").rglob("*.java")]
    stale = not cp_file.exists() or not (LAUNCHER / "target" / "classes").exists()
    if not stale:
        built = cp_file.stat().st_mtime
        stale = any(path.stat().st_mtime > built for path in sources)
    if stale:
        maven = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "package",
                "dependency:build-classpath",
                "-Dmdep.outputFile=target/classpath.txt",
            ],
            cwd=LAUNCHER,
            # Kept from our stdout: Maven writes colour codes there even with -q, and a
            # benchmark's stdout is its data (ingest_bench reads its child's last line).
            capture_output=True,
            text=True,
            check=False,
        )
        if maven.returncode != 0:
            raise RuntimeError(f"building the Neo4j launcher failed:\n{maven.stdout[-4000:]}")
    return f"{LAUNCHER / 'target' / 'classes'}:{cp_file.read_text().strip()}"


class LocalNeo4j:
    """A Neo4j 5.26 process on a free loopback port with a throw-away home directory."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="spiral-neo4j-"))
        self.port = _free_port()
        self.uri = f"bolt://127.0.0.1:{self.port}"
        self.log = self.home / "launcher.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> str:
        classpath = build_launcher()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    _java(),
                    *JVM_FLAGS,
                    "-cp",
                    classpath,
                    "spiral.neo4j.Neo4jLauncher",
                    str(self.home / "db"),
                    str(self.port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "NEO4J_READY" in self.log.read_text(errors="replace"):
                return self.uri
            if self.proc.poll() is not None:
                break
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"Neo4j launcher did not start; log:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.home, ignore_errors=True)
