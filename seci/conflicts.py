"""Contradictions between knowledge texts: same subject, incompatible figures or terms.

Two texts contradict when they say something about the same subject that cannot both be
true: '7天无理由退货' against '15天无理由退货', '免赔额1万' against '免赔额5000元', '可以取消'
against '不能取消', '运费由顾客承担' against '运费由云裳承担'. Everything here is explainable
rule work, no model, so a reviewer can see why two texts were paired:

1. texts are cut into sentences (。！？；; newline, '. ') and sentences into clauses (，、：());
2. each sentence yields *facts*: figures with a unit family (duration in days, business days,
   age, amount per currency, percent, counts) normalised to an interval (万/千, 两周 = 14天,
   48小时 = 2天, 七天 = 7天, '3-7个工作日' = [3, 7]), policy terms (who pays, free shipping,
   which comes first) and negated words (不/不能/无法…, not/no/never/cannot);
3. a fact's *subject* is the sentence's content words (jieba, stop words and figures dropped),
   its own clause at full weight and clauses holding another fact of the same family at low
   weight, so '一般医疗300万元，年度免赔额1万元' pairs 免赔额 with 1万, not with 300万;
4. candidate sentence pairs come from an inverted index (no all-pairs); facts of one family
   are matched one-to-one by subject similarity, and a matched pair with incompatible values
   is a contradiction whose confidence is that similarity.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, Field

from graph.text import is_cjk, search_tokens
from seci import conflict_rules as rules

__all__ = ["Contradiction", "Kind", "Statement", "find_contradictions"]

Kind = Literal["number", "duration", "amount", "percent", "negation", "policy_term"]


class Statement(BaseModel):
    """One text to check: a knowledge item or a document chunk."""

    id: str
    text: str
    group: str = ""  # same non-empty group (e.g. one source document): never compared


class Contradiction(BaseModel):
    """Two sentences of two statements that disagree about one subject."""

    a_id: str
    b_id: str
    a_sentence: str
    b_sentence: str
    subject: str
    kind: Kind
    a_value: str
    b_value: str
    confidence: float = Field(ge=0.0, le=1.0)


_Finding = tuple[float, Kind, str, str, str]  # confidence, kind, subject, a_value, b_value


# -- parsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fact:
    family: str  # "day", "workday", "age", "amount:CNY", "percent", "count:次", "term:payer"
    low: float
    high: float
    term: str  # the alternative, for policy terms
    text: str  # as written
    clause: int


@dataclass
class _Sentence:
    owner: int  # index of the statement
    text: str
    clauses: list[list[str]] = field(default_factory=list)  # content tokens, in order
    facts: list[_Fact] = field(default_factory=list)
    negated: dict[str, tuple[int, str]] = field(default_factory=dict)  # token -> clause, cue
    positive: set[str] = field(default_factory=set)


def _cn_int(text: str) -> float:
    """Chinese numerals to a number: 七 = 7, 十五 = 15, 一百二十 = 120, 两 = 2."""
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
    total, digit = 0, 0
    for ch in text:
        if ch in digits:
            digit = digits[ch]
        else:
            total += (digit or 1) * {"十": 10, "百": 100, "千": 1000}[ch]
            digit = 0
    return float(total + digit)


def _number(text: str) -> float:
    text = text.strip().lower()
    if text in rules.EN_NUMBERS:
        return rules.EN_NUMBERS[text]
    return _cn_int(text) if re.fullmatch(rules.CN, text) else float(re.sub(r"[,，]", "", text))


def _multiplier(text: str | None) -> float:
    return rules.MULTIPLIERS.get((text or "").strip().lower(), 1.0)


def _unit(text: str | None) -> tuple[str, float] | None:
    if not text:
        return None
    key = text.lower()
    if key.startswith("次"):
        key = "次(?!性)"
    return rules.UNITS.get(key) or rules.UNITS.get(key.rstrip("s") + "s")


def _figure(m: re.Match[str], clause: int = -1) -> _Fact | None:
    """A figure match as a fact, or None when it has no unit (a bare number says nothing)."""
    if m["pct"]:
        value = _number(m["pct"])
        return _Fact("percent", value, value, "", m[0], clause)
    if m["cur"]:
        family = "amount:" + rules.PREFIX_CURRENCY[m["cur"].lower()]
        lo, hi, mult = m["lo1"], m["hi1"] or m["lo1"], _multiplier(m["mult1"])
        return _Fact(family, _number(lo) * mult, _number(hi) * mult, "", m[0].strip(), clause)
    mult = _multiplier(m["mult0"]) * _multiplier(m["mult"])
    unit = _unit(m["unit"])
    if re.fullmatch(rules.CN + "|" + rules.EN, m["lo"], re.I) and (
        not m["unit"] or "次" in m["unit"]
    ):
        return None  # '百万医疗', '一般', '二次销售': Chinese numerals count only with a unit
    if unit is None and mult > 1 and is_cjk(m[0]):
        unit = ("amount:CNY", 1.0)  # '免赔额1万' means yuan
    if unit is None:
        return None
    family, factor = unit
    low, high = _number(m["lo"]) * mult * factor, _number(m["hi"] or m["lo"]) * mult * factor
    if m["unit"] in ("个月", "months", "month"):  # a month is about 30 days
        low, high = low - low / 30, high + high / 30
    return _Fact(family, low, high, "", m[0].strip(), clause)


def _content(piece: str) -> list[str]:
    """Content tokens of a piece of text: no stop words, negators or numbers; a few
    compounds jieba splits are joined back; English words lightly stemmed."""
    raw = [t for t in search_tokens(piece) if not rules.NEGATOR.fullmatch(t) or t == "无"]
    merged: list[str] = []
    for token in raw:
        joined = rules.COMPOUNDS.get((merged[-1], token)) if merged else None
        merged[-1:] = [joined] if joined else [*merged[-1:], token]
    return [
        _stem(t)
        for t in merged
        if t not in rules.STOP and t != "无" and not re.fullmatch(r"[\d.,%]+|" + rules.CN, t)
    ]


def _stem(token: str) -> str:
    if not token.isascii() or len(token) <= 4:
        return token
    for suffix in ("ing", "ed", "es", "s"):
        if token.endswith(suffix) and not token.endswith("ss"):
            return token[: -len(suffix)]
    return token


def _spans(text: str) -> list[tuple[int, int, str, re.Match[str]]]:
    """Term, figure and negator matches, in order, without overlaps (terms win)."""
    found: list[tuple[int, int, str, re.Match[str]]] = []
    for kind, pattern in (
        ("term", rules.TERM_RE),
        ("figure", rules.FIGURE),
        ("neg", rules.NEGATOR),
    ):
        for m in pattern.finditer(text):
            if kind == "figure" and _figure(m) is None:
                continue
            if m[0].strip() and not any(s < m.end() and m.start() < e for s, e, *_ in found):
                found.append((m.start(), m.end(), kind, m))
    return sorted(found, key=lambda s: s[0])


def _parse(owner: int, sentence: str) -> _Sentence:
    """A sentence's clauses, facts, negated and plain words."""
    out = _Sentence(owner, sentence.strip())
    masked = rules.NOT_FIGURE.sub(lambda m: " " * len(m[0]), sentence)
    spans = _spans(masked)
    cuts = [m.start() for m in rules.CLAUSE.finditer(masked)]
    cuts = [c for c in cuts if not any(s <= c < e for s, e, *_ in spans)]
    bounds = [0, *cuts, len(masked)]
    for clause, (start, end) in enumerate(pairwise(bounds)):
        out.clauses.append(_walk(out, masked, start, end, clause, spans))
        if masked[start:end].strip().endswith("的") or any(f.clause == clause for f in out.facts):
            # '未如实告知的' / '未经社保结算60%': a condition, not a claim that can be denied
            out.negated = {w: v for w, v in out.negated.items() if v[0] != clause}
    out.positive = {t for tokens in out.clauses for t in tokens if not t.startswith(rules.NOT)}
    return out


def _walk(out: _Sentence, text: str, start: int, end: int, clause: int, spans: list) -> list[str]:
    """Tokens of one clause; facts and negations found on the way are added to `out`."""
    tokens: list[str] = []
    cursor, cue = start, ""
    for s, e, kind, m in [sp for sp in spans if start <= sp[0] < end]:
        tokens += _after_cue(out, _content(text[cursor:s]), cue, clause)
        cue = ""
        if kind == "neg":
            cue = m[0]
        elif kind == "term":
            group, alt = next(k for k, v in m.groupdict().items() if v).split("__")
            out.facts.append(_Fact("term:" + group, 0, 0, alt, m[0], clause))
        elif fact := _figure(m, clause):
            out.facts.append(fact)
        cursor = e
    return tokens + _after_cue(out, _content(text[cursor:end]), cue, clause)


def _after_cue(out: _Sentence, tokens: list[str], cue: str, clause: int) -> list[str]:
    """Mark the first word after a negation cue: it is kept as '¬word' in the subject."""
    if not (cue and tokens):
        return tokens
    space = " " if cue.isascii() else ""
    out.negated.setdefault(tokens[0], (clause, f"{cue}{space}{tokens[0]}"))
    return [rules.NOT + tokens[0], *tokens[1:]]


# -- comparing ------------------------------------------------------------------------------


def _subject(sentence: _Sentence, clause: int, family: str) -> dict[str, float]:
    """Weighted subject words of a fact: its clause in full, clauses with a rival fact low."""
    rivals = {f.clause for f in sentence.facts if f.family == family and f.clause != clause}
    vector: dict[str, float] = {}
    for index, tokens in enumerate(sentence.clauses):
        weight = rules.OTHER_FACT_CLAUSE if index in rivals else 1.0
        for token in tokens:
            w = weight * (0.5 if token.lstrip(rules.NOT) in rules.WEAK else 1.0)
            vector[token] = max(vector.get(token, 0.0), w)
    return vector


def _similarity(u: dict[str, float], v: dict[str, float]) -> float:
    """Mostly weighted overlap (shared / smaller side), partly weighted Jaccard: a short
    title inside a long sentence still matches, extra words cost a little, identical = 1."""
    shared = sum(min(w, v[t]) for t, w in u.items() if t in v)
    if not shared:
        return 0.0
    su, sv = sum(u.values()), sum(v.values())
    overlap, jaccard = shared / max(min(su, sv), rules.MIN_SUBJECT), shared / (su + sv - shared)
    return rules.OVERLAP * overlap + (1 - rules.OVERLAP) * jaccard


def _compatible(f: _Fact, g: _Fact) -> bool:
    """Same term, or one interval inside the other ('5个工作日' fits '3-7个工作日')."""
    if f.family.startswith("term:"):
        return f.term == g.term
    eps = 1e-6 * max(1.0, abs(f.high), abs(g.high))
    inside = f.low >= g.low - eps and f.high <= g.high + eps
    return inside or (g.low >= f.low - eps and g.high <= f.high + eps)


def _kind(family: str) -> Kind:
    kinds: dict[str, Kind] = {"day": "duration", "workday": "duration", "percent": "percent"}
    prefixes: dict[str, Kind] = {"amount": "amount", "term": "policy_term"}
    return kinds.get(family) or prefixes.get(family.split(":")[0], "number")


def _subject_text(s: _Sentence, t: _Sentence, clause: int) -> str:
    """The shared words naming the subject: from the fact's clause, else from the clause
    sharing most (the later one on ties: Chinese puts the predicate last)."""
    other = {w.lstrip(rules.NOT) for tokens in t.clauses for w in tokens}

    def shared(tokens: list[str]) -> list[str]:
        words = [w.lstrip(rules.NOT) for w in tokens if w.lstrip(rules.NOT) in other]
        strong = [w for w in words if w not in rules.WEAK]
        return list(dict.fromkeys(strong or words))

    best = shared(s.clauses[clause]) if 0 <= clause < len(s.clauses) else []
    if not [w for w in best if w not in rules.WEAK]:
        ranked = sorted(enumerate(s.clauses), key=lambda c: (len(shared(c[1])), c[0]))
        best = shared(ranked[-1][1]) if ranked else best
    best = [w for w in best if not any(w != o and w in o for o in best)][:4]
    return ("" if all(is_cjk(w) for w in best) else " ").join(best)


def _fact_conflicts(s: _Sentence, t: _Sentence) -> list[_Finding]:
    """Facts of one family matched one-to-one by subject similarity (best first, compatible
    first on ties); a matched pair with incompatible values is a contradiction."""
    pairs = []
    for f in s.facts:
        for g in t.facts:
            if f.family == g.family:
                sim = _similarity(_subject(s, f.clause, f.family), _subject(t, g.clause, g.family))
                pairs.append((round(sim, 2), _compatible(f, g), f, g))
    pairs.sort(key=lambda p: (-p[0], not p[1]))
    used: set[int] = set()
    found = []
    for sim, compatible, f, g in pairs:
        if id(f) in used or id(g) in used or not sim:
            continue
        used |= {id(f), id(g)}
        if not compatible:
            subject = _subject_text(s, t, f.clause)
            found.append((sim, _kind(f.family), subject, f.text, g.text))
    return found


def _negation_conflicts(s: _Sentence, t: _Sentence) -> list[_Finding]:
    """A word negated in one sentence and plainly said in the other, subjects alike. Not
    when the two also differ in a figure: then the negation is a condition ('未经社保 60%')."""
    if any(f.family == g.family for f in s.facts for g in t.facts):
        return []
    found = []
    for first, second, flip in ((s, t, False), (t, s, True)):
        for word, (clause, cue) in first.negated.items():
            if word not in second.positive or word in first.positive or word in second.negated:
                continue
            u = {k.lstrip(rules.NOT): w for k, w in _subject(first, clause, "").items()}
            v = {k.lstrip(rules.NOT): w for k, w in _subject(second, -1, "").items()}
            sim = round(_similarity(u, v), 2)
            subject = _subject_text(first, second, clause) or word
            values = (word, cue) if flip else (cue, word)
            found.append((sim, "negation", subject, *values))
    return found


def _candidates(sentences: list[_Sentence], groups: list[str]) -> Iterator[tuple[int, int]]:
    """Sentence pairs worth comparing: a shared family and subject word, or a word negated
    in one and plain in the other; from an inverted index, never all pairs."""
    index: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, s in enumerate(sentences):
        words = {w.lstrip(rules.NOT) for tokens in s.clauses for w in tokens}
        for key in {(f.family, w) for f in s.facts for w in words} | {("", w) for w in words}:
            index[key].append(i)
    seen: set[tuple[int, int]] = set()
    for i, s in enumerate(sentences):
        words = {w.lstrip(rules.NOT) for tokens in s.clauses for w in tokens}
        keys = {(f.family, w) for f in s.facts for w in words} | {("", w) for w in s.negated}
        for key in keys:
            posting = index.get(key, [])
            if len(posting) > rules.MAX_POSTING:
                continue
            for j in posting:
                pair = (min(i, j), max(i, j))
                a, b = sentences[pair[0]].owner, sentences[pair[1]].owner
                if a == b or (groups[a] and groups[a] == groups[b]) or pair in seen:
                    continue
                seen.add(pair)
                yield pair


def find_contradictions(
    statements: Sequence[Statement], min_confidence: float = 0.5
) -> list[Contradiction]:
    """Contradictions between statements (never within one, nor within one group), most
    confident first. `min_confidence` is the least subject similarity reported."""
    sentences = [
        _parse(owner, piece)
        for owner, st in enumerate(statements)
        for piece in rules.SENTENCE.split(st.text)
        if piece.strip()
    ]
    groups = [st.group for st in statements]
    results: dict[tuple[str, ...], Contradiction] = {}
    for i, j in _candidates(sentences, groups):
        s, t = sentences[i], sentences[j]
        if statements[s.owner].id == statements[t.owner].id:
            continue
        for finding in _fact_conflicts(s, t) + _negation_conflicts(s, t):
            if finding[0] >= min_confidence:
                found = _contradiction(statements, s, t, finding)
                key = (found.a_id, found.b_id, found.a_sentence, found.b_sentence, found.kind,
                       found.a_value, found.b_value)  # fmt: skip
                results.setdefault(key, found)
    return sorted(results.values(), key=lambda c: (-c.confidence, c.a_id, c.b_id, c.a_sentence))


def _contradiction(
    statements: Sequence[Statement], s: _Sentence, t: _Sentence, finding: _Finding
) -> Contradiction:
    """The finding as a Contradiction with a_id < b_id (values swapped along)."""
    confidence, kind, subject, *values = finding
    a, b = statements[s.owner].id, statements[t.owner].id
    if b < a:
        s, t, a, b, values = t, s, b, a, values[::-1]
    fields = dict(a_id=a, b_id=b, a_sentence=s.text, b_sentence=t.text, subject=subject)
    fields |= dict(kind=kind, a_value=values[0], b_value=values[1])
    return Contradiction(**fields, confidence=min(1.0, max(0.0, confidence)))
