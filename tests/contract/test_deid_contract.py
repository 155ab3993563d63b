"""No raw personal value reaches either store: hypothesis plants values of every kind in
Chinese and English sentences — in a document, in a transcript whose customer is named, and in
the file name itself — ingests them, and scans every stored node and link."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from graph.model import Label
from graph.settings import Settings
from graph.store import GraphStore
from ingest.pii_numbers import prc_id15_valid
from ingest.pipeline import Ingestor
from tests.conftest import HashEmbedder

# Few examples: every one ingests two files into the store (Neo4j too). No shrinking: a failure
# prints its example at once instead of re-ingesting for minutes.
FEW = settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_COUNTER = itertools.count()


def _prc_id(region: str, born: date, seq: int) -> str:
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    return (
        body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]
    )


def _digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


SURNAME = st.sampled_from(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁宋唐许韩冯邓曹彭曾"))
GIVEN = st.sampled_from(list("伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰萍红"))
CN_NAME = st.builds(lambda s, g: s + "".join(g), SURNAME, st.lists(GIVEN, min_size=1, max_size=2))
FIRST = st.sampled_from(["James", "Mary", "Robert", "Linda", "Michael", "Susan", "David", "Karen"])
LAST = st.sampled_from(["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller"])
EN_NAME = st.builds(lambda f, s: f"{f} {s}", FIRST, LAST)
MOBILE = st.builds(
    lambda b, r: b + r,
    st.sampled_from(["139", "138", "135", "150", "158", "186", "188", "133", "177"]),
    _digits(8),
)
PHONE = st.builds(
    lambda m, f: f(m),
    MOBILE,
    st.sampled_from(
        [
            lambda m: f"{m[:3]} - {m[3:7]} - {m[7:]}",
            lambda m: f"{m[:3]}.{m[3:7]}.{m[7:]}",
            lambda m: f"86{m}",
            lambda m: f"{m[:3]} {m[3:7]} {m[7:]}",
        ]
    ),
)
ID18 = st.builds(
    lambda v, spaced: f"{v[:6]} {v[6:10]} {v[10:14]} {v[14:]}" if spaced else v,
    st.builds(
        _prc_id,
        st.sampled_from(["110105", "310115", "440305", "330106"]),
        st.dates(date(1950, 1, 1), date(2005, 12, 31)),
        st.integers(0, 999),
    ),
    st.booleans(),
)
ID15 = st.builds(
    lambda region, born, seq: f"{region}{born:%y%m%d}{seq:03d}",
    st.sampled_from(["110105", "310104", "440305"]),
    st.dates(date(1930, 1, 1), date(1999, 12, 31)),
    st.integers(0, 999),
).filter(prc_id15_valid)
WECHAT = st.builds(
    lambda a, b: a + b,
    st.sampled_from("abcdefghxyz"),
    st.from_regex(r"[a-z0-9_]{5,12}", fullmatch=True),
)
QQ = st.builds(lambda a, b: a + b, st.sampled_from("123456789"), _digits(8))
PASSPORT = st.builds(lambda p, d: p + d, st.sampled_from(["E", "G"]), _digits(8))
PLATE = st.builds(
    lambda p, c, d, t: f"{p}{c}{d}{t}",
    st.sampled_from(list("京沪粤浙苏川")),
    st.sampled_from(list("ABCDEF")),
    _digits(1),
    st.from_regex(r"[A-HJ-NP-Z0-9]{4}", fullmatch=True),
)
ADDRESS = st.builds(
    lambda city, district, road, house: f"{city}市{district}区{road}路{house}",
    st.sampled_from(["上海", "杭州", "南京", "成都"]),
    st.sampled_from(["浦东新", "西湖", "鼓楼", "武侯"]),
    st.sampled_from(["张江", "文三", "中山", "人民"]),
    st.sampled_from(["", "一百号", "三十八号"]),
)

# (kind, value strategy, sentence templates); {v} is the value, {c} the customer's name.
PLANTS = {
    "name": (CN_NAME, ["我叫{v}，想问一下退货", "收货人：{v}，电话稍后发您"]),
    "en_name": (EN_NAME, ["Hi, my name is {v}.", "Thanks for your help.\nRegards,\n{v}"]),
    "phone": (PHONE, ["我的手机是{v}，谢谢", "Call me on {v} please."]),
    "id": (ID18, ["身份证号{v}，请核对", "My ID number is {v}."]),
    "id15": (ID15, ["老身份证{v}还能用吗", "old ID card {v} ok?"]),
    "wechat": (WECHAT, ["加我微信号 {v}，谢谢", "WeChat ID: {v}"]),
    "qq": (QQ, ["我的QQ {v}", "my QQ number: {v}"]),
    "passport": (PASSPORT, ["护照号{v}过期了", "passport no. {v} expired"]),
    "plate": (PLATE, ["车牌{v}的车主", "plate {v} is mine"]),
    "address": (ADDRESS, ["寄到{v}，谢谢", "ship to {v} please"]),
}
PLANTED = st.lists(
    st.sampled_from(sorted(PLANTS)).flatmap(
        lambda kind: st.tuples(st.just(kind), PLANTS[kind][0], st.sampled_from(PLANTS[kind][1]))
    ),
    min_size=3,
    max_size=6,
)


def _dump(store: GraphStore) -> str:
    """Every node record and link in the store, as one string to scan."""
    parts: list[str] = []
    for label in Label:
        for node in store.get_nodes(label, limit=1_000_000):
            parts.append(node.model_dump_json(exclude={"embedding"}))
            parts += [n.link.model_dump_json() for n in store.neighbours(node.id, direction="out")]
    return "\n".join(parts)


@FEW
@given(PLANTED, CN_NAME, EN_NAME, MOBILE)
def test_no_raw_value_reaches_the_store(
    store: GraphStore,
    tmp_path_factory,  # type: ignore[no-untyped-def]
    planted: list[tuple[str, str, str]],
    customer: str,
    en_customer: str,
    file_phone: str,
) -> None:
    folder = tmp_path_factory.mktemp(f"deid{next(_COUNTER)}")
    sentences = [template.format(v=value) for _, value, template in planted]
    # A document named after a customer, with a phone in the name.
    doc = folder / f"{customer}_{file_phone}.md"
    doc.write_text("# 客户记录\n\n" + "\n\n".join(sentences) + "\n", encoding="utf-8")
    # A transcript: the customers are named by the source, and mentioned by name.
    chinese = [
        {"role": "customer", "speaker": customer, "text": sentences[0]},
        {"role": "employee", "speaker": "Emma Chen", "text": f"{customer}您好，收到。"},
        {"role": "customer", "speaker": customer, "text": "\n".join(sentences[1:])},
    ]
    english = [
        {"role": "customer", "speaker": en_customer, "text": sentences[-1]},
        {"role": "employee", "speaker": "Emma Chen", "text": f"Thanks {en_customer}, noted."},
    ]
    conversations = [
        {"id": f"c-{file_phone}", "employee": "Emma Chen", "messages": chinese},
        {"id": f"e-{file_phone}", "employee": "Emma Chen", "messages": english},
    ]
    chat = folder / f"chat_{file_phone}.json"
    chat.write_text(json.dumps({"conversations": conversations}), encoding="utf-8")

    report = Ingestor(store, HashEmbedder(), Settings(deid_key="k")).ingest([doc, chat])  # type: ignore[arg-type]
    assert report.failed == 0, report.files
    stored = _dump(store)
    compact = re.sub(r"[\s.\-]", "", stored)
    raw_values = [value for _, value, _ in planted] + [customer, en_customer, file_phone]
    for value in raw_values:
        assert value not in stored, f"raw value stored: {value!r}"
        digits = re.sub(r"[\s.\-]", "", value)
        if digits.isdigit() or (digits[:-1].isdigit() and len(digits) >= 15):
            assert digits not in compact, f"digits stored: {value!r}"
    assert "Emma Chen" in stored  # employees are people of the graph, by name


def test_file_names_are_stored_de_identified_and_stay_stable(
    store: GraphStore, tmp_path: Path
) -> None:
    ingestor = Ingestor(store, HashEmbedder(), Settings(deid_key="k"))  # type: ignore[arg-type]
    first = tmp_path / "张伟_13912345678_11010519491231002X.md"
    second = tmp_path / "张伟_13912345679_11010519491231002X.md"  # differs in the phone only
    for path in (first, second):
        path.write_text("# 退货\n七天无理由退货，运费由买家承担。\n", encoding="utf-8")
    report = ingestor.ingest([first, second])
    uris = sorted(f.uri for f in report.files)
    assert [f.status for f in report.files] == ["ingested", "ingested"]
    assert len(set(uris)) == 2  # two files, two sources
    for uri in uris:
        assert re.search(r"/\[NAME\]_\[PHONE\]_\[ID\]_h[0-9a-f]{8}\.md$", uri), uri
    stored = _dump(store)
    for raw in ("张伟", "13912345678", "13912345679", "11010519491231002X"):
        assert raw not in stored
    assert {f.status for f in ingestor.ingest([first, second]).files} == {"unchanged"}
    assert ingestor.forget(first).nodes_deleted > 0
    assert ingestor.forget(second).nodes_deleted > 0
    assert not store.get_nodes(Label.DOCUMENT, limit=10)


def test_customer_names_go_employee_names_stay(store: GraphStore, tmp_path: Path) -> None:
    chat = tmp_path / "chat.json"
    messages = [
        {"role": "customer", "speaker": "客户王芳", "text": "你好，我的快递还没到"},
        {"role": "employee", "speaker": "李娜", "text": "王芳您好，我是李娜，马上为您查询"},
        {
            "role": "customer",
            "speaker": "客户王芳",
            "text": "好的，谢谢。收件人王芳，微信号 wf_1990",
        },
    ]
    conversation = {"id": "c1", "employee": "李娜", "customer": "客户王芳", "messages": messages}
    chat.write_text(json.dumps(conversation, ensure_ascii=False), encoding="utf-8")
    ingestor = Ingestor(store, HashEmbedder(), Settings(deid_key="k"))  # type: ignore[arg-type]
    assert ingestor.ingest([chat]).failed == 0
    stored = _dump(store)
    assert "王芳" not in stored and "wf_1990" not in stored
    assert "[NAME]您好，我是李娜" in stored  # the employee introduces herself by name
    assert any(e.name == "李娜" for e in store.get_nodes(Label.EMPLOYEE, limit=10))  # type: ignore[attr-defined]
