"""The room WebSocket: join, then messages both ways, then leave.

Data flows top to bottom: a client frame is parsed by ``protocol``, handled by one
service call (one thread hop at most) and answered; room events come from
``fanout`` already encoded. Nothing a client sends can escape ``receive`` as an
exception: daphne would turn it into close 1011 for this connection.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import logging

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import DatabaseError

from chat import direct, history, metrics, reactions, selectors, services
from chat.conf import chat_settings
from chat.events import outbound
from chat.events.publisher import publish_soon
from chat.realtime import idle, limits, readers, shutdown
from chat.realtime.batching import loop_batcher
from chat.realtime.hub import Hub, announce
from chat.realtime.internals import asgiref_marker
from chat.realtime.limits import ConnectionLimits
from chat.realtime.socket import Frame, Socket
from chat.realtime.writer import writer
from chat.stores import presence, ratelimit
from chat.wire import protocol
from chat.wire.errors import ChatError, CloseCode, ErrorCode, Refusal
from chat.wire.since import parse_changes, parse_since
from chat.wire.versions import ORIGINAL, parse_version

logger = logging.getLogger(__name__)

# A connection catching up (or not yet ready) queues at most this many frames;
# past it the client is too slow to keep up and must reconnect with since.
MAX_QUEUED_FRAMES = 2000
# Bytes handed to the socket after Twisted said the client stopped reading (more
# than its 64 KB buffer waiting; see internals.protocol) before it counts as too slow.
MAX_SOCKET_BUFFER = 2 * 1024 * 1024
# Room for the parts of ready/history around the messages list.
FRAME_SLACK = 256


def _frames(data: Frame | str | list[Frame]) -> list[Frame]:
    if isinstance(data, list):
        return data
    return [Frame(data) if isinstance(data, str) else data]


class State(enum.Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    CLOSED = "closed"


def _parse(message) -> protocol.Command | ChatError:
    """The client frame's command, or the ``ChatError`` that refuses it."""
    settings = chat_settings()
    try:
        return protocol.parse(
            message.get("text"),
            max_length=settings.max_message_length,
            page_max=settings.history_page_max,
        )
    except ChatError as refused:
        return refused


async def _open_sessions(requests: list[services.SessionRequest]) -> list:
    # A crowd connecting at once shares trips to the database thread (and queries).
    return await database_sync_to_async(services.open_sessions)(requests)


async def _changes_to_replay(requests: list[selectors.ReplayRequest]) -> list:
    # A crowd reconnecting at once (a restart) shares trips to the database thread.
    return await database_sync_to_async(selectors.changes_to_replay)(requests)


async def _check_rates(senders: list[tuple[int, int]]) -> list[float | None]:
    # Sends arriving together share one Redis round trip for their rate limits: one
    # per message cost the event loop a pool checkout, a socket write and a reply
    # read per message (issue 17). Each is still counted exactly, in arrival order.
    return await ratelimit.check_messages(senders)


async def _arrive(arrivals: list[presence.Arriving]) -> list[presence.Arrival]:
    # A crowd connecting at once shares trips to the presence store (one script run).
    return await presence.presence().arrive_many(arrivals)


async def arrive(arriving: presence.Arriving) -> presence.Arrival:
    """Register a connection in presence with the others arriving now (room sockets
    and sidebar sockets alike: a reconnect storm is one script run per batch)."""
    return await loop_batcher("arrivals", _arrive, max_batch=500).submit(arriving)


# The scope entries a connection keeps once it has joined (see ``RoomConsumer.join``).
LASTING_SCOPE = ("type", "path")


class RoomConsumer(AsyncWebsocketConsumer):
    """One client connection to one room."""

    # Not None: channels' __init__ would give every instance an empty list of its own.
    groups = ()
    # Every attribute of a connection in slots, none in an instance dict: the dict
    # grew past Python's shared keys (the hub sets batch_floor, join sets the user's)
    # and took 832 bytes of every connection; slots take 8 bytes each.
    __slots__ = (
        "scope",
        "channel_layer",
        "base_send",
        "socket",
        "state",
        "queued",
        "catching_up",
        "last_seq",
        "room",
        "fanout",
        "registered",
        "user_id",
        "version",
        "token_id",
        "session_id",
        "limits",
        "address",
        "user",
        "username",
        "info",
        "is_moderator",
        "batch_floor",
    )

    @classmethod
    def as_asgi(cls, **initkwargs):
        """channels' ``as_asgi``, but the returned callable is not a coroutine of its own.

        It makes the consumer and returns the consumer's coroutine, so no frame of it
        waits for the connection's whole life (see ``chat.asgi``).
        """

        def app(scope, receive, send):
            return cls(**initkwargs)(scope, receive, send)

        if not asgiref_marker.mark_single_callable(app):
            return super().as_asgi(**initkwargs)
        app.consumer_class = cls
        app.consumer_initkwargs = initkwargs
        functools.update_wrapper(app, cls, updated=())
        return app

    async def __call__(self, scope, receive, send):
        # No layer channel per connection: the process's Hub receives room events.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        self.socket = Socket(scope, send)
        self.state = State.CONNECTING
        self.queued: list[tuple[int | None, str]] | None = []
        self.catching_up = False
        self.last_seq = 0
        self.room = None
        self.fanout = None
        self.registered = False
        self.user_id = 0
        self.version = ORIGINAL  # of the protocol; the client's ?v= (chat.wire.versions)
        self.token_id = None
        self.session_id = None
        self.limits = ConnectionLimits()
        self.address: str | None = None  # set while counted in limits.ADDRESSES
        del scope  # self.scope only: join lets go of most of it
        # channels' await_many_dispatch would run each receive() in a task of its
        # own and keep the previous, finished one: with a single source, awaiting it
        # here is the same order and 1.5 KB less per idle connection. A try, not
        # contextlib.suppress: that object and its __exit__ would wait on the
        # coroutine's stack for the connection's life (~190 bytes).
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def dispatch(self, message):
        # channels 4.3 hops to the database thread before every handler to close
        # old connections; database_sync_to_async already does that around our
        # own database calls, so skip the extra hop per frame.
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        elif message["type"] == "websocket.connect":
            await self.websocket_connect(message)
        elif message["type"] == "websocket.disconnect":
            await self.websocket_disconnect(message)

    # --- join ----------------------------------------------------------------

    async def websocket_connect(self, message):
        await self.accept()
        if shutdown.stopping():
            await self.close(CloseCode.GOING_AWAY)
            return
        try:
            await self.join()
            # Joined: the request's headers, query and route are not read again. Only
            # this consumer held its copy of the scope (the layers above it return
            # awaitables, they do not wait with it): ~1.5 KB of every connection.
            # The room's info was for ready (a change brings the room's shared one).
            self.scope = {key: self.scope[key] for key in LASTING_SCOPE if key in self.scope}
            self.info = None
        except Refusal as refusal:
            await self.refuse(refusal)
        except presence.Unavailable as exc:
            # Redis is away: one line, no traceback; the client retries with backoff.
            logger.warning(
                "refused code=1011 path=%s user=%s detail=presence unavailable",
                self.scope.get("path"),
                self.user_id or None,
            )
            await self.close(CloseCode.INTERNAL_ERROR, protocol.error_frame(exc))
        except DatabaseError as exc:
            # The database is down or locked past its timeout: one line per refusal.
            logger.warning(
                "refused code=1011 path=%s user=%s detail=database unavailable: %r",
                self.scope.get("path"),
                self.user_id or None,
                exc,
            )
            await self.close(
                CloseCode.INTERNAL_ERROR,
                protocol.error_frame(
                    ChatError(ErrorCode.SERVER_ERROR, "the database is unavailable; reconnect")
                ),
            )
        except Exception:
            logger.exception("connect failed path=%s", self.scope.get("path"))
            await self.close(
                CloseCode.INTERNAL_ERROR,
                protocol.error_frame(
                    ChatError(ErrorCode.SERVER_ERROR, "the server failed; reconnect")
                ),
            )

    async def join(self) -> None:
        refusal = self.scope.get("chat_refusal")
        if refusal is not None:
            raise refusal
        since = parse_since(self.scope.get("query_string", b""))
        changes = parse_changes(self.scope.get("query_string", b""))
        self.version = parse_version(self.scope.get("query_string", b""))
        self.address = limits.claim_address(self.scope)
        session = await loop_batcher("sessions", _open_sessions, max_batch=500).submit(
            services.SessionRequest(
                slug=self.scope["url_route"]["kwargs"]["slug"],
                user=self.scope.get("user"),
                token_key=self.scope.get("chat_token_key"),
            )
        )
        self.user, self.token_id = session.user, session.token_id
        if self.token_id is None:
            # Signing out of this session closes this socket (services.sign_out_connections).
            key = getattr(self.scope.get("session"), "session_key", None)
            self.session_id = services.session_digest(key) if key else None
        self.user_id, self.username = self.user.pk, self.user.get_username()
        self.room, self.info, self.is_moderator = session.room, session.info, session.is_moderator
        if direct.is_dm(self.room) and not getattr(self.room, "user_is_member", True):
            # Staff reading a conversation they are not in: on the record, as on the page.
            await database_sync_to_async(direct.record_view)(room=self.room, by=self.user)
        # A first open (no since) shows "new since you left" after the user's position
        # (a reconnect has its page already); read beside presence and the hub's join.
        read_seq = None
        if since is None:
            read_seq = readers.opened_soon(
                user_id=self.user_id, room_id=self.room.pk, last_seq=session.last_seq
            )

        settings = chat_settings()
        arrival = await arrive(
            presence.Arriving(
                room_id=self.room.pk,
                user_id=self.user_id,
                username=self.username,
                limit=settings.max_connections_per_user,
            )
        )
        if not arrival.accepted:
            raise Refusal(
                CloseCode.TOO_MANY_CONNECTIONS,
                f"at most {settings.max_connections_per_user} connections per user",
            )
        self.registered = True
        idle.ensure_sweeper()
        metrics.CONNECTIONS.inc()
        # Subscribe, then read history: events from now on queue until ready is sent.
        self.fanout = await Hub.current().join(self.room, self)
        self.room = self.fanout.room  # one Room object per room and process, not per connection
        if shutdown.stopping():
            # The drain began while this connection was on its way to the hub, so its
            # close_all may have missed it: it closes itself (idempotent if not).
            await self.close(CloseCode.GOING_AWAY)
            return
        if arrival.first_in_room:
            announce(self.room.pk, protocol.ServerType.JOIN, self.username, skip_user=self.user_id)
        last_seq = max(session.last_seq, self.fanout.last_seq or 0)
        await self.send_ready(
            since=since,
            last_seq=last_seq,
            changes=changes,
            last_change=session.last_change,
            read_seq=None if read_seq is None else await read_seq,
            muted=session.muted,
            mute_until=session.mute_until,
        )

    async def send_ready(
        self,
        *,
        since: int | None,
        last_seq: int,
        changes: int | None = None,
        last_change: int = 0,
        read_seq: int | None = None,
        muted: bool = False,
        mute_until: dt.datetime | None = None,
    ) -> None:
        """``muted``/``mute_until``: the user's mute in the room, told in ``ready``."""
        settings = chat_settings()
        online = await presence.presence().online(self.room.pk)
        recovered = None
        keep_newest = True
        replay = None
        missed = None if since is None or since > last_seq else last_seq - since
        if missed is not None and missed <= settings.recovery_limit:
            # Changes first: every change numbered up to replay.last_change is replayed
            # here or already in the messages read after it; later ones arrive live.
            replay = await loop_batcher("replays", _changes_to_replay, max_batch=500).submit(
                selectors.ReplayRequest(
                    room=self.room,
                    since=since,
                    after_change=changes,
                    limit=settings.recovery_limit - missed,
                )
            )
            last_change = replay.last_change
        if replay is not None and not replay.too_many:
            entries = await history.after(
                room=self.room, seq=since, count=last_seq - since, last_seq=last_seq
            )
            recovered, keep_newest = True, False
        else:
            entries = await history.latest(
                room=self.room, count=settings.ready_history, last_seq=last_seq
            )
            recovered = None if since is None else False
        texts = [text for _, text in entries]
        # Built twice: empty, to measure what the messages may take, then with them.
        ready_frame = functools.partial(
            protocol.ready_frame,
            room=self.info,
            user=self.username,
            online=online,
            recovered=recovered,
            changes=last_change,
            read_seq=read_seq,
            protocol=self.version,
            muted=muted,
            mute_until=mute_until,
        )
        envelope = ready_frame(messages_json=[], has_more=True)
        kept, rest = protocol.fit_json(
            texts,
            settings.max_frame_bytes - len(envelope.encode()) - FRAME_SLACK,
            keep_newest=keep_newest,
        )
        first_seq = (
            entries[len(entries) - len(kept)][0]
            if (keep_newest and kept)
            else (entries[0][0] if entries else last_seq + 1)
        )
        has_more = first_seq > 1 if keep_newest else bool(entries) and entries[0][0] > 1
        await self.send_frame(ready_frame(messages_json=kept, has_more=has_more))
        # A recovery too big for ready continues at once as message frames, in order.
        for text in rest:
            await self.send_frame(protocol.message_frame_from_json(text))
        # Then the older messages that changed while the client was away.
        if recovered:
            for text in replay.frames:
                await self.send_frame(text)
        self.last_seq = entries[-1][0] if entries else last_seq
        if recovered is not False and since is None or recovered:
            self.last_seq = max(self.last_seq, last_seq)
        if self.state is State.CLOSED:
            return  # closed while joining (too slow, shutdown): its queue must not follow
        self.state = State.LIVE
        await self.catch_up()

    async def refuse(self, refusal: Refusal) -> None:
        logger.info(
            "refused code=%s path=%s user=%s detail=%s",
            int(refusal.close_code),
            self.scope.get("path"),
            self.user_id or None,
            refusal.detail,
        )
        await self.close(refusal.close_code, protocol.error_frame(refusal))

    # --- client frames -------------------------------------------------------

    async def websocket_receive(self, message):
        if self.state is not State.LIVE:
            return
        self.limits.heard()
        try:
            command = _parse(message)
            # Messages and edits have CHAT_RATE_LIMIT; every other frame (typing, ping,
            # history, report, delete, bad input) spends the connection's frame budget.
            if (
                not isinstance(command, protocol.SendMessage | protocol.EditMessage)
                and not self.limits.admit_frame()
            ):
                await self.dropped_frame()
                return
            if isinstance(command, ChatError):
                raise command
            await self.handle(command)
        except ChatError as error:
            await self.send_error(error)
        except Exception:
            logger.exception("frame failed room=%s user=%s", self.room.pk, self.user_id)
            await self.send_error(
                ChatError(ErrorCode.SERVER_ERROR, "the server failed to handle this frame")
            )

    async def dropped_frame(self) -> None:
        """Tell a flooding client, at most once a second, that frames were dropped."""
        if self.limits.should_warn():
            await self.send_error(
                ChatError(
                    ErrorCode.RATE_LIMITED,
                    "too many frames; some were dropped",
                    retry_after=self.limits.retry_after(),
                )
            )

    async def handle(self, command: protocol.Command) -> None:
        if isinstance(command, protocol.SendMessage):
            await self.post(command)
        elif isinstance(command, protocol.FetchHistory):
            await self.send_history(command)
        elif isinstance(command, protocol.SetTyping):
            await self.typing(command)
        elif isinstance(command, protocol.ReportMessage):
            await database_sync_to_async(services.report_message)(
                message_id=command.message_id, room=self.room, by=self.user, reason=command.reason
            )
            await self.write(protocol.reported_frame(command.message_id))
        elif isinstance(command, protocol.EditMessage):
            await self.rate_limit(None)
            await database_sync_to_async(self._edit)(command)
        elif isinstance(command, protocol.DeleteMessage):
            await database_sync_to_async(self._delete)(command)
        elif isinstance(command, protocol.Ping):
            await self.write(protocol.pong_frame())
        elif isinstance(command, protocol.React):
            await self.react(command)
        elif isinstance(command, protocol.MarkRead):
            await self.mark_read(command.seq)

    async def mark_read(self, seq: int) -> None:
        """The user read up to ``seq``: beyond what this connection was sent it cannot
        have read, so the position is clamped to that (no error)."""
        await readers.mark(
            user_id=self.user_id,
            room_id=self.room.pk,
            slug=self.room.slug,
            seq=min(seq, self.last_seq),
        )

    def _edit(self, command: protocol.EditMessage) -> None:
        # The answer is the room's update frame, which reaches this connection too.
        message = services.message_in_room(room=self.room, message_id=command.message_id)
        services.edit_message(message=message, by=self.user, body=command.body)

    def _delete(self, command: protocol.DeleteMessage) -> None:
        message = services.message_in_room(room=self.room, message_id=command.message_id)
        services.delete_message(message=message, by=self.user, moderator=self.is_moderator)

    async def rate_limit(self, client_id: str | None) -> None:
        """Refuse (``rate_limited``) a message or an edit over ``CHAT_RATE_LIMIT``."""
        if chat_settings().rate_limit is None:
            return
        retry_after = await loop_batcher("rate_checks", _check_rates, max_batch=500).submit(
            (self.room.pk, self.user_id)
        )
        if retry_after is not None:
            raise ChatError(
                ErrorCode.RATE_LIMITED,
                "too many messages; slow down",
                retry_after=retry_after,
                client_id=client_id,
            )

    async def post(self, command: protocol.SendMessage) -> None:
        await self.rate_limit(command.client_id)
        request = services.PostRequest(
            room_id=self.room.pk,
            author=self.user,
            body=command.body,
            client_id=command.client_id,
            reply_to=command.reply_to,
            files=command.files,
        )
        result = await writer().submit(request)
        message = result.message
        await self.write(
            protocol.ack_frame(
                client_id=message.client_id, id=message.pk, seq=message.seq, ts=result.payload["ts"]
            )
        )
        # Writing a message means having read the room up to it (no database write
        # here, and the sender's next frame does not wait for it).
        readers.mark_later(
            user_id=self.user_id, room_id=self.room.pk, slug=self.room.slug, seq=message.seq
        )

    async def react(self, command: protocol.React) -> None:
        # No answer of its own: the change reaches this connection as the room's
        # ``update`` frame, like everyone else's; a no-op sends nothing.
        retry_after = await ratelimit.check_reaction(room_id=self.room.pk, user_id=self.user_id)
        if retry_after is not None:
            raise ChatError(
                ErrorCode.RATE_LIMITED, "too many reactions; slow down", retry_after=retry_after
            )
        await database_sync_to_async(reactions.react)(
            room=self.room,
            message_id=command.message_id,
            user=self.user,
            emoji=command.emoji,
            active=command.active,
        )

    async def send_history(self, command: protocol.FetchHistory) -> None:
        entries = await history.before(room=self.room, seq=command.before_seq, count=command.limit)
        texts = [text for _, text in entries]
        kept, cut = protocol.fit_json(
            texts, chat_settings().max_frame_bytes - FRAME_SLACK, keep_newest=True
        )
        first_seq = entries[len(entries) - len(kept)][0] if kept else command.before_seq
        await self.write(protocol.history_frame_from_json(kept, has_more=first_seq > 1))

    async def typing(self, command: protocol.SetTyping) -> None:
        # Forwarded: a start at most once per 2 s per user and room, a stop only
        # after a start; nothing from a muted user, nor in a locked room from anyone
        # who may not post there (moderators may).
        if self.room.is_locked and not self.is_moderator:
            return
        if command.active:
            if not await ratelimit.allow_typing(room_id=self.room.pk, user_id=self.user_id):
                return
            if await database_sync_to_async(selectors.is_muted)(
                room_id=self.room.pk, user_id=self.user_id
            ):
                return
        elif not self.limits.typing_shown:
            return
        self.limits.typing_shown = command.active
        frame = protocol.typing_frame(self.username, command.active)
        publish_soon(outbound.frame_event(self.room.pk, frame, skip_user=self.user_id, batch=True))

    async def send_error(self, error: ChatError) -> None:
        metrics.ERRORS.labels(str(error.code)).inc()
        logger.info(
            "error code=%s room=%s user=%s client_id=%s detail=%s",
            error.code,
            self.room.pk if self.room else None,
            self.user_id,
            error.client_id,
            error.detail,
        )
        await self.write(protocol.error_frame(error))

    # --- room events (called by the hub) -------------------------------------

    async def deliver_message(self, seq: int, text: Frame) -> None:
        """Send room message ``seq`` once, in order, filling any gap from history."""
        if self.state is State.CLOSED:
            return
        if self.state is State.CONNECTING or self.catching_up:
            await self.enqueue(seq, text)
        elif seq == self.last_seq + 1:
            self.last_seq = seq
            await self.write(text)
        elif seq > self.last_seq + 1:
            await self.enqueue(seq, text)
            await self.catch_up()

    def frames_now(self, frames: list[Frame]) -> bool:
        """``deliver_frames`` without awaiting when the connection is live (True), else False."""
        if (
            self.state is not State.LIVE
            or self.catching_up
            or (self.socket.backlog() or 0) > MAX_SOCKET_BUFFER
        ):
            return False
        try:
            return self.socket.send_now(frames)
        except Exception as exc:  # noqa: BLE001 - the transport failed mid-write
            self._closing_socket(exc)
            return True

    def deliver_now(self, messages: list[tuple[int, Frame]]) -> bool:
        """Deliver consecutive room messages without awaiting, in the common case.

        True when done: they follow what the connection has and ``frames_now`` took
        them. False: nothing was done; use ``deliver_message``, which also handles
        catching up, gaps and slow clients.
        """
        if messages[0][0] != self.last_seq + 1 or not self.frames_now(
            [frame for _, frame in messages]
        ):
            return False
        self.last_seq = messages[-1][0]
        return True

    async def deliver_frame(self, text: Frame) -> None:
        if self.state is State.CONNECTING or self.catching_up:
            await self.enqueue(None, text)
        elif self.state is State.LIVE:
            await self.write(text)

    async def deliver_frames(self, frames: list[Frame]) -> None:
        """Several frames at once (a presence batch): one socket write when live."""
        if self.state is State.CONNECTING or self.catching_up:
            for frame in frames:
                await self.enqueue(None, frame)
        elif self.state is State.LIVE:
            await self.write(frames)

    def room_changed(self, info: dict) -> None:
        self.info = info
        self.room.is_locked = info["locked"]
        self.room.slow_mode_seconds = info["slow_mode"]

    async def enqueue(self, seq: int | None, text: Frame | str) -> None:
        if len(self.queued) >= MAX_QUEUED_FRAMES:
            logger.warning(
                "slow client closed room=%s user=%s queued=%d",
                self.room.pk if self.room else None,
                self.user_id,
                len(self.queued),
            )
            await self.close(CloseCode.TOO_SLOW)
            return
        self.queued.append((seq, text))

    async def catch_up(self) -> None:
        """Send queued frames in order, fetching any missing seqs from history."""
        if self.catching_up:
            return
        self.catching_up = True
        try:
            while self.queued and self.state is State.LIVE:
                seq, text = self.queued.pop(0)
                if seq is None:
                    await self.write(text)
                    continue
                if seq <= self.last_seq:
                    continue
                if seq > self.last_seq + 1:
                    missing = await history.missing(
                        room=self.room, after_seq=self.last_seq, before_seq=seq
                    )
                    for missing_seq, payload in missing:
                        if missing_seq == self.last_seq + 1:
                            self.last_seq = missing_seq
                            await self.write(protocol.message_frame_from_json(payload))
                self.last_seq = max(self.last_seq, seq)
                await self.write(text)
        finally:
            self.catching_up = False

    async def write(self, data: Frame | str | list[Frame]) -> None:
        """Send one frame, or close with 4408 if the client stopped reading."""
        if self.state is State.CLOSED:
            return
        buffered = self.socket.backlog()
        if buffered is not None and buffered > MAX_SOCKET_BUFFER:
            logger.warning(
                "slow client closed room=%s user=%s buffered=%d",
                self.room.pk if self.room else None,
                self.user_id,
                buffered,
            )
            await self.close(CloseCode.TOO_SLOW)
            return
        await self.send_frame(data)

    async def send_frame(self, data: Frame | str | list[Frame]) -> None:
        """Hand frames to the socket, unless the connection is closed."""
        if self.state is State.CLOSED:
            return
        await self._to_socket(self.socket.send, _frames(data))

    async def _to_socket(self, write, argument) -> None:
        """The one way to the socket: ``Socket.send`` or ``Socket.close``."""
        try:
            await write(argument)
        except Exception as exc:  # noqa: BLE001 - autobahn raises Disconnected mid close handshake
            self._closing_socket(exc)

    def _closing_socket(self, exc: Exception) -> None:
        # The client is closing: its disconnect event follows. Never let this
        # escape into the hub, where it would stop delivery to the neighbours.
        logger.info(
            "send on a closing socket room=%s user=%s: %r",
            self.room.pk if self.room else None,
            self.user_id,
            exc,
        )
        self.state = State.CLOSED

    async def close(self, code: int = 1000, text: str | None = None) -> None:
        """Send ``text`` (an error frame saying why), then close with ``code``. Idempotent."""
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        metrics.CLOSES.labels(str(int(code))).inc()
        if text is not None:
            await self._to_socket(self.socket.send, _frames(text))
        await self._to_socket(self.socket.close, int(code))
        await self.leave()

    # --- leave ---------------------------------------------------------------

    async def websocket_disconnect(self, message):
        self.state = State.CLOSED
        await self.leave()
        raise StopConsumer()

    async def leave(self) -> None:
        """Unregister from the hub and presence; quick and idempotent (daphne kills slow exits)."""
        if self.address is not None:
            limits.ADDRESSES.close(self.address)
            self.address = None
        if self.fanout is not None:
            self.fanout = None
            await Hub.current().leave(self.room.pk, self)
        if self.registered:
            self.registered = False
            metrics.CONNECTIONS.dec()
            # The position this connection moved is saved within a second, not
            # after its window (shutdown saves whatever is left).
            readers.save_soon(user_id=self.user_id, room_id=self.room.pk)
            try:
                last = await presence.presence().depart(room_id=self.room.pk, user_id=self.user_id)
            except Exception as exc:  # noqa: BLE001 - Redis down: the lease sweeper cleans up
                logger.warning(
                    "presence depart failed room=%s user=%s: %r", self.room.pk, self.user_id, exc
                )
                return
            if last:
                announce(self.room.pk, protocol.ServerType.LEAVE, self.username)
