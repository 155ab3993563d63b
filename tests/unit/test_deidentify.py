"""De-identification: every kind is found in Chinese and English text, ordinary numbers and
existing placeholders are left alone, hashes link formatting variants, and no raw value
survives — checked on examples and as hypothesis properties."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from ingest.deidentify import (
    PLACEHOLDERS,
    Deidentifier,
    PiiKind,
    Redacted,
    luhn_valid,
    prc_id_valid,
)
from ingest.names import NameFinder, clean_known_name
from ingest.pii_numbers import prc_id15_valid

DEID = Deidentifier("test-key")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- helpers that build valid values ---------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_prc_id(region: str, born: date, seq: int) -> str:
    """An 18-character id with the ISO 7064 MOD 11-2 check digit computed independently."""
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    total = sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def luhn_check_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: these become the odd positions once the check digit is added
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def make_card(body: str) -> str:
    return body + luhn_check_digit(body)


def group(value: str, size: int = 4, sep: str = " ") -> str:
    return sep.join(value[i : i + size] for i in range(0, len(value), size))


def digits_of(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


VALID_ID = "11010519491231002X"  # the GB 11643 specimen
VALID_ID_DIGIT = make_prc_id("440305", date(1990, 3, 7), 123)


def make_invalid_id(valid: str) -> str:
    """The same 17 digits with a wrong check digit, chosen so it is no Luhn-valid card either."""
    wrong = (valid[17], luhn_check_digit(valid[:17]))
    return next(valid[:17] + d for d in "0123456789" if d not in wrong)


INVALID_ID = make_invalid_id(VALID_ID_DIGIT)
VISA = "4111111111111111"
UNIONPAY_19 = make_card("622202123456789012")


# --- validators ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4111111111111111", True),
        ("79927398713", True),
        ("4111 1111 1111 1111", True),
        ("4111-1111-1111-1111", True),
        (UNIONPAY_19, True),
        ("4111111111111112", False),
        ("79927398710", False),
        ("", False),
        ("4111x11111111111", False),
    ],
)
def test_luhn_valid(value: str, expected: bool) -> None:
    assert luhn_valid(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (VALID_ID, True),
        (VALID_ID.lower(), True),
        ("110105 19491231 002X", True),
        (VALID_ID_DIGIT, True),
        ("11010519491231002Y", False),
        ("110105194912310021", False),  # wrong check digit
        (INVALID_ID, False),
        (VALID_ID[:-1], False),  # 17 characters
        (make_prc_id("110105", date(1990, 1, 1), 1)[:-1] + "5", False),
    ],
)
def test_prc_id_valid(value: str, expected: bool) -> None:
    assert prc_id_valid(value) is expected


def test_prc_id_needs_a_real_birth_date() -> None:
    body = "110105" + "19901332" + "123"  # month 13, day 32: check digit computed anyway
    total = sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True))
    assert not prc_id_valid(body + "10X98765432"[total % 11])


# --- each kind, in Chinese and English --------------------------------------------------------

FOUND = [
    # phones: Chinese mobiles in every common writing
    ("客户手机13800138000，请回电", "客户手机[PHONE]，请回电"),
    ("手机：138 0013 8000。", "手机：[PHONE]。"),
    ("电话138-0013-8000谢谢", "电话[PHONE]谢谢"),
    ("联系方式 +86 13800138000", "联系方式 [PHONE]"),
    ("联系方式+86 138 0013 8000。", "联系方式[PHONE]。"),
    ("拨0086 13800138000", "拨[PHONE]"),
    ("(+86)13912345678", "[PHONE]"),
    ("ＴＥＬ：１３８００１３８０００", "ＴＥＬ：[PHONE]"),  # full-width digits
    ("Her mobile is 13800138000.", "Her mobile is [PHONE]."),
    # landlines
    ("公司座机021-62881234转前台", "公司座机[PHONE]转前台"),
    ("北京办公室(010) 8888 7777", "北京办公室[PHONE]"),
    ("深圳0755-2345678", "深圳[PHONE]"),
    ("办公电话 +86 21 6288 1234", "办公电话 [PHONE]"),
    # international / North American
    ("Call me at +1 415-555-0132 tomorrow", "Call me at [PHONE] tomorrow"),
    ("London office: +44 20 7946 0958.", "London office: [PHONE]."),
    ("美国同事电话+1 (415) 555-0132", "美国同事电话[PHONE]"),
    ("Office (415) 555-0132, cell 415-555-0199", "Office [PHONE], cell [PHONE]"),
    # resident ids
    (f"身份证号{VALID_ID}，请核对", "身份证号[ID]，请核对"),
    (f"身份证：{VALID_ID.lower()}", "身份证：[ID]"),
    (f"ID number {VALID_ID_DIGIT} on file", "ID number [ID] on file"),
    ("证件号110105 19491231 002X", "证件号[ID]"),
    # cards
    (f"卡号{VISA}，开户行招商银行", "卡号[CARD]，开户行招商银行"),
    (f"银行卡 {group(UNIONPAY_19)} 尾号", "银行卡 [CARD] 尾号"),
    (f"Card: {group(VISA, sep='-')} exp 12/27", "Card: [CARD] exp 12/27"),
    (f"退款到{group(VISA)} 3张优惠券", "退款到[CARD] 3张优惠券"),
    # e-mails
    ("邮箱zhang.san@example.com，谢谢", "邮箱[EMAIL]，谢谢"),
    ("QQ邮箱 13800138000@qq.com", "QQ邮箱 [EMAIL]"),
    ("Email John.Doe+orders@Example.co.uk.", "Email [EMAIL]."),
    # Chinese addresses
    ("地址：上海市浦东新区张江路88号3栋1201室，工作日收", "地址：[ADDRESS]，工作日收"),
    ("寄到北京市朝阳区建国路1号。", "寄到[ADDRESS]。"),
    ("我住在张江路88号", "我住在[ADDRESS]"),
    ("送到北京市海淀区万柳小区3号楼2单元501", "送到[ADDRESS]"),
    ("收货地址广东省深圳市南山区科技园南区深南大道9988号", "收货地址[ADDRESS]"),
    ("家在万科城市花园3栋1201室", "家在[ADDRESS]"),
    # English addresses
    ("Ship to 1200 Market Street, San Francisco, CA 94102.", "Ship to [ADDRESS]."),
    ("He lives at 221B Baker St, London.", "He lives at [ADDRESS], London."),
    ("Office: 350 Fifth Avenue, Suite 3300, New York, NY 10118", "Office: [ADDRESS]"),
    ("英文地址 1600 Amphitheatre Pkwy，谢谢", "英文地址 [ADDRESS]，谢谢"),
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_each_kind_is_replaced(text: str, expected: str) -> None:
    result = DEID.redact(text)
    assert result.text == expected
    kinds = re.findall(r"\[(PHONE|ID|CARD|EMAIL|ADDRESS)\]", expected)
    assert [f.kind.value for f in result.findings] == kinds


KEPT = [
    "价格¥3,999，优惠后5000元",
    "The price is $1,299.00, or 15% off",
    "下单时间2026-03-05 10:02，预计30天内送达",
    "Delivered on 2026-03-05 at 10:02, within 30 days",
    "订单号 12345678901234，请您查收",  # fails Luhn
    "order #4111111111111112 shipped",  # fails Luhn
    f"订单号：{make_card('1380013800012')}",  # passes Luhn, but labelled as an order number
    "商品ID:13800138000 是这个",  # looks like a mobile, labelled as an id
    f"错误的证件号{INVALID_ID}",  # 18 digits, bad check digit (and not a card: see below)
    "客服热线400-820-8820，全国统一",  # a company hotline, not a customer's number
    "我知道3号发货，第2号窗口",
    "温度-12℃，版本v2.3.1，共3/4页，1.5kg",
    "Room 5, floor 12, 3 items, 2026/03/05",
    "时间10:02:33，编号A-1024，USERID_10480447",
    "上海市浦东新区",  # a district alone identifies no one
    "The 10 Best Way to handle objections, version 2.0 Release Road map",
]


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_numbers_are_kept(text: str) -> None:
    result = DEID.redact(text)
    assert result.text == text
    assert result.findings == []


def test_the_invalid_id_example_is_not_a_card_either() -> None:
    assert not luhn_valid(INVALID_ID)  # so the kept-text case above tests the id check


JDDC_PLACEHOLDERS = [
    "[订单x]",
    "[数字x]",
    "[地址x]",
    "[姓名x]",
    "[金额x]",
    "[日期x]",
    "[时间x]",
    "[站点x]",
    "[电话x]",
    "[邮箱x]",
    "[链接x]",
    "[组织机构x]",
    "[身份证号x]",
    "[价保金额(单件)x]",
]


@pytest.mark.parametrize("placeholder", JDDC_PLACEHOLDERS)
def test_existing_placeholders_are_kept(placeholder: str) -> None:
    for text in (
        f"您好{placeholder}，请稍等",
        f"上海{placeholder}号楼",
        f"{placeholder}-{placeholder}天",
        f"USERID_{placeholder} {placeholder}@{placeholder}.com",
    ):
        assert DEID.redact(text).text == text


def test_jddc_lines_are_kept_and_pii_next_to_placeholders_is_found() -> None:
    line = (
        "[订单编号:[订单x]，订单金额:[金额x]，下单时间:[日期x] [时间x]] 不在同一城市，上海[地址x]"
    )
    assert DEID.redact(line).text == line
    assert DEID.redact("[电话x]13800138000[邮箱x]").text == "[电话x][PHONE][邮箱x]"
    assert DEID.redact("张江路[数字x]号").text == "张江路[数字x]号"
    for kind, placeholder in PLACEHOLDERS.items():
        assert placeholder == f"[{kind.value}]"
        assert DEID.redact(f"已脱敏{placeholder}。").text == f"已脱敏{placeholder}。"


# --- order of the passes ----------------------------------------------------------------------


def test_a_card_with_a_phone_like_tail_is_one_card() -> None:
    card = make_card("622202001380013800")  # 19 digits; the last 11 read like a mobile
    text = f"卡号 {group(card)} 谢谢"
    assert re.search(r"(?<!\d)1[3-9](?:[ -]?\d){9}$", group(card))  # the phone pattern fits
    result = DEID.redact(text)
    assert result.text == "卡号 [CARD] 谢谢"
    assert [f.kind for f in result.findings] == [PiiKind.CARD]


def test_an_id_that_also_passes_luhn_is_an_id() -> None:
    both = next(
        v
        for seq in range(1000)
        if (v := make_prc_id("310115", date(1985, 6, 1), seq))[-1] != "X" and luhn_valid(v)
    )
    result = DEID.redact(f"证件{both}")
    assert [f.kind for f in result.findings] == [PiiKind.ID]


def test_an_email_made_of_a_phone_number_is_one_email() -> None:
    result = DEID.redact("13800138000@163.com")
    assert result.text == "[EMAIL]"
    assert [f.kind for f in result.findings] == [PiiKind.EMAIL]


# --- findings and hashes ----------------------------------------------------------------------

MIXED = (
    "客户张先生，手机138 0013 8000，邮箱Zhang.San@Example.com，"
    f"身份证{VALID_ID}，卡号{group(VISA)}，地址上海市浦东新区张江路88号3栋1201室。"
    "US office +1 415-555-0132, 1200 Market Street, San Francisco, CA 94102."
)
MIXED_RAW = [
    "张",  # 客户张先生: the surname of a form of address
    "138 0013 8000",
    "Zhang.San@Example.com",
    VALID_ID,
    group(VISA),
    "上海市浦东新区张江路88号3栋1201室",
    "+1 415-555-0132",
    "1200 Market Street, San Francisco, CA 94102",
]


def test_findings_point_into_the_original_text() -> None:
    result = DEID.redact(MIXED)
    assert [MIXED[f.start : f.end] for f in result.findings] == MIXED_RAW
    assert [f.kind for f in result.findings] == [
        PiiKind.NAME,
        PiiKind.PHONE,
        PiiKind.EMAIL,
        PiiKind.ID,
        PiiKind.CARD,
        PiiKind.ADDRESS,
        PiiKind.PHONE,
        PiiKind.ADDRESS,
    ]
    for f in result.findings:
        assert f.key_hash == DEID.key_hash(f.kind, MIXED[f.start : f.end])
        assert re.fullmatch(r"[0-9a-f]{32}", f.key_hash)


def test_raw_values_appear_nowhere_in_the_result() -> None:
    result = DEID.redact(MIXED)
    dumped = result.model_dump_json()
    for raw in MIXED_RAW:
        assert raw not in result.text
        assert raw not in dumped
        assert raw.lower() not in dumped.lower()
    for raw in ("13800138000", VISA, "4155550132"):
        assert raw not in digits_of(result.text)
        assert raw not in digits_of(dumped.replace('"start"', "").replace('"end"', ""))


def test_result_is_a_pydantic_model() -> None:
    result = DEID.redact("电话13800138000")
    assert isinstance(result, Redacted)
    assert Redacted.model_validate_json(result.model_dump_json()) == result


SAME_VALUE = [
    (
        PiiKind.PHONE,
        [
            "13800138000",
            "138 0013 8000",
            "138-0013-8000",
            "+86 13800138000",
            "+86-138-0013-8000",
            "0086 138 0013 8000",
            "(+86)13800138000",
            "１３８００１３８０００",
        ],
    ),
    (PiiKind.PHONE, ["021-62881234", "(021) 6288 1234", "+86 21 6288 1234", "0086-21-62881234"]),
    (PiiKind.PHONE, ["+1 415-555-0132", "(415) 555-0132", "415.555.0132", "+1 (415) 555 0132"]),
    (PiiKind.EMAIL, ["Zhang.San@Example.com", "zhang.san@example.com", " ZHANG.SAN@EXAMPLE.COM"]),
    (PiiKind.ID, [VALID_ID, VALID_ID.lower(), "110105 19491231 002X"]),
    (PiiKind.CARD, [VISA, group(VISA), group(VISA, sep="-")]),
    (
        PiiKind.ADDRESS,
        [
            "1200 Market Street, San Francisco, CA 94102",
            "1200 market street san francisco ca 94102",
        ],
    ),
]


@pytest.mark.parametrize(("kind", "variants"), SAME_VALUE)
def test_formatting_does_not_change_the_hash(kind: PiiKind, variants: list[str]) -> None:
    assert len({DEID.key_hash(kind, v) for v in variants}) == 1


def test_the_same_customer_links_across_conversations() -> None:
    first = DEID.redact("我的手机是138 0013 8000，邮箱Li.Lei@Example.com")
    second = DEID.redact("Call +86 13800138000 or mail li.lei@example.com")
    assert [f.key_hash for f in first.findings] == [f.key_hash for f in second.findings]


def test_hashes_depend_on_key_kind_and_value() -> None:
    other = Deidentifier("another-key")
    assert DEID.key_hash(PiiKind.PHONE, "13800138000") != other.key_hash(
        PiiKind.PHONE, "13800138000"
    )
    assert DEID.key_hash(PiiKind.PHONE, "13800138000") != DEID.key_hash(
        PiiKind.PHONE, "13800138001"
    )
    assert DEID.key_hash(PiiKind.PHONE, VISA) != DEID.key_hash(PiiKind.CARD, VISA)
    first, second = DEID.redact("13800138000"), other.redact("13800138000")
    assert first.text == second.text
    assert first.findings[0].key_hash != second.findings[0].key_hash


def test_key_hash_text_uses_the_kind_when_the_value_is_one() -> None:
    assert DEID.key_hash_text(" +86 138 0013 8000 ") == DEID.key_hash(PiiKind.PHONE, "13800138000")
    assert DEID.key_hash_text("wmABC123") == DEID.key_hash_text("  WMabc123 ")
    assert DEID.key_hash_text("wmABC123") != Deidentifier("x").key_hash_text("wmABC123")


def test_the_key_is_required_and_may_be_a_secret() -> None:
    with pytest.raises(ValueError):
        Deidentifier("")
    assert Deidentifier(SecretStr("test-key")).key_hash(PiiKind.EMAIL, "a@b.cn") == DEID.key_hash(
        PiiKind.EMAIL, "a@b.cn"
    )


# --- properties -------------------------------------------------------------------------------

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
LATIN = st.characters(min_codepoint=ord("a"), max_codepoint=ord("z")) | st.characters(
    min_codepoint=ord("A"), max_codepoint=ord("Z")
)
PUNCT = st.sampled_from(list(" ，。：；！？、,.:;!?()（）\n"))
# Filler around an embedded value: no digits, "@" or "+", which could join the value.
FILLER = st.text(CJK | LATIN | PUNCT, max_size=12)
NO_PII = st.text(CJK | LATIN | PUNCT | st.sampled_from(list("-_'\"#&*/[]【】《》")), max_size=60)

MOBILES = st.builds(
    lambda second, rest: f"1{second}{rest}",
    st.sampled_from("3456789"),
    st.text("0123456789", min_size=9, max_size=9),
)
MOBILE_FORMATS = st.sampled_from(
    [
        lambda m: m,
        lambda m: f"{m[:3]} {m[3:7]} {m[7:]}",
        lambda m: f"{m[:3]}-{m[3:7]}-{m[7:]}",
        lambda m: f"+86 {m}",
        lambda m: f"+86-{m[:3]}-{m[3:7]}-{m[7:]}",
        lambda m: f"0086{m}",
    ]
)
PRC_IDS = st.builds(
    make_prc_id,
    st.integers(110000, 829999).map(str),
    st.dates(date(1900, 1, 1), date(2099, 12, 31)),
    st.integers(0, 999),
)
CARDS = st.builds(
    lambda prefix, body, length: make_card((prefix + body)[: length - 1]),
    st.sampled_from(["4", "51", "55", "62", "6011", "35", "37"]),
    st.text("0123456789", min_size=18, max_size=18),
    st.integers(13, 19),
)
CARD_FORMATS = st.sampled_from(
    [lambda c: c, lambda c: group(c), lambda c: group(c, sep="-"), lambda c: group(c, size=6)]
)
EMAILS = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,14}", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,8})?", fullmatch=True),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)


@PROPERTY
@given(FILLER, MOBILES, MOBILE_FORMATS, FILLER)
def test_valid_mobiles_never_survive(
    before: str, mobile: str, fmt: Callable[[str], str], after: str
) -> None:
    written = fmt(mobile)
    result = DEID.redact(before + written + after)
    assert written not in result.text
    assert mobile not in digits_of(result.text)
    assert [f.kind for f in result.findings] == [PiiKind.PHONE]
    assert result.findings[0].key_hash == DEID.key_hash(PiiKind.PHONE, mobile)


@PROPERTY
@given(FILLER, PRC_IDS, st.booleans(), FILLER)
def test_valid_ids_never_survive(before: str, prc_id: str, lower: bool, after: str) -> None:
    written = prc_id.lower() if lower else prc_id
    result = DEID.redact(before + written + after)
    assert prc_id[:17] not in digits_of(result.text)
    assert [f.kind for f in result.findings] == [PiiKind.ID]


@PROPERTY
@given(FILLER, CARDS, CARD_FORMATS, FILLER)
def test_luhn_valid_cards_never_survive(
    before: str, card: str, fmt: Callable[[str], str], after: str
) -> None:
    result = DEID.redact(before + fmt(card) + after)
    assert card not in digits_of(result.text)
    assert len(result.findings) == 1
    assert result.findings[0].kind in {PiiKind.CARD, PiiKind.ID}  # 18 digits may be an id


@PROPERTY
@given(FILLER, EMAILS, FILLER)
def test_emails_never_survive(before: str, email: str, after: str) -> None:
    result = DEID.redact(before + email + after)
    assert email.lower() not in result.text.lower()
    assert PiiKind.EMAIL in [f.kind for f in result.findings]


@PROPERTY
@given(NO_PII)
def test_text_without_pii_comes_back_unchanged(text: str) -> None:
    result = DEID.redact(text)
    assert result.text == text
    assert result.findings == []


ANY_PII = st.one_of(
    st.builds(lambda m, f: f(m), MOBILES, MOBILE_FORMATS),
    PRC_IDS,
    st.builds(lambda c, f: f(c), CARDS, CARD_FORMATS),
    EMAILS,
    st.sampled_from([*MIXED_RAW, "021-62881234", "+44 20 7946 0958", "221B Baker St"]),
)
NOISE = st.lists(
    CJK
    | LATIN
    | PUNCT
    | st.sampled_from(list("0123456789 -+@.[]()#"))
    | st.sampled_from(
        ["[数字x]", "[PHONE]", "号", "路", "栋", "室", "市", "区", " Street", ", CA "]
    ),
    max_size=20,
).map("".join)


@pytest.mark.parametrize(
    "text",
    [
        # too many digits for one international number until the mobile after it is masked
        "138 0013 8000+44 20 7946 0958130 0000 0000",
        # an e-mail glued to the end of another one
        "130000000000@0.aa0@0.aa",
        # an id ending in X right before a mobile
        "35500919370707080X13000000000",
        # a card grouped 4-4-4-4-2, whose tail looks like an international 00 number
        f"{group(make_card('51000000001000000'))} 谢谢",
    ],
)
def test_redact_is_idempotent_on_found_cases(text: str) -> None:
    once = DEID.redact(text)
    assert once.findings
    assert DEID.redact(once.text).text == once.text


@PROPERTY
@given(st.lists(st.tuples(NOISE, ANY_PII), max_size=4), NOISE)
def test_redact_is_idempotent(parts: list[tuple[str, str]], tail: str) -> None:
    text = "".join(noise + pii for noise, pii in parts) + tail
    once = DEID.redact(text)
    assert DEID.redact(once.text).text == once.text
    # the findings describe exactly the replacement that was made
    rebuilt, last = [], 0
    for f in once.findings:
        assert last <= f.start < f.end <= len(text)
        rebuilt += [text[last : f.start], PLACEHOLDERS[f.kind]]
        last = f.end
    assert "".join([*rebuilt, text[last:]]) == once.text


# --- names, WeChat, QQ, passports, plates; more phone, id and address formats -----------------

MORE_FOUND = [
    # a bare surname with a form of address
    ("王小姐您好，请问有什么可以帮您", "[NAME]小姐您好，请问有什么可以帮您"),
    ("客户张先生，请稍等", "客户[NAME]先生，请稍等"),
    ("谢谢欧阳女士", "谢谢[NAME]女士"),
    ("李明先生您好", "[NAME]先生您好"),
    # names: self-introductions and labels
    ("我叫张伟，手机坏了", "我叫[NAME]，手机坏了"),
    ("您好，我是王小明，想问一下", "您好，我是[NAME]，想问一下"),
    ("收货人：刘思远 电话", "收货人：[NAME] 电话"),
    ("姓名:赵梓涵", "姓名:[NAME]"),
    ("我叫李娜啊", "我叫[NAME]啊"),
    # names: a full name before an honorific or a greeting, confirmed by the segmenter
    ("张伟先生您好", "[NAME]先生您好"),
    ("王小红女士，您的快递到了", "[NAME]女士，您的快递到了"),
    # names: English cues, honorifics and sign-offs
    ("Hi, this is John Smith from Acme.", "Hi, this is [NAME] from Acme."),
    ("My name is Li Lei.", "My name is [NAME]."),
    ("Mr. Smith will call back", "Mr. [NAME] will call back"),
    ("Thanks for the help.\nRegards,\nMichael Johnson", "Thanks for the help.\nRegards,\n[NAME]"),
    ("好的，谢谢\n祝好\n张伟", "好的，谢谢\n祝好\n[NAME]"),
    # WeChat, QQ
    ("微信号 zhangwei_1988，加我", "微信号 [WECHAT]，加我"),
    ("WeChat ID: li_lei88", "WeChat ID: [WECHAT]"),
    ("他的wxid_abc123def", "他的[WECHAT]"),
    ("QQ 123456789", "QQ [QQ]"),
    ("我的qq号是87654321", "我的qq号是[QQ]"),
    # passports
    ("护照E12345678", "护照[PASSPORT]"),
    ("passport no. G12345678, expires 2030", "passport no. [PASSPORT], expires 2030"),
    ("证件 EA1234567", "证件 [PASSPORT]"),
    # licence plates
    ("车牌京A12345", "车牌[PLATE]"),
    ("粤B·D12345的车", "[PLATE]的车"),
    # ids written in groups, and the 15-digit first generation
    ("身份证110105 1949 1231 002X", "身份证[ID]"),
    ("身份证 110105-19491231-002X", "身份证 [ID]"),
    ("老身份证110105491231002", "老身份证[ID]"),
    # phones in formats the patterns miss (libphonenumber)
    ("手机139 - 1234 - 5678，谢谢", "手机[PHONE]，谢谢"),
    ("Mobile 139.1234.5678.", "Mobile [PHONE]."),
    ("电话8613912345678", "电话[PHONE]"),
    # Chinese addresses with Chinese numerals, or a road without a number
    ("地址上海市浦东新区张江路一百号3栋", "地址[ADDRESS]"),
    ("寄到杭州市西湖区文三路，谢谢", "寄到[ADDRESS]，谢谢"),
]


@pytest.mark.parametrize(("text", "expected"), MORE_FOUND)
def test_more_kinds_are_replaced(text: str, expected: str) -> None:
    result = DEID.redact(text)
    assert result.text == expected
    kinds = re.findall(r"\[([A-Z]+)\]", expected)
    assert [f.kind.value for f in result.findings] == kinds
    assert DEID.redact(result.text).text == result.text  # idempotent


MORE_KEPT = [
    "我是想问一下退货",
    "我是新用户，第一次买",
    "您好，我是客服小李",  # a nickname
    "这里是张江路",
    "联系人：成都分公司",
    "微信支付很方便",
    "Can I use WeChat payment?",
    "This is Golden Shield Medical, the plan for families",
    "Dear Customer, thank you",
    "I'm Very happy with it",
    "Thanks\nsee you tomorrow",  # a sign-off name is capitalised
    "Best,\nThe Support Team",
    "型号E12345678A，颜色黑色",
    "客服热线400-820-8820，全国统一",
    "上海市浦东新区",
    "买了3件，共399元，5号发货",
]


@pytest.mark.parametrize("text", MORE_KEPT)
def test_ordinary_words_are_kept(text: str) -> None:
    result = DEID.redact(text)
    assert result.text == text
    assert result.findings == []


def test_known_names_are_replaced_wherever_they_occur() -> None:
    result = DEID.redact("王芳您好，王芳的快递明天到", known_names=["客户王芳"])
    assert result.text == "[NAME]您好，[NAME]的快递明天到"
    english = DEID.redact("Thanks JOHN SMITH, john smith will hear from us", ["John Smith"])
    assert english.text == "Thanks [NAME], [NAME] will hear from us"


def test_employee_names_are_kept() -> None:
    text = "您好，我是张伟，很高兴为您服务"
    assert DEID.redact(text).text == "您好，我是[NAME]，很高兴为您服务"
    assert DEID.redact(text, keep_names=["张伟"]).text == text
    assert DEID.redact(text, known_names=["张伟"], keep_names=["张伟"]).text == text


def test_a_known_name_is_compiled_only_for_a_text_that_may_hold_it() -> None:
    finder = NameFinder(["USERID_10480447"])
    assert list(finder("好的，请问还有什么可以帮您")) == []
    assert finder._known is None  # no text held its digits: nothing was compiled
    text = "订单是userid_10480447的"
    assert [text[a:b] for a, b in finder(text)] == ["userid_10480447"]
    assert DEID.redact("我是UserId_10480447", ["USERID_10480447"]).text == "我是[NAME]"


_NAME_CHARS = "AaBbKkSsIiß_0123456789 王芳李四ſKıİ"  # ſ, Kelvin, ı, İ


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.text(_NAME_CHARS, min_size=1, max_size=12), min_size=1, max_size=3),
    st.text(_NAME_CHARS + "，。x", max_size=20),
    st.sampled_from([str.upper, str.lower, str.swapcase, str]),
    st.text(_NAME_CHARS + "，。", max_size=8),
)
def test_known_names_are_found_as_when_always_compiled(
    names: list[str], before: str, case: Callable[[str], str], after: str
) -> None:
    """Skipping a text that lacks a name's uncased characters finds what the case-blind
    pattern would: the same spans, whatever the case of the name in the text."""
    text = before + case(names[0]) + after
    lazy, eager = NameFinder(names), NameFinder(names)
    eager._anchors = None  # every text scanned
    assert list(lazy(text)) == list(eager(text))


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("客户王芳", "王芳"),
        ("Customer: John Smith", "John Smith"),
        ("客户", ""),
        ("王先生", ""),
        ("user", ""),
        ("[姓名x]", ""),
        ("USERID_10480447", "USERID_10480447"),
    ],
)
def test_known_names_are_cleaned_of_roles_and_honorifics(raw: str, cleaned: str) -> None:
    assert clean_known_name(raw) == cleaned


def test_the_same_person_stays_linkable_without_the_name() -> None:
    first = DEID.redact("我叫张伟，想退货")
    second = DEID.redact("张伟先生您好")
    assert first.findings[0].key_hash == second.findings[0].key_hash
    assert first.findings[0].key_hash != DEID.redact("我叫李娜").findings[0].key_hash
    # and with the customer key ingest makes of the same name
    assert first.findings[0].key_hash == DEID.key_hash_text("张伟")


MORE_SAME_VALUE = [
    (PiiKind.ID, [VALID_ID, "110105491231002", "110105 1949 1231 002X"]),  # 15 → 18 digits
    (PiiKind.PHONE, ["13912345678", "139 - 1234 - 5678", "139.1234.5678", "8613912345678"]),
    (PiiKind.WECHAT, ["ZhangWei_1988", "zhangwei_1988"]),
    (PiiKind.PLATE, ["京A12345", "京a 12345", "京A-12345"]),
    (PiiKind.PASSPORT, ["E12345678", "e12345678"]),
    (PiiKind.NAME, ["John Smith", "john  smith", "JOHN SMITH"]),
]


@pytest.mark.parametrize(("kind", "variants"), MORE_SAME_VALUE)
def test_formatting_does_not_change_the_hash_of_new_kinds(
    kind: PiiKind, variants: list[str]
) -> None:
    assert len({DEID.key_hash(kind, v) for v in variants}) == 1


def test_15_digit_ids_need_a_known_region_and_a_real_date() -> None:
    assert prc_id15_valid("110105491231002")
    assert not prc_id15_valid("999999491231002")  # no such region
    assert not prc_id15_valid("110105491332002")  # month 13
    assert DEID.redact("编号999999491231002").findings == []


def test_identifiers_stay_unique_and_stable() -> None:
    name = "客户/张伟_13912345678_11010519491231002X.md"
    uri = DEID.redact_identifier(name)
    assert re.fullmatch(r"客户/\[NAME\]_\[PHONE\]_\[ID\]_h[0-9a-f]{8}\.md", uri)
    assert DEID.redact_identifier(name) == uri  # re-ingest: same uri
    assert DEID.redact_identifier(uri) == uri  # nothing left to replace
    other = DEID.redact_identifier(name.replace("13912345678", "13912345679"))
    assert other != uri and other.rsplit("_h", 1)[0] == uri.rsplit("_h", 1)[0]
    assert DEID.redact_identifier("docs/退货政策.md") == "docs/退货政策.md"
    # a standalone name next to other personal data is a name in a file name, not in text
    assert DEID.redact_identifier("许平_13912345678.md").startswith("[NAME]_[PHONE]_h")
    assert DEID.redact("许平_13912345678").text == "许平_[PHONE]"
