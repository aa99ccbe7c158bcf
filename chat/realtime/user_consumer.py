"""The user's own WebSocket, ``/ws/me/``: the sidebar of every chat page, live.

On connect it sends ``ready`` with the user's rooms and their unread and mention
counts (``chat.sidebar``), then ``activity`` frames as messages arrive in those
rooms on any process, and ``read`` frames as the user reads in any tab
(``chat.realtime.watchers``). With ``?lobby=1`` it also watches every room the lobby
lists, so the lobby's "last activity" stays live. It takes only ``ping`` from the
client: reading is said on the room's own socket, where the room is known.

Each socket is registered in presence's pseudo-room ``SIDEBAR`` (crash-safe like a
room socket, and across processes in Redis mode), so a user holds at most
``CHAT_MAX_SIDEBAR_CONNECTIONS_PER_USER`` of them; one more is refused with 4429.
"""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer

from chat import selectors, services, sidebar
from chat.conf import chat_settings
from chat.realtime import limits, shutdown
from chat.realtime.consumer import arrive
from chat.realtime.hub import Hub
from chat.realtime.limits import ConnectionLimits
from chat.stores import presence
from chat.stores.read_positions import read_positions
from chat.wire import protocol
from chat.wire.errors import ChatError, CloseCode, ErrorCode, Refusal

logger = logging.getLogger(__name__)

# Rooms of the lobby watched with ?lobby=1 (the lobby lists no more).
LOBBY_WATCH_LIMIT = 100


def _who(user, token_key: str | None):
    """The signed-in user (a bearer token decides when given), or a ``Refusal``."""
    if token_key is not None:
        user = services.user_for_token(token_key)
        if user is None:
            return Refusal(CloseCode.NOT_AUTHENTICATED, "invalid or revoked token"), None
        return user, user.chat_token_id
    if user is None or not user.is_authenticated:
        return Refusal(CloseCode.NOT_AUTHENTICATED), None
    return user, None


def _rooms(user, *, lobby: bool) -> tuple[list[sidebar.SidebarRoom], dict[int, str]]:
    """The user's sidebar and the rooms to watch."""
    found = sidebar.sidebar_rooms(user)
    watch = {room.pk: room.slug for room in found}
    if lobby:
        for room in selectors.lobby_rooms(user=user)[:LOBBY_WATCH_LIMIT]:
            watch.setdefault(room.pk, room.slug)
    return found, watch


class UserConsumer(AsyncWebsocketConsumer):
    """One ``/ws/me/`` socket."""

    groups = ()

    async def __call__(self, scope, receive, send):
        # No layer channel per connection (channels' default): the hub receives the
        # sidebar events for the whole process.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            while True:
                message = await receive()
                handler = {
                    "websocket.connect": self.websocket_connect,
                    "websocket.receive": self.websocket_receive,
                    "websocket.disconnect": self.websocket_disconnect,
                }.get(message["type"])
                if handler is not None:
                    await handler(message)

    async def websocket_connect(self, message):
        self.user_id = 0
        self.token_id = None
        self.session_id = None
        self.username = ""
        self.watching: dict[int, str] = {}
        self.served = False
        self.registered = False  # counted in presence (the sidebar cap)
        self.closed = False
        self.address: str | None = None
        self.limits = ConnectionLimits()
        await self.accept()
        try:
            await self.join()
        except Refusal as refusal:
            logger.info(
                "refused code=%s path=/ws/me/ detail=%s", int(refusal.close_code), refusal.detail
            )
            await self.close_with(refusal.close_code, protocol.error_frame(refusal))
        except presence.Unavailable as exc:
            # Redis is away: the socket cannot be counted; the client retries.
            logger.warning("refused code=1011 path=/ws/me/ detail=presence unavailable")
            await self.close_with(CloseCode.INTERNAL_ERROR, protocol.error_frame(exc))
        except Exception:
            logger.exception("sidebar connect failed user=%s", self.user_id or None)
            await self.close_with(
                CloseCode.INTERNAL_ERROR,
                protocol.error_frame(
                    ChatError(ErrorCode.SERVER_ERROR, "the server failed; reconnect")
                ),
            )

    async def join(self) -> None:
        if shutdown.stopping():
            raise Refusal(CloseCode.GOING_AWAY, "the server is restarting")
        refusal = self.scope.get("chat_refusal")
        if refusal is not None:
            raise refusal
        self.address = limits.claim_address(self.scope)
        who, self.token_id = await database_sync_to_async(_who)(
            self.scope.get("user"), self.scope.get("chat_token_key")
        )
        if isinstance(who, Refusal):
            raise who
        self.user_id, self.username = who.pk, who.get_username()
        if self.token_id is None:
            key = getattr(self.scope.get("session"), "session_key", None)
            self.session_id = services.session_digest(key) if key else None
        await self.count_in()
        lobby = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("lobby") == [
            "1"
        ]
        found, self.watching = await database_sync_to_async(_rooms)(who, lobby=lobby)
        # Watch first, then read the counts: news from now on reaches this socket.
        self.served = True
        await Hub.current().add_sidebar(self)
        if shutdown.stopping():
            # The drain began while this socket was on its way to the hub: its
            # close_all may have missed it.
            raise Refusal(CloseCode.GOING_AWAY, "the server is restarting")
        overlay = await read_positions().known(self.user_id, [room.pk for room in found])
        rooms = await database_sync_to_async(sidebar.sidebar)(who, overlay=overlay)
        await self.send(
            text_data=protocol.sidebar_ready_frame(
                user=self.username, rooms=[r.wire() for r in rooms]
            )
        )

    async def count_in(self) -> None:
        """Count this socket against the user's sidebar cap, or refuse it (4429)."""
        cap = chat_settings().max_sidebar_connections_per_user
        arrival = await arrive(
            presence.Arriving(
                room_id=presence.SIDEBAR, user_id=self.user_id, username=self.username, limit=cap
            )
        )
        if not arrival.accepted:
            raise Refusal(
                CloseCode.TOO_MANY_CONNECTIONS, f"at most {cap} sidebar connections per user"
            )
        self.registered = True

    async def websocket_receive(self, message):
        self.limits.heard()
        if not self.limits.admit_frame():
            return
        try:
            command = protocol.parse(message.get("text"), max_length=1, page_max=1)
        except ChatError as error:
            await self.send(text_data=protocol.error_frame(error))
            return
        if isinstance(command, protocol.Ping):
            await self.send(text_data=protocol.pong_frame())
        else:
            await self.send(
                text_data=protocol.error_frame(
                    ChatError(ErrorCode.BAD_REQUEST, "this socket takes only ping frames")
                )
            )

    async def deliver_sidebar(self, text: str) -> None:
        """A frame from the watchers (activity, read)."""
        if not self.closed:
            with contextlib.suppress(Exception):  # closing: its disconnect follows
                await self.send(text_data=text)

    async def close(self, code: int = 1000, text: str | None = None) -> None:
        """Close with ``code`` after ``text`` (the hub's sign-out, revocation, shutdown)."""
        await self.close_with(code, text)

    async def close_with(self, code: int, text: str | None) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            if text is not None:
                await self.send(text_data=text)
            await super().close(code=int(code))
        await self.leave()

    async def websocket_disconnect(self, message):
        self.closed = True
        await self.leave()
        raise StopConsumer()

    async def leave(self) -> None:
        if self.address is not None:
            limits.ADDRESSES.close(self.address)
            self.address = None
        if self.served:
            self.served = False
            await Hub.current().remove_sidebar(self)
        if self.registered:
            self.registered = False
            try:
                await presence.presence().depart(room_id=presence.SIDEBAR, user_id=self.user_id)
            except Exception as exc:  # noqa: BLE001 - Redis down: the lease sweeper cleans up
                logger.warning("presence depart failed sidebar user=%s: %r", self.user_id, exc)
