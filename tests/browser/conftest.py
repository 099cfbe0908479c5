"""Browser tests: Playwright's Python package driving Debian's Chromium (never a download)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.factories import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
# still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    require_service("Chromium at " + CHROMIUM, Path(CHROMIUM).exists())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                # A fake camera that needs no permission prompt (the photo capture tests).
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.console_errors = errors
    yield page
    context.close()


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def assert_accessible(page) -> None:
    """No serious or critical axe-core violations on the current page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not serious, "\n".join(
        f"{v['id']}: {v['help']}: "
        + "; ".join(str(n.get("target")) + " " + n.get("failureSummary", "")[:200] for n in v["nodes"][:3])
        for v in serious
    )


def nav_to(page, section: str, label: str) -> None:
    """Open a navigation dropdown and follow one of its links, as a user does."""
    page.locator("#main-nav").get_by_role("button", name=section, exact=True).click()
    # Wait for the new page: assertions such as .count() do not wait, and would otherwise
    # read the page we are leaving.
    with page.expect_navigation(wait_until="load"):
        page.locator("#main-nav").get_by_role("link", name=label, exact=True).click()


def draw_signature(page) -> None:
    """Draw a zig-zag on the signature pad, as a finger would."""
    pad = page.locator("canvas[data-signature-pad]")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    x, y = box["x"], box["y"]
    page.mouse.move(x + 30, y + box["height"] * 0.7)
    page.mouse.down()
    for k in range(1, 12):
        page.mouse.move(x + 30 + k * 25, y + box["height"] * (0.3 if k % 2 else 0.7), steps=3)
    page.mouse.up()
