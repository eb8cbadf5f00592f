"""``sqlkv ui`` in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Each test starts the real command (``python -m sqlkv.cli ui``) as a subprocess,
reads the URL from its first line and drives the page; every change "from
elsewhere" is made by another process (``sqlkv kv put``). Screenshots of each
view go to ``$SQLKV_UI_SCREENSHOTS`` (the docs' images: ``SQLKV_UI_SCREENSHOTS=docs/images``),
else to the test's temporary directory. In CI (CI=true) a missing Chromium or
Playwright fails the tests instead of skipping them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sqlkv
from tests.support.inspector import run_inspector

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCRIPT = '<script>window.pwned=1</script><img src=x onerror="window.pwned=1">'

if os.environ.get("CI") == "true":  # never skipped in CI: a missing piece is a failure
    assert os.path.exists(CHROMIUM), "CI needs Debian's chromium (.ci/run installs it)"
    from playwright.sync_api import Browser, Page, Route, expect, sync_playwright
else:
    pytest.importorskip("playwright")
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    if not os.path.exists(CHROMIUM):
        pytest.skip("no chromium (apt-get install chromium)", allow_module_level=True)
    from playwright.sync_api import Browser, Page, Route, expect, sync_playwright


def _sqlkv(*args: str) -> list[str]:
    return [sys.executable, "-m", "sqlkv.cli", *args]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared store: two buckets, text, JSON, markup, binary and a large value."""
    path = tmp_path_factory.mktemp("ui") / "inspect.db"
    with sqlkv.Store(path) as store:
        orders = store.create_bucket("orders", history=5, description="orders of the shop")
        for i in range(1, 6):
            orders.put(f"orders.{i}", f'{{"id": {i}, "total": {i * 10}, "items": ["apple", "pear"]}}')
        orders.put("orders.2", '{"id": 2, "total": 25, "items": ["apple", "pear", "fig"]}')
        orders.put("users.alice", SCRIPT)
        orders.put("users.bob", "Bob\nsecond line")
        orders.put("blob", bytes(range(256)))
        orders.put("big", "x" * 100_000)
        store.create_bucket("inventory", history=1, ttl=3600).put("stock.apple", "12")
    return path


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("SQLKV_UI_SCREENSHOTS")
    path = Path(where) if where else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def inspector(store: Path, *flags: str) -> Iterator[str]:
    """Run ``sqlkv ui`` on ``store``; yield its URL; stop it with SIGTERM (it must exit 0)."""
    with run_inspector(store, *flags) as (process, url):
        yield url
        process.terminate()
        assert process.wait(10) == 0


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert errors == []


def _put(store: Path, key: str, value: str) -> None:
    """A write by another process: the CLI."""
    subprocess.run(_sqlkv("--db", str(store), "kv", "put", "orders", key, value), check=True, capture_output=True)


def _no_write_control(page: Page) -> None:
    assert page.locator("[data-write]").count() == 0
    assert page.locator("textarea").count() == 0
    for name in ("Save", "Delete", "Purge", "Create", "Put"):
        assert page.get_by_role("button", name=name, exact=True).count() == 0


def test_buckets_and_keys_are_listed_and_the_filter_narrows_them(page: Page, store_path: Path, shots: Path) -> None:
    with inspector(store_path) as url:
        page.goto(url)
        expect(page.get_by_test_id("bucket-row")).to_have_count(2)
        orders = page.locator('[data-testid=bucket-row][data-bucket="orders"]')
        expect(orders).to_contain_text("orders of the shop")
        expect(page.get_by_test_id("mode")).to_have_text("read-only")
        _no_write_control(page)
        page.screenshot(path=str(shots / "ui-buckets.png"))

        orders.get_by_role("link", name="orders").click()
        rows = page.get_by_test_id("key-row")
        expect(rows).to_have_count(9)
        _no_write_control(page)
        page.get_by_test_id("filter").fill("users.*")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_have_attribute("data-key", "users.alice")
        expect(rows.nth(1)).to_have_attribute("data-key", "users.bob")
        page.get_by_test_id("filter").fill("orders.>")
        expect(rows).to_have_count(5)
        page.screenshot(path=str(shots / "ui-keys.png"))

        rows.nth(1).get_by_role("link").click()
        expect(page.get_by_test_id("entry-key")).to_have_text("orders.2")
        expect(page.get_by_test_id("value")).to_contain_text('"total": 25')
        expect(page.get_by_test_id("history-row")).to_have_count(2)
        expect(page.locator(".diff .add")).to_contain_text("fig")
        _no_write_control(page)
        page.screenshot(path=str(shots / "ui-entry.png"), full_page=True)

        # The write endpoints refuse too, even asked by the page itself.
        status = page.evaluate(
            """() => fetch("/api/buckets/orders/put", {method: "POST", headers: {"content-type": "application/json"},
                 body: JSON.stringify({key: "orders.9", value: "x"})}).then((r) => r.status)"""
        )
        assert status == 403
    with sqlkv.Store(store_path, read_only=True) as store:
        assert store.bucket("orders").keys("orders.9") == []


def test_a_put_by_another_process_appears_live_within_a_second(page: Page, store_path: Path, shots: Path) -> None:
    with inspector(store_path) as url:
        page.goto(url)
        page.goto(url.split("?")[0] + "#/b/orders/live")
        expect(page.get_by_test_id("live-status")).to_have_text("live (initial entries done)")
        for i in range(3):
            _put(store_path, f"live.{i}", f'{{"n": {i}}}')
            written = time.monotonic()
            expect(page.locator(f'[data-testid=live-row][data-key="live.{i}"]')).to_be_visible(timeout=1000)
            assert time.monotonic() - written < 1.0
        _put(store_path, "users.alice", SCRIPT)  # markup in the live pane stays text
        expect(page.locator('[data-testid=live-row][data-key="users.alice"]')).to_contain_text("<script>")
        page.screenshot(path=str(shots / "ui-live.png"))

        # Paused, the pane closes its stream; resumed, it catches up from the revision after the last one shown.
        page.get_by_test_id("live-pause").click()
        expect(page.get_by_test_id("live-status")).to_contain_text("paused after revision")
        _put(store_path, "while.paused", "1")
        page.get_by_test_id("live-pause").click()
        expect(page.locator('[data-testid=live-row][data-key="while.paused"]')).to_be_visible(timeout=1000)
        assert page.evaluate("window.pwned") is None


def test_leaving_a_view_while_its_request_is_out_is_quiet(page: Page, store_path: Path) -> None:
    """A late answer for the view the user left touches nothing (it once threw on the missing elements)."""
    held: list[Route] = []
    page.route("**/api/buckets", lambda route: held.append(route))  # held until the user has moved on
    with inspector(store_path) as url:
        with page.expect_request("**/api/buckets"):  # the buckets view asks; its answer is held
            page.goto(url)
        page.goto(url.split("?")[0] + "#/b/orders/live")
        expect(page.get_by_test_id("live-status")).to_have_text("live (initial entries done)")
        for route in held:
            route.fulfill(status=500, json={"error": "late"})  # the path that threw: a late failure
        page.evaluate("fetch('/api/info').then((r) => r.json())")  # the late answer is handled before this one
        expect(page.get_by_test_id("live-status")).to_have_text("live (initial entries done)")
        assert page.get_by_test_id("notice-error").count() == 0  # nothing from the left view leaks into this one


def test_markup_in_keys_and_values_is_shown_as_text_and_never_runs(page: Page, store_path: Path) -> None:
    with inspector(store_path) as url:
        page.goto(url.split("?")[0] + "?token=" + url.split("token=")[1] + "#/b/orders/k/users.alice")
        expect(page.get_by_test_id("value")).to_have_text(SCRIPT)
        page.get_by_role("link", name="orders").first.click()
        expect(page.locator('[data-testid=key-row][data-key="users.alice"]')).to_be_visible()
        page.goto(url.split("?")[0] + "#/b/orders/live")
        page.get_by_text("initial values").click()
        page.get_by_test_id("live-start").click()
        expect(page.locator('[data-testid=live-row][data-key="users.alice"]')).to_contain_text(SCRIPT)
        assert page.evaluate("typeof window.pwned") == "undefined"
        assert page.locator("img").count() == 0 and page.locator("#view script").count() == 0


def test_an_edit_lands_with_cas_and_a_stale_edit_is_refused(page: Page, store_path: Path, shots: Path) -> None:
    with inspector(store_path, "--write") as url:
        page.goto(url)
        expect(page.get_by_test_id("mode")).to_have_text("read-write")
        expect(page.get_by_test_id("new-bucket-name")).to_be_visible()
        page.get_by_test_id("new-bucket-name").fill("scratch")
        page.get_by_role("button", name="Create", exact=True).click()
        scratch = page.locator('[data-testid=bucket-row][data-bucket="scratch"]')
        expect(scratch).to_be_visible()
        page.screenshot(path=str(shots / "ui-buckets-write.png"))
        page.once("dialog", lambda dialog: dialog.accept())
        scratch.get_by_test_id("drop-bucket").click()
        expect(scratch).to_have_count(0)

        page.goto(url.split("?")[0] + "#/b/orders")
        page.get_by_test_id("settings-history").fill("6")
        page.get_by_test_id("save-settings").click()
        expect(page.get_by_test_id("notice-ok")).to_have_text("Settings saved.")
        with sqlkv.Store(store_path, read_only=True) as store:
            assert store.bucket("orders").status().history == 6
            assert "scratch" not in store.bucket_names()
        page.goto(url.split("?")[0] + "#/b/orders/k/users.bob")
        expect(page.get_by_test_id("value")).to_have_text("Bob\nsecond line")
        with sqlkv.Store(store_path, read_only=True) as store:
            shown = store.bucket("orders").get("users.bob").revision
        expect(page.get_by_role("heading", name=f"compare-and-set on revision {shown}")).to_be_visible()
        page.get_by_test_id("edit-value").fill("Bob, edited in the page")
        page.get_by_test_id("save").click()
        expect(page.get_by_test_id("value")).to_have_text("Bob, edited in the page")
        with sqlkv.Store(store_path, read_only=True) as store:
            landed = store.bucket("orders").get("users.bob")
        assert landed.value == b"Bob, edited in the page" and landed.revision > shown
        expect(page.get_by_role("heading", name=f"compare-and-set on revision {landed.revision}")).to_be_visible()

        _put(store_path, "users.bob", "changed by another process")  # behind the page's back
        page.get_by_test_id("edit-value").fill("Bob, a stale edit")
        page.get_by_test_id("save").click()
        expect(page.get_by_test_id("notice-error")).to_contain_text("stale edit refused")
        page.screenshot(path=str(shots / "ui-stale-edit.png"), full_page=True)
        with sqlkv.Store(store_path, read_only=True) as store:
            assert store.bucket("orders").get("users.bob").value == b"changed by another process"


def test_without_the_token_the_page_is_refused(browser: Browser, store_path: Path) -> None:
    with inspector(store_path) as url:
        context = browser.new_context()
        try:
            page = context.new_page()
            base = url.split("?")[0]
            response = page.goto(base)
            assert response is not None and response.status == 401
            expect(page.locator("body")).to_contain_text("needs its token")
            response = page.goto(base + "?token=not-the-token")
            assert response is not None and response.status == 403
            response = page.goto(base + "api/buckets")
            assert response is not None and response.status == 401  # the wrong token set no cookie
            assert context.cookies() == []
        finally:
            context.close()
