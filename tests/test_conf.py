"""``chat.conf``: the app's options come from Django settings, with defaults and checks."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from chat.conf import RateLimit, chat_settings


def test_defaults_when_a_host_sets_nothing(settings):
    for name in [name for name in dir(settings) if name.startswith("CHAT_")]:
        delattr(settings, name)

    parsed = chat_settings()

    assert parsed.redis_url == ""
    assert parsed.base_template == "base.html"
    assert parsed.rate_limit == RateLimit(10, 10)
    assert parsed.max_message_length == 4000
    assert parsed.max_request_bytes == 12 * 1024 * 1024
    assert parsed.websocket_compression is False


def test_the_redis_url_is_a_chat_setting_not_the_demos_variable(settings):
    settings.CHAT_REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.CHAT_REDIS_URL = ""

    assert chat_settings().redis_url == ""

    settings.CHAT_REDIS_URL = " redis://127.0.0.1:6379/3 "
    assert chat_settings().redis_url == "redis://127.0.0.1:6379/3"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("CHAT_REDIS_URL", "localhost:6379", "CHAT_REDIS_URL must start with redis://"),
        ("CHAT_BASE_TEMPLATE", "", "CHAT_BASE_TEMPLATE must not be empty"),
        ("CHAT_BASE_TEMPLATE", 3, "CHAT_BASE_TEMPLATE must be a string"),
        ("CHAT_MAX_REQUEST_BYTES", -1, "CHAT_MAX_REQUEST_BYTES must be 0 or more"),
        ("CHAT_MAX_REQUEST_BYTES", "12M", "CHAT_MAX_REQUEST_BYTES must be a whole number"),
        ("CHAT_WEBSOCKET_COMPRESSION", "yes", "CHAT_WEBSOCKET_COMPRESSION must be True or False"),
    ],
)
def test_bad_values_are_refused_with_the_settings_name(settings, name, value, fragment):
    setattr(settings, name, value)

    with pytest.raises(ImproperlyConfigured, match=fragment):
        chat_settings()


def test_the_base_template_is_the_hosts_choice(settings):
    settings.CHAT_BASE_TEMPLATE = "layouts/site.html"

    assert chat_settings().base_template == "layouts/site.html"


def test_the_sidebar_cap_follows_the_room_socket_cap_unless_set(settings):
    settings.CHAT_MAX_CONNECTIONS_PER_USER = 7
    settings.CHAT_MAX_SIDEBAR_CONNECTIONS_PER_USER = ""
    assert chat_settings().max_sidebar_connections_per_user == 7

    settings.CHAT_MAX_SIDEBAR_CONNECTIONS_PER_USER = 3
    assert chat_settings().max_sidebar_connections_per_user == 3

    settings.CHAT_MAX_SIDEBAR_CONNECTIONS_PER_USER = 0
    with pytest.raises(ImproperlyConfigured, match="CHAT_MAX_SIDEBAR_CONNECTIONS_PER_USER"):
        chat_settings()


def test_searches_are_limited_by_default(settings):
    del settings.CHAT_SEARCH_RATE
    assert chat_settings().search_rate == RateLimit(30, 60)
    settings.CHAT_SEARCH_RATE = "5/s"
    assert chat_settings().search_rate == RateLimit(5, 1)
    settings.CHAT_SEARCH_RATE = "often"
    with pytest.raises(ImproperlyConfigured, match="CHAT_SEARCH_RATE"):
        chat_settings()
