"""Grouping similar situations (or notes): one pass, deterministic, incremental.

Why a leader clusterer and not k-means: mining runs again every time conversations arrive and
must only touch the clusters the new ones join, and nobody knows the number of situations in
advance. Each text joins the most similar cluster above a threshold, or starts its own.

Similarity mixes three signals, because the default model is English-only: the embedding's
cosine, the overlap of content words (jieba for Chinese, so 太贵 matches 有点贵), and the
entities both name (product, objection, need, policy, competitor). Chinese leans on words.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from graph.text import normalize, search_tokens

__all__ = ["NO", "Cluster", "Clusterer", "Features", "content_tokens", "situation_terms"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_STOP_ZH = _words(
    """
    的 了 吗 呢 吧 啊 呀 哦 嗯 么 是 我 你 您 他 她 它 我们 你们 他们 这 那 这个 那个
    就 都 也 还 在 有 和 跟 与 要 会 能 可以 一下 一个 什么 怎么 亲 亲亲 请问 请 好 好的 谢谢
    哈 哈哈 嘛 啦 额 呃 哎 噢 喔 嗷 哟 吖 滴 得 地 着 过 被 把 给 让 对 又 再
    很 太 个 些 不 没 不能 不会 不想 不要 没有 不用 不行 不了 能不能 可不可以 可不 不可
    么么哒 客服 在吗 ok 嗯嗯 恩 恩恩 在不 在么 在嘛 你好 您好 在的 哈喽
    """
)
_STOP_EN = _words(
    """
    a an the and or but if to of in on at for with
    by from is are was were be been am i you he she it
    we they me my your our their this that these those do does did
    have has had will would can could should so just not no yes ok
    okay hi hello thanks thank please what how why when where which who there
    here about as up out all any some very really too also than then
    its don didn doesn isn wasn won couldn wouldn shouldn yeah sure well
    """
)
WEIGHTS = {"zh": (0.25, 0.40, 0.35), "en": (0.70, 0.15, 0.15)}  # vector, words, entities
# Cosine that unrelated texts reach anyway: the default model is English-only, so any two
# Chinese sentences look alike to it. Below the floor a cosine says nothing.
FLOORS = {"zh": 0.5, "en": 0.15}
NO = "(no)"
POLARITY_PENALTY = 0.5  # a "no" joining a cluster of "yes" (or back) needs twice the likeness
_NEGATION_EN = re.compile(r"\b(?:not|no|never|cannot|can't|won't|don't|didn't|isn't|nope)\b|n't\b")
_NEGATION_ZH = ("不能", "不会", "不想", "不要", "没有", "不用", "不行", "不了", "不需要", "不可以")
_A_NOT_A = re.compile(r"(\w)[不没]\1")
_PLACEHOLDER = re.compile(r"\[[^\[\]]{1,12}\]")  # [PHONE], [数字x]: de-identified values


def content_tokens(text: str) -> list[str]:
    """Words that carry the topic: jieba tokens without function words, bare numbers, or the
    fragments an apostrophe leaves ("don't" → don, t)."""
    return [
        t
        for t in dict.fromkeys(search_tokens(_PLACEHOLDER.sub(" ", text)))
        if t not in _STOP_ZH
        and t not in _STOP_EN
        and not t.isdigit()
        and not (t.isascii() and len(t) < 3)
    ]


def situation_terms(text: str) -> list[str]:
    """Content words, plus NO when the customer says no: "I can't donate" is another
    situation than "I'd donate", and the marker's count in a cluster tells its polarity."""
    lowered = _A_NOT_A.sub("", normalize(text))  # 能不能 / 是不是 ask, they do not say no
    no = bool(_NEGATION_EN.search(lowered)) or any(cue in lowered for cue in _NEGATION_ZH)
    return content_tokens(text) + ([NO] if no else [])


@dataclass
class Features:
    vector: np.ndarray  # unit length
    tokens: list[str]
    entities: list[str]
    language: str = "en"
    intents: list[str] = field(default_factory=list)  # objection / need entity ids


@dataclass
class Cluster:
    """A running summary of the members: vector sum, word and entity counts."""

    key: str
    vector_sum: np.ndarray
    n: int = 0
    tokens: Counter[str] = field(default_factory=Counter)
    entities: Counter[str] = field(default_factory=Counter)
    intents: Counter[str] = field(default_factory=Counter)
    members: list[int] = field(default_factory=list)  # indexes of texts added in this run
    existing: bool = False  # stands for an item already in the store
    _tok_sq: float = 0.0
    _ent_sq: float = 0.0

    @classmethod
    def from_profile(
        cls,
        key: str,
        centroid: np.ndarray,
        n: int,
        tokens: dict[str, int],
        entities: dict[str, int],
        intents: dict[str, int],
    ) -> Cluster:
        """An existing item as a cluster: its centroid, evidence and word / entity counts."""
        cluster = cls(key=key, vector_sum=centroid * max(n, 1), n=n, existing=True)
        cluster.tokens.update(tokens)
        cluster.entities.update(entities)
        cluster.intents.update(intents)
        cluster._tok_sq = float(sum(c * c for t, c in tokens.items() if t != NO))
        cluster._ent_sq = float(sum(c * c for c in entities.values()))
        return cluster

    def add(self, f: Features, index: int | None = None) -> None:
        self.vector_sum = self.vector_sum + f.vector
        self.n += 1
        self._tok_sq += _bump(self.tokens, [t for t in f.tokens if t != NO])
        self.tokens[NO] += NO in f.tokens  # polarity is counted, not matched as a word
        self._ent_sq += _bump(self.entities, f.entities)
        self.intents.update(set(f.intents))
        if index is not None:
            self.members.append(index)

    @property
    def centroid(self) -> np.ndarray:
        norm = float(np.linalg.norm(self.vector_sum))
        return self.vector_sum / norm if norm else self.vector_sum

    @property
    def cohesion(self) -> float:
        """Mean resultant length of the member vectors: 1 when all point the same way."""
        return float(np.linalg.norm(self.vector_sum)) / self.n if self.n else 0.0

    def similarity(self, f: Features) -> float:
        w_vec, w_tok, w_ent = WEIGHTS.get(f.language, WEIGHTS["en"])
        if f.intents and self.intents and not set(f.intents) & set(self.intents):
            return 0.0  # another objection or need: another situation, however alike
        floor = FLOORS.get(f.language, FLOORS["en"])
        vec = max(0.0, (float(np.dot(f.vector, self.centroid)) - floor) / (1 - floor))
        tok = _overlap([t for t in f.tokens if t != NO], self.tokens, self._tok_sq)
        if not f.entities and not self.entities:
            score = (w_vec * vec + w_tok * tok) / (w_vec + w_tok)
        else:
            ent = _overlap(f.entities, self.entities, self._ent_sq)
            score = w_vec * vec + w_tok * tok + w_ent * ent
        return score * (POLARITY_PENALTY if self._opposite(NO in f.tokens) else 1.0)

    def _opposite(self, no: bool) -> bool:
        """The cluster clearly says the opposite (three quarters of its members agree)."""
        share = self.tokens.get(NO, 0) / self.n if self.n else 0.5
        return (share >= 0.75 and not no) or (share <= 0.25 and no)


def _bump(counts: Counter[str], items: Iterable[str]) -> float:
    """Add one to each item's count; the change in the sum of squared counts."""
    delta = 0.0
    for item in set(items):
        delta += 2 * counts[item] + 1
        counts[item] += 1
    return delta


def _overlap(items: Sequence[str], counts: Counter[str], sum_sq: float) -> float:
    """Cosine between a set of words and the cluster's word counts."""
    if not items or not sum_sq:
        return 0.0
    dot = sum(counts.get(t, 0) for t in set(items))
    return dot / math.sqrt(len(set(items)) * sum_sq)


class Clusterer:
    """Adds texts one at a time; candidates come from the nearest centroids and from shared
    words, so a pass costs O(texts x candidates), not O(texts x clusters) in Python."""

    def __init__(self, threshold: float, dim: int, candidates: int = 12) -> None:
        self.threshold = threshold
        self.candidates = candidates
        self.clusters: list[Cluster] = []
        self._centroids = np.zeros((64, dim), dtype=np.float32)
        self._postings: dict[str, set[int]] = {}
        self._by_key: dict[str, int] = {}

    def seed(self, cluster: Cluster) -> None:
        """An existing item as a cluster new texts may join."""
        self._append(cluster)

    def add(self, f: Features, index: int, new_key: str) -> Cluster:
        best, score = self.best(f)
        if best is None or score < self.threshold:
            best = Cluster(key=new_key, vector_sum=np.zeros_like(f.vector))
            best.add(f, index)
            self._append(best)
            return best
        position = self._by_key[best.key]
        best.add(f, index)
        self._refresh(position, best, f.tokens)
        return best

    def best(self, f: Features) -> tuple[Cluster | None, float]:
        found: tuple[Cluster | None, float] = (None, -1.0)
        for i in self._candidates(f):
            score = self.clusters[i].similarity(f)
            if score > found[1]:
                found = (self.clusters[i], score)
        return found

    def _candidates(self, f: Features) -> set[int]:
        count = len(self.clusters)
        if not count:
            return set()
        sims = self._centroids[:count] @ f.vector
        k = min(self.candidates, count)
        near = set(np.argpartition(-sims, k - 1)[:k].tolist())
        shared: Counter[int] = Counter()
        for token in f.tokens:
            postings = self._postings.get(token, ())
            if len(postings) <= 200:  # a word in every cluster tells nothing
                shared.update(postings)
        return near | {i for i, _ in shared.most_common(self.candidates)}

    def _append(self, cluster: Cluster) -> None:
        if len(self.clusters) == len(self._centroids):
            grown = np.zeros((len(self._centroids) * 2, self._centroids.shape[1]), np.float32)
            grown[: len(self.clusters)] = self._centroids
            self._centroids = grown
        self.clusters.append(cluster)
        self._by_key[cluster.key] = len(self.clusters) - 1
        self._refresh(len(self.clusters) - 1, cluster, list(cluster.tokens))

    def _refresh(self, position: int, cluster: Cluster, tokens: Iterable[str]) -> None:
        self._centroids[position] = cluster.centroid
        for token in tokens:
            self._postings.setdefault(token, set()).add(position)
