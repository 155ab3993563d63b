"""De-identification on a planted corpus: precision and recall per kind, at character level.

The corpus is generated (fixed seed): sentences in Chinese and English with planted values of
every kind — names in every context the finder knows (self-introductions, labels, honorifics,
greetings, sign-offs, names the source gives as the customer) and in contexts it does not know
(no cue at all), phones in many formats, ids of both generations, WeChat, QQ, passports,
plates, addresses, e-mails, cards — plus ordinary sentences with no personal data: a built-in
set of hard cases (prices, dates, order numbers, hotlines, product codes, 张江路 alone)
and, when DATA_DIR is given, utterances of the JDDC sample (JD.com customer service, already
de-identified by JD: any finding there is a false positive; read in place, never copied).

Per kind: precision = planted characters of that kind found as that kind / characters found as
that kind; recall = planted characters found as that kind / planted characters; "removed" =
planted characters replaced by any placeholder (what matters for privacy). Beside Spiral, the
baselines: the regex-only de-identifier as it was before names and the new kinds (the
`ingest/deidentify.py` of git HEAD, when git is at hand; else skipped), and for names jieba's
person tag alone (every ``nr`` token of two or more characters).

    .venv/bin/python benchmarks/deid_eval.py [DATA_DIR] [--per-kind 150] [--jddc 3000] [--seed 7]

DATA_DIR defaults to SPIRAL_EVAL_DATA or ../shared/eval/data (jddc2019/chat_0.1per.txt).
Results: benchmarks/results/deid_eval.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from common import (
    RESULTS,
    ROOT,
    data_dir,
    machine_info,
    read_banking77,
    read_jddc,
    table,
    write_json,
)
from stdnum import luhn
from stdnum.cn import ric

from ingest.deidentify import Deidentifier
from ingest.pii_numbers import prc_id15_valid

# One planted sentence: the text, the gold spans (start, end, kind), the known names.
Planted = tuple[str, list[tuple[int, int, str]], list[str]]
Redactor = Callable[[str, list[str]], list[tuple[int, int, str]]]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏"
)
COMPOUND = ["欧阳", "司马"]
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰萍红鹏辉宇浩然思远子涵梓萱雨欣佳怡晨俊凯"
FIRST = ["James", "Mary", "Robert", "Linda", "Michael", "Susan", "David", "Karen", "Daniel"]
FIRST += ["Nancy", "Thomas", "Lisa", "Emily", "Kevin"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson"]
LAST += ["Taylor", "Anderson", "Moore"]
REGIONS = ["110105", "310115", "440305", "330106", "320106", "510107", "420106"]

NAME_TEMPLATES = {
    "cue": [
        "我叫{v}，想咨询一下退货",
        "收货人：{v}，电话稍后发您",
        "姓名：{v}",
        "联系人{v}，麻烦尽快处理",
        "我的名字是{v}。",
        "Hi, my name is {v}.",
        "Thanks for your help.\nRegards,\n{v}",
        "Hi, this is {v} from the purchasing team.",
    ],
    "segmenter": [
        "您好，我是{v}，昨天下的单",
        "{v}先生您好，您的订单已发货",
        "{v}女士，请问还有什么问题",
        "{v}您好，已经为您登记",
        "Dear {v}, your parcel is on its way.",
    ],
    "known": ["好的{v}，我帮您查一下", "Thanks {v}, noted.", "{v}的快递明天到"],
    "no cue": [
        "昨天{v}来店里买了一件外套",
        "{v}说这个价格太贵了",
        "{v} bought two shirts last week.",
    ],
}
OTHER_TEMPLATES = {
    "PHONE": ["我的手机是{v}，谢谢", "Call me on {v} please.", "电话：{v}"],
    "ID": ["身份证号{v}，请核对", "My ID number is {v}.", "证件{v}"],
    "WECHAT": ["加我微信号 {v}，谢谢", "WeChat ID: {v}", "vx：{v}"],
    "QQ": ["我的QQ {v}", "my QQ number: {v}", "扣扣{v}"],
    "PASSPORT": ["护照号{v}过期了", "passport no. {v} expired", "证件{v}"],
    "PLATE": ["车牌{v}的车主", "plate {v} is mine", "停在门口的{v}"],
    "ADDRESS": ["寄到{v}，谢谢", "ship to {v} please", "地址：{v}"],
    "EMAIL": ["邮箱{v}", "mail me at {v}."],
    "CARD": ["卡号{v}，开户行招商银行", "card {v} please"],
}
ORDINARY = [
    "价格¥3,999，优惠后5000元",
    "The price is $1,299.00, or 15% off",
    "下单时间2026-03-05 10:02，预计30天内送达",
    "订单号 12345678901234，请您查收",
    "客服热线400-820-8820，全国统一",
    "型号E12345678A，颜色黑色",
    "我是想问一下退货",
    "我是新用户，第一次买",
    "您好，我是客服小李",
    "这里是张江路",
    "上海市浦东新区",
    "联系人：成都分公司",
    "微信支付很方便",
    "Can I use WeChat payment?",
    "This is Golden Shield Medical, the plan for families",
    "Dear Customer, thank you for your order",
    "I'm Very happy with it",
    "The 10 Best Way to handle objections",
    "买了3件，共399元，5号发货",
    "李宁的鞋子质量不错",
    "版本v2.3.1，共3/4页，1.5kg",
    "Will you ship it today? Mark it urgent.",
    "Best regards,\nThe Support Team",
    "Thanks\nsee you tomorrow",
    "温度-12℃，编号A-1024",
    "京东自营的商品七天无理由退货",
    "Thanks, I will check with my manager.",
    "高端系列13寸，售价6999",
]


# --- value generators -------------------------------------------------------------------------


def _cn_name(rng: random.Random) -> str:
    surname = rng.choice(COMPOUND) if rng.random() < 0.05 else rng.choice(SURNAMES)
    return surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2])))


def _en_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _mobile(rng: random.Random) -> str:
    return rng.choice(["139", "138", "135", "150", "158", "186", "188", "177"]) + "".join(
        rng.choice("0123456789") for _ in range(8)
    )


def _phone(rng: random.Random) -> str:
    m = _mobile(rng)
    return rng.choice(
        [
            m,
            f"{m[:3]} {m[3:7]} {m[7:]}",
            f"{m[:3]}-{m[3:7]}-{m[7:]}",
            f"{m[:3]} - {m[3:7]} - {m[7:]}",
            f"{m[:3]}.{m[3:7]}.{m[7:]}",
            f"86{m}",
            f"+86 {m}",
            f"021-6{rng.randrange(1000000, 9999999)}",
            f"+1 415-555-{rng.randrange(1000, 9999)}",
        ]
    )


def _birth(rng: random.Random, first: int, last: int) -> date:
    return date(first, 1, 1) + timedelta(days=rng.randrange((last - first) * 365))


def _prc_id(rng: random.Random) -> str:
    if rng.random() < 0.3:  # first generation, 15 digits
        while True:
            v = f"{rng.choice(REGIONS)}{_birth(rng, 1930, 1999):%y%m%d}{rng.randrange(1000):03d}"
            if prc_id15_valid(v):
                return v
    body = f"{rng.choice(REGIONS)}{_birth(rng, 1950, 2005):%Y%m%d}{rng.randrange(1000):03d}"
    v = body + ric.calc_check_digit(body + "0")
    return rng.choice([v, f"{v[:6]} {v[6:10]} {v[10:14]} {v[14:]}", f"{v[:6]}-{v[6:14]}-{v[14:]}"])


def _wechat(rng: random.Random) -> str:
    head = rng.choice("abcdefghjkmnpqrstwxyz")
    chars = "abcdefghijklmnopqrstuvwxyz0123456789_"
    tail = "".join(rng.choice(chars) for _ in range(rng.randint(5, 12)))
    return rng.choice([head + tail, f"wxid_{tail.replace('_', 'a')}x"])


def _qq(rng: random.Random) -> str:
    return str(rng.randrange(10_000, 9_999_999_999))


def _passport(rng: random.Random) -> str:
    digits = f"{rng.randrange(10**7, 10**8)}"
    return rng.choice([f"E{digits}", f"G{digits}", f"E{rng.choice('ABCDEF')}{digits[:7]}"])


def _plate(rng: random.Random) -> str:
    tail = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(4))
    sep = rng.choice(["", "·", " "])
    return f"{rng.choice('京沪粤浙苏川鄂湘')}{rng.choice('ABCDEF')}{sep}{rng.randrange(10)}{tail}"


def _address(rng: random.Random) -> str:
    city = rng.choice(["上海市", "杭州市", "南京市", "成都市", "北京市"])
    district = rng.choice(["浦东新区", "西湖区", "鼓楼区", "武侯区", "朝阳区"])
    road = rng.choice(["张江路", "文三路", "中山路", "人民大道", "建国路"])
    house = rng.choice(["", "一百号", "三十八号", "88号", "88号3栋1201室", "一百号3栋"])
    if rng.random() < 0.2:
        return f"{rng.randrange(1, 2000)} {rng.choice(['Market', 'Baker', 'Main'])} Street"
    return city + district + road + house


def _email(rng: random.Random) -> str:
    domain = rng.choice(["qq.com", "example.com", "163.com"])
    return f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}@{domain}"


def _card(rng: random.Random) -> str:
    body = rng.choice(["6222", "4111", "5500", "6217"]) + "".join(
        rng.choice("0123456789") for _ in range(11)
    )
    card = body + luhn.calc_check_digit(body)
    return rng.choice([card, " ".join(card[i : i + 4] for i in range(0, 16, 4))])


GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "PHONE": _phone,
    "ID": _prc_id,
    "WECHAT": _wechat,
    "QQ": _qq,
    "PASSPORT": _passport,
    "PLATE": _plate,
    "ADDRESS": _address,
    "EMAIL": _email,
    "CARD": _card,
}


def _plant(template: str, value: str, kind: str, known: list[str]) -> Planted:
    start = template.index("{v}")
    text = template.replace("{v}", value)
    return text, [(start, start + len(value), kind)], known


def planted_corpus(rng: random.Random, per_kind: int) -> dict[str, list[Planted]]:
    """Sentences by group: 'NAME/<context>' per name context, one group per other kind."""
    groups: dict[str, list[Planted]] = defaultdict(list)
    for context, templates in NAME_TEMPLATES.items():
        for _ in range(per_kind):
            template = rng.choice(templates)
            english = template.isascii()
            value = _en_name(rng) if english else _cn_name(rng)
            known = [value] if context == "known" else []
            groups[f"NAME/{context}"].append(_plant(template, value, "NAME", known))
    for kind, templates in OTHER_TEMPLATES.items():
        for _ in range(per_kind):
            groups[kind].append(_plant(rng.choice(templates), GENERATORS[kind](rng), kind, []))
    return groups


# --- systems ------------------------------------------------------------------------------------


def spiral() -> Redactor:
    deid = Deidentifier("eval-key")

    def run(text: str, known: list[str]) -> list[tuple[int, int, str]]:
        return [(f.start, f.end, f.kind.value) for f in deid.redact(text, known).findings]

    return run


def regex_only_at_head() -> Redactor | None:
    """The de-identifier of git HEAD (regex only, no names): loaded from `git show`."""
    try:
        source = subprocess.run(
            ["git", "show", "HEAD:ingest/deidentify.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    if "NameFinder" in source:
        return None  # HEAD already holds the new version: no old baseline to compare with
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deidentify_head.py"
        path.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location("deidentify_head", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["deidentify_head"] = module
        spec.loader.exec_module(module)
    deid = module.Deidentifier("eval-key")

    def run(text: str, known: list[str]) -> list[tuple[int, int, str]]:
        return [(f.start, f.end, f.kind.value) for f in deid.redact(text).findings]

    return run


def jieba_nr_alone() -> Redactor:
    import jieba
    import jieba.posseg

    jieba.setLogLevel(60)

    def run(text: str, known: list[str]) -> list[tuple[int, int, str]]:
        spans, pos = [], 0
        for token in jieba.posseg.cut(text):
            if token.flag.startswith("nr") and len(token.word) >= 2:
                spans.append((pos, pos + len(token.word), "NAME"))
            pos += len(token.word)
        return spans

    return run


# --- scoring ------------------------------------------------------------------------------------


def _chars(spans: list[tuple[int, int, str]], kind: str | None = None) -> set[int]:
    return {i for s, e, k in spans if kind is None or k == kind for i in range(s, e)}


def score(system: Redactor, sentences: list[Planted], kind: str | None) -> dict[str, Any]:
    """Character counts: gold, found as `kind` (None: any kind), both; and false-positive
    characters of `kind` outside every planted span."""
    gold = found = hit = removed = 0
    for text, spans, known in sentences:
        pred = system(text, known)
        g = _chars(spans)
        p = _chars(pred, kind)
        gold += len(g)
        found += len(p)
        hit += len(g & p)
        removed += len(g & _chars(pred))
    return {"gold": gold, "found": found, "hit": hit, "removed": removed}


def false_positives(
    system: Redactor, sentences: list[str]
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Characters replaced per kind in text without personal data, and some examples."""
    chars: dict[str, int] = defaultdict(int)
    examples: list[tuple[str, str]] = []
    for text in sentences:
        for s, e, k in system(text, []):
            chars[k] += e - s
            examples.append((k, text[max(0, s - 8) : e + 8].replace("\n", " ")))
    return dict(chars), examples


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


def real_text(rng: random.Random, folder: Path, jddc: int, banking: int) -> list[str]:
    """Real utterances without planted values: JDDC (Chinese) and banking77 (English)."""
    texts: list[str] = []
    jddc_path = folder / "jddc2019" / "chat_0.1per.txt"
    if jddc and jddc_path.exists():
        rows = [text for text, _ in read_jddc(jddc_path)]
        texts += rng.sample(rows, min(jddc, len(rows)))
    banking_path = folder / "banking77" / "train.csv"
    if banking and banking_path.exists():
        queries = [text for text, _ in read_banking77(banking_path)]
        texts += rng.sample(queries, min(banking, len(queries)))
    return texts


def jddc_slots(rng: random.Random, folder: Path) -> dict[str, list[Planted]]:
    """Real contexts: JDDC utterances where JD replaced a name ([姓名x]) or a phone ([电话x]),
    the first such slot filled with a generated value. JD's tagger over-applied [姓名x] (brands,
    words: 没有纸质[姓名x]票), so many of these slots never held a name: a hard lower bound."""
    path = folder / "jddc2019" / "chat_0.1per.txt"
    if not path.exists():
        return {}
    groups: dict[str, list[Planted]] = defaultdict(list)
    slots = {"NAME/JDDC slots": ("[姓名x]", _cn_name), "PHONE/JDDC slots": ("[电话x]", _phone)}
    for text, _ in read_jddc(path):
        for group, (slot, make) in slots.items():
            if slot in text:
                value = make(rng)
                template = text.replace(slot, "{v}", 1)
                groups[group].append(_plant(template, value, group.split("/")[0], []))
    return dict(groups)


def recall_rows(
    systems: dict[str, Redactor], groups: dict[str, list[Planted]]
) -> tuple[list[list[Any]], dict[str, Any]]:
    """Per group and system: precision and recall as the group's kind, and removed as any."""
    rows, counts = [], {}
    for name, system in systems.items():
        counts[name] = {}
        for group, sentences in groups.items():
            kind = group.split("/")[0]
            if name == "jieba nr alone" and kind != "NAME":
                continue
            c = counts[name][group] = score(system, sentences, kind)
            found, gold = c["found"], c["gold"]
            rows.append(
                [
                    group,
                    name,
                    _ratio(c["hit"], found),
                    _ratio(c["hit"], gold),
                    _ratio(c["removed"], gold),
                ]
            )
    return rows, counts


def precision_rows(
    systems: dict[str, Redactor], planted: list[Planted], hard: list[str], real: list[str]
) -> tuple[list[list[Any]], list[list[Any]], list[tuple[str, str]]]:
    """Per kind and system, precision over every planted sentence (also those planted for
    other kinds) plus what is found in text without planted values; the time per real
    utterance; Spiral's findings in text without planted values."""
    kinds = sorted({k for _, spans, _ in planted for _, _, k in spans})
    rows, speed, shown = [], [], []
    for name, system in systems.items():
        fp_hard, hard_examples = false_positives(system, hard)
        tick = time.perf_counter()
        fp_real, real_examples = false_positives(system, real)
        speed.append([name, (time.perf_counter() - tick) * 1000 / max(1, len(real))])
        if name == "spiral":
            shown = hard_examples + real_examples
        for kind in kinds if name != "jieba nr alone" else ["NAME"]:
            found = hit = 0
            for text, spans, known in planted:
                pred = _chars(system(text, known), kind)
                found += len(pred)
                hit += len(pred & _chars([s for s in spans if s[2] == kind]))
            found += fp_hard.get(kind, 0) + fp_real.get(kind, 0)
            rows.append(
                [kind, name, _ratio(hit, found), fp_hard.get(kind, 0), fp_real.get(kind, 0)]
            )
    return rows, speed, shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=None)
    parser.add_argument("--per-kind", type=int, default=150, help="planted sentences per group")
    parser.add_argument("--jddc", type=int, default=3000, help="JDDC utterances (0: none)")
    parser.add_argument("--banking77", type=int, default=2000, help="banking77 queries (0: none)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--examples", type=int, default=8, help="findings to print")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    groups = planted_corpus(rng, args.per_kind)
    groups |= jddc_slots(rng, args.data or data_dir())
    planted = [s for group in groups.values() for s in group]
    real = real_text(rng, args.data or data_dir(), args.jddc, args.banking77)
    systems: dict[str, Redactor] = {"spiral": spiral()}
    if (old := regex_only_at_head()) is not None:
        systems["regex-only (HEAD)"] = old
    systems["jieba nr alone"] = jieba_nr_alone()

    recall, counts = recall_rows(systems, groups)
    precision, speed, shown = precision_rows(systems, planted, ORDINARY, real)
    print(f"findings of spiral in text without planted values ({len(shown)}):")
    for kind, snippet in shown[: args.examples]:
        print(f"  {kind:8} …{snippet}…")
    print(f"\nper group ({args.per_kind} planted sentences each; character level)")
    print(table(["group", "system", "precision", "recall", "removed"], recall, "llrrr"))
    print(
        f"\nper kind over all {len(planted)} planted sentences, {len(ORDINARY)} hard ordinary "
        f"ones and {len(real)} real utterances (JDDC, banking77); found: characters claimed in "
        "text without planted values"
    )
    headers = ["kind", "system", "precision", "found: hard", "found: real"]
    print(table(headers, precision, "llrrr"))
    print("\n" + table(["system", "ms per real utterance"], speed, "lr"))
    seconds = time.perf_counter() - started
    print(f"\n{seconds:.1f} s")
    write_json(
        RESULTS / "deid_eval.json",
        {
            "args": vars(args) | {"data": str(args.data or data_dir())},
            "groups": counts,
            "precision": precision,
            "ms_per_real_utterance": speed,
            "spiral_findings_without_planted": len(shown),
            "seconds": seconds,
            "machine": machine_info(),
        },
    )


if __name__ == "__main__":
    main()
