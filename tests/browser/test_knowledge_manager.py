"""A knowledge manager's day in the console: the curation queue (a contradiction shown with both
sentences and the differing figures marked, then resolved; a merge seen side by side with its
result, done and undone, with the items' history), and the graph around an item.

The proposals come from notes two colleagues wrote (uploaded as the admin, mined with a first
`POST /curation/externalize`), so the sentences and figures asserted are the real ones."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx

from tests.api.conftest import ADMIN_KEY
from tests.browser.conftest import Console, check_screen

TEAM = "service-east"
# Two notes on the same coupon that disagree on its value. The first also says no application
# is needed (the second does not): mining keeps them as two items, not one.
COUPON = {
    "coupon-zhou.md": (
        "Zhou Min",
        "开卡礼券怎么领",
        "开卡当天可以领一张开卡礼券，面额50元，不用另外申请。",
    ),
    "coupon-sun.md": ("Sun Hao", "开卡礼券怎么领", "开卡当天可以领一张开卡礼券，面额30元。"),
}
# Two notes that say nearly the same about trading in old earphones: a proposed merge.
EARPHONES = {
    "earphones-zhou.md": (
        "Zhou Min",
        "旧耳机回收怎么估价",
        "旧耳机回收按成色估价，估价当场从货款里扣除，不用另外申请。",
    ),
    "earphones-sun.md": (
        "Sun Hao",
        "旧耳机回收怎么估价",
        "旧耳机回收按成色估价，估价当场从货款里扣除。",
    ),
}


def upload_notes(console: Console, notes: dict[str, tuple[str, str, str]]) -> None:
    """Upload the notes (author, heading, text; as the admin) and mine them into draft items."""
    for name, (author, heading, body) in notes.items():
        text = f"author: {author}\n# {heading}\n\n{body}\n"
        answer = httpx.post(
            console.url + "/ingest",
            params={"wait": 60},
            files={"file": (name, text.encode(), "text/markdown")},
            data={"kind": "note"},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=120,
        )
        assert answer.status_code == 200 and answer.json()["status"] == "done", answer.text
    console.api("POST", "/curation/externalize")


def queue(console: Console, kind: str) -> list[dict[str, Any]]:
    return list(console.api("GET", f"/curation/queue?kind={kind}&limit=1000"))


def events(console: Console, node: str, action: str) -> list[dict[str, Any]]:
    return list(console.api("GET", f"/admin/events?node={quote(node)}&action={action}"))


def open_curation(console: Console, open_console: Any, name: str, kind: str = "") -> Any:
    page = open_console(console.person("knowledge_manager", name, TEAM))
    page.get_by_role("heading", name=re.compile(r"^Proposals \(\d+\)$")).wait_for()
    if kind:
        show_only(page, kind)
    return page


def show_only(page: Any, kind: str) -> None:
    """Filter the queue to one kind of proposal and wait for it to show only those."""
    page.get_by_label("Show").select_option(kind)
    page.locator(f'article.proposal[data-kind="{kind}"]').first.wait_for()
    page.wait_for_function(
        """kind => document.querySelector('section[aria-labelledby="queue-h"]') && [
          ...document.querySelectorAll('article.proposal')].every(a => a.dataset.kind === kind)""",
        arg=kind,
    )


def test_the_knowledge_manager_resolves_a_contradiction(
    console: Console, open_console: Any
) -> None:
    upload_notes(console, COUPON)
    found = [
        p for p in queue(console, "contradiction") if "开卡礼券" in p["details"]["sentences"][0]
    ]
    assert len(found) == 1, found
    proposal = found[0]
    sentences, values = proposal["details"]["sentences"], proposal["details"]["values"]
    assert sorted(values) == ["30元", "50元"], proposal

    key = console.person("knowledge_manager", "Li Na", TEAM)
    page = open_console(key)
    page.get_by_role("heading", name="Curation queue").wait_for()  # a KM's home screen
    page.locator("article.proposal").first.wait_for()
    check_screen(page, "km-curation-queue")

    show_only(page, "contradiction")
    card = page.locator(f'article.proposal[data-proposal="{proposal["id"]}"]')
    card.wait_for()
    heading = card.get_by_role("heading", level=3).inner_text()
    assert values[0] in heading and values[1] in heading and "面额" in heading
    # both sentences, each with its own figure marked, side by side
    card.locator(".side-by-side").wait_for()
    assert card.locator(".side-by-side > section.side").count() == 2
    for item_id, sentence, value in zip(proposal["ids"], sentences, values, strict=True):
        side = card.locator(f'section.side[data-id="{item_id}"]')
        assert side.locator("blockquote.sentence").inner_text() == sentence
        assert side.locator("mark.diff").all_inner_texts() == [value]
    assert card.locator("mark.diff").all_inner_texts() == values
    check_screen(page, "km-contradiction")

    # she corrects the wrong figure: the new wording is a decision, in the log with her reason
    wrong = proposal["ids"][values.index("30元")]
    side = card.locator(f'section.side[data-id="{wrong}"]')
    side.get_by_role("button", name="Edit").click()
    form = side.locator("form.edit")
    said, fixed = COUPON["coupon-sun.md"][2], COUPON["coupon-sun.md"][2].replace("30元", "50元")
    assert form.get_by_label("Text").input_value() == said
    form.get_by_label("Text").fill(fixed)
    form.get_by_label("Reason (kept in the log)").fill("活动规则：开卡礼券面额50元")
    form.get_by_role("button", name="Save").click()

    page.get_by_role("status").filter(has_text="New wording saved").wait_for()
    card.wait_for(state="detached")  # the contradiction left the queue
    last = page.locator("section.last-decision")
    decision = last.locator("p").first.inner_text()
    assert "edited" in decision and "· you ·" in decision, decision
    history = last.locator(
        f'section.side[data-id="{wrong}"] ol.history li[data-action="item.edit"]'
    )
    assert "活动规则：开卡礼券面额50元" in history.inner_text()
    check_screen(page, "km-contradiction-resolved")

    assert proposal["id"] not in {p["id"] for p in queue(console, "contradiction")}
    assert console.api("GET", f"/items/{quote(wrong)}")["text"] == fixed
    logged = events(console, wrong, "item.edit")
    assert [e["reason"] for e in logged] == ["活动规则：开卡礼券面额50元"], logged
    assert logged[0]["actor"] == console.api("GET", "/me", key=key)["account_id"]  # hers

    # another contradiction (between documents of the sample corpus): confirmed as one
    other = queue(console, "contradiction")[0]
    card = page.locator(f'article.proposal[data-proposal="{other["id"]}"]')
    card.locator(".side-by-side").wait_for()
    assert card.locator("mark.diff").all_inner_texts() == other["details"]["values"]
    card.get_by_role("button", name="Confirm the conflict").click()
    page.get_by_role("status").filter(has_text="Conflict recorded").wait_for()
    card.wait_for(state="detached")
    linked = events(console, other["ids"][0], "item.link")
    assert linked and set(other["ids"]) <= set(linked[-1]["ids"]), linked


def test_the_knowledge_manager_merges_two_items_and_undoes_it(
    console: Console, open_console: Any
) -> None:
    upload_notes(console, EARPHONES)
    found = [p for p in queue(console, "merge") if "旧耳机回收" in p["titles"][0]]
    assert len(found) == 1, found
    proposal = found[0]
    keep, other = proposal["ids"]
    texts = {i: console.api("GET", f"/items/{quote(i)}")["text"] for i in (keep, other)}
    assert set(texts.values()) == {body for _, _, body in EARPHONES.values()}

    page = open_curation(console, open_console, "Zhao Lei", "merge")
    card = page.locator(f'article.proposal[data-proposal="{proposal["id"]}"]')
    card.wait_for()
    # both items side by side, and what the merge would make of them
    for item_id in (keep, other):
        side = card.locator(f'section.side[data-id="{item_id}"]')
        assert side.locator("p.say").inner_text() == texts[item_id]
    merged = card.locator("section.side.merged")
    merged.wait_for()
    assert merged.get_by_role("heading", name="After the merge").count() == 1
    assert texts[keep] in merged.inner_text()
    assert "Evidence of both: 2 situations" in merged.inner_text()
    assert card.get_by_label("Keep this one").first.is_checked()
    check_screen(page, "km-merge")

    card.get_by_label("Reason (kept in the log)").last.fill("同一条回收规则")
    card.get_by_role("button", name="Merge", exact=True).click()
    page.get_by_role("status").filter(has_text="Merged").wait_for()
    card.wait_for(state="detached")
    assert console.api("GET", f"/items/{quote(other)}")["status"] == "retired"
    merge_event = events(console, keep, "item.merge")[-1]
    assert merge_event["reason"] == "同一条回收规则"

    # the last decision shows both items' history, the merge in it, and undoes it
    last = page.locator("section.last-decision")
    for item_id in (keep, other):
        entry = last.locator(f'section.side[data-id="{item_id}"] li[data-action="item.merge"]')
        assert f"#{merge_event['seq']}" in entry.inner_text()
    check_screen(page, "km-merged")
    undo_button = last.get_by_role("button", name=f"Undo #{merge_event['seq']} (merged)")
    undo_button.first.click()  # the decision's own (each history lists it too)
    page.get_by_role("status").filter(has_text="Undone").wait_for()
    undo = events(console, keep, "undo")[-1]
    assert undo["seq"] > merge_event["seq"]
    for item_id in (keep, other):
        history = page.locator(
            f'section.last-decision section.side[data-id="{item_id}"] ol.history'
        )
        history.locator(f'li[data-seq="{undo["seq"]}"]').wait_for()
        actions = history.locator("li").evaluate_all("lis => lis.map(li => li.dataset.action)")
        assert actions[:2] == ["undo", "item.merge"], actions  # newest first
        # the merge is undone: its own entry offers no undo any more
        assert (
            history.get_by_role("button", name=f"Undo #{merge_event['seq']} (merged)").count() == 0
        )
    assert console.api("GET", f"/items/{quote(other)}")["status"] == "draft"
    # both are back as they were, so the merge is proposed again
    card.wait_for()
    assert card.locator("section.side.merged").count() == 1
    check_screen(page, "km-merge-undone")


def _start_item(console: Console) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A mined talk track whose neighbourhood holds a product and an objection."""
    page = console.api("GET", "/items?kind=talk_track&limit=1000")
    for item in page["items"]:
        if item["team"] not in ("", TEAM):
            continue  # her search lists only what she may see
        graph = console.api("GET", f"/graph/neighbourhood/{quote(item['id'])}")
        entities = [n for n in graph["nodes"] if n["label"] == "Entity"]
        product = next((n for n in entities if n["properties"].get("kind") == "product"), None)
        objection = next((n for n in entities if n["properties"].get("kind") == "objection"), None)
        if product and objection:
            return item, product, objection
    raise AssertionError("no talk track mentions a product and an objection")


def test_the_graph_around_an_item_and_a_click_to_a_product(
    console: Console, open_console: Any
) -> None:
    item, product, objection = _start_item(console)
    page = open_console(console.person("knowledge_manager", "Wu Fang", TEAM), lang="zh")
    page.get_by_role("navigation").get_by_role("link", name="知识图谱").click()
    page.get_by_role("heading", name="知识图谱", level=1).wait_for()

    # the start node: found by words of its title
    words = item["title"].rstrip('”"')[-10:]
    page.get_by_label("查找知识条目").fill(words)
    page.get_by_role("button", name="搜索").click()
    results = page.locator("section.graph-results")
    results.get_by_role("link", name=item["title"], exact=True).click()

    canvas = page.locator('.graph-canvas[data-ready="true"]')
    canvas.wait_for()
    assert page.get_by_role("heading", level=2, name=item["title"][:80]).count() == 1
    assert canvas.locator("canvas").count() >= 1  # drawn by cytoscape
    nodes = page.locator("ul.graph-nodes")
    assert nodes.locator(f'li[data-node="{item["id"]}"] [aria-current]').count() == 1
    assert "话术" in nodes.locator(f'li[data-node="{item["id"]}"]').inner_text()
    for entity, category, word in ((product, "product", "产品"), (objection, "objection", "异议")):
        li = nodes.locator(f'li[data-node="{entity["id"]}"]')
        assert li.get_attribute("data-category") == category
        assert entity["name"] in li.inner_text() and word in li.inner_text()
    legend = page.locator("ul.graph-legend").inner_text()
    assert all(word in legend for word in ("话术", "产品", "异议", "文档"))
    mentions = page.locator('ul.graph-links li[data-type="MENTIONS"]').all_inner_texts()
    assert any(product["name"] in m and "提及" in m for m in mentions), mentions
    check_screen(page, "km-graph")

    # a click on the product's node (where cytoscape drew it) opens the product's neighbourhood
    box = canvas.bounding_box()
    spot = page.evaluate(
        """id => {
          const cy = document.querySelector('.graph-canvas')._cyreg.cy;
          return cy.getElementById(id).renderedPosition();
        }""",
        product["id"],
    )
    page.mouse.click(box["x"] + spot["x"], box["y"] + spot["y"])
    page.wait_for_function(
        "id => decodeURIComponent(location.hash).includes(id)", arg=product["id"]
    )
    page.get_by_role("heading", level=2, name=product["name"]).wait_for()
    page.locator(
        f'.neighbourhood[data-center="{product["id"]}"] .graph-canvas[data-ready="true"]'
    ).wait_for()

    # the same nodes as the API's neighbourhood of the product (the nearest 50), it first
    def shown() -> list[str]:
        nodes = page.locator("ul.graph-nodes li")
        return list(nodes.evaluate_all("lis => lis.map(li => li.dataset.node)"))

    wanted = console.api("GET", f"/graph/neighbourhood/{quote(product['id'])}?limit=50")
    assert shown() == [n["id"] for n in wanted["nodes"]] and len(shown()) > 1
    if wanted["truncated"]:
        assert "关联节点多于显示上限" in page.locator(".neighbourhood > p.muted").inner_text()
    # following only what mentions it: the talk track she started from is among them
    page.get_by_label("关联类型").select_option("MENTIONS")
    page.wait_for_function("() => decodeURIComponent(location.hash).includes('links=MENTIONS')")
    page.locator('.graph-canvas[data-ready="true"]').wait_for()
    path = f"/graph/neighbourhood/{quote(product['id'])}?limit=50&types=MENTIONS"
    mentioning = [n["id"] for n in console.api("GET", path)["nodes"]]
    page.wait_for_function(
        """ids => JSON.stringify([...document.querySelectorAll('ul.graph-nodes li')]
          .map(li => li.dataset.node)) === JSON.stringify(ids)""",
        arg=mentioning,
    )
    assert shown() == mentioning and item["id"] in mentioning
    back = page.locator(f'ul.graph-nodes li[data-node="{item["id"]}"]').get_by_role("link")
    assert back.inner_text() == item["title"][:80]
    assert all("提及" in line for line in page.locator("ul.graph-links li").all_inner_texts())
    check_screen(page, "km-graph-product")
