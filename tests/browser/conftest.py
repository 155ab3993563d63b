"""The console in a real browser: Debian's Chromium driven by Playwright against a real
`spiral serve` on 127.0.0.1 with the sample corpus (ingested with the packaged model).

Each test signs in with its own role's key, as a person would. Screenshots go to
`$SPIRAL_TEST_OUTPUT/browser` (default `.test-output/browser`), one per screen shown, and each
screen is checked with axe-core (from the console's npm dev dependencies) for serious and
critical violations.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.routes.console import DIST
from tests.api.conftest import ADMIN_KEY, AUTH, corpus_dir  # noqa: F401  (the corpus fixture)

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "api" / "console" / "node_modules" / "axe-core" / "axe.min.js"
OUTPUT = Path(os.environ.get("SPIRAL_TEST_OUTPUT", ROOT / ".test-output")) / "browser"
SERIOUS = {"serious", "critical"}

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.slow]


def chromium_path() -> str:
    """Debian's Chromium (`make setup` installs it); never a downloaded browser."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed: run `make setup` (apt-get install chromium)")


@dataclass
class Console:
    """A running `spiral serve` and how to act on it through its API as the admin."""

    url: str
    process: subprocess.Popen[bytes]

    def api(self, method: str, path: str, body: Any = None, key: str = ADMIN_KEY) -> Any:
        answer = httpx.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )
        assert answer.status_code < 300, f"{method} {path}: {answer.status_code} {answer.text}"
        return answer.json() if answer.content else None

    def person(self, role: str, name: str, team: str = "", employee_id: str = "") -> str:
        """A new account with this role and its key (as an admin makes them)."""
        account = self.api(
            "POST",
            "/admin/users",
            {"name": name, "role": role, "team": team, "employee_id": employee_id},
        )
        return str(self.api("POST", f"/admin/users/{account['id']}/keys")["key"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def console(corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:  # noqa: F811
    assert (DIST / "index.html").is_file(), "the console is not built: run `make console`"
    data = tmp_path_factory.mktemp("console-store") / "data"
    shutil.copytree(corpus_dir, data)
    port = _free_port()
    env = {
        **os.environ,
        "SPIRAL_DATA_DIR": str(data),
        "SPIRAL_STORE": "embedded",
        "SPIRAL_ADMIN_KEY": ADMIN_KEY,
        "SPIRAL_RATE_LIMIT_PER_MINUTE": "0",
        "SPIRAL_PUSH_KEEPALIVE_S": "1",
    }
    env.pop("SPIRAL_REDIS_URL", None)
    log = (tmp_path_factory.mktemp("console-log") / "serve.log").open("wb")
    spiral = Path(sys.executable).with_name("spiral")
    process = subprocess.Popen(
        [str(spiral), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            assert process.poll() is None, f"spiral serve exited: see {log.name}"
            try:
                if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "spiral serve was not ready in 180 s"
            time.sleep(0.3)
        running = Console(url, process)
        # the knowledge a team has after a first curation run: draft talk tracks and FAQs
        # mined from the sample conversations and notes, proposals waiting in the queue
        running.api("POST", "/curation/externalize")
        yield running
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def open_console(console: Console, browser: Any) -> Iterator[Any]:
    """`open_console(key, lang="en")` → a signed-in page (a fresh browser context each)."""
    contexts: list[Any] = []

    def _open(key: str, lang: str = "en") -> Any:
        # bypass_csp: axe is injected by the test; the page's own policy allows no such script
        context = browser.new_context(
            bypass_csp=True,
            locale="zh-CN" if lang == "zh" else "en-US",
            viewport={"width": 1280, "height": 900},
        )
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(console.url + "/")
        page.get_by_label("API key" if lang == "en" else "API 密钥").fill(key)
        page.get_by_role("button", name="Sign in" if lang == "en" else "登录").click()
        page.get_by_role("navigation").wait_for()
        return page

    yield _open
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    """Keep a full-page screenshot of what the page shows now."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_accessible(page: Any, name: str) -> None:
    """axe-core on the page as it is: no serious or critical violation."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]
    assert not bad, f"{name}: {bad}"


def check_screen(page: Any, name: str) -> Path:
    """The screen's screenshot, then its accessibility check."""
    path = screenshot(page, name)
    assert_accessible(page, name)
    return path


__all__ = ["AUTH", "Console", "assert_accessible", "check_screen", "screenshot"]
