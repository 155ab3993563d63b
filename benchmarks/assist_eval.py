"""What should I say? Spiral's suggestions next to plain lexical and plain dense retrieval.

Every figure compares three ways of answering on the SAME store in the SAME run:
Spiral (`seci.assist.suggest`, with the conversation so far when there is one) and the two
one-sided baselines `seci.assist.baseline(mode="lexical")` and `baseline(mode="dense")`, which
get the query text alone. Knowledge goes in through the real ingest pipeline (`Ingestor`) into a
fresh embedded store in a temporary folder, embedded with the packaged model, chunked exactly as
production does. Suggestions marked `opening` (an opening line, an extra) are not scored.

Three parts (`--sets`):

- labelled: the bundled sample corpus (examples/docs, transcripts, notes) and the hand-labelled
  queries in benchmarks/data/assist_queries.jsonl (paraphrased customer questions, Chinese and
  English, some with the conversation so far). A suggestion is right when one of its sources'
  uri ends with a gold `uri_endswith` and its text contains the gold `contains` (whitespace
  removed, case ignored). Recall@1, Recall@3 and MRR@5, for all queries and split by zh / en /
  with context; once on documents and transcripts, once more after mining (externalize).
  Every gold is checked against the corpus first: one that does not occur stops the run.
- jddc: JDDC 2019 (real JD.com chats). Sessions sorted by id; the first 80% become canonical
  transcript JSON files in a temporary folder and are ingested; from the other 20% up to 300
  customer turns (fixed seed; consecutive messages of one speaker form a turn) that an
  employee turn follows are asked, with up to 4 preceding turns as context. The reference is
  the employee turn that really followed; the score is the character F1 (bag of characters,
  whitespace removed) of the best of the top 3 suggestions and of the top 1. A fourth row,
  nearest neighbour, answers with the reply to the most similar stored customer message.
- intents: banking77, clinc150, hint3 v2 (the loaders of fusion_eval.py). Per intent up to 10
  examples become ONE knowledge document, `<intent>.md`: a heading and the example questions
  as a bullet list, the way an FAQ lists the many ways customers ask one thing; one store per
  data set (per business for hint3). The other examples are queries (at most 1000 per data
  set). A query is right at k when a top-k suggestion comes from `/<intent>.md`.

Eval data is read in place from DATA_DIR (default SPIRAL_EVAL_DATA or ../shared/eval/data) and
never copied into the repository. Results: benchmarks/results/assist_eval.json.

    .venv/bin/python benchmarks/assist_eval.py                   # full run (tens of minutes)
    .venv/bin/python benchmarks/assist_eval.py --quick           # smoke run (a few minutes)
    .venv/bin/python benchmarks/assist_eval.py --sets labelled   # one part
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import RESULTS, ROOT, data_dir, machine_info, table, write_json
from fusion_eval import Dataset, load_banking77, load_clinc150, load_hint3, prepare

from graph.embedded import EmbeddedStore
from graph.embeddings import get_embedder
from graph.model import Label, Message
from graph.settings import Settings
from graph.store import GraphStore, NodeQuery, iter_nodes
from ingest.pipeline import Ingestor
from seci.assist import AskOptions, AskRequest, Suggestion, Turn, baseline, suggest
from seci.externalize import externalize

K = 5  # suggestions asked for
SPIRAL, LEXICAL, DENSE = "Spiral", "lexical-only", "dense-only"
NO_CONTEXT = "Spiral, query only"  # labelled: what the conversation so far adds
NEAREST = "nearest neighbour"  # jddc: the reply to the most similar customer message
BASELINES = {LEXICAL: "lexical", DENSE: "dense"}
SETS = ("labelled", "jddc", "intents")
LABELLED = ROOT / "benchmarks" / "data" / "assist_queries.jsonl"
EXAMPLES = ROOT / "examples"
CORPUS = ("docs", "transcripts", "notes")
JDDC_CONTEXT = 4  # preceding turns given as context
INTENT_KNOWLEDGE = 10  # example questions per intent document
PROGRESS_EVERY = 100


# -- asking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Said:
    """One turn of a conversation: who and what."""

    role: str  # customer | employee
    text: str


@dataclass
class Env:
    """What every part shares: the model, the settings, a scratch folder."""

    embedder: Any
    settings: Settings
    tmp: Path
    seed: int

    @property
    def options(self) -> AskOptions:
        """Spiral tuned from the settings, as api/runtime.py does."""
        return AskOptions.from_settings(self.settings)


def ask(
    system: str, store: GraphStore, env: Env, query: str, context: Sequence[Said] = ()
) -> list[Suggestion]:
    """The suggestions one system makes, best first, opening lines left out."""
    if system in BASELINES:
        result = baseline(store, env.embedder, query, mode=BASELINES[system], top_k=K)
    else:
        turns = [Turn(role=s.role, text=s.text) for s in context] if system == SPIRAL else []
        request = AskRequest(query=query, context=turns)
        result = suggest(store, env.embedder, request, top_k=K, options=env.options)
    return [s for s in result.suggestions if not s.opening]


def uris(suggestion: Suggestion) -> list[str]:
    return [ref.uri for ref in suggestion.sources]


def squash(text: str) -> str:
    """Text compared without whitespace and case (chunking re-flows lines and markup)."""
    return re.sub(r"\s+", "", text).casefold()


class Progress:
    """A line on stderr every PROGRESS_EVERY queries."""

    def __init__(self, name: str, total: int) -> None:
        self.name, self.total, self.done, self.started = name, total, 0, time.perf_counter()

    def step(self) -> None:
        self.done += 1
        if self.done % PROGRESS_EVERY == 0 or self.done == self.total:
            elapsed = time.perf_counter() - self.started
            print(f"  {self.name}: {self.done}/{self.total} ({elapsed:.0f}s)", file=sys.stderr)


def open_store(env: Env, name: str) -> EmbeddedStore:
    return EmbeddedStore.open(env.tmp / f"{name}.sqlite")


def ingest(store: GraphStore, env: Env, paths: Sequence[Path]) -> dict[str, Any]:
    """The production pipeline over files or folders; failures are reported, not fatal."""
    report = Ingestor(store, env.embedder, env.settings).ingest(list(paths))
    for failed in (f for f in report.files if f.status == "failed"):
        print(f"  ingest failed: {failed.uri}: {failed.reason}", file=sys.stderr)
    return {**report.totals(), "seconds": round(report.seconds, 1)}


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else float("nan")


def headline(name: str, metric: str, scores: dict[str, float], systems: Sequence[str]) -> str:
    best = max(systems, key=lambda s: scores[s])
    gap = scores[SPIRAL] - scores[best]
    return f"{name}: Spiral − best baseline ({best}) on {metric}: {gap:+.3f}"


# -- labelled -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gold:
    uri_endswith: str
    contains: str

    def matches(self, suggestion: Suggestion) -> bool:
        from_file = any(u.endswith(self.uri_endswith) for u in uris(suggestion))
        return from_file and squash(self.contains) in squash(suggestion.text)


@dataclass
class LabelledQuery:
    id: str
    lang: str
    query: str
    gold: list[Gold]
    context: list[Said] = field(default_factory=list)
    note: str = ""


def load_labelled(path: Path) -> list[LabelledQuery]:
    queries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        queries.append(
            LabelledQuery(
                id=row["id"],
                lang=row["lang"],
                query=row["query"],
                gold=[Gold(g["uri_endswith"], g["contains"]) for g in row["gold"]],
                context=[Said(t["role"], t["text"]) for t in row.get("context", [])],
                note=row.get("note", ""),
            )
        )
    return queries


def check_golds(queries: Sequence[LabelledQuery], corpus: Path) -> None:
    """Stop with a list when a gold names no corpus file or its text is not in that file."""
    files = [p for folder in CORPUS for p in (corpus / folder).rglob("*") if p.is_file()]
    texts = {p: squash(p.read_text(encoding="utf-8")) for p in files}
    problems = []
    for q in queries:
        if not q.gold:
            problems.append(f"{q.id}: no gold")
        for g in q.gold:
            named = [p for p in files if str(p).endswith(g.uri_endswith)]
            if len(named) != 1:
                problems.append(f"{q.id}: {g.uri_endswith!r} names {len(named)} corpus files")
            elif squash(g.contains) not in texts[named[0]]:
                problems.append(f"{q.id}: {g.contains!r} does not occur in {named[0].name}")
    ids = Counter(q.id for q in queries)
    problems += [f"{i}: id used {n} times" for i, n in ids.items() if n > 1]
    if problems:
        raise SystemExit("bad gold answers in the labelled set:\n  " + "\n  ".join(problems))


def unreachable_golds(store: GraphStore, queries: Sequence[LabelledQuery]) -> list[str]:
    """Golds no stored chunk or message holds whole (split by chunking, changed by
    de-identification): no system can find those, so they are worth knowing about."""
    texts: dict[str, list[str]] = defaultdict(list)
    for label in (Label.CHUNK, Label.MESSAGE):
        for node in iter_nodes(store, NodeQuery(label=label, limit=1000)):
            texts[getattr(node, "uri", "")].append(squash(getattr(node, "text", "")))
    missing = []
    for q in queries:
        for g in q.gold:
            held = (t for u, ts in texts.items() if u.endswith(g.uri_endswith) for t in ts)
            if not any(squash(g.contains) in t for t in held):
                missing.append(f"{q.id}: {g.contains!r} in {g.uri_endswith}")
    return missing


def rank_of_answer(suggestions: Sequence[Suggestion], gold: Sequence[Gold]) -> int | None:
    """1-based rank of the first right suggestion within K, None when none is."""
    for rank, s in enumerate(suggestions[:K], start=1):
        if any(g.matches(s) for g in gold):
            return rank
    return None


def labelled_metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    return {
        "R@1": mean(r is not None and r <= 1 for r in ranks),
        "R@3": mean(r is not None and r <= 3 for r in ranks),
        "MRR@5": mean(1 / r if r else 0.0 for r in ranks),
        "n": len(ranks),
    }


LABELLED_SPLITS: dict[str, Callable[[LabelledQuery], bool]] = {
    "all": lambda q: True,
    "zh": lambda q: q.lang == "zh",
    "en": lambda q: q.lang == "en",
    "context": lambda q: bool(q.context),
}


def score_labelled(
    store: GraphStore, env: Env, queries: Sequence[LabelledQuery], stage: str
) -> dict[str, Any]:
    systems = [SPIRAL, NO_CONTEXT, LEXICAL, DENSE]
    ranks: dict[str, dict[str, int | None]] = {s: {} for s in systems}
    progress = Progress(f"labelled ({stage})", len(queries))
    for q in queries:
        for system in systems:
            if system == NO_CONTEXT and not q.context:
                ranks[system][q.id] = ranks[SPIRAL][q.id]  # the same call
                continue
            got = ask(system, store, env, q.query, q.context)
            ranks[system][q.id] = rank_of_answer(got, q.gold)
        progress.step()
    metrics = {
        system: {
            split: labelled_metrics([ranks[system][q.id] for q in queries if keep(q)])
            for split, keep in LABELLED_SPLITS.items()
        }
        for system in systems
    }
    return {"metrics": metrics, "ranks": ranks}


def print_labelled(stage: str, metrics: dict[str, Any]) -> None:
    splits = list(LABELLED_SPLITS)
    sizes = ", ".join(f"{s} {metrics[SPIRAL][s]['n']}" for s in splits)
    print(f"\nlabelled, {stage} (queries: {sizes})")
    columns = ("R@1", "R@3", "MRR@5")
    body = [
        [system, *(metrics[system][s][c] for s in splits for c in columns)] for system in metrics
    ]
    print(grouped_table(splits, columns, body))


def labelled_on(
    store: GraphStore, env: Env, queries: Sequence[LabelledQuery], mining: bool, backend: str
) -> dict[str, Any]:
    """Ingest the sample corpus into an empty store and score every system on it, once on
    documents and transcripts, once more after mining (when `mining`)."""
    report: dict[str, Any] = {"stages": {}}
    report["ingest"] = ingest(store, env, [EXAMPLES / folder for folder in CORPUS])
    report["golds_not_in_store"] = missing = unreachable_golds(store, queries)
    for line in missing:
        print(f"  warning: gold held by no stored chunk or message: {line}", file=sys.stderr)
    for stage in ["documents+transcripts", *(["after mining"] if mining else [])]:
        if stage == "after mining":
            mined = externalize(store, env.embedder, full=True)
            report["mining"] = {"created": mined.created, "seconds": round(mined.seconds, 1)}
        name = stage if backend == "embedded" else f"{stage}, {backend}"
        result = score_labelled(store, env, queries, name)
        report["stages"][stage] = result
        print_labelled(name, result["metrics"])
        r3 = {s: result["metrics"][s]["all"]["R@3"] for s in result["metrics"]}
        print(headline(f"labelled ({name})", "Recall@3", r3, list(BASELINES)))
    return report


def run_labelled(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    queries = load_labelled(args.labelled)
    check_golds(queries, EXAMPLES)
    report: dict[str, Any] = {"queries": len(queries)}
    store = open_store(env, "labelled")
    try:
        report["embedded"] = labelled_on(store, env, queries, not args.no_mining, "embedded")
    finally:
        store.close()
    if args.neo4j_uri:
        report["neo4j"] = labelled_on_neo4j(env, args, queries)
    return report


def labelled_on_neo4j(
    env: Env, args: argparse.Namespace, queries: Sequence[LabelledQuery]
) -> dict[str, Any]:
    """The labelled part on a Neo4j server (NEO4J_USER / NEO4J_PASSWORD from the settings).
    Its database must be empty: the run fills it and empties it again afterwards."""
    from graph.neo4j_store import Neo4jStore

    s = env.settings
    password = s.neo4j_password.get_secret_value()
    auth = (s.neo4j_user, password) if password else None
    store = Neo4jStore.connect(args.neo4j_uri, auth=auth, database=s.neo4j_database)
    try:
        if store.stats().total_nodes:
            raise SystemExit(f"the Neo4j database at {args.neo4j_uri} is not empty: not touched")
        try:
            return labelled_on(store, env, queries, not args.no_mining, "neo4j")
        finally:
            store.clear()
    finally:
        store.close()


# -- jddc -----------------------------------------------------------------------------------


@dataclass
class Session:
    id: str
    messages: list[Said]

    def turn_of(self) -> list[int]:
        """The turn each message belongs to: consecutive messages of one speaker are a turn."""
        owner: list[int] = []
        for i, m in enumerate(self.messages):
            same = i > 0 and self.messages[i - 1].role == m.role
            owner.append(owner[-1] if same else (owner[-1] + 1 if owner else 0))
        return owner

    def turns(self) -> list[Said]:
        texts: dict[int, list[str]] = defaultdict(list)
        roles: dict[int, str] = {}
        for m, t in zip(self.messages, self.turn_of(), strict=True):
            texts[t].append(m.text)
            roles[t] = m.role
        return [Said(roles[t], "\n".join(texts[t])) for t in sorted(texts)]


@dataclass(frozen=True)
class Exchange:
    """A customer turn, the turns before it, and the employee turn that really followed."""

    session: str
    query: str
    context: tuple[Said, ...]
    reference: str


def read_sessions(path: Path) -> list[Session]:
    """JDDC sessions (TSV: session, user, is_agent, flag, flag, sku, text), sorted by id."""
    by_id: dict[str, list[Said]] = defaultdict(list)
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 7 and parts[-1].strip():
                role = "employee" if parts[2] == "1" else "customer"
                by_id[parts[0]].append(Said(role, parts[-1].strip()))
    return [Session(sid, by_id[sid]) for sid in sorted(by_id)]


def write_transcripts(sessions: Sequence[Session], folder: Path) -> None:
    """One canonical transcript JSON file per session (DESIGN.md), named after its id."""
    folder.mkdir(parents=True, exist_ok=True)
    for s in sessions:
        record = {
            "id": s.id,
            "channel": "jddc",
            "messages": [{"role": m.role, "text": m.text} for m in s.messages],
        }
        (folder / f"{s.id}.json").write_text(json.dumps(record, ensure_ascii=False), "utf-8")


def sample_exchanges(sessions: Sequence[Session], n: int, seed: int) -> list[Exchange]:
    """Up to n customer turns that an employee turn follows (fixed seed)."""
    pool = []
    for s in sessions:
        turns = s.turns()
        for i, (turn, following) in enumerate(itertools.pairwise(turns)):
            if turn.role == "customer" and following.role == "employee":
                context = tuple(turns[max(0, i - JDDC_CONTEXT) : i])
                pool.append(Exchange(s.id, turn.text, context, following.text))
    return random.Random(f"{seed}:jddc").sample(pool, min(n, len(pool)))


def char_f1(prediction: str, reference: str) -> float:
    """F1 over characters (whitespace removed), each counted with its multiplicity."""
    pred, ref = Counter(re.sub(r"\s+", "", prediction)), Counter(re.sub(r"\s+", "", reference))
    overlap = sum((pred & ref).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


class NearestNeighbour:
    """Answers with the employee turn that followed the stored customer message most similar
    to the query (by the model's vectors): the plainest "what was said last time"."""

    def __init__(self, store: GraphStore, env: Env, sessions: Sequence[Session]) -> None:
        self.store, self.embedder = store, env.embedder
        self.reply: dict[tuple[str, int], str] = {}  # (session id, message position) → reply
        for s in sessions:
            turns = s.turns()
            for position, t in enumerate(s.turn_of()):
                if turns[t].role == "customer" and t + 1 < len(turns):
                    self.reply[(s.id, position)] = turns[t + 1].text

    def answer(self, query: str) -> list[str]:
        vector = self.embedder.encode([query])[0].tolist()
        for hit in self.store.vector_search(vector, 50, [Label.MESSAGE]):
            node = self.store.get_node(hit.id)
            if isinstance(node, Message) and node.role == "customer":
                key = (Path(node.uri).stem, node.position)
                if key in self.reply:
                    return [self.reply[key]]
        return []


def run_jddc(env: Env, args: argparse.Namespace, quick: bool) -> dict[str, Any]:
    sessions = read_sessions(args.data_dir / "jddc2019" / "chat_0.1per.txt")
    cut = int(len(sessions) * 0.8)
    train, test = sessions[:cut], sessions[cut:]
    if args.jddc_train:  # a smaller knowledge base for smoke runs: the first N of the 80%
        train = train[: args.jddc_train]
    cases = sample_exchanges(test, args.jddc_queries or (60 if quick else 300), env.seed)
    folder = env.tmp / "jddc"
    write_transcripts(train, folder)
    report: dict[str, Any] = {
        "sessions": len(sessions),
        "ingested_sessions": len(train),
        "test_sessions": len(test),
        "queries": len(cases),
    }
    store = open_store(env, "jddc")
    try:
        report["ingest"] = ingest(store, env, [folder])
        nearest = NearestNeighbour(store, env, train)
        systems = [SPIRAL, LEXICAL, DENSE, NEAREST]
        best3: dict[str, list[float]] = {s: [] for s in systems}
        top1: dict[str, list[float]] = {s: [] for s in systems}
        progress = Progress("jddc", len(cases))
        for case in cases:
            for system in systems:
                if system == NEAREST:
                    texts = nearest.answer(case.query)
                else:
                    texts = [s.text for s in ask(system, store, env, case.query, case.context)]
                scores = [char_f1(t, case.reference) for t in texts[:3]]
                best3[system].append(max(scores, default=0.0))
                top1[system].append(scores[0] if scores else 0.0)
            progress.step()
    finally:
        store.close()
    metrics = {s: {"F1 best of 3": mean(best3[s]), "F1 top 1": mean(top1[s])} for s in systems}
    report["metrics"] = metrics
    print(
        f"\njddc ({report['ingested_sessions']} sessions ingested, "
        f"{report['ingest']['messages']:,} messages; {len(cases)} customer turns asked)"
    )
    columns = ["F1 best of 3", "F1 top 1"]
    print(table(["system", *columns], [[s, *(metrics[s][c] for c in columns)] for s in systems]))
    scores = {s: metrics[s]["F1 best of 3"] for s in systems}
    print(headline("jddc", "F1 best of 3", scores, [LEXICAL, DENSE, NEAREST]))
    return report


# -- intents --------------------------------------------------------------------------------


INTENT_LOADERS = {"banking77": load_banking77, "clinc150": load_clinc150, "hint3": load_hint3}


def intent_file(intent: str) -> str:
    return re.sub(r"[^\w.-]+", "_", intent) + ".md"


def write_faq(knowledge: Sequence[tuple[str, str]], folder: Path) -> dict[str, str]:
    """One markdown document per intent: a heading, then its example questions as bullets.
    Returns file name → intent."""
    folder.mkdir(parents=True, exist_ok=True)
    grouped: dict[str, list[str]] = defaultdict(list)
    for text, intent in knowledge:
        grouped[intent].append(" ".join(text.split()))
    names: dict[str, str] = {}
    for intent, texts in sorted(grouped.items()):
        name = intent_file(intent)
        if name in names:
            raise ValueError(f"intents {names[name]!r} and {intent!r} share the file {name}")
        names[name] = intent
        title = intent.replace("_", " ").strip().lower().capitalize()
        body = "\n".join(f"- {t}" for t in texts[:INTENT_KNOWLEDGE])
        (folder / name).write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
    return names


def intent_rank(suggestions: Sequence[Suggestion], intent: str) -> int | None:
    suffix = "/" + intent_file(intent)
    for rank, s in enumerate(suggestions[:K], start=1):
        if any(u.endswith(suffix) for u in uris(s)):
            return rank
    return None


def score_intents(dataset: Dataset, env: Env) -> dict[str, Any]:
    systems = [SPIRAL, LEXICAL, DENSE]
    ranks: dict[str, list[int | None]] = {s: [] for s in systems}
    facts: dict[str, Any] = {}
    progress = Progress(dataset.name, sum(len(p.queries) for p in dataset.parts))
    for part in dataset.parts:
        if not part.queries:
            continue
        folder = env.tmp / "intents" / part.name
        documents = write_faq(part.knowledge, folder)
        store = open_store(env, f"intents-{part.name}")
        try:
            facts[part.name] = {
                "documents": len(documents),
                "queries": len(part.queries),
                "ingest": ingest(store, env, [folder]),
            }
            for text, intent in part.queries:
                for system in systems:
                    ranks[system].append(intent_rank(ask(system, store, env, text), intent))
                progress.step()
        finally:
            store.close()
    metrics = {
        s: {
            "R@1": mean(r is not None and r <= 1 for r in ranks[s]),
            "R@5": mean(r is not None for r in ranks[s]),
        }
        for s in systems
    }
    return {"metrics": metrics, "queries": len(ranks[SPIRAL]), "parts": facts}


def run_intents(env: Env, args: argparse.Namespace, quick: bool) -> dict[str, Any]:
    cap = args.max_queries or (150 if quick else 1000)
    report: dict[str, Any] = {"max_queries": cap, "datasets": {}}
    names = [n.strip() for n in args.intent_sets.split(",") if n.strip()]
    for name in names:
        dataset = INTENT_LOADERS[name](env.seed)
        prepare(dataset, cap, env.seed)
        report["datasets"][name] = score_intents(dataset, env)
    systems = [SPIRAL, LEXICAL, DENSE]
    results = report["datasets"]
    sizes = ", ".join(f"{n} {results[n]['queries']}" for n in names)
    print(f"\nintents (one document per intent; queries: {sizes})")
    metrics = ("R@1", "R@5")
    body = [[s, *(results[n]["metrics"][s][m] for n in names for m in metrics)] for s in systems]
    print(grouped_table(names, metrics, body))
    for n in names:
        scores = {s: results[n]["metrics"][s]["R@1"] for s in systems}
        print(headline(f"intents {n}", "Recall@1", scores, list(BASELINES)))
    return report


# -- output ---------------------------------------------------------------------------------


def grouped_table(
    groups: Sequence[str], columns: Sequence[str], body: Sequence[Sequence[Any]]
) -> str:
    """common.table with a header line naming each group over its columns."""
    plain = table(["system", *(c for _ in groups for c in columns)], body)
    lines = plain.split("\n")
    widths = [len(cell) for cell in lines[1].split("  ")]
    n = len(columns)
    header = ["".ljust(widths[0])]
    for i, name in enumerate(groups):
        span = sum(widths[1 + n * i : 1 + n * (i + 1)]) + 2 * (n - 1)
        header.append(name.center(span))
    return "\n".join(["  ".join(header).rstrip(), *lines])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=None, help="eval data folder")
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer queries")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ",".join(SETS))
    parser.add_argument("--labelled", type=Path, default=LABELLED, help="labelled queries (JSONL)")
    parser.add_argument("--no-mining", action="store_true", help="labelled: skip 'after mining'")
    parser.add_argument("--jddc-queries", type=int, default=None, help="jddc turns (300; quick 60)")
    parser.add_argument(
        "--jddc-train",
        type=int,
        default=None,
        help="ingest only the first N of the 80%% training sessions (all; quick 200)",
    )
    parser.add_argument("--intent-sets", default=",".join(INTENT_LOADERS))
    parser.add_argument("--max-queries", type=int, default=None, help="intents: per data set")
    parser.add_argument(
        "--neo4j-uri",
        default=None,
        help="labelled: also run on this Neo4j server (its database must be empty)",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=RESULTS / "assist_eval.json")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    args.data_dir = args.data_dir or data_dir()
    if args.quick and args.jddc_train is None:
        args.jddc_train = 200
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    if unknown := [s for s in sets if s not in SETS]:
        parser.error(f"unknown sets {unknown}; choose from {list(SETS)}")
    if {"jddc", "intents"} & set(sets) and not args.data_dir.is_dir():
        print(f"eval data not found at {args.data_dir} (set SPIRAL_EVAL_DATA)", file=sys.stderr)
        return 2

    started = time.perf_counter()
    settings = Settings()
    embedder = get_embedder(
        settings.embedding_model, settings.embedding_batch_size, settings.query_encoder
    )
    print(f"model {embedder.name} loaded in {time.perf_counter() - started:.1f}s")
    report: dict[str, Any] = {"seconds": {}}
    runners = {
        "labelled": lambda env: run_labelled(env, args),
        "jddc": lambda env: run_jddc(env, args, args.quick),
        "intents": lambda env: run_intents(env, args, args.quick),
    }
    with tempfile.TemporaryDirectory(prefix="spiral-assist-") as tmp:
        env = Env(embedder, settings, Path(tmp), args.seed)
        for name in sets:
            t0 = time.perf_counter()
            report[name] = runners[name](env)
            report["seconds"][name] = round(time.perf_counter() - t0, 1)
            print(f"{name}: {report['seconds'][name]:.0f}s")
    elapsed = time.perf_counter() - started
    print(f"total {elapsed:.0f}s")
    report.update(
        {
            "config": {
                "k": K,
                "sets": sets,
                "quick": args.quick,
                "seed": args.seed,
                "model": embedder.name,
                "store": "embedded" + (" and neo4j (labelled)" if args.neo4j_uri else ""),
                "data_dir": str(args.data_dir),
                "labelled": str(args.labelled),
            },
            "machine": machine_info(),
            "total_seconds": round(elapsed, 1),
        }
    )
    write_json(args.out, report)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
