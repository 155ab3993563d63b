"""A trainer's day in the console: build a learning path (a prerequisite cycle is shown with its
members and refused, then the path comes out in prerequisite order), assign it to an employee,
follow their progress, due reviews and gaps; and the SECI dashboard draws its charts from the
same figures GET /metrics gives."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.browser.conftest import Console, check_screen

TEAM = "service-east"
LEARNER = "张强"  # a person of the sample corpus, with conversations (and gaps) of his own


def _two_items(console: Console) -> list[dict[str, Any]]:
    """Two live talk tracks whose titles no other item shares (labels name them exactly)."""
    items = console.api("GET", "/items?kind=talk_track&limit=1000")["items"]
    live = [i for i in items if i["status"] in ("approved", "draft")]
    every = console.api("GET", "/items?limit=1000")["items"]
    titles = [i["title"] for i in every]
    unique = [i for i in live if i["title"] and titles.count(i["title"]) == 1]
    assert len(unique) >= 2, unique
    return unique[:2]


def _prerequisite(console: Console, src: str, dst: str) -> int:
    body = {"src": src, "dst": dst, "type": "prerequisite_of", "reason": "browser test"}
    return int(console.api("POST", "/curation/links", body)["seq"])


def test_a_trainer_builds_a_path_assigns_it_and_follows_progress(
    console: Console, open_console: Any
) -> None:
    first, second = _two_items(console)
    a, b = first["id"], second["id"]
    # a knowledge manager's links: a before b, and (by mistake) b before a — a cycle
    a_before_b = _prerequisite(console, a, b)
    b_before_a = _prerequisite(console, b, a)
    title = "Claims basics (browser test)"
    try:
        key = console.person("trainer", "Tara Lin", TEAM)
        page = open_console(key)
        page.get_by_role("heading", name="Learning paths", level=1).wait_for()

        # picked in the "wrong" order: b first
        for item in (second, first):
            box = page.locator(f'ul.picker input[data-item="{item["id"]}"]')
            box.check()
            assert page.get_by_role("checkbox", name=item["title"], exact=True).is_checked()
        selection = page.locator("ol.selection > li")
        assert selection.evaluate_all("els => els.map(e => e.dataset.item)") == [b, a]
        # each selected item says what it needs first (from its prerequisite links)
        selection.first.get_by_text("needs first").wait_for()
        page.get_by_label("Path title").fill(title)
        check_screen(page, "trainer-path-builder")

        # the cycle is shown, naming its members, and no path is made
        page.get_by_role("button", name="Create path").click()
        cycle = page.get_by_role("alert").filter(has_text="require each other in a circle")
        cycle.wait_for()
        members = cycle.locator("ol.cycle-members li").all_inner_texts()
        assert set(members) == {first["title"], second["title"]}, members
        assert members[0] == members[-1]  # round the circle, back to where it started
        paths = console.api("GET", "/learning/paths")
        assert all(p["title"] != title for p in paths)
        check_screen(page, "trainer-path-cycle")

        # the knowledge manager removes the wrong link; the same selection is accepted now,
        # in prerequisite order (a before b) whatever order it was picked in
        console.api("POST", f"/curation/events/{b_before_a}/undo", {"reason": "wrong way round"})
        page.get_by_role("button", name="Create path").click()
        page.get_by_role("status").filter(has_text=f"“{title}” created with 2 steps").wait_for()
        made = next(p for p in console.api("GET", "/learning/paths") if p["title"] == title)
        assert made["items"] == [a, b]
        card = page.locator(f'article.path[data-path="{made["id"]}"]')
        steps = card.locator("ol.path-steps li")
        assert steps.evaluate_all("els => els.map(e => e.dataset.item)") == [a, b]
        assert steps.all_inner_texts() == [first["title"], second["title"]]

        # assigned to an employee of the sample corpus, by name
        card.get_by_label("Assign to (name or employee id)").fill(LEARNER)
        card.get_by_role("button", name="Assign", exact=True).click()
        card.get_by_role("status").filter(has_text=f"Assigned to {LEARNER}").wait_for()
        learner = console.api("GET", f"/learning/progress/{quote(LEARNER)}")["employee"]
        made = next(p for p in console.api("GET", "/learning/paths") if p["id"] == made["id"])
        assert learner in made["assignees"]
        check_screen(page, "trainer-path-created")

        # their progress: nothing learnt yet, both items new for review, and their gaps
        card.get_by_role("button", name=f"See progress: {LEARNER}").click()
        ours = page.locator(f'.path-progress[data-path="{made["id"]}"]')
        ours.get_by_text("0 of 2 learnt").wait_for()
        due = page.locator("ul.due li")
        due_ids = due.evaluate_all("els => els.map(e => e.dataset.item)")
        assert a in due_ids and b in due_ids
        assert due.filter(has_text=first["title"]).inner_text().endswith("new")

        # they recall the first item well; the trainer refreshes and sees it
        review = {"employee": LEARNER, "item": a, "rating": "good"}
        console.api("POST", "/learning/reviews", review)
        page.get_by_role("button", name="Refresh").click()
        ours.get_by_text("1 of 2 learnt").wait_for()
        row = ours.locator(f'tr[data-item="{a}"]')
        assert row.locator("td.reviews").inner_text() == "1"
        assert "good" in row.inner_text()
        progress = console.api("GET", f"/learning/progress/{quote(LEARNER)}")
        ours_api = next(p for p in progress["paths"] if p["path"] == made["id"])
        assert ours_api["done"] == 1
        due_now = [d["item"] for d in console.api("GET", f"/learning/due/{quote(LEARNER)}")]
        shown = page.locator("ul.due li").evaluate_all("els => els.map(e => e.dataset.item)")
        assert shown == due_now and a not in shown and b in shown

        gaps = console.api("GET", f"/learning/gaps/{quote(LEARNER)}")
        shown_gaps = page.locator("ul.gaps li").evaluate_all("els => els.map(e => e.dataset.item)")
        assert shown_gaps == [g["item"] for g in gaps]
        page.get_by_role("heading", name=f"Gaps ({len(gaps)})").wait_for()
        check_screen(page, "trainer-progress")
    finally:
        console.api("POST", f"/curation/events/{a_before_b}/undo", {"reason": "test done"})


def test_a_trainer_cannot_reach_admin(console: Console, open_console: Any) -> None:
    page = open_console(console.person("trainer", "Tom Wu", TEAM))
    nav = page.get_by_role("navigation")
    assert nav.get_by_role("link", name="Learning paths").count() == 1
    assert nav.get_by_role("link", name="SECI dashboard").count() == 1
    assert nav.get_by_role("link", name="Admin").count() == 0


def test_the_dashboard_charts_the_figures_of_metrics(console: Console, open_console: Any) -> None:
    key = console.person("trainer", "Ada Sun", TEAM)
    page = open_console(key)
    page.get_by_role("link", name="SECI dashboard").click()
    page.get_by_role("heading", name="SECI dashboard", level=1).wait_for()
    page.locator("[data-metric=items-total]").wait_for()
    metrics = console.api("GET", "/metrics", key=key)  # what this trainer may see

    # the figures shown are the API's
    items = metrics["items"]
    total = sum(n for statuses in items.values() for n in statuses.values())
    assert total > 0
    assert page.locator("[data-metric=items-total]").inner_text() == str(total)
    approved = sum(statuses["approved"] for statuses in items.values())
    assert page.locator("[data-metric=items-approved]").inner_text() == str(approved)
    backlog = metrics["contradiction_backlog"]
    assert page.locator("[data-metric=backlog]").inner_text() == str(backlog)
    assert page.locator("[data-figure=backlog]").inner_text() == str(backlog)
    coverage = metrics["coverage"]
    shown = page.locator("[data-metric=coverage]").inner_text()
    assert shown == f"{coverage['approved']}/{coverage['situations']}"
    for kind, statuses in items.items():
        for status, count in statuses.items():
            cell = page.locator(f"[data-table=items] tr[data-kind={kind}] td[data-status={status}]")
            assert cell.inner_text() == str(count), (kind, status)
    for stage, count in metrics["stages"].items():
        cell = page.locator(f"[data-table=stages] tr[data-stage={stage}] td")
        assert cell.inner_text() == str(count), stage
    assert metrics["stages"]["socialization"] > 0  # the sample corpus was captured
    days = sorted(metrics["flow"])
    for day in days[-7:]:
        for stage, count in metrics["flow"][day].items():
            cell = page.locator(f"[data-table=flow] tr[data-day='{day}'] td[data-stage={stage}]")
            assert cell.inner_text() == str(count), (day, stage)
    usage = metrics["suggestions"]
    for figure in ("uses", "worked", "failed"):
        cell = page.locator(f"[data-table=suggestions] td[data-figure={figure}]")
        assert cell.inner_text() == str(usage[figure])

    # charts, each under its own heading, labelled, and drawn
    for heading in (
        "Items by kind and status",
        "Events per SECI stage, all time",
        "Flow between stages over time",
        "Suggestions: use and success",
        "Contradiction backlog",
    ):
        page.get_by_role("heading", name=heading, level=2).wait_for()
    canvases = page.locator("canvas[role=img]")
    expected = 4 + (1 if coverage["situations"] else 0)
    assert canvases.count() == expected
    drawn = canvases.evaluate_all(
        """els => els.map(c => {
            const blank = document.createElement('canvas');
            blank.width = c.width; blank.height = c.height;
            return Boolean(c.getAttribute('aria-label')) && c.width > 0
                && c.toDataURL() !== blank.toDataURL();
        })"""
    )
    assert all(drawn), drawn
    check_screen(page, "dashboard")

    # a different threshold for "frequent" asks the API again
    page.get_by_label("A talk track counts as frequent from this many situations").fill("1")
    page.get_by_role("button", name="Apply").click()
    wider = console.api("GET", "/metrics?frequent=1", key=key)["coverage"]
    want = f"{wider['approved']}/{wider['situations']}"
    page.locator("[data-metric=coverage]", has_text=want).wait_for()


def test_the_dashboard_in_chinese(console: Console, open_console: Any) -> None:
    key = console.person("knowledge_manager", "Kai Zhao", TEAM)
    page = open_console(key, lang="zh")
    page.get_by_role("link", name="SECI 看板").click()
    page.get_by_role("heading", name="按类型和状态统计的条目").wait_for()
    assert page.get_by_role("heading", name="矛盾待处理").count() == 1
    check_screen(page, "dashboard-zh")
