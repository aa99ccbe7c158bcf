"""``chat.checks``: manage.py check names settings that cannot work together."""

import pytest

from chat.checks import check_settings

REDIS_LAYER = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {}}}
MEMORY_LAYER = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def ids() -> list[str]:
    return [message.id for message in check_settings()]


@pytest.mark.parametrize(
    ("layers", "redis_url", "expected"),
    [
        (MEMORY_LAYER, "", []),
        (REDIS_LAYER, "redis://127.0.0.1:6379/0", []),
        (MEMORY_LAYER, "redis://127.0.0.1:6379/0", ["chat.W001"]),
        (REDIS_LAYER, "", ["chat.W002"]),
        ({}, "", ["chat.E002"]),
    ],
)
def test_the_layer_and_chat_redis_url_must_agree(settings, layers, redis_url, expected):
    settings.CHANNEL_LAYERS = layers
    settings.CHAT_REDIS_URL = redis_url

    assert ids() == expected


def test_a_bad_chat_setting_is_an_error_naming_it(settings):
    settings.CHAT_RATE_LIMIT = "lots"

    (message,) = check_settings()
    assert message.id == "chat.E001" and "CHAT_RATE_LIMIT" in message.msg


def test_the_check_is_registered(settings):
    from django.core import checks

    settings.CHANNEL_LAYERS = MEMORY_LAYER
    settings.CHAT_REDIS_URL = "redis://127.0.0.1:6379/0"

    assert "chat.W001" in [message.id for message in checks.run_checks()]


def test_the_file_storage_must_be_a_storages_alias(settings):
    from chat.checks import check_files

    assert check_files() == []
    settings.CHAT_FILE_STORAGE = "chat_files"
    (message,) = check_files()
    assert message.id == "chat.E003" and "chat_files" in message.msg


def test_a_body_limit_below_the_upload_limit_is_a_warning(settings):
    from chat.checks import check_files

    settings.CHAT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
    settings.CHAT_MAX_REQUEST_BYTES = 10 * 1024 * 1024
    (message,) = check_files()
    assert message.id == "chat.W003"
    settings.CHAT_MAX_REQUEST_BYTES = 0  # no body limit: nothing to warn about
    assert check_files() == []
