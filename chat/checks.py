"""System checks (``manage.py check``): settings the chat cannot work with as configured.

A host project sets the channel layer and ``CHAT_REDIS_URL`` separately; the two must
agree, or messages or presence silently stop at the process boundary.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from chat.conf import MULTIPART_SLACK, chat_settings

IN_MEMORY_LAYER = "channels.layers.InMemoryChannelLayer"
DOCS_HINT = "See docs/integrate.md (settings.py) for the two consistent setups."


@checks.register()
def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Bad ``CHAT_*`` values, and a channel layer that does not match ``CHAT_REDIS_URL``."""
    try:
        redis_url = chat_settings().redis_url
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="chat.E001")]
    layer = (getattr(settings, "CHANNEL_LAYERS", None) or {}).get("default")
    if not layer or not layer.get("BACKEND"):
        return [
            checks.Error(
                "CHANNEL_LAYERS has no default layer; the chat broadcasts through it.",
                hint=DOCS_HINT,
                id="chat.E002",
            )
        ]
    in_memory = layer["BACKEND"] == IN_MEMORY_LAYER
    if redis_url and in_memory:
        return [
            checks.Warning(
                "CHAT_REDIS_URL is set but the channel layer is in-memory: messages "
                "will not reach clients connected to other processes.",
                hint=DOCS_HINT,
                id="chat.W001",
            )
        ]
    if not redis_url and not in_memory:
        return [
            checks.Warning(
                "The channel layer is shared but CHAT_REDIS_URL is not set: presence, "
                "rate limits and the history cache stay inside each process.",
                hint=DOCS_HINT,
                id="chat.W002",
            )
        ]
    return []


@checks.register()
def check_files(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A file storage alias that does not exist, and a body limit below the upload limit."""
    try:
        config = chat_settings()
    except ImproperlyConfigured:
        return []  # reported by check_settings
    problems: list[checks.CheckMessage] = []
    if config.file_storage not in (getattr(settings, "STORAGES", None) or {}):
        problems.append(
            checks.Error(
                f"CHAT_FILE_STORAGE names {config.file_storage!r}, which is not in STORAGES.",
                hint="Add that alias to STORAGES, or set CHAT_FILE_STORAGE to one that exists.",
                id="chat.E003",
            )
        )
    needed = config.max_upload_bytes + MULTIPART_SLACK
    if config.max_request_bytes and config.max_request_bytes < needed:
        problems.append(
            checks.Warning(
                f"CHAT_MAX_REQUEST_BYTES ({config.max_request_bytes}) is below "
                f"CHAT_MAX_UPLOAD_BYTES plus the multipart envelope ({needed}): uploads near "
                "the limit are cut off by the server before the chat can explain why.",
                hint=f"Set CHAT_MAX_REQUEST_BYTES to at least {needed}.",
                id="chat.W003",
            )
        )
    return problems
