"""Finders for identifiers beyond the core kinds of `ingest.deidentify`: phone numbers in any
format (`phonenumbers`), first-generation 15-digit PRC ids (`python-stdnum`'s region table),
WeChat ids, QQ numbers, passport numbers, Chinese licence plates, and Chinese addresses that
name a road without an Arabic house number.

Every finder takes the *shadow* text of `ingest.deidentify` (full-width folded, spans already
taken masked as ``[`` filler ``]``) and yields ``(start, end)`` spans. None of them may match
across a bracket, so a masked span and a placeholder look the same to them, which is what keeps
`Deidentifier.redact` idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import phonenumbers
from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

__all__ = [
    "ORDER_LABEL",
    "Finder",
    "Span",
    "after_order_label",
    "cn_road_addresses",
    "id15_to_18",
    "library_phones",
    "luhn_ok",
    "passports",
    "plates",
    "prc_id15_valid",
    "qq_numbers",
    "wechat_ids",
]

Span = tuple[int, int]
Finder = Callable[[str], Iterator[Span]]

# A number right after an order-number label is an order number, even when it looks like a
# mobile number or passes Luhn by chance (one in ten do).
ORDER_LABEL = re.compile(
    r"(?:订单编号|订单号|单号|商品编号|商品ID|SKU|order\s*(?:no\.?|number|id|\#)"
    r"|tracking\s*(?:no\.?|number|\#))\s*[:#]?\s*$",
    re.ASCII | re.IGNORECASE,
)


def after_order_label(shadow: str, start: int) -> bool:
    return bool(ORDER_LABEL.search(shadow, max(0, start - 24), start))


def luhn_ok(digits: str) -> bool:
    """Luhn sum of an all-digit string (python-stdnum)."""
    return len(digits) >= 2 and luhn.is_valid(digits)


# --- phone numbers through libphonenumber ----------------------------------------------------

# Service numbers that belong to companies, not customers (400/800 hotlines, 95xxx).
_COMPANY_TYPES = {
    phonenumbers.PhoneNumberType.TOLL_FREE,
    phonenumbers.PhoneNumberType.SHARED_COST,
    phonenumbers.PhoneNumberType.PREMIUM_RATE,
    phonenumbers.PhoneNumberType.UAN,
}
_SEGMENT = re.compile(r"[^\[\]\x00]+")  # text between placeholders and masks
_SEVEN_DIGITS = re.compile(r"(?:[0-9][^0-9]{0,3}){7}")
_DIGIT_BEFORE = re.compile(r"[0-9][ .-]{0,3}$")
_DIGIT_AFTER = re.compile(r"^[ .-]{0,3}[0-9]")


def library_phones(shadow: str) -> Iterator[Span]:
    """Valid numbers as libphonenumber reads them (region CN, leniency VALID): mobiles written
    as ``139 - 1234 - 5678``, ``139.1234.5678``, ``8613912345678`` and any foreign number
    with a country code. A match that is only part of a longer run of digit groups is rejected
    (it would cut a card or an order number in two), and so are company service numbers."""
    for segment in _SEGMENT.finditer(shadow):
        text = segment.group()
        if not _SEVEN_DIGITS.search(text):
            continue
        matcher = phonenumbers.PhoneNumberMatcher(text, "CN", leniency=phonenumbers.Leniency.VALID)
        for match in matcher:
            start, end = segment.start() + match.start, segment.start() + match.end
            if _DIGIT_BEFORE.search(shadow, max(0, start - 4), start) or _DIGIT_AFTER.match(
                shadow[end : end + 4]
            ):
                continue
            if phonenumbers.number_type(match.number) in _COMPANY_TYPES:
                continue
            if after_order_label(shadow, start):
                continue
            yield start, end


# --- first-generation (15-digit) PRC resident ids ---------------------------------------------

_ID15 = re.compile(r"(?<![0-9])(?<![0-9][ -])[0-9]{6} ?[0-9]{6} ?[0-9]{3}(?![ -]?[0-9])", re.ASCII)


def id15_to_18(value: str) -> str:
    """The 18-character form of a 15-digit id: century 19 inserted, check digit appended
    (GB 11643-1999 conversion), so both generations of one card hash alike."""
    body = value[:6] + "19" + value[6:]
    return body + ric.calc_check_digit(body + "0")


def prc_id15_valid(value: str) -> bool:
    """A 15-digit id has no check digit, so it counts only with a real birth date (19YYMMDD)
    and a region code that existed in its birth year (python-stdnum's region table)."""
    digits = value.replace(" ", "")
    if len(digits) != 15 or not digits.isdigit():
        return False
    try:
        full = id15_to_18(digits)
        ric.get_birth_date(full)
        ric.get_birth_place(full)
    except (ValidationError, KeyError, ValueError):  # KeyError: a region without a county
        return False
    return True


def prc_ids_15(shadow: str) -> Iterator[Span]:
    for m in _ID15.finditer(shadow):
        if prc_id15_valid(m.group()) and not after_order_label(shadow, m.start()):
            yield m.span()


# --- labelled or shaped identifiers ------------------------------------------------------------

# WeChat ids: 6-20 characters, a letter first, then letters, digits, "_" or "-"; found after a
# label, or anywhere in the "wxid_" form the system assigns.
_WECHAT = re.compile(
    r"(?:(?<![A-Za-z])(?:微信号?|威信|薇信|[vV]信|vx|VX|Vx)(?:\s*(?:id|ID|号|账号))?\s*(?:[:：]|是|为)?"
    r"|(?<![A-Za-z])(?:wechat|weixin|wx)(?:\s*id\s*[:：]?|\s*[:：])|微信)\s*"
    r"(?P<id>[A-Za-z][-_A-Za-z0-9]{5,19})(?![-_A-Za-z0-9])"
    r"|(?<![A-Za-z0-9_])(?P<wxid>wxid_[a-z0-9]{6,22})(?![A-Za-z0-9_])",
    re.IGNORECASE,
)
_QQ = re.compile(
    r"(?:QQ|qq|Qq|扣扣|企鹅号|Q号)(?:\s*(?:号码|号|账号|number|no\.?))?\s*(?:[:：]|是|为)?\s*"
    r"(?P<id>[1-9][0-9]{4,11})(?![0-9])",
    re.ASCII | re.IGNORECASE,
)
# Passports: PRC (E + 8 digits, E + letter + 7 digits, old G + 8 digits) anywhere; any
# letter-digit passport number after a passport label.
_PASSPORT_LABELLED = re.compile(
    r"(?:护照(?:号码|号)?|passport(?:\s*(?:no\.?|number|\#))?)\s*(?:[:：]|是|为)?\s*"
    r"(?P<id>[A-Za-z]{1,2}[0-9]{6,9})(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_PASSPORT_PRC = re.compile(
    r"(?<![A-Za-z0-9_-])(?:[EG][0-9]{8}|E[A-HJ-NP-Z][0-9]{7})(?![A-Za-z0-9_-])", re.ASCII
)
# Chinese plates: province character, the city letter, then 5 (6 for new-energy) letters and
# digits holding at least one digit; "·", "-" or a space may follow the city letter.
_PLATE = re.compile(
    r"(?<![A-Za-z0-9])[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]"
    r"[A-HJ-NP-Z][·・\- ]?(?=[A-HJ-NP-Z0-9]{0,5}[0-9])[A-HJ-NP-Z0-9]{5,6}"
    r"(?:[挂学警港澳])?(?![A-Za-z0-9])",
)


def _group(pattern: re.Pattern[str], name: str | None = None) -> Finder:
    def find(shadow: str) -> Iterator[Span]:
        for m in pattern.finditer(shadow):
            group = name if name and m.group(name) is not None else None
            span = m.span(group) if group else m.span()
            if not after_order_label(shadow, span[0]):
                yield span

    return find


def wechat_ids(shadow: str) -> Iterator[Span]:
    for m in _WECHAT.finditer(shadow):
        yield m.span("id") if m.group("id") is not None else m.span("wxid")


qq_numbers = _group(_QQ, "id")
plates = _group(_PLATE)


def passports(shadow: str) -> Iterator[Span]:
    labelled = [m.span("id") for m in _PASSPORT_LABELLED.finditer(shadow)]
    shaped = [s for s in _group(_PASSPORT_PRC)(shadow) if s not in labelled]
    yield from sorted(labelled + shaped)


# --- Chinese addresses without an Arabic house number ------------------------------------------

_CN_NUMERAL = "一二三四五六七八九十百千零〇两"
_STOP = (
    "在是的了与及或把给被让从往至到为住寄送收址改换"
    "我你您他她它们这那哪谁请帮要想去说问吗呢吧啊呀哦嗯"
    "就也还又再很太更最不没有个些么什怎样"
)
_NAME = rf"(?:(?![{_STOP}])[\u4e00-\u9fff])"
_CITY = rf"{_NAME}{{1,7}}?(?:市|自治州|地区|盟)"
_DISTRICT = rf"{_NAME}{{1,7}}?(?:新区|区|县|旗)"
_PROVINCE = rf"{_NAME}{{2,7}}?(?:省|自治区)"
_ROAD = rf"{_NAME}{{1,7}}?(?:大道|大街|路|街|巷|胡同)"
_CN_HOUSE = rf"[{_CN_NUMERAL}]{{1,6}}(?:号院|号楼|号|弄)"
_UNIT = rf"(?:[0-9A-Za-z{_CN_NUMERAL}]{{1,6}}(?:号楼|栋|幢|座|单元|层|室|楼))"
# A road named after a city and district, or a road with a house number in Chinese numerals.
_CN_ROAD_ADDRESS = re.compile(
    rf"(?:{_PROVINCE})?(?:{_CITY}(?:{_DISTRICT})?|{_DISTRICT}){_ROAD}(?:{_CN_HOUSE})?(?:{_UNIT})*"
    rf"|(?:{_CITY})?(?:{_DISTRICT})?{_ROAD}{_CN_HOUSE}(?:{_UNIT})*",
)
_ROAD_ANCHOR = re.compile(rf"(?:[市区县旗].{{1,8}}?(?:路|街|巷|胡同))|[{_CN_NUMERAL}][号弄]")


def cn_road_addresses(shadow: str) -> Iterator[Span]:
    """上海市浦东新区张江路一百号3栋, 杭州市西湖区文三路: a district or city alone, or a road
    alone, identifies no one and is kept; together they are an address."""
    if _ROAD_ANCHOR.search(shadow):
        yield from (m.span() for m in _CN_ROAD_ADDRESS.finditer(shadow))
