"""``chat.stores.backends``: one backend per store and mode, made once, reset for tests."""

import pytest

from chat.stores import backends


class Made:
    def __init__(self, kind: str, url: str = "") -> None:
        self.kind, self.url = kind, url
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture(autouse=True)
def _clean():
    backends.reset()
    yield
    backends.reset()


def make(store: str) -> Made:
    return backends.backend(
        store, local=lambda: Made("local"), redis=lambda url: Made("redis", url)
    )


def test_embedded_mode_makes_the_local_backend_once(settings):
    settings.CHAT_REDIS_URL = ""
    first = make("history")
    assert (first.kind, first.url) == ("local", "")
    assert make("history") is first
    assert make("presence") is not first  # one per store


def test_redis_mode_makes_the_redis_backend_with_the_url(settings):
    settings.CHAT_REDIS_URL = "redis://127.0.0.1:6399/3"
    found = make("history")
    assert (found.kind, found.url) == ("redis", "redis://127.0.0.1:6399/3")
    assert make("history") is found


def test_a_changed_setting_gets_its_own_backend(settings):
    settings.CHAT_REDIS_URL = ""
    local = make("history")
    settings.CHAT_REDIS_URL = "redis://127.0.0.1:6399/3"
    remote = make("history")
    assert remote is not local and remote.kind == "redis"


def test_reset_of_one_store_stops_and_forgets_only_it(settings):
    settings.CHAT_REDIS_URL = ""
    history, presence = make("history"), make("presence")
    backends.reset("presence")
    assert presence.stopped and not history.stopped
    assert make("presence") is not presence
    assert make("history") is history


def test_reset_of_everything_stops_every_backend(settings):
    settings.CHAT_REDIS_URL = ""
    made = [make("history"), make("presence"), make("ratelimit")]
    backends.reset()
    assert all(backend.stopped for backend in made)
    assert make("history") is not made[0]


def test_backends_without_stop_are_forgotten_too(settings):
    settings.CHAT_REDIS_URL = ""
    plain = backends.backend("plain", local=object, redis=lambda url: object())
    backends.reset("plain")
    assert backends.backend("plain", local=object, redis=lambda url: object()) is not plain
