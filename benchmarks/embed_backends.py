"""Which embedding backend: torch, its ONNX export, or the int8 copy of that?

On the same texts (real JD.com customer-service messages and banking77 queries), in one
process: texts/s of batch encoding for each `SPIRAL_EMBEDDING_BACKEND` (median of --repeats
runs, backends interleaved so the box's noise hits them alike), the cosine gap of each
backend's vectors to torch's, and the fusion evaluation (benchmarks/fusion_eval.py, same data
sets, cuts and seed) with each backend's vectors on both sides (knowledge and queries) and,
for int8, mixed with torch's (a store embedded on one, queries on the other). Torch is the
baseline: ratios and differences in points are against it.

    .venv/bin/python benchmarks/embed_backends.py [DATA_DIR] [--jddc 1000] [--banking77 1000]
    .venv/bin/python benchmarks/embed_backends.py --quick   # smoke run (150 queries per set)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS, data_dir, machine_info, read_banking77, read_jddc, table, write_json

from graph.embeddings import BATCH_THREADS, SentenceEmbedder
from graph.settings import DEFAULT_MODEL, Settings

BACKENDS = ("torch", "onnx", "onnx-int8")
# (knowledge side, query side) for the fusion evaluation
PAIRS = (
    ("torch", "torch"),
    ("onnx", "onnx"),
    ("onnx-int8", "onnx-int8"),
    ("torch", "onnx-int8"),
    ("onnx-int8", "torch"),
)


class Fixed:
    """An Embedder serving vectors encoded beforehand."""

    def __init__(self, dim: int, vectors: dict[str, np.ndarray]) -> None:
        self.dim = dim
        self._vectors = vectors

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vectors[t] for t in texts])


def throughput(
    embedders: dict[str, SentenceEmbedder], texts: list[str], repeats: int
) -> dict[str, Any]:
    seconds: dict[str, list[float]] = defaultdict(list)
    vectors: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, embedder in embedders.items():
            t0 = time.perf_counter()
            vectors[name] = embedder.encode(texts)
            seconds[name].append(time.perf_counter() - t0)
    out: dict[str, Any] = {}
    base = vectors["torch"]
    for name in embedders:
        cos = (vectors[name] * base).sum(axis=1)
        rate = len(texts) / statistics.median(seconds[name])
        out[name] = {
            "texts_per_s": round(rate, 1),
            "runs_s": [round(s, 2) for s in seconds[name]],
            "cosine_min": round(float(cos.min()), 5),
            "cosine_mean": round(float(cos.mean()), 5),
            "max_abs_diff": float(np.abs(vectors[name] - base).max()),
        }
    for name in embedders:
        out[name]["ratio"] = round(out[name]["texts_per_s"] / out["torch"]["texts_per_s"], 2)
    return out


def fusion(
    embedders: dict[str, SentenceEmbedder],
    quick: bool,
    max_queries: int | None,
    seed: int,
    names: list[str],
) -> dict[str, Any]:
    import fusion_eval as fe

    max_queries = max_queries or (150 if quick else 1500)
    default = Settings()
    default_name = (
        f"weighted w={default.fusion_dense_weight}" if default.fusion == "weighted" else "rrf"
    )
    shown = ["dense", default_name]
    rows: dict[tuple[str, str], dict[str, dict[str, np.ndarray]]] = {}
    encode_s: dict[str, float] = defaultdict(float)
    with tempfile.TemporaryDirectory(prefix="spiral-backends-") as tmp:
        for dataset_name in names:
            dataset = fe.LOADERS[dataset_name](seed)
            fe.prepare(dataset, max_queries, seed)
            per_pair: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {
                p: defaultdict(list) for p in PAIRS
            }
            for part in dataset.parts:
                if not part.queries:
                    continue
                know = [t for t, _ in part.knowledge]
                queries = [t for t, _ in part.queries]
                vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
                for name, embedder in embedders.items():
                    t0 = time.perf_counter()
                    vectors[name] = (embedder.encode(know), embedder.encode(queries))
                    encode_s[name] += time.perf_counter() - t0
                for k_side, q_side in PAIRS:
                    lookup = dict(zip(know, vectors[k_side][0], strict=True))
                    lookup.update(zip(queries, vectors[q_side][1], strict=True))
                    work = Path(tmp) / f"{part.name}-{k_side}-{q_side}"
                    work.mkdir()
                    got, _ = fe.evaluate_part(part, Fixed(384, lookup), work, 0)
                    for config in shown:
                        per_pair[(k_side, q_side)][config].append(got[config])
            for pair in PAIRS:
                rows.setdefault(pair, {})[dataset_name] = {
                    c: np.concatenate(a) for c, a in per_pair[pair].items()
                }
            print(f"  fusion: {dataset_name} done", flush=True)

    base = rows[("torch", "torch")]
    report: dict[str, Any] = {
        "default_fusion": default_name,
        "max_queries": max_queries,
        "datasets": names,
    }
    for pair in PAIRS:
        entry: dict[str, Any] = {}
        for config in shown:
            per_dataset = {d: fe._metrics(rows[pair][d][config]) for d in names}
            macro = {
                m: round(float(np.mean([per_dataset[d][m] for d in names])), 4)
                for m in ("acc@1", "mrr@10", "recall@5")
            }
            base_macro = float(np.mean([fe._metrics(base[d][config])["acc@1"] for d in names]))
            entry[config] = {
                "macro": macro,
                "per_dataset": per_dataset,
                "delta_acc1_pts": round(100 * (macro["acc@1"] - base_macro), 2),
                "paired": {
                    d: fe._paired(rows[pair][d][config], base[d][config], seed) for d in names
                },
            }
        report[f"{pair[0]} / {pair[1]}"] = entry
    report["encode_s"] = {k: round(v, 1) for k, v in encode_s.items()}
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=None, help="eval data folder")
    parser.add_argument("--jddc", type=int, default=1000, help="JDDC messages (first N)")
    parser.add_argument("--banking77", type=int, default=1000, help="banking77 texts (first N)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="fusion evaluation on 150 queries")
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--no-fusion", action="store_true")
    parser.add_argument(
        "--datasets", default="banking77,clinc150,hint3", help="fusion evaluation data sets"
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=RESULTS / "embed_backends.json")
    args = parser.parse_args(argv)
    if args.data is not None:
        import os

        os.environ["SPIRAL_EVAL_DATA"] = str(args.data)
    if not data_dir().is_dir():
        print(f"eval data not found at {data_dir()} (set SPIRAL_EVAL_DATA)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    texts = [t for t, _ in read_jddc()[: args.jddc]] + [
        t for t, _ in read_banking77()[: args.banking77]
    ]
    embedders: dict[str, SentenceEmbedder] = {}
    load_s: dict[str, float] = {}
    for name in BACKENDS:
        t0 = time.perf_counter()
        embedder = SentenceEmbedder(
            DEFAULT_MODEL,
            args.batch_size,
            query_encoder="torch",
            backend=name,  # type: ignore[arg-type]
        )
        embedder.encode(texts[:100])  # makes (once per machine) and checks the ONNX models
        load_s[name] = round(time.perf_counter() - t0, 1)
        if embedder.backend != name:
            print(f"{name} fell back to {embedder.backend}: see the warning above", file=sys.stderr)
            return 1
        embedders[name] = embedder
    print(
        f"{len(texts)} texts ({args.jddc} JDDC messages, {args.banking77} banking77), "
        f"batch {args.batch_size}, {BATCH_THREADS} threads; load+check s {load_s}"
    )
    speed = throughput(embedders, texts, args.repeats)
    print()
    print(
        table(
            ["backend", "texts/s", "x torch", "runs (s)", "min cos", "mean cos", "max |diff|"],
            [
                [
                    n,
                    r["texts_per_s"],
                    f"{r['ratio']:.2f}",
                    " ".join(f"{s:.1f}" for s in r["runs_s"]),
                    f"{r['cosine_min']:.4f}",
                    f"{r['cosine_mean']:.4f}",
                    f"{r['max_abs_diff']:.1e}",
                ]
                for n, r in speed.items()
            ],
        )
    )
    report: dict[str, Any] = {
        "texts": len(texts),
        "throughput": speed,
        "load_s": load_s,
        "config": vars(args) | {"data": str(data_dir()), "out": str(args.out)},
    }
    if not args.no_fusion:
        print("\nfusion evaluation (knowledge / queries backends):", flush=True)
        datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
        result = fusion(embedders, args.quick, args.max_queries, args.seed, datasets)
        report["fusion"] = result
        shown = ["dense", result["default_fusion"]]
        body = []
        for k_side, q_side in PAIRS:
            entry = result[f"{k_side} / {q_side}"]
            row: list[Any] = [f"{k_side} / {q_side}"]
            for config in shown:
                row += [
                    entry[config]["macro"]["acc@1"],
                    entry[config]["macro"]["mrr@10"],
                    f"{entry[config]['delta_acc1_pts']:+.2f}",
                ]
            body.append(row)
        heads = [f"{c} {m}" for c in ("dense", "default") for m in ("acc@1", "MRR", "Δpts")]
        print(table(["knowledge / queries", *heads], body))
        print(f"(macro over {', '.join(datasets)}; default = {result['default_fusion']})")
        for k_side, q_side in PAIRS[1:]:
            paired = result[f"{k_side} / {q_side}"][result["default_fusion"]]["paired"]
            print(
                f"  {k_side} / {q_side} vs torch, default fusion, acc@1 pts [95% CI]: "
                + "; ".join(
                    f"{d} {p['delta_pts']:+.1f} [{p['ci95_pts'][0]:+.1f}, {p['ci95_pts'][1]:+.1f}]"
                    f" (won {p['won']}, lost {p['lost']})"
                    for d, p in paired.items()
                )
            )
        print(f"encode s (fusion texts): {result['encode_s']}")
    report["machine"] = machine_info()
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_json(args.out, report)
    print(f"total {report['seconds']:.0f}s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
