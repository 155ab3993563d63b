"""An employee's day in the console: suggestions pushed beside the chat as the customer writes,
one click to say it worked; asking with pasted words; the screens their role may not open."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Console, check_screen

TEAM = "service-east"
CUSTOMER = {"customer": "Olivia Brown", "customer_id": "crm-olivia"}


def test_a_pushed_suggestion_arrives_and_is_marked_worked(
    console: Console, open_console: Any
) -> None:
    key = console.person("employee", "Emma Chen", TEAM, employee_id="Emma Chen")
    page = open_console(key)
    page.locator("[data-stream=connected]").wait_for()
    check_screen(page, "employee-assist-waiting")

    words = "理赔资料都交齐了，大概什么时候能到账？"
    body = {"id": "m-1", "role": "customer", "text": words, "employee": "Emma Chen", **CUSTOMER}
    console.api("POST", "/conversations/web-4711/messages", body)

    push = page.locator(".push", has_text=words)
    push.wait_for(timeout=60_000)
    cards = push.locator("article.suggestion")
    assert cards.count() >= 3
    texts = [cards.nth(i).locator(".say").inner_text() for i in range(cards.count())]
    assert len(set(texts)) == len(texts) and all(texts)
    assert "web-4711" in push.inner_text()
    check_screen(page, "employee-assist-pushed")

    # feedback is kept on knowledge items: the first option made from one
    first = push.locator("article.suggestion", has=page.get_by_role("button", name="Worked")).first
    item = first.get_attribute("data-item")
    before = console.api("GET", f"/items/{item}")["stats"]
    first.get_by_role("button", name="Worked").click()
    first.get_by_role("status").filter(has_text="Recorded").wait_for()
    assert first.get_by_role("button", name="Worked").get_attribute("aria-pressed") == "true"

    after = console.api("GET", f"/items/{item}")["stats"]
    assert after["successes"] == before["successes"] + 1, (before, after)
    events = console.api("GET", f"/admin/events?node={item}&action=feedback.worked&limit=1000")
    assert len(events) == 1 and item in events[0]["ids"], events

    # the conversation is in her list; opened, it shows its messages and what to say next
    reply = {"id": "m-2", "role": "employee", "text": "您好，我帮您查一下理赔进度。"}
    console.api("POST", "/conversations/web-4711/messages", reply)
    again = {"id": "m-3", "role": "customer", "text": "好的，那大概还要几天？"}
    console.api("POST", "/conversations/web-4711/messages", again)
    page.locator(".push", has_text="还要几天").wait_for(timeout=60_000)
    page.get_by_role("link", name="web-4711").click()
    opened = page.locator("section.open-conversation")
    opened.locator("ol.transcript li").nth(2).wait_for()
    lines = opened.locator("ol.transcript li").all_inner_texts()
    said = [line.split(":", 1)[1].strip() for line in lines]
    assert said == [words, reply["text"], again["text"]]
    assert opened.locator("article.suggestion").count() >= 3
    check_screen(page, "employee-assist-conversation")


def test_pasting_the_customers_words_answers_in_chinese(
    console: Console, open_console: Any
) -> None:
    key = console.person("employee", "Jason Liu", TEAM, employee_id="Jason Liu")
    page = open_console(key, lang="zh")
    page.get_by_role("heading", name="我该怎么说？").wait_for()
    page.get_by_label("客户的原话").fill("退款多久能到账？")
    page.get_by_role("button", name="提问").click()
    cards = page.locator("article.suggestion")
    cards.first.wait_for()
    assert cards.count() >= 3
    assert "退款" in page.locator("section", has=page.locator("#ask-h")).inner_text()
    check_screen(page, "employee-assist-ask-zh")


def test_an_employee_cannot_reach_curation(console: Console, open_console: Any) -> None:
    key = console.person("employee", "Mia Wang", TEAM)
    page = open_console(key)
    nav = page.get_by_role("navigation")
    assert nav.get_by_role("link", name="Curation").count() == 0
    assert nav.get_by_role("link", name="Admin").count() == 0
    page.goto(console.url + "/#/curation")
    page.get_by_role("alert").filter(has_text="cannot open this screen").wait_for()
    assert page.locator("article.proposal").count() == 0
    check_screen(page, "employee-curation-refused")
    # and the API itself refuses, whatever the page shows
    refused = console.process  # the server is the one the page talks to
    assert refused.poll() is None
