"""Error and close codes of the chat protocol, and the exceptions that carry them.

Pure: no Django, no I/O, so the terminal client shares it with the server.

    ChatError(code, detail, retry_after)      -> an ``error`` frame; never closes
    └── Refusal(close_code, detail)           -> ``error`` frame, then close
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """The ``code`` of an ``error`` frame."""

    BAD_REQUEST = "bad_request"
    UNKNOWN_TYPE = "unknown_type"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    RATE_LIMITED = "rate_limited"
    ROOM_LOCKED = "room_locked"
    MUTED = "muted"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    NOT_AUTHOR = "not_author"
    EDIT_WINDOW = "edit_window"
    MESSAGE_DELETED = "message_deleted"
    BAD_REACTION = "bad_reaction"
    TOO_LARGE = "too_large"
    UNSUPPORTED_FILE = "unsupported_file"
    QUOTA_EXCEEDED = "quota_exceeded"
    SERVER_ERROR = "server_error"


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses."""

    GOING_AWAY = 1001
    INTERNAL_ERROR = 1011
    BAD_REQUEST = 4400
    NOT_AUTHENTICATED = 4401
    FORBIDDEN = 4403
    NO_SUCH_ROOM = 4404
    TOO_SLOW = 4408
    ROOM_ARCHIVED = 4410
    TOO_MANY_CONNECTIONS = 4429


CLOSE_EXPLANATIONS: dict[int, str] = {
    CloseCode.GOING_AWAY: "the server is restarting; reconnect with since",
    CloseCode.INTERNAL_ERROR: "the server failed; reconnect with since",
    CloseCode.BAD_REQUEST: "bad request (e.g. a malformed since)",
    CloseCode.NOT_AUTHENTICATED: "not signed in, or the token was revoked",
    CloseCode.FORBIDDEN: "forbidden: banned, or a private room you are not a member of",
    CloseCode.NO_SUCH_ROOM: "no such room",
    CloseCode.TOO_SLOW: "the connection fell too far behind; reconnect with since",
    CloseCode.ROOM_ARCHIVED: "the room is archived",
    CloseCode.TOO_MANY_CONNECTIONS: "too many connections for this user; retry later",
}

# A refusal as an HTTP status: the views refuse for the same reasons the WebSocket does.
HTTP_STATUS_FOR_CLOSE: dict[int, int] = {
    CloseCode.BAD_REQUEST: 400,
    CloseCode.NOT_AUTHENTICATED: 401,
    CloseCode.FORBIDDEN: 403,
    CloseCode.NO_SUCH_ROOM: 404,
    CloseCode.ROOM_ARCHIVED: 410,
}

# A client must not reconnect after these: nothing would change by retrying.
TERMINAL_CLOSE_CODES = frozenset(
    {
        CloseCode.BAD_REQUEST,
        CloseCode.NOT_AUTHENTICATED,
        CloseCode.FORBIDDEN,
        CloseCode.NO_SUCH_ROOM,
        CloseCode.ROOM_ARCHIVED,
    }
)


class ChatError(Exception):
    """A request the server refuses; becomes an ``error`` frame, stores nothing."""

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        *,
        retry_after: float | None = None,
        client_id: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        self.client_id = client_id


class Refusal(ChatError):
    """A connection the server refuses: an ``error`` frame, then close with ``close_code``."""

    _ERROR_FOR_CLOSE = {
        CloseCode.BAD_REQUEST: ErrorCode.BAD_REQUEST,
        CloseCode.NO_SUCH_ROOM: ErrorCode.NOT_FOUND,
    }

    def __init__(self, close_code: CloseCode, detail: str | None = None) -> None:
        super().__init__(
            self._ERROR_FOR_CLOSE.get(close_code, ErrorCode.FORBIDDEN),
            detail or CLOSE_EXPLANATIONS[close_code],
        )
        self.close_code = close_code
