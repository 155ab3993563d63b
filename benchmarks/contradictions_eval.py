"""How well does `seci.conflicts.find_contradictions` tell contradictions from look-alikes?

Data: a JSONL file of planted pairs, one object a line, `{"a", "b", "contradiction", "kind",
"note"}` (benchmarks/data/contradictions.jsonl: pairs written over the topics of the sample
corpus, Chinese and English, about half contradictions and half look-alikes: same figure in
other words or units, different subject with a different figure, ranges).

Each pair becomes two statements in different groups; the pair is predicted a contradiction
when `find_contradictions` finds any between them. Two baselines are scored on the same pairs:
"same topic, different number" (token Jaccard >= 0.3 and the sets of digits differ) and
"always contradiction".

    .venv/bin/python benchmarks/contradictions_eval.py benchmarks/data/contradictions.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import RESULTS, machine_info, table, write_json

from graph.text import search_tokens
from seci.conflicts import Statement, find_contradictions

Predictor = Callable[[str, str], bool]


def read_pairs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def spiral(min_confidence: float) -> Predictor:
    def predict(a: str, b: str) -> bool:
        pair = [Statement(id="a", text=a, group="a"), Statement(id="b", text=b, group="b")]
        return bool(find_contradictions(pair, min_confidence=min_confidence))

    return predict


def same_topic_different_number(a: str, b: str) -> bool:
    """Baseline: token Jaccard >= 0.3 and the sets of digit runs differ."""
    ta, tb = set(search_tokens(a)), set(search_tokens(b))
    jaccard = len(ta & tb) / len(ta | tb) if ta | tb else 0.0
    digits = lambda s: set(re.findall(r"\d+", s.replace(",", "")))  # noqa: E731
    return jaccard >= 0.3 and digits(a) != digits(b)


def always(a: str, b: str) -> bool:
    return True


def score(pairs: Sequence[dict[str, Any]], predict: Predictor) -> dict[str, Any]:
    """Precision, recall, F1 on the pairs, and the pairs got wrong."""
    tp = fp = fn = 0
    wrong = []
    for pair in pairs:
        got, want = predict(pair["a"], pair["b"]), bool(pair["contradiction"])
        tp += got and want
        fp += got and not want
        fn += want and not got
        if got != want:
            wrong.append({"a": pair["a"], "b": pair["b"], "want": want, "note": pair["note"]})
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "wrong": wrong,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="JSONL file of planted pairs")
    parser.add_argument("--min-confidence", type=float, default=0.5)
    parser.add_argument("--show-errors", action="store_true", help="print the pairs got wrong")
    parser.add_argument("--out", type=Path, default=RESULTS / "contradictions.json")
    args = parser.parse_args(argv)
    pairs = read_pairs(args.data)
    positives = sum(bool(p["contradiction"]) for p in pairs)
    print(f"{len(pairs)} pairs from {args.data}: {positives} contradictions")

    systems: dict[str, Predictor] = {
        f"find_contradictions (min_confidence={args.min_confidence})": spiral(args.min_confidence),
        "baseline: Jaccard>=0.3 and digits differ": same_topic_different_number,
        "baseline: always contradiction": always,
    }
    results = {}
    for name, predict in systems.items():
        started = time.perf_counter()
        results[name] = score(pairs, predict) | {"seconds": round(time.perf_counter() - started, 3)}
    print()
    print(
        table(
            ["system", "precision", "recall", "F1", "TP", "FP", "FN"],
            [
                [n, r["precision"], r["recall"], r["f1"], r["tp"], r["fp"], r["fn"]]
                for n, r in results.items()
            ],
        )
    )
    if args.show_errors:
        first = next(iter(results))
        for w in results[first]["wrong"]:
            label = "missed" if w["want"] else "false alarm"
            print(f"- {label} ({w['note']}): {w['a']} | {w['b']}")
    write_json(args.out, {"data": str(args.data), "machine": machine_info(), "results": results})
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
