"""An admin's day in the console: create an employee's account, issue their key (shown once,
copied with one click), the key signs in as that employee (Assist, no Admin), revoke it and it is
refused; change a role, disable an account; teams; an offboarding handover and its undo."""

from __future__ import annotations

from typing import Any

import httpx

from tests.browser.conftest import ADMIN_KEY, Console, check_screen

TEAM = "service-east"


def _admin_page(console: Console, open_console: Any, where: str = "admin") -> Any:
    page = open_console(ADMIN_KEY)
    page.get_by_role("link", name="Admin", exact=True).click()
    page.get_by_role("heading", name="Admin", level=1).wait_for()
    if where != "admin":
        page.goto(f"{console.url}/#/{where}")
    return page


def _status(console: Console, key: str) -> int:
    return httpx.get(console.url + "/me", headers={"Authorization": f"Bearer {key}"}).status_code


def test_an_admin_creates_an_employee_issues_a_key_and_revokes_it(
    console: Console, open_console: Any
) -> None:
    console.person("knowledge_manager", "Iris Gao", TEAM)  # someone in the list already
    page = _admin_page(console, open_console)
    page.get_by_role("heading", name="Users", level=2).wait_for()
    page.locator("table.users tr", has_text="Iris Gao").wait_for()
    listed_users = console.api("GET", "/admin/users")
    assert page.locator("table.users tbody tr").count() == len(listed_users)
    check_screen(page, "admin-users")

    # a new employee account, linked to a person of the graph by name
    page.get_by_label("Name", exact=True).fill("Li Na")
    page.get_by_label("Role", exact=True).select_option("employee")
    page.get_by_label("Team", exact=True).fill(TEAM)
    page.get_by_label("Employee (node id, source id or name; optional)").fill("李娜")
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Account: Li Na").wait_for()
    page.get_by_role("status").filter(has_text="Account “Li Na” created").wait_for()
    account = next(u for u in console.api("GET", "/admin/users") if u["name"] == "Li Na")
    assert account["role"] == "employee" and account["team"] == TEAM
    assert account["employee_id"].startswith("employee:")
    row = page.locator(f'table.users tr[data-account="{account["id"]}"]')
    assert "Employee" in row.inner_text() and TEAM in row.inner_text()

    # a key, shown once with a warning, copied with one click
    page.get_by_role("button", name="Issue a new key").click()
    shown = page.locator("code.the-key")
    shown.wait_for()
    key = shown.inner_text().strip()
    assert key.startswith("spk_")
    assert page.get_by_role("alert").filter(has_text="shown once").count() == 1
    page.get_by_role("button", name="Copy key").click()
    page.get_by_role("status").filter(has_text="copied").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == key
    listed = console.api("GET", f"/admin/users/{account['id']}/keys")
    assert len(listed) == 1 and key.startswith(f"spk_{listed[0]['prefix']}_")
    key_row = page.locator(f'table.keys tr[data-key-id="{listed[0]["id"]}"]')
    assert "valid" in key_row.inner_text()
    check_screen(page, "admin-key-issued")

    # once stored, it is never shown again: only its prefix is listed
    page.get_by_role("button", name="I have stored it").click()
    assert page.locator("code.the-key").count() == 0
    assert key not in page.content()
    page.reload()
    page.locator(f'table.keys tr[data-key-id="{listed[0]["id"]}"]').wait_for()
    assert key not in page.content()

    # the key signs in as that employee: Assist, and no Admin
    employee = open_console(key)
    nav = employee.get_by_role("navigation")
    assert nav.get_by_role("link", name="Assist").count() == 1
    assert nav.get_by_role("link", name="Admin").count() == 0
    employee.get_by_role("heading", name="What should I say?").wait_for()
    assert "Li Na" in employee.locator("header").inner_text()
    employee.goto(f"{console.url}/#/admin")
    employee.get_by_role("alert").filter(has_text="cannot open this screen").wait_for()

    # revoked (after a confirmation), it is refused
    page.get_by_role("button", name=f"Revoke key {listed[0]['prefix']}").click()
    page.get_by_role("button", name="Yes, revoke it").click()
    page.get_by_role("status").filter(has_text=f"Key {listed[0]['prefix']} revoked").wait_for()
    page.locator(f'table.keys tr[data-key-id="{listed[0]["id"]}"][data-revoked=true]').wait_for()
    assert console.api("GET", f"/admin/users/{account['id']}/keys")[0]["revoked"] is True
    assert _status(console, key) == 401
    employee.reload()
    employee.get_by_label("API key").wait_for()  # back to signing in
    employee.get_by_role("alert").wait_for()
    check_screen(employee, "admin-revoked-key-refused")


def test_an_admin_changes_a_role_and_disables_an_account(
    console: Console, open_console: Any
) -> None:
    key = console.person("employee", "Omar Reyes", TEAM)
    account = next(u for u in console.api("GET", "/admin/users") if u["name"] == "Omar Reyes")
    assert _status(console, key) == 200
    page = _admin_page(console, open_console)
    page.get_by_role("button", name="Manage Omar Reyes").click()
    page.get_by_role("heading", name="Account: Omar Reyes").wait_for()

    panel = page.locator("section.account")
    panel.get_by_label("Role", exact=True).select_option("trainer")
    panel.get_by_role("button", name="Save changes").click()
    panel.get_by_role("status").filter(has_text="Saved").wait_for()
    assert console.api("GET", f"/admin/users/{account['id']}")["role"] == "trainer"
    row = page.locator(f'table.users tr[data-account="{account["id"]}"]')
    row.locator("td[data-role=trainer]").wait_for()

    panel.get_by_role("button", name="Disable account").click()
    panel.get_by_role("status").filter(has_text="Account disabled").wait_for()
    assert console.api("GET", f"/admin/users/{account['id']}")["disabled"] is True
    assert _status(console, key) == 401
    row.get_by_text("disabled").wait_for()
    check_screen(page, "admin-account-disabled")

    # teams, from the accounts
    page.get_by_role("link", name="Teams").click()
    team = page.locator(f'article.team[data-team="{TEAM}"]')
    team.wait_for()
    expected = next(t for t in console.api("GET", "/admin/teams") if t["team"] == TEAM)
    assert team.locator("tbody tr").count() == len(expected["members"])
    assert "Omar Reyes" in team.inner_text()
    check_screen(page, "admin-teams")


def test_an_admin_hands_over_someones_work_and_undoes_it(
    console: Console, open_console: Any
) -> None:
    page = _admin_page(console, open_console, "admin?tab=handover")
    page.get_by_role("heading", name="Hand over someone's work").wait_for()
    page.get_by_label("Who leaves (employee)").fill("李娜")
    page.get_by_label("Who takes over (employee)").fill("张强")
    page.get_by_label("Reason").fill("leaves the team (browser test)")
    page.get_by_role("button", name="Hand over").click()
    result = page.locator("article.handover-result")
    result.wait_for()
    seq = int(result.get_attribute("data-event") or 0)
    event = console.api("GET", f"/admin/events?since={seq - 1}&limit=1")[0]
    assert event["seq"] == seq and event["action"] == "handover"
    customers = result.locator("ul li")
    assert customers.count() > 0
    assert f"customers: {customers.count()}," in result.locator("h3").inner_text()
    moved = [i for i in event["ids"] if i.startswith("customer:")]
    assert customers.count() == len(moved), (moved, customers.all_inner_texts())
    assert "handled by 李娜" in customers.first.inner_text()
    check_screen(page, "admin-handover")

    page.get_by_role("button", name="Undo this handover").click()
    page.get_by_role("status").filter(has_text="everything is back with 李娜").wait_for()
    undo = console.api("GET", f"/admin/events?since={seq}&action=undo")
    assert undo and undo[0]["action"] == "undo"
