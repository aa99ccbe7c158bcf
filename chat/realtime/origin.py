"""The WebSocket ``Origin`` rule: the site's own origin (scheme, host and port), as
Django's CSRF check compares it, or one of ``CSRF_TRUSTED_ORIGINS``.

channels' ``OriginValidator`` compared the host name only, so
``http://127.0.0.1:9999`` and ``https://127.0.0.1`` passed for a site on
``http://127.0.0.1:8000``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from chat.client_address import is_trusted_proxy, scope_header


def allowed_origin_hosts() -> list[str]:
    """The hosts a browser's ``Origin`` may name: ``ALLOWED_HOSTS``, as Django reads it.

    With ``DEBUG`` on and ``ALLOWED_HOSTS`` empty (a new ``startproject``), Django
    serves localhost, 127.0.0.1 and [::1]; so does channels' own origin validator.
    """
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return settings.ALLOWED_HOSTS


def _secure(scope) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    # Behind a TLS-terminating proxy: only a trusted proxy's word counts.
    client = scope.get("client") or ("", 0)
    proto = scope_header(scope, b"x-forwarded-proto")
    return proto is not None and proto.strip().lower() == "https" and is_trusted_proxy(client[0])


def _trusted_origin(origin: str) -> bool:
    trusted = list(getattr(settings, "CSRF_TRUSTED_ORIGINS", ()))
    if origin in trusted:
        return True
    parsed = urlsplit(origin)
    for entry in trusted:
        if "*" not in entry:
            continue
        allowed = urlsplit(entry)
        if allowed.scheme == parsed.scheme and is_same_domain(
            parsed.netloc, allowed.netloc.replace("*", "", 1)
        ):
            return True
    return False


def origin_allowed(scope, origin: str) -> bool:
    """Whether a WebSocket with this ``Origin`` comes from the site itself (or a trusted origin)."""
    origin = origin.strip()
    if _trusted_origin(origin):
        return True
    host = scope_header(scope, b"host")
    if not host:
        return False
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_origin_hosts()):
        return False
    own = f"{'https' if _secure(scope) else 'http'}://{host}"
    return origin.lower() == own.lower()
