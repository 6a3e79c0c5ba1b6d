"""A real headless Chromium for the end-to-end tests, driven by Playwright's sync API.

The browser is Debian's ``chromium`` package (``/usr/bin/chromium``, or ``CHROMIUM_PATH``),
never one downloaded by ``playwright install``. Without it the tests are skipped, unless
``TOLLGATE_REQUIRE_BROWSER=1`` (set by CI), where a missing browser is a failure.

One Chromium per test session; each test gets a fresh context (cookies, storage) and page.
"""

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API drives its client from an asyncio event loop that stays running in
# the main thread for as long as the browser is open. Django sees that loop and refuses ORM
# calls from this thread (SynchronousOnlyOperation): creating users in fixtures, the
# authenticated() checks in the tests, pytest-django's flush after each test, and any
# test that runs after the first e2e test in the same session. No coroutine of ours ever
# touches the ORM (the live server answers in its own thread), so the check protects
# nothing here and we turn it off for the test process.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

DEFAULT_CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = (
    "install Debian's chromium package (apt-get install chromium) "
    "or point CHROMIUM_PATH at a Chromium binary"
)

# This machine has no network: without these Chromium stalls on sign-in, update and
# telemetry requests. --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Generous for a slow CI box, short enough that a hung page fails in reasonable time.
TIMEOUT_MS = 15_000


def chromium_path() -> str | None:
    """The Chromium executable to use, or None when there is none."""
    candidate = os.environ.get("CHROMIUM_PATH", "").strip() or DEFAULT_CHROMIUM
    resolved = shutil.which(candidate)
    if resolved and Path(resolved).is_file():
        return resolved
    return None


def browser_required() -> bool:
    return os.environ.get("TOLLGATE_REQUIRE_BROWSER", "").strip() == "1"


@pytest.fixture(scope="session")
def chromium_executable():
    path = chromium_path()
    if path is None:
        wanted = os.environ.get("CHROMIUM_PATH", "").strip() or DEFAULT_CHROMIUM
        reason = f"no Chromium at {wanted}: {INSTALL_HINT}"
        if browser_required():
            pytest.fail(f"TOLLGATE_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def browser(chromium_executable):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable,
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield browser
        finally:
            browser.close()


def _new_page(browser, **context_options):
    context = browser.new_context(**context_options)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    failed_assets = []
    context.on(
        "response",
        lambda r: r.status >= 400 and "/static/" in r.url and failed_assets.append(r.url),
    )
    return context, context.new_page(), failed_assets


@pytest.fixture
def _live(transactional_db, live_server):
    return live_server


def _page_fixture(browser, **context_options):
    context, page, failed_assets = _new_page(browser, **context_options)
    yield page
    context.close()
    if failed_assets:
        pytest.fail(f"static assets failed to load: {failed_assets}", pytrace=False)


@pytest.fixture
def page(browser, _live):
    """A page in a fresh browser context, with JavaScript on."""
    yield from _page_fixture(browser)


@pytest.fixture
def page_no_js(browser, _live):
    """A page in a fresh browser context with JavaScript off: plain links and form posts."""
    yield from _page_fixture(browser, java_script_enabled=False)


# The sizes the console is checked at: a phone (an iPhone 12-15's CSS pixels) and a laptop.
VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1440, "height": 900}},
}


@pytest.fixture(params=list(VIEWPORTS))
def sized_page(request, browser, _live):
    """A page with JavaScript on, once at phone size and once at desktop size."""
    yield from _page_fixture(browser, **VIEWPORTS[request.param])
