"""Does a score mean something? Calibrating when `spiral ask` shows nothing (issue: every
nonsense query used to get five options at ~0.8).

clinc150 (read in place from the data folder given, never copied) has real out-of-scope
queries next to 150 in-scope intents. Per intent 10 "train" examples become a knowledge
document (as benchmarks/assist_eval.py writes them); the questions asked are in-scope "val"
queries and out-of-scope ones, each split in two halves: `oos_train` + half of the in-scope
queries calibrate, `oos_val` + the other half test.

Calibration: every query is asked once with the gate open and each option's absolute signals
(cosine to the words, share of content terms) are kept; the cosine floor is then swept. The
chosen floor is the highest that still answers at least --keep of the in-scope calibration
queries (missing a real answer costs an employee more than a weak option). Test: the test
half is asked for real with the chosen floor, next to the same questions with the gate open
and a plain baseline (dense-only retrieval, answered when its top cosine reaches a floor
chosen the same way).

    .venv/bin/python benchmarks/relevance_eval.py ../shared/eval/data [--queries 600]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from assist_eval import K, intent_rank, write_faq
from common import RESULTS, machine_info, table, write_json

from graph.embedded import EmbeddedStore
from graph.embeddings import get_embedder
from graph.settings import Settings
from ingest.pipeline import Ingestor
from seci.assist import AskOptions, Suggestion, baseline, suggest

OPEN = -1.0  # a cosine floor every option reaches: the gate open
FLOORS = [round(0.20 + 0.025 * i, 3) for i in range(17)]  # 0.20 .. 0.60
OVERLAPS = (0.34, 0.5, 0.67, 1.01)  # 1.01: the terms never decide


def load(data: Path, n_queries: int, seed: int) -> dict[str, Any]:
    raw = json.loads((data / "clinc150" / "train_val.json").read_text(encoding="utf-8"))
    rng = random.Random(seed)
    knowledge: dict[str, list[str]] = {}
    for text, intent in raw["train"]:
        knowledge.setdefault(intent, []).append(text.strip())
    rows = [(t, i) for i, texts in sorted(knowledge.items()) for t in rng.sample(texts, 10)]
    inscope = rng.sample([(t.strip(), i) for t, i in raw["val"]], n_queries)
    half = n_queries // 2
    return {
        "knowledge": rows,
        "calibrate": inscope[:half] + [(t.strip(), None) for t, _ in raw["oos_train"]],
        "test": inscope[half:] + [(t.strip(), None) for t, _ in raw["oos_val"]],
    }


def closeness(s: Suggestion) -> tuple[float, float]:
    return (s.signals.similarity, s.signals.overlap) if s.signals else (0.0, 0.0)


def rates(shown: list[bool], labels: list[bool]) -> tuple[float, float]:
    """(in-scope answered, out-of-scope refused)."""
    inscope = [a for a, i in zip(shown, labels, strict=True) if i]
    oos = [not a for a, i in zip(shown, labels, strict=True) if not i]
    return sum(inscope) / len(inscope), sum(oos) / len(oos)


def choose(answered: Callable[[float], list[bool]], labels: list[bool], keep: float) -> float:
    """The highest floor answering at least `keep` of the in-scope questions."""
    best = FLOORS[0]
    for floor in FLOORS:
        if rates(answered(floor), labels)[0] >= keep:
            best = floor
    return best


def score(ranks: Sequence[int | None], intents: Sequence[str | None]) -> dict[str, float]:
    inscope = [r for r, i in zip(ranks, intents, strict=True) if i is not None]
    oos = [r for r, i in zip(ranks, intents, strict=True) if i is None]
    return {
        "in-scope answered": sum(r != 0 for r in inscope) / len(inscope),
        "in-scope R@1": sum(r == 1 for r in inscope) / len(inscope),
        "in-scope R@5": sum(r is not None and 0 < r <= K for r in inscope) / len(inscope),
        "out-of-scope refused": sum(r == 0 for r in oos) / len(oos),
    }


def rank(suggestions: Sequence[Suggestion], intent: str | None) -> int | None:
    """0: nothing shown; else the rank of the right intent (None: not among them)."""
    if not suggestions:
        return 0
    return intent_rank(suggestions, intent) if intent else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--queries", type=int, default=600, help="in-scope, both halves")
    parser.add_argument("--keep", type=float, default=0.97, help="in-scope answered, at least")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    if not (args.data_dir / "clinc150" / "train_val.json").is_file():
        parser.error(f"no clinc150/train_val.json under {args.data_dir}")
    data = load(args.data_dir, args.queries, args.seed)
    settings = Settings()
    embedder = get_embedder(settings.embedding_model)
    chosen = AskOptions.from_settings(settings)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "faq"
        write_faq(data["knowledge"], folder)
        store = EmbeddedStore.open(Path(tmp) / "store.sqlite")
        Ingestor(store, embedder, settings).ingest([folder])
        gate_open = chosen.model_copy(update={"min_similarity": OPEN})

        def ask(text: str, options: AskOptions) -> list[Suggestion]:
            """What an employee sees: close options first, weak ones (flagged) after them,
            or nothing when none is close."""
            return suggest(store, embedder, text, K, options).suggestions

        # calibration: the gate open, the signals kept
        calib = data["calibrate"]
        labels = [i is not None for _, i in calib]
        seen = [[closeness(s) for s in ask(t, gate_open)] for t, _ in calib]
        dense_top = [
            max((s.score for s in baseline(store, embedder, t, "dense", 1).suggestions), default=0)
            for t, _ in calib
        ]
        print(f"calibrated on {len(calib)} questions", file=sys.stderr)

        def answers(floor: float, overlap: float) -> list[bool]:
            return [any(sim >= floor or ov >= overlap for sim, ov in o) for o in seen]

        # per overlap share, the highest floor that keeps the in-scope questions answered;
        # then the pair that refuses the most out-of-scope ones
        pairs = [(choose(lambda f, o=o: answers(f, o), labels, args.keep), o) for o in OVERLAPS]
        floor, overlap = max(pairs, key=lambda p: (rates(answers(*p), labels)[1], p[0]))
        dense_floor = choose(lambda f: [c >= f for c in dense_top], labels, args.keep)
        sweep = [[f, o, *rates(answers(f, o), labels)] for o in OVERLAPS for f in FLOORS]
        # test: asked for real
        test = data["test"]
        intents = [i for _, i in test]
        tuned = chosen.model_copy(update={"min_similarity": floor, "min_overlap": overlap})
        systems: dict[str, list[int | None]] = {
            f"Spiral, calibrated ({floor}, {overlap})": [rank(ask(t, tuned), i) for t, i in test],
            f"Spiral, settings ({chosen.min_similarity}, {chosen.min_overlap})": [
                rank(ask(t, chosen), i) for t, i in test
            ],
            "Spiral, gate open (before)": [rank(ask(t, gate_open), i) for t, i in test],
        }
        dense_ranks = []
        for t, i in test:
            found = baseline(store, embedder, t, "dense", K).suggestions
            shown = found if found and found[0].score >= dense_floor else []
            dense_ranks.append(rank(shown, i))
        systems[f"dense-only, top cosine ≥ {dense_floor}"] = dense_ranks
        store.close()
    results = {name: score(r, intents) for name, r in systems.items()}
    headers = ["system", *next(iter(results.values()))]
    print(
        f"\nclinc150 test half: {sum(i is not None for i in intents)} in-scope, "
        f"{sum(i is None for i in intents)} out-of-scope questions"
    )
    print(table(headers, [[n, *m.values()] for n, m in results.items()]))
    print("\ncalibration sweep (in-scope answered, out-of-scope refused):")
    print(table(["cosine floor", "term share", "answered", "refused"], sweep))
    write_json(
        RESULTS / "relevance_eval.json",
        {
            "machine": machine_info(),
            "chosen": {"min_similarity": floor, "min_overlap": overlap},
            "results": results,
            "sweep": sweep,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
