"""Entity resolution: many mentions, from many sources and both languages, to one node each.

Why layered and conservative: a wrong merge hides a real difference (安心重疾险 and
安心意外险 are different products; "refund" is not "refund policy"), while a missed merge is
cheap to fix later (the combination stage proposes merges to a knowledge manager). So names
are matched first (normalised, then loosely: spacing, hyphens, plurals), gazetteer aliases
bridge languages (金盾医疗险 == Golden Shield Medical), and embedding similarity is used only
for the rest, only within a kind, and never between names that look like siblings in a naming
scheme (a shared part with a different slot) or where one name extends the other.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, Field, PrivateAttr

from graph.embeddings import Embedder
from graph.model import EntityKind, Label, Provenance, make_id
from graph.text import normalize
from ingest.extract import Mention
from ingest.gazetteer import GAZETTEER_KINDS, GazetteerEntry
from ingest.name_cache import NameVectorCache

__all__ = [
    "SEMANTIC_KINDS",
    "Resolution",
    "ResolvedEntity",
    "Resolver",
    "canonical_key",
    "entity_id",
    "loose_key",
    "may_merge",
]

# Kinds whose names carry meaning an embedding can compare; values (money, dates, ...) are
# compared by their canonical form only (CNY 3999 is not "similar" to CNY 3998).
SEMANTIC_KINDS = GAZETTEER_KINDS

# Sentence punctuation, quotes and brackets; not % or $, which are part of a value.
_EDGE_PUNCT = (
    string.whitespace + ".,;:!?'\"()[]{}<>~-_/\\|。，、；：？！…·「」『』“”‘’（）《》【】～"
)
_CJK_SPACE = re.compile(r"(?<=[\u3400-\u9fff\uf900-\ufaff])\s+|\s+(?=[\u3400-\u9fff\uf900-\ufaff])")
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|\d+(?:\.\d+)?|[^\W\d_]+")


# Names recur in every file and in every append of a live conversation: their keys are kept.
@lru_cache(maxsize=20_000)
def canonical_key(text: str) -> str:
    """graph.text.normalize (NFKC, case, spaces) without edge punctuation or spaces next to
    CJK: "金盾 医疗险。" and "金盾医疗险" share a key."""
    return _CJK_SPACE.sub("", normalize(text).strip(_EDGE_PUNCT))


def entity_id(name: str, kind: EntityKind) -> str:
    """Stable id of the entity with this name and kind, the same in every source and run:
    make_id over the kind and the name's loose key, so "Refunds" in one file and "refund"
    in another are one node."""
    return make_id(Label.ENTITY, EntityKind(kind).value, loose_key(name))


def _stem(token: str) -> str:
    """Plural → singular for Latin words (refunds → refund, boxes → box); else unchanged."""
    if not token.isascii() or len(token) <= 3 or token.endswith("ss"):
        return token
    if token.endswith(("ches", "shes", "xes", "zes", "sses")):
        return token[:-2]
    return token[:-1] if token.endswith("s") else token


def _tokens(text: str) -> list[str]:
    return [_stem(t) for t in _TOKEN.findall(canonical_key(text))]


@lru_cache(maxsize=20_000)
def loose_key(text: str) -> str:
    """Tokens only: spacing, hyphens and plurals ignored ("Golden-Shield plans" ==
    "golden shield plan")."""
    return " ".join(_tokens(text))


def _one_edit(a: str, b: str) -> bool:
    """Spelling variant: Latin words of 4+ letters at most one edit apart (colour/color)."""
    if not (a.isascii() and b.isascii() and a.isalpha() and b.isalpha()):
        return False
    if min(len(a), len(b)) < 4 or abs(len(a) - len(b)) > 1:
        return False
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return a[i + 1 :] == b[i + 1 :] or a[i:] == b[i + 1 :] or a[i + 1 :] == b[i:]


def may_merge(a: str, b: str) -> bool:
    """Whether two different names may be the same thing if their embeddings agree.

    No when one extends the other at an edge (refund / refund policy), when they share a
    part but differ in a slot (安心[重疾]险 / 安心[意外]险, iPhone 15 / iPhone 16) unless the
    slot is a one-letter spelling variant, or when their numbers differ. A word inserted in
    the middle is allowed (price too high / price is too high).
    """
    ta, tb = _tokens(a), _tokens(b)
    if ta == tb:
        return True
    shorter = min(len(ta), len(tb))
    prefix = 0
    while prefix < shorter and ta[prefix] == tb[prefix]:
        prefix += 1
    suffix = 0
    while suffix < shorter - prefix and ta[-1 - suffix] == tb[-1 - suffix]:
        suffix += 1
    rest_a, rest_b = ta[prefix : len(ta) - suffix], tb[prefix : len(tb) - suffix]
    if not rest_a or not rest_b:
        return prefix > 0 and suffix > 0
    if prefix or suffix:
        return len(rest_a) == len(rest_b) == 1 and _one_edit(rest_a[0], rest_b[0])
    numbers = [{t for t in tokens if t[0].isdigit()} for tokens in (ta, tb)]
    return numbers[0] == numbers[1]


class ResolvedEntity(BaseModel):
    """A canonical entity the mentions resolved to (what the writer turns into an Entity)."""

    id: str
    name: str
    kind: EntityKind
    aliases: list[str] = Field(default_factory=list)
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    normalized: str = ""
    pinned: bool = False  # from the gazetteer (curated): survives orphan clean-up
    method: str = ""  # "gazetteer", or how its mentions were found ("rule:money", ...)

    def provenance(self, source: str = "") -> Provenance:
        return Provenance(
            source=source,
            created_by="ingest.resolve",
            confidence=self.confidence,
            method=self.method,
        )


class Resolution(BaseModel):
    """The entities, and for each input mention (same order) the id it resolved to ("" when
    the mention names nothing usable, e.g. only punctuation)."""

    entities: list[ResolvedEntity] = Field(default_factory=list)
    mention_ids: list[str] = Field(default_factory=list)
    _by_mention: dict[Mention, str] = PrivateAttr(default_factory=dict)

    def entity_id(self, mention: Mention) -> str | None:
        """Id for a mention that was resolved (equal mentions resolve alike)."""
        return self._by_mention.get(mention) or None

    def by_id(self, entity_id: str) -> ResolvedEntity | None:
        return next((e for e in self.entities if e.id == entity_id), None)


@dataclass
class _Group:
    """Mentions that will become one entity: a gazetteer entry or a new name."""

    kind: EntityKind
    entry: int | None = None
    name: str = ""  # canonical: the entry's name, or the most frequent name (first on ties)
    names: Counter[str] = field(default_factory=Counter)
    surfaces: list[str] = field(default_factory=list)
    methods: Counter[str] = field(default_factory=Counter)
    confidence: float = 0.0

    def add(self, mention: Mention) -> None:
        self.names[mention.name] += 1
        self.surfaces += [mention.name, mention.surface]
        self.methods[mention.method] += 1
        self.confidence = max(self.confidence, mention.confidence)

    def absorb(self, other: _Group, similarity: float) -> None:
        """Take another group's mentions, trusting them as much as the similarity."""
        self.names.update(other.names)
        self.surfaces += other.surfaces
        self.methods.update(other.methods)
        self.confidence = max(self.confidence, round(other.confidence * similarity, 4))


GroupKey = tuple[str, str, str]  # ("entry", index, "") or ("new", kind, loose key)


def _dedupe(forms: Sequence[str], skip: str) -> list[str]:
    """Distinct forms by canonical key, in order, without the canonical name itself."""
    seen = {canonical_key(skip)}
    out: list[str] = []
    for form in forms:
        key = canonical_key(form)
        if key and key not in seen:
            seen.add(key)
            out.append(form.strip())
    return out


_KIND_CODES = {kind: code for code, kind in enumerate(EntityKind)}


class _Accepted:
    """New names of one kind kept as themselves so far, and their vectors as one matrix (grown
    by doubling): each next name is compared with all of them in one product."""

    def __init__(self) -> None:
        self.found: list[tuple[GroupKey, _Group]] = []
        self._rows = np.zeros((0, 0), dtype=np.float32)

    def add(self, key: GroupKey, group: _Group, vector: np.ndarray) -> None:
        n = len(self.found)
        if n == len(self._rows):
            grown = np.zeros((max(16, 2 * n), len(vector)), dtype=np.float32)
            if n:
                grown[:n] = self._rows[:n]
            self._rows = grown
        self._rows[n] = vector
        self.found.append((key, group))

    def matrix(self) -> np.ndarray:
        return self._rows[: len(self.found)]


class Resolver:
    """Resolves mentions against the gazetteer (and each other). Pure over its inputs: the
    same entries, embedder, threshold and mentions give the same Resolution."""

    def __init__(
        self,
        entries: Sequence[GazetteerEntry] = (),
        embedder: Embedder | None = None,
        threshold: float = 0.9,
        cache: NameVectorCache | None = None,
    ) -> None:
        self.entries = list(entries)
        self.embedder = embedder
        self.cache = cache  # name vectors kept across runs (only for embedders with a key)
        self.threshold = threshold
        self._exact: dict[tuple[EntityKind, str], int] = {}
        self._loose: dict[tuple[EntityKind, str], int] = {}
        self._any_kind: dict[str, set[int]] = {}
        for index, entry in enumerate(self.entries):
            for form in entry.forms:
                if loose_key(form):
                    self._exact.setdefault((entry.kind, canonical_key(form)), index)
                    self._loose.setdefault((entry.kind, loose_key(form)), index)
                    self._any_kind.setdefault(canonical_key(form), set()).add(index)
        self._form_vectors: tuple[np.ndarray, list[int]] | None = None
        # per entry with forms: where its forms start in the form matrix, which entry, its kind
        self._blocks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._name_vectors: dict[str, np.ndarray] = {}  # across calls: names recur per file

    # -- name matching ------------------------------------------------------------------

    def _lookup(self, mention: Mention) -> int | None:
        """Gazetteer entry by name or surface: exact key, then loose key; a topic keyword
        may also match an entry of another kind when only one entry has that name."""
        for text in (mention.name, mention.surface):
            for table, key in ((self._exact, canonical_key), (self._loose, loose_key)):
                hit = table.get((mention.kind, key(text)))
                if hit is not None:
                    return hit
        if mention.kind == EntityKind.TOPIC:
            owners = self._any_kind.get(canonical_key(mention.name), set())
            if len(owners) == 1:
                return next(iter(owners))
        return None

    def _group_key(self, mention: Mention) -> GroupKey | None:
        entry = self._lookup(mention)
        if entry is not None:
            return ("entry", str(entry), "")
        key = loose_key(mention.name)
        return ("new", mention.kind.value, key) if key else None

    def _groups(
        self, mentions: Sequence[Mention]
    ) -> tuple[dict[GroupKey, _Group], list[GroupKey | None]]:
        groups: dict[GroupKey, _Group] = {}
        keys: list[GroupKey | None] = []
        for mention in mentions:
            key = self._group_key(mention)
            keys.append(key)
            if key is None:
                continue
            if key not in groups:
                entry = int(key[1]) if key[0] == "entry" else None
                kind = self.entries[entry].kind if entry is not None else mention.kind
                groups[key] = _Group(kind=kind, entry=entry)
            groups[key].add(mention)
        for group in groups.values():
            group.name = group.names.most_common(1)[0][0]
            if group.entry is not None:
                group.name = self.entries[group.entry].name
        return groups, keys

    # -- similarity ---------------------------------------------------------------------

    def _entry_vectors(self) -> tuple[np.ndarray, list[int]]:
        """Vectors of every gazetteer name and alias (computed once), with their entry."""
        if self._form_vectors is None:
            assert self.embedder is not None
            owners = [i for i, e in enumerate(self.entries) for _ in e.forms]
            forms = self._forms()
            matrix = self._encode_names(forms) if forms else np.zeros((0, self.embedder.dim))
            self._form_vectors = (np.asarray(matrix, dtype=np.float32), owners)
        return self._form_vectors

    def _forms(self) -> list[str]:
        """Every gazetteer name and alias, entry by entry."""
        return [f for e in self.entries for f in e.forms]

    def names_to_encode(self, mentions: Sequence[Mention]) -> list[str]:
        """The new names that resolving these mentions will compare and whose vectors are
        not known yet (here or in the cache), and the gazetteer's names the first time: for
        a caller that encodes them with its own texts, in the same model run, and then hands
        them over (`learn`)."""
        if self.embedder is None or not mentions:
            return []
        groups, _ = self._groups(list(mentions))
        forms = self._forms() if self._form_vectors is None else []
        new = [g.name for g in groups.values() if g.entry is None and g.kind in SEMANTIC_KINDS]
        return self._unknown([*forms, *new])

    def learn(self, names: Sequence[str], vectors: Sequence[np.ndarray] | np.ndarray) -> None:
        """Name vectors encoded elsewhere (by this resolver's model), kept for `resolve` and
        in the cache across runs. Names known already are left as they are (a group's names
        are listed before the group ahead of it has been learned, and may repeat its own)."""
        pairs = zip(names, vectors, strict=True)
        new = {n: np.asarray(v, np.float32) for n, v in pairs if n not in self._name_vectors}
        self._name_vectors.update(new)
        key = getattr(self.embedder, "vector_key", None) if self.cache and new else None
        if key:
            self.cache.put(key, new)  # type: ignore[union-attr]

    def _unknown(self, names: Sequence[str]) -> list[str]:
        """The names, once each, whose vectors are neither here nor in the cache (those in
        the cache are brought here)."""
        todo = list(dict.fromkeys(n for n in names if n not in self._name_vectors))
        key = getattr(self.embedder, "vector_key", None) if self.cache and todo else None
        if key:
            self._name_vectors.update(self.cache.get(key, todo))  # type: ignore[union-attr]
            todo = [n for n in todo if n not in self._name_vectors]
        return todo

    def _encode_names(self, names: list[str]) -> list[np.ndarray]:
        """Name vectors, encoding only names not seen before (the model is the slow part)."""
        assert self.embedder is not None
        todo = self._unknown(names)
        if todo:
            self.learn(todo, self.embedder.encode(todo))
        return [self._name_vectors[n] for n in names]

    def _candidates(
        self, group: _Group, vector: np.ndarray, accepted: dict[EntityKind, _Accepted]
    ) -> list[tuple[float, GroupKey, list[str]]]:
        """(similarity, target, target's names) above the threshold, same kind only. An entry
        scores its best form; one product and one reduction for all entries (a Python loop
        over every form, per new name, was most of resolving a long conversation)."""
        found: list[tuple[float, GroupKey, list[str]]] = []
        matrix, _ = self._entry_vectors()
        starts, entries, kinds = self._entry_blocks()
        if len(starts):
            best = np.maximum.reduceat(matrix @ vector, starts)
            near = (kinds == _KIND_CODES[group.kind]) & (best >= self.threshold)
            for i in np.flatnonzero(near):
                owner = int(entries[i])
                found.append(
                    (float(best[i]), ("entry", str(owner), ""), list(self.entries[owner].forms))
                )
        same = accepted.get(group.kind)
        if same is not None:
            scores = same.matrix() @ vector
            for i in np.flatnonzero(scores >= self.threshold):
                key, other = same.found[i]
                found.append((float(scores[i]), key, list(other.names)))
        return sorted((c for c in found if c[0] >= self.threshold), key=lambda c: -c[0])

    def _entry_blocks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each entry with forms, in order: its first row in the form matrix, its index,
        its kind's code (the matrix holds each entry's forms one after another)."""
        if self._blocks is None:
            starts, entries, kinds, row = [], [], [], 0
            for index, entry in enumerate(self.entries):
                if entry.forms:
                    starts.append(row)
                    entries.append(index)
                    kinds.append(_KIND_CODES[entry.kind])
                    row += len(entry.forms)
            self._blocks = (
                np.array(starts, dtype=np.intp),
                np.array(entries, dtype=np.intp),
                np.array(kinds, dtype=np.int16),
            )
        return self._blocks

    def _group_for(self, groups: dict[GroupKey, _Group], key: GroupKey) -> _Group:
        """The group for a key; a gazetteer entry no mention named yet gets an empty one."""
        if key not in groups:
            entry = self.entries[int(key[1])]
            groups[key] = _Group(kind=entry.kind, entry=int(key[1]), name=entry.name)
        return groups[key]

    def _merge_similar(self, groups: dict[GroupKey, _Group]) -> dict[GroupKey, GroupKey]:
        """Fold new names into a gazetteer entry or an earlier new name of the same kind when
        the embeddings agree and the names may be the same thing; returns the redirects."""
        new = [(k, g) for k, g in groups.items() if g.entry is None and g.kind in SEMANTIC_KINDS]
        if self.embedder is None or not new:
            return {}
        vectors = self._encode_names([g.name for _, g in new])
        redirect: dict[GroupKey, GroupKey] = {}
        accepted: dict[EntityKind, _Accepted] = {}
        for (key, group), vector in zip(new, vectors, strict=True):
            target = next(
                (
                    (score, target)
                    for score, target, names in self._candidates(group, vector, accepted)
                    if all(may_merge(n, other) for n in group.names for other in names)
                ),
                None,
            )
            if target is None:
                accepted.setdefault(group.kind, _Accepted()).add(key, group, vector)
            else:
                self._group_for(groups, target[1]).absorb(group, target[0])
                redirect[key] = target[1]
        return redirect

    # -- result -------------------------------------------------------------------------

    def _entity(self, group: _Group) -> ResolvedEntity:
        entry = self.entries[group.entry] if group.entry is not None else None
        forms = [*(entry.aliases if entry else ()), *group.surfaces]
        return ResolvedEntity(
            id=entity_id(group.name, group.kind),
            name=group.name,
            kind=group.kind,
            aliases=_dedupe(forms, group.name),
            confidence=min(1.0, group.confidence),
            normalized=canonical_key(group.name),
            pinned=entry is not None,
            method="gazetteer" if entry else group.methods.most_common(1)[0][0],
        )

    def resolve(self, mentions: Sequence[Mention]) -> Resolution:
        """Entities (in order of first mention) and each mention's entity id."""
        mentions = list(mentions)
        groups, keys = self._groups(mentions)
        redirect = self._merge_similar(groups)
        entities: dict[GroupKey, ResolvedEntity] = {}
        for key in keys:
            if key is not None and redirect.get(key, key) not in entities:
                entities[redirect.get(key, key)] = self._entity(groups[redirect.get(key, key)])
        ids = [entities[redirect.get(k, k)].id if k else "" for k in keys]
        resolution = Resolution(entities=list(entities.values()), mention_ids=ids)
        resolution._by_mention = {m: i for m, i in zip(mentions, ids, strict=True) if i}
        return resolution
