"""An ingest killed part-way leaves no half-written source, and a rerun completes it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from graph.embedded import EmbeddedStore
from graph.model import Label, LinkType
from graph.store import GraphStore
from ingest.build import source_id_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ROOT = EXAMPLES.parent


def owned(store: GraphStore, source_id: str) -> tuple[int, int]:
    """(conversations, messages) hanging on one transcript file's source node."""
    convs = store.neighbours(source_id, [LinkType.PART_OF], "in")
    messages = sum(len(store.neighbours(c.node.id, [LinkType.PART_OF], "in")) for c in convs)
    return len(convs), messages


def run_env(store: GraphStore, data_dir: Path) -> dict[str, str]:
    # Groups of about two files: on Neo4j a group is one transaction, so a kill lands
    # between groups (10 files at the default size would be one all-or-nothing group).
    env = {
        **os.environ,
        "SPIRAL_DATA_DIR": str(data_dir),
        "SPIRAL_STORE": "embedded",
        "SPIRAL_INGEST_GROUP_TEXTS": "12",
    }
    if not isinstance(store, EmbeddedStore):
        env |= {"SPIRAL_STORE": "neo4j", "NEO4J_URI": store.uri}  # type: ignore[attr-defined]
    return env


def test_killed_ingest_leaves_whole_sources_and_rerun_completes(
    store: GraphStore, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for path in sorted((EXAMPLES / "transcripts").glob("zh_*.json"))[:10]:
        shutil.copy(path, folder / path.name)
    files = sorted(folder.iterdir())
    cmd = [sys.executable, "-m", "api.cli", "ingest", str(folder)]
    env = run_env(store, tmp_path)
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    while store.stats().nodes.get("Document", 0) < 3 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    present = {f.name: owned(store, source_id_for(str(f))) for f in files}
    written = {name: counts for name, counts in present.items() if counts != (0, 0)}
    assert 3 <= len(written) < len(files), "the kill should land part-way"
    documents = store.get_nodes(Label.DOCUMENT)
    assert len(documents) == len(written)  # no source node without its contents

    rerun = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    for f in files:
        final = owned(store, source_id_for(str(f)))
        assert final[0] >= 1 and final[1] >= 6, f.name
        if f.name in written:
            assert written[f.name] == final, f"{f.name} was half-written before the kill"
