"""Every ``CHAT_*`` setting in one place: defaults, parsing and validation.

Only this module reads ``settings.CHAT_*``; everything else calls ``chat_settings()``.
The app reads Django settings only, never the environment: a host project sets these
in its settings module (the demo site maps environment variables onto them).
The parsed value is cached and reset when a test overrides a setting.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smh])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}

# The reactions a message can get: a fixed set, so every client can show them all and
# a reaction is never arbitrary text (docs/protocol.md lists them).
REACTIONS = ("👍", "👎", "😄", "🎉", "😕", "❤️", "🚀", "👀")

# An upload's request is its file plus the multipart envelope (boundaries, part
# headers, the name): a request this much over CHAT_MAX_UPLOAD_BYTES is refused unread.
MULTIPART_SLACK = 64 * 1024


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``count`` messages per ``period`` seconds."""

    count: int
    period: int


@dataclass(frozen=True, slots=True)
class ChatSettings:
    max_message_length: int = 4000
    max_frame_bytes: int = 65536
    rate_limit: RateLimit | None = RateLimit(10, 10)
    ready_history: int = 50
    history_page_max: int = 100
    recovery_limit: int = 1000
    cache_messages: int = 200
    max_connections_per_user: int = 20
    # Sidebar sockets (/ws/me/, one per open chat page) per user, counted apart from
    # room sockets so a tab still costs one of each; unset: max_connections_per_user.
    max_sidebar_connections_per_user: int = 20
    max_connections_per_ip: int = 200
    idle_timeout: int = 3600  # seconds without a client frame; 0 disables
    # Largest HTTP request body ``python -m chat.serve`` reads (above the upload
    # limit, so uploads reach Django's own checks); 0 disables.
    max_request_bytes: int = 12 * 1024 * 1024
    presence_lease_seconds: int = 30
    # Empty: embedded mode (this process's memory for the cache, presence and limits).
    redis_url: str = ""
    # The template the chat's pages extend; it must define ``title`` and ``content``.
    base_template: str = "base.html"
    # Addresses whose X-Forwarded-For is believed (see chat.client_address).
    trusted_proxies: tuple = field(default_factory=tuple)
    # API tokens stop working this many seconds after they were issued (None: never).
    token_ttl: int | None = None
    # /metrics: a bearer token, and addresses that need none (see chat.views.ops).
    metrics_token: str = ""
    metrics_addresses: tuple = field(default_factory=tuple)
    # Authors may edit or delete their own messages for this long; 0 disables both.
    edit_window_seconds: int = 86400
    # Files (chat.attachments): the largest upload, each user's total, how often a
    # user may upload, and the STORAGES alias the files are kept in.
    max_upload_bytes: int = 10 * 1024 * 1024
    upload_quota_bytes: int = 1024 * 1024 * 1024  # 0: no quota
    upload_rate: RateLimit | None = RateLimit(20, 60)
    file_storage: str = "default"
    # Accept permessage-deflate (python -m chat.serve): ready and history pages are
    # sent compressed, small frames stay shared by every receiver (docs/deploy.md).
    websocket_compression: bool = False
    # A direct-message conversation holds at most this many people (chat.direct).
    dm_max_members: int = 8
    # Full-text searches per user (GET /api/search and the search page together).
    search_rate: RateLimit | None = RateLimit(30, 60)


def parse_rate(value: str | None, name: str = "CHAT_RATE_LIMIT") -> RateLimit | None:
    """Parse ``"10/10s"`` (or ``"30/m"``, ``"100/1h"``); empty disables the limit."""
    if value is None or not str(value).strip():
        return None
    match = _RATE_RE.match(str(value))
    if not match:
        raise ImproperlyConfigured(f"{name} must look like '10/10s', '30/m' or '' (got {value!r}).")
    count, amount, unit = match.groups()
    period = int(amount or 1) * _UNIT_SECONDS[unit]
    if int(count) < 1 or period < 1:
        raise ImproperlyConfigured(f"{name} must be positive (got {value!r}).")
    return RateLimit(int(count), period)


def _text(name: str, default: str, *, required: bool = False) -> str:
    value = getattr(settings, name, default)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ImproperlyConfigured(f"{name} must be a string (got {value!r}).")
    if required and not value.strip():
        raise ImproperlyConfigured(f"{name} must not be empty.")
    return value.strip()


def _redis_url() -> str:
    url = _text("CHAT_REDIS_URL", "")
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(
            f"CHAT_REDIS_URL must start with redis://, rediss:// or unix:// (got {url!r})."
        )
    return url


_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(name: str, value) -> int | None:
    """Seconds from ``3600``, ``"90d"``, ``"12h"``, ``"30m"``; empty or None: no limit."""
    if value is None or not str(value).strip():
        return None
    match = _DURATION_RE.match(str(value))
    if not match or int(match.group(1)) < 1:
        raise ImproperlyConfigured(
            f"{name} must be a positive duration like '90d', '12h' or '3600' (got {value!r})."
        )
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_networks(name: str, value) -> tuple:
    """Addresses or networks, as a comma-separated string or a list."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    networks = []
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must list IP addresses or networks (got {item!r})."
            ) from None
    return tuple(networks)


def _flag(name: str, default: bool) -> bool:
    value = getattr(settings, name, default)
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"{name} must be True or False (got {value!r}).")
    return value


def _not_negative(name: str, default: int) -> int:
    value = getattr(settings, name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{name} must be a whole number (got {value!r}).") from None
    if number < 0:
        raise ImproperlyConfigured(f"{name} must be 0 or more (got {number}).")
    return number


def _positive(name: str, default: int) -> int:
    value = getattr(settings, name, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"{name} must be a whole number (got {value!r}).") from None
    if number < 1:
        raise ImproperlyConfigured(f"{name} must be at least 1 (got {number}).")
    return number


@cache
def chat_settings() -> ChatSettings:
    """Return the parsed ``CHAT_*`` settings."""
    defaults = ChatSettings()
    per_user = _positive("CHAT_MAX_CONNECTIONS_PER_USER", defaults.max_connections_per_user)
    return ChatSettings(
        max_message_length=_positive("CHAT_MAX_MESSAGE_LENGTH", defaults.max_message_length),
        max_frame_bytes=_positive("CHAT_MAX_FRAME_BYTES", defaults.max_frame_bytes),
        rate_limit=parse_rate(getattr(settings, "CHAT_RATE_LIMIT", "10/10s")),
        ready_history=_positive("CHAT_READY_HISTORY", defaults.ready_history),
        history_page_max=_positive("CHAT_HISTORY_PAGE_MAX", defaults.history_page_max),
        recovery_limit=_positive("CHAT_RECOVERY_LIMIT", defaults.recovery_limit),
        cache_messages=_positive("CHAT_CACHE_MESSAGES", defaults.cache_messages),
        max_connections_per_user=per_user,
        max_sidebar_connections_per_user=_positive(
            "CHAT_MAX_SIDEBAR_CONNECTIONS_PER_USER", per_user
        )
        if getattr(settings, "CHAT_MAX_SIDEBAR_CONNECTIONS_PER_USER", None) not in (None, "")
        else per_user,
        max_connections_per_ip=_positive(
            "CHAT_MAX_CONNECTIONS_PER_IP", defaults.max_connections_per_ip
        ),
        idle_timeout=_not_negative("CHAT_IDLE_TIMEOUT", defaults.idle_timeout),
        max_request_bytes=_not_negative("CHAT_MAX_REQUEST_BYTES", defaults.max_request_bytes),
        presence_lease_seconds=_positive(
            "CHAT_PRESENCE_LEASE_SECONDS", defaults.presence_lease_seconds
        ),
        redis_url=_redis_url(),
        base_template=_text("CHAT_BASE_TEMPLATE", defaults.base_template, required=True),
        trusted_proxies=parse_networks(
            "CHAT_TRUSTED_PROXIES", getattr(settings, "CHAT_TRUSTED_PROXIES", ())
        ),
        token_ttl=parse_duration("CHAT_TOKEN_TTL", getattr(settings, "CHAT_TOKEN_TTL", None)),
        metrics_token=str(getattr(settings, "CHAT_METRICS_TOKEN", "") or "").strip(),
        metrics_addresses=parse_networks(
            "CHAT_METRICS_ADDRESSES", getattr(settings, "CHAT_METRICS_ADDRESSES", ())
        ),
        edit_window_seconds=_not_negative("CHAT_EDIT_WINDOW_SECONDS", defaults.edit_window_seconds),
        max_upload_bytes=_positive("CHAT_MAX_UPLOAD_BYTES", defaults.max_upload_bytes),
        dm_max_members=_positive("CHAT_DM_MAX_MEMBERS", defaults.dm_max_members),
        upload_quota_bytes=_not_negative("CHAT_UPLOAD_QUOTA_BYTES", defaults.upload_quota_bytes),
        upload_rate=parse_rate(getattr(settings, "CHAT_UPLOAD_RATE", "20/m"), "CHAT_UPLOAD_RATE"),
        file_storage=_text("CHAT_FILE_STORAGE", defaults.file_storage, required=True),
        search_rate=parse_rate(getattr(settings, "CHAT_SEARCH_RATE", "30/m"), "CHAT_SEARCH_RATE"),
        websocket_compression=_flag("CHAT_WEBSOCKET_COMPRESSION", defaults.websocket_compression),
    )


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs) -> None:
    if setting.startswith("CHAT_"):
        chat_settings.cache_clear()
