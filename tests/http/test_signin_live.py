"""The sign-in throttle holds on a real daphne under concurrency and spoofed headers.

Ten wrong passwords sent at once used to be all checked (limit 5): the old check
read the count, hashed, then counted. A client rotating ``X-Forwarded-For`` behind
``--proxy-headers`` got unlimited tries.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from chat import signin
from tests.helpers.processes import DaphneServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.processes, pytest.mark.slow]


@pytest.fixture
def env(live_env_both_modes):
    return live_env_both_modes


def post_token(server: DaphneServer, password: str, forwarded_for: str | None = None) -> int:
    body = json.dumps({"username": "alice", "password": password}).encode()
    headers = {"Content-Type": "application/json"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    request = urllib.request.Request(f"{server.url}/api/token", body, headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_concurrent_guesses_are_counted_before_the_password_is_checked(env, user):
    with DaphneServer(env) as server, ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda n: post_token(server, f"guess{n}"), range(10)))

    assert statuses.count(401) == signin.PAIR_LIMIT
    assert statuses.count(429) == 10 - signin.PAIR_LIMIT


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_rotating_x_forwarded_for_does_not_reset_the_count(env, user, trusted):
    # With a trusted proxy (nginx appends the real client), the spoofed first hop is
    # ignored; without one the header is ignored altogether.
    with DaphneServer(env | {"CHAT_TRUSTED_PROXIES": trusted}) as server:
        statuses = [
            post_token(server, "guess", forwarded_for=f"10.0.{n}.1, 203.0.113.7")
            for n in range(signin.PAIR_LIMIT + 2)
        ]

    assert statuses == [401] * signin.PAIR_LIMIT + [429, 429]


def test_serve_refuses_daphnes_proxy_headers(live_env):
    # daphne's --proxy-headers believes any client's X-Forwarded-For.
    server = DaphneServer(live_env, extra_args=["--proxy-headers"])
    with pytest.raises(RuntimeError, match="CHAT_TRUSTED_PROXIES"):
        server.start(timeout=20)
    server.cleanup()
