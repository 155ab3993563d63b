"""File loaders: every format, encoding trouble, bad input, kind detection and forcing, folder
walking, and the real JDDC sample. Fixtures are built here into tmp_path (no binaries in git)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sys
import unicodedata
from pathlib import Path

import pytest

from ingest.loaders import SUPPORTED_SUFFIXES, iter_files, load, load_bytes, load_jddc
from ingest.loaders.documents import load_docx, load_html, load_markdown, load_pdf, load_text
from ingest.loaders.notes import load_note, note_author
from ingest.loaders.text_io import _ALLOWED_CONTROLS, _CONTROL, decode_text, read_bytes
from ingest.loaders.transcripts import (
    load_csv_transcript,
    load_json_transcript,
    load_log_transcript,
    load_wecom,
    normalize_role,
    parse_jddc,
)
from ingest.records import (
    ContactCard,
    LoadedDocument,
    LoadedNote,
    LoadedTranscript,
    LoadError,
)

JDDC = Path("/work/shared/eval/data/jddc2019/chat_0.1per.txt")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


def make_pdf(*lines: str, title: str = "") -> bytes:
    """A one-page PDF with Helvetica text lines, offsets computed so the xref is valid."""
    ops = " ".join(f"({line}) Tj 0 -16 Td" for line in lines)
    stream = f"BT /F1 12 Tf 72 720 Td {ops} ET" if lines else ""
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
    ]
    if title:
        objects.append(f"<< /Title ({title}) >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    info = f" /Info {len(objects)} 0 R" if title else ""
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return out


def encrypt_pdf(data: bytes, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx(core_title: str = "") -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("退货政策", level=1)
    document.add_paragraph("七天无理由退货。")
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).text = "商品"
    table.cell(0, 1).text = "期限"
    table.cell(0, 2).text = "备注"
    table.cell(1, 0).text = "手机"
    merged = table.cell(1, 1).merge(table.cell(1, 2))
    merged.text = "15天"
    document.add_paragraph("运费由买家承担。")
    document.core_properties.title = core_title
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# --- reading and decoding -------------------------------------------------------------------


def test_gbk_text_file_is_decoded(tmp_path: Path) -> None:
    text = "退款政策说明\n七天无理由退货，运费由买家承担。"
    doc = load(write(tmp_path, "policy.txt", text, "gbk"))
    assert isinstance(doc, LoadedDocument)
    assert doc.text == text
    assert doc.title == "退款政策说明"


def test_short_gbk_is_read_as_gb18030_not_big5() -> None:
    # charset-normalizer alone names these bytes Big5 ("斕疑"); we prefer GB18030.
    assert decode_text("你好".encode("gbk"), "x.txt") == "你好"
    # GB18030-only characters (beyond GBK) survive too.
    assert decode_text("客户说：𠀀字\n好的".encode("gb18030"), "x.txt") == "客户说：𠀀字\n好的"


def test_utf8_bom_is_stripped_and_crlf_normalised(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.md", b"\xef\xbb\xbf# \xe6\xa0\x87\xe9\xa2\x98\r\nbody\r\n")
    doc = load(path)
    assert isinstance(doc, LoadedDocument)
    assert doc.title == "标题"
    assert doc.text == "# 标题\nbody"
    assert doc.raw_hash == sha(path.read_bytes())


def test_utf16_with_bom_is_text_not_binary() -> None:
    assert decode_text("客户: 你好".encode("utf-16"), "x.txt") == "客户: 你好"


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="empty file"):
        load(write(tmp_path, "empty.md", b""))


def test_control_characters_are_unicodes_less_the_allowed_ones() -> None:
    """What counts as a control character, checked against Unicode's own category (Cc)."""
    for point in range(sys.maxunicode + 1):
        char = chr(point)
        control = char not in _ALLOWED_CONTROLS and unicodedata.category(char) == "Cc"
        assert bool(_CONTROL.fullmatch(char)) == control, hex(point)


def test_binary_file(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    with pytest.raises(LoadError, match="binary or unreadable content"):
        load(write(tmp_path, "notes.txt", png))
    with pytest.raises(LoadError, match="binary or unreadable content"):
        decode_text(bytes(range(1, 32)) * 20, "ctrl.txt")


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path, "big.txt", "x" * 5000)
    with pytest.raises(LoadError, match=r"file is 5 KB, over the 1 KB limit"):
        load(path, max_bytes=1024)
    with pytest.raises(LoadError, match=r"file is 60 MB, over the 20 MB limit"):
        big = tmp_path / "huge.txt"
        with big.open("wb") as handle:
            handle.truncate(60 * 1024 * 1024)  # sparse: no 60 MB written
        read_bytes(big, "huge.txt")
    assert load(path, max_bytes=5000).text == "x" * 5000


def test_more_text_than_spiral_ingests_is_refused_saying_why(tmp_path: Path) -> None:
    path = write(tmp_path, "long.txt", "退货政策。" * 1000)  # 15 KB
    with pytest.raises(LoadError, match=r"holds 15 KB of text, over the 10 KB .* split it"):
        load(path, max_text_bytes=10 * 1024)
    assert load(path, max_text_bytes=15 * 1024).text.startswith("退货政策")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no such file"):
        load(tmp_path / "nope.md")
    with pytest.raises(LoadError, match="is a folder"):
        load(tmp_path)


def test_error_message_names_uri_and_reason(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as info:
        load(write(tmp_path, "e.md", b""), uri="docs/e.md")
    assert str(info.value) == "docs/e.md: empty file"
    assert info.value.uri == "docs/e.md"


# --- documents ------------------------------------------------------------------------------


def test_markdown_title_from_first_h1_outside_code() -> None:
    data = "intro\n```\n# not a title\n```\n## sub\n# 真标题 #\ntext".encode()
    doc = load_markdown(data, "kb/a.md")
    assert doc.kind == "markdown"
    assert doc.title == "真标题"
    assert "## sub" in doc.text and "# 真标题 #" in doc.text
    assert doc.raw_hash == sha(data)


def test_markdown_without_heading_takes_file_stem() -> None:
    assert load_markdown(b"just text", "kb/refund-policy.md").title == "refund-policy"


def test_text_title_is_first_short_line_else_stem() -> None:
    assert load_text("标题\n正文".encode(), "a/b.txt").title == "标题"
    long_first = ("很长的一句话" * 20 + "\n正文").encode()
    assert load_text(long_first, "a/b.txt").title == "b"


def test_whitespace_only_document_has_no_text() -> None:
    with pytest.raises(LoadError, match="has no text"):
        load_text(b"  \n\n ", "a.txt")


def test_html_strips_scripts_keeps_blocks() -> None:
    html = """<!doctype html><html><head><title>退货 FAQ</title>
    <style>p { color: red }</style><script>var secret = 1;</script></head>
    <body><h1>Heading One</h1><p>First   paragraph
    wrapped.</p><ul><li>item a</li><li>item b</li></ul>
    <table><tr><td>c1</td><td>c2</td></tr></table>line<br>break &amp; more
    <noscript>enable js</noscript></body></html>"""
    doc = load_html(html.encode(), "faq.html")
    assert doc.kind == "html"
    assert doc.title == "退货 FAQ"
    assert doc.text.splitlines() == [
        "Heading One",
        "First paragraph wrapped.",
        "item a",
        "item b",
        "c1 | c2",
        "line",
        "break & more",
    ]
    assert "secret" not in doc.text and "color" not in doc.text and "enable js" not in doc.text


def test_html_title_from_h1_without_title_and_gbk_meta_charset() -> None:
    html = '<html><head><meta charset="gb2312"></head><body><h1>售后</h1><p>说明</p></body>'
    doc = load_html(html.encode("gbk"), "p.htm")
    assert doc.title == "售后"
    assert doc.text == "售后\n说明"


def test_html_without_head_end_tag_keeps_body() -> None:
    doc = load_html(b"<html><head><title>T</title><body><p>visible</p>", "x.html")
    assert doc.text == "visible"


def test_pdf_text_of_all_pages_and_title() -> None:
    data = make_pdf("Refund policy", "Seven days no reason", title="Policy")
    doc = load_pdf(data, "p.pdf")
    assert doc.kind == "pdf"
    assert "Refund policy" in doc.text and "Seven days no reason" in doc.text
    assert doc.title == "Policy"
    assert doc.raw_hash == sha(data)
    assert load_pdf(make_pdf("x"), "docs/terms.pdf").title == "terms"


def test_pdf_encrypted_is_refused_but_owner_only_protection_opens() -> None:
    with pytest.raises(LoadError, match="encrypted"):
        load_pdf(encrypt_pdf(make_pdf("secret text"), "pw"), "locked.pdf")
    doc = load_pdf(encrypt_pdf(make_pdf("open text"), ""), "owner-only.pdf")
    assert "open text" in doc.text


def test_pdf_without_text_and_broken_pdf() -> None:
    with pytest.raises(LoadError, match="no extractable text"):
        load_pdf(make_pdf(), "scan.pdf")
    with pytest.raises(LoadError, match="not a readable PDF"):
        load_pdf(b"%PDF-1.4\ngarbage", "broken.pdf")


def test_a_broken_pdf_is_reported_once_not_also_logged(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # pypdf's own warnings ("EOF marker not found") reached the CLI's output above the
    # summary that already says the file failed, and why.
    with caplog.at_level(logging.WARNING), pytest.raises(LoadError, match="not a readable"):
        load_pdf(os.urandom(64), "random.pdf")
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert capsys.readouterr().err == ""


def test_docx_paragraphs_tables_and_title() -> None:
    data = make_docx()
    doc = load_docx(data, "kb/policy.docx")
    assert doc.kind == "docx"
    assert doc.title == "退货政策"  # first Heading 1
    assert doc.text.splitlines() == [
        "退货政策",
        "七天无理由退货。",
        "商品 | 期限 | 备注",
        "手机 | 15天",  # merged cell once
        "运费由买家承担。",
    ]
    assert doc.raw_hash == sha(data)
    assert load_docx(make_docx(core_title="Core title"), "x.docx").title == "Core title"


def test_docx_broken_zip() -> None:
    with pytest.raises(LoadError, match="not a readable DOCX"):
        load_docx(b"PK\x03\x04 not really", "bad.docx")


# --- notes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["author: 王丽", "作者: 王丽", "作者：王丽", "Author:王丽"])
def test_note_author_line_forms(first: str) -> None:
    note = load_note(f"\n{first}\n# 如何应对价格异议\n先认同，再拆分价格。".encode(), "n.md")
    assert isinstance(note, LoadedNote)
    assert note.author == "王丽"
    assert note.title == "如何应对价格异议"
    assert note.text == "# 如何应对价格异议\n先认同，再拆分价格。"


def test_note_detected_by_load_and_title_from_next_line(tmp_path: Path) -> None:
    path = write(tmp_path, "n.txt", "作者：张伟\n客户嫌贵时先问预算\n然后推荐分期。", "gbk")
    note = load(path)
    assert isinstance(note, LoadedNote)
    assert (note.author, note.title) == ("张伟", "客户嫌贵时先问预算")
    assert note.raw_hash == sha(path.read_bytes())


def test_note_author_only_on_first_nonempty_line() -> None:
    assert note_author("title\nauthor: x") is None
    with pytest.raises(LoadError, match="not a note"):
        load_note(b"title\nauthor: x", "n.md", require_author=True)
    with pytest.raises(LoadError, match="note has no text"):
        load_note(b"author: x\n\n", "n.md")


# --- canonical JSON transcripts -------------------------------------------------------------

CONVERSATION = {
    "id": "c1",
    "channel": "wecom",
    "employee": "王丽",
    "customer": "张先生",
    "outcome": "converted",
    "satisfaction": 4.5,
    "messages": [
        {"role": "customer", "speaker": "张先生", "time": "2024-05-01T10:00:00+08:00",
         "text": "太贵了"},
        {"role": "客服", "speaker": "王丽", "text": "可以分期"},
        {"role": "User", "text": "好的"},
    ],
}  # fmt: skip


def test_json_single_conversation_with_role_synonyms() -> None:
    data = json.dumps(CONVERSATION, ensure_ascii=False).encode()
    result = load_json_transcript(data, "c.json")
    assert result.format == "json" and result.row_errors == []
    [conv] = result.conversations
    assert (conv.id, conv.channel, conv.outcome, conv.satisfaction) == (
        "c1",
        "wecom",
        "converted",
        4.5,
    )
    assert [m.role for m in conv.messages] == ["customer", "employee", "customer"]
    assert conv.messages[0].time == "2024-05-01T10:00:00+08:00"
    assert result.raw_hash == sha(data)


def test_json_minimal_messages_only_and_epoch_time() -> None:
    data = json.dumps([{"messages": [{"role": "agent", "text": "hi", "time": 1714521600000}]}])
    result = load_json_transcript(data.encode(), "dir/m.json")
    [conv] = result.conversations
    assert conv.id == "dir/m.json#0"  # derived from uri + position
    assert conv.messages[0].role == "employee"
    assert conv.messages[0].time == "2024-05-01T00:00:00Z"


def test_json_list_with_one_bad_conversation_loads_the_rest() -> None:
    payload = [
        CONVERSATION,
        {"id": "broken", "messages": "not a list"},
        {"id": "c3", "satisfaction": "great", "messages": [
            {"role": "bot", "text": "x"},
            {"role": "customer"},
            {"role": "customer", "text": "  "},
            {"role": "employee", "text": "ok"},
        ]},
        "just a string",
    ]  # fmt: skip
    result = load_json_transcript(json.dumps(payload, ensure_ascii=False).encode(), "l.json")
    assert [c.id for c in result.conversations] == ["c1", "c3"]
    assert [m.text for m in result.conversations[1].messages] == ["ok"]
    assert result.row_errors == [
        "conversations[1]: 'messages' is missing or not a list",
        "conversations[2].messages[0]: unknown role 'bot' (expected customer or employee)",
        "conversations[2].messages[1]: missing 'text'",
        "conversations[2].messages[2]: empty 'text'",
        "conversations[2].satisfaction: 'great' is not a number; ignored",
        "conversations[3]: not an object but str",
    ]


def test_json_where_nothing_is_readable_is_a_load_error() -> None:
    payload = [{"messages": [{"role": "alien", "text": "x"}]}]
    with pytest.raises(LoadError, match=r"no readable conversation \(conversations\[0\]"):
        load_json_transcript(json.dumps(payload).encode(), "x.json")
    with pytest.raises(LoadError, match="no conversations"):
        load_json_transcript(b"[]", "x.json")


def test_malformed_json(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", '{"messages": [{"role": "customer", "text": "hi"}')
    with pytest.raises(LoadError, match=r"bad\.json: malformed JSON: .* at line 1 column"):
        load(path)


def test_json_that_is_not_a_transcript(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="neither a transcript"):
        load(write(tmp_path, "config.json", '{"name": "x"}'))


def test_normalize_role() -> None:
    assert normalize_role(" Staff ") == "employee"
    assert normalize_role("客户") == "customer"
    assert normalize_role("client") == "customer"
    assert normalize_role("robot") is None
    assert normalize_role(1) is None


# --- CSV transcripts ------------------------------------------------------------------------


def test_csv_groups_by_conversation_in_file_order_with_synonyms() -> None:
    csv_text = (
        "session,Sender_Role,name,timestamp,content,channel,outcome\n"
        "s2,customer,张先生,2024-05-01 10:00,有货吗,web,\n"
        's1,user,李女士,,"多少钱,包邮吗",phone,converted\n'
        's2,agent,王丽,,"有的\n今天发",,resolved\n'
        "s1,客服,王丽,,包邮,,\n"
    )
    result = load_csv_transcript(csv_text.encode(), "chats.csv")
    assert result.format == "csv" and result.row_errors == []
    assert [c.id for c in result.conversations] == ["s2", "s1"]
    s2, s1 = result.conversations
    assert [(m.role, m.speaker, m.text) for m in s2.messages] == [
        ("customer", "张先生", "有货吗"),
        ("employee", "王丽", "有的\n今天发"),
    ]
    assert (s2.channel, s2.outcome, s2.employee, s2.customer) == (
        "web",
        "resolved",
        "王丽",
        "张先生",
    )
    assert s1.messages[0].text == "多少钱,包邮吗"
    assert (s1.channel, s1.outcome) == ("phone", "converted")


def test_csv_bad_rows_are_row_errors() -> None:
    csv_text = (
        "conversation_id,role,text\nc1,customer,hello\nc1,robot,beep\nc1,employee,\n"
        "c1,employee,hi\n"
    )
    result = load_csv_transcript(csv_text.encode(), "x.csv")
    assert [m.text for m in result.conversations[0].messages] == ["hello", "hi"]
    assert result.row_errors == [
        "row 3: unknown role 'robot' (expected customer or employee)",
        "row 4: missing text",
    ]


def test_gbk_csv_with_is_agent_and_chinese_header(tmp_path: Path) -> None:
    csv_text = "会话,is_agent,内容\n1,0,我想退货\n,1,好的，请提供订单号\n2,0,发票怎么开\n"
    path = write(tmp_path, "导出.csv", csv_text, "gbk")
    result = load(path)
    assert isinstance(result, LoadedTranscript) and result.format == "csv"
    first, second = result.conversations
    # an empty id cell continues the previous conversation
    assert [(m.role, m.text) for m in first.messages] == [
        ("customer", "我想退货"),
        ("employee", "好的，请提供订单号"),
    ]
    assert second.id == "2"


def test_csv_header_without_role_or_text() -> None:
    with pytest.raises(LoadError, match=r"needs a role .* found: sku, price"):
        load_csv_transcript(b"sku,price\na,1\n", "products.csv")


def test_csv_semicolon_and_tab_delimiters() -> None:
    result = load_csv_transcript(b"role;text\ncustomer;a,b\n", "x.csv")
    assert result.conversations[0].messages[0].text == "a,b"
    result = load_csv_transcript(b"role\ttext\nemployee\thi\n", "x.tsv")
    assert result.conversations[0].messages[0].role == "employee"


# --- plain logs -----------------------------------------------------------------------------


def test_log_with_header_and_continuation_lines() -> None:
    log = (
        "# employee: 王丽\n"
        "# outcome: resolved channel: phone\n"
        "张先生：你们的会员怎么收费？\n"
        "王丽: 年费 199 元，\n"
        "  包含免费配送\n"
        "和专属客服。\n"
        "\n"
        "张先生: 好的，我考虑一下\n"
    )
    result = load_log_transcript(log.encode(), "call.log")
    assert result.format == "log" and result.row_errors == []
    [conv] = result.conversations
    assert (conv.outcome, conv.channel, conv.employee, conv.customer) == (
        "resolved",
        "phone",
        "王丽",
        "张先生",
    )
    assert [(m.role, m.speaker, m.text) for m in conv.messages] == [
        ("customer", "张先生", "你们的会员怎么收费？"),
        ("employee", "王丽", "年费 199 元，\n包含免费配送\n和专属客服。"),
        ("customer", "张先生", "好的，我考虑一下"),
    ]


def test_log_roles_from_names_and_order() -> None:
    # keyword roles win over order: the first speaker here is the agent
    result = load_log_transcript("客服小李: 您好\n王先生: 我要退货\n".encode(), "a.txt")
    assert [m.role for m in result.conversations[0].messages] == ["employee", "customer"]
    # 客户经理 is staff even though it contains 客户
    result = load_log_transcript("客户经理: 您好\n客户: 嗯\n".encode(), "a.txt")
    assert [m.role for m in result.conversations[0].messages] == ["employee", "customer"]
    # no clues: first speaker customer, second employee
    result = load_log_transcript(b"Tom: hi\nAnn: hello, how can I help?\nTom: refund\n", "a.txt")
    assert [m.role for m in result.conversations[0].messages] == [
        "customer",
        "employee",
        "customer",
    ]


def test_log_timestamps_and_urls() -> None:
    log = "[2024/5/1 10:02] 客户: 链接 http://x.cn/a 打不开\n10:03:05 客服: 请试试 https://y.cn\n"
    [conv] = load_log_transcript(log.encode(), "a.txt").conversations
    assert [(m.time, m.speaker) for m in conv.messages] == [
        ("2024-05-01T10:02", "客户"),
        ("10:03:05", "客服"),
    ]
    assert conv.messages[0].text == "链接 http://x.cn/a 打不开"


def test_log_text_before_first_speaker_is_a_row_error() -> None:
    result = load_log_transcript("通话记录\n客户: 你好\n客服: 您好\n".encode(), "a.txt")
    assert result.row_errors == ["line 1: text before the first 'speaker: text' line; skipped"]
    with pytest.raises(LoadError, match="no 'speaker: text' lines"):
        load_log_transcript("只是一段话。".encode(), "a.txt")


# --- WeCom archive --------------------------------------------------------------------------

EMP, CUST = "zhangsan", "wmABC123"


def wecom_records() -> list[dict]:
    def rec(msgid: str, minute: float, msgtype: str, body: dict, **extra: object) -> dict:
        base = {
            "msgid": msgid,
            "action": "send",
            "from": EMP,
            "tolist": [CUST],
            "roomid": "",
            "msgtime": 1714521600000 + int(minute * 60_000),  # 2024-05-01T00:00Z + minutes
            "msgtype": msgtype,
            msgtype: body,
        }
        base.update(extra)
        return base

    to_emp = {"from": CUST, "tolist": [EMP]}
    in_room = {"roomid": "wrROOM", "tolist": [CUST, "lisi"]}
    recall = rec("m4", 2.1, "revoke", {"pre_msgid": "m3"}, action="recall")
    file_body = {"filename": "报价单.pdf", "fileext": "pdf", "filesize": 2048, "md5sum": "abc"}
    return [
        rec("m1", 0, "text", {"content": "您好，我是顾问张三"}),
        rec("m2", 1, "text", {"content": "请问价格？"}, **to_emp),
        rec("m3", 2, "text", {"content": "发错了"}),
        recall,
        {"msgid": "m5", "action": "switch", "time": 1714521740000, "user": EMP},
        rec("m6", 3, "card", {"corpname": "某某科技", "userid": "wo_card_1"}, **to_emp),
        rec("m7", 4, "file", file_body),
        rec("m8", 4.2, "image", {"md5sum": "x", "filesize": 1}),
        rec("m9", 4.4, "voice", {"play_length": 3}),
        # a group chat: its own conversation, grouped by roomid
        rec("g1", 5, "text", {"content": "大家好"}, **in_room),
        rec("g2", 6, "text", {"content": "收到"}, **{**in_room, "from": "wo_other"}),
        {"msgid": "bad", "action": "send", "msgtype": "text", "text": {"content": "no sender"}},
    ]


def test_wecom_recall_card_file_and_grouping() -> None:
    data = json.dumps(wecom_records(), ensure_ascii=False).encode()
    result = load_wecom(data, "archive.json")
    assert result.format == "wecom"
    pair, room = result.conversations
    assert pair.id == f"{CUST}~{EMP}"  # unordered pair, sorted
    assert (pair.channel, pair.employee, pair.customer) == ("wecom", EMP, CUST)
    assert [(m.role, m.text) for m in pair.messages] == [
        ("employee", "您好，我是顾问张三"),
        ("customer", "请问价格？"),
        ("system", "[file] 报价单.pdf"),
    ]  # m3 recalled, m4 recall and m5 switch dropped
    assert pair.messages[0].time == "2024-05-01T00:00:00Z"
    assert pair.messages[1].speaker == CUST
    assert pair.cards == [ContactCard(userid="wo_card_1", company="某某科技")]
    [shared] = pair.files
    assert (shared.filename, shared.fileext, shared.filesize, shared.md5sum, shared.sender) == (
        "报价单.pdf", "pdf", 2048, "abc", EMP)  # fmt: skip
    assert shared.time == "2024-05-01T00:04:00Z"
    assert pair.omitted == {"image": 1, "voice": 1}
    assert room.id == "wrROOM"
    assert [(m.role, m.text) for m in room.messages] == [
        ("employee", "大家好"),
        ("customer", "收到"),
    ]
    assert result.row_errors == ["records[11] (msgid bad): missing 'from'"]


def test_wecom_json_lines_and_detection(tmp_path: Path) -> None:
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in wecom_records()[:3])
    result = load(write(tmp_path, "export.jsonl", lines))
    assert isinstance(result, LoadedTranscript) and result.format == "wecom"
    # the recall is not in this slice, so m3 stays
    assert [m.text for m in result.conversations[0].messages][-1] == "发错了"


def test_wecom_messages_sorted_by_time() -> None:
    records = wecom_records()[:2][::-1]  # customer's later message first in the file
    [conv] = load_wecom(json.dumps(records).encode(), "a.json").conversations
    assert [m.role for m in conv.messages] == ["employee", "customer"]


def test_wecom_nothing_readable() -> None:
    only_images = [r for r in wecom_records() if r.get("msgtype") == "image"]
    with pytest.raises(LoadError, match="no readable conversation"):
        load_wecom(json.dumps(only_images).encode(), "a.json")


# --- JDDC ---------------------------------------------------------------------------------


def test_jddc_bytes_roles_and_row_errors() -> None:
    data = (
        "s1\tU1\t0\t0\t0\tnan\t我的订单[订单x]到哪了\n"
        "s1\tU1\t1\t0\t0\tnan\t稍等\tfor you\n"
        "s1\tU1\t2\t0\t0\tnan\tweird\n"
        "broken line\n"
        "s2\tU2\t0\t0\t0\tnan\t发票\n"
    ).encode()
    result = parse_jddc(data, "j.txt")
    assert result.format == "jddc"
    s1, s2 = result.conversations
    assert (s1.id, s1.customer, s1.channel) == ("s1", "U1", "jd")
    assert [(m.role, m.text) for m in s1.messages] == [
        ("customer", "我的订单[订单x]到哪了"),
        ("employee", "稍等\tfor you"),
    ]
    assert s2.messages[0].speaker == "U2"
    assert result.row_errors == [
        "line 3: is_agent is '2', expected 0 or 1",
        "line 4: 1 tab-separated fields, expected 7",
    ]
    assert result.raw_hash == sha(data)
    assert len(parse_jddc(data, "j.txt", limit_sessions=1).conversations) == 1


@pytest.mark.skipif(not JDDC.exists(), reason="JDDC sample not present")
def test_jddc_real_sample() -> None:
    result = load_jddc(JDDC)
    assert len(result.conversations) == 994
    assert result.raw_hash == sha(JDDC.read_bytes())
    raw = [line.split("\t", 6) for line in JDDC.read_text(encoding="utf-8").splitlines()]
    for conv in result.conversations[:5]:
        rows = [r for r in raw if r[0] == conv.id]
        assert len(conv.messages) == len(rows)
        expected = ["employee" if r[2] == "1" else "customer" for r in rows]
        assert [m.role for m in conv.messages] == expected
        assert [m.text for m in conv.messages] == [r[6].strip() for r in rows]
        assert conv.customer == rows[0][1]
    first = result.conversations[0]
    assert first.id == "0000b82c62117aa4497508bb1bdfb53a"
    assert first.messages[0].role == "customer" and first.messages[1].role == "employee"
    limited = load_jddc(JDDC, limit_sessions=3)
    assert [c.id for c in limited.conversations] == [c.id for c in result.conversations[:3]]
    assert limited.raw_hash != result.raw_hash
    via_load = load(JDDC)
    assert isinstance(via_load, LoadedTranscript) and via_load.format == "jddc"


# --- detection and forcing --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "kind", "fmt"),
    [
        ("a.md", "# T\nbody", LoadedDocument, "markdown"),
        ("a.txt", "标题\n正文", LoadedDocument, "text"),
        ("noext", "plain words here", LoadedDocument, "text"),
        ("a.html", "<p>x</p>", LoadedDocument, "html"),
        ("page.txt", "<!DOCTYPE html><html><body>x</body></html>", LoadedDocument, "html"),
        ("a.md", "author: 王丽\n# 心得\n内容", LoadedNote, None),
        ("c.json", json.dumps(CONVERSATION), LoadedTranscript, "json"),
        ("c.txt", json.dumps([CONVERSATION]), LoadedTranscript, "json"),
        ("w.json", json.dumps(wecom_records()[:2]), LoadedTranscript, "wecom"),
        ("c.csv", "role,text\ncustomer,hi\n", LoadedTranscript, "csv"),
        ("j.tsv", "s\tu\t0\t0\t0\tnan\thi\n", LoadedTranscript, "jddc"),
        ("j.txt", "s\tu\t0\t0\t0\tnan\thi\ns\tu\t1\t0\t0\tnan\tyo\n", LoadedTranscript, "jddc"),
        ("chat.txt", "客户: 你好\n客服: 您好\n", LoadedTranscript, "log"),
        ("chat.log", "Tom: hi\nAnn: hello\nTom: bye\n", LoadedTranscript, "log"),
        # a spec sheet of `key: value` lines is not a chat
        ("spec.txt", "价格: 100元\n颜色: 红色\n尺寸: 大\n", LoadedDocument, "text"),
        # Markdown is never read as a log, even when it looks like one
        ("faq.md", "客户: 你好\n客服: 您好\n", LoadedDocument, "markdown"),
        ("link.txt", "[公告] 五一放假安排", LoadedDocument, "text"),
    ],
)
def test_detection(name: str, content: str, kind: type, fmt: str | None, tmp_path: Path) -> None:
    loaded = load(write(tmp_path, name, content))
    assert isinstance(loaded, kind)
    if fmt is not None:
        assert (loaded.kind if isinstance(loaded, LoadedDocument) else loaded.format) == fmt


def test_detection_of_binary_formats_by_content(tmp_path: Path) -> None:
    pdf = load(write(tmp_path, "download", make_pdf("hello pdf")))
    assert isinstance(pdf, LoadedDocument) and pdf.kind == "pdf"
    docx = load(write(tmp_path, "policy.docx", make_docx()))
    assert isinstance(docx, LoadedDocument) and docx.kind == "docx"
    with pytest.raises(LoadError, match=r"old binary \.doc format"):
        load(write(tmp_path, "old.doc", b"\xd0\xcf\x11\xe0"))
    with pytest.raises(LoadError, match="ZIP archive"):
        load(write(tmp_path, "a.zip", b"PK\x03\x04junk"))


def test_kind_forcing(tmp_path: Path) -> None:
    chat = write(tmp_path, "chat.txt", "客户: 你好\n客服: 您好\n")
    forced_doc = load(chat, kind="document")
    assert isinstance(forced_doc, LoadedDocument) and forced_doc.kind == "text"
    note_md = write(tmp_path, "n.md", "author: 王丽\n# x\ny")
    assert isinstance(load(note_md, kind="document"), LoadedDocument)
    assert load(note_md, kind="markdown").title == "x"
    plain = write(tmp_path, "idea.txt", "客户嫌贵时先问预算。")
    forced_note = load(plain, kind="note")
    assert isinstance(forced_note, LoadedNote) and forced_note.author == ""
    # an unclued two-line chat is a document by default, a log when forced
    two = write(tmp_path, "two.txt", "Tom: hi\nAnn: hello\n")
    assert isinstance(load(two), LoadedDocument)
    forced = load(two, kind="transcript")
    assert isinstance(forced, LoadedTranscript) and forced.format == "log"
    # a CSV without the .csv suffix, forced as a transcript or as csv
    csv_txt = write(tmp_path, "export.txt", "role,text\ncustomer,hi\n")
    assert load(csv_txt, kind="transcript").format == "csv"
    assert load(csv_txt, kind="csv").format == "csv"
    with pytest.raises(LoadError, match="no 'speaker: text' lines"):
        load(csv_txt, kind="LOG")  # case-insensitive, and forced: no falling back to CSV
    with pytest.raises(LoadError, match="unknown kind 'video'"):
        load(chat, kind="video")
    with pytest.raises(LoadError, match="document, not a transcript"):
        load(write(tmp_path, "p.pdf", make_pdf("x")), kind="transcript")
    with pytest.raises(LoadError, match="neither a transcript"):
        load(write(tmp_path, "cfg.txt", '{"a": 1}'), kind="transcript")


def test_load_uri_overrides_path_and_load_bytes_is_pure(tmp_path: Path) -> None:
    path = write(tmp_path, "a.md", "# T\nx")
    assert load(path, uri="docs/a.md").uri == "docs/a.md"
    assert load(path).uri == str(path)
    assert load_bytes(b"# T\nx", "a.md") == load(path, uri="a.md")


# --- folders --------------------------------------------------------------------------------


def test_iter_files_walks_sorted_and_skips_hidden(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    for name in [
        "b.md", "a.TXT", "sub/z.json", "sub/deeper/c.csv", "image.png", ".hidden.md",
        ".git/config.md", "sub/.cache/x.md", "~$lock.docx", "aa/y.pdf",
    ]:  # fmt: skip
        write(root, name, "x")
    single = write(tmp_path, "single.weird", "x")
    found = list(iter_files([root, single, root / "b.md"]))
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "kb/a.TXT",
        "kb/aa/y.pdf",
        "kb/b.md",
        "kb/sub/deeper/c.csv",
        "kb/sub/z.json",
        "single.weird",  # named explicitly: yielded whatever its suffix; b.md only once
    ]
    assert {".md", ".txt", ".pdf", ".docx", ".json", ".csv", ".tsv", ".html"} <= SUPPORTED_SUFFIXES
    missing = tmp_path / "missing.md"
    assert list(iter_files([missing])) == [missing]


# --- untrusted input: per-row failures, mixed encodings -----------------------------------------


def test_jsonl_bad_line_is_a_row_error_and_the_rest_loads() -> None:
    data = (
        '{"messages": [{"role": "customer", "text": "能退吗"}]}\n'
        '{"messages": [oops\n'
        '{"messages": [{"role": "employee", "text": "可以"}]}\n'
    ).encode()
    loaded = load_bytes(data, "chats.jsonl")
    assert isinstance(loaded, LoadedTranscript) and len(loaded.conversations) == 2
    assert loaded.row_errors == ["line 2: malformed JSON (Expecting value at column 15)"]
    with pytest.raises(LoadError, match="malformed JSON"):  # mostly broken: one bad document
        load_bytes(b'{"messages": [\n  oops\n  more\n]}', "one.json")


def test_csv_line_the_csv_module_refuses_is_a_row_error() -> None:
    data = f"role,text\ncustomer,能退吗\nemployee,{'长' * 140_000}\nemployee,可以\n".encode()
    loaded = load_bytes(data, "chat.csv")
    assert isinstance(loaded, LoadedTranscript)
    assert [m.text for m in loaded.conversations[0].messages] == ["能退吗", "可以"]
    assert loaded.row_errors == [
        "line 3: malformed CSV (field larger than field limit (131072)); skipped"
    ]


def test_mixed_utf8_and_invalid_bytes_is_refused_not_mojibake(tmp_path: Path) -> None:
    body = "客户要求退货，我们同意了。".encode()
    tail = "退货流程".encode() + "退货".encode("gbk")
    path = write(tmp_path, "mixed.txt", body + b"\xff\xfe" + tail)
    with pytest.raises(LoadError) as caught:
        load(path)
    assert caught.value.reason == (
        "cannot decode cleanly: mostly UTF-8 but 4 invalid bytes, the first (ff) at byte offset "
        f"{len(body)}; tried utf-8; save it as UTF-8 (a file mixing encodings, or damaged)"
    )
    gbk = "客户要求退货，我们同意了。退货流程如下：先申请，再寄回。"
    assert load(write(tmp_path, "gbk.txt", gbk, "gbk")).text == gbk  # legacy files still read


def test_jddc_undecodable_line_is_a_row_error() -> None:
    good = "s1\tu1\t0\t0\t0\tsku\t我要退货\n".encode()
    bad = b"s1\tu1\t1\t0\t0\tsku\t\xff\xfe\xfd\n"
    loaded = parse_jddc(good + bad + "s1\tu1\t1\t0\t0\tsku\t好的\n".encode(), "jd.tsv")
    assert [m.text for m in loaded.conversations[0].messages] == ["我要退货", "好的"]
    assert loaded.row_errors[0].startswith("line 2: cannot decode cleanly: undecodable bytes (ff")


def test_lone_surrogates_and_controls_in_json_are_cleaned() -> None:
    data = (
        b'{"employee": "\\u738b\\u4e3d\\u202e", "messages": ['
        b'{"role": "customer", "text": "\\u9000\\u8d27 \\ud800 ok\\u0000\\u001b"}]}'
    )
    loaded = load_bytes(data, "chat.json")
    assert isinstance(loaded, LoadedTranscript)
    conv = loaded.conversations[0]
    assert conv.employee == "王丽" and conv.messages[0].text == "退货 \ufffd ok"
