"""Helpers shared by the benchmark scripts: paths, the eval data readers, stats, tables.

The eval data sets are read in place (read-only) from `SPIRAL_EVAL_DATA`, by default the
`shared/eval/data` folder beside the repository; nothing of them is copied into the repo.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` puts benchmarks/ first, not the root
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"


def data_dir() -> Path:
    """Where the eval data sets live (SPIRAL_EVAL_DATA, else ../shared/eval/data)."""
    return Path(os.environ.get("SPIRAL_EVAL_DATA") or ROOT.parent / "shared" / "eval" / "data")


def read_banking77(path: Path | None = None) -> list[tuple[str, str]]:
    """(text, intent) rows of banking77 train.csv."""
    path = path or data_dir() / "banking77" / "train.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return [(r["text"].strip(), r["category"].strip()) for r in csv.DictReader(fh)]


def read_jddc(path: Path | None = None) -> list[tuple[str, bool]]:
    """(text, is_agent) utterances of the JDDC sample (TSV, text in the last column)."""
    path = path or data_dir() / "jddc2019" / "chat_0.1per.txt"
    rows: list[tuple[str, bool]] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 7 and parts[-1].strip():
                rows.append((parts[-1].strip(), parts[2] == "1"))
    return rows


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / mean in milliseconds, and the sample count."""
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(float(np.mean(ms)) if ms else float("nan"), 3),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """A plain fixed-width text table; `align` is one 'l'/'r' per column (default: l then r)."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = align or "l" + "r" * (len(headers) - 1)

    def fmt(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if a == "l" else c.rjust(w)
            for c, w, a in zip(row, widths, align, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(cells[0]), rule, *(fmt(r) for r in cells[1:])])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def server_cpu_ms(pid: int | None, compiler_only: bool = False) -> float | None:
    """CPU time a local server process has used so far, in ms, from Linux's /proc; with
    `compiler_only` that of the JVM's JIT compiler threads alone. None without the process."""
    if pid is None:
        return None
    tasks = list(Path(f"/proc/{pid}/task").glob("*"))
    if not tasks:  # the process is gone, or there is no /proc
        return None
    ticks = 0
    for task in tasks:
        try:
            if compiler_only and "Compiler" not in (task / "comm").read_text():
                continue
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a thread that ended meanwhile
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")


def cpu_spent_s(before: float | None, after: float | None) -> float | None:
    """Seconds between two `server_cpu_ms` readings; None when either is missing."""
    return None if before is None or after is None else round((after - before) / 1000, 1)


def machine_info() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
