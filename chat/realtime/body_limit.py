"""Refuse HTTP request bodies over ``CHAT_MAX_REQUEST_BYTES`` before they are read.

daphne (Twisted) reads a whole request body before the application sees it, so
Django's own ``DATA_UPLOAD_MAX_MEMORY_SIZE`` comes too late: a 100 MB POST grew
the process by about 100 MB. ``python -m chat.serve`` makes daphne build its
requests from ``LimitedWebRequest`` instead, which answers 413 and closes the
connection as soon as the limit is known to be passed: from ``Content-Length``
once the headers are in, or as a chunked body grows past it.

Only public names: Twisted's ``Request.gotLength``, ``handleContentChunk`` and
``requestReceived`` (the request's side of the channel) and daphne's
``HTTPFactory``/``WebRequest`` classes, which its server uses by name.
"""

from __future__ import annotations

import json
import logging

from daphne.http_protocol import HTTPFactory, WebRequest
from twisted.web import http

logger = logging.getLogger("chat.http")

# Seconds the refused connection keeps reading (and dropping) what the client
# still sends before it closes: closing a socket with unread data sends a reset,
# which may reach the client before it has read the 413.
LINGER_SECONDS = 1.0


def max_request_bytes() -> int:
    """The body limit in bytes from the settings; 0 means none."""
    from chat.conf import chat_settings

    return chat_settings().max_request_bytes


def refusal(limit: int) -> bytes:
    """The whole 413 response, headers and JSON body, as bytes for the wire."""
    body = json.dumps(
        {
            "error": "too_large",
            "detail": f"The request body is larger than {limit} bytes.",
        }
    ).encode()
    head = (
        "HTTP/1.1 413 Payload Too Large\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


class LimitedWebRequest(WebRequest):
    """daphne's request, refusing a body over the limit before it is read."""

    refused = False
    _received = 0
    _closing = None

    def gotLength(self, length: int | None) -> None:  # noqa: N802 - Twisted's name
        limit = self._limit()
        if limit and length is not None and length > limit:
            self._refuse(limit)
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        if self.refused:
            return  # what arrives while the connection lingers is dropped
        self._received += len(data)
        limit = self._limit()
        if limit and self._received > limit:
            self._refuse(limit)
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version) -> None:  # noqa: N802 - Twisted's name
        if self.refused:
            return  # answered already; the application never sees this request
        super().requestReceived(command, path, version)

    def connectionLost(self, reason) -> None:  # noqa: N802 - Twisted's name
        if self._closing is not None and self._closing.active():
            self._closing.cancel()
        super().connectionLost(reason)

    def _limit(self) -> int:
        # Written for HTTP/1.1 channels (the 413 is written to the socket as
        # HTTP/1.1); an HTTP/2 stream is left to daphne as before.
        if not isinstance(self.channel, http.HTTPChannel):
            return 0
        return max_request_bytes()

    def _refuse(self, limit: int) -> None:
        self.refused = True
        # Twisted would answer "100 Continue" right after gotLength.
        self.requestHeaders.removeHeader(b"Expect")
        channel = self.channel
        channel.transport.write(refusal(limit))
        logger.info(
            "HTTP request body refused: over CHAT_MAX_REQUEST_BYTES=%d (from %s)",
            limit,
            channel.transport.getPeer(),
        )
        # Imported here: daphne.server must install its reactor first.
        from twisted.internet import reactor

        self._closing = reactor.callLater(LINGER_SECONDS, channel.loseConnection)


class LimitedHTTPFactory(HTTPFactory):
    """daphne's HTTP factory whose connections build ``LimitedWebRequest``."""

    def buildProtocol(self, addr):  # noqa: N802 - Twisted's name
        protocol = super().buildProtocol(addr)
        if protocol is not None:
            protocol.requestFactory = LimitedWebRequest
        return protocol


def limited(factory: HTTPFactory) -> HTTPFactory:
    """A ``LimitedHTTPFactory`` for daphne's ``factory`` (unchanged when already one)."""
    if isinstance(factory, LimitedHTTPFactory):
        return factory
    if type(factory) is not HTTPFactory:
        # Another subclass may build other requests: keep it, say the limit is off.
        logger.warning(
            "HTTP body limit off: daphne made a %s, not its HTTPFactory; "
            "serving without CHAT_MAX_REQUEST_BYTES",
            type(factory).__name__,
        )
        return factory
    return LimitedHTTPFactory(factory.server)
