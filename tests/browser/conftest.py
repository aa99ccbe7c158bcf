"""Browser fixtures: one headless Chromium per module, the real site in daphne children.

The site runs in Redis mode (the shared Redis, on this run's own database number) so
the tests see what production sees: the channels-redis layer, Redis presence and the
Redis history cache. Each test gets fresh daphne processes; the browser is shared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from playwright.sync_api import Browser, sync_playwright

from tests.browser.room_ui import RoomUI
from tests.helpers import availability
from tests.helpers.processes import DaphneServer

# Debian's chromium in a container: no sandbox (no user namespaces), no GPU, and none
# of the background traffic a fresh profile would start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1100, "height": 760}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium, shared by the tests of a module (each gets its own contexts).

    Playwright's sync API keeps an asyncio loop registered as running on this thread,
    so Django would refuse every ORM call (test data, the database flush after each
    test) as "async-unsafe". Nothing here is async: the check is off while it runs.
    """
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=availability.chromium_executable(), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def site_env(live_env: dict[str, str], redis_url: str) -> dict[str, str]:
    """The environment of the site's daphne processes: test database, Redis mode."""
    return live_env | {"REDIS_URL": redis_url}


@pytest.fixture
def server(site_env: dict[str, str]) -> Iterator[DaphneServer]:
    """The site in one daphne process, killed after the test."""
    with DaphneServer(site_env) as server:
        yield server


def session_cookie(user) -> str:
    """A signed-in session for ``user`` in the test database (what logging in would store)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def open_ui(browser: Browser) -> Iterator[Callable[..., RoomUI]]:
    """Factory: ``open_ui(base_url, user=None, viewport=None)`` → a page in its own context.

    With ``user``, the context starts signed in. After the test, no page may have
    raised an uncaught script error or opened a JavaScript dialog.
    """
    uis: list[RoomUI] = []

    def open_ui(base_url: str, user=None, viewport: dict | None = None) -> RoomUI:
        context = browser.new_context(base_url=base_url, viewport=viewport or DESKTOP)
        context.set_default_timeout(10_000)
        if user is not None:
            cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session_cookie(user)}
            context.add_cookies([cookie | {"url": base_url}])
        ui = RoomUI(context.new_page())
        uis.append(ui)
        return ui

    yield open_ui
    for ui in uis:
        ui.page.context.close()
    problems = [(ui.errors, ui.dialogs) for ui in uis if ui.errors or ui.dialogs]
    assert not problems, f"script errors or dialogs in the pages: {problems}"
