"""The vocabulary of contradiction finding: figures, units, policy terms, negators, stop
words. Kept apart from the matching logic (seci/conflicts.py) so both stay readable."""

from __future__ import annotations

import re

NUM = r"\d+(?:[,，]\d{3})*(?:\.\d+)?"
CN = r"[零〇一二两三四五六七八九十百千]+"


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


EN_WORDS = words(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
EN_NUMBERS = {w: i + 1.0 for i, w in enumerate(EN_WORDS)} | {"thirty": 30.0, "ninety": 90.0}
EN = r"\b(?:" + "|".join(EN_NUMBERS) + r")\b"
MULTIPLIERS = {"万": 1e4, "千": 1e3, "百万": 1e6, "million": 1e6, "thousand": 1e3, "k": 1e3}
MULT = r"(?:\s?(?:百万|万|千|million|thousand|k)\b|百万|万|千)?"
CURRENCY = r"(?:US\$|USD|RMB|CNY|EUR|\$|¥|￥|€)"
# family, factor to the family's base unit, then the units as written ('|'-separated).
_UNIT_TABLE: tuple[tuple[str, float, str], ...] = (
    ("workday", 1, "个工作日|工作日|business days|business day|working days"),
    ("day", 1 / 24, "个小时|小时|hours|hour"),
    ("day", 1 / 1440, "分钟|minutes"),
    ("day", 1, "天|日|days|day"),
    ("day", 7, "个星期|星期|周|weeks|week"),
    ("day", 30, "个月|months|month"),
    ("day", 365, "年|years|year"),
    ("age", 1, "周岁|岁|years old"),
    ("amount:CNY", 1, "元|块钱|块|人民币|rmb|cny|yuan"),
    ("amount:CNY", 10_000, "万元"),
    ("amount:USD", 1, "美元|usd|dollars"),
    ("amount:EUR", 1, "欧元|eur"),
    ("percent", 1, "%|％|percent"),
    ("count:次", 1, "次(?!性)|times"),
    ("count:件", 1, "件"),
    ("count:种", 1, "种"),
    ("count:倍", 1, "倍"),
    ("count:积分", 1, "积分|points"),
    ("count:级", 1, "级"),
)
UNITS = {u: (family, f) for family, f, units in _UNIT_TABLE for u in units.split("|")}
PREFIX_CURRENCY = {"us$": "USD", "usd": "USD", "$": "USD", "rmb": "CNY", "cny": "CNY",
                    "¥": "CNY", "￥": "CNY", "eur": "EUR", "€": "EUR"}  # fmt: skip
UNIT_RE = "|".join(  # longest first: 周岁 before 周, 个工作日 before 日
    u if "(" in u else re.escape(u) for u in sorted(UNITS, key=len, reverse=True)
)
VALUE = rf"(?:{NUM}|{CN}|{EN})"
FIGURE = re.compile(
    rf"(?:百分之(?P<pct>{NUM}|{CN}))"
    rf"|(?:(?P<cur>{CURRENCY})\s?(?P<lo1>{NUM}){MULT}(?:\s?[-–—~～至到]\s?(?P<hi1>{NUM}))?"
    rf"(?P<mult1>{MULT}))"
    rf"|(?:(?P<lo>{VALUE})(?P<mult0>{MULT})(?:\s?(?:[-–—~～至到]|to)\s?(?P<hi>{VALUE}))?"
    rf"(?P<mult>{MULT})\s?(?:个)?\s?(?P<unit>{UNIT_RE})?)",
    re.IGNORECASE,
)
# Numbers that are not facts: dates, clock times, phone numbers, ordinals, list markers.
NOT_FIGURE = re.compile(
    r"\d{4}\s*年(?:\s*\d{1,2}\s*月)?(?:\s*\d{1,2}\s*[日号])?|\d{4}\s*版|\d{1,2}\s*月\s*\d{1,2}\s*[日号]"
    r"|月\s*\d{1,2}\s*[日号]|\d{1,2}\s*月(?!\d)|\d{1,2}:\d{2}|\d{3,4}-\d{3,4}-\d{3,4}|\d{7,}"
    r"|第\s*[\d零〇一二两三四五六七八九十百]+|^\s*(?:\d+|[一二三四五六七八九十]+)[.、)）]"
    r"|(?<![$¥￥\d])(?<!usd )(?<!rmb )(?<!cny )\b(?:19|20)\d{2}\b"
    r"(?!\s*(?:[元块%]|cny|rmb|usd|yuan|dollars|eur))|day one",
    re.MULTILINE | re.IGNORECASE,
)
# Policy terms: each group lists mutually exclusive alternatives.
_TERMS: dict[str, dict[str, str]] = {
    "payer": {
        "merchant": r"由?(?:云裳|商家|卖家|我们|我方|本店|公司|平台|店铺)(?:来)?(?:承担|负责|支付)"
        r"|\bwe (?:pay|cover)\b|paid by us|at our (?:cost|expense)",
        "customer": r"由?(?:顾客|客户|买家|消费者|您|用户|会员)(?:自行|自己)?"
        r"(?:承担|负责|支付|自付)"
        r"|运费自理|自行承担|\byou pay\b|at your (?:own )?(?:cost|expense)"
        r"|paid by (?:the )?customer|customer pays|deducted from (?:the|your) refund",
    },
    "shipping": {
        "paid": r"不包邮|收取运费|运费自理|shipping fee applies",
        "free": r"(?<!不)包邮|免运费|免邮|运费全免|free shipping",
    },
    "order": {
        "send_first": r"先发后退|先换后退|before you return",
        "return_first": r"先退后发|先退后换|收到退货后再?发|after we receive your return",
    },
}
TERM_RE = re.compile(
    "|".join(
        f"(?P<{g}__{alt}>{pattern})" for g, alts in _TERMS.items() for alt, pattern in alts.items()
    ),
    re.IGNORECASE,
)
NEGATOR = re.compile(
    r"不可以|不可|不能|不得|不予|不支持|不会|不再|不用|无法|无需|没有|未经|未|非|不"
    r"|无(?!理由|门槛|忧|论)|\b(?:not|no|never|cannot|can't|won't|isn't|aren't|doesn't|don't)\b",
    re.IGNORECASE,
)
SENTENCE = re.compile(r"[。！？；;!?\n]+|\.(?=\s|$)")
CLAUSE = re.compile(r"[，、：（）()|]|,(?!\d{3})|:(?!\d)")
STOP = frozenset(
    words(
        "的 了 在 是 和 与 或 及 并 由 自 起 内 后 前 时 为 按 以 将 把 被 对 从 到 于 等"
        " 可 能 会 也 都 就 还 再 即 其 该 此 之 中 上 下 请 如 若 则 所 而 且 但 又 已 给"
        " 向 至 个 可以 能够 您"
        " 我们 如果 以及 或者 通常 需要 进行 a an the is are was were be been being to of in on"
        " for within by and or we you your our it its this that with as at from will can may any"
        " all per each up than more less after usually only also if into out"
    )
)
# Words that recur in every policy sentence: they count, but half.
WEAK = frozenset(
    words("申请 签收 次日 商品 订单 客服 办理 保险 保单 提供 发起 完成 支持 order item")
)
COMPOUNDS = {("无", "理由"): "无理由", ("免", "赔额"): "免赔额", ("等待", "期"): "等待期"}
OVERLAP = 0.7  # share of the overlap coefficient in the subject similarity
MIN_SUBJECT = 2.0  # a one-word subject inside a long sentence is only half a match
OTHER_FACT_CLAUSE = 0.25  # weight of a clause that holds another fact of the same family
NOT = "¬"
MAX_POSTING = 2000  # a token in more sentences than this is too common to pair on
