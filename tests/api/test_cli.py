"""The `spiral` CLI: the interfaces DESIGN.md fixes, and its answers to bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app

pytestmark = pytest.mark.model
runner = CliRunner()


def test_ask_json_shape_and_sources(corpus_dir: Path, use_store) -> None:
    use_store(corpus_dir)
    result = runner.invoke(
        app, ["ask", "客户说金盾百万医疗险太贵了，我该怎么回？", "--top-k", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["query"] == "客户说金盾百万医疗险太贵了，我该怎么回？"
    assert len(answer["suggestions"]) == 3
    for s in answer["suggestions"]:
        assert set(s) >= {"id", "title", "text", "score", "why", "sources"}
        assert s["sources"] and all(Path(src["uri"]).exists() for src in s["sources"])
    scores = [s["score"] for s in answer["suggestions"]]
    assert scores == sorted(scores, reverse=True)
    assert any("price" in src["uri"] for s in answer["suggestions"] for src in s["sources"])


def test_ask_file_one_json_line_per_query_in_order(
    corpus_dir: Path,
    use_store,
    tmp_path: Path,
) -> None:
    use_store(corpus_dir)
    queries = ["How long does a refund take?", "退款多久到账", "客户想换大一码"]
    path = tmp_path / "q.txt"
    path.write_text("\n".join(queries) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["ask", "--file", str(path), "--json", "--top-k", "2"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == queries
    assert all(len(line["suggestions"]) == 2 for line in lines)


def test_empty_store_answers_with_a_hint(tmp_path: Path, use_store) -> None:
    use_store(tmp_path)
    result = runner.invoke(app, ["ask", "anything", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"query": "anything", "suggestions": [], "entities": []}
    assert "spiral ingest" in result.stderr
    plain = runner.invoke(app, ["ask", "anything"])
    assert plain.exit_code == 0 and "empty" in plain.stdout


def test_stats_json(corpus_dir: Path, use_store) -> None:
    use_store(corpus_dir)
    result = runner.invoke(app, ["stats", "--json"])
    stats = json.loads(result.stdout)
    assert stats["nodes"]["Conversation"] >= 30 and stats["links"]["MENTIONS"] > 0


def test_ingest_reports_bad_files_and_exit_code(tmp_path: Path, use_store) -> None:
    use_store(tmp_path / "store")
    good = tmp_path / "good.md"
    good.write_text("# 退货\n七天无理由退货。", encoding="utf-8")
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 not really a pdf")
    result = runner.invoke(app, ["ingest", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"failed {bad}" in " ".join(result.stderr.split())
    again = runner.invoke(app, ["ingest", str(good)])
    assert again.exit_code == 0 and "unchanged" in again.stdout
    forget = runner.invoke(app, ["forget", str(good)])
    assert forget.exit_code == 0 and "forgot" in forget.stdout


def test_unreachable_neo4j_is_one_clear_line(tmp_path: Path, use_store) -> None:
    use_store(tmp_path, SPIRAL_STORE="neo4j", NEO4J_URI="bolt://127.0.0.1:9")
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 2
    assert "NEO4J_URI" in result.stderr and "bolt://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_configured_gazetteer_is_one_clear_line(tmp_path: Path, use_store) -> None:
    missing = tmp_path / "nope.json"
    use_store(tmp_path / "store", SPIRAL_GAZETTEER_PATH=str(missing))
    good = tmp_path / "good.md"
    good.write_text("# 退货\n七天无理由退货。", encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(good)])
    assert result.exit_code == 2
    shown = "".join(result.stderr.split())  # rich wraps long lines
    assert f"SPIRAL_GAZETTEER_PATH={missing}:nosuchfile" in shown
    assert "Traceback" not in result.stderr + result.stdout


def test_events_feed_and_undo(tmp_path: Path, use_store) -> None:
    from graph.changes import SetFields
    from graph.embedded import EmbeddedStore
    from graph.model import Employee

    use_store(tmp_path / "store")
    doc = tmp_path / "policy.md"
    doc.write_text("# 退货\n七天无理由退货。", encoding="utf-8")
    assert runner.invoke(app, ["ingest", str(doc)]).exit_code == 0
    store = EmbeddedStore.open(tmp_path / "store" / "spiral.sqlite")
    try:
        store.upsert_nodes([Employee(id="emp:1", name="王丽")])
        decided = store.apply(
            [SetFields(id="emp:1", fields={"team": "理赔组"})],
            actor="admin:li",
            action="assign_team",
            reason="moved",
        )
    finally:
        store.close()
    result = runner.invoke(app, ["events", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["action"] for e in lines] == ["source.write", "upsert", "assign_team"]
    for e in lines:
        assert set(e) == {"seq", "at", "actor", "action", "ids", "before", "after", "reason"}
    assert lines[0]["after"]["uri"] == str(doc) and lines[0]["actor"] == "ingest"
    assert lines[2]["before"] == {"emp:1": {"team": ""}}
    assert lines[2]["after"] == {"emp:1": {"team": "理赔组"}} and lines[2]["reason"] == "moved"
    since = runner.invoke(app, ["events", "--since", str(lines[1]["seq"]), "--json"])
    assert [json.loads(x)["seq"] for x in since.stdout.splitlines()] == [decided.seq]
    undone = runner.invoke(app, ["undo", str(decided.seq), "--reason", "mistake", "--json"])
    assert undone.exit_code == 0, undone.output
    assert json.loads(undone.stdout)["after"] == {"emp:1": {"team": ""}}
    refused = runner.invoke(app, ["undo", str(lines[0]["seq"])])
    assert refused.exit_code == 1 and "ingest" in refused.stderr
    table = runner.invoke(app, ["events", "--action", "undo"])
    assert table.exit_code == 0 and "mistake" in table.stdout


LOST_ANSWER = "价格是保险公司定的，我们也没办法。"


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_externalize_items_and_curation_commands(
    corpus_dir: Path, use_store, tmp_path: Path
) -> None:
    data = tmp_path / "store"
    shutil.copytree(corpus_dir, data)  # mining writes: keep the shared corpus store as it was
    use_store(data)
    first = runner.invoke(app, ["seci", "externalize", "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["full"] and report["created"] > 5 and report["situations"] > 100
    again = json.loads(runner.invoke(app, ["seci", "externalize", "--json"]).stdout)
    assert not again["full"] and again["created"] == again["updated"] == 0

    listed = _lines(runner.invoke(app, ["items", "list", "--kind", "talk_track", "--json"]).stdout)
    assert listed and all(i["kind"] == "talk_track" and i["status"] == "draft" for i in listed)
    for item in listed:
        assert set(item) >= {"id", "kind", "status", "title", "text", "stats", "sources"}
        assert set(item["stats"]) == {"uses", "successes", "trials"}
        assert item["sources"] and all(Path(s["uri"]).exists() for s in item["sources"])
    shown = [
        json.loads(runner.invoke(app, ["curate", "show", i["id"], "--json"]).stdout) for i in listed
    ]
    price = next(d for d in shown if any(a["text"] == LOST_ANSWER for a in d["avoid"]))
    assert price["responses"][0]["text"] == price["text"] != LOST_ANSWER
    assert price["history"][0]["action"] == "item.mined"

    approved = runner.invoke(app, ["curate", "approve", price["id"], "--reason", "ok", "--json"])
    assert approved.exit_code == 0, approved.output
    event = json.loads(approved.stdout)
    assert event["action"] == "item.approve" and event["after"][price["id"]]["status"] == "approved"
    ids = {
        i["id"]
        for i in _lines(
            runner.invoke(app, ["items", "list", "--status", "approved", "--json"]).stdout
        )
    }
    assert ids == {price["id"]}
    asked = json.loads(
        runner.invoke(app, ["ask", "金盾医疗险三百多一年，是不是太贵了？", "--json"]).stdout
    )
    top = asked["suggestions"][0]
    assert top["id"] == price["id"] and top["item"]["status"] == "approved" and not top["draft"]
    assert all(LOST_ANSWER not in s["text"] for s in asked["suggestions"])

    queue = _lines(
        runner.invoke(app, ["curate", "queue", "--kind", "contradiction", "--json"]).stdout
    )
    assert any(set(p["details"]["values"]) == {"7天", "15天"} for p in queue)

    undone = runner.invoke(app, ["curate", "undo", str(event["seq"]), "--json"])
    assert undone.exit_code == 0 and json.loads(undone.stdout)["action"] == "undo"
    back = json.loads(runner.invoke(app, ["curate", "show", price["id"], "--json"]).stdout)
    assert back["status"] == "draft"
    missing = runner.invoke(app, ["curate", "approve", "knowledgeitem:nope"])
    assert missing.exit_code == 1 and "no knowledge item" in missing.output

    worked = runner.invoke(app, ["feedback", price["id"], "worked", "--employee", "e1", "--json"])
    assert worked.exit_code == 0, worked.output
    assert json.loads(worked.stdout)["action"] == "feedback.worked"
    after = json.loads(runner.invoke(app, ["curate", "show", price["id"], "--json"]).stdout)
    assert after["stats"]["trials"] == price["stats"]["trials"] + 1
    assert runner.invoke(app, ["feedback", price["id"], "great"]).exit_code == 2
    seen = json.loads(runner.invoke(app, ["metrics", "--json"]).stdout)
    assert seen["suggestions"]["worked"] == 1 and seen["stages"]["externalization"] > 5
    assert seen["contradiction_backlog"] >= 1  # the two return policies disagree


CLAIM_TALK = {
    "id": "live-1",
    "channel": "wecom",
    "employee": "王丽",
    "customer_id": "cust-live",
    "messages": [
        {"role": "customer", "text": "我住院的理赔资料上周都交齐了"},
        {"role": "employee", "text": "好的，我帮您查一下进度"},
        {"role": "customer", "text": "那大概要多久？"},
    ],
}


def test_ask_with_a_conversation_so_far(corpus_dir: Path, use_store, tmp_path: Path) -> None:
    use_store(corpus_dir)
    context = tmp_path / "conversation.json"
    context.write_text(json.dumps(CLAIM_TALK, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["ask", "--context-file", str(context), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["query"] == "那大概要多久？"  # the customer's last turn
    texts = [s["text"] for s in answer["suggestions"] if not s["opening"]]
    assert len(texts) >= 3 and "工作日" in texts[0]  # the claim, not a refund or a delivery
    # the employee has spoken: no opening line; a new customer turn alone gets one
    assert not any(s["opening"] for s in answer["suggestions"])
    first = {**CLAIM_TALK, "messages": CLAIM_TALK["messages"][:1]}
    context.write_text(json.dumps(first, ensure_ascii=False), encoding="utf-8")
    opened = runner.invoke(app, ["ask", "--context-file", str(context), "--json"])
    assert json.loads(opened.stdout)["suggestions"][0]["opening"] is True
    plain = runner.invoke(app, ["ask", "--context-file", str(context), "--employee", "王丽"])
    assert plain.exit_code == 0 and "open with" in plain.stdout


def test_ask_file_takes_json_lines_and_reports_bad_ones(
    corpus_dir: Path, use_store, tmp_path: Path
) -> None:
    use_store(corpus_dir)
    path = tmp_path / "asks.jsonl"
    lines = [
        json.dumps({"query": "那大概要多久？", "context": CLAIM_TALK["messages"][:2]}),
        "退款多久到账",
        "{not json",
        json.dumps({"query": 3}),
        json.dumps({"context": {"messages": []}}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["ask", "--file", str(path), "--json", "--top-k", "3"])
    assert result.exit_code == 1  # some lines were bad; the good ones were answered
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("query") for o in out[:2]] == ["那大概要多久？", "退款多久到账"]
    assert all(len(o["suggestions"]) == 3 for o in out[:2])
    assert [o["error"].split(":")[0] for o in out[2:]] == ["line 3", "line 4", "line 5"]
    assert "line 3: not JSON" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask"], "give TEXT"),
        (["ask", "x", "--file", "q.txt"], "not both"),
        (["ask", "--context-file", "missing.json"], "cannot read"),
    ],
)
def test_ask_refuses_unclear_input(tmp_path: Path, use_store, args, message) -> None:
    use_store(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.stderr


def test_ask_context_file_must_be_one_conversation(tmp_path: Path, use_store) -> None:
    use_store(tmp_path)
    path = tmp_path / "two.json"
    path.write_text(json.dumps([CLAIM_TALK, CLAIM_TALK]), encoding="utf-8")
    result = runner.invoke(app, ["ask", "--context-file", str(path)])
    assert result.exit_code == 2 and "give exactly one" in result.stderr
    path.write_text("{", encoding="utf-8")
    result = runner.invoke(app, ["ask", "--context-file", str(path)])
    assert result.exit_code == 2 and "not JSON" in result.stderr


def test_experts_and_exemplars(corpus_dir: Path, use_store) -> None:
    use_store(corpus_dir)
    result = runner.invoke(app, ["experts", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    names = [e["name"] for e in found["experts"]]
    # 王丽 (every one of hers worked) first; 张强 (lost and escalated) last
    assert names[0] == "王丽" and names[-1] == "张强"
    top = found["experts"][0]
    assert top["successes"] == top["trials"] >= 11 and top["estimate"] < 1.0
    assert f"{top['trials']} of {top['trials']}" in top["why"] and top["evidence"]
    table = runner.invoke(app, ["experts", "太贵了"])
    assert table.exit_code == 0 and "experts on" in table.stdout and "of" in table.stdout
    shown = runner.invoke(app, ["exemplars", "太贵了", "--json"])
    assert shown.exit_code == 0, shown.output
    exemplars = json.loads(shown.stdout)
    assert exemplars and all(x["outcome"] in ("converted", "resolved") for x in exemplars)
    nothing = runner.invoke(app, ["experts", "zyxquartz"])
    assert nothing.exit_code == 0 and "no conversation found" in nothing.stdout


def test_handover_command(corpus_dir: Path, use_store, tmp_path: Path) -> None:
    data = tmp_path / "store"
    shutil.copytree(corpus_dir, data)
    use_store(data)
    result = runner.invoke(app, ["handover", "张强", "王丽", "--reason", "张强调岗", "--json"])
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done["customers"] and done["event"] > 0
    for customer in done["customers"]:  # the whole history, including others' conversations
        assert customer["conversations"] and customer["handled_by"]
    events = runner.invoke(app, ["events", "--action", "handover", "--json"])
    (event,) = [json.loads(line) for line in events.stdout.splitlines()]
    assert event["reason"] == "张强调岗" and event["seq"] == done["event"]
    again = runner.invoke(app, ["handover", "张强", "王丽"])
    assert again.exit_code == 1 and "owns nothing" in again.output
    nobody = runner.invoke(app, ["handover", "nobody", "王丽"])
    assert nobody.exit_code == 1 and "no employee" in nobody.output
    undone = runner.invoke(app, ["undo", str(done["event"])])
    assert undone.exit_code == 0, undone.output


def test_learn_commands(corpus_dir: Path, use_store, tmp_path: Path) -> None:
    data = tmp_path / "store"
    shutil.copytree(corpus_dir, data)
    use_store(data)
    assert runner.invoke(app, ["seci", "externalize"]).exit_code == 0
    suggested = runner.invoke(app, ["learn", "suggest", "太贵了", "--json"])
    assert suggested.exit_code == 0, suggested.output
    steps = json.loads(suggested.stdout)
    assert steps and all(s["why"] for s in steps)
    made = runner.invoke(app, ["learn", "path", "新人：价格异议", "--topic", "太贵了", "--json"])
    assert made.exit_code == 0, made.output
    path = json.loads(made.stdout)
    assert path["items"] and path["title"] == "新人：价格异议"
    assert path["items"] == [s["item"] for s in steps]  # the path is what was suggested
    shown = runner.invoke(app, ["learn", "suggest", "太贵了"])
    assert "spiral learn path" in shown.stdout
    assigned = runner.invoke(app, ["learn", "assign", path["id"], "李娜"])
    assert assigned.exit_code == 0 and "assigned to 1 people" in assigned.stdout
    due = json.loads(runner.invoke(app, ["learn", "review", "李娜", "--json"]).stdout)
    assert [c["item"] for c in due] == path["items"] and all(c["new"] for c in due)
    first = path["items"][0]
    done = runner.invoke(
        app, ["learn", "review", "李娜", "--item", first, "--rating", "good", "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["reviews"] == 1
    mentored = runner.invoke(app, ["learn", "mentor", "王丽", "李娜", "--topic", "价格异议"])
    assert mentored.exit_code == 0, mentored.output
    report = json.loads(runner.invoke(app, ["learn", "progress", "李娜", "--json"]).stdout)
    (mine,) = report["paths"]
    assert mine["done"] == 1 and mine["items"][0]["last_rating"] == "good"
    (session,) = report["mentoring"]
    assert (session["mentor"], session["topic"], session["kind"]) == (
        "王丽",
        "价格异议",
        "shadowed",
    )
    bad = runner.invoke(app, ["learn", "review", "李娜", "--item", first, "--rating", "perfect"])
    assert bad.exit_code == 1 and "rating must be one of" in bad.output
    nothing = runner.invoke(app, ["learn", "path", "空", "--topic", "zyxquartz"])
    assert nothing.exit_code == 1 and "nothing to learn" in nothing.output
    # the sample corpus plants a weak employee: 张强 (lost and escalated conversations)
    weak = runner.invoke(app, ["learn", "gaps", "张强", "--path", "--json"])
    assert weak.exit_code == 0, weak.output
    found = json.loads(weak.stdout)
    assert found["gaps"] and found["path"]
    strong = json.loads(runner.invoke(app, ["learn", "gaps", "王丽", "--json"]).stdout)
    assert strong["gaps"] == [] and strong["path"] is None


def test_demo_tells_the_whole_spiral(tmp_path: Path, use_store) -> None:
    """Every step of the spiral, and the same story when the demo runs again on the same
    store: its feedback is taken back, so the loop still has a talk track to move."""
    use_store(tmp_path / "demo")
    for _ in range(2):
        result = runner.invoke(app, ["demo", "--queries", "1"])
        assert result.exit_code == 0, result.output
        text = " ".join(result.stdout.split())
        for step in ("Externalization", "Live:", "The loop", "Socialization", "Internalization"):
            assert step in text, step
        assert re.search(r"was used \d+ times and the customer left each time", text)
        assert "the demo's feedback is taken back" in text
        assert "张强" in text and "a path of" in text and "FSRS brings it back" in text
        assert "now with 王丽" in text and "stays his" in text


def test_ingest_batch_survives_whatever_it_is_fed(
    tmp_path: Path, use_store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each bad file or row is reported and skipped; the good ones are ingested, the summary
    printed, the exit code 1, and no traceback reaches the user."""
    from graph.embedded import EmbeddedStore
    from graph.model import Label, Message
    from graph.store import NodeQuery, iter_nodes
    from ingest import prepare

    use_store(tmp_path / "store")
    given = tmp_path / "in"
    given.mkdir()
    (given / "surrogate.json").write_text(  # JSON escapes: a lone surrogate and a NUL
        '{"messages": [{"role": "customer", "text": "退货 \\ud800 可以吗"},'
        ' {"role": "employee", "text": "可以\\u0000的"}]}',
        encoding="utf-8",
    )
    (given / "x.md").symlink_to(given / "y.md")
    (given / "y.md").symlink_to(given / "x.md")
    (given / "mixed.txt").write_bytes("客户要求退货。".encode() * 5 + b"\xff" + "好的".encode())
    (given / "rows.csv").write_text(
        "role,text\ncustomer,能退吗\nrobot,???\nemployee,可以退\n", encoding="utf-8"
    )
    (given / "boom.md").write_text("# boom\n这个文件触发一个错误。", encoding="utf-8")
    good = tmp_path / "good.md"
    good.write_text("# 退货\n七天无理由退货。", encoding="utf-8")
    real_build = prepare.build_document

    def build(doc, digest):  # a bug that only this one file meets
        if doc.uri.endswith("boom.md"):
            raise RuntimeError("boom")
        return real_build(doc, digest)

    monkeypatch.setattr(prepare, "build_document", build)
    result = runner.invoke(app, ["ingest", str(given), str(tmp_path / "missing.md"), str(good)])
    assert result.exit_code == 1, result.output
    assert "ingest summary" in result.stdout
    shown = " ".join(result.stderr.split())
    assert "Traceback" not in result.stdout + result.stderr
    assert f"failed {given / 'x.md'}: cannot read: Too many levels of symbolic links" in shown
    assert f"failed {given / 'y.md'}" in shown and f"failed {tmp_path / 'missing.md'}" in shown
    assert f"failed {given / 'mixed.txt'}: cannot decode cleanly" in shown
    assert "(ff) at byte offset 105; tried utf-8" in shown
    assert f"failed {given / 'boom.md'}: RuntimeError: boom" in shown
    assert "skipped row" in shown and "row 3: unknown role 'robot'" in shown
    assert shown.count("failed ") == 5  # x.md, y.md, mixed.txt, boom.md, missing.md
    store = EmbeddedStore.open(tmp_path / "store" / "spiral.sqlite")
    try:
        texts = {
            n.text
            for n in iter_nodes(store, NodeQuery(label=Label.MESSAGE))
            if isinstance(n, Message)
        }
    finally:
        store.close()
    assert {"退货 \ufffd 可以吗", "可以的", "能退吗", "可以退"} <= texts
