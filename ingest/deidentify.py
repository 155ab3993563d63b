"""De-identification: personal data is replaced by typed placeholders before any text is stored
or embedded, so nothing downstream (graph, search index, vectors, logs) ever holds it.

Replaced: phone numbers ([PHONE]), PRC resident ids of both generations ([ID]), bank cards
([CARD]), e-mail addresses ([EMAIL]), street addresses ([ADDRESS]), person names ([NAME]),
WeChat ids ([WECHAT]), QQ numbers ([QQ]), passport numbers ([PASSPORT]) and Chinese licence
plates ([PLATE]). Each finding carries a keyed hash (HMAC-SHA256) of the normalised value, so
the same customer can be linked across conversations without the value being kept anywhere.
README.md ("Personal data: what is removed and what is not") is the inventory.

How it works, and why:
- Matching runs on a *shadow* of the text of the same length: full-width ASCII (１３８, ＠) is
  folded to half-width one character for one character, so Chinese input typed on a full-width
  keyboard is caught and every position still points into the original text.
- Kinds run in a fixed order (e-mail, id, phones with an explicit country prefix, card, other
  phones, address). A span already taken is masked in the shadow as ``[`` filler ``]``: no
  pattern can consume a bracket, so later patterns see the same boundary a placeholder gives
  them. The passes repeat until a round finds nothing, which makes ``redact`` idempotent. For
  the same reason placeholders already in the data (JD.com's ``[数字x]``, ``[地址x]``, our own
  ``[PHONE]``) are never touched.
- Numbers are only replaced when they are what they claim to be: ids need a valid ISO 7064
  MOD 11-2 check digit and birth date (15-digit ids a birth date and a known region), cards a
  valid Luhn sum, phones in unusual formats libphonenumber's validity; prices, dates, times,
  percentages and order numbers that fail these checks stay as they are.
- Names need evidence beyond their shape (`ingest.names`): known from the source, a
  self-introduction or label, or the segmenter's person tag next to an honorific.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from enum import StrEnum
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from stdnum.cn import ric

from ingest.names import NameFinder
from ingest.pii_numbers import (
    after_order_label,
    cn_road_addresses,
    id15_to_18,
    library_phones,
    luhn_ok,
    passports,
    plates,
    prc_ids_15,
    qq_numbers,
    wechat_ids,
)

__all__ = [
    "PLACEHOLDERS",
    "Deidentifier",
    "Finding",
    "PiiKind",
    "Redacted",
    "luhn_valid",
    "prc_id_valid",
]


class PiiKind(StrEnum):
    PHONE = "PHONE"
    ID = "ID"
    CARD = "CARD"
    EMAIL = "EMAIL"
    ADDRESS = "ADDRESS"
    NAME = "NAME"
    WECHAT = "WECHAT"
    QQ = "QQ"
    PASSPORT = "PASSPORT"
    PLATE = "PLATE"


PLACEHOLDERS: dict[PiiKind, str] = {kind: f"[{kind.value}]" for kind in PiiKind}


class Finding(BaseModel):
    """One replaced value: where it was in the original text and its keyed hash, never the
    value itself (so findings can be stored and logged)."""

    model_config = ConfigDict(frozen=True)

    kind: PiiKind
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    key_hash: str


class Redacted(BaseModel):
    """The text with placeholders, and what was replaced (sorted by position)."""

    model_config = ConfigDict(frozen=True)

    text: str
    findings: list[Finding]


# --- shadow text -------------------------------------------------------------------------------

# One character for one character, so shadow positions are original positions.
_FOLD: dict[int, int] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}  # full-width ASCII
_FOLD.update({0x3000: 0x20, 0x00A0: 0x20, 0x2007: 0x20, 0x202F: 0x20})  # wide / nbsp spaces
_FOLD.update({cp: 0x2D for cp in (0x2010, 0x2011, 0x2012, 0x2013, 0x2212)})  # hyphens, minus

_MASK_FILL = "\x00"  # matched by no pattern; only the brackets around it are ever "seen"

# Every pattern below needs an ASCII digit, an "@", a road word or a WeChat label: other text
# only goes through the name finder.
_MAY_HOLD_PII = re.compile(r"[0-9@路街巷道号弄信]|胡同|w[xe]|vx|weixin", re.IGNORECASE)


def _mask(shadow: str, spans: list[tuple[int, int]]) -> str:
    """Replace each span by `[` filler `]` of the same length."""
    if not spans:
        return shadow
    parts: list[str] = []
    last = 0
    for start, end in sorted(spans):
        parts.append(shadow[last:start])
        parts.append(("[" + _MASK_FILL * (end - start - 2) + "]")[: end - start])
        last = end
    parts.append(shadow[last:])
    return "".join(parts)


# --- validators --------------------------------------------------------------------------------

_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def luhn_valid(digits: str) -> bool:
    """Luhn (mod 10) check used by every card scheme; spaces and dashes are ignored.

    A long number only counts as a card when this passes, so order numbers stay readable."""
    value = re.sub(r"[ -]", "", unicodedata.normalize("NFKC", digits))
    return bool(_ASCII_DIGITS.fullmatch(value)) and luhn_ok(value)


def prc_id_valid(value: str) -> bool:
    """True for an 18-character PRC resident id (GB 11643) with a valid ISO 7064 MOD 11-2 check
    digit (X allowed, any case, spaces ignored) and a real birth date.

    Both checks are needed so an arbitrary 18-digit number is not mistaken for an id."""
    v = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", value)).upper()
    if not _ID_SHAPE.fullmatch(v) or ric.calc_check_digit(v) != v[17]:
        return False
    year, month, day = int(v[6:10]), int(v[10:12]), int(v[12:14])
    if not 1900 <= year <= 2099:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


# --- patterns ----------------------------------------------------------------------------------
# All compiled with re.ASCII: \d, \w, \s and \b then mean ASCII only, so a number written right
# after Chinese text ("手机13800138000") still has a boundary in front of it.

# The look-behind keeps the scan linear: a start inside a run of local-part characters is
# rejected at once instead of scanning the run again.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}",
    re.ASCII,
)

# 18 characters, in one piece or in groups of any size ("110105 1949 1231 002X").
_PRC_ID = re.compile(
    r"(?<![0-9])(?<![0-9][ -])[0-9](?:[ -]?[0-9]){16}[ -]?(?:[0-9](?![ -]?[0-9])|[Xx])", re.ASCII
)

# Chinese mobile with an explicit +86 / 0086 / (+86) prefix, or 86 glued to it (8613912345678).
_MOBILE_PREFIXED = re.compile(
    r"(?:\(\+?86\)|\+ ?86|(?<!\d)0086)[ -]?1[3-9](?:[ -]?\d){9}(?!\d)"
    r"|(?<![\d+])86 ?1[3-9]\d{9}(?!\d)",
    re.ASCII,
)
# Any number written with a country prefix: +1 415-555-0132, +44 20 7946 0958, 0086 21 ...
_INTERNATIONAL = re.compile(
    r"(?:\+ ?|(?<![\w+])(?<!\d[ .-])00)[1-9]\d{0,3}"
    r"(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5}+)){1,6}(?!\d)",  # possessive: no exponential retry
    re.ASCII,
)
# Runs of digit groups joined by single spaces or dashes; cards are windows of such a run.
_DIGIT_RUN = re.compile(r"(?<!\d)\d+(?:[ -]\d+)*", re.ASCII)
_DIGIT_GROUP = re.compile(r"\d+", re.ASCII)
# Chinese mobile without prefix: 13800138000, 138 0013 8000, 138-0013-8000.
_MOBILE = re.compile(r"(?<!\d)1[3-9](?:[ -]?\d){9}(?!\d)", re.ASCII)
# Chinese landline with area code: 021-62881234, (010) 8888 7777, 0755-2345678.
_LANDLINE = re.compile(
    r"(?<!\d)(?:\(0[1-9]\d{1,2}\) ?|0[1-9]\d{1,2}[ -]?)[2-9]\d{2,3}[ -]?\d{4}(?!\d)", re.ASCII
)
# North American numbers without +1: (415) 555-0132, 415-555-0132. Chinese 400/800 service
# hotlines have the same shape but belong to companies, not customers, so they are kept.
_NANP = re.compile(
    r"(?<![\d+])(?!(?:400|800)\D)(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}(?!\d)",
    re.ASCII,
)

# Chinese addresses: [province][city][district][town] road + house number [+ building, unit,
# room]; or district + estate + building; or estate + building. A name may not contain common
# function characters, so "寄到" / "我住在" in front of an address are not swallowed with it.
_STOP = (
    "在是的了与及或把给被让从往至到为住寄送收址改换"
    "我你您他她它们这那哪谁请帮要想去说问吗呢吧啊呀哦嗯"
    "就也还又再很太更最不没有个些么什怎样"
)
_NAME = rf"(?:(?![{_STOP}])[\u4e00-\u9fff])"
_PROVINCE = rf"{_NAME}{{2,7}}?(?:省|自治区|特别行政区)"
_CITY = rf"{_NAME}{{1,7}}?(?:市|自治州|地区|盟)"
_DISTRICT = rf"{_NAME}{{1,7}}?(?:新区|区|县|旗)"
_TOWN = rf"{_NAME}{{1,7}}?(?:街道|镇|乡)"
_ROAD = rf"{_NAME}{{1,7}}?(?:大道|大街|路|街|(?<![知频味难])道|巷|胡同)"
_HOUSE = r"\d{1,5}(?:-\d{1,5})?(?:号院|号楼|号|弄)"
_ESTATE = rf"{_NAME}{{2,8}}?(?:小区|大厦|花园|公寓|广场|中心|大楼|苑|园|村|城)"
_UNIT = r"[0-9A-Za-z]{1,6}(?:-[0-9A-Za-z]{1,6})?(?:号楼|号院|栋|幢|座|楼|单元|层|室|号|弄|组)"
_BUILDING = r"[0-9A-Za-z]{1,4}(?:号楼|栋|幢|座)"
_ROOM_TAIL = r"(?:(?<=[元栋幢座楼层])\d{2,5}(?!\d))?"
_ADMIN_OPT = rf"(?:{_PROVINCE})?(?:{_CITY})?(?:{_DISTRICT})?(?:{_TOWN})?"
_ADMIN_REQ = rf"(?:{_PROVINCE})?(?:{_CITY}(?:{_DISTRICT})?|{_DISTRICT})(?:{_TOWN})?"
_CN_ADDRESS = re.compile(
    rf"{_ADMIN_OPT}{_ROAD}{_HOUSE}(?:(?:{_ESTATE})?(?:{_UNIT})+{_ROOM_TAIL})?"
    rf"|{_ADMIN_REQ}{_ESTATE}(?:{_UNIT})+{_ROOM_TAIL}"
    rf"|{_ESTATE}{_BUILDING}(?:{_UNIT})*{_ROOM_TAIL}",
    re.ASCII,
)

# English street addresses: number + capitalised street name + street type, then optionally a
# unit, and a city only when a state + ZIP or a UK postcode follows (a city alone is not PII).
# Not after "the"/"top" or a decimal point: "The 10 Best Way", "v2.0 Release Road".
_STREET_TYPE = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl"
    r"|Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Square|Sq|Circle|Cir|Crescent|Close|Row)"
)
_EN_ADDRESS = re.compile(
    r"(?<![\w.-])(?<!\b[Tt]he )(?<!\b[Tt]op )\d{1,6}[A-Za-z]?(?:-\d{1,6})?\s+"
    r"(?:(?:[NSEW]\.?|North|South|East|West)\s+)?"
    r"(?:[A-Z][A-Za-z'.-]*|\d{1,3}(?:st|nd|rd|th))(?:\s+[A-Z][A-Za-z'.-]*){0,3}\s+"
    rf"{_STREET_TYPE}\b\.?"
    r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|Room|Rm|\#)\.?\s*\#?[A-Za-z0-9-]+)?"
    r"(?:,\s*[A-Z][A-Za-z.'-]*(?:\s+[A-Z][A-Za-z.'-]*){0,3},?\s+"
    r"(?:[A-Z]{2}\s+\d{5}(?:-\d{4})?|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})\b)?",
    re.ASCII,
)


_after_order_label = after_order_label  # an order number is never a phone or a card


# --- finders: shadow text -> spans -------------------------------------------------------------

Span = tuple[int, int]
Finder = Callable[[str], Iterator[Span]]


def _spans(
    pattern: re.Pattern[str],
    check: Callable[[str], bool] | None = None,
    *,
    skip_order_numbers: bool = False,
) -> Finder:
    def find(shadow: str) -> Iterator[Span]:
        for m in pattern.finditer(shadow):
            if check is not None and not check(m.group()):
                continue
            if skip_order_numbers and _after_order_label(shadow, m.start()):
                continue
            yield m.span()

    return find


def _international_ok(value: str) -> bool:
    """E.164 allows at most 15 digits; fewer than 8 is not a reachable number."""
    digits = re.sub(r"[^0-9]", "", value)
    if value.startswith("00"):
        digits = digits[2:]
    return 8 <= len(digits) <= 15


def _cards(shadow: str) -> Iterator[Span]:
    """Card numbers inside runs of digit groups: one contiguous group, or a window of groups as
    cards are printed (groups of 3-6 digits, the last one may be shorter), holding 13-19
    digits that pass Luhn. Regular windows win over ones with a short last group, then longer
    over shorter, so "4111 1111 1111 1111 3张" yields the card and keeps "3"."""
    for run in _DIGIT_RUN.finditer(shadow):
        groups = [g.span() for g in _DIGIT_GROUP.finditer(run.group())]
        offset = run.start()
        candidates: list[tuple[bool, int, int, int]] = []  # (short last, -digits, start, end)
        for i, (first_start, _) in enumerate(groups):
            if shadow[offset + first_start] == "0":  # no card number starts with 0
                continue
            count = 0
            for j in range(i, len(groups)):
                g_start, g_end = groups[j]
                count += g_end - g_start
                if count > 19:
                    break
                if count < 13:
                    continue
                if j > i and any(not 3 <= e - s <= 6 for s, e in groups[i:j]):
                    break  # an irregular inner group: longer windows are irregular too
                short_last = j > i and not 3 <= g_end - g_start <= 6
                if j > i and g_end - g_start > 6:
                    continue
                start, end = offset + first_start, offset + g_end
                if luhn_valid(shadow[start:end]) and not _after_order_label(shadow, start):
                    candidates.append((short_last, -count, start, end))
        taken: list[Span] = []
        for *_, start, end in sorted(candidates):
            if all(end <= s or start >= e for s, e in taken):
                taken.append((start, end))
        yield from sorted(taken)


_CN_ANCHOR = re.compile(r"[0-9](?:号|弄|栋|幢|座|楼|单元|室|组)")


def _cn_addresses(shadow: str) -> Iterator[Span]:
    """Chinese addresses; the full pattern only runs on text holding a house or unit number,
    as it is the slowest one and most text has none."""
    if _CN_ANCHOR.search(shadow):
        yield from (m.span() for m in _CN_ADDRESS.finditer(shadow))


# Order matters: e-mails first (a QQ address is digits); ids and cards before plain phones (a
# card contains phone-like runs); numbers with an explicit country prefix are phones and can
# never be cards (no card starts with "+" or "0"), so they go before cards.
# Labelled identifiers (WeChat, QQ, passport) go before numbers, as the label says what the
# digits are; libphonenumber comes after the patterns, as a catch-all for other phone formats.
_FINDERS: tuple[tuple[PiiKind, Finder], ...] = (
    (PiiKind.EMAIL, _spans(_EMAIL)),
    (PiiKind.WECHAT, wechat_ids),
    (PiiKind.QQ, qq_numbers),
    (PiiKind.PASSPORT, passports),
    (PiiKind.ID, _spans(_PRC_ID, prc_id_valid)),
    (PiiKind.PHONE, _spans(_MOBILE_PREFIXED)),
    (PiiKind.PHONE, _spans(_INTERNATIONAL, _international_ok)),
    (PiiKind.ID, prc_ids_15),  # a valid region and birth date say more than a Luhn sum
    (PiiKind.CARD, _cards),
    (PiiKind.PHONE, _spans(_MOBILE, skip_order_numbers=True)),
    (PiiKind.PHONE, _spans(_LANDLINE, skip_order_numbers=True)),
    (PiiKind.PHONE, _spans(_NANP, skip_order_numbers=True)),
    (PiiKind.PHONE, library_phones),
    (PiiKind.PLATE, plates),
    (PiiKind.ADDRESS, _cn_addresses),
    (PiiKind.ADDRESS, cn_road_addresses),
    (PiiKind.ADDRESS, _spans(_EN_ADDRESS)),
)


def _disjoint(spans: Iterable[Span]) -> list[Span]:
    """Non-empty spans that overlap no earlier one (a finder's own guarantee, enforced)."""
    taken: list[Span] = []
    for start, end in sorted(spans):
        if end > start and (not taken or start >= taken[-1][1]):
            taken.append((start, end))
    return taken


@lru_cache(maxsize=256)
def _name_finder(
    known: frozenset[str], keep: frozenset[str], identifier: bool = False
) -> NameFinder:
    """One finder per set of names (a conversation's messages share it)."""
    return NameFinder(known, keep, identifier=identifier)


# --- normalisation for the keyed hash ----------------------------------------------------------

_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_NANP_DIGITS = re.compile(r"[2-9][0-9]{9}")
_ADDRESS_PUNCT = re.compile(r"[,.，。、#]")


def _normalize_phone(value: str) -> str:
    """Digits only, in one canonical form per number: "+86 138 0013 8000" and "13800138000"
    agree, "+86 21 6288 1234" and "021-62881234" agree, "+1 415-555-0132" and "(415) 555-0132"
    agree."""
    digits = re.sub(r"[^0-9]", "", value)
    international = bool(re.match(r"\(?(?:\+|00)", value))
    if international and digits.startswith("00"):
        digits = digits[2:]
    if international:
        if digits.startswith("86"):
            rest = digits[2:]
            return rest if _CN_MOBILE.fullmatch(rest) else "0" + rest
        return digits
    if digits.startswith("86") and _CN_MOBILE.fullmatch(digits[2:]):
        return digits[2:]
    if _NANP_DIGITS.fullmatch(digits):
        return "1" + digits
    return digits


def _normalize_text(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _normalize(kind: PiiKind, raw: str) -> str:
    """The form that is hashed: formatting differences must not split one customer in two."""
    value = unicodedata.normalize("NFKC", raw).strip()
    if kind in (PiiKind.EMAIL, PiiKind.WECHAT):
        return value.lower()
    if kind is PiiKind.ID:
        compact = re.sub(r"[^0-9Xx]", "", value).upper()
        return id15_to_18(compact) if len(compact) == 15 else compact
    if kind in (PiiKind.CARD, PiiKind.QQ):
        return re.sub(r"[^0-9]", "", value)
    if kind in (PiiKind.PASSPORT, PiiKind.PLATE):
        return re.sub(r"[^0-9A-Za-z\u4e00-\u9fff]", "", value).upper()
    if kind is PiiKind.NAME:
        return _normalize_text(value)
    if kind is PiiKind.PHONE:
        return _normalize_phone(value)
    return " ".join(_ADDRESS_PUNCT.sub(" ", value).lower().split())


_PLAIN_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}$")


# --- the public entry point --------------------------------------------------------------------


class Deidentifier:
    """Replaces personal data by typed placeholders; the key (settings `deid_key`) makes the
    hashes useless to anyone who has the findings but not the key."""

    def __init__(self, key: str | SecretStr) -> None:
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        if not secret:
            raise ValueError("de-identification needs a non-empty key (settings deid_key)")
        self._key = secret.encode("utf-8")

    def key_hash(self, kind: PiiKind, raw: str) -> str:
        """HMAC-SHA256 of the normalised value (32 hex chars); the kind is part of the message
        so a card and a phone with the same digits do not collide."""
        kind = PiiKind(kind)
        # A name hashes as plain text, so a name found in a message links with the customer
        # key that `key_hash_text` makes of the same name given as the customer.
        domain = "TEXT" if kind is PiiKind.NAME else kind.value
        return self._hmac(domain, _normalize(kind, raw))

    def key_hash_text(self, raw: str) -> str:
        """Keyed hash of an identifier whose kind is not known (a customer id, a name, a field of
        a business card). A value that is exactly one recognised kind hashes as that kind, so a
        phone on a card links with the same phone found in a chat; anything else is hashed as
        text (NFKC, case-folded, whitespace collapsed)."""
        value = raw.strip()
        findings = self.redact(value).findings
        if len(findings) == 1 and (findings[0].start, findings[0].end) == (0, len(value)):
            return findings[0].key_hash
        return self._hmac("TEXT", _normalize_text(value))

    def redact_identifier(self, value: str, known_names: Iterable[str] = ()) -> str:
        """An identifier (a file path, a conversation id, an attachment name) with its personal
        data replaced. When anything was, a keyed hash of the raw value is added before the
        suffix ("张伟_13912345678.md" → "[NAME]_[PHONE]_h1a2b3c4d.md"), so two values that
        redact alike stay two, and the same value always gives the same result (re-ingest is
        a no-op). A value holding nothing to replace comes back as it is. The "_h" keeps the
        hash's digits from joining digits before it into something that looks like a number."""
        redacted = self.redact(value, known_names, identifier=True).text
        if redacted == value:
            return value
        suffix = m.group() if (m := _PLAIN_SUFFIX.search(redacted)) else ""
        stem = redacted[: len(redacted) - len(suffix)]
        return f"{stem}_h{self.key_hash_text(value)[:8]}{suffix}"

    def _hmac(self, kind: str, normalized: str) -> str:
        message = f"{kind}:{normalized}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def redact(
        self,
        text: str,
        known_names: Iterable[str] = (),
        keep_names: Iterable[str] = (),
        *,
        identifier: bool = False,
    ) -> Redacted:
        """The text with every recognised value replaced, and the findings (positions in `text`).

        `known_names`: people the source names (a transcript's customer and customer speakers,
        names on cards), replaced wherever they occur. `keep_names`: people whose names are
        kept (employees, who are people of the graph by name). `identifier`: the text names
        something (a file name, a title), where a standalone name-shaped token right next to
        other personal data is a name too ("许平_13912345678").

        Idempotent: redacting the result again changes nothing."""
        names = _name_finder(frozenset(known_names), frozenset(keep_names), identifier)
        return self._redact(text, names)

    def _redact(self, text: str, names: NameFinder) -> Redacted:
        shadow = text.translate(_FOLD)
        finders = _FINDERS if _MAY_HOLD_PII.search(shadow) else ()
        finders = (*finders, (PiiKind.NAME, names))
        found: list[tuple[int, int, PiiKind]] = []
        # Repeat until a whole round finds nothing: a mask can open a match that the raw value
        # blocked (a run of digits too long to be one phone, split by a phone found later).
        # Masks look to every pattern exactly like placeholders, so the last, empty round is
        # what redacting the result would do: that is why `redact` is idempotent.
        while True:
            before = len(found)
            for kind, finder in finders:
                spans = _disjoint(finder(shadow))
                found.extend((start, end, kind) for start, end in spans)
                shadow = _mask(shadow, spans)
            if len(found) == before:
                break
        found.sort()
        parts: list[str] = []
        findings: list[Finding] = []
        last = 0
        for start, end, kind in found:
            parts.append(text[last:start])
            parts.append(PLACEHOLDERS[kind])
            findings.append(
                Finding(
                    kind=kind, start=start, end=end, key_hash=self.key_hash(kind, text[start:end])
                )
            )
            last = end
        parts.append(text[last:])
        return Redacted(text="".join(parts), findings=findings)
