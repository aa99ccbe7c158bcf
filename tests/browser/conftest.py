"""Browser fixtures: pages of the real site in daphne children.

``browser`` (one headless Chromium per module), ``server`` and ``site_env`` live in
the root conftest (the moderation tests use them too). The site runs in Redis mode
(the shared Redis, on this run's own database number) so the tests see what
production sees: the channels-redis layer, Redis presence and the Redis history
cache. Each test gets fresh daphne processes; the browser is shared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from playwright.sync_api import Browser

from tests.browser.room_ui import RoomUI
from tests.helpers.sessions import session_cookie

DESKTOP = {"width": 1100, "height": 760}


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
