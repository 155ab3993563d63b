"""Expert finding on real outcomes: does Spiral's ranking of people predict how they do on
conversations it never saw?

PersuasionForGood (733 real persuasion chats between crowd workers; a worker id per persuader,
several persuaders with 3 to 16 chats; the outcome is whether the persuadee really donated) is
split by conversation, at random (fixed seed). The first part goes through Spiral's own ingest
into a fresh embedded store, and `seci.socialize.experts` ranks the persuaders from it (all
topics). The ranking is scored against each persuader's success rate on the other part:
Spearman's rank correlation, over the persuaders seen in both parts, with a 95 % bootstrap
interval (persuaders resampled). Beside it, in the same run: ranking by volume (conversations in
the first part) and by raw success rate there. Repeated over --splits random splits; the mean
and each split are printed. Also, with --min-test N, only persuaders with at least N
conversations in the second part (their rate there is less noisy).

    .venv/bin/python benchmarks/experts_eval.py [DATA_DIR] [--splits 3] [--seed 7]

DATA_DIR holds persuasionforgood/ (default SPIRAL_EVAL_DATA or ../shared/eval/data); read in
place, never copied.

With --gaps, each split also mines talk tracks from part one, finds each persuader's gaps
(`spiral learn gaps`) and checks on part two whether the dialogues in which persuaders met one
of their gap situations went worse than their other dialogues, and than other persuaders'
dialogues that met the same situations. Results: benchmarks/results/experts_eval.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS, data_dir, machine_info, table, write_json
from externalize_eval import (
    Dialogue,
    encode,
    ingest,
    open_runtime,
    read_persuasion,
    write_canonical,
)
from scipy.stats import spearmanr

from graph.embeddings import get_embedder
from graph.model import Label
from graph.settings import Settings
from seci.externalize import externalize
from seci.internalize import gaps, situation_outcomes
from seci.socialize import experts

BOOTSTRAP = 1000
SYSTEMS = ("Spiral (shrunk rate)", "volume", "raw rate")


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    if len(set(x)) < 2 or len(set(y)) < 2:
        return float("nan")
    return float(spearmanr(x, y).statistic)


def _interval(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    values = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(x), len(x))
        value = _spearman(x[pick], y[pick])
        if not np.isnan(value):
            values.append(value)
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def gap_check(rt: Any, train: Sequence[Dialogue], test: Sequence[Dialogue]) -> dict[str, Any]:
    """Mine talk tracks from part one, find each persuader's gaps there (seci.internalize.gaps),
    and on part two compare the dialogues in which a persuader met one of their gap
    situations (a persuadee turn whose nearest talk track is a gap) with their other dialogues
    and with other persuaders' dialogues that met the same situations."""
    externalize(rt.store, rt.embedder, full=True)
    people = {d.persuader for d in train}
    table = situation_outcomes(rt.store)
    found = {p: {g.item for g in gaps(rt.store, p, table)} for p in sorted(people)}
    found = {p: items for p, items in found.items() if items}
    cases = [(d, i, s) for d in test for i, s in d.situations()]
    vectors = encode(rt.embedder, [s for _, _, s in cases])
    met: dict[str, set[str]] = defaultdict(set)  # dialogue id -> talk tracks met
    for (d, _, _), vector in zip(cases, vectors, strict=True):
        hits = rt.store.vector_search(vector.tolist(), k=1, labels=[Label.KNOWLEDGE_ITEM])
        if hits:
            met[d.id].add(hits[0].id)
    gap_items = set().union(*found.values()) if found else set()
    own_gap, own_other, others_same = [], [], []
    for d in test:
        mine = found.get(d.persuader)
        if mine is not None:
            (own_gap if met[d.id] & mine else own_other).append(d.converted)
        elif met[d.id] & gap_items:
            others_same.append(d.converted)

    def rate(values: list[bool]) -> float | None:
        return round(float(np.mean(values)), 3) if values else None

    return {
        "persuaders_with_gaps": len(found),
        "gaps": sum(len(v) for v in found.values()),
        "their dialogues meeting a gap": {"n": len(own_gap), "donated": rate(own_gap)},
        "their other dialogues": {"n": len(own_other), "donated": rate(own_other)},
        "others meeting those situations": {"n": len(others_same), "donated": rate(others_same)},
    }


def one_split(
    dialogues: Sequence[Dialogue],
    seed: int,
    work: Path,
    embedder: Any,
    min_test: int,
    with_gaps: bool = False,
) -> dict[str, Any]:
    order = list(dialogues)
    random.Random(seed).shuffle(order)
    train, test = order[: len(order) // 2], order[len(order) // 2 :]
    rt = open_runtime(work / f"split-{seed}", embedder)
    try:
        seconds, totals = ingest(rt, write_canonical(train, work / f"input-{seed}"))
        ranking = experts(rt.store, rt.embedder, "", limit=100_000)
        gap_report = gap_check(rt, train, test) if with_gaps else None
    finally:
        rt.store.close()
    by_person = {e.name: e for e in ranking.experts}
    outcomes: dict[str, list[bool]] = defaultdict(list)
    for d in test:
        outcomes[d.persuader].append(d.converted)
    people = sorted(p for p in by_person if len(outcomes.get(p, [])) >= min_test)
    truth = np.array([np.mean(outcomes[p]) for p in people])
    scores = {
        SYSTEMS[0]: np.array([by_person[p].estimate for p in people]),
        SYSTEMS[1]: np.array([float(by_person[p].conversations) for p in people]),
        SYSTEMS[2]: np.array([by_person[p].rate or 0.0 for p in people]),
    }
    rng = np.random.default_rng(seed)
    result = {
        "seed": seed,
        "ingest_seconds": round(seconds, 1),
        "messages": totals.get("messages", 0),
        "persuaders": len(people),
        "team_rate": ranking.team_rate,
        "prior_strength": ranking.prior_strength,
        "systems": {},
        "gaps": gap_report,
    }
    for name, score in scores.items():
        low, high = _interval(score, truth, rng)
        result["systems"][name] = {
            "spearman": round(_spearman(score, truth), 3),
            "low": round(low, 3),
            "high": round(high, 3),
        }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=None)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--min-test", type=int, default=1, help="conversations in part two")
    parser.add_argument("--gaps", action="store_true", help="also check gaps (mines each split)")
    parser.add_argument("--out", type=Path, default=RESULTS / "experts_eval.json")
    args = parser.parse_args(argv)
    folder = (args.data_dir or data_dir()) / "persuasionforgood"
    if not folder.is_dir():
        print(f"no persuasionforgood/ under {folder.parent}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    dialogues = [d for d in read_persuasion(folder, annotated=False) if d.persuader]
    settings = Settings()
    embedder = get_embedder(
        settings.embedding_model, settings.embedding_batch_size, settings.query_encoder
    )
    splits = []
    with tempfile.TemporaryDirectory(prefix="spiral-experts-") as tmp:
        for n in range(args.splits):
            split = one_split(
                dialogues, args.seed + n, Path(tmp), embedder, args.min_test, args.gaps
            )
            splits.append(split)
            print(
                f"split {n + 1}/{args.splits}: {split['persuaders']} persuaders in both parts, "
                f"team rate {split['team_rate']}, prior weight {split['prior_strength']} "
                f"conversations, ingest {split['ingest_seconds']}s",
                flush=True,
            )
    rows = []
    means: dict[str, float] = {}
    for name in SYSTEMS:
        values = [s["systems"][name]["spearman"] for s in splits]
        means[name] = round(float(np.nanmean(values)), 3)
        cells = [
            f"{s['systems'][name]['spearman']:+.3f} [{s['systems'][name]['low']:+.2f}, "
            f"{s['systems'][name]['high']:+.2f}]"
            for s in splits
        ]
        rows.append([name, f"{means[name]:+.3f}", *cells])
    print(
        f"\nSpearman between the ranking from part one and the success rate on part two "
        f"({len(dialogues)} dialogues, persuaders with >= {args.min_test} in part two; "
        "95 % bootstrap interval per split)"
    )
    print(table(["ranking", "mean", *(f"split {i + 1}" for i in range(len(splits)))], rows))
    for n, split in enumerate(splits, 1):
        if split["gaps"]:
            print(f"gaps, split {n}: {json.dumps(split['gaps'], ensure_ascii=False)}")
    best = max(SYSTEMS[1:], key=lambda s: means[s])
    print(
        f"Spiral − the better baseline ({best}): {means[SYSTEMS[0]] - means[best]:+.3f}; "
        f"total {time.perf_counter() - started:.0f}s"
    )
    write_json(
        args.out,
        {
            "machine": machine_info(),
            "config": vars(args) | {"data_dir": str(folder), "out": str(args.out)},
            "splits": splits,
            "mean": means,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
