"""Does externalization mine talk tracks worth having? Three checks on real conversations.

1. Clusters vs annotators (PersuasionForGood annotated.csv, 218 dialogues): every persuader
   turn gets the talk track whose situation it answered (`externalize(min_support=1)`, so
   every meaningful situation lands in some item) and is compared with the annotators'
   strategy label (majority `er_label_1` of its sentences): NMI, AMI, purity, next to k-means
   on the same model's response embeddings, a random assignment, and Spiral's own
   `Clusterer` run on the responses instead of the situations.
2. Outcome prediction (dialogs.csv + info.csv, 733 dialogues, split 50/50 by dialogue): mine
   on the train half only; a test dialogue's score is the mean, over its persuader turns, of
   the success estimate of the nearest talk track's closest response. AUC against "donated
   anything", with a bootstrap 95 % interval, next to a constant, a per-persuader prior and a
   nearest-neighbour baseline.
3. JDDC (994 Chinese customer-service sessions): mining cost, full vs incremental (974
   sessions, then 20 more), and how much of what customers said the talk tracks cover.

Data is read in place (never copied into the repository); stores and converted inputs live in
`--work` (a temporary folder unless given).

    .venv/bin/python benchmarks/externalize_eval.py                # everything (~10-15 min)
    .venv/bin/python benchmarks/externalize_eval.py --skip-jddc    # PersuasionForGood only
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import data_dir, machine_info, table, write_json
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_mutual_info_score,
    normalized_mutual_info_score,
    roc_auc_score,
)

from api.runtime import Runtime
from graph.embeddings import Embedder, LazyEmbedder
from graph.model import Conversation, KnowledgeItem, Label, LinkType, Message
from graph.settings import Settings
from graph.store import GraphStore, NodeQuery, iter_nodes
from seci.clusters import Clusterer, Features, content_tokens
from seci.externalize import ACTOR, externalize
from seci.situations import OPENING

DEFAULT_PERSUASION = data_dir() / "persuasionforgood"
DEFAULT_JDDC = data_dir() / "jddc2019" / "chat_0.1per.txt"
VARIANT_COSINE = 0.6  # a turn "is" one of the item's responses above this cosine
PRIOR_WEIGHT = 2.0  # shrinkage of a persuader's donation rate towards the global rate
BOOTSTRAP = 1000
JDDC_NEW = 20  # sessions of the incremental run
JDDC_BLOCK = 20  # sessions per input file


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- shared helpers -------------------------------------------------------------------------


def open_runtime(folder: Path, embedder: Embedder) -> Runtime:
    """A fresh embedded store in `folder`, sharing one loaded model across stores."""
    folder.mkdir(parents=True, exist_ok=True)
    rt = Runtime(Settings(data_dir=folder, store="embedded"))
    rt.embedder = embedder  # type: ignore[assignment]
    return rt


def ingest(rt: Runtime, paths: Sequence[Path]) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    report = rt.ingestor().ingest(list(paths))
    seconds = time.perf_counter() - started
    failed = [f for f in report.files if f.status == "failed"]
    if failed:
        log(f"  {len(failed)} files failed, e.g. {failed[0].uri}: {failed[0].reason}")
    return seconds, report.totals()


def mined_items(store: GraphStore) -> list[KnowledgeItem]:
    """Every talk track mining wrote (full nodes)."""
    query = NodeQuery(label=Label.KNOWLEDGE_ITEM, kind="talk_track", limit=1000)
    found = [
        store.get_node(node.id)  # the page leaves embeddings out
        for node in iter_nodes(store, query)
        if isinstance(node, KnowledgeItem) and node.externalized_by == ACTOR
    ]
    return [node for node in found if isinstance(node, KnowledgeItem)]


def situation_members(store: GraphStore, item_id: str) -> list[dict[str, Any]]:
    return [
        n.link.props
        for n in store.neighbours(item_id, [LinkType.DERIVED_FROM], "out")
        if n.link.props.get("role") == "situation"
    ]


def unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def encode(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return unit(np.asarray(embedder.encode(list(texts)), dtype=np.float32))


def purity(gold: Sequence[str], pred: Sequence[Any]) -> float:
    by_cluster: dict[Any, Counter[str]] = defaultdict(Counter)
    for g, p in zip(gold, pred, strict=True):
        by_cluster[p][g] += 1
    return sum(c.most_common(1)[0][1] for c in by_cluster.values()) / max(len(gold), 1)


def bootstrap_auc(y: np.ndarray, score: np.ndarray, seed: int) -> tuple[float, float, float]:
    auc = float(roc_auc_score(y, score))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(BOOTSTRAP):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        values.append(roc_auc_score(y[idx], score[idx]))
    lo, hi = np.percentile(values, [2.5, 97.5])
    return auc, float(lo), float(hi)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.1f}s"


# -- PersuasionForGood ----------------------------------------------------------------------


@dataclass
class Turn:
    role: str  # "employee" (persuader) or "customer" (persuadee)
    sentences: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.strip() for s in self.sentences if s.strip())

    @property
    def gold(self) -> str:
        return Counter(self.labels).most_common(1)[0][0] if self.labels else ""


@dataclass
class Dialogue:
    id: str
    persuader: str
    persuadee: str
    donation: float
    turns: list[Turn]

    @property
    def converted(self) -> bool:
        return self.donation > 0

    def canonical(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": "chat",
            "employee": self.persuader,
            "employee_id": self.persuader,
            "customer": self.persuadee,
            "customer_id": self.persuadee,
            "outcome": "converted" if self.converted else "lost",
            "messages": [
                {
                    "role": t.role,
                    "speaker": self.persuader if t.role == "employee" else self.persuadee,
                    "text": t.text,
                }
                for t in self.turns
            ],
        }

    def situations(self) -> list[tuple[int, str]]:
        """(index of the persuader turn, what it answered) as Spiral reads it: the persuadee
        turn before, or OPENING for a persuader turn that opens the dialogue."""
        out = []
        for i, t in enumerate(self.turns):
            if t.role != "employee":
                continue
            out.append((i, self.turns[i - 1].text if i else OPENING))
        return out


def read_persuasion(folder: Path, annotated: bool) -> list[Dialogue]:
    """Dialogues with turns (consecutive rows of one role joined into one message)."""
    with (folder / "info.csv").open(encoding="utf-8", newline="") as fh:
        info = list(csv.DictReader(fh))
    workers: dict[tuple[str, str], str] = {(r["B2"], r["B4"]): r["B3"] for r in info}
    donation = {r["B2"]: float(r["B6"] or 0) for r in info if r["B4"] == "1"}
    name = "annotated.csv" if annotated else "dialogs.csv"
    rows: dict[str, list[tuple[int, int, int, dict[str, str]]]] = defaultdict(list)
    with (folder / name).open(encoding="utf-8", newline="") as fh:
        for n, r in enumerate(csv.DictReader(fh)):
            rows[r["B2"]].append((int(r["Turn"]), int(r["B4"]), n, r))
    dialogues = []
    for did, items in rows.items():
        turns: list[Turn] = []
        for _, role_no, _, r in sorted(items, key=lambda x: x[:3]):
            role = "employee" if role_no == 0 else "customer"
            text = (r.get("Unit") or "").strip()
            if not text:
                continue
            if not turns or turns[-1].role != role:
                turns.append(Turn(role))
            turns[-1].sentences.append(text)
            if annotated and role == "employee" and (label := (r.get("er_label_1") or "").strip()):
                turns[-1].labels.append(label)
        dialogues.append(
            Dialogue(
                id=did,
                persuader=workers.get((did, "0"), ""),
                persuadee=workers.get((did, "1"), ""),
                donation=donation.get(did, 0.0),
                turns=turns,
            )
        )
    return sorted(dialogues, key=lambda d: d.id)


def write_canonical(dialogues: Sequence[Dialogue], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in dialogues:
        path = folder / f"{d.id}.json"
        path.write_text(json.dumps(d.canonical(), ensure_ascii=False), encoding="utf-8")
        paths.append(path)
    return paths


def turn_clusters(store: GraphStore, items: Sequence[KnowledgeItem]) -> dict[tuple[str, int], str]:
    """(dialogue id, message position of the persuader turn) → the item it belongs to."""
    titles: dict[str, str] = {}
    found: dict[tuple[str, int], str] = {}
    for item in items:
        for props in situation_members(store, item.id):
            conv_id, response_id = str(props.get("conversation")), str(props.get("response_id"))
            if conv_id not in titles:
                conv = store.get_node(conv_id)
                titles[conv_id] = conv.title if isinstance(conv, Conversation) else ""
            message = store.get_node(response_id)
            if isinstance(message, Message):
                found[(titles[conv_id], message.position)] = item.id
    return found


def clusters_vs_annotators(args: argparse.Namespace, embedder: Embedder) -> dict[str, Any]:
    print("\n=== 1. Clusters vs annotators (PersuasionForGood annotated.csv) ===", flush=True)
    dialogues = read_persuasion(args.persuasion, annotated=True)
    work = args.work / "persuasion-annotated"
    paths = write_canonical(dialogues, work / "input")
    rt = open_runtime(work / "store", embedder)
    seconds, totals = ingest(rt, paths)
    log(f"ingested {len(paths)} dialogues ({totals['messages']} messages) in {fmt_s(seconds)}")
    report = externalize(rt.store, embedder, min_support=1)
    log(
        f"externalize(min_support=1): {report.situations} situations → "
        f"{report.created} items in {fmt_s(report.seconds)}"
    )
    items = mined_items(rt.store)
    evidence = {i.id: i.evidence for i in items}
    assigned = turn_clusters(rt.store, items)
    rt.close()

    # every persuader turn, labelled or not, with what it answered
    turns: list[tuple[str, int, Turn, str]] = []  # dialogue, position, turn, situation
    for d in dialogues:
        for i, situation in d.situations():
            turns.append((d.id, i, d.turns[i], situation))
    labelled = [t for t in turns if t[2].gold]
    covered = [t for t in labelled if (t[0], t[1]) in assigned]
    covered2 = [t for t in covered if evidence[assigned[(t[0], t[1])]] >= 2]
    log(
        f"persuader turns {len(turns)}, labelled {len(labelled)}, in a talk track "
        f"{len(covered)} ({len(covered) / max(len(labelled), 1):.0%}; the rest answered an "
        f"'ok'-like turn with no content words), in a track of ≥2 situations {len(covered2)}"
    )

    # Spiral's Clusterer on the responses themselves (every persuader turn, in order)
    responses = encode(embedder, [t[2].text for t in turns])
    clusterer = Clusterer(0.45, responses.shape[1])
    by_turn: dict[tuple[str, int], str] = {}
    for n, (did, i, turn, _) in enumerate(turns):
        f = Features(vector=responses[n], tokens=content_tokens(turn.text), entities=[])
        by_turn[(did, i)] = clusterer.add(f, n, f"r{n}").key
    index = {(t[0], t[1]): n for n, t in enumerate(turns)}
    situations = encode(embedder, [t[3] for t in turns])

    rows, results = [], {}

    def score(name: str, subset: Sequence[tuple[str, int, Turn, str]], pred: Sequence[Any]):
        gold = [t[2].gold for t in subset]
        nmi = normalized_mutual_info_score(gold, pred)
        ami = adjusted_mutual_info_score(gold, pred)
        pur = purity(gold, pred)
        k = len(set(pred))
        rows.append([name, len(subset), k, nmi, ami, pur])
        results[name] = {"n": len(subset), "k": k, "nmi": nmi, "ami": ami, "purity": pur}

    rng = np.random.default_rng(args.seed)
    for label, subset in (("all covered", covered), ("tracks ≥2", covered2)):
        spiral = [assigned[(t[0], t[1])] for t in subset]
        k_spiral = len(set(spiral))
        k_gold = len({t[2].gold for t in subset})
        vecs = responses[[index[(t[0], t[1])] for t in subset]]
        svecs = situations[[index[(t[0], t[1])] for t in subset]]
        km = KMeans(k_spiral, n_init=4, random_state=args.seed)
        score(f"[{label}] Spiral talk tracks (situations)", subset, spiral)
        score(
            f"[{label}] Clusterer on responses (0.45)",
            subset,
            [by_turn[(t[0], t[1])] for t in subset],
        )
        score(f"[{label}] k-means responses, k=Spiral", subset, km.fit_predict(vecs))
        score(
            f"[{label}] k-means responses, k=#gold",
            subset,
            KMeans(k_gold, n_init=4, random_state=args.seed).fit_predict(vecs),
        )
        score(f"[{label}] k-means situations, k=Spiral", subset, km.fit_predict(svecs))
        score(f"[{label}] random, k=Spiral", subset, rng.integers(0, k_spiral, len(subset)))
        score(f"[{label}] Spiral clusters shuffled", subset, list(rng.permutation(spiral)))
    print(table(["assignment", "turns", "clusters", "NMI", "AMI", "purity"], rows))
    gold_counts = Counter(t[2].gold for t in covered)
    print(
        f"gold labels ({len(gold_counts)}): "
        + ", ".join(f"{g} {c}" for g, c in gold_counts.most_common())
    )
    # what the biggest Spiral clusters hold
    top = Counter(assigned[(t[0], t[1])] for t in covered).most_common(5)
    by_id = {i.id: i for i in items}
    print("largest talk tracks, by the gold labels of their turns:")
    for item_id, n in top:
        labels = Counter(t[2].gold for t in covered if assigned[(t[0], t[1])] == item_id)
        mix = ", ".join(f"{g} {c}" for g, c in labels.most_common(4))
        print(f"  {n:4d}  {by_id[item_id].title[:50]:50s}  {mix}")
    return {
        "dialogues": len(dialogues),
        "ingest_s": round(seconds, 1),
        "externalize": report.model_dump(),
        "turns": len(turns),
        "labelled": len(labelled),
        "covered": len(covered),
        "covered_min2": len(covered2),
        "scores": results,
    }


# -- outcome prediction ---------------------------------------------------------------------


def outcome_prediction(args: argparse.Namespace, embedder: Embedder) -> dict[str, Any]:
    print("\n=== 2. Outcome prediction (PersuasionForGood, 733 dialogues, 50/50) ===", flush=True)
    dialogues = read_persuasion(args.persuasion, annotated=False)
    order = list(dialogues)
    random.Random(args.seed).shuffle(order)
    train, test = order[: len(order) // 2], order[len(order) // 2 :]
    log(
        f"train {len(train)} dialogues ({np.mean([d.converted for d in train]):.0%} donated), "
        f"test {len(test)} ({np.mean([d.converted for d in test]):.0%} donated)"
    )
    work = args.work / "persuasion-outcome"
    rt = open_runtime(work / "store", embedder)
    seconds, totals = ingest(rt, write_canonical(train, work / "input"))
    log(f"ingested train half ({totals['messages']} messages) in {fmt_s(seconds)}")
    report = externalize(rt.store, embedder)
    log(
        f"externalize(min_support=2): {report.situations} situations → {report.created} "
        f"talk tracks in {fmt_s(report.seconds)}"
    )

    started = time.perf_counter()
    test_turns = [(n, i, s) for n, d in enumerate(test) for i, s in d.situations()]
    sit_vecs = encode(embedder, [s for _, _, s in test_turns])
    resp_vecs = encode(embedder, [test[n].turns[i].text for n, i, _ in test_turns])
    items: dict[str, KnowledgeItem] = {}
    variant_vecs: dict[str, tuple[np.ndarray, list[float]]] = {}

    def estimate(query: np.ndarray, response: np.ndarray) -> tuple[float, bool]:
        hits = rt.store.vector_search(query.tolist(), k=1, labels=[Label.KNOWLEDGE_ITEM])
        if not hits:
            return 0.5, False
        item_id = hits[0].id
        if item_id not in items:
            node = rt.store.get_node(item_id)
            assert isinstance(node, KnowledgeItem)
            items[item_id] = node
            variants = [*node.responses, *node.avoid]
            variant_vecs[item_id] = (
                encode(embedder, [v.text for v in variants]),
                [v.score for v in variants],
            )
        item = items[item_id]
        vecs, scores = variant_vecs[item_id]
        if len(scores):
            sims = vecs @ response
            best = int(np.argmax(sims))
            if sims[best] >= VARIANT_COSINE:
                return scores[best], True
        return (item.successes + 1) / (item.trials + 2), False

    per_dialogue: dict[str, list[list[float]]] = {"situation": [], "response": []}
    matched = Counter()
    for key in per_dialogue:
        per_dialogue[key] = [[] for _ in test]
    for row, (n, _, _) in enumerate(test_turns):
        for key, query in (("situation", sit_vecs[row]), ("response", resp_vecs[row])):
            value, hit = estimate(query, resp_vecs[row])
            per_dialogue[key][n].append(value)
            matched[key] += hit
    lookup_s = time.perf_counter() - started
    log(
        f"scored {len(test_turns)} test persuader turns ×2 lookups in {fmt_s(lookup_s)}; "
        f"turn matched a response variant (cos ≥ {VARIANT_COSINE}): situation lookup "
        f"{matched['situation'] / len(test_turns):.0%}, response lookup "
        f"{matched['response'] / len(test_turns):.0%}"
    )
    rt.close()

    # baselines
    y = np.asarray([d.converted for d in test], dtype=int)
    global_rate = float(np.mean([d.converted for d in train]))
    by_worker: dict[str, list[bool]] = defaultdict(list)
    for d in train:
        by_worker[d.persuader].append(d.converted)
    seen = sum(d.persuader in by_worker for d in test)  # before the lookups below add keys
    prior = np.asarray(
        [
            (sum(by_worker[d.persuader]) + PRIOR_WEIGHT * global_rate)
            / (len(by_worker[d.persuader]) + PRIOR_WEIGHT)
            for d in test
        ]
    )

    train_turns = [(d, d.turns[i].text) for d in train for i, _ in d.situations()]
    train_vecs = encode(embedder, [t for _, t in train_turns])
    train_y = np.asarray([d.converted for d, _ in train_turns], dtype=float)
    nn_turn = train_y[np.argmax(resp_vecs @ train_vecs.T, axis=1)]
    nn = np.zeros(len(test))
    counts = np.zeros(len(test))
    for row, (n, _, _) in enumerate(test_turns):
        nn[n] += nn_turn[row]
        counts[n] += 1
    nn = nn / np.maximum(counts, 1)

    scores = {
        "Spiral: nearest track by situation": np.asarray(
            [np.mean(v) if v else 0.5 for v in per_dialogue["situation"]]
        ),
        "Spiral: nearest track by response": np.asarray(
            [np.mean(v) if v else 0.5 for v in per_dialogue["response"]]
        ),
        "constant 0.5": np.full(len(test), 0.5),
        "persuader prior (shrunk, a=2)": prior,
        "nearest train turn (response cos)": nn,
    }
    rows, results = [], {}
    for name, s in scores.items():
        if np.ptp(s) == 0:
            auc, lo, hi = 0.5, 0.5, 0.5
        else:
            auc, lo, hi = bootstrap_auc(y, s, args.seed)
        rows.append([name, auc, f"[{lo:.3f}, {hi:.3f}]", float(np.mean(s))])
        results[name] = {"auc": auc, "ci95": [lo, hi], "mean_score": float(np.mean(s))}
    print(table(["score", "AUC", "95% CI (bootstrap)", "mean"], rows))
    print(
        f"test dialogues {len(test)}, persuaders seen in train {seen} "
        f"({seen / len(test):.0%}); global train rate {global_rate:.3f}"
    )
    return {
        "train": len(train),
        "test": len(test),
        "ingest_s": round(seconds, 1),
        "externalize": report.model_dump(),
        "lookup_s": round(lookup_s, 1),
        "variant_match": {k: v / len(test_turns) for k, v in matched.items()},
        "auc": results,
    }


# -- JDDC -----------------------------------------------------------------------------------


def read_sessions(path: Path) -> list[list[str]]:
    """The file's lines grouped by session (sessions are contiguous), in order."""
    sessions: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            sessions.setdefault(line.split("\t", 1)[0], []).append(line.rstrip("\n"))
    return list(sessions.values())


def write_blocks(sessions: Sequence[list[str]], folder: Path, prefix: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, len(sessions), JDDC_BLOCK):
        path = folder / f"{prefix}-{start // JDDC_BLOCK:03d}.tsv"
        lines = [line for s in sessions[start : start + JDDC_BLOCK] for line in s]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def coverage(store: GraphStore) -> tuple[list[KnowledgeItem], int]:
    items = mined_items(store)
    return items, sum(i.evidence for i in items)


def jddc(args: argparse.Namespace, embedder: Embedder) -> dict[str, Any]:
    print("\n=== 3. JDDC: full vs incremental mining, coverage ===", flush=True)
    sessions = read_sessions(args.jddc)
    old, new = sessions[:-JDDC_NEW], sessions[-JDDC_NEW:]
    work = args.work / "jddc"
    old_paths = write_blocks(old, work / "input", "old")
    new_paths = write_blocks(new, work / "input", "new")
    log(
        f"{len(sessions)} sessions → {len(old)} in {len(old_paths)} files + {len(new)} in "
        f"{len(new_paths)} file ({JDDC_BLOCK} sessions per file)"
    )
    store_dir = work / "store"
    rt = open_runtime(store_dir, embedder)
    ingest_old, totals = ingest(rt, old_paths)
    log(f"ingested {len(old)} sessions ({totals['messages']} messages) in {fmt_s(ingest_old)}")
    rt.close()
    # the same store, kept aside: a from-scratch full run over all sessions, for reference
    reference_dir = work / "store-reference"
    shutil.copytree(store_dir, reference_dir)
    rt = open_runtime(store_dir, embedder)

    full = externalize(rt.store, embedder)
    log(
        f"full run: {full.situations} situations, {full.created} talk tracks, {fmt_s(full.seconds)}"
    )
    ingest_new, totals = ingest(rt, new_paths)
    log(f"ingested {len(new)} sessions ({totals['messages']} messages) in {fmt_s(ingest_new)}")
    incremental = externalize(rt.store, embedder)
    log(
        f"incremental run: {incremental.sources} sources, {incremental.situations} situations, "
        f"{incremental.created} created / {incremental.updated} updated, "
        f"{fmt_s(incremental.seconds)}"
    )
    items, covered = coverage(rt.store)
    rt.close()

    ref = open_runtime(reference_dir, embedder)
    ingest(ref, new_paths)
    reference = externalize(ref.store, embedder)
    ref_items, ref_covered = coverage(ref.store)
    ref.close()
    log(
        f"reference full run over all {len(sessions)}: {reference.situations} situations, "
        f"{reference.created} talk tracks, {fmt_s(reference.seconds)}"
    )

    mined = full.situations + incremental.situations
    print(
        table(
            ["run", "sessions", "situations", "talk tracks", "seconds", "vs full"],
            [
                [
                    f"full (first {len(old)})",
                    len(old),
                    full.situations,
                    full.created,
                    full.seconds,
                    "1.00",
                ],
                [
                    f"incremental (+{len(new)})",
                    len(new),
                    incremental.situations,
                    f"+{incremental.created} / ~{incremental.updated}",
                    incremental.seconds,
                    f"{incremental.seconds / max(full.seconds, 1e-9):.3f}",
                ],
                [
                    f"reference full ({len(sessions)})",
                    len(sessions),
                    reference.situations,
                    reference.created,
                    reference.seconds,
                    f"{reference.seconds / max(full.seconds, 1e-9):.3f}",
                ],
            ],
        )
    )
    ratio = incremental.seconds / max(full.seconds, 1e-9)
    print(f"incremental / full = {ratio:.1%} (goal ≤ 10%): {'met' if ratio <= 0.10 else 'NOT met'}")
    print(
        table(
            ["store", "talk tracks", "situations mined", "covered (Σ evidence)", "share"],
            [
                [
                    f"{len(old)} + {len(new)} incremental",
                    len(items),
                    mined,
                    covered,
                    covered / max(mined, 1),
                ],
                [
                    f"{len(sessions)} from scratch",
                    len(ref_items),
                    reference.situations,
                    ref_covered,
                    ref_covered / max(reference.situations, 1),
                ],
            ],
        )
    )
    sizes = Counter(min(i.evidence, 10) for i in items)
    print(
        "talk tracks by evidence: "
        + ", ".join(f"{k if k < 10 else '≥10'}: {sizes[k]}" for k in sorted(sizes))
    )
    print("ten talk tracks with the most evidence:")
    top = sorted(items, key=lambda i: (-i.evidence, i.id))[:10]
    rows = []
    for i in top:
        best = i.responses[0].text if i.responses else (i.avoid[0].text if i.avoid else "")
        rows.append([i.evidence, i.title[:40], " ".join(best.split())[:70]])
    print(table(["evidence", "title", "best response"], rows, align="rll"))
    return {
        "sessions": len(sessions),
        "ingest_old_s": round(ingest_old, 1),
        "ingest_new_s": round(ingest_new, 1),
        "full": full.model_dump(),
        "incremental": incremental.model_dump(),
        "reference": reference.model_dump(),
        "ratio": ratio,
        "talk_tracks": len(items),
        "situations": mined,
        "covered": covered,
        "reference_talk_tracks": len(ref_items),
        "reference_covered": ref_covered,
        "top": [{"evidence": i.evidence, "title": i.title} for i in top],
    }


# -- main -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persuasion", type=Path, default=DEFAULT_PERSUASION)
    parser.add_argument("--jddc", type=Path, default=DEFAULT_JDDC)
    parser.add_argument("--work", type=Path, default=None, help="stores and inputs (temp dir)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--skip-jddc", action="store_true")
    parser.add_argument("--skip-persuasion", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default: in --work)")
    args = parser.parse_args(argv)

    temp = None
    if args.work is None:
        temp = tempfile.TemporaryDirectory(prefix="spiral-externalize-")
        args.work = Path(temp.name)
    args.work.mkdir(parents=True, exist_ok=True)
    if any(args.work.iterdir()):
        raise SystemExit(f"--work {args.work} is not empty: give a fresh folder")
    started = time.perf_counter()
    embedder = LazyEmbedder(Settings().embedding_model, 64)
    results: dict[str, Any] = {"machine": machine_info(), "seed": args.seed}
    phases: list[list[Any]] = []
    try:
        steps: list[tuple[str, Any]] = []
        if not args.skip_persuasion:
            steps += [("clusters", clusters_vs_annotators), ("outcome", outcome_prediction)]
        if not args.skip_jddc:
            steps += [("jddc", jddc)]
        for name, step in steps:
            t0 = time.perf_counter()
            results[name] = step(args, embedder)
            phases.append([name, time.perf_counter() - t0])
        total = time.perf_counter() - started
        print("\n=== phases ===")
        print(table(["phase", "seconds"], [*phases, ["total", total]]))
        out = args.out or args.work / "externalize.json"
        if temp is not None and args.out is None:
            out = None  # the temp folder goes away; nothing worth writing there
        if out is not None:
            write_json(out, results)
            print(f"results: {out}")
    finally:
        if temp is not None:
            temp.cleanup()


if __name__ == "__main__":
    main()
