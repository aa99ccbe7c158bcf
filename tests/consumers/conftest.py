"""Consumer tests: channels' WebsocketCommunicator through the full ASGI stack.

Most tests run twice, on the in-memory channel layer (embedded mode) and on real
Redis (``REDIS_URL``): the ``mode`` fixture switches settings and per-process
backends for the test.
"""

import pytest
from channels.layers import channel_layers

from chat import services
from chat.stores import history_cache, presence, ratelimit


def _reset_backends() -> None:
    # Per-process backends hold connections bound to one event loop; each test has its own.
    history_cache.reset()
    presence.reset()
    ratelimit.reset()
    channel_layers.backends.clear()


def _use_redis(settings, url: str) -> None:
    settings.CHAT_REDIS_URL = url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": url, "socket_timeout": 15}]},
        }
    }


@pytest.fixture(params=["embedded", "redis"])
def mode(request, settings):
    """Run the test in embedded mode and in Redis mode."""
    if request.param == "redis":
        request.applymarker(pytest.mark.redis)
        _use_redis(settings, request.getfixturevalue("redis_url"))
    else:
        settings.CHAT_REDIS_URL = ""
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    _reset_backends()
    yield request.param
    _reset_backends()


@pytest.fixture
def redis_mode(settings, redis_url):
    """Redis mode only (for tests about what goes through Redis); mark them ``redis``."""
    _use_redis(settings, redis_url)
    _reset_backends()
    yield
    _reset_backends()


@pytest.fixture
def embedded(settings):
    """Embedded mode only (for tests about the consumer's own logic)."""
    settings.CHAT_REDIS_URL = ""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    _reset_backends()
    yield
    _reset_backends()


@pytest.fixture
def make_token():
    return lambda user: services.issue_token(user=user)


@pytest.fixture
def token(user, make_token):
    """alice's API token."""
    return make_token(user)


@pytest.fixture
def other_token(other_user, make_token):
    """bob's API token."""
    return make_token(other_user)
