"""Person names in Chinese and English text, found conservatively.

A name is replaced only with evidence beyond "this looks like a name", because replacing
ordinary words is damage too (jieba alone tags 张江路, 太贵 and 明说 as person names):

- **known names**: the customers the source itself names (speaker names, the customer of a
  transcript, names on business cards) are replaced wherever they occur;
- **self-introductions and labels**: 我叫张伟, 我的名字是…, 姓名：…, 联系人/收货人 …,
  "my name is …", "call me …";
- **weaker cues confirmed by the segmenter**: 我是/这里是 followed by a token jieba tags as a
  person name (``nr``) starting with a common surname; a full name before an honorific
  (张伟先生, 王小红女士) or a greeting (张伟您好); "this is / I'm" followed by a first name from
  the US census lists and a capitalised surname;
- **English honorifics** (Mr./Ms./Dr. Smith) and **sign-offs** (a name alone on the line after
  "Regards," / "Best," / "谢谢").

- **a bare surname with an honorific** (王小姐, 张先生 → [NAME]小姐, [NAME]先生): a surname
  alone is shared by millions, but with the conversation's date and product it narrows a
  customer down, and a talk track reads as well with the placeholder.

Knowingly kept: nicknames (小王, 老李), and a name with no cue and unknown to the source.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from importlib import resources

__all__ = ["SURNAMES", "NameFinder", "census_first_names", "clean_known_name"]

Span = tuple[int, int]

# Common Chinese surnames (the ~230 most frequent cover well over 95 % of people), less those
# that are mostly function words (和, 时, 全, 应, 单, 管, 车, 连, 路, ...), then compound ones.
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺"
    "顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿"
    "关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕季裴霍涂成苗谷盛曲翁冉骆蓝游辛靳柴蒙鲍华"
    "喻祁蒲房滕屈饶牟艾尤阳穆农司卓古吉缪简项芦麦褚娄窦戚岑景宫费卜冷晏席卫米柏宗"
    "瞿桂佟臧闵苟邬卞姬仇栾隋刁沙荣巫寇桑郎甄丛仲虞敖巩明佘麻苑迟邝"
)
COMPOUND_SURNAMES = [
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "长孙",
    "宇文",
    "司徒",
    "夏侯",
    "令狐",
    "端木",
    "独孤",
    "南宫",
    "西门",
]
_SURNAME = "(?:" + "|".join(COMPOUND_SURNAMES) + "|[" + "".join(sorted(SURNAMES)) + "])"
# Characters that end a name: function words, pronouns, particles, and the first character of
# honorifics and greetings that follow one.
_NOT_GIVEN = set(
    "的了是在和与及或把给被让从往至到为我你您他她它们这那哪谁请帮要想去说问吗呢吧啊呀哦嗯就"
    "也还又再很太更最不没有个些么什怎样先女士姐太夫老师傅阿叔哥总经理您好呢，。、！？：；客谢"
    "路街道巷区市县省镇乡村号楼栋室店厅"
)
_HONORIFIC = "(?:先生|女士|小姐|太太|夫人|老师|同学|阿姨|师傅)"
_GREETING = "(?:您好|你好)"
_CJK = re.compile(r"[\u4e00-\u9fff]")
_BRACKETED = re.compile(r"\[[^\[\]]*\]")

# Strong cues: what follows is a name unless it is plainly not one.
_CN_STRONG = re.compile(
    r"(?:我叫|我的名字(?:是|叫)|名字(?:是|叫)|我姓名是|本人|鄙人|叫我|"
    r"(?:客户|用户)?姓名|联系人|收货人|收件人|寄件人|取件人|签收人|持卡人|开户名|户名|投保人|被保险人|"
    r"配送员|快递员|送货员|骑手)"
    r"\s*[:：]?\s*(?=" + _SURNAME + ")"
)
_CN_WEAK = re.compile(r"(?:我是|这里是|这边是|我这边是)\s*(?=" + _SURNAME + ")")
_BOUNDARY = re.compile(r"$|[^\u4e00-\u9fff]|" + _HONORIFIC + "|" + _GREETING)
_ORG_AFTER = re.compile(
    r"[\u4e00-\u9fff]{0,3}?(?:公司|店|部|中心|银行|集团|市|省|区|县|大学|学院|医院|分行|支行|工厂|厂)"
)
_CN_AFTER_NAME = re.compile(f"{_HONORIFIC}|{_GREETING}")
# A surname right before a form of address: 王小姐, 客户张先生, 谢谢欧阳女士.
_CN_BARE_SURNAME = re.compile(f"{_SURNAME}(?=先生|女士|小姐|太太)")
# In an identifier (a file name), a standalone name-shaped token right next to other personal
# data (张伟_13912345678.md): the neighbour is already a placeholder or a mask by then.
_PLACEHOLDER = r"\[(?:[A-Z]{2,8}|\x00*|[^\[\]]{1,12}x)\]"
_CN_NEXT_TO_PII = re.compile(
    r"(?<![\u4e00-\u9fff])(?P<name>"
    + _SURNAME
    + r"[\u4e00-\u9fff]{1,2})(?=[_\-\s,，:：/]*"
    + _PLACEHOLDER
    + ")"
)
_CN_CUES = re.compile(
    r"我叫|名字|姓名|本人|鄙人|叫我|联系人|收货人|收件人|寄件人|取件人|签收人|持卡人|户名|投保人|"
    r"被保险人|配送员|快递员|送货员|骑手|我是|这里是|这边是|\[|" + _HONORIFIC + "|" + _GREETING
)

_CAP = r"[A-Z][a-z]+(?:['-][A-Z]?[a-z]+)?"
_EN_STRONG = re.compile(
    r"\b(?:[Mm]y name is|[Mm]y name's|[Cc]all me|[Nn]ame\s*:)\s+(?P<name>"
    + _CAP
    + r"(?:\s+"
    + _CAP
    + r"){0,2})"
)
_EN_WEAK = re.compile(
    r"\b(?:[Tt]his is|I am|I'm|[Ii]t's|[Ss]peaking with|[Dd]ear)\s+(?P<first>"
    + _CAP
    + r")(?P<rest>(?:\s+"
    + _CAP
    + r"){0,2})"
)
_EN_HONORIFIC = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+(?P<name>" + _CAP + r"(?:\s+" + _CAP + r"){0,2})"
)
_CLOSING = (  # case-insensitive here only: a name is capitalised
    r"(?i:best regards|kind regards|warm regards|regards|best wishes|best|thanks|thank you|"
    r"many thanks|cheers|sincerely|yours sincerely|yours truly|yours|"
    r"此致敬礼|此致|祝好|谢谢|顺祝商祺)"
)
_SIGN_OFF = re.compile(
    r"(?m)^[ \t]*"
    + _CLOSING
    + r"[ \t]*[,，!！.。]?[ \t]*\r?\n[ \t]*(?P<name>"
    + _CAP
    + r"(?:[ \t]+"
    + _CAP
    + r"){0,2}|"
    + _SURNAME
    + r"[\u4e00-\u9fff]{1,2})[ \t]*$"
)
_EN_CUES = re.compile(
    r"(?i)my name|call me|name\s*:|this is|i am|i'm|it's|speaking with|dear|mr|mrs|ms|miss|mx|dr"
    r"|prof|regards|best|thank|cheers|sincerely|yours|此致|祝好|谢谢|顺祝"
)
# Capitalised words that follow "this is", "Dear", "Mr." without being names.
_NOT_NAME = frozenset(
    [
        "The",
        "A",
        "An",
        "It",
        "This",
        "That",
        "Our",
        "Your",
        "My",
        "His",
        "Her",
        "Their",
        "Its",
        "We",
        "You",
        "He",
        "She",
        "They",
        "Not",
        "Just",
        "Very",
        "So",
        "Customer",
        "Customers",
        "Sir",
        "Madam",
        "Team",
        "Support",
        "Service",
        "Services",
        "Valued",
        "Friend",
        "Friends",
        "All",
        "Everyone",
        "Manager",
        "Doctor",
        "Mister",
        "Miss",
        "Sales",
        "Store",
        "Shop",
        "Company",
        "Order",
        "Account",
        "Client",
        "Member",
        "User",
        "Guest",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Here",
        "There",
        "Please",
        "Thanks",
        "Hello",
        "Hi",
    ]
)


_MIN_SHARE = 0.004  # percent of people: drops rare entries that are ordinary words (Golden)


# First names that are also common words at the start of a sentence.
_WORDS = frozenset(
    {
        *("Will", "Can", "Bill", "Mark", "Grace", "Hope", "Joy", "Rose", "Summer", "Amber"),
        *("Art", "Don", "Sue", "Pat", "Page", "Chase", "Case", "Bond", "Price", "Rich", "Young"),
    }
)


_MIN_LAST_SHARE = 0.001  # the ~19,000 most frequent US surnames
# Chinese surnames in pinyin, as they are written in English text.
_PINYIN_SURNAMES = frozenset(
    re.findall(
        r"\w+",
        "Li Wang Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Luo Gao Zheng "
        "Liang Xie Song Tang Han Feng Deng Cao Peng Zeng Xiao Tian Dong Pan Yuan Cai Jiang Yu "
        "Du Ye "
        "Cheng Wei Su Lu Ding Shen Yao Cui Zhong Tan Fan Jin Shi Liao Jia Xia Fu Fang Bai Zou Meng "
        "Xiong Qin Qiu Hou Long Duan Lei Shao Kong Wan Qian Dai Yan Mo Tao Ren Gu Mao Hao Ouyang",
    )
)


def _census(files: tuple[str, ...], min_share: float) -> set[str]:
    found: set[str] = set()
    for file in files:
        text = resources.files("names").joinpath(file).read_text(encoding="ascii")
        for line in text.splitlines():
            name, share, *_ = line.split()
            if float(share) >= min_share:
                found.add(name.capitalize())
    return found


@cache
def census_first_names() -> frozenset[str]:
    """First names of the US census lists shipped with the `names` package (read once, when
    first needed)."""
    return frozenset(_census(("dist.male.first", "dist.female.first"), _MIN_SHARE) - _NOT_NAME)


@cache
def known_surnames() -> frozenset[str]:
    """Frequent US census surnames and Chinese surnames in pinyin: what may follow "Mr."."""
    return frozenset(_census(("dist.all.last",), _MIN_LAST_SHARE) | _PINYIN_SURNAMES)


def _person_like(words: list[str]) -> bool:
    """Every word a first name or a surname the census lists know ("Mr Aa", "Don Aa" are
    not names)."""
    known = census_first_names() | known_surnames()
    return bool(words) and all(w in known and w not in _NOT_NAME for w in words)


_ROLE_WORDS = re.compile(
    r"^(?:客户|顾客|用户|买家|访客|游客|会员|customer|client|user|buyer|visitor|guest)"
    r"(?:[\s:：_-]+|(?=[\u4e00-\u9fff])|$)",
    re.IGNORECASE,
)
_TRAILING_HONORIFIC = re.compile(_HONORIFIC + r"$|\s*\b(?:Mr|Mrs|Ms|Miss|Dr)\.?$")


def clean_known_name(raw: str) -> str:
    """The name part of a speaker or customer label ('客户张伟' → '张伟', 'Customer: John
    Smith' → 'John Smith'); '' when nothing name-like is left ('客户', '王先生', 'user')."""
    value = " ".join(unicodedata.normalize("NFKC", raw).split())
    value = _ROLE_WORDS.sub("", value)
    value = _TRAILING_HONORIFIC.sub("", value).strip()
    if not value or "[" in value or "]" in value:
        return ""
    cjk = len(_CJK.findall(value))
    if cjk:  # a Chinese name: a surname and at least one given character
        return value if cjk >= 2 and len(value) <= 6 else ""
    return value if len(value) >= 3 and any(c.isalpha() for c in value) else ""


def _segmenter():  # type: ignore[no-untyped-def]
    import jieba
    import jieba.posseg

    jieba.setLogLevel(60)
    return jieba.posseg


class NameFinder:
    """Spans of person names in a shadow text (see `ingest.deidentify`); `known` names are
    found wherever they occur, `keep` names (employees) are never replaced."""

    def __init__(
        self, known: Iterable[str] = (), keep: Iterable[str] = (), *, identifier: bool = False
    ) -> None:
        # In an identifier (a file name) a standalone name-shaped token next to other personal
        # data is a name, whatever the segmenter says: 许平_13912345678.md.
        self.identifier = identifier
        cleaned = {clean_known_name(n) for n in known}
        self.keep = {clean_known_name(n).casefold() for n in keep} - {""}
        names = sorted((n for n in cleaned if n and n.casefold() not in self.keep), key=len)
        self._pattern = "|".join(_known_pattern(n) for n in reversed(names)) if names else ""
        self._known: re.Pattern[str] | None = None  # compiled when first needed
        # Compiling costs more than scanning most texts (~0.5 ms; a conversation's finder is
        # new, and its customer's id, USERID_10480447, is almost never in its messages): it
        # is done only for a text that holds some name's longest run without case.
        anchors = [_uncased_run(n) for n in names]
        self._anchors: list[str] | None = None if "" in anchors else anchors
        # The parts of a known Western name, capitalised, on their own ("Hi Michael").
        parts = {p for n in names if not _CJK.search(n) for p in n.split() if len(n.split()) > 1}
        parts = {p for p in parts if re.fullmatch(_CAP, p) and p not in _NOT_NAME | _WORDS}
        self._parts = (
            re.compile(rf"(?<![A-Za-z0-9_])(?:{'|'.join(map(re.escape, sorted(parts)))})\b")
            if parts
            else None
        )

    def __call__(self, shadow: str) -> Iterator[Span]:
        spans: list[Span] = []
        if self._pattern and (self._anchors is None or any(a in shadow for a in self._anchors)):
            if self._known is None:
                self._known = re.compile(self._pattern, re.IGNORECASE)
            spans += [m.span() for m in self._known.finditer(shadow)]
        if self._parts is not None:
            spans += [m.span() for m in self._parts.finditer(shadow)]
        if _CJK.search(shadow) and _CN_CUES.search(shadow):
            spans += list(_chinese(shadow, self.identifier))
        if _EN_CUES.search(shadow):
            spans += list(_english(shadow))
        brackets = [m.span() for m in _BRACKETED.finditer(shadow)]
        taken: list[Span] = []
        for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
            if taken and start < taken[-1][1]:
                continue
            if any(start < b_end and end > b_start for b_start, b_end in brackets):
                continue  # inside a placeholder ([数字x], [PHONE]) or a masked span
            if shadow[start:end].casefold() in self.keep:
                continue
            taken.append((start, end))
        yield from taken


def _uncased_run(name: str) -> str:
    """The longest run of `name` in characters without case (digits, Chinese, '_'): any
    case-blind match of the name holds it as it is. '' when there is none of two or more."""
    best = run = ""
    for char in name:
        run = run + char if char.lower() == char.upper() and not char.isspace() else ""
        best = max(best, run, key=len)
    return best if len(best) >= 2 else ""


def _known_pattern(name: str) -> str:
    body = r"\s+".join(re.escape(part) for part in name.split())
    if _CJK.search(name):
        return body
    return rf"(?<![A-Za-z0-9_]){body}(?![A-Za-z0-9_])"


# --- Chinese --------------------------------------------------------------------------------


# A name's window (a few characters either side of a cue: 您好, 先生) is tagged by jieba's
# part-of-speech pass, the slowest step of finding names; chats repeat their greetings (a
# customer service's 您好, 很高兴为您服务), and the tags of a window never change in a process.
KEPT_WINDOWS = 20_000


@lru_cache(maxsize=KEPT_WINDOWS)
def _tokens(text: str) -> tuple[tuple[str, str], ...]:
    return tuple((w.word, w.flag) for w in _segmenter().cut(text))


def _surname_len(text: str) -> int:
    if text[:2] in COMPOUND_SURNAMES:
        return 2
    return 1 if text[:1] in SURNAMES else 0


def _given_len(text: str, start: int) -> int:
    """How many of the (at most 2) characters after a surname can be a given name."""
    n = 0
    while n < 2 and start + n < len(text):
        ch = text[start + n]
        if not _CJK.match(ch) or ch in _NOT_GIVEN:
            break
        n += 1
    return n


def _name_at(shadow: str, start: int, *, need_nr: bool) -> int:
    """The end of the full name (surname + 1-2 given characters) starting at `start`, or -1.
    The segmenter decides between 2 and 3 characters; with `need_nr` it must also tag the
    name as a person (``nr``)."""
    s = _surname_len(shadow[start:])
    given = _given_len(shadow, start + s) if s else 0
    if not given:
        return -1
    window = shadow[start : start + s + given + 2]
    tokens = _tokens(window)
    word, flag = tokens[0]
    if need_nr and flag.startswith("nr") and s < len(word) <= s + given:
        end = start + len(word)
        # 郭涛 / 明 ，: a lone character the segmenter split off, followed by a boundary
        if len(word) == s + 1 == s + given - 1 and _BOUNDARY.match(shadow, end + 1):
            return end + 1
        return end
    if need_nr:
        if len(word) == s and flag.startswith("nr") and len(tokens) > 1:
            nxt = tokens[1][0]  # 张 / 伟: the segmenter split surname and given name
            if len(nxt) <= given and all(c not in _NOT_GIVEN for c in nxt):
                return start + s + len(nxt)
        return -1
    if flag in ("ns", "nt", "nz") and _ORG_AFTER.match(shadow, start + len(word)):
        return -1  # a place or an organisation: 联系人：成都分公司
    bounds, pos = set(), 0
    for w, _ in tokens:
        pos += len(w)
        bounds.add(pos)
    if given == 2 and s + 2 not in bounds and s + 1 in bounds:
        return start + s + 1  # 张伟/明天: the third character starts another word
    return start + s + given


def _chinese(shadow: str, identifier: bool = False) -> Iterator[Span]:
    for m in _CN_STRONG.finditer(shadow):
        end = _name_at(shadow, m.end(), need_nr=False)
        if end > 0:
            yield m.end(), end
    for m in _CN_WEAK.finditer(shadow):
        end = _name_at(shadow, m.end(), need_nr=True)
        if end > 0:
            yield m.end(), end
    if identifier:  # in running text the shape alone is too weak (乔一110105…)
        yield from (m.span("name") for m in _CN_NEXT_TO_PII.finditer(shadow))
    for m in _CN_AFTER_NAME.finditer(shadow):
        if (span := _name_before(shadow, m.start())) is not None:
            yield span
    yield from (m.span() for m in _CN_BARE_SURNAME.finditer(shadow))  # a full name wins


def _split_given(first: str, flag: str, rest: str) -> bool:
    """A two-character person token and a lone character after it: one three-character name."""
    if len(rest) != 1 or len(first) != 2 or not flag.startswith("nr"):
        return False
    return _surname_len(first) == 1 and rest not in _NOT_GIVEN and first[1] not in _NOT_GIVEN


def _name_before(shadow: str, cue: int) -> Span | None:
    """The full name ending right before an honorific or greeting at `cue`, when the segmenter
    tags it as a person (a token may hold the honorific too: 张伟先生; a compound surname may
    be a token of its own: 欧阳 / 思涵)."""
    base = max(0, cue - 8)
    pos, prev, found = base, None, None
    for word, flag in _tokens(shadow[base : cue + 2]):
        start, pos = pos, pos + len(word)
        if pos >= cue:
            found = (start, flag) if pos == cue or start < cue else None
            break
        prev = (start, word, flag)
    if found is None:
        return None
    start, flag = found
    name = shadow[start:cue]
    if prev is not None and _split_given(prev[1], prev[2], name):  # 唐磊 / 英 先生
        start, name, flag, prev = prev[0], prev[1] + name, "nr", None
    if prev is not None and len(name) <= 2:
        p_start, p_word, p_flag = prev  # the surname stands alone: 欧阳 / 思涵, 司马 / 华
        single = p_word in SURNAMES and p_flag.startswith("nr") and not flag.startswith("nr")
        if p_word in COMPOUND_SURNAMES or single:
            start, name, flag = p_start, p_word + name, "nr"
    s = _surname_len(name)
    if not flag.startswith("nr") or not s or not 1 <= len(name) - s <= 2:
        return None
    if any(c in _NOT_GIVEN for c in name[s:]):
        return None
    return start, cue


# --- English --------------------------------------------------------------------------------


def _english(shadow: str) -> Iterator[Span]:
    for m in _EN_STRONG.finditer(shadow):
        words = m.group("name").split()
        if words[0] not in _NOT_NAME:
            yield m.span("name")
    first_names = census_first_names()
    for m in _EN_WEAK.finditer(shadow):
        first, rest = m.group("first"), m.group("rest").split()
        if first in first_names - _WORDS and all(w not in _NOT_NAME for w in rest):
            yield m.start("first"), m.end("rest") if rest else m.end("first")
    for m in _EN_HONORIFIC.finditer(shadow):
        if _person_like(m.group("name").split()):
            yield m.span("name")
    for m in _SIGN_OFF.finditer(shadow):
        name = m.group("name")
        if _CJK.match(name) or _person_like(name.split()):
            yield m.span("name")
