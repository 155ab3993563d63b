"""Offline entity extraction: gazetteer names, rule-based values and keyword topics.

Why no model: ingest must run offline and fast on thousands of chat messages, and what
matters most (product, policy, objection names; money, durations, policy terms) is either
curated in the gazetteer or has a regular surface form. Three layers, most certain first:

- gazetteer names: a spaCy EntityRuler on lower-cased tokens for text without CJK, and a
  character-level scan (leftmost-longest, over a trie) for text with any CJK, because
  jieba's words need not line up with an alias (金盾医疗险 may be cut as 金盾 / 医疗险) and
  mixed text (我想买Golden Shield) has no reliable tokens at all;
- rules: money, durations, policy terms, percentages and dates, each given a canonical
  name (¥3,999 and 3999元 are both "CNY 3999"; 两周 and 2 weeks are both "2 weeks");
- keywords: TF-IDF (jieba) for Chinese, a small RAKE for English, as low-confidence topics.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from spacy.pipeline import EntityRuler

from graph.model import EntityKind
from graph.recent import Recent
from graph.text import is_cjk, jieba_words, normalize
from ingest.gazetteer import GazetteerEntry
from ingest.nlp import get_nlp, language_of

__all__ = ["Extractor", "Mention", "cn_number", "extract"]


class Mention(BaseModel):
    """One occurrence of an entity in a text; start/end are offsets in the original text."""

    model_config = ConfigDict(frozen=True)

    surface: str
    name: str  # canonical name: the gazetteer name, or a normalised value ("CNY 3999")
    kind: EntityKind
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    confidence: float = Field(ge=0.0, le=1.0)
    method: str  # "gazetteer", "rule:money", "keyword:tfidf", ...


# --------------------------------------------------------------------------- text view

# Full-width ASCII to half-width, as NFKC does; but the Chinese comma becomes 、 so that
# "05，3到5天" never reads as a thousands separator.
_FOLD = {i: i - 0xFEE0 for i in range(0xFF01, 0xFF5F)} | {
    0xFF0C: 0x3001,
    0x3000: 0x20,
    0xFFE5: 0xA5,
    0xFFE0: 0xA2,
    0xFFE1: 0xA3,
}


class _View:
    """The text as matched (NFKC, lower case) with a map back to original offsets."""

    def __init__(self, text: str) -> None:
        folded = text.translate(_FOLD)
        self.mapping: list[int] | None = None
        if len(folded.lower()) == len(text) and unicodedata.is_normalized("NFKC", folded):
            self.text = folded.lower()
            return
        parts: list[str] = []
        mapping: list[int] = []
        for index, char in enumerate(folded):
            part = unicodedata.normalize("NFKC", char).lower()
            parts.append(part)
            mapping.extend([index] * len(part))
        self.text, self.mapping = "".join(parts), mapping

    def original(self, start: int, end: int) -> tuple[int, int]:
        if self.mapping is None:
            return start, end
        return self.mapping[start], self.mapping[end - 1] + 1


# --------------------------------------------------------------------------- numbers

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9, "半": 0.5}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG = {"万": 10_000, "亿": 100_000_000}
_EN_NUMBERS = dict(
    zip(
        "one two three four five six seven eight nine ten eleven twelve".split(),  # noqa: SIM905
        range(1, 13),
        strict=True,
    )
) | {"fifteen": 15, "twenty": 20, "thirty": 30, "a": 1, "an": 1}


def cn_number(text: str) -> float | None:
    """Value of a Chinese numeral (二十 → 20, 一百二十 → 120, 两万 → 20000, 半 → 0.5)."""
    total = section = 0.0
    number: float | None = None
    for char in text:
        if char in _CN_DIGITS:
            number = _CN_DIGITS[char]
        elif char in _CN_UNITS:
            section += (1 if number is None else number) * _CN_UNITS[char]
            number = None
        elif char in _CN_BIG:
            total += ((section + (number or 0)) or 1) * _CN_BIG[char]
            section, number = 0.0, None
        else:
            return None
    return total + section + (number or 0)


def _number(text: str) -> float | None:
    text = text.replace(",", "").strip()
    try:
        return float(text)
    except ValueError:
        return _EN_NUMBERS.get(text) if text in _EN_NUMBERS else cn_number(text)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")


# --------------------------------------------------------------------------- rules

_CN = "零〇一二两三四五六七八九十百千万亿"
_NOT_IN_NUMBER = r"(?<!\d)(?<!\d\.)(?!(?<=\d,)\d{3}(?!\d))"  # not the tail of 3,999 or 1.5
_D = rf"{_NOT_IN_NUMBER}\d+(?:\.\d+)?"
_DC = rf"{_NOT_IN_NUMBER}(?:\d{{1,3}}(?:,\d{{3}})+|\d+)(?:\.\d+)?"
_NZ = rf"(?:{_D}|(?<!第)[{_CN}半]+)"  # 第一天 is an ordinal, not a duration
_NE = rf"(?:{_D}|(?<![a-z])(?:{'|'.join(n for n in _EN_NUMBERS if len(n) > 2)}))"
_MULT = r"(?:百万|千万|万|亿|千|k(?![a-z]))"
_CUR_PRE = r"(?:us\$|hk\$|[¥$€£]|(?<![a-z])(?:usd|rmb|cny|hkd|eur)(?![a-z]))"
_CUR_POST = (
    r"(?:元|块钱|块|人民币|美元|美金|港币|欧元"
    r"|(?:dollars?|bucks|yuan|rmb|cny|usd|hkd|eur)(?![a-z]))"
)
_ZH_UNIT = r"(?:个?工作日|天|个?(?:星期|礼拜)|周(?!岁|年)|个月|个?小时|分钟|秒钟?)"
_EN_UNIT = (
    r"(?:business |working |calendar )?"
    r"(?:days?|weeks?|months?|years?|hours?|hrs?|minutes?|mins?)(?![a-z])"
)
_RANGE = r"\s?(?:到|至|-|~|–|—|to)\s?"
_ZH_DUR = rf"{_NZ}\s?(?:个?工作日|天|日|个?(?:星期|礼拜)|周|个月|年)"
_EN_DUR = rf"{_NE}(?:\s|-)(?:business |calendar )?(?:day|week|month|year)s?"
_ZH_POLICY = (
    r"(?:无理由(?:退换货|退货|换货|退款)?"
    r"|(?:免费|包|无忧)?(?:退换货|退换|退货|换货|退款|包换|包退|保价|价保|保修|质保|试用))"
)
_ZH_PERIOD = r"(?:等待期|犹豫期|冷静期|观察期|保修期|质保期|免息期|宽限期|保价期|试用期)"
_EN_POLICY = (
    r"(?:returns?(?: and exchanges?)?|refunds?|exchanges?|warrant(?:y|ies)|guarantees?"
    r"|(?:free )?trials?|price protection|waiting period|cooling[- ]off period|grace period"
    r"|free[- ]look period)"
)
_EN_POLICY_ADJ = r"(?:(?:free|no[- ]questions[- ]asked|hassle[- ]free|money[- ]back|full)\s)*"
_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    "|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_MONTH_ABBR = "jan feb mar apr may jun jul aug sep oct nov dec".split()  # noqa: SIM905
_MONTH_NUMBER = {m: i for i, m in enumerate(_MONTH_ABBR, 1)}


def _money(match: re.Match[str]) -> str | None:
    """CUR amount: ¥3,999 / 3999元 → CNY 3999; 5千元 → CNY 5000; $25 / 25 dollars → USD 25."""
    text = match.group(0)
    currency = next((cur for cur, pat in _CURRENCIES if re.search(pat, text)), "CNY")
    digits = re.search(r"\d[\d,]*(?:\.\d+)?", text)
    if digits:
        value = float(digits.group(0).replace(",", ""))
        multiplier = re.match(rf"\s?{_MULT}", text[digits.end() :])
        if multiplier:
            value *= cn_number(multiplier.group(0).strip().replace("k", "千")) or 1
    else:
        value = cn_number(re.sub(r"[元块钱]", "", text)) or 0
    return f"{currency} {_fmt(value)}" if value else None


_CURRENCIES = [
    ("HKD", r"hk\$|hkd|港币"),
    ("EUR", r"€|eur|欧元"),
    ("GBP", r"£"),
    ("USD", r"\$|usd|dollar|bucks|美元|美金"),
]
_UNIT_NAMES = [
    ("工作日", "business day"),
    ("business", "business day"),
    ("working", "business day"),
    ("天", "day"),
    ("日", "day"),
    ("day", "day"),
    ("星期", "week"),
    ("礼拜", "week"),
    ("周", "week"),
    ("week", "week"),
    ("月", "month"),
    ("month", "month"),
    ("年", "year"),
    ("year", "year"),
    ("小时", "hour"),
    ("hour", "hour"),
    ("分钟", "minute"),
    ("min", "minute"),
    ("秒", "second"),
    ("hr", "hour"),  # last: "three" contains "hr"
]
_NUMBER_TOKEN = re.compile(rf"\d+(?:\.\d+)?|[{_CN}半]+|[a-z]+")


def _duration(match: re.Match[str]) -> str | None:
    """N units: 30天 / 30 days → "30 days"; 两周 → "2 weeks"; 3到5个工作日 → "3-5 business days"."""
    text = match.group(0)
    unit = next((name for key, name in _UNIT_NAMES if key in text), None)
    values = [v for v in (_number(t) for t in _NUMBER_TOKEN.findall(text)) if v is not None]
    if unit is None or not values:
        return None
    amount = "-".join(_fmt(v) for v in values[:2])
    return f"{amount} {unit}" + ("" if values[-1] == 1 and len(values) == 1 else "s")


def _policy_term(match: re.Match[str]) -> str | None:
    """Normalised wording with Chinese numerals as digits: 七天无理由退货 → 7天无理由退货."""
    text = re.sub(
        rf"[{_CN}半]+(?=\s?(?:个?工作日|天|日|周|星期|个月|年))",
        lambda m: _fmt(cn_number(m.group(0)) or 0),
        match.group(0),
    )
    return " ".join(text.replace("-", " ").split()) if text.strip() else None


def _cn_digits(text: str) -> str:
    """Digit by digit: 八五 → 85, 八点五 → 8.5 (no place values)."""
    return "".join(
        str(int(_CN_DIGITS[c])) if c in _CN_DIGITS else "." if c == "点" else c for c in text
    )


def _percent(match: re.Match[str]) -> str | None:
    """20% / 百分之二十 / 20 percent → "20%"; 八折 / 8.5折 → "20% off" / "15% off"."""
    text = match.group(0)
    if text.endswith("折"):
        digits = _cn_digits(text[:-1].strip())
        pay = float(digits) / (10 if len(digits) == 2 and "." not in digits else 1) * 10
        return f"{_fmt(100 - pay)}% off" if 0 < pay < 100 else None
    if text.startswith("百分之"):
        whole, _, frac = text.removeprefix("百分之").partition("点")
        value = _number(whole) or 0.0
        value += float("0." + _cn_digits(frac)) if frac else 0.0
        return f"{_fmt(value)}%"
    number = re.search(r"\d+(?:\.\d+)?", text)
    off = " off" if text.endswith("off") else ""
    return f"{_fmt(float(number.group(0)))}%{off}" if number else None


def _date(match: re.Match[str]) -> str | None:
    """ISO-like: 2026-03-05 / 2026年3月5日 → 2026-03-05; 3月5日 / March 5 → 03-05."""
    parts = {name[0]: value for name, value in match.groupdict().items() if value}
    month = _MONTH_NUMBER.get(parts.get("m", "")[:3]) or _number(parts.get("m", ""))
    day = _number(parts["d"]) if "d" in parts else None
    if not month or not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    fields = [parts.get("y"), f"{int(month):02d}", f"{int(day):02d}" if day else None]
    return "-".join(f for f in fields if f)


@dataclass(frozen=True)
class _Rule:
    kind: EntityKind
    pattern: re.Pattern[str]
    canonical: Callable[[re.Match[str]], str | None]
    confidence: float = 0.9


def _rule(kind: EntityKind, fn: Callable, *patterns: str, confidence: float = 0.9) -> _Rule:
    return _Rule(kind, re.compile("|".join(f"(?:{p})" for p in patterns)), fn, confidence)


_RULES = [
    _rule(
        EntityKind.POLICY_TERM,
        _policy_term,
        rf"{_ZH_DUR}(?:内|之内|以内)?{_ZH_POLICY}",
        rf"{_ZH_PERIOD}\s?(?:为|是|有|仅|只有|共|长达)?\s?{_ZH_DUR}",
        rf"{_ZH_DUR}的?{_ZH_PERIOD}",
        rf"{_EN_DUR}\s{_EN_POLICY_ADJ}{_EN_POLICY}(?![a-z])",
        rf"(?<![a-z])(?:(?:free|full)\s)?(?:returns?|refunds?|exchanges?)(?: and exchanges?)?"
        rf"\s(?:within|in|for|up to)\s{_EN_DUR}(?![a-z])",
        rf"(?<![a-z])(?:waiting|cooling[- ]off|grace|free[- ]look|trial|warranty|return) period"
        rf"\s(?:of|is)\s{_EN_DUR}(?![a-z])",
    ),
    _rule(
        EntityKind.MONEY,
        _money,
        rf"{_CUR_PRE}\s?{_DC}(?:\s?{_MULT})?(?:\s?{_CUR_POST})?",
        rf"{_DC}\s?{_MULT}?\s?{_CUR_POST}",
        rf"[{_CN}]+(?:元|块钱)",
    ),
    _rule(
        EntityKind.MONEY,
        _money,
        rf"{_DC}\s?(?:百万|千万|万|亿)(?![{_CN}]|人|次|个|份|件|名|条|家|户|字|多|平|公里|步|年)",
        confidence=0.7,
    ),
    _rule(
        EntityKind.DURATION,
        _duration,
        rf"{_NZ}(?:{_RANGE}{_NZ})?\s?{_ZH_UNIT}",
        rf"(?:(?<![\d.])\d{{1,2}}|[{_CN}半]+)\s?年(?!级|代)",
        rf"{_NZ}\s?日(?=内|之内|以内|无理由|后|左右|起)",
        rf"{_NE}(?:{_RANGE}{_NE})?(?:\s|-){_EN_UNIT}",
    ),
    _rule(
        EntityKind.PERCENT,
        _percent,
        rf"{_D}\s?(?:%|percent(?![a-z]))(?:\s?off(?![a-z]))?",
        rf"百分之(?:\d+(?:\.\d+)?|[{_CN}点]+)",
        r"(?<![\d.])\d(?:\.\d)?\s?折(?!扣|腾|磨|叠|旧|返)",
        r"[一二三四五六七八九](?:[一二三四五六七八九]|点[一二三四五六七八九])?折(?!扣|腾|磨|叠|旧|返)",
    ),
    _rule(
        EntityKind.DATE,
        _date,
        r"(?<!\d)(?P<y>\d{4})\s?[-/.年]\s?(?P<m>\d{1,2})\s?[-/.月]\s?(?P<d>\d{1,2})(?:日|号)?(?!\d)",
        r"(?<!\d)(?P<y2>\d{4})年(?P<m2>\d{1,2})月(?!\d)",
        rf"(?<![\d{_CN}])(?P<m3>\d{{1,2}}|[{_CN}]{{1,3}})月(?P<d3>\d{{1,2}}|[{_CN}]{{1,3}})(?:日|号)",
        rf"(?<![a-z])(?P<m4>{_MONTHS})\.?\s(?P<d4>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)(?:,?\s(?P<y4>\d{{4}}))?",
        rf"(?<!\d)(?P<d5>\d{{1,2}})(?:st|nd|rd|th)?\s(?:of\s)?(?P<m5>{_MONTHS})(?![a-z])(?:,?\s(?P<y5>\d{{4}}))?",
    ),
]


def _flat(candidates: Iterable[Mention]) -> list[Mention]:
    """Non-overlapping mentions: longest first, then the earliest; ties keep list order."""
    ordered = sorted(enumerate(candidates), key=lambda p: (p[1].start - p[1].end, p[1].start, p[0]))
    taken: list[Mention] = []
    for _, mention in ordered:
        if all(mention.end <= t.start or mention.start >= t.end for t in taken):
            taken.append(mention)
    return taken


def _rule_mentions(text: str, view: _View) -> list[Mention]:
    found: list[Mention] = []
    for rule in _RULES:
        for match in rule.pattern.finditer(view.text):
            name = rule.canonical(match)
            if not name:
                continue
            start, end = view.original(*match.span())
            found.append(
                Mention(
                    surface=text[start:end],
                    name=name,
                    kind=rule.kind,
                    start=start,
                    end=end,
                    confidence=rule.confidence,
                    method=f"rule:{rule.kind.value}",
                )
            )
    return _flat(found)


# --------------------------------------------------------------------------- gazetteer


_END = ""  # trie key marking the end of an alias (no character is the empty string)


def _word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


class _AliasScanner:
    """Character-level, leftmost-longest scan of normalised text with a trie of aliases.

    Why a trie rather than one big regex alternation: its cost per character does not grow
    with the gazetteer. A space in an alias matches any whitespace run; an alias that starts
    or ends with an ASCII letter or digit must do so at a word boundary (refund ≠ refunded).
    """

    def __init__(self, forms: dict[str, int]) -> None:
        self.root: dict[str, Any] = {}
        for form, index in forms.items():
            node = self.root
            for char in form:
                node = node.setdefault(char, {})
            node[_END] = index

    def _longest(self, text: str, start: int) -> tuple[int, int] | None:
        """(end, entry index) of the longest alias starting at `start`, if any."""
        node, at, best = self.root, start, None
        while at < len(text):
            if text[at].isspace():
                node = node.get(" ")
                while node is not None and at < len(text) and text[at].isspace():
                    at += 1
            else:
                node = node.get(text[at])
                at += 1
            if node is None:
                break
            ends_word = _word_char(text[at - 1]) and at < len(text) and _word_char(text[at])
            if _END in node and not ends_word:
                best = (at, node[_END])
        return best

    def scan(self, view: _View) -> Iterator[tuple[int, int, int]]:
        text, at = view.text, 0
        while at < len(text):
            inside_word = at > 0 and _word_char(text[at]) and _word_char(text[at - 1])
            hit = None if inside_word or text[at] not in self.root else self._longest(text, at)
            if hit is None:
                at += 1
                continue
            yield (*view.original(at, hit[0]), hit[1])
            at = hit[0]


# --------------------------------------------------------------------------- keywords

_EN_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because
    been before being below between both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't down during each few for from further had hadn't has hasn't have
    haven't having he her here hers herself him himself his how i i'm i've i'd i'll if in into
    is isn't it it's its itself let's me more most mustn't my myself no nor not of off on once
    only or other ought our ours ourselves out over own same shan't she should shouldn't so
    some such than that that's the their theirs them themselves then there there's these they
    they're this those through to too under until up very was wasn't we we're we've were
    weren't what what's when where which while who whom why why's will with won't would
    wouldn't you you'd you'll you're you've your yours yourself yourselves
    hi hello hey dear thanks thank please ok okay yes yeah yep sure right well just really
    also still already maybe perhaps actually basically anyway oh ah um uh sorry great good
    fine nice like want wants wanted need needs needed get gets got getting make makes made
    know knows knew think thinks thought say says said tell told ask asked see seen look
    looking go going gone come came take took give gave let try tried use used help helps
    can could may might must shall will would one two three thing things something anything
    everything nothing way lot lots much many bit kind sort today tomorrow yesterday now
    soon later time day days week weeks month months year years mr mrs ms customer sir madam
    able via per etc we'll they'll it'll he'll she'll that'll there'll since long wait
    clear done check forget last place detail details instead first new back coming pay
    pays paid understand yet ever never always though although however else another
    com www http https""".split()  # noqa: SIM905
)
_ZH_STOPWORDS = frozenset(
    """您好 你好 谢谢 感谢 亲亲 请问 问题 时候 东西 情况 事情 客服 姓名 订单 数字 地址
    这个 那个 什么 怎么 一下 可以 没有 知道 觉得 需要 现在 今天 明天 已经 感觉 有点
    客气 时间 方面 地方 部分 样子 意思 办法 原因 结果 一点 朋友 大家 人家""".split()  # noqa: SIM905
)
_NOUN_TAGS = ("n", "vn", "nz", "ns", "nt", "ng", "an")
_DOMAIN_IDF = 8.5  # jieba IDF above which a verb is a domain term (理赔 9.1, 需要 4.3)
_ZH_COMPLEMENTS = frozenset("好到完掉得住起上下出进回开过一")
_ZH_FUNCTION_CHARS = frozenset(
    "的了着过吗呢吧啊呀哦嘛么就都也还又再很太更最才已没不别是在有个这那哪谁什怎"
    "我你您他她它们帮给让把被会要想能可去来说看用完够到得地之与和或而但如若"
)
_EN_WORD = re.compile(r"[a-z][a-z0-9'-]*[a-z0-9]|[a-z]")


@lru_cache(maxsize=1)
def _jieba_keywords():  # type: ignore[no-untyped-def]
    """jieba's TF-IDF tables and its dictionary's POS tags (loaded once)."""
    import jieba.analyse
    import jieba.posseg

    get_nlp("zh")  # initialises jieba quietly
    return jieba.analyse.default_tfidf, jieba.posseg.dt.word_tag_tab


def _zh_keyword_ok(word: str, tags: dict[str, str], idf: dict[str, float]) -> bool:
    """Nouns by jieba's dictionary tag (not person names); verbs only when rare (domain
    words such as 理赔, 退款 have a high IDF, 需要 or 知道 a low one) and not a verb plus
    its result (填好, 交完); unknown words found by jieba's HMM only when no character in
    them is a function word (keeps 核保, drops 就够 or 已帮)."""
    if len(word) < 2 or word in _ZH_STOPWORDS or word.lower() in _EN_STOPWORDS:
        return False
    if word.isascii():
        return len(word) >= 3 and word.isalpha()
    if not all(is_cjk(c) for c in word):
        return False
    tag = tags.get(word)
    plain = not any(c in _ZH_FUNCTION_CHARS for c in word)
    if tag is None:
        return len(word) <= 6 and plain
    if tag.startswith("v") and tag != "vn":
        done = any(c in _ZH_COMPLEMENTS for c in word[1:])
        return idf.get(word, 0.0) >= _DOMAIN_IDF and plain and not done
    return tag.startswith(_NOUN_TAGS) and not tag.startswith("nr")  # no person names


def _zh_keywords(view: _View, top_k: int) -> list[tuple[int, int, str, float]]:
    """TF-IDF over jieba's words with jieba.analyse's IDF table, filtered to noun-ish words.
    The words are `jieba_words`, shared with the full-text index's segmentation."""
    tfidf, tags = _jieba_keywords()
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    start = 0
    for word in jieba_words(view.text):
        if _zh_keyword_ok(word, tags, tfidf.idf_freq):
            counts[word] = counts.get(word, 0) + 1
            first.setdefault(word, start)
        start += len(word)
    total = sum(counts.values()) or 1
    scored = [(n * tfidf.idf_freq.get(w, tfidf.median_idf) / total, w) for w, n in counts.items()]
    scored.sort(key=lambda p: (-p[0], first[p[1]]))
    return [(first[w], first[w] + len(w), w, score) for score, w in scored[:top_k]]


def _en_phrases(view: _View) -> list[list[tuple[int, int, str]]]:
    """RAKE candidates: runs of content words split at stopwords and punctuation (≤ 3 words)."""
    phrases: list[list[tuple[int, int, str]]] = [[]]
    last_end = 0
    for match in _EN_WORD.finditer(view.text):
        word = match.group(0).removesuffix("'s")
        gap = view.text[last_end : match.start()]
        last_end = match.end()
        if gap.strip() or word in _EN_STOPWORDS or len(word) < 3 or len(phrases[-1]) == 3:
            phrases.append([])
        if word not in _EN_STOPWORDS and len(word) >= 3:
            phrases[-1].append((match.start(), match.start() + len(word), word))
    return [p for p in phrases if p]


def _en_keywords(view: _View, top_k: int) -> list[tuple[int, int, str, float]]:
    """RAKE scores: a phrase scores the sum of degree/frequency of its words."""
    phrases = _en_phrases(view)
    freq: dict[str, int] = {}
    degree: dict[str, int] = {}
    for phrase in phrases:
        for *_, word in phrase:
            freq[word] = freq.get(word, 0) + 1
            degree[word] = degree.get(word, 0) + len(phrase)
    best: dict[str, tuple[int, int, str, float]] = {}
    for phrase in phrases:
        name = " ".join(word for *_, word in phrase)
        score = sum(degree[w] / freq[w] for *_, w in phrase)
        best.setdefault(name, (phrase[0][0], phrase[-1][1], name, score))
    return sorted(best.values(), key=lambda k: (-k[3], k[0]))[:top_k]


# --------------------------------------------------------------------------- extractor


RECENT_TEXTS = 5_000  # texts whose mentions an Extractor keeps (see `Extractor.extract`)
RECENT_TEXT_CHARS = 500  # ... when they are this short (chat messages: long ones do not recur)


class Extractor:
    """Built once from the gazetteer, then called per text (no per-call pipeline set-up)."""

    def __init__(
        self,
        entries: Sequence[GazetteerEntry] = (),
        *,
        keywords: bool = True,
        top_k: int = 5,
    ) -> None:
        self.entries = list(entries)
        self.keywords = keywords
        self.top_k = top_k
        self._recent: Recent[tuple[str, str], tuple[Mention, ...]] = Recent(RECENT_TEXTS)
        forms: dict[str, int] = {}
        for index, entry in enumerate(self.entries):
            for form in entry.forms:
                forms.setdefault(normalize(form), index)
        self._scanner = _AliasScanner(forms)
        patterns = [
            {"label": self.entries[i].kind.value, "pattern": f, "id": str(i)}
            for f, i in forms.items()
            if not is_cjk(f)
        ]
        self._ruler: EntityRuler | None = None
        if patterns:  # an empty ruler would warn on every call
            self._ruler = EntityRuler(
                get_nlp("en"), phrase_matcher_attr="LOWER", overwrite_ents=True
            )
            self._ruler.add_patterns(patterns)

    def _gazetteer_mention(self, text: str, start: int, end: int, index: int) -> Mention:
        entry = self.entries[index]
        exact = normalize(text[start:end]) == normalize(entry.name)
        return Mention(
            surface=text[start:end],
            name=entry.name,
            kind=entry.kind,
            start=start,
            end=end,
            confidence=1.0 if exact else 0.95,
            method="gazetteer",
        )

    def _gazetteer(self, text: str, view: _View) -> list[Mention]:
        """Text with any CJK: character scan of every alias (spaCy's tokens are unreliable
        in Chinese and mixed text); other text: the EntityRuler on lower-cased tokens."""
        if is_cjk(text):
            hits = list(self._scanner.scan(view))
        elif self._ruler is not None:
            doc = self._ruler(get_nlp("en").make_doc(text))
            hits = [(e.start_char, e.end_char, int(e.ent_id_)) for e in doc.ents]
        else:
            hits = []
        return _flat(self._gazetteer_mention(text, *hit) for hit in hits)

    def _keywords(self, text: str, view: _View, language: str) -> list[Mention]:
        if language == "zh":
            found, method = _zh_keywords(view, self.top_k), "keyword:tfidf"
        else:
            found, method = _en_keywords(view, self.top_k), "keyword:rake"
        top = max((score for *_, score in found), default=1.0) or 1.0
        mentions = []
        for start, end, name, score in found:
            start, end = view.original(start, end)
            mentions.append(
                Mention(
                    surface=text[start:end],
                    name=name,
                    kind=EntityKind.TOPIC,
                    start=start,
                    end=end,
                    confidence=round(0.3 + 0.2 * score / top, 3),
                    method=method,
                )
            )
        return mentions

    def extract(self, text: str, language: str | None = None) -> list[Mention]:
        """Mentions in text order. A rule value inside a gazetteer name is dropped (the name
        is more specific); otherwise names and values may overlap (退货 inside 7天无理由退货).
        Keywords never overlap either and never repeat a name."""
        if not text.strip():
            return []
        language = language_of(text, language)
        # A live conversation is ingested again with every message: its earlier messages'
        # mentions are kept (by text; they are frozen, and the same text gives the same ones).
        if len(text) > RECENT_TEXT_CHARS:
            return self._extract(text, language)
        key = (text, language)
        kept = self._recent.get(key)
        if kept is not None:
            return list(kept)
        found = self._extract(text, language)
        self._recent.put(key, tuple(found))
        return found

    def _extract(self, text: str, language: str) -> list[Mention]:
        view = _View(text)
        names = self._gazetteer(text, view)
        found = names + [
            rule
            for rule in _rule_mentions(text, view)
            if not any(n.start <= rule.start and rule.end <= n.end for n in names)
        ]
        if self.keywords:
            names = {normalize(m.name) for m in found} | {normalize(m.surface) for m in found}
            for mention in self._keywords(text, view, language):
                free = all(mention.end <= m.start or mention.start >= m.end for m in found)
                if free and normalize(mention.name) not in names:
                    found.append(mention)
        return sorted(found, key=lambda m: (m.start, -m.end))

    def extract_many(
        self, texts: Iterable[str], language: str | None = None
    ) -> list[list[Mention]]:
        """extract() over many texts (each text's language guessed unless given)."""
        return [self.extract(text, language) for text in texts]


@lru_cache(maxsize=1)
def _default_extractor() -> Extractor:
    return Extractor([])


def extract(text: str, language: str | None = None) -> list[Mention]:
    """Rules and keywords only (no gazetteer); build an Extractor(entries) for names."""
    return _default_extractor().extract(text, language)
