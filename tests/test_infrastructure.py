"""The shared test infrastructure itself: skip-or-fail policy, waiting, URLs for children."""

import socket

import pytest
from _pytest.outcomes import Failed, Skipped

from tests import conftest
from tests.helpers import availability
from tests.helpers.processes import free_port
from tests.helpers.wait import WaitTimeout, async_wait_until, wait_until


@pytest.fixture
def redis_missing(monkeypatch):
    monkeypatch.setattr(availability, "shared_redis_problem", lambda: "no Redis here")


def test_a_missing_service_skips_with_the_reason_on_a_laptop(redis_missing, monkeypatch):
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(Skipped, match="no Redis here"):
        conftest.require("redis")


def test_a_missing_service_fails_under_ci(redis_missing, monkeypatch):
    monkeypatch.setenv("CI", "true")

    with pytest.raises(Failed, match="no Redis here; CI=true requires it"):
        conftest.require("redis")


def test_wait_until_returns_the_truthy_value_or_names_what_it_waited_for():
    calls = iter([0, None, "ready"])
    assert wait_until(lambda: next(calls), 1, "a value", interval=0) == "ready"

    with pytest.raises(WaitTimeout, match=r"timed out after 0.05s waiting for the moon"):
        wait_until(lambda: False, 0.05, "the moon")


async def test_async_wait_until_accepts_coroutine_predicates():
    state = {"n": 0}

    async def ticks():
        state["n"] += 1
        return state["n"] >= 3

    assert await async_wait_until(ticks, 1, "three ticks", interval=0)
    with pytest.raises(WaitTimeout, match="last error: ValueError: invalid literal"):
        await async_wait_until(lambda: int("nope"), 0.05, "a number")


def test_free_port_can_be_bound():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_database_url_for_children():
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/x.sqlite3"}
    postgres = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test_test_42",
        "USER": "postgres",
        "PASSWORD": "p@ss",
        "HOST": "127.0.0.1",
        "PORT": 5432,
    }

    assert conftest.database_url(sqlite) == "sqlite:////tmp/x.sqlite3"
    assert (
        conftest.database_url(postgres) == "postgres://postgres:p%40ss@127.0.0.1:5432/test_test_42"
    )
