"""HTTP middleware: a Content-Security-Policy that forbids inline script."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# The room page is plain ES modules served from 'self'; nothing inline runs.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)


class ContentSecurityPolicyMiddleware:
    """Add the site's Content-Security-Policy to every HTML response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith("/admin/"):
            # The admin ships inline scripts in places; it keeps Django's defaults.
            return response
        response.setdefault("Content-Security-Policy", POLICY)
        return response
