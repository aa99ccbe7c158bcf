"""After an outage the room page comes back within a couple of seconds of the server,
however long its backoff had grown: it asks /healthz while it waits."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.helpers.processes import DaphneServer
from tests.helpers.wait import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.processes,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]

# The slowest the page may be to notice the server is back (probes every 1–3 s).
RECONNECT_WITHIN_S = 3.5


def test_the_page_reconnects_soon_after_the_server_comes_back(site_env, open_ui, user, room):
    with DaphneServer(site_env) as server:
        alice = open_ui(server.url, user=user).open_room("lobby")
        connection = alice.page.locator("#connection")
        server.stop()
        expect(alice.page.locator("#connection-text")).to_contain_text("Reconnecting in")
        # Five failed attempts: the backoff now waits up to 30 s.
        wait_until(
            lambda: int(connection.get_attribute("data-attempt") or 0) >= 5,
            40,
            "five reconnection attempts",
        )
        server.start()
        back = time.monotonic()
        alice.wait_state("live", timeout=30_000)
        took = time.monotonic() - back
        assert took < RECONNECT_WITHIN_S, f"reconnected {took:.1f} s after the server was back"
        alice.send("back again")
        alice.wait_confirmed()
