"""Which fusion of lexical and dense search finds the right answer most often?

Real intent-classification data stands in for "the customer's words → the right talk track":
per intent, some labelled examples become knowledge Chunks in an EmbeddedStore (embedded with
the packaged all-MiniLM-L6-v2 model) and other examples become queries. A query is answered
correctly when the top hit's intent is the query's intent.

Data (read in place from SPIRAL_EVAL_DATA, default ../shared/eval/data; never copied):
- banking77 train.csv: per intent 10 examples → knowledge, up to 20 others → queries;
- clinc150 train_val.json: 10 examples per intent of the "train" split → knowledge, the "val"
  split → queries (out-of-scope examples left out);
- hint3 v2 train (one store per business: curekart, powerplay11, sofmattress): per intent
  half the examples (at most 10) → knowledge, the rest (at most 20) → queries; an intent with
  one example is knowledge only.
Queries whose text equals a knowledge text are dropped; each data set is capped at
--max-queries queries (fixed seed).

Each query is searched once each way (`lexical_search` and `vector_search`, 50 candidates,
the depth `hybrid_search` uses) and every fusion is applied with `graph.search.fuse`; for the
first queries of each store the result is checked against a real `hybrid_search` call.

    .venv/bin/python benchmarks/fusion_eval.py            # full run (a few minutes)
    .venv/bin/python benchmarks/fusion_eval.py --quick    # smoke run (under a minute)
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS, data_dir, machine_info, read_banking77, table, write_json

from graph.embedded import EmbeddedStore
from graph.embeddings import get_embedder
from graph.model import Chunk, Document, Link, LinkType
from graph.search import DEFAULT_LABELS, Fusion, fuse, hybrid_search
from graph.settings import Settings
from graph.store import Hit, WriteBatch
from graph.text import normalize

K = 10  # ranking depth scored (MRR@10)
CANDIDATES = 50  # hits per side before fusion (hybrid_search's default)
WEIGHTS = (0.3, 0.5, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class Config:
    name: str
    fusion: Fusion
    dense_weight: float = 0.7


CONFIGS: tuple[Config, ...] = (
    Config("dense", "dense"),
    Config("lexical", "lexical"),
    Config("rrf", "rrf"),
    *(Config(f"weighted w={w}", "weighted", w) for w in WEIGHTS),
)


@dataclass
class Part:
    """One knowledge base (one store) and the queries asked of it."""

    name: str
    knowledge: list[tuple[str, str]] = field(default_factory=list)  # (text, intent)
    queries: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Dataset:
    name: str
    parts: list[Part]
    note: str = ""


# -- data ---------------------------------------------------------------------------------


def _by_intent(rows: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for text, intent in rows:
        if text:
            grouped[intent].append(text)
    return dict(sorted(grouped.items()))


def _cut(
    name: str, rows: Sequence[tuple[str, str]], n_know: int, n_query: int, seed: int, half: bool
) -> Part:
    """Per intent: shuffle, take knowledge then queries. With `half`, knowledge is half of
    the intent's examples (at most n_know), so small intents still get queries."""
    part = Part(name)
    for intent, texts in _by_intent(rows).items():
        texts = list(texts)
        random.Random(f"{seed}:{name}:{intent}").shuffle(texts)
        take = min(n_know, math.ceil(len(texts) / 2)) if half else n_know
        part.knowledge += [(t, intent) for t in texts[:take]]
        part.queries += [(t, intent) for t in texts[take : take + n_query]]
    return part


def load_banking77(seed: int) -> Dataset:
    part = _cut("banking77", read_banking77(), 10, 20, seed, half=False)
    return Dataset("banking77", [part], "train.csv; 10 knowledge + 20 queries per intent")


def load_clinc150(seed: int) -> Dataset:
    raw = json.loads((data_dir() / "clinc150" / "train_val.json").read_text(encoding="utf-8"))
    train = [(t.strip(), i) for t, i in raw["train"]]
    part = _cut("clinc150", train, 10, 0, seed, half=False)
    part.queries = [(t.strip(), i) for t, i in raw["val"]]
    return Dataset("clinc150", [part], "10 'train' examples per intent; 'val' split as queries")


def load_hint3(seed: int) -> Dataset:
    import csv

    parts = []
    for path in sorted((data_dir() / "hint3" / "v2" / "train").glob("*_train.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            rows = [(r["sentence"].strip(), r["label"].strip()) for r in csv.DictReader(fh)]
        parts.append(_cut(path.stem.removesuffix("_train"), rows, 10, 20, seed, half=True))
    note = "v2 train, one store per business; half per intent (<=10) knowledge, rest queries"
    return Dataset("hint3", parts, note)


LOADERS = {"banking77": load_banking77, "clinc150": load_clinc150, "hint3": load_hint3}


def prepare(dataset: Dataset, max_queries: int, seed: int) -> None:
    """Drop queries that repeat a knowledge text; cap the data set's queries (fixed seed)."""
    pooled: list[tuple[int, tuple[str, str]]] = []
    for index, part in enumerate(dataset.parts):
        known = {normalize(t) for t, _ in part.knowledge}
        pooled += [(index, q) for q in part.queries if normalize(q[0]) not in known]
    if len(pooled) > max_queries:
        pooled = random.Random(f"{seed}:{dataset.name}:queries").sample(pooled, max_queries)
    for index, part in enumerate(dataset.parts):
        part.queries = [q for i, q in pooled if i == index]


# -- evaluation ---------------------------------------------------------------------------


class Precomputed:
    """An Embedder serving vectors encoded beforehand in batches (falls back to the model)."""

    def __init__(self, embedder: Any, texts: Sequence[str], vectors: np.ndarray) -> None:
        self._embedder = embedder
        self.dim = embedder.dim
        self._vectors = dict(zip(texts, vectors, strict=True))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if all(t in self._vectors for t in texts):
            return np.stack([self._vectors[t] for t in texts])
        return self._embedder.encode(texts)


def _scores(ranking: Sequence[str], intent: str) -> tuple[float, float, float]:
    """(accuracy@1, reciprocal rank within K, recall@5) for one query's ranked intents."""
    first = next((i for i, got in enumerate(ranking[:K]) if got == intent), None)
    return (
        float(first == 0),
        0.0 if first is None else 1.0 / (first + 1),
        float(first is not None and first < 5),
    )


def evaluate_part(
    part: Part, embedder: Any, workdir: Path, check: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per config an array (queries x 3) of (acc@1, rr@10, recall@5); plus part facts."""
    started = time.perf_counter()
    know_texts = [t for t, _ in part.knowledge]
    query_texts = [t for t, _ in part.queries]
    know_vecs = embedder.encode(know_texts)
    query_vecs = embedder.encode(query_texts)
    encoded = time.perf_counter()

    store = EmbeddedStore.open(workdir / f"{part.name}.sqlite")
    try:
        doc_id = f"doc:{part.name}"
        doc = Document(id=doc_id, uri=f"eval/{part.name}", kind="text")
        chunks = [
            Chunk(id=f"{doc_id}#{i}", text=text, source_id=doc_id, position=i, embedding=v.tolist())
            for i, (text, v) in enumerate(zip(know_texts, know_vecs, strict=True))
        ]
        links = [
            Link(src=c.id, dst=doc_id, type=LinkType.PART_OF, source_id=doc_id) for c in chunks
        ]
        store.write(WriteBatch(replace_sources=[doc_id], nodes=[doc, *chunks], links=links))
        intent_of = {c.id: intent for c, (_, intent) in zip(chunks, part.knowledge, strict=True)}

        per_config: dict[str, list[tuple[float, float, float]]] = {c.name: [] for c in CONFIGS}
        no_lexical = 0
        mismatches = 0
        precomputed = Precomputed(embedder, query_texts, query_vecs)
        for n, ((text, intent), vec) in enumerate(zip(part.queries, query_vecs, strict=True)):
            lexical = store.lexical_search(text, CANDIDATES, DEFAULT_LABELS)
            dense = store.vector_search(vec.tolist(), CANDIDATES, DEFAULT_LABELS)
            no_lexical += not lexical
            for config in CONFIGS:
                hits = fuse(lexical, dense, K, config.fusion, config.dense_weight)
                per_config[config.name].append(_scores([intent_of[h.id] for h in hits], intent))
                if n < check:
                    mismatches += not _same(
                        hits,
                        hybrid_search(
                            store,
                            precomputed,
                            text,
                            k=K,
                            fusion=config.fusion,
                            dense_weight=config.dense_weight,
                            candidates=CANDIDATES,
                        ),
                    )
    finally:
        store.close()
    facts = {
        "knowledge": len(part.knowledge),
        "queries": len(part.queries),
        "intents": len({i for _, i in part.knowledge}),
        "queries_without_lexical_hit": no_lexical,
        "hybrid_search_check": {"queries": min(check, len(part.queries)), "mismatches": mismatches},
        "encode_s": round(encoded - started, 2),
        "search_s": round(time.perf_counter() - encoded, 2),
    }
    return {name: np.asarray(rows).reshape(-1, 3) for name, rows in per_config.items()}, facts


def _same(a: Sequence[Hit], b: Sequence[Hit]) -> bool:
    return [h.id for h in a] == [h.id for h in b]


def _metrics(rows: np.ndarray) -> dict[str, float]:
    acc, mrr, r5 = rows.mean(axis=0) if len(rows) else (float("nan"),) * 3
    return {
        "acc@1": round(float(acc), 4),
        "mrr@10": round(float(mrr), 4),
        "recall@5": round(float(r5), 4),
    }


def _paired(a: np.ndarray, b: np.ndarray, seed: int) -> dict[str, Any]:
    """acc@1 of a minus b on the same queries: points, queries won/lost, bootstrap 95% CI."""
    x, y = a[:, 0], b[:, 0]
    diff = x - y
    rng = np.random.default_rng(seed)
    boots = rng.choice(diff, size=(2000, len(diff)), replace=True).mean(axis=1)
    low, high = np.percentile(boots, [2.5, 97.5])
    return {
        "delta_pts": round(100 * float(diff.mean()), 2),
        "ci95_pts": [round(100 * float(low), 2), round(100 * float(high), 2)],
        "won": int(((x == 1) & (y == 0)).sum()),
        "lost": int(((x == 0) & (y == 1)).sum()),
    }


# -- main ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few queries per data set")
    parser.add_argument("--datasets", default=",".join(LOADERS), help="comma-separated subset")
    parser.add_argument("--max-queries", type=int, default=None, help="per data set (1500)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--check",
        type=int,
        default=None,
        help="queries per store re-run "
        "through hybrid_search to confirm it matches fuse (25; quick: 5)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON results path")
    args = parser.parse_args(argv)
    max_queries = args.max_queries or (150 if args.quick else 1500)
    check = args.check if args.check is not None else (5 if args.quick else 25)
    out = args.out or RESULTS / ("fusion-quick.json" if args.quick else "fusion.json")
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in LOADERS]
    if unknown:
        parser.error(f"unknown data sets {unknown}; choose from {list(LOADERS)}")
    if not data_dir().is_dir():
        print(f"eval data not found at {data_dir()} (set SPIRAL_EVAL_DATA)", file=sys.stderr)
        return 2

    started = time.perf_counter()
    embedder = get_embedder()
    print(
        f"model {embedder.name} (dim {embedder.dim}) loaded in {time.perf_counter() - started:.1f}s"
    )
    settings = Settings()
    default_name = (
        f"weighted w={settings.fusion_dense_weight}"
        if settings.fusion == "weighted"
        else settings.fusion
    )

    pooled: dict[str, dict[str, np.ndarray]] = {}
    report: dict[str, Any] = {"datasets": {}, "results": {}}
    with tempfile.TemporaryDirectory(prefix="spiral-fusion-") as tmp:
        for name in names:
            dataset = LOADERS[name](args.seed)
            prepare(dataset, max_queries, args.seed)
            t0 = time.perf_counter()
            rows: dict[str, list[np.ndarray]] = defaultdict(list)
            parts_info = {}
            for part in dataset.parts:
                if not part.queries:
                    continue
                per_config, facts = evaluate_part(part, embedder, Path(tmp), check)
                parts_info[part.name] = facts
                for config_name, array in per_config.items():
                    rows[config_name].append(array)
                if len(dataset.parts) > 1:
                    report["results"][f"{name}/{part.name}"] = {
                        c: _metrics(a) for c, a in per_config.items()
                    }
            pooled[name] = {c: np.concatenate(a) for c, a in rows.items()}
            report["results"][name] = {c: _metrics(a) for c, a in pooled[name].items()}
            checks = sum(p["hybrid_search_check"]["mismatches"] for p in parts_info.values())
            report["datasets"][name] = {
                "note": dataset.note,
                "knowledge": sum(p["knowledge"] for p in parts_info.values()),
                "queries": sum(p["queries"] for p in parts_info.values()),
                "intents": sum(p["intents"] for p in parts_info.values()),
                "parts": parts_info,
                "seconds": round(time.perf_counter() - t0, 1),
            }
            info = report["datasets"][name]
            print(
                f"{name}: {info['knowledge']} knowledge chunks, {info['queries']} queries, "
                f"{info['intents']} intents, {info['seconds']}s; hybrid_search check: "
                f"{'ok' if not checks else f'{checks} MISMATCHES'}"
            )

    # Macro average over data sets (each data set counts once), ranked by acc@1 then MRR.
    macro = {
        c.name: {
            m: round(float(np.mean([report["results"][d][c.name][m] for d in names])), 4)
            for m in ("acc@1", "mrr@10", "recall@5")
        }
        for c in CONFIGS
    }
    report["results"]["macro"] = macro
    ranking = sorted(macro, key=lambda c: (-macro[c]["acc@1"], -macro[c]["mrr@10"]))
    winner = ranking[0]

    print()
    columns = [*names, "macro"]
    body = []
    for c in CONFIGS:
        row: list[Any] = [c.name + (" *" if c.name == default_name else "")]
        for d in columns:
            r = report["results"][d][c.name]
            row += [r["acc@1"], r["mrr@10"], r["recall@5"]]
        body.append(row)
    print(_wide_table(columns, body))
    print("(* = current default from settings: SPIRAL_FUSION / SPIRAL_FUSION_DENSE_WEIGHT)")
    sub = [key for key in report["results"] if "/" in key]
    if sub:
        print()
        print(
            table(
                ["fusion", *(f"{k} acc@1" for k in sub)],
                [[c.name, *(report["results"][k][c.name]["acc@1"] for k in sub)] for c in CONFIGS],
            )
        )

    comparisons = {}
    for other in dict.fromkeys(["dense", default_name, ranking[1]]):
        if other == winner:
            continue
        comparisons[other] = {
            d: _paired(pooled[d][winner], pooled[d][other], args.seed) for d in names
        }
    print()
    print(
        f"WINNER (macro acc@1, then MRR): {winner} — acc@1 {macro[winner]['acc@1']:.3f}, "
        f"MRR@10 {macro[winner]['mrr@10']:.3f}, recall@5 {macro[winner]['recall@5']:.3f}"
    )
    for other, per_dataset in comparisons.items():
        gap = 100 * (macro[winner]["acc@1"] - macro[other]["acc@1"])
        detail = "; ".join(
            f"{d} {p['delta_pts']:+.1f} [{p['ci95_pts'][0]:+.1f}, {p['ci95_pts'][1]:+.1f}] "
            f"(won {p['won']}, lost {p['lost']})"
            for d, p in per_dataset.items()
        )
        print(f"  vs {other}: {gap:+.1f} pts macro acc@1; per data set, 95% CI: {detail}")
    elapsed = time.perf_counter() - started
    print(f"total {elapsed:.0f}s")

    report.update(
        {
            "winner": winner,
            "ranking": ranking,
            "default": default_name,
            "comparisons": comparisons,
            "config": {
                "k": K,
                "candidates": CANDIDATES,
                "seed": args.seed,
                "max_queries": max_queries,
                "quick": args.quick,
                "model": embedder.name,
                "labels": [label.value for label in DEFAULT_LABELS],
                "store": "embedded",
            },
            "machine": machine_info(),
            "seconds": round(elapsed, 1),
        }
    )
    write_json(out, report)
    print(f"wrote {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0


def _wide_table(columns: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    """The results table with a group header naming each data set over its three columns."""
    plain = table(["fusion", *(m for _ in columns for m in ("acc@1", "MRR@10", "R@5"))], body)
    lines = plain.split("\n")
    widths = [len(cell) for cell in lines[1].split("  ")]
    group = ["".ljust(widths[0])]
    for i, name in enumerate(columns):
        span = sum(widths[1 + 3 * i : 4 + 3 * i]) + 4
        group.append(name.center(span))
    return "\n".join(["  ".join(group).rstrip(), *lines])


if __name__ == "__main__":
    raise SystemExit(main())
