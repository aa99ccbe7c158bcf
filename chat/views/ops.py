"""Operations endpoints: ``/healthz`` for load balancers and ``/metrics`` for Prometheus."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from chat import health
from chat import metrics as _metrics  # noqa: F401  (defines the chat_* metrics)
from chat.client_address import request_address
from chat.conf import chat_settings

logger = logging.getLogger(__name__)

# A load balancer polls this; a hanging Redis must not hang the probe.
REDIS_PROBE_TIMEOUT = 1.0


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every configured backend answers, else 503 naming the one that did not.

    The failure detail goes to the log, not to the (public) response.
    """
    database_problem = health.database_problem()
    if database_problem:
        logger.warning("healthz database=error detail=%s", database_problem)
    redis_url = chat_settings().redis_url
    if redis_url:
        redis_problem = health.redis_problem(redis_url, timeout=REDIS_PROBE_TIMEOUT)
        if redis_problem:
            logger.warning("healthz redis=error detail=%s", redis_problem)
        redis_state = "error" if redis_problem else "ok"
    else:
        redis_state = "not configured"
    healthy = not database_problem and redis_state != "error"
    body = {
        "status": "ok" if healthy else "error",
        "database": "error" if database_problem else "ok",
        "redis": redis_state,
    }
    return JsonResponse(body, status=200 if healthy else 503)


class ExpectedProbeFailures(logging.Filter):
    """Drop django.request's ERROR line for a 503 from ``healthz``.

    A 503 there is the expected answer while a backend is down, logged by the view
    as one warning; without this, every probe would also log a server ERROR.
    Installed on the ``django.request`` logger by ``ChatConfig.ready``; it looks only
    at this view's 503s (``status_code`` and ``request`` are documented extras of
    that logger's records).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """False for this view's 503; True for everything else."""
        if getattr(record, "status_code", None) != 503:
            return True
        match = getattr(getattr(record, "request", None), "resolver_match", None)
        return getattr(match, "func", None) is not healthz


def may_read_metrics(request: HttpRequest) -> bool:
    """Debug mode, ``Authorization: Bearer CHAT_METRICS_TOKEN``, or a ``CHAT_METRICS_ADDRESSES`` client.

    The metrics show the Python version, file-descriptor limits and site-wide counts.
    """
    if settings.DEBUG:
        return True
    conf = chat_settings()
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    token_given = conf.metrics_token and scheme.lower() == "bearer"
    if token_given and hmac.compare_digest(given.strip().encode(), conf.metrics_token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request_address(request))
    except ValueError:
        return False
    return any(address in network for network in conf.metrics_addresses)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """This process's metrics in the Prometheus text format, for allowed scrapers only."""
    if not may_read_metrics(request):
        response = HttpResponse("forbidden\n", status=403, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
